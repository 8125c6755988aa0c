//! [`PolicyStore`]: one tracking policy per company, changed by
//! compare-and-set on its version.

use async_trait::async_trait;
use tracker_core::audit::NewAuditEvent;
use tracker_core::store::PolicyStore;
use tracker_core::{CompanyId, Error, Result, TrackingPolicy};

use crate::PgStore;
use crate::chain::append;
use crate::codec;
use crate::scope::Scope;
use crate::shared::policy_query;
use crate::sql::{exec, q, scalar_opt_i64};

#[async_trait]
impl PolicyStore for PgStore {
    async fn get_policy(&self, company: CompanyId) -> Result<Option<TrackingPolicy>> {
        self.read_one(
            Scope::of(company),
            q("SELECT * FROM policies WHERE company_id = $1").bind(company.0),
            codec::policy,
        )
        .await
    }

    async fn update_policy(&self, policy: &TrackingPolicy, audit: NewAuditEvent) -> Result<()> {
        let written = self.in_tx(Scope::of(policy.company_id), async |tx| {
            // Compare and set: only the version after the stored one is written.
            let updated = exec(
                tx,
                policy_query(
                    "UPDATE policies SET screenshots_enabled = $2, screenshot_interval_seconds = $3,
                       website_tracking_enabled = $4, app_tracking_enabled = $5, idle_threshold_seconds = $6,
                       blur_screenshots = $7, version = $8, updated_at = $9,
                       privacy = $10, revision = $11
                     WHERE company_id = $1 AND revision = $11 - 1",
                    policy,
                ),
            )
            .await?;
            if updated == 0 {
                let current = scalar_opt_i64(
                    tx,
                    q("SELECT revision FROM policies WHERE company_id = $1")
                        .bind(policy.company_id.0),
                )
                .await?;
                return Err(match current {
                    None => Error::not_found("policy"),
                    Some(v) => Error::invalid_state(format!(
                        "the policy changed meanwhile (now version {v})"
                    )),
                });
            }
            append(tx, audit).await?;
            Ok(())
        })
        .await;
        self.forgetting(Some(policy.company_id), written)
    }
}
