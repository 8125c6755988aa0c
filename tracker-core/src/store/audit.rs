//! The audit trail: append and read, nothing else.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::{AuditAction, AuditChain, AuditEvent, ChainHead, Checkpoint, NewAuditEvent};
use crate::error::Result;
use crate::ids::UserId;
use crate::paging::{MAX_LIMIT, Page, PageRequest};

/// Filter of an audit list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Only this actor.
    pub actor: Option<UserId>,
    /// From this instant, included.
    pub from: Option<DateTime<Utc>>,
    /// Until this instant, excluded.
    pub to: Option<DateTime<Utc>>,
}

impl AuditFilter {
    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.action.is_none_or(|a| event.action == a)
            && self.actor.is_none_or(|a| event.actor.user_id() == Some(a))
            && self.from.is_none_or(|f| event.at >= f)
            && self.to.is_none_or(|t| event.at < t)
    }
}

/// The audit trail and its signed checkpoints: append and read. There is
/// no method to change or delete an event or a checkpoint.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends an event to its chain and returns it linked: after the
    /// current head of its chain ([`NewAuditEvent::link`]). Concurrent
    /// appends MUST never fork a chain or reuse a sequence number.
    async fn append_audit(&self, event: NewAuditEvent) -> Result<AuditEvent>;
    /// Events of a chain passing `filter`, ordered by seq; the cursor is
    /// the seq of the last event returned.
    async fn list_audit(
        &self,
        chain: AuditChain,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>>;

    /// Appends a signed checkpoint to its chain's checkpoints. MUST refuse
    /// with [`AlreadyExists`](crate::Error::AlreadyExists), storing nothing, unless its number is
    /// one more than the chain's last checkpoint's (1 for the first): two
    /// signers racing never both append a number, nor leave a gap. The
    /// store does not check signatures; the verifier does.
    async fn append_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()>;

    /// Up to `limit` checkpoints of a chain with number greater than
    /// `after`, ordered by number.
    async fn list_checkpoints(
        &self,
        chain: AuditChain,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Checkpoint>>;

    /// The chain's last checkpoint. Provided over
    /// [`list_checkpoints`](Self::list_checkpoints), which it pages
    /// through; a store SHOULD read the one row.
    async fn last_checkpoint(&self, chain: AuditChain) -> Result<Option<Checkpoint>> {
        let mut last = None;
        loop {
            let after = last.as_ref().map_or(0, |c: &Checkpoint| c.number);
            let page = self.list_checkpoints(chain, after, 500).await?;
            match page.last() {
                Some(c) => last = Some(c.clone()),
                None => return Ok(last),
            }
        }
    }

    /// The chain's last event's seq and hash (`None`: no events). Provided
    /// over [`read_chain`](Self::read_chain), which it pages through; a
    /// store SHOULD read the one row.
    async fn audit_head(&self, chain: AuditChain) -> Result<Option<ChainHead>> {
        let mut head = None;
        loop {
            let after = head.as_ref().map_or(0, |h: &ChainHead| h.seq);
            let events = self.read_chain(chain, after, MAX_LIMIT as usize).await?;
            match events.last() {
                Some(e) => head = Some(e.head()),
                None => return Ok(head),
            }
        }
    }

    /// Up to `limit` events of a chain with seq greater than `after_seq`,
    /// ordered by seq (for verification; fewer when the chain ends).
    /// Provided over [`list_audit`](Self::list_audit).
    async fn read_chain(
        &self,
        chain: AuditChain,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        let limit = u32::try_from(limit).unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
        let page = match after_seq {
            0 => PageRequest::first(limit),
            seq => PageRequest::after(seq.to_string(), limit),
        };
        Ok(self
            .list_audit(chain, &AuditFilter::default(), &page)
            .await?
            .items)
    }
}
