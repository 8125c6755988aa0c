//! Users and teams of a company (ADMIN; MANAGERs read their teams).

use std::collections::BTreeSet;

use super::*;
use crate::audit::*;
use crate::authz::{Action, Principal, Target, authorize};
use crate::error::{Error, Result, Validator};
use crate::identity::*;
use crate::paging::{Page, PageRequest};
use crate::protocol::*;
use crate::store::*;
use crate::tenancy::*;

impl<S: Store + ?Sized> Tracker<S> {
    /// Users of the company the caller may see (ADMIN all, MANAGER its teams and itself).
    pub async fn list_users(
        &self,
        p: &Principal,
        active: Option<bool>,
        page: &PageRequest,
    ) -> Result<Page<User>> {
        let (company, ids) = self.scope(p, Action::ReadUsers, None).await?;
        let filter = UserFilter {
            ids,
            active,
            ..UserFilter::default()
        };
        self.store
            .users()
            .list_users(Some(company), &filter, page)
            .await
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

    pub(super) async fn seat_limit(&self, company: &Company) -> Result<u32> {
        Ok(self
            .store
            .tenants()
            .get_plan(company.plan_id)
            .await?
            .ok_or(Error::not_found("plan"))?
            .max_employees)
    }

    /// The company's seats: active users and the plan's limit (ADMIN).
    pub async fn seat_usage(&self, p: &Principal) -> Result<(u32, u32)> {
        let company = Self::company_for(p, Action::ManageUsers)?;
        let limit = self.seat_limit(company).await?;
        let used = self.store.users().count_seats(company.id).await?;
        Ok((used, limit))
    }

    /// Creates a user (ADMIN). Refused with `SeatLimitReached` past the
    /// plan's seats and `UsernameTaken` for a duplicate.
    pub async fn create_user(&self, p: &Principal, new: NewUser) -> Result<User> {
        let company = Self::company_for(p, Action::ManageUsers)?;
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

    /// A user the ADMIN may change: any but an erased person, whose record
    /// stays a tombstone.
    async fn living_user(&self, p: &Principal, id: UserId) -> Result<(CompanyId, User)> {
        let (company, user) = self.managed_user(p, id).await?;
        if user.privacy.erased_at.is_some() {
            return Err(Error::invalid_state(
                "the person was erased: their record stays a tombstone",
            ));
        }
        Ok((company, user))
    }

    pub(super) async fn managed_user(
        &self,
        p: &Principal,
        id: UserId,
    ) -> Result<(CompanyId, User)> {
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
        let (company, old) = self.living_user(p, id).await?;
        let mut v = Validator::new();
        if let Some(email) = &changes.email {
            crate::identity::validate_email(&mut v, "email", email);
        }
        if let Some(name) = &changes.display_name {
            v.text("display_name", name, 1, 200);
        }
        if let Some(pw) = &changes.password {
            crate::identity::validate_password(&mut v, "password", pw);
        }
        if changes.role == Some(Role::Owner) {
            v.push("role", "must be ADMIN, MANAGER or EMPLOYEE");
        }
        v.finish()?;
        // A well-formed change refused for who is asking: a conflict with
        // the state (the caller is that admin), not a bad field.
        if changes
            .role
            .is_some_and(|r| id == p.user_id() && r != old.role)
        {
            return Err(Error::InvalidState {
                message: "an admin cannot change its own role".into(),
            });
        }
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
            expect_active: None,
        };
        self.store
            .users()
            .update_user(&user, &update, audit)
            .await?;
        Ok(user)
    }

    /// Changes the caller's own display name, email or password (every
    /// user, OWNER included). A new password needs the current one and
    /// revokes every token of the user, the caller's own included: it
    /// signs in again. Audited in the caller's chain.
    pub async fn update_profile(&self, p: &Principal, changes: ProfileChanges) -> Result<User> {
        let old = p.user().clone();
        let stored = self
            .store
            .users()
            .get_user(old.company_id, old.id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let mut v = Validator::new();
        if let Some(name) = &changes.display_name {
            v.text("display_name", name, 1, 200);
        }
        if let Some(email) = changes
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            crate::identity::validate_email(&mut v, "email", email);
        }
        if let Some(pw) = &changes.new_password {
            crate::identity::validate_password(&mut v, "new_password", pw);
            let current = changes.current_password.as_deref().unwrap_or("");
            if !self.hasher.verify(current, &stored.password_hash) {
                v.push("current_password", "is not the current password");
            }
        }
        v.finish()?;
        let mut user = stored.clone();
        if let Some(name) = &changes.display_name {
            user.display_name = name.trim().to_owned();
        }
        if let Some(email) = &changes.email {
            let email = email.trim();
            user.email = (!email.is_empty()).then(|| email.to_owned());
        }
        if let Some(pw) = &changes.new_password {
            user.password_hash = self.hasher.hash(pw)?;
        }
        let chain = match user.company_id {
            Some(company) => AuditChain::Company(company),
            None => AuditChain::Platform,
        };
        let audit = self.event(
            p,
            chain,
            AuditAction::EmployeeUpdated,
            format!("user {} updated its own account", user.username),
            serde_json::json!({
                "user_id": user.id,
                "old": { "email": stored.email, "display_name": stored.display_name },
                "new": { "email": user.email, "display_name": user.display_name },
                "password_changed": changes.new_password.is_some(),
            }),
        );
        let update = UserUpdate {
            seat_limit: None,
            revoke_tokens: changes.new_password.is_some(),
            expect_active: None,
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
            expect_active: Some(true),
        };
        self.store
            .users()
            .update_user(&user, &update, audit)
            .await?;
        Ok(user)
    }

    /// Reactivates a user (ADMIN), if a seat is free.
    pub async fn reactivate_user(&self, p: &Principal, id: UserId) -> Result<User> {
        let (company, old) = self.living_user(p, id).await?;
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
            expect_active: Some(false),
        };
        self.store
            .users()
            .update_user(&user, &update, audit)
            .await?;
        Ok(user)
    }

