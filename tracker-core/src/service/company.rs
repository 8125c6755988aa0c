//! ADMIN and MANAGER operations inside a company.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::owner::validate_new_user;
use super::{Tracker, date_range};
use crate::audit::{AuditAction, AuditChain, AuditEvent, ChainVerification};
use crate::authz::{Action, Principal, Target, authorize};
use crate::error::{Error, Result, Validator};
use crate::identity::{Role, Team, User};
use crate::ids::{CompanyId, CorrectionId, ScreenshotId, TaskId, TeamId, UserId};
use crate::paging::{MAX_LIMIT, Page, PageRequest};
use crate::policy::{PolicyUpdate, TrackingPolicy};
use crate::protocol::*;
use crate::report::{self, DailyReport, MonthGrid, TimesheetRow, UsageEntry, day_bounds};
use crate::store::{
    AuditFilter, CorrectionFilter, Store, TaskFilter, TrackingFilter, UserFilter, UserUpdate,
};
use crate::tenancy::Company;
use crate::tracking::{ActivityEvent, Screenshot, WorkSession, liveness_at};
use crate::work::{CompanyUsageDaily, CorrectionRequest, CorrectionStatus, Task, TaskStatus};

/// App or website usage per user over a date range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageReport {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Entries per user, largest first.
    pub by_user: BTreeMap<UserId, Vec<UsageEntry>>,
}

impl<S: Store + ?Sized> Tracker<S> {
    // ---- policy ---------------------------------------------------------

    /// The company's tracking policy (every company user: transparency).
    pub async fn policy(&self, p: &Principal) -> Result<PolicyResponse> {
        let company = Self::company_of(p, Action::ReadPolicy)?;
        authorize(p, Action::ReadPolicy, Target::Company(company.id))?;
        let policy = self.load_policy(company.id).await?;
        Ok(self.policy_response(p, company, policy))
    }

    /// The policy as a user of `company` reads it, with whether it may track now.
    pub(super) fn policy_response(
        &self,
        p: &Principal,
        company: &Company,
        policy: TrackingPolicy,
    ) -> PolicyResponse {
        PolicyResponse {
            tracking_allowed: company.check_access(self.now()).is_ok() && p.user().active,
            etag: policy.etag(),
            policy,
        }
    }

    pub(super) async fn load_policy(&self, company: CompanyId) -> Result<TrackingPolicy> {
        self.store
            .policies()
            .get_policy(company)
            .await?
            .ok_or(Error::not_found("policy"))
    }

