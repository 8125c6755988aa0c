//! [`MemoryStore`]: a complete, faithful store in process memory.
//!
//! Every method takes one lock over the whole state, checks everything it
//! must refuse before it changes anything, and so is atomic like a
//! transaction. It passes the whole conformance kit; use it for tests,
//! demos and prototypes. Its data dies with the process.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::audit::{AuditChain, AuditEvent, NewAuditEvent};
use crate::error::{Error, Result};
use crate::identity::{Team, TokenRecord, User};
use crate::ids::*;
use crate::notify::{Alert, AlertFilter, AlertKind, AlertSettings, DeliveryRecord};
use crate::paging::{Page, PageRequest, encode_time_id};
use crate::policy::TrackingPolicy;
use crate::secret::SecretHash;
use crate::store::*;
use crate::tenancy::{Company, Plan, Subscription, check_seat_available};
use crate::tracking::{ActivityEvent, AgentState, Screenshot, WorkSession};
use crate::work::{CompanyUsageDaily, CorrectionRequest, CorrectionStatus, Task};

#[derive(Default)]
struct State {
    plans: BTreeMap<PlanId, Plan>,
    companies: BTreeMap<CompanyId, Company>,
    subscriptions: Vec<Subscription>,
    users: BTreeMap<UserId, User>,
    tokens: HashMap<String, TokenRecord>,
    teams: BTreeMap<TeamId, Team>,
    policies: HashMap<CompanyId, TrackingPolicy>,
    audit: BTreeMap<AuditChain, Vec<AuditEvent>>,
    agents: BTreeMap<(CompanyId, UserId), AgentState>,
    sessions: BTreeMap<(CompanyId, WorkSessionId), WorkSession>,
    activity: BTreeMap<(CompanyId, ActivityId), ActivityEvent>,
    screenshots: BTreeMap<(CompanyId, ScreenshotId), Screenshot>,
    tasks: BTreeMap<(CompanyId, TaskId), Task>,
    corrections: BTreeMap<(CompanyId, CorrectionId), CorrectionRequest>,
    usage: BTreeMap<(CompanyId, NaiveDate), CompanyUsageDaily>,
    usage_pending: BTreeMap<(CompanyId, NaiveDate), u64>,
    purges: HashMap<CompanyId, PurgeProgress>,
    alerts: BTreeMap<(CompanyId, AlertId), Alert>,
    alert_settings: HashMap<CompanyId, AlertSettings>,
    deliveries: BTreeMap<(CompanyId, DeliveryId), DeliveryRecord>,
}

impl State {
    fn append(&mut self, event: NewAuditEvent) -> AuditEvent {
        let chain = self.audit.entry(event.chain).or_default();
        let linked = event.link(chain.last().map(AuditEvent::head).as_ref());
        chain.push(linked.clone());
        linked
    }

