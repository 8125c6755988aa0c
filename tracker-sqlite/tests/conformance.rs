//! The conformance kit of tracker-core on SQLite, in memory and in a file.

mod in_memory {
    tracker_core::conformance_tests!(
        block_on = futures::executor::block_on,
        store = tracker_sqlite::SqliteStore::open_in_memory().expect("open in memory"),
    );
}

mod in_a_file {
    tracker_core::conformance_tests!(
        block_on = futures::executor::block_on,
        store = {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = tracker_sqlite::SqliteStore::open(dir.path().join("tracker.db"))
                .expect("open file");
            (store, dir)
        },
    );
}
