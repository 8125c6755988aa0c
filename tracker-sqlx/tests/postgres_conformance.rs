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

/// The whole kit again with row-level security enforced: every method
/// names the company it works for, or the policies hide the rows.
mod with_row_security {
    use tracker_sqlx::testing::TestStore;

    tracker_core::conformance_tests!(
        attr = #[tokio::test],
        store = match TestStore::with_row_security().await {
            Some(store) => store,
            None => return,
        },
    );
}
