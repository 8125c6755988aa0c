//! The conformance kit on the memory store.

tracker_core::conformance_tests!(
    block_on = futures::executor::block_on,
    store = tracker_core::MemoryStore::new(),
);
