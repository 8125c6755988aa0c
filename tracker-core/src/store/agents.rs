//! What an agent or a signed-in user needs on every request: tokens and the
//! context they open, heartbeats and agent states.

use std::collections::HashMap;
use std::hash::BuildHasher;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

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

/// Tokens' contexts held per table, as a store's cache keeps them between
/// requests: a heartbeat patches one user and one company however many
/// tokens name them. For stores that cache contexts; when to forget what
/// is the store's to decide.
#[derive(Debug, Clone, Default)]
pub struct ContextRows<S = std::collections::hash_map::RandomState> {
    tokens: HashMap<String, TokenRecord, S>,
    users: HashMap<(Option<CompanyId>, UserId), Option<User>, S>,
    companies: HashMap<CompanyId, (Option<Company>, Option<TrackingPolicy>), S>,
}

impl<S: BuildHasher> ContextRows<S> {
    /// The context of the token with digest `hash`, if every row of it is
    /// held.
    pub fn get(&self, hash: &str) -> Option<TokenContext> {
        let token = self.tokens.get(hash)?;
        let user = self.users.get(&(token.company_id, token.user_id))?;
        let (company, policy) = match token.company_id {
            Some(id) => self.companies.get(&id)?.clone(),
            None => (None, None),
        };
        Some(TokenContext {
            token: token.clone(),
            user: user.clone(),
            company,
            policy,
        })
    }

    /// Holds the rows of `context`, replacing those of its user and company.
    pub fn insert(&mut self, context: &TokenContext) {
        let token = &context.token;
        self.tokens
            .insert(token.hash.as_str().to_owned(), token.clone());
        self.users
            .insert((token.company_id, token.user_id), context.user.clone());
        if let Some(id) = token.company_id {
            self.companies
                .insert(id, (context.company.clone(), context.policy.clone()));
        }
    }

    /// Tokens held.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Forgets every row.
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.users.clear();
        self.companies.clear();
    }

    /// Forgets one token.
    pub fn forget_token(&mut self, hash: &str) {
        self.tokens.remove(hash);
    }

    /// Forgets the rows of a company (`None`: the platform's users).
    pub fn forget_company(&mut self, company: Option<CompanyId>) {
        self.tokens.retain(|_, t| t.company_id != company);
        self.users.retain(|(c, _), _| *c != company);
        if let Some(id) = company {
            self.companies.remove(&id);
        }
    }

    /// The user row held for (company, user): `Some(None)` when the
    /// database said there is none.
    pub fn user(&self, company: Option<CompanyId>, user: UserId) -> Option<&Option<User>> {
        self.users.get(&(company, user))
    }

    /// A heartbeat at `at` was recorded: the held user's last agent sync
    /// becomes `at`, and the held company's last sync too when `moves`
    /// says the store moved it (given the held value). Answers whether the
    /// company's row may have moved: true when it is not held.
    pub fn heartbeat(
        &mut self,
        company: CompanyId,
        user: UserId,
        at: DateTime<Utc>,
        moves: impl FnOnce(Option<DateTime<Utc>>) -> bool,
    ) -> bool {
        if let Some(Some(u)) = self.users.get_mut(&(Some(company), user)) {
            u.last_agent_sync_at = Some(at);
        }
        match self.companies.get_mut(&company) {
            Some((Some(c), _)) => {
                let moved = moves(c.last_sync_at);
                if moved {
                    c.last_sync_at = Some(at);
                }
                moved
            }
            _ => true,
        }
    }
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
