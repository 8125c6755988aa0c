//! Tenants, users, teams, agents, policies and the audit trail.

use async_trait::async_trait;

use super::{MemoryStore, in_company, page_id};
use crate::audit::{AuditChain, AuditEvent, Checkpoint, NewAuditEvent};
use crate::error::{Error, Result};
use crate::identity::{Team, TokenRecord, User};
use crate::paging::{Page, PageRequest};
use crate::policy::TrackingPolicy;
use crate::secret::SecretHash;
use crate::store::*;
use crate::tenancy::{Company, Plan, Subscription, check_seat_available};
use crate::tracking::AgentState;

#[async_trait]
impl TenantStore for MemoryStore {
    async fn insert_plan(&self, plan: &Plan, audit: NewAuditEvent) -> Result<()> {
        let mut s = self.lock();
        if s.plans.values().any(|p| p.code == plan.code) {
            return Err(Error::AlreadyExists {
                entity: "plan",
                value: plan.code.clone(),
            });
        }
        s.plans.insert(plan.id, plan.clone());
        s.append(audit);
        Ok(())
    }

    async fn list_plans(&self) -> Result<Vec<Plan>> {
        let mut plans: Vec<Plan> = self.lock().plans.values().cloned().collect();
        plans.sort_by(|a, b| a.code.cmp(&b.code));
        Ok(plans)
    }

    async fn insert_company(&self, new: &NewCompany, audit: NewAuditEvent) -> Result<()> {
        let mut s = self.lock();
        if s.companies.contains_key(&new.company.id) {
            return Err(Error::AlreadyExists {
                entity: "company",
                value: new.company.id.to_string(),
            });
        }
        if s.username_taken(&new.admin) {
            return Err(Error::UsernameTaken {
                username: new.admin.username.clone(),
            });
        }
        s.companies.insert(new.company.id, new.company.clone());
        s.policies.insert(new.company.id, new.policy.clone());
        s.users.insert(new.admin.id, new.admin.clone());
        s.subscriptions.push(new.subscription.clone());
        s.append(audit);
        s.append(new.admin_audit.clone());
        Ok(())
    }

    async fn list_companies(
        &self,
        filter: &CompanyFilter,
        page: &PageRequest,
    ) -> Result<Page<Company>> {
        let s = self.lock();
        let items = s.companies.values().filter(|c| filter.matches(c)).collect();
        page_id(items, page, |c| c.id.0)
    }

    async fn update_company(&self, change: &CompanyChange) -> Result<()> {
        let mut s = self.lock();
        let id = change.company.id;
        let Some(stored) = s.companies.get(&id) else {
            return Err(Error::not_found("company"));
        };
        change.check_status(stored.status)?;
        change.check_limits(s.seats(id), s.storage(id))?;
        s.companies.insert(id, change.company.clone());
        if let Some(sub) = &change.subscription {
            s.subscriptions.push(sub.clone());
        }
        s.append(change.audit.clone());
        Ok(())
    }

