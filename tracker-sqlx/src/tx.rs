//! The transaction frame of every write that runs more than one statement,
//! and the advisory locks taken inside one.

use sqlx::{PgConnection, Postgres, Transaction};
use tracker_core::CompanyId;

use crate::PgStore;
use crate::codec::R;
use crate::error::db;
use crate::scope::Scope;
use crate::sql::q;

impl PgStore {
    /// Runs `f` in a transaction: commits what it did if it succeeds, rolls
    /// it back if it fails. Every audited write goes through here, so the
    /// change and its audit event commit together or not at all.
    pub(crate) async fn in_tx<T>(
        &self,
        scope: Scope,
        f: impl AsyncFnOnce(&mut PgConnection) -> R<T>,
    ) -> R<T> {
        let mut tx = self.begin(scope).await?;
        let r = f(&mut tx).await;
        finish(tx, r).await
    }

    /// A transaction within `scope` to end with [`finish`], for the one
    /// write whose frame has a third outcome (activity ingest: roll back
    /// and try again).
    pub(crate) async fn begin(&self, scope: Scope) -> R<Transaction<'static, Postgres>> {
        if self.row_security {
            // In the same round trip as BEGIN.
            return self.pool.begin_with(scope.begin()).await.map_err(db);
        }
        self.pool.begin().await.map_err(db)
    }
}

/// Commits on success; on failure rolls back at once, so no row or
/// advisory lock outlives the call on a connection idling in the pool.
pub(crate) async fn finish<T>(tx: Transaction<'static, Postgres>, r: R<T>) -> R<T> {
    match r {
        Ok(v) => {
            tx.commit().await.map_err(db)?;
            Ok(v)
        }
        Err(e) => {
            // A failed rollback means a broken connection, which the pool drops.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// Advisory locks taken inside a transaction, released at its end.
#[derive(Clone, Copy)]
pub(crate) enum Lock {
    /// Seat and storage limits of a company.
    Limits = 1,
}

pub(crate) async fn lock(conn: &mut PgConnection, what: Lock, company: CompanyId) -> R<()> {
    q("SELECT pg_advisory_xact_lock(hashtextextended($1::text, $2))")
        .bind(company.0)
        .bind(what as i64)
        .execute(conn)
        .await
        .map_err(db)
        .map(drop)
}
