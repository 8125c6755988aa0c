//! [`PolicyStore`]: one tracking policy per company, versioned.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use tracker_core::audit::NewAuditEvent;
use tracker_core::error::{Error, Result};
use tracker_core::store::PolicyStore;
use tracker_core::{CompanyId, TrackingPolicy};

use crate::SqliteStore;
use crate::codec::int;
use crate::error::db;
use crate::rows::{append, policy_row, write_policy};

#[async_trait]
impl PolicyStore for SqliteStore {
    async fn get_policy(&self, company: CompanyId) -> Result<Option<TrackingPolicy>> {
        self.engine.point(move |c| policy_row(c, company)).await
    }

    async fn update_policy(&self, policy: &TrackingPolicy, audit: NewAuditEvent) -> Result<()> {
        let policy = policy.clone();
        self.engine
            .write(move |c| {
                let current: Option<i64> = c
                    .prepare_cached("SELECT revision FROM policies WHERE company_id = ?1")
                    .and_then(|mut s| {
                        s.query_row(params![policy.company_id.0], |r| r.get(0))
                            .optional()
                    })
                    .map_err(db)?;
                let current = current.ok_or(Error::not_found("policy"))?;
                if current + 1 != int(policy.revision()) {
                    return Err(Error::invalid_state(format!(
                        "the policy changed meanwhile (now version {current})"
                    )));
                }
                write_policy(c, &policy)?;
                append(c, audit).map(drop)
            })
            .await
    }
}