    async fn list_subscriptions(&self, company: CompanyId) -> Result<Vec<Subscription>> {
        Ok(self
            .lock()
            .subscriptions
            .iter()
            .filter(|s| s.company_id == company)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn insert_user(
        &self,
        user: &User,
        seat_limit: Option<u32>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut s = self.lock();
        if let Some(company) = user.company_id
            && !s.companies.contains_key(&company)
        {
            return Err(Error::not_found("company"));
        }
        if s.username_taken(user) {
            return Err(Error::UsernameTaken {
                username: user.username.clone(),
            });
        }
        if let (Some(limit), Some(company)) = (seat_limit, user.company_id)
            && user.active
        {
            check_seat_available(limit, s.seats(company))?;
        }
        s.users.insert(user.id, user.clone());
        s.append(audit);
        Ok(())
    }

    async fn list_users(
        &self,
        company: Option<CompanyId>,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<User>> {
        let s = self.lock();
        let items = s
            .users
            .values()
            .filter(|u| u.company_id == company && filter.matches(u))
            .collect();
        page_id(items, page, |u| u.id.0)
    }

    async fn update_user(
        &self,
        user: &User,
        update: &UserUpdate,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut s = self.lock();
        let Some(old) = s
            .users
            .get(&user.id)
            .filter(|u| u.company_id == user.company_id)
        else {
            return Err(Error::not_found("user"));
        };
        update.check_active(old.active)?;
        let takes_seat = user.active && !old.active;
        if s.username_taken(user) {
            return Err(Error::UsernameTaken {
                username: user.username.clone(),
            });
        }
        if let (Some(limit), Some(company)) = (update.seat_limit, user.company_id)
            && takes_seat
        {
            check_seat_available(limit, s.seats(company))?;
        }
        // Heartbeats alone move the sync time.
        let synced = old.last_agent_sync_at;
        s.users.insert(
            user.id,
            User {
                last_agent_sync_at: synced,
                ..user.clone()
            },
        );
        if update.revoke_tokens {
            s.tokens.retain(|_, t| t.user_id != user.id);
        }
        s.append(audit);
        Ok(())
    }
}

#[async_trait]
impl TeamStore for MemoryStore {
    async fn save_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()> {
        let mut s = self.lock();
        // Teams are kept by id alone here: an id of another company's
        // team is not this company's to replace.
        if s.teams
            .get(&team.id)
            .is_some_and(|t| t.company_id != team.company_id)
        {
            return Err(Error::not_found("team"));
        }
        if s.teams
            .values()
            .any(|t| t.id != team.id && t.company_id == team.company_id && t.name == team.name)
        {
            return Err(Error::AlreadyExists {
                entity: "team",
                value: team.name.clone(),
            });
        }
        s.teams.insert(team.id, team.clone());
        s.append(audit);
        Ok(())
    }

    async fn list_teams(&self, company: CompanyId) -> Result<Vec<Team>> {
        let mut teams: Vec<Team> = self
            .lock()
            .teams
            .values()
            .filter(|t| t.company_id == company)
            .cloned()
            .collect();
        teams.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(teams)
    }

    async fn delete_team(
        &self,
        company: CompanyId,
        id: TeamId,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut s = self.lock();
        if s.teams.get(&id).is_none_or(|t| t.company_id != company) {
            return Err(Error::not_found("team"));
        }
        s.teams.remove(&id);
        s.append(audit);
        Ok(())
    }
}

#[async_trait]
impl AgentStore for MemoryStore {
    async fn insert_token(&self, token: &TokenRecord, audit: NewAuditEvent) -> Result<()> {
        let mut s = self.lock();
        s.tokens
            .insert(token.hash.as_str().to_owned(), token.clone());
        s.append(audit);
        Ok(())
    }

    async fn token_context(&self, hash: &SecretHash) -> Result<Option<TokenContext>> {
        let s = self.lock();
        let Some(token) = s.tokens.get(hash.as_str()).cloned() else {
            return Ok(None);
        };
        let user = s
            .users
            .get(&token.user_id)
            .filter(|u| u.company_id == token.company_id)
            .cloned();
        let company = token.company_id.and_then(|c| s.companies.get(&c).cloned());
        let policy = token.company_id.and_then(|c| s.policies.get(&c).cloned());
        Ok(Some(TokenContext {
            token,
            user,
            company,
            policy,
        }))
    }

    async fn delete_token(&self, hash: &SecretHash, audit: Option<NewAuditEvent>) -> Result<()> {
        let mut s = self.lock();
        if s.tokens.remove(hash.as_str()).is_some()
            && let Some(audit) = audit
        {
            s.append(audit);
        }
        Ok(())
    }

    async fn record_heartbeat(&self, state: &AgentState) -> Result<()> {
        let mut s = self.lock();
        let Some(user) = s
            .users
            .get_mut(&state.user_id)
            .filter(|u| u.company_id == Some(state.company_id))
        else {
            return Err(Error::not_found("user"));
        };
        user.last_agent_sync_at = Some(state.last_heartbeat_at);
        if let Some(c) = s.companies.get_mut(&state.company_id) {
            c.last_sync_at = Some(state.last_heartbeat_at);
        }
        s.agents
            .insert((state.company_id, state.user_id), state.clone());
        Ok(())
    }

    async fn list_agent_states(&self, company: CompanyId) -> Result<Vec<AgentState>> {
        Ok(in_company(&self.lock().agents, company).cloned().collect())
    }
}

#[async_trait]
impl PolicyStore for MemoryStore {
    async fn get_policy(&self, company: CompanyId) -> Result<Option<TrackingPolicy>> {
        Ok(self.lock().policies.get(&company).cloned())
    }

    async fn update_policy(&self, policy: &TrackingPolicy, audit: NewAuditEvent) -> Result<()> {
        let mut s = self.lock();
        let Some(current) = s.policies.get(&policy.company_id) else {
            return Err(Error::not_found("policy"));
        };
        if current.revision() + 1 != policy.revision() {
            return Err(Error::invalid_state(format!(
                "the policy changed meanwhile (now version {})",
                current.revision()
            )));
        }
        s.policies.insert(policy.company_id, policy.clone());
        s.append(audit);
        Ok(())
    }
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append_audit(&self, event: NewAuditEvent) -> Result<AuditEvent> {
        Ok(self.lock().append(event))
    }

    async fn list_audit(
        &self,
        chain: AuditChain,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let limit = page.limit()?;
        let after = page.after_seq()?.unwrap_or(0);
        let s = self.lock();
        let items: Vec<AuditEvent> = s
            .audit
            .get(&chain)
            .map(|events| {
                events
                    .iter()
                    .filter(|e| e.seq > after && filter.matches(e))
                    .take(limit + 1)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Ok(Page::from_overfetch(items, limit, |e| e.seq.to_string()))
    }

    async fn append_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()> {
        let mut s = self.lock();
        let chain = s.checkpoints.entry(checkpoint.chain).or_default();
        if checkpoint.number != chain.len() as u64 + 1 {
            return Err(checkpoint.taken());
        }
        chain.push(checkpoint.clone());
        Ok(())
    }

    async fn list_checkpoints(
        &self,
        chain: AuditChain,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Checkpoint>> {
        let s = self.lock();
        let all = s.checkpoints.get(&chain).map_or(&[][..], Vec::as_slice);
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(all.len());
        Ok(all[start..].iter().take(limit).cloned().collect())
    }
}
