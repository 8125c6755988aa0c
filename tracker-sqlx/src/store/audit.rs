//! [`AuditStore`]: appending to and reading the audit chains. Rows are
//! append-only in the database too (triggers refuse changes).

use async_trait::async_trait;
use tracker_core::Result;
use tracker_core::audit::{AuditChain, AuditEvent, NewAuditEvent};
use tracker_core::paging::{Page, PageRequest};
use tracker_core::store::{AuditFilter, AuditStore};

use crate::PgStore;
use crate::chain::append;
use crate::codec::{self, bound_time, chain_key, int};
use crate::sql::{Select, q};

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, event: NewAuditEvent) -> Result<AuditEvent> {
        self.in_tx(async |tx| append(tx, event).await).await
    }

    async fn list_audit(
        &self,
        chain: AuditChain,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let limit = page.limit()?;
        let s = Select::new("SELECT * FROM audit_events", chain_key(chain))
            .and_opt("seq > ", page.after_seq()?.map(int))
            .and_opt("action = ", filter.action.map(|a| a.as_str()))
            .and_opt("actor->>'id' = ", filter.actor.map(|a| a.to_string()))
            .and_opt("at >= ", filter.from.map(bound_time))
            .and_opt("at < ", filter.to.map(bound_time))
            .tail(&format!(" ORDER BY seq LIMIT {}", limit + 1));
        Ok(Page::from_overfetch(
            s.run(self, codec::audit_event).await?,
            limit,
            |e| e.seq.to_string(),
        ))
    }

    async fn read_chain(
        &self,
        chain: AuditChain,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        self.read_all(
            q("SELECT * FROM audit_events WHERE company_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
                .bind(chain_key(chain))
                .bind(int(after_seq))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX)),
            codec::audit_event,
        )
        .await
    }
}
