//! [`AuditStore`]: append and read the audit chains.

use async_trait::async_trait;
use rusqlite::params;
use tracker_core::audit::{AuditChain, AuditEvent, NewAuditEvent};
use tracker_core::error::Result;
use tracker_core::paging::{Page, PageRequest};
use tracker_core::store::{AuditFilter, AuditStore};

use crate::SqliteStore;
use crate::codec::{self, chain_key, int, ts};
use crate::rows::append;
use crate::sql::{Query, all};

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, event: NewAuditEvent) -> Result<AuditEvent> {
        self.engine.write(move |c| append(c, event)).await
    }

    async fn list_audit(
        &self,
        chain: AuditChain,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.engine
            .read(move |c| {
                let limit = page.limit()?;
                let q = Query::scoped("SELECT * FROM audit_events", chain_key(chain))
                    .and_opt("seq > ?", page.after_seq()?.map(int))
                    .and_opt("action = ?", filter.action.map(|a| a.as_str()))
                    .and_opt(
                        "json_extract(actor, '$.id') = ?",
                        filter.actor.map(|a| a.to_string()),
                    )
                    .and_opt("at >= ?", filter.from.map(ts))
                    .and_opt("at < ?", filter.to.map(ts))
                    .tail(&format!(" ORDER BY seq LIMIT {}", limit + 1));
                Ok(Page::from_overfetch(
                    q.run(c, codec::audit_event)?,
                    limit,
                    |e| e.seq.to_string(),
                ))
            })
            .await
    }

    // Provided, overridden with one range of the chain's key (no page
    // size cap: a verifier may read a long stretch at once).

    async fn read_chain(
        &self,
        chain: AuditChain,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.engine
            .read(move |c| {
                all(
                    c,
                    "SELECT * FROM audit_events WHERE company_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                    params![chain_key(chain), int(after_seq), limit],
                    codec::audit_event,
                )
            })
            .await
    }
}
