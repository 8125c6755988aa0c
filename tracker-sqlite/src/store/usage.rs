//! [`UsageStore`]: daily usage rows, and the UTC dates marked for the usage
//! job by the writes that change tracking data ([`crate::rows::mark_usage`]).

use async_trait::async_trait;
use chrono::NaiveDate;
use rusqlite::params;
use tracker_core::error::Result;
use tracker_core::store::{PendingUsageDay, UsageStore};
use tracker_core::{CompanyId, CompanyUsageDaily};

use crate::SqliteStore;
use crate::codec::{self, date_bound, int};
use crate::sql::{all, exec};

#[async_trait]
impl UsageStore for SqliteStore {
    async fn upsert_usage(&self, rows: &[CompanyUsageDaily]) -> Result<()> {
        let rows = rows.to_vec();
        self.engine
            .write(move |c| {
                for r in &rows {
                    exec(
                        c,
                        "INSERT INTO usage_daily (company_id, date, active_seconds, idle_seconds, screenshots, storage_bytes, active_users)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (company_id, date) DO UPDATE SET active_seconds = excluded.active_seconds,
                           idle_seconds = excluded.idle_seconds, screenshots = excluded.screenshots,
                           storage_bytes = excluded.storage_bytes, active_users = excluded.active_users",
                        params![
                            r.company_id.0,
                            r.date.to_string(),
                            int(r.active_seconds),
                            int(r.idle_seconds),
                            int(r.screenshots),
                            int(r.storage_bytes),
                            r.active_users
                        ],
                    )?;
                }
                Ok(())
            })
            .await
    }

    async fn list_usage(
        &self,
        company: Option<CompanyId>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CompanyUsageDaily>> {
        self.engine
            .read(move |c| match company {
                Some(id) => all(
                    c,
                    "SELECT * FROM usage_daily WHERE company_id = ?1 AND date >= ?2 AND date <= ?3 ORDER BY date",
                    params![id.0, date_bound(from), date_bound(to)],
                    codec::usage,
                ),
                None => all(
                    c,
                    "SELECT * FROM usage_daily WHERE date >= ?1 AND date <= ?2 ORDER BY company_id, date",
                    params![date_bound(from), date_bound(to)],
                    codec::usage,
                ),
            })
            .await
    }

    async fn pending_usage_days(&self, company: CompanyId) -> Result<Vec<PendingUsageDay>> {
        self.in_company(
            "SELECT date, version FROM usage_pending WHERE company_id = ?1 ORDER BY date",
            company,
            codec::pending_day,
        )
        .await
    }

    async fn clear_pending_usage(
        &self,
        company: CompanyId,
        days: &[PendingUsageDay],
    ) -> Result<()> {
        let days = days.to_vec();
        self.engine
            .write(move |c| {
                for d in &days {
                    // A date marked again since it was read has a newer version and stays.
                    exec(
                        c,
                        "DELETE FROM usage_pending WHERE company_id = ?1 AND date = ?2 AND version = ?3",
                        params![company.0, d.date.to_string(), int(d.version)],
                    )?;
                }
                Ok(())
            })
            .await
    }
}
