//! [`UsageStore`]: daily usage aggregates, and the UTC dates marked
//! pending by the writes that change tracking data.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use tracker_core::store::{PendingUsageDay, UsageStore};
use tracker_core::{CompanyId, CompanyUsageDaily, Result};

use crate::PgStore;
use crate::codec::{self, bound_date, int, int32};
use crate::scope::Scope;
use crate::sql::{exec, q};

#[async_trait]
impl UsageStore for PgStore {
    async fn upsert_usage(&self, rows: &[CompanyUsageDaily]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // One statement; the last row wins when a (company, date) repeats.
        let mut latest = BTreeMap::new();
        for r in rows {
            latest.insert((r.company_id, r.date), r);
        }
        let rows: Vec<&CompanyUsageDaily> = latest.into_values().collect();
        exec(
            &mut *self.conn(Scope::of_all(rows.iter().map(|r| r.company_id))).await?,
            q("INSERT INTO usage_daily (company_id, date, active_seconds, idle_seconds, screenshots, storage_bytes, active_users)
               SELECT * FROM UNNEST($1::uuid[], $2::date[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::int[])
               ON CONFLICT (company_id, date) DO UPDATE SET active_seconds = excluded.active_seconds,
                 idle_seconds = excluded.idle_seconds, screenshots = excluded.screenshots,
                 storage_bytes = excluded.storage_bytes, active_users = excluded.active_users")
            .bind(rows.iter().map(|r| r.company_id.0).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.date).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| int(r.active_seconds)).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| int(r.idle_seconds)).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| int(r.screenshots)).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| int(r.storage_bytes)).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| int32(r.active_users)).collect::<Vec<_>>()),
        )
        .await
        .map(drop)
    }

    async fn list_usage(
        &self,
        company: Option<CompanyId>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CompanyUsageDaily>> {
        let (from, to) = (bound_date(from), bound_date(to));
        match company {
            Some(id) => {
                self.read_all(
                    Scope::of(id),
                    q("SELECT * FROM usage_daily WHERE company_id = $1 AND date >= $2 AND date <= $3 ORDER BY date")
                        .bind(id.0)
                        .bind(from)
                        .bind(to),
                    codec::usage,
                )
                .await
            }
            None => {
                self.read_all(
                    Scope::Platform,
                    q("SELECT * FROM usage_daily WHERE date >= $1 AND date <= $2 ORDER BY company_id, date")
                        .bind(from)
                        .bind(to),
                    codec::usage,
                )
                .await
            }
        }
    }

    async fn pending_usage_days(&self, company: CompanyId) -> Result<Vec<PendingUsageDay>> {
        self.read_all(
            Scope::of(company),
            q("SELECT date, version FROM usage_pending WHERE company_id = $1 ORDER BY date")
                .bind(company.0),
            codec::pending_day,
        )
        .await
    }

    async fn clear_pending_usage(
        &self,
        company: CompanyId,
        days: &[PendingUsageDay],
    ) -> Result<()> {
        if days.is_empty() {
            return Ok(());
        }
        // Compare and delete: a date marked again since it was read keeps
        // its newer version, and stays pending.
        exec(
            &mut *self.conn(Scope::of(company)).await?,
            q("DELETE FROM usage_pending p
               USING UNNEST($2::date[], $3::bigint[]) AS c(date, version)
               WHERE p.company_id = $1 AND p.date = c.date AND p.version = c.version")
            .bind(company.0)
            .bind(days.iter().map(|d| bound_date(d.date)).collect::<Vec<_>>())
            .bind(days.iter().map(|d| int(d.version)).collect::<Vec<_>>()),
        )
        .await
        .map(drop)
    }
}
