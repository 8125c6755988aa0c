//! [`AgentStore`]: tokens and the context they open, heartbeats, agent
//! states. The two calls every agent request makes are served from memory
//! where they can be: a token's context from the [`crate::contexts`]
//! cache, a heartbeat through the [`crate::beats`] protocol.

use async_trait::async_trait;
use rusqlite::params;
use tracker_core::audit::NewAuditEvent;
use tracker_core::error::Result;
use tracker_core::identity::TokenRecord;
use tracker_core::secret::SecretHash;
use tracker_core::store::{AgentStore, TokenContext};
use tracker_core::{AgentState, CompanyId, UserId};

use crate::SqliteStore;
use crate::codec::{self, company_key, ts};
use crate::contexts::Cached;
use crate::rows::{append, company_row, policy_row, token_row, user_row};
use crate::sql::{exec, one, read_together};

#[async_trait]
impl AgentStore for SqliteStore {
    async fn insert_token(&self, token: &TokenRecord, audit: NewAuditEvent) -> Result<()> {
        let t = token.clone();
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "INSERT INTO tokens (hash, company_id, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        t.hash.as_str(),
                        company_key(t.company_id),
                        t.user_id.0,
                        ts(t.created_at),
                        ts(t.expires_at)
                    ],
                )?;
                append(c, audit).map(drop)
            })
            .await
    }

    async fn token_context(&self, hash: &SecretHash) -> Result<Option<TokenContext>> {
        let ticket = match self.contexts.get(hash.as_str()) {
            Cached::Hit(context) => return Ok(Some(context)),
            Cached::Miss(ticket) => ticket,
        };
        let hash = hash.clone();
        let context = self
            .engine
            .point(move |c| {
                // One read transaction: the four rows of one snapshot.
                read_together(c, |c| {
                    let Some(token) = token_row(c, &hash)? else {
                        return Ok(None);
                    };
                    let user = user_row(c, token.company_id, token.user_id)?;
                    let (company, policy) = match token.company_id {
                        Some(id) => (company_row(c, id)?, policy_row(c, id)?),
                        None => (None, None),
                    };
                    Ok(Some(TokenContext {
                        token,
                        user,
                        company,
                        policy,
                    }))
                })
            })
            .await?;
        if let Some(context) = &context {
            self.contexts.fill(ticket, context);
        }
        Ok(context)
    }

    async fn delete_token(&self, hash: &SecretHash, audit: Option<NewAuditEvent>) -> Result<()> {
        let hash = hash.clone();
        self.engine
            .write(move |c| {
                let deleted = exec(
                    c,
                    "DELETE FROM tokens WHERE hash = ?1",
                    params![hash.as_str()],
                )?;
                match audit {
                    Some(audit) if deleted > 0 => append(c, audit).map(drop),
                    _ => Ok(()),
                }
            })
            .await
    }

    async fn record_heartbeat(&self, state: &AgentState) -> Result<()> {
        self.beats
            .record(&self.engine, &self.contexts, state.clone())
            .await
    }

    async fn list_agent_states(&self, company: CompanyId) -> Result<Vec<AgentState>> {
        self.in_company(
            "SELECT * FROM agent_states WHERE company_id = ?1 ORDER BY user_id",
            company,
            codec::agent_state,
        )
        .await
    }

    // Provided, overridden with one key lookup.

    async fn agent_state(&self, company: CompanyId, user: UserId) -> Result<Option<AgentState>> {
        self.engine
            .point(move |c| {
                one(
                    c,
                    "SELECT * FROM agent_states WHERE company_id = ?1 AND user_id = ?2",
                    params![company.0, user.0],
                    codec::agent_state,
                )
            })
            .await
    }
}
