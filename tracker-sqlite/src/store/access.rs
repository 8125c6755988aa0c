//! [`AccessLogStore`]: who read whose tracking data, one row per actor,
//! subject, kind and day, counts added in place.

use async_trait::async_trait;
use rusqlite::params;
use tracker_core::CompanyId;
use tracker_core::access::{AccessFilter, AccessRecord};
use tracker_core::error::Result;
use tracker_core::paging::{Page, PageRequest};
use tracker_core::store::AccessLogStore;

use crate::SqliteStore;
use crate::codec::{self, ts};
use crate::sql::{Query, exec, time_page};

#[async_trait]
impl AccessLogStore for SqliteStore {
    async fn record_access(&self, company: CompanyId, records: &[AccessRecord]) -> Result<()> {
        let records: Vec<AccessRecord> = records
            .iter()
            .filter(|r| r.company_id == company)
            .cloned()
            .collect();
        if records.is_empty() {
            return Ok(());
        }
        self.engine
            .write(move |c| {
                for r in &records {
                    exec(
                        c,
                        "INSERT INTO access_log (company_id, id, actor_id, subject_id, kind, day, count, first_at, last_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                         ON CONFLICT (company_id, id) DO UPDATE SET
                           count = count + excluded.count,
                           first_at = min(first_at, excluded.first_at),
                           last_at = max(last_at, excluded.last_at)",
                        params![
                            company.0,
                            r.id,
                            r.actor_id.0,
                            r.subject_id.0,
                            r.kind.as_str(),
                            r.day.to_string(),
                            i64::try_from(r.count).unwrap_or(i64::MAX),
                            ts(r.first_at),
                            ts(r.last_at)
                        ],
                    )?;
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
        let (filter, page) = (filter.clone(), page.clone());
        self.engine
            .read(move |c| {
                let (q, limit) = Query::new("SELECT * FROM access_log", company)
                    .and_opt("subject_id = ?", filter.subject.map(|u| u.0))
                    .and_opt("actor_id = ?", filter.actor.map(|u| u.0))
                    .page_time("first_at", &page)?;
                Ok(time_page(q.run(c, codec::access_record)?, limit, |r| {
                    (r.first_at, r.id)
                }))
            })
            .await
    }
}
