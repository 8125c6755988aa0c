//! A store in a fresh schema of the database at `DATABASE_URL`, for tests
//! (feature `testing`).
//!
//! Every [`TestStore`] gets a schema of its own, so tests run in parallel
//! against one database; dropping it drops the schema with everything in it.
//!
//! Without `DATABASE_URL`, [`TestStore::new`] prints that the test is
//! skipped and answers `None`; with `CI=true` in the environment a missing
//! or unreachable database fails the test instead, so a CI run can never
//! pass without having run against PostgreSQL.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use tracker_core::store::Store;
//! use tracker_sqlx::testing::TestStore;
//!
//! let Some(db) = TestStore::new().await else { return };
//! assert!(!db.store().users().has_owner().await.unwrap());
//! # }
//! ```

use sqlx::Connection;
use std::io::Write;
use std::ops::Deref;

use tracker_core::store::{
    AccessLogStore, AgentStore, AlertStore, AuditStore, CorrectionStore, PolicyStore,
    RetentionStore, Store, TaskStore, TeamStore, TenantStore, TrackingStore, UsageStore, UserStore,
};

use crate::{PgConfig, PgStore};

/// A [`PgStore`] in a schema of its own, dropped with it.
#[derive(Debug)]
pub struct TestStore {
    store: Option<PgStore>,
    url: String,
    schema: String,
}

/// The role of [`TestStore::with_row_security`]: no login, no ownership,
/// no bypass of row security.
pub const ROW_SECURITY_ROLE: &str = "tracker_row_security_test";

/// Makes [`ROW_SECURITY_ROLE`] unless it exists (tests racing to make it
/// may see each other's: the check after is what counts).
async fn ensure_role(url: &str) {
    let Ok(mut conn) = sqlx::PgConnection::connect(url).await else {
        return;
    };
    let make = format!(
        "DO $$ BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROW_SECURITY_ROLE}') THEN
                 CREATE ROLE {ROW_SECURITY_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
             END IF;
         END $$"
    );
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(make))
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
}

/// Whether a missing database must fail rather than skip.
fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl TestStore {
    /// A store in a new schema of `DATABASE_URL`, or `None` (after saying
    /// so on stderr) when the variable is not set and `CI` is not true.
    ///
    /// # Panics
    ///
    /// When the database cannot be reached, or when `DATABASE_URL` is not
    /// set and `CI=true`.
    pub async fn new() -> Option<Self> {
        Self::with_config(PgConfig {
            max_connections: 8,
            ..PgConfig::default()
        })
        .await
    }

    /// Like [`new`](Self::new), with row-level security enforced: the
    /// store's connections work as [`ROW_SECURITY_ROLE`], made here if the
    /// cluster lacks it (the test user must be allowed to make roles).
    pub async fn with_row_security() -> Option<Self> {
        let url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
        if let Some(url) = &url {
            ensure_role(url).await;
        }
        Self::with_config(PgConfig {
            max_connections: 8,
            row_security_role: Some(ROW_SECURITY_ROLE.to_owned()),
            ..PgConfig::default()
        })
        .await
    }

    /// Like [`new`](Self::new) with pool settings of the caller's choice;
    /// the schema is always a fresh one.
    pub async fn with_config(config: PgConfig) -> Option<Self> {
        Self::through(config, str::to_owned).await
    }

    /// Like [`with_config`](Self::with_config), connecting to the URL
    /// `route` makes of `DATABASE_URL` (through a proxy a test can cut);
    /// the schema is set up and dropped over `DATABASE_URL` itself.
    pub async fn through(config: PgConfig, route: impl FnOnce(&str) -> String) -> Option<Self> {
        let url = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ if required() => {
                panic!("DATABASE_URL is not set, and CI=true requires the PostgreSQL tests to run")
            }
            _ => {
                // Straight to stderr: the test harness would swallow `eprintln!`
                // of a passing test, and a skip must be seen.
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    let _ = writeln!(
                        std::io::stderr(),
                        "note: PostgreSQL tests skipped: DATABASE_URL is not set"
                    );
                });
                return None;
            }
        };
        let schema = format!("tracker_test_{}", uuid::Uuid::new_v4().simple());
        let config = PgConfig {
            schema: schema.clone(),
            // Names the pool's backends, so teardown can end them.
            application_name: schema.clone(),
            run_migrations: true,
            ..config
        };
        let store = match PgStore::connect(&route(&url), config).await {
            Ok(store) => store,
            Err(e) => panic!("cannot open a PostgreSQL test store at DATABASE_URL: {e:?}"),
        };
        Some(Self {
            store: Some(store),
            url,
            schema,
        })
    }

    /// The store.
    pub fn store(&self) -> &PgStore {
        self
    }
}

impl Deref for TestStore {
    type Target = PgStore;

    fn deref(&self) -> &PgStore {
        // Only `drop` takes the store out.
        self.store.as_ref().unwrap_or_else(|| unreachable!())
    }
}

// A test store is a store: it can stand wherever one is expected, and the
// schema goes when the last owner lets it go.
impl Store for TestStore {
    fn tenants(&self) -> &dyn TenantStore {
        self.store()
    }
    fn users(&self) -> &dyn UserStore {
        self.store()
    }
    fn teams(&self) -> &dyn TeamStore {
        self.store()
    }
    fn agents(&self) -> &dyn AgentStore {
        self.store()
    }
    fn policies(&self) -> &dyn PolicyStore {
        self.store()
    }
    fn audit(&self) -> &dyn AuditStore {
        self.store()
    }
    fn tracking(&self) -> &dyn TrackingStore {
        self.store()
    }
    fn retention(&self) -> &dyn RetentionStore {
        self.store()
    }
    fn usage(&self) -> &dyn UsageStore {
        self.store()
    }
    fn tasks(&self) -> &dyn TaskStore {
        self.store()
    }
    fn corrections(&self) -> &dyn CorrectionStore {
        self.store()
    }
    fn alerts(&self) -> &dyn AlertStore {
        self.store()
    }
    fn access(&self) -> &dyn AccessLogStore {
        self.store()
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        // Dropping needs async I/O while the caller's runtime may be the one
        // blocked here: use a thread with a runtime of its own.
        let store = self.store.take();
        let url = std::mem::take(&mut self.url);
        let schema = self.schema.clone();
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                // The store's pool belongs to the caller's runtime: let it go
                // without awaiting anything on it.
                drop(store);
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                // Connections of the dropped pool may linger inside a
                // transaction; end them so the schema's locks are free.
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE application_name = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&schema)
                .execute(&pool)
                .await
                .map_err(|e| e.to_string())?;
                let drop_schema = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                sqlx::raw_sql(sqlx::AssertSqlSafe(drop_schema))
                    .execute(&pool)
                    .await
                    .map_err(|e| e.to_string())?;
                pool.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test schema {}: {e}", self.schema),
            Err(_) => eprintln!("could not drop test schema {}", self.schema),
        }
    }
}
