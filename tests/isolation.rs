//! Tenant isolation as a property, on every store of the workspace: the
//! public kit's model-based attack ([`tracker::testkit::isolation`]) on the
//! memory store, on a SQLite file and, when `DATABASE_URL` is set, on
//! PostgreSQL (a fresh schema per case).

use std::sync::Arc;

use futures::executor::block_on;
use proptest::prelude::*;
use tracker::MemoryStore;
use tracker::store::Store;
use tracker::testkit::isolation::{self, case};
use tracker_sqlite::SqliteStore;
use tracker_sqlx::testing::TestStore;

/// Cases when `PROPTEST_CASES` is not set: about 0.14 s each in a debug
/// build on two busy cores, so about 14 s in all.
const CASES: u32 = 96;

fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("isolation.db")).expect("open SQLite");
    (Arc::new(store), dir)
}

/// One runtime for every PostgreSQL case.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

proptest! {
    #![proptest_config(isolation::config(CASES))]

    #[test]
    fn tenants_stay_isolated(case in case()) {
        block_on(isolation::run(Arc::new(MemoryStore::new()), &case))?;
    }
}

proptest! {
    // Each case opens a real database file: a quarter of the cases.
    #![proptest_config(isolation::config(CASES / 4))]

    #[test]
    fn tenants_stay_isolated_on_sqlite(case in case()) {
        let (store, _dir) = sqlite_store();
        block_on(isolation::run(store, &case))?;
    }
}

proptest! {
    // As many cases as on SQLite: each one migrates a schema of its own.
    #![proptest_config(isolation::config(CASES / 4))]

    #[test]
    fn tenants_stay_isolated_on_postgres(case in case()) {
        runtime().block_on(async {
            let Some(db) = TestStore::new().await else { return Ok(()) };
            isolation::run(Arc::new(db), &case).await
        })?;
    }
}

proptest! {
    // Row-level security enforced: the same attack, where a query that
    // forgot its company would also meet the policies.
    #![proptest_config(isolation::config(CASES / 16))]

    #[test]
    fn tenants_stay_isolated_on_postgres_with_row_security(case in case()) {
        runtime().block_on(async {
            let Some(db) = TestStore::with_row_security().await else { return Ok(()) };
            isolation::run(Arc::new(db), &case).await
        })?;
    }
}
