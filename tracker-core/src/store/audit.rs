//! The audit trail: append and read, nothing else.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::{AuditAction, AuditChain, AuditEvent, NewAuditEvent};
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

/// The audit trail: append and read. There is no method to change or
/// delete an event.
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
