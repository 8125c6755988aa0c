//! What an agent or a signed-in user needs on every request: tokens and the
//! context they open, heartbeats and agent states.

use async_trait::async_trait;

use crate::audit::NewAuditEvent;

use crate::error::Result;
use crate::identity::{TokenRecord, User};
use crate::ids::{CompanyId, UserId};
use crate::policy::TrackingPolicy;
use crate::secret::SecretHash;
use crate::tenancy::Company;
use crate::tracking::AgentState;

/// A token with what every request made with it needs: its user, the
/// user's company and that company's tracking policy, as
/// [`AgentStore::token_context`] reads them. Each part is what the store
/// holds now; the service decides what is missing or inactive.
#[derive(Debug, Clone)]
pub struct TokenContext {
    /// The token.
    pub token: TokenRecord,
    /// The token's user (of the token's company), if it exists.
    pub user: Option<User>,
    /// The token's company (`None` for an OWNER's token, or if it is gone).
    pub company: Option<Company>,
    /// That company's tracking policy, if it has one.
    pub policy: Option<TrackingPolicy>,
}

/// Tokens, their context, heartbeats and agent states.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait AgentStore: Send + Sync + 'static {
    /// Stores a token digest with the audit event of the sign-in.
    async fn insert_token(&self, token: &TokenRecord, audit: NewAuditEvent) -> Result<()>;
    /// A token by digest together with its user, the user's company and
    /// that company's policy (see [`TokenContext`]). Every authenticated
    /// request starts here, so a store SHOULD read them together (one
    /// transaction, one round trip). `None` when the token is unknown.
    async fn token_context(&self, hash: &SecretHash) -> Result<Option<TokenContext>>;
    /// Deletes a token, with the audit event of a sign-out if given (an
    /// expired token goes without one); deleting an unknown token is not
    /// an error, and then appends nothing.
    async fn delete_token(&self, hash: &SecretHash, audit: Option<NewAuditEvent>) -> Result<()>;
    /// Records a heartbeat: the agent state, the user's
    /// `last_agent_sync_at` and the company's `last_sync_at`. MUST fail
    /// with `NotFound` if the user is not of the company. A store MAY skip
    /// moving the company's `last_sync_at` forward by less than a second
    /// (every agent of the company writes that one row); such a store never
    /// moves it back.
    ///
    /// A store MAY answer before the heartbeat is durable (heartbeats are
    /// most of an agent fleet's writes, and each replaces the last), if
    /// every later read and write through it sees the heartbeat, it commits
    /// within a bounded delay and when the store is closed, and it says so:
    /// a crash may then lose the heartbeats of that delay.
    async fn record_heartbeat(&self, state: &AgentState) -> Result<()>;
    /// Agent states of a company, ordered by user id.
    async fn list_agent_states(&self, company: CompanyId) -> Result<Vec<AgentState>>;

    /// The agent state of one user of a company (`None` if it never sent a
    /// heartbeat, or is not of the company); agents poll their sync status
    /// through it. Provided over
    /// [`list_agent_states`](Self::list_agent_states); a store SHOULD read
    /// the one row instead.
    async fn agent_state(&self, company: CompanyId, user: UserId) -> Result<Option<AgentState>> {
        Ok(self
            .list_agent_states(company)
            .await?
            .into_iter()
            .find(|s| s.user_id == user))
    }
}
