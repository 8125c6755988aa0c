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

/// Heartbeats held for the writer's next group, answered before their
/// commit (`heartbeat_delay` above zero), instead of committed first (the
/// default).
mod holding_heartbeats {
    tracker_core::conformance_tests!(
        block_on = futures::executor::block_on,
        store = {
            let dir = tempfile::tempdir().expect("temp dir");
            let options = tracker_sqlite::SqliteOptions {
                heartbeat_delay: std::time::Duration::from_millis(50),
                ..Default::default()
            };
            let store =
                tracker_sqlite::SqliteStore::open_with(dir.path().join("tracker.db"), &options)
                    .expect("open file");
            (store, dir)
        },
    );
}

/// Held heartbeats in memory, where the writer's connection serves reads.
mod holding_heartbeats_in_memory {
    tracker_core::conformance_tests!(
        block_on = futures::executor::block_on,
        store = tracker_sqlite::SqliteStore::open_in_memory_with(&tracker_sqlite::SqliteOptions {
            heartbeat_delay: std::time::Duration::from_millis(50),
            ..Default::default()
        })
        .expect("open in memory"),
    );
}