    /// Teams: all for an ADMIN, the ones it manages for a MANAGER,
    /// ordered by name.
    pub async fn list_teams(&self, p: &Principal, page: &PageRequest) -> Result<Page<Team>> {
        let (company, _) = self.scope(p, Action::ReadUsers, None).await?;
        let teams = self.store.teams().list_teams(company).await?;
        let teams = match p.role() {
            Role::Admin => teams,
            _ => teams
                .into_iter()
                .filter(|t| t.managers.contains(&p.user_id()))
                .collect(),
        };
        Page::of_all(teams, page, |t| t.name.clone())
    }

    pub(super) async fn check_team_people(
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
        let company = Self::company_for(p, Action::ManageUsers)?.id;
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
        self.store.teams().save_team(&team, audit).await?;
        Ok(team)
    }

    pub(super) async fn team(&self, p: &Principal, id: TeamId) -> Result<(CompanyId, Team)> {
        let company = Self::company_for(p, Action::ManageUsers)?.id;
        let team = self
            .store
            .teams()
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
        self.store.teams().save_team(&team, audit).await?;
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
        self.store.teams().delete_team(company, id, audit).await
    }

    pub(super) fn make_user(&self, company: CompanyId, new: &NewUser, role: Role) -> Result<User> {
        let username = normalize_username(&new.username);
        Ok(User {
            id: UserId::new(),
            company_id: Some(company),
            role,
            display_name: new
                .display_name
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or(&username)
                .to_owned(),
            username,
            email: new.email.as_deref().map(str::trim).map(str::to_owned),
            active: true,
            last_agent_sync_at: None,
            password_hash: self.hasher.hash(&new.password)?,
            created_at: self.now(),
            privacy: Default::default(),
        })
    }
}

fn dedup(ids: Vec<UserId>) -> Vec<UserId> {
    let mut seen = BTreeSet::new();
    ids.into_iter().filter(|id| seen.insert(*id)).collect()
}

/// Validates a new user's fields, prefixing field names with `prefix`.
pub(super) fn validate_new_user(v: &mut Validator, prefix: &str, new: &NewUser) {
    validate_username(v, &format!("{prefix}username"), &new.username);
    validate_password(v, &format!("{prefix}password"), &new.password);
    if let Some(email) = &new.email {
        crate::identity::validate_email(v, &format!("{prefix}email"), email);
    }
    if let Some(name) = &new.display_name {
        v.max_len(&format!("{prefix}display_name"), name, 200);
    }
}