    fn seats(&self, company: CompanyId) -> u32 {
        let n = self
            .users
            .values()
            .filter(|u| u.company_id == Some(company) && u.active)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    fn username_taken(&self, user: &User) -> bool {
        self.users.values().any(|u| {
            u.id != user.id && u.company_id == user.company_id && u.username == user.username
        })
    }

    fn mark(&mut self, company: CompanyId, dates: impl IntoIterator<Item = NaiveDate>) {
        for d in dates {
            *self.usage_pending.entry((company, d)).or_default() += 1;
        }
    }

    fn storage(&self, company: CompanyId) -> u64 {
        self.screenshots
            .range((company, ScreenshotId::nil())..)
            .take_while(|((c, _), _)| *c == company)
            .map(|(_, s)| s.size_bytes)
            .sum()
    }
}

/// The in-memory store. See the [module docs](self).
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Methods check before they mutate, so a panicked holder leaves a consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn in_company<K: Ord + Copy, V: Clone>(
    map: &BTreeMap<(CompanyId, K), V>,
    company: CompanyId,
) -> impl Iterator<Item = &V> {
    map.iter()
        .filter(move |((c, _), _)| *c == company)
        .map(|(_, v)| v)
}

fn user_ok(filter: &Option<BTreeSet<UserId>>, user: UserId) -> bool {
    filter.as_ref().is_none_or(|s| s.contains(&user))
}

fn in_window(at: DateTime<Utc>, filter: &TrackingFilter) -> bool {
    filter.from.is_none_or(|f| at >= f) && filter.to.is_none_or(|t| at < t)
}

/// Pages items already sorted by their (time, id) key.
fn page_time_id<T: Clone>(
    mut items: Vec<&T>,
    page: &PageRequest,
    key: impl Fn(&T) -> (DateTime<Utc>, uuid::Uuid),
) -> Result<Page<T>> {
    let limit = page.limit()?;
    let after = page.after_time_id()?;
    items.sort_by_key(|t| key(t));
    let rest: Vec<T> = items
        .into_iter()
        .filter(|t| after.is_none_or(|a| key(t) > a))
        .take(limit + 1)
        .cloned()
        .collect();
    Ok(Page::from_overfetch(rest, limit, |t| {
        let (at, id) = key(t);
        encode_time_id(at, id)
    }))
}

/// Pages items by their uuid key.
fn page_id<T: Clone>(
    mut items: Vec<&T>,
    page: &PageRequest,
    key: impl Fn(&T) -> uuid::Uuid,
) -> Result<Page<T>> {
    let limit = page.limit()?;
    let after = page.after_id()?;
    items.sort_by_key(|t| key(t));
    let rest: Vec<T> = items
        .into_iter()
        .filter(|t| after.is_none_or(|a| key(t) > a))
        .take(limit + 1)
        .cloned()
        .collect();
    Ok(Page::from_overfetch(rest, limit, |t| key(t).to_string()))
}

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

    async fn get_plan(&self, id: PlanId) -> Result<Option<Plan>> {
        Ok(self.lock().plans.get(&id).cloned())
    }

    async fn plan_by_code(&self, code: &str) -> Result<Option<Plan>> {
        Ok(self.lock().plans.values().find(|p| p.code == code).cloned())
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
        Ok(())
    }

    async fn get_company(&self, id: CompanyId) -> Result<Option<Company>> {
        Ok(self.lock().companies.get(&id).cloned())
    }

    async fn company_by_key_hash(&self, key_hash: &SecretHash) -> Result<Option<Company>> {
        Ok(self
            .lock()
            .companies
            .values()
            .find(|c| c.key_hash.ct_eq(key_hash))
            .cloned())
    }

    async fn list_companies(&self, page: &PageRequest) -> Result<Page<Company>> {
        let s = self.lock();
        page_id(s.companies.values().collect(), page, |c| c.id.0)
    }

    async fn all_companies(&self) -> Result<Vec<Company>> {
        Ok(self.lock().companies.values().cloned().collect())
    }