    /// Changes the tracking policy (ADMIN); audited with old and new values.
    pub async fn update_policy(
        &self,
        p: &Principal,
        update: PolicyUpdate,
    ) -> Result<TrackingPolicy> {
        let company = Self::company_of(p, Action::ChangePolicy)?.id;
        authorize(p, Action::ChangePolicy, Target::Company(company))?;
        let old = self.load_policy(company).await?;
        let new = old.apply(&update, self.now())?;
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::PolicyUpdated,
            format!("tracking policy changed to version {}", new.version),
            serde_json::json!({ "old": old.audit_values(), "new": new.audit_values() }),
        );
        self.store.policies().update_policy(&new, audit).await?;
        Ok(new)
    }

    // ---- users ----------------------------------------------------------

    /// Users of the company the caller may see (ADMIN all, MANAGER its teams and itself).
    pub async fn list_users(
        &self,
        p: &Principal,
        active: Option<bool>,
        page: &PageRequest,
    ) -> Result<Page<User>> {
        let (company, ids) = self.scope(p, Action::ReadUsers, None).await?;
        let filter = UserFilter { ids, active };
        self.store.users().list_users(company, &filter, page).await
    }

    /// One user the caller may see.
    pub async fn get_user(&self, p: &Principal, id: UserId) -> Result<User> {
        let (company, _) = self.scope(p, Action::ReadUsers, Some(id)).await?;
        self.store
            .users()
            .get_user(Some(company), id)
            .await?
            .ok_or(Error::not_found("user"))
    }

    async fn seat_limit(&self, company: &Company) -> Result<u32> {
        Ok(self
            .store
            .tenants()
            .get_plan(company.plan_id)
            .await?
            .ok_or(Error::not_found("plan"))?
            .max_employees)
    }

    /// Creates a user (ADMIN). Refused with `SeatLimitReached` past the
    /// plan's seats and `UsernameTaken` for a duplicate.
    pub async fn create_user(&self, p: &Principal, new: NewUser) -> Result<User> {
        let company = Self::company_of(p, Action::ManageUsers)?;
        authorize(p, Action::ManageUsers, Target::Company(company.id))?;
        let mut v = Validator::new();
        validate_new_user(&mut v, "", &new);
        if new.role == Some(Role::Owner) {
            v.push("role", "must be ADMIN, MANAGER or EMPLOYEE");
        }
        v.finish()?;
        let user = self.make_user(company.id, &new, new.role.unwrap_or(Role::Employee))?;
        let limit = self.seat_limit(company).await?;
        let audit = self.event(
            p,
            AuditChain::Company(company.id),
            AuditAction::EmployeeCreated,
            format!("user {} created as {}", user.username, user.role),
            serde_json::json!({ "user_id": user.id, "username": user.username, "role": user.role }),
        );
        self.store
            .users()
            .insert_user(&user, Some(limit), audit)
            .await?;
        Ok(user)
    }

    async fn managed_user(&self, p: &Principal, id: UserId) -> Result<(CompanyId, User)> {
        let company = Self::company_of(p, Action::ManageUsers)?.id;
        authorize(p, Action::ManageUsers, Target::user(company, id))?;
        let user = self
            .store
            .users()
            .get_user(Some(company), id)
            .await?
            .ok_or(Error::not_found("user"))?;
        Ok((company, user))
    }

    /// Changes a user's profile, role or password (ADMIN). A password change
    /// revokes the user's tokens. An ADMIN cannot change its own role.
    pub async fn update_user(
        &self,
        p: &Principal,
        id: UserId,
        changes: UserChanges,
    ) -> Result<User> {
        let (company, old) = self.managed_user(p, id).await?;
        let mut v = Validator::new();
        if let Some(email) = &changes.email {
            crate::identity::validate_email(&mut v, "email", email.trim());
        }
        if let Some(name) = &changes.display_name {
            v.text("display_name", name, 1, 200);
        }
        if let Some(pw) = &changes.password {
            crate::identity::validate_password(&mut v, "password", pw);
        }
        match changes.role {
            Some(Role::Owner) => v.push("role", "must be ADMIN, MANAGER or EMPLOYEE"),
            Some(r) if id == p.user_id() && r != old.role => {
                v.push("role", "an admin cannot change its own role")
            }
            _ => {}
        }
        v.finish()?;
        let mut user = old.clone();
        if let Some(email) = &changes.email {
            user.email = Some(email.trim().to_owned());
        }
        if let Some(name) = &changes.display_name {
            user.display_name = name.trim().to_owned();
        }
        if let Some(role) = changes.role {
            user.role = role;
        }
        if let Some(pw) = &changes.password {
            user.password_hash = self.hasher.hash(pw)?;
        }
        let role_changed = user.role != old.role;
        let action = if role_changed {
            AuditAction::RoleChanged
        } else {
            AuditAction::EmployeeUpdated
        };
        let audit = self.event(
            p,
            AuditChain::Company(company),
            action,
            if role_changed {
                format!("role of {} changed from {} to {}", user.username, old.role, user.role)
            } else {
                format!("user {} updated", user.username)
            },
            serde_json::json!({
                "user_id": id,
                "old": { "email": old.email, "display_name": old.display_name, "role": old.role },
                "new": { "email": user.email, "display_name": user.display_name, "role": user.role },
                "password_changed": changes.password.is_some(),
            }),
        );
        let update = UserUpdate {
            seat_limit: None,
            revoke_tokens: changes.password.is_some(),
        };
        self.store
            .users()
            .update_user(&user, &update, audit)
            .await?;
        Ok(user)
    }

    /// Deactivates a user (ADMIN): its tokens die, its seat is freed. An
    /// ADMIN cannot deactivate itself.
    pub async fn deactivate_user(&self, p: &Principal, id: UserId) -> Result<User> {
        let (company, old) = self.managed_user(p, id).await?;
        if id == p.user_id() {
            return Err(Error::invalid_state("an admin cannot deactivate itself"));
        }
        if !old.active {
            return Err(Error::invalid_state("the user is already inactive"));
        }
        let user = User {
            active: false,
            ..old
        };
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::EmployeeDeactivated,
            format!("user {} deactivated", user.username),
            serde_json::json!({ "user_id": id }),
        );
        let update = UserUpdate {
            seat_limit: None,
            revoke_tokens: true,
        };
        self.store
            .users()
            .update_user(&user, &update, audit)
            .await?;
        Ok(user)
    }

    /// Reactivates a user (ADMIN), if a seat is free.
    pub async fn reactivate_user(&self, p: &Principal, id: UserId) -> Result<User> {
        let (company, old) = self.managed_user(p, id).await?;
        if old.active {
            return Err(Error::invalid_state("the user is already active"));
        }
        let limit = self
            .seat_limit(Self::company_of(p, Action::ManageUsers)?)
            .await?;
        let user = User {
            active: true,
            ..old
        };
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::EmployeeReactivated,
            format!("user {} reactivated", user.username),
            serde_json::json!({ "user_id": id }),
        );
        let update = UserUpdate {
            seat_limit: Some(limit),
            revoke_tokens: false,
        };
        self.store
            .users()
            .update_user(&user, &update, audit)
            .await?;
        Ok(user)
    }

    // ---- teams ----------------------------------------------------------

    /// Teams: all for an ADMIN, the ones it manages for a MANAGER,
    /// ordered by name.
    pub async fn list_teams(&self, p: &Principal, page: &PageRequest) -> Result<Page<Team>> {
        let (company, _) = self.scope(p, Action::ReadUsers, None).await?;
        let teams = self.store.users().list_teams(company).await?;
        let teams = match p.role() {
            Role::Admin => teams,
            _ => teams
                .into_iter()
                .filter(|t| t.managers.contains(&p.user_id()))
                .collect(),
        };
        Page::of_all(teams, page, |t| t.name.clone())
    }

    async fn check_team_people(
        &self,
        company: CompanyId,
        managers: &[UserId],
        members: &[UserId],
    ) -> Result<()> {
        let mut v = Validator::new();
        for (field, ids) in [("managers", managers), ("members", members)] {
            for (i, id) in ids.iter().enumerate() {
                match self.store.users().get_user(Some(company), *id).await? {
                    None => v.push(format!("{field}[{i}]"), "is not a user of this company"),
                    Some(u)
                        if field == "managers"
                            && !matches!(u.role, Role::Manager | Role::Admin) =>
                    {
                        v.push(format!("{field}[{i}]"), "must be a MANAGER or ADMIN")
                    }
                    Some(_) => {}
                }
            }
        }
        v.finish()
    }

    /// Creates a team (ADMIN).
    pub async fn create_team(&self, p: &Principal, new: NewTeam) -> Result<Team> {
        let company = Self::company_of(p, Action::ManageUsers)?.id;
        authorize(p, Action::ManageUsers, Target::Company(company))?;
        let mut v = Validator::new();
        v.text("name", &new.name, 1, 200);
        v.finish()?;
        self.check_team_people(company, &new.managers, &new.members)
            .await?;
        let team = Team {
            id: TeamId::new(),
            company_id: company,
            name: new.name.trim().to_owned(),
            managers: dedup(new.managers),
            members: dedup(new.members),
            created_at: self.now(),
        };
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::TeamCreated,
            format!("team {:?} created", team.name),
            serde_json::json!({ "team_id": team.id, "managers": team.managers, "members": team.members }),
        );
        self.store.users().insert_team(&team, audit).await?;
        Ok(team)
    }

    async fn team(&self, p: &Principal, id: TeamId) -> Result<(CompanyId, Team)> {
        let company = Self::company_of(p, Action::ManageUsers)?.id;
        authorize(p, Action::ManageUsers, Target::Company(company))?;
        let team = self
            .store
            .users()
            .get_team(company, id)
            .await?
            .ok_or(Error::not_found("team"))?;
        Ok((company, team))
    }

    /// Changes a team's name, managers or members (ADMIN).
    pub async fn update_team(
        &self,
        p: &Principal,
        id: TeamId,
        changes: TeamChanges,
    ) -> Result<Team> {
        let (company, old) = self.team(p, id).await?;
        if let Some(name) = &changes.name {
            let mut v = Validator::new();
            v.text("name", name, 1, 200);
            v.finish()?;
        }
        let mut team = old.clone();
        if let Some(name) = changes.name {
            team.name = name.trim().to_owned();
        }
        if let Some(m) = changes.managers {
            team.managers = dedup(m);
        }
        if let Some(m) = changes.members {
            team.members = dedup(m);
        }
        self.check_team_people(company, &team.managers, &team.members)
            .await?;
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::TeamUpdated,
            format!("team {:?} updated", team.name),
            serde_json::json!({
                "team_id": id,
                "old": { "name": old.name, "managers": old.managers, "members": old.members },
                "new": { "name": team.name, "managers": team.managers, "members": team.members },
            }),
        );
        self.store.users().update_team(&team, audit).await?;
        Ok(team)
    }

    /// Deletes a team (ADMIN); its people stay.
    pub async fn delete_team(&self, p: &Principal, id: TeamId) -> Result<()> {
        let (company, team) = self.team(p, id).await?;
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::TeamDeleted,
            format!("team {:?} deleted", team.name),
            serde_json::json!({ "team_id": id }),
        );
        self.store.users().delete_team(company, id, audit).await
    }

    // ---- agents and tracking data ----------------------------------------

    /// The agents of the users the caller may see, with liveness and
    /// whether they run an outdated policy, ordered by username.
    pub async fn agents(&self, p: &Principal, page: &PageRequest) -> Result<Page<AgentStatus>> {
        let (company, ids) = self.scope(p, Action::ReadTracking, None).await?;
        let now = self.now();
        let policy = self.load_policy(company).await?;
        let states: BTreeMap<UserId, _> = self
            .store
            .users()
            .list_agent_states(company)
            .await?
            .into_iter()
            .map(|s| (s.user_id, s))
            .collect();
        let users = self
            .all_users(
                company,
                &UserFilter {
                    ids,
                    active: Some(true),
                },
            )
            .await?;
        let agents = users
            .into_iter()
            .map(|u| {
                let state = states.get(&u.id);
                let last = state.map(|s| s.last_heartbeat_at);
                let version = state.and_then(|s| s.policy_version);
                AgentStatus {
                    user_id: u.id,
                    username: u.username,
                    display_name: u.display_name,
                    last_heartbeat_at: last,
                    liveness: liveness_at(last, now),
                    policy_version: version,
                    policy_outdated: state.is_some() && version.is_none_or(|v| v < policy.version),
                    agent_version: state.and_then(|s| s.agent_version.clone()),
                }
            })
            .collect();
        Page::of_all(agents, page, |a| a.username.clone())
    }

    fn tracking_filter(ids: Option<BTreeSet<UserId>>, q: &TrackingQuery) -> TrackingFilter {
        TrackingFilter {
            users: ids,
            from: q.from,
            to: q.to,
        }
    }

    /// Work sessions the caller may see, ordered by start.
    pub async fn sessions(
        &self,
        p: &Principal,
        q: &TrackingQuery,
        page: &PageRequest,
    ) -> Result<Page<WorkSession>> {
        let (company, ids) = self.scope(p, Action::ReadTracking, q.user_id).await?;
        self.store
            .tracking()
            .list_sessions(company, &Self::tracking_filter(ids, q), page)
            .await
    }

    /// Activity events the caller may see, ordered by start.
    pub async fn activity(
        &self,
        p: &Principal,
        q: &TrackingQuery,
        page: &PageRequest,
    ) -> Result<Page<ActivityEvent>> {
        let (company, ids) = self.scope(p, Action::ReadTracking, q.user_id).await?;
        self.store
            .tracking()
            .list_activity(company, &Self::tracking_filter(ids, q), page)
            .await
    }

    /// Screenshot metadata the caller may see, ordered by time taken.
    pub async fn screenshots(
        &self,
        p: &Principal,
        q: &TrackingQuery,
        page: &PageRequest,
    ) -> Result<Page<Screenshot>> {
        let (company, ids) = self.scope(p, Action::ReadTracking, q.user_id).await?;
        self.store
            .tracking()
            .list_screenshots(company, &Self::tracking_filter(ids, q), page)
            .await
    }

    /// One screenshot with its image, if the caller may see it.
    pub async fn screenshot_image(
        &self,
        p: &Principal,
        id: ScreenshotId,
    ) -> Result<(Screenshot, Vec<u8>)> {
        let company = Self::company_of(p, Action::ReadTracking)?.id;
        let shot = self
            .store
            .tracking()
            .get_screenshot(company, id)
            .await?
            .ok_or(Error::not_found("screenshot"))?;
        authorize(
            p,
            Action::ReadTracking,
            Target::Owned {
                company,
                owner: shot.user_id,
                entity: "screenshot",
            },
        )?;
        let bytes = self
            .blobs
            .get(&shot.blob_key)
            .await?
            .ok_or(Error::not_found("screenshot image"))?;
        Ok((shot, bytes))
    }

    pub(super) async fn screenshot_count(
        &self,
        company: CompanyId,
        user: UserId,
        window: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<u64> {
        let filter = TrackingFilter {
            users: Some(BTreeSet::from([user])),
            from: Some(window.0),
            to: Some(window.1),
        };
        let mut n = 0;
        let mut page = PageRequest::first(MAX_LIMIT);
        loop {
            let p = self
                .store
                .tracking()
                .list_screenshots(company, &filter, &page)
                .await?;
            n += p.items.len() as u64;
            match p.next_cursor {
                Some(c) => page = PageRequest::after(c, MAX_LIMIT),
                None => return Ok(n),
            }
        }
    }

    pub(super) async fn day_data(
        &self,
        company: &Company,
        user: UserId,
        date: NaiveDate,
    ) -> Result<(Vec<ActivityEvent>, Vec<CorrectionRequest>, u64)> {
        let window = day_bounds(company.tz(), date);
        let users = Some(BTreeSet::from([user]));
        let events = self
            .store
            .tracking()
            .activity_between(company.id, &users, window.0, window.1)
            .await?;
        let corrections = self
            .store
            .work()
            .approved_corrections(company.id, &users, window.0, window.1)
            .await?;
        let shots = self.screenshot_count(company.id, user, window).await?;
        Ok((events, corrections, shots))
    }

    /// One user's day in the company's timezone.
    pub async fn daily_report(
        &self,
        p: &Principal,
        user: UserId,
        date: NaiveDate,
    ) -> Result<DailyReport> {
        self.scope(p, Action::ReadTracking, Some(user)).await?;
        let company = Self::company_of(p, Action::ReadTracking)?;
        let (events, corrections, shots) = self.day_data(company, user, date).await?;
        Ok(report::daily_report(
            user,
            date,
            company.tz(),
            &events,
            &corrections,
            shots,
        ))
    }

    /// Users whose data a report covers: one requested user, or every
    /// active user the caller may see.
    async fn report_users(
        &self,
        p: &Principal,
        user: Option<UserId>,
    ) -> Result<(CompanyId, Vec<User>)> {
        let (company, ids) = self.scope(p, Action::ReadTracking, user).await?;
        let active = if user.is_some() { None } else { Some(true) };
        let users = self.all_users(company, &UserFilter { ids, active }).await?;
        Ok((company, users))
    }

    pub(super) async fn grid(
        &self,
        company: &Company,
        users: &[User],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<report::DayCell>> {
        let tz = company.tz();
        let (start, _) = day_bounds(tz, from);
        let (_, end) = day_bounds(tz, to);
        let ids: Option<BTreeSet<UserId>> = Some(users.iter().map(|u| u.id).collect());
        let order: Vec<UserId> = users.iter().map(|u| u.id).collect();
        let corrections = self
            .store
            .work()
            .approved_corrections(company.id, &ids, start, end)
            .await?;
        let Some(rollups) = self
            .store
            .tracking()
            .day_rollups(company.id, &ids, from, to)
            .await?
        else {
            let events = self
                .store
                .tracking()
                .activity_between(company.id, &ids, start, end)
                .await?;
            return Ok(report::day_grid(
                tz,
                from,
                to,
                &order,
                &events,
                &corrections,
            ));
        };
        // Rollups answer most days; a day with overlapping events or an
        // approved correction is computed from its events.
        let mut recompute: BTreeSet<(UserId, NaiveDate)> = rollups
            .iter()
            .filter(|r| !r.exact)
            .map(|r| (r.user_id, r.date))
            .collect();
        for c in &corrections {
            for d in report::span_dates(tz, c.starts_at, c.ends_at) {
                recompute.insert((c.user_id, d));
            }
        }
        let mut cells: BTreeMap<(UserId, NaiveDate), report::Totals> = rollups
            .into_iter()
            .map(|r| {
                let totals = report::Totals {
                    active_seconds: r.active_seconds,
                    idle_seconds: r.idle_seconds,
                    corrected_seconds: 0,
                    first_seen: r.first_seen,
                    last_seen: r.last_seen,
                };
                ((r.user_id, r.date), totals)
            })
            .collect();
        for &(user, date) in &recompute {
            if date < from || date > to {
                continue;
            }
            let window = day_bounds(tz, date);
            let one = Some(BTreeSet::from([user]));
            let events = self
                .store
                .tracking()
                .activity_between(company.id, &one, window.0, window.1)
                .await?;
            let mine: Vec<CorrectionRequest> = corrections
                .iter()
                .filter(|c| c.user_id == user)
                .cloned()
                .collect();
            let cell = report::day_grid(tz, date, date, &[user], &events, &mine);
            if let Some(c) = cell.into_iter().next() {
                cells.insert((user, date), c.totals);
            }
        }
        let mut out = Vec::with_capacity(order.len() * 31);
        for &user_id in &order {
            for date in report::dates(from, to) {
                out.push(report::DayCell {
                    user_id,
                    date,
                    totals: cells.remove(&(user_id, date)).unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    /// The month grid: active time per user per day for the users the
    /// caller may see (or one of them).
    pub async fn monthly_report(
        &self,
        p: &Principal,
        year: i32,
        month: u32,
        user: Option<UserId>,
    ) -> Result<MonthGrid> {
        let (from, to) = report::month_bounds(year, month).ok_or_else(|| {
            Error::invalid("month", "must be a month from 1 to 12 of a valid year")
        })?;
        let (_, users) = self.report_users(p, user).await?;
        let company = Self::company_of(p, Action::ReadTracking)?;
        let cells = self.grid(company, &users, from, to).await?;
        Ok(MonthGrid::new(year, month, cells))
    }

    /// App usage (or, with `by_domain`, website usage) per user over at most 93 days.
    pub async fn usage_report(
        &self,
        p: &Principal,
        from: NaiveDate,
        to: NaiveDate,
        user: Option<UserId>,
        by_domain: bool,
    ) -> Result<UsageReport> {
        date_range(from, to, 93)?;
        let (company_id, users) = self.report_users(p, user).await?;
        let company = Self::company_of(p, Action::ReadTracking)?;
        let tz = company.tz();
        let window = (day_bounds(tz, from).0, day_bounds(tz, to).1);
        let ids: Option<BTreeSet<UserId>> = Some(users.iter().map(|u| u.id).collect());
        let events = self
            .store
            .tracking()
            .activity_between(company_id, &ids, window.0, window.1)
            .await?;
        let mut per_user: BTreeMap<UserId, Vec<ActivityEvent>> = BTreeMap::new();
        for e in events {
            per_user.entry(e.user_id).or_default().push(e);
        }
        let by_user = users
            .iter()
            .map(|u| {
                let events = per_user.get(&u.id).map(Vec::as_slice).unwrap_or_default();
                (u.id, report::usage_by(events, window, by_domain))
            })
            .collect();
        Ok(UsageReport { from, to, by_user })
    }

    /// Timesheet rows (one per user per day, corrections applied) for the
    /// users the caller may see, over at most 93 days.
    pub async fn timesheet(
        &self,
        p: &Principal,
        from: NaiveDate,
        to: NaiveDate,
        user: Option<UserId>,
    ) -> Result<Vec<TimesheetRow>> {
        date_range(from, to, 93)?;
        let (_, users) = self.report_users(p, user).await?;
        let company = Self::company_of(p, Action::ReadTracking)?;
        let cells = self.grid(company, &users, from, to).await?;
        let names: BTreeMap<UserId, &User> = users.iter().map(|u| (u.id, u)).collect();
        let mut rows: Vec<TimesheetRow> = cells
            .into_iter()
            .filter_map(|c| {
                let u = names.get(&c.user_id)?;
                Some(TimesheetRow {
                    user_id: c.user_id,
                    username: u.username.clone(),
                    display_name: u.display_name.clone(),
                    date: c.date,
                    totals: c.totals,
                })
            })
            .collect();
        rows.sort_by(|a, b| {
            a.date
                .cmp(&b.date)
                .then_with(|| a.username.cmp(&b.username))
        });
        Ok(rows)
    }

    /// The company's daily usage numbers (ADMIN), over at most 366 days.
    pub async fn company_usage(
        &self,
        p: &Principal,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CompanyUsageDaily>> {
        let company = Self::company_of(p, Action::CompanyAggregates)?.id;
        authorize(p, Action::CompanyAggregates, Target::Company(company))?;
        date_range(from, to, 366)?;
        self.store.usage().list_usage(Some(company), from, to).await
    }

    /// Recomputes and stores a company's daily usage numbers for
    /// `[from, to]` from its tracking data. Idempotent. For integrators'
    /// schedulers; no caller check (it reads no data out).
    pub async fn aggregate_usage(
        &self,
        company: CompanyId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CompanyUsageDaily>> {
        date_range(from, to, 366)?;
        let company = self
            .store
            .tenants()
            .get_company(company)
            .await?
            .ok_or(Error::not_found("company"))?;
        let users = self.all_users(company.id, &UserFilter::default()).await?;
        let cells = self.grid(&company, &users, from, to).await?;
        let tz = company.tz();
        let mut rows = Vec::new();
        for date in report::dates(from, to) {
            let window = day_bounds(tz, date);
            let filter = TrackingFilter {
                users: None,
                from: Some(window.0),
                to: Some(window.1),
            };
            let (mut shots, mut bytes) = (0, 0);
            let mut page = PageRequest::first(MAX_LIMIT);
            loop {
                let p = self
                    .store
                    .tracking()
                    .list_screenshots(company.id, &filter, &page)
                    .await?;
                shots += p.items.len() as u64;
                bytes += p.items.iter().map(|s| s.size_bytes).sum::<u64>();
                match p.next_cursor {
                    Some(c) => page = PageRequest::after(c, MAX_LIMIT),
                    None => break,
                }
            }
            rows.push(report::company_usage(
                company.id, date, &cells, shots, bytes,
            ));
        }
        self.store.usage().upsert_usage(&rows).await?;
        Ok(rows)
    }

    // ---- tasks ------------------------------------------------------------

    /// Tasks the caller may see (ADMIN all, MANAGER its teams', EMPLOYEE its own).
    pub async fn tasks(
        &self,
        p: &Principal,
        q: &TaskQuery,
        page: &PageRequest,
    ) -> Result<Page<Task>> {
        let (company, ids) = self.scope(p, Action::ReadTasks, q.assignee_id).await?;
        let filter = TaskFilter {
            assignees: ids,
            status: q.status,
        };
        self.store.work().list_tasks(company, &filter, page).await
    }

    /// Creates and assigns a task (ADMIN to anyone, MANAGER to its team members).
    pub async fn create_task(&self, p: &Principal, new: NewTask) -> Result<Task> {
        let company = Self::company_of(p, Action::AssignTask)?.id;
        authorize(
            p,
            Action::AssignTask,
            Target::user(company, new.assignee_id),
        )?;
        let mut v = Validator::new();
        v.text("title", &new.title, 1, 200);
        if let Some(d) = &new.description {
            v.max_len("description", d, 5_000);
        }
        if let Some(due) = new.due_on {
            v.check(
                (2000..=2200).contains(&due.year()),
                "due_on",
                "must be a date between 2000 and 2200",
            );
        }
        v.finish()?;
        let assignee = self
            .store
            .users()
            .get_user(Some(company), new.assignee_id)
            .await?
            .ok_or(Error::not_found("user"))?;
        if !assignee.active {
            return Err(Error::invalid("assignee_id", "is an inactive user"));
        }
        let task = Task {
            id: TaskId::new(),
            company_id: company,
            title: new.title.trim().to_owned(),
            description: new.description,
            assignee_id: assignee.id,
            created_by: p.user_id(),
            status: TaskStatus::Open,
            due_on: new.due_on,
            completion_note: None,
            completed_at: None,
            created_at: self.now(),
        };
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::TaskAssigned,
            format!("task {:?} assigned to {}", task.title, assignee.username),
            serde_json::json!({ "task_id": task.id, "assignee_id": assignee.id }),
        );
        self.store.work().insert_task(&task, audit).await?;
        Ok(task)
    }

    // ---- corrections ------------------------------------------------------

    /// Correction requests the caller may see.
    pub async fn corrections(
        &self,
        p: &Principal,
        status: Option<CorrectionStatus>,
        user: Option<UserId>,
        page: &PageRequest,
    ) -> Result<Page<CorrectionRequest>> {
        let (company, ids) = self.scope(p, Action::ReadCorrections, user).await?;
        let filter = CorrectionFilter { users: ids, status };
        self.store
            .work()
            .list_corrections(company, &filter, page)
            .await
    }

    /// Approves a pending correction (ADMIN, or MANAGER for its team; never one's own).
    pub async fn approve_correction(
        &self,
        p: &Principal,
        id: CorrectionId,
        d: Decision,
    ) -> Result<CorrectionRequest> {
        self.decide(p, id, d, CorrectionStatus::Approved).await
    }

    /// Rejects a pending correction.
    pub async fn reject_correction(
        &self,
        p: &Principal,
        id: CorrectionId,
        d: Decision,
    ) -> Result<CorrectionRequest> {
        self.decide(p, id, d, CorrectionStatus::Rejected).await
    }

    async fn decide(
        &self,
        p: &Principal,
        id: CorrectionId,
        d: Decision,
        status: CorrectionStatus,
    ) -> Result<CorrectionRequest> {
        let company = Self::company_of(p, Action::DecideCorrection)?.id;
        let old = self
            .store
            .work()
            .get_correction(company, id)
            .await?
            .ok_or(Error::not_found("correction"))?;
        authorize(
            p,
            Action::DecideCorrection,
            Target::Owned {
                company,
                owner: old.user_id,
                entity: "correction",
            },
        )?;
        if old.status != CorrectionStatus::Pending {
            return Err(Error::invalid_state(format!(
                "the correction is already {}",
                old.status.as_str()
            )));
        }
        if let Some(n) = &d.note {
            let mut v = Validator::new();
            v.max_len("note", n, 2_000);
            v.finish()?;
        }
        let now = self.now();
        let decided = CorrectionRequest {
            status,
            decided_by: Some(p.user_id()),
            decided_at: Some(now),
            decision_note: d.note,
            ..old
        };
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::CorrectionDecided,
            format!("correction {} {}", id, status.as_str()),
            serde_json::json!({
                "correction_id": id,
                "user_id": decided.user_id,
                "status": status,
                "starts_at": decided.starts_at,
                "ends_at": decided.ends_at,
            }),
        );
        self.store.work().decide_correction(&decided, audit).await?;
        if decided.status == CorrectionStatus::Approved {
            // The approval changes reported time: its days' usage is recomputed.
            let dates: Vec<_> =
                crate::store::utc_dates(decided.starts_at, decided.ends_at).collect();
            self.store
                .tracking()
                .mark_usage_days(company, &dates)
                .await?;
        }
        Ok(decided)
    }

    // ---- audit ------------------------------------------------------------

    /// The company's audit log (ADMIN), filtered, ordered by seq.
    pub async fn company_audit(
        &self,
        p: &Principal,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let company = Self::company_of(p, Action::ReadAudit)?.id;
        authorize(p, Action::ReadAudit, Target::Company(company))?;
        self.store
            .audit()
            .list_audit(AuditChain::Company(company), filter, page)
            .await
    }

    /// Verifies the company's audit chain (ADMIN).
    pub async fn verify_company_audit(&self, p: &Principal) -> Result<ChainVerification> {
        let company = Self::company_of(p, Action::ReadAudit)?.id;
        authorize(p, Action::ReadAudit, Target::Company(company))?;
        self.verify_chain(AuditChain::Company(company)).await
    }
}

fn dedup(ids: Vec<UserId>) -> Vec<UserId> {
    let mut seen = BTreeSet::new();
    ids.into_iter().filter(|id| seen.insert(*id)).collect()
}
