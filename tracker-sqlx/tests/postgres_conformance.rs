//! The conformance kit of tracker-core on PostgreSQL, each case in a schema
//! of its own (skipped without `DATABASE_URL`, failed without it under `CI=true`).

use tracker_sqlx::testing::TestStore;

tracker_core::conformance_tests!(
    attr = #[tokio::test],
    store = match TestStore::new().await {
        Some(store) => store,
        None => return,
    },
);
