//! [`AuditStore`]: append and read the audit chains.

use async_trait::async_trait;
use rusqlite::params;
use tracker_core::audit::{AuditChain, AuditEvent, ChainHead, Checkpoint, NewAuditEvent};
use tracker_core::error::Result;
use tracker_core::paging::{Page, PageRequest};
use tracker_core::store::{AuditFilter, AuditStore};

use crate::SqliteStore;
use crate::codec::{self, chain_key, int, ts};
use crate::rows::{append, head};
use crate::sql::{Query, all, exec};

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

    async fn append_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()> {
        let cp = checkpoint.clone();
        self.engine
            .write(move |c| {
                // One writer at a time: the number is checked and taken in
                // one statement.
                let inserted = exec(
                    c,
                    "INSERT INTO audit_checkpoints (company_id, number, event_seq, head_hash, at, prev_digest, key, next_key, signature, next_signature)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
                     WHERE ?2 = 1 + coalesce((SELECT max(number) FROM audit_checkpoints WHERE company_id = ?1), 0)",
                    params![
                        chain_key(cp.chain),
                        int(cp.number),
                        int(cp.event_seq),
                        cp.head_hash,
                        ts(cp.at),
                        cp.prev_digest,
                        cp.key,
                        cp.next_key,
                        cp.signature,
                        cp.next_signature
                    ],
                )?;
                if inserted == 0 {
                    return Err(cp.taken());
                }
                Ok(())
            })
            .await
    }

    async fn list_checkpoints(
        &self,
        chain: AuditChain,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Checkpoint>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.engine
            .read(move |c| {
                all(
                    c,
                    "SELECT * FROM audit_checkpoints WHERE company_id = ?1 AND number > ?2 ORDER BY number LIMIT ?3",
                    params![chain_key(chain), int(after), limit],
                    codec::checkpoint,
                )
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

    async fn last_checkpoint(&self, chain: AuditChain) -> Result<Option<Checkpoint>> {
        self.engine
            .read(move |c| {
                Ok(all(
                    c,
                    "SELECT * FROM audit_checkpoints WHERE company_id = ?1 ORDER BY number DESC LIMIT 1",
                    params![chain_key(chain)],
                    codec::checkpoint,
                )?
                .pop())
            })
            .await
    }

    async fn audit_head(&self, chain: AuditChain) -> Result<Option<ChainHead>> {
        self.engine.read(move |c| head(c, chain_key(chain))).await
    }
}
