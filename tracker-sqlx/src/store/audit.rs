//! [`AuditStore`]: appending to and reading the audit chains. Rows are
//! append-only in the database too (triggers refuse changes).

use async_trait::async_trait;
use sqlx::Row;
use tracker_core::Result;
use tracker_core::audit::{AuditChain, AuditEvent, ChainHead, Checkpoint, NewAuditEvent};
use tracker_core::paging::{Page, PageRequest};
use tracker_core::store::{AuditFilter, AuditStore};

use crate::PgStore;
use crate::chain::append;
use crate::codec::{self, bound_time, chain_key, int};
use crate::error::db;
use crate::scope::Scope;
use crate::sql::{Select, exec_unique, q};

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, event: NewAuditEvent) -> Result<AuditEvent> {
        self.in_tx(Scope::of_opt(event.chain.company()), async |tx| {
            append(tx, event).await
        })
        .await
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
            Scope::of_opt(chain.company()),
            q("SELECT * FROM audit_events WHERE company_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
                .bind(chain_key(chain))
                .bind(int(after_seq))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX)),
            codec::audit_event,
        )
        .await
    }

    async fn append_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()> {
        let cp = checkpoint;
        let taken = || cp.taken();
        // Racing signers of one number: the primary key refuses the second.
        let inserted = exec_unique(
            &mut *self.conn(Scope::of_opt(checkpoint.chain.company())).await?,
            q("INSERT INTO audit_checkpoints (company_id, number, event_seq, head_hash, at, prev_digest, key, next_key, signature, next_signature)
               SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
               WHERE $2 = 1 + coalesce((SELECT max(number) FROM audit_checkpoints WHERE company_id = $1), 0)")
            .bind(chain_key(cp.chain))
            .bind(int(cp.number))
            .bind(int(cp.event_seq))
            .bind(cp.head_hash.clone())
            .bind(cp.at)
            .bind(cp.prev_digest.clone())
            .bind(cp.key.clone())
            .bind(cp.next_key.clone())
            .bind(cp.signature.clone())
            .bind(cp.next_signature.clone()),
            "audit_checkpoints_pkey",
            taken,
        )
        .await?;
        if inserted == 0 {
            return Err(taken());
        }
        Ok(())
    }

    async fn list_checkpoints(
        &self,
        chain: AuditChain,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Checkpoint>> {
        self.read_all(
            Scope::of_opt(chain.company()),
            q("SELECT * FROM audit_checkpoints WHERE company_id = $1 AND number > $2 ORDER BY number LIMIT $3")
                .bind(chain_key(chain))
                .bind(int(after))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX)),
            codec::checkpoint,
        )
        .await
    }

    async fn last_checkpoint(&self, chain: AuditChain) -> Result<Option<Checkpoint>> {
        self.read_one(
            Scope::of_opt(chain.company()),
            q("SELECT * FROM audit_checkpoints WHERE company_id = $1 ORDER BY number DESC LIMIT 1")
                .bind(chain_key(chain)),
            codec::checkpoint,
        )
        .await
    }

    async fn audit_head(&self, chain: AuditChain) -> Result<Option<ChainHead>> {
        self.read_one(
            Scope::of_opt(chain.company()),
            q("SELECT seq, hash FROM audit_heads WHERE company_id = $1 AND seq > 0")
                .bind(chain_key(chain)),
            |r| {
                Ok(ChainHead {
                    seq: u64::try_from(r.try_get::<i64, _>("seq").map_err(db)?).unwrap_or(0),
                    hash: r.try_get("hash").map_err(db)?,
                })
            },
        )
        .await
    }
}
