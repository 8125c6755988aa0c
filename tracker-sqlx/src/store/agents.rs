//! [`AgentStore`]: tokens and the context they open, heartbeats and agent
//! states: what every authenticated request and every agent reads or
//! writes, so each method is one statement.

use async_trait::async_trait;
use tracker_core::audit::NewAuditEvent;
use tracker_core::identity::TokenRecord;
use tracker_core::rows;
use tracker_core::secret::SecretHash;
use tracker_core::store::{AgentStore, TokenContext};
use tracker_core::{AgentState, CompanyId, Error, Result, UserId};

use crate::PgStore;
use crate::chain::append;
use crate::codec::{self, company_key};
use crate::contexts::Cached;
use crate::error::db;
use crate::scope::Scope;
use crate::sql::{exec, q};

#[async_trait]
impl AgentStore for PgStore {
    async fn insert_token(&self, token: &TokenRecord, audit: NewAuditEvent) -> Result<()> {
        self.in_tx(Scope::of_opt(token.company_id), async |tx| {
            exec(
                tx,
                q("INSERT INTO tokens (company_id, hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(company_key(token.company_id))
                    .bind(token.hash.as_str().to_owned())
                    .bind(token.user_id.0)
                    .bind(token.created_at)
                    .bind(token.expires_at),
            )
            .await?;
            append(tx, audit).await.map(drop)
        })
        .await
    }

    async fn token_context(&self, hash: &SecretHash) -> Result<Option<TokenContext>> {
        let ticket = match self.contexts().map(|c| c.get(hash.as_str())) {
            Some(Cached::Hit(context)) => return Ok(Some(*context)),
            Some(Cached::Miss(ticket)) => Some(ticket),
            None => None,
        };
        let context = self.read_context(hash).await?;
        if let (Some(cache), Some(ticket), Some(context)) = (self.contexts(), ticket, &context) {
            cache.fill(ticket, context);
        }
        Ok(context)
    }

    async fn delete_token(&self, hash: &SecretHash, audit: Option<NewAuditEvent>) -> Result<()> {
        let deleted = self.delete_token_row(hash, audit).await;
        if let Some(cache) = self.contexts() {
            cache.forget_token(hash.as_str());
        }
        deleted
    }

    async fn record_heartbeat(&self, state: &AgentState) -> Result<()> {
        // Written with the heartbeats queued meanwhile, in one statement,
        // and answered once committed (see `beats`).
        if !self.beats.record(state).await? {
            return Err(Error::not_found("user"));
        }
        if let Some(cache) = self.contexts() {
            cache.heartbeat(state.company_id, state.user_id, state.last_heartbeat_at);
        }
        Ok(())
    }

    async fn list_agent_states(&self, company: CompanyId) -> Result<Vec<AgentState>> {
        self.read_all(
            Scope::of(company),
            q("SELECT * FROM agent_states WHERE company_id = $1 ORDER BY user_id").bind(company.0),
            codec::agent_state,
        )
        .await
    }

    async fn agent_state(&self, company: CompanyId, user: UserId) -> Result<Option<AgentState>> {
        self.read_one(
            Scope::of(company),
            q("SELECT * FROM agent_states WHERE company_id = $1 AND user_id = $2")
                .bind(company.0)
                .bind(user.0),
            codec::agent_state,
        )
        .await
    }
}

impl PgStore {
    /// A token's context from the database.
    async fn read_context(&self, hash: &SecretHash) -> Result<Option<TokenContext>> {
        // One statement, one round trip: each table's row comes back as one
        // JSON object (their column names overlap), read by the same
        // decoders as the single lookups.
        let row = q(
            "SELECT to_jsonb(t) AS t, to_jsonb(u) AS u, to_jsonb(c) AS c, to_jsonb(p) AS p
                   FROM tokens t
                   LEFT JOIN users u ON u.company_id = t.company_id AND u.id = t.user_id
                   LEFT JOIN companies c ON c.id = t.company_id
                   LEFT JOIN policies p ON p.company_id = t.company_id
                   WHERE t.hash = $1",
        )
        .bind(hash.as_str().to_owned())
        // By digest, before the company is known: the platform's scope.
        .fetch_optional(&mut *self.conn(Scope::Platform).await?)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let Some(token) = codec::json_row(&row, "t", |c| rows::token(c))? else {
            return Err(codec::corrupt("t", "no token row"));
        };
        Ok(Some(TokenContext {
            token,
            user: codec::json_row(&row, "u", |c| rows::user(c))?,
            company: codec::json_row(&row, "c", |c| rows::company(c))?,
            policy: codec::json_row(&row, "p", |c| rows::policy(c))?,
        }))
    }

    /// Deletes a token's row, with its audit event if given.
    async fn delete_token_row(
        &self,
        hash: &SecretHash,
        audit: Option<NewAuditEvent>,
    ) -> Result<()> {
        let delete = || q("DELETE FROM tokens WHERE hash = $1").bind(hash.as_str().to_owned());
        let Some(audit) = audit else {
            return exec(&mut *self.conn(Scope::Platform).await?, delete())
                .await
                .map(drop);
        };
        self.in_tx(Scope::Platform, async |tx| {
            if exec(tx, delete()).await? > 0 {
                append(tx, audit).await?;
            }
            Ok(())
        })
        .await
    }
}