    async fn update_company(&self, change: &CompanyChange) -> Result<()> {
        let mut s = self.lock();
        let id = change.company.id;
        if !s.companies.contains_key(&id) {
            return Err(Error::not_found("company"));
        }
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

    async fn get_user(&self, company: Option<CompanyId>, id: UserId) -> Result<Option<User>> {
        Ok(self
            .lock()
            .users
            .get(&id)
            .filter(|u| u.company_id == company)
            .cloned())
    }

    async fn user_by_username(
        &self,
        company: Option<CompanyId>,
        username: &str,
    ) -> Result<Option<User>> {
        Ok(self
            .lock()
            .users
            .values()
            .find(|u| u.company_id == company && u.username == username)
            .cloned())
    }

    async fn list_users(
        &self,
        company: CompanyId,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<User>> {
        let s = self.lock();
        let items = s
            .users
            .values()
            .filter(|u| u.company_id == Some(company))
            .filter(|u| user_ok(&filter.ids, u.id))
            .filter(|u| filter.active.is_none_or(|a| u.active == a))
            .collect();
        page_id(items, page, |u| u.id.0)
    }

    async fn count_seats(&self, company: CompanyId) -> Result<u32> {
        Ok(self.lock().seats(company))
    }

    async fn has_owner(&self) -> Result<bool> {
        Ok(self.lock().users.values().any(|u| u.company_id.is_none()))
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

    async fn insert_token(&self, token: &TokenRecord) -> Result<()> {
        self.lock()
            .tokens
            .insert(token.hash.as_str().to_owned(), token.clone());
        Ok(())
    }

    async fn token_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>> {
        Ok(self.lock().tokens.get(hash.as_str()).cloned())
    }

    async fn token_owner(&self, hash: &SecretHash) -> Result<Option<TokenOwner>> {
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
        Ok(Some(TokenOwner {
            token,
            user,
            company,
            policy,
        }))
    }

    async fn delete_token(&self, hash: &SecretHash) -> Result<()> {
        self.lock().tokens.remove(hash.as_str());
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

    async fn agent_state(&self, company: CompanyId, user: UserId) -> Result<Option<AgentState>> {
        Ok(self.lock().agents.get(&(company, user)).cloned())
    }

    async fn insert_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()> {
        let mut s = self.lock();
        if s.teams
            .values()
            .any(|t| t.company_id == team.company_id && t.name == team.name)
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

    async fn get_team(&self, company: CompanyId, id: TeamId) -> Result<Option<Team>> {
        Ok(self
            .lock()
            .teams
            .get(&id)
            .filter(|t| t.company_id == company)
            .cloned())
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

    async fn update_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()> {
        let mut s = self.lock();
        if s.teams
            .get(&team.id)
            .is_none_or(|t| t.company_id != team.company_id)
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
impl PolicyStore for MemoryStore {
    async fn get_policy(&self, company: CompanyId) -> Result<Option<TrackingPolicy>> {
        Ok(self.lock().policies.get(&company).cloned())
    }

    async fn update_policy(&self, policy: &TrackingPolicy, audit: NewAuditEvent) -> Result<()> {
        let mut s = self.lock();
        let Some(current) = s.policies.get(&policy.company_id) else {
            return Err(Error::not_found("policy"));
        };
        if current.version + 1 != policy.version {
            return Err(Error::invalid_state(format!(
                "the policy changed meanwhile (now version {})",
                current.version
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
                    .filter(|e| e.seq > after)
                    .filter(|e| filter.action.is_none_or(|a| e.action == a))
                    .filter(|e| filter.actor.is_none_or(|a| e.actor.user_id() == Some(a)))
                    .filter(|e| filter.from.is_none_or(|f| e.at >= f))
                    .filter(|e| filter.to.is_none_or(|t| e.at < t))
                    .take(limit + 1)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Ok(Page::from_overfetch(items, limit, |e| e.seq.to_string()))
    }

    async fn read_chain(
        &self,
        chain: AuditChain,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        Ok(self
            .lock()
            .audit
            .get(&chain)
            .map(|events| {
                events
                    .iter()
                    .filter(|e| e.seq > after_seq)
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[async_trait]
impl TrackingStore for MemoryStore {
    async fn insert_session(&self, session: &WorkSession) -> Result<Ingested<WorkSession>> {
        let mut s = self.lock();
        let key = (session.company_id, session.id);
        if let Some(existing) = s.sessions.get(&key) {
            return Ok(Ingested {
                stored: existing.clone(),
                inserted: false,
            });
        }
        s.sessions.insert(key, session.clone());
        Ok(Ingested {
            stored: session.clone(),
            inserted: true,
        })
    }

    async fn get_session(
        &self,
        company: CompanyId,
        id: WorkSessionId,
    ) -> Result<Option<WorkSession>> {
        Ok(self.lock().sessions.get(&(company, id)).cloned())
    }

    async fn stop_session(
        &self,
        company: CompanyId,
        id: WorkSessionId,
        stopped_at: DateTime<Utc>,
    ) -> Result<WorkSession> {
        let mut s = self.lock();
        let session = s
            .sessions
            .get_mut(&(company, id))
            .ok_or(Error::not_found("work session"))?;
        if session.stopped_at.is_none() {
            session.stopped_at = Some(stopped_at);
        }
        Ok(session.clone())
    }

    async fn list_sessions(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<WorkSession>> {
        let s = self.lock();
        let items = in_company(&s.sessions, company)
            .filter(|x| user_ok(&filter.users, x.user_id) && in_window(x.started_at, filter))
            .collect();
        page_time_id(items, page, |x| (x.started_at, x.id.0))
    }

    async fn insert_activity(
        &self,
        company: CompanyId,
        events: &[ActivityEvent],
    ) -> Result<IngestCount> {
        crate::tracking::check_batch_company(company, events)?;
        let mut s = self.lock();
        let mut count = IngestCount::default();
        for e in events {
            let key = (company, e.id);
            match s.activity.entry(key) {
                std::collections::btree_map::Entry::Occupied(_) => count.duplicates += 1,
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(e.clone());
                    count.inserted += 1;
                    s.mark(company, event_dates([e]));
                }
            }
        }
        Ok(count)
    }

    async fn list_activity(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<ActivityEvent>> {
        let s = self.lock();
        let items = in_company(&s.activity, company)
            .filter(|x| user_ok(&filter.users, x.user_id) && in_window(x.started_at, filter))
            .collect();
        page_time_id(items, page, |x| (x.started_at, x.id.0))
    }

    async fn activity_between(
        &self,
        company: CompanyId,
        users: &Option<BTreeSet<UserId>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ActivityEvent>> {
        let s = self.lock();
        let mut out: Vec<ActivityEvent> = in_company(&s.activity, company)
            .filter(|e| user_ok(users, e.user_id))
            .filter(|e| e.started_at < to && e.ended_at() > from)
            .cloned()
            .collect();
        out.sort_by_key(|e| (e.started_at, e.id));
        Ok(out)
    }

    async fn insert_screenshot(
        &self,
        shot: &Screenshot,
        storage_limit: u64,
    ) -> Result<Ingested<Screenshot>> {
        let mut s = self.lock();
        let key = (shot.company_id, shot.id);
        if let Some(existing) = s.screenshots.get(&key) {
            return Ok(Ingested {
                stored: existing.clone(),
                inserted: false,
            });
        }
        if s.storage(shot.company_id).saturating_add(shot.size_bytes) > storage_limit {
            return Err(Error::StorageLimitReached {
                limit_bytes: storage_limit,
            });
        }
        s.screenshots.insert(key, shot.clone());
        s.mark(shot.company_id, [shot.taken_at.date_naive()]);
        Ok(Ingested {
            stored: shot.clone(),
            inserted: true,
        })
    }

    async fn get_screenshot(
        &self,
        company: CompanyId,
        id: ScreenshotId,
    ) -> Result<Option<Screenshot>> {
        Ok(self.lock().screenshots.get(&(company, id)).cloned())
    }

    async fn list_screenshots(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<Screenshot>> {
        let s = self.lock();
        let items = in_company(&s.screenshots, company)
            .filter(|x| user_ok(&filter.users, x.user_id) && in_window(x.taken_at, filter))
            .collect();
        page_time_id(items, page, |x| (x.taken_at, x.id.0))
    }

    async fn storage_used(&self, company: CompanyId) -> Result<u64> {
        Ok(self.lock().storage(company))
    }

    async fn pending_usage_days(&self, company: CompanyId) -> Result<Vec<PendingUsageDay>> {
        Ok(self
            .lock()
            .usage_pending
            .range((company, NaiveDate::MIN)..=(company, NaiveDate::MAX))
            .map(|((_, date), version)| PendingUsageDay {
                date: *date,
                version: *version,
            })
            .collect())
    }

    async fn mark_usage_days(&self, company: CompanyId, dates: &[NaiveDate]) -> Result<()> {
        self.lock().mark(company, dates.iter().copied());
        Ok(())
    }

    async fn clear_pending_usage(
        &self,
        company: CompanyId,
        days: &[PendingUsageDay],
    ) -> Result<()> {
        let mut s = self.lock();
        for d in days {
            if s.usage_pending.get(&(company, d.date)) == Some(&d.version) {
                s.usage_pending.remove(&(company, d.date));
            }
        }
        Ok(())
    }

    async fn open_sessions(&self, company: CompanyId) -> Result<Vec<WorkSession>> {
        let s = self.lock();
        let mut out: Vec<WorkSession> = in_company(&s.sessions, company)
            .filter(|x| x.stopped_at.is_none())
            .cloned()
            .collect();
        out.sort_by_key(|x| (x.started_at, x.id));
        Ok(out)
    }

    async fn screenshots_before(
        &self,
        company: CompanyId,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Screenshot>> {
        let s = self.lock();
        let mut out: Vec<Screenshot> = in_company(&s.screenshots, company)
            .filter(|x| x.taken_at < before)
            .cloned()
            .collect();
        out.sort_by_key(|x| (x.taken_at, x.id));
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn purge_tracking(&self, company: CompanyId, batch: &PurgeBatch) -> Result<PurgeCounts> {
        let mut s = self.lock();
        let mut counts = PurgeCounts::default();
        for id in &batch.screenshots {
            if let Some(shot) = s.screenshots.get(&(company, *id))
                && shot.taken_at < batch.before
            {
                counts.screenshots += 1;
                counts.screenshot_bytes += shot.size_bytes;
                s.screenshots.remove(&(company, *id));
            }
        }
        let mut events: Vec<_> = in_company(&s.activity, company)
            .filter(|e| e.ended_at() <= batch.before)
            .map(|e| (e.started_at, e.id))
            .collect();
        events.sort();
        events.truncate(batch.limit as usize);
        for (_, id) in &events {
            s.activity.remove(&(company, *id));
        }
        counts.events = events.len() as u64;
        let mut sessions: Vec<_> = in_company(&s.sessions, company)
            .filter(|x| {
                x.started_at < batch.before && x.stopped_at.is_none_or(|t| t <= batch.before)
            })
            .map(|x| (x.started_at, x.id))
            .collect();
        sessions.sort();
        sessions.truncate(batch.limit as usize);
        for (_, id) in &sessions {
            s.sessions.remove(&(company, *id));
        }
        counts.sessions = sessions.len() as u64;
        if counts.is_empty() {
            return Ok(counts);
        }
        s.purges
            .entry(company)
            .or_insert_with(|| PurgeProgress {
                company_id: company,
                before: batch.before,
                before_date: batch.before_date,
                started_at: batch.started_at,
                counts: PurgeCounts::default(),
            })
            .counts
            .add(&counts);
        Ok(counts)
    }

    async fn purge_progress(&self, company: CompanyId) -> Result<Option<PurgeProgress>> {
        Ok(self.lock().purges.get(&company).cloned())
    }

    async fn finish_purge(&self, company: CompanyId, audit: NewAuditEvent) -> Result<()> {
        let mut s = self.lock();
        s.append(audit);
        s.purges.remove(&company);
        Ok(())
    }
}

#[async_trait]
impl WorkStore for MemoryStore {
    async fn insert_task(&self, task: &Task, audit: NewAuditEvent) -> Result<()> {
        let mut s = self.lock();
        s.tasks.insert((task.company_id, task.id), task.clone());
        s.append(audit);
        Ok(())
    }

    async fn get_task(&self, company: CompanyId, id: TaskId) -> Result<Option<Task>> {
        Ok(self.lock().tasks.get(&(company, id)).cloned())
    }

    async fn list_tasks(
        &self,
        company: CompanyId,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> Result<Page<Task>> {
        let s = self.lock();
        let items = in_company(&s.tasks, company)
            .filter(|t| user_ok(&filter.assignees, t.assignee_id))
            .filter(|t| filter.status.is_none_or(|st| t.status == st))
            .collect();
        page_id(items, page, |t| t.id.0)
    }

    async fn update_task(&self, task: &Task) -> Result<()> {
        let mut s = self.lock();
        let key = (task.company_id, task.id);
        if !s.tasks.contains_key(&key) {
            return Err(Error::not_found("task"));
        }
        s.tasks.insert(key, task.clone());
        Ok(())
    }

    async fn insert_correction(&self, correction: &CorrectionRequest) -> Result<()> {
        self.lock()
            .corrections
            .insert((correction.company_id, correction.id), correction.clone());
        Ok(())
    }

    async fn get_correction(
        &self,
        company: CompanyId,
        id: CorrectionId,
    ) -> Result<Option<CorrectionRequest>> {
        Ok(self.lock().corrections.get(&(company, id)).cloned())
    }

    async fn list_corrections(
        &self,
        company: CompanyId,
        filter: &CorrectionFilter,
        page: &PageRequest,
    ) -> Result<Page<CorrectionRequest>> {
        let s = self.lock();
        let items = in_company(&s.corrections, company)
            .filter(|c| user_ok(&filter.users, c.user_id))
            .filter(|c| filter.status.is_none_or(|st| c.status == st))
            .collect();
        page_id(items, page, |c| c.id.0)
    }

    async fn decide_correction(
        &self,
        correction: &CorrectionRequest,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut s = self.lock();
        let key = (correction.company_id, correction.id);
        match s.corrections.get(&key) {
            None => return Err(Error::not_found("correction")),
            Some(c) if c.status != CorrectionStatus::Pending => {
                return Err(Error::invalid_state(format!(
                    "the correction is already {}",
                    c.status.as_str()
                )));
            }
            Some(_) => {}
        }
        s.corrections.insert(key, correction.clone());
        s.append(audit);
        Ok(())
    }

    async fn approved_corrections(
        &self,
        company: CompanyId,
        users: &Option<BTreeSet<UserId>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CorrectionRequest>> {
        let s = self.lock();
        Ok(in_company(&s.corrections, company)
            .filter(|c| c.status == CorrectionStatus::Approved)
            .filter(|c| user_ok(users, c.user_id))
            .filter(|c| c.starts_at < to && c.ends_at > from)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl UsageStore for MemoryStore {
    async fn upsert_usage(&self, rows: &[CompanyUsageDaily]) -> Result<()> {
        let mut s = self.lock();
        for r in rows {
            s.usage.insert((r.company_id, r.date), r.clone());
        }
        Ok(())
    }

    async fn list_usage(
        &self,
        company: Option<CompanyId>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CompanyUsageDaily>> {
        Ok(self
            .lock()
            .usage
            .values()
            .filter(|r| company.is_none_or(|c| r.company_id == c))
            .filter(|r| r.date >= from && r.date <= to)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl AlertStore for MemoryStore {
    async fn open_alert(&self, alert: &Alert) -> Result<Ingested<Alert>> {
        let mut s = self.lock();
        if let Some(open) = in_company(&s.alerts, alert.company_id)
            .find(|a| a.is_open() && a.kind == alert.kind && a.user_id == alert.user_id)
        {
            return Ok(Ingested {
                stored: open.clone(),
                inserted: false,
            });
        }
        s.alerts.insert((alert.company_id, alert.id), alert.clone());
        Ok(Ingested {
            stored: alert.clone(),
            inserted: true,
        })
    }

    async fn get_alert(&self, company: CompanyId, id: AlertId) -> Result<Option<Alert>> {
        Ok(self.lock().alerts.get(&(company, id)).cloned())
    }

    async fn open_alerts(&self, company: Option<CompanyId>, kind: AlertKind) -> Result<Vec<Alert>> {
        Ok(self
            .lock()
            .alerts
            .values()
            .filter(|a| company.is_none_or(|c| a.company_id == c))
            .filter(|a| a.is_open() && a.kind == kind)
            .cloned()
            .collect())
    }

    async fn resolve_alert(
        &self,
        company: CompanyId,
        id: AlertId,
        at: DateTime<Utc>,
    ) -> Result<Option<Alert>> {
        let mut s = self.lock();
        match s.alerts.get_mut(&(company, id)) {
            Some(a) if a.is_open() => {
                a.resolved_at = Some(at);
                Ok(Some(a.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn list_alerts(
        &self,
        company: CompanyId,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<Alert>> {
        page.after_id()?; // a cursor must be an alert id
        let s = self.lock();
        let items: Vec<Alert> = in_company(&s.alerts, company)
            .filter(|a| filter.matches(a))
            .cloned()
            .collect();
        Page::of_all(items, page, |a| a.id.to_string())
    }

    async fn get_alert_settings(&self, company: CompanyId) -> Result<Option<AlertSettings>> {
        Ok(self.lock().alert_settings.get(&company).cloned())
    }

    async fn put_alert_settings(
        &self,
        settings: &AlertSettings,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut s = self.lock();
        if !s.companies.contains_key(&settings.company_id) {
            return Err(Error::not_found("company"));
        }
        s.alert_settings
            .insert(settings.company_id, settings.clone());
        s.append(audit);
        Ok(())
    }

    async fn insert_deliveries(&self, records: &[DeliveryRecord]) -> Result<()> {
        let mut s = self.lock();
        for r in records {
            s.deliveries
                .entry((r.company_id, r.id))
                .or_insert_with(|| r.clone());
        }
        Ok(())
    }

    async fn list_deliveries(
        &self,
        company: CompanyId,
        alert: AlertId,
    ) -> Result<Vec<DeliveryRecord>> {
        Ok(in_company(&self.lock().deliveries, company)
            .filter(|d| d.alert_id == alert)
            .cloned()
            .collect())
    }
}
