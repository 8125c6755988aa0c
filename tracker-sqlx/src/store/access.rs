//! [`AccessLogStore`]: who read whose tracking data, one row per actor,
//! subject, kind and day, counts added in place.

use async_trait::async_trait;
use tracker_core::CompanyId;
use tracker_core::access::{AccessFilter, AccessRecord};
use tracker_core::error::Result;
use tracker_core::paging::{Page, PageRequest};
use tracker_core::store::AccessLogStore;

use crate::PgStore;
use crate::codec::{self, int};
use crate::scope::Scope;
use crate::sql::{Select, exec, q, time_page};

#[async_trait]
impl AccessLogStore for PgStore {
    async fn record_access(&self, company: CompanyId, records: &[AccessRecord]) -> Result<()> {
        let records: Vec<&AccessRecord> =
            records.iter().filter(|r| r.company_id == company).collect();
        if records.is_empty() {
            return Ok(());
        }
        self.in_tx(Scope::of(company), async |tx| {
            // Added in place: readers racing on one record all count.
            for r in &records {
                exec(
                    tx,
                    q("INSERT INTO access_log (company_id, id, actor_id, subject_id, kind, day, count, first_at, last_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                       ON CONFLICT (company_id, id) DO UPDATE SET
                         count = access_log.count + excluded.count,
                         first_at = LEAST(access_log.first_at, excluded.first_at),
                         last_at = GREATEST(access_log.last_at, excluded.last_at)")
                    .bind(company.0)
                    .bind(r.id)
                    .bind(r.actor_id.0)
                    .bind(r.subject_id.0)
                    .bind(r.kind.as_str())
                    .bind(r.day)
                    .bind(int(r.count))
                    .bind(r.first_at)
                    .bind(r.last_at),
                )
                .await?;
            }
            Ok(())
        })
        .await
    }

    async fn list_access(
        &self,
        company: CompanyId,
        filter: &AccessFilter,
        page: &PageRequest,
    ) -> Result<Page<AccessRecord>> {
        let (s, limit) = Select::new("SELECT * FROM access_log", company.0)
            .and_opt("subject_id = ", filter.subject.map(|u| u.0))
            .and_opt("actor_id = ", filter.actor.map(|u| u.0))
            .page_time("first_at", page)?;
        Ok(time_page(
            s.run(self, codec::access_record).await?,
            limit,
            |r| (r.first_at, r.id),
        ))
    }
}
