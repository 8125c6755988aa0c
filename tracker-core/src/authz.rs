#![doc = include_str!("../PERMISSIONS.md")]

use std::collections::BTreeSet;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::identity::{Role, User};
use crate::ids::{CompanyId, UserId};
use crate::tenancy::Company;

/// An authenticated caller, made by the [`Tracker`](crate::Tracker) from a
/// token or an [`Identity`](crate::Identity): the user as stored, its
/// company, and for a MANAGER the users of the teams it manages.
///
/// A principal is a snapshot taken when it is made: make one per request
/// (as the HTTP adapter does), so that a suspension, a deactivation or a
/// team change applies to the next request.
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    user: User,
    company: Option<Company>,
    managed: BTreeSet<UserId>,
    client_ip: Option<String>,
}

impl Principal {
    pub(crate) fn new(user: User, company: Option<Company>, managed: BTreeSet<UserId>) -> Self {
        Self {
            user,
            company,
            managed,
            client_ip: None,
        }
    }

    /// The same principal with `user` re-read from the store (same id).
    pub(crate) fn with_user(&self, user: User) -> Self {
        debug_assert_eq!(user.id, self.user.id);
        Self {
            user,
            ..self.clone()
        }
    }

    /// The same caller, with the client address the transport saw; it is
    /// recorded in the audit events of its changes.
    pub fn with_client_ip(mut self, ip: impl Into<String>) -> Self {
        self.client_ip = Some(ip.into());
        self
    }

    /// The client address, if the transport gave one.
    pub fn client_ip(&self) -> Option<&str> {
        self.client_ip.as_deref()
    }

    /// The user.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// The user id.
    pub fn user_id(&self) -> UserId {
        self.user.id
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.user.role
    }

    /// The company, `None` for OWNER.
    pub fn company(&self) -> Option<&Company> {
        self.company.as_ref()
    }

    /// The company id, `None` for OWNER.
    pub fn company_id(&self) -> Option<CompanyId> {
        self.user.company_id
    }

    /// Checks that `company_key` is the current key of the caller's
    /// company, in constant time. `InvalidCompanyKey` when it is not, and
    /// for an OWNER, who belongs to no company.
    pub fn check_company_key(&self, company_key: &str) -> crate::error::Result<&Company> {
        let key = crate::secret::CompanyKey::parse(company_key.trim())
            .ok_or(crate::error::Error::InvalidCompanyKey)?;
        match &self.company {
            Some(c) if c.key_hash.ct_eq(&key.hash()) => Ok(c),
            _ => Err(crate::error::Error::InvalidCompanyKey),
        }
    }

    /// For a MANAGER, the members of the teams it manages.
    pub fn managed_users(&self) -> &BTreeSet<UserId> {
        &self.managed
    }

    /// Whether this caller may see `user`'s data (self, team member for a
    /// MANAGER, anyone of the company for an ADMIN). Does not check tenancy.
    pub fn can_see(&self, user: UserId) -> bool {
        match self.user.role {
            Role::Owner => false,
            Role::Admin => true,
            Role::Manager => user == self.user.id || self.managed.contains(&user),
            Role::Employee => user == self.user.id,
        }
    }
}

/// What the caller wants to do. See the matrix in the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Create, re-plan, suspend, reactivate a company, rotate its key, set retention.
    CompanyLifecycle,
    /// Read company lists and usage numbers.
    CompanyAggregates,
    /// Read the tracking policy.
    ReadPolicy,
    /// Change the tracking policy.
    ChangePolicy,
    /// Create and change users and teams.
    ManageUsers,
    /// Read users and teams.
    ReadUsers,
    /// Read sessions, activity, usage, screenshots and reports.
    ReadTracking,
    /// Ingest tracking data as an agent.
    WriteTracking,
    /// Create and assign tasks.
    AssignTask,
    /// Read tasks.
    ReadTasks,
    /// Complete a task.
    CompleteTask,
    /// Ask for a time correction.
    RequestCorrection,
    /// Read correction requests.
    ReadCorrections,
    /// Approve or reject a correction.
    DecideCorrection,
    /// Read the audit log.
    ReadAudit,
    /// Read alerts and change the alert settings.
    ManageAlerts,
}

impl Action {
    /// Stable name, used in [`Error::Forbidden`].
    pub fn name(self) -> &'static str {
        match self {
            Action::CompanyLifecycle => "company_lifecycle",
            Action::CompanyAggregates => "company_aggregates",
            Action::ReadPolicy => "read_policy",
            Action::ChangePolicy => "change_policy",
            Action::ManageUsers => "manage_users",
            Action::ReadUsers => "read_users",
            Action::ReadTracking => "read_tracking",
            Action::WriteTracking => "write_tracking",
            Action::AssignTask => "assign_task",
            Action::ReadTasks => "read_tasks",
            Action::CompleteTask => "complete_task",
            Action::RequestCorrection => "request_correction",
            Action::ReadCorrections => "read_corrections",
            Action::DecideCorrection => "decide_correction",
            Action::ReadAudit => "read_audit",
            Action::ManageAlerts => "manage_alerts",
        }
    }
}

/// What the action is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The platform as a whole (all companies, the platform audit chain).
    Platform,
    /// A company as a whole (its policy, its lists).
    Company(CompanyId),
    /// Something that belongs to one user of a company: the user itself,
    /// its tracking data, a task assigned to it, its correction request.
    Owned {
        /// The company.
        company: CompanyId,
        /// The user it belongs to.
        owner: UserId,
        /// The kind of object, for the not-found answer.
        entity: &'static str,
    },
}

impl Target {
    /// A user of a company.
    pub fn user(company: CompanyId, user: UserId) -> Self {
        Target::Owned {
            company,
            owner: user,
            entity: "user",
        }
    }

    fn company(self) -> Option<CompanyId> {
        match self {
            Target::Platform => None,
            Target::Company(c) | Target::Owned { company: c, .. } => Some(c),
        }
    }

    fn entity(self) -> &'static str {
        match self {
            Target::Platform => "platform",
            Target::Company(_) => "company",
            Target::Owned { entity, .. } => entity,
        }
    }
}

/// The permission matrix. `Ok(())` when `principal` may perform `action`
/// on `target`; otherwise `Forbidden` or `NotFound` as the
/// [module docs](self) explain.
pub fn authorize(principal: &Principal, action: Action, target: Target) -> Result<()> {
    use Action::*;
    let forbidden = Err(Error::Forbidden {
        action: action.name(),
    });
    let not_found = Err(Error::NotFound {
        entity: target.entity(),
    });

    if let (Some(own), Some(theirs)) = (principal.company_id(), target.company())
        && own != theirs
    {
        return not_found;
    }

    let role = principal.role();
    if role == Role::Owner {
        return match (action, target) {
            (CompanyLifecycle | CompanyAggregates, Target::Platform | Target::Company(_)) => Ok(()),
            (ReadAudit, Target::Platform) => Ok(()),
            _ => forbidden,
        };
    }

    // Company roles from here on.
    let owner = match target {
        Target::Platform => return forbidden,
        Target::Company(_) => None,
        Target::Owned { owner, .. } => Some(owner),
    };
    let is_self = owner == Some(principal.user_id());
    let visible = owner.is_none_or(|u| principal.can_see(u));

    let role_allows = match action {
        CompanyLifecycle => false,
        CompanyAggregates | ChangePolicy | ManageUsers | ReadAudit | ManageAlerts => {
            role == Role::Admin
        }
        ReadPolicy => true,
        ReadUsers | ReadTracking | ReadTasks | ReadCorrections => {
            // Employees have no company-wide lists, only their own data.
            role != Role::Employee || owner.is_some()
        }
        AssignTask | DecideCorrection => matches!(role, Role::Admin | Role::Manager),
        WriteTracking | CompleteTask | RequestCorrection => true,
    };
    if !role_allows {
        return if visible { forbidden } else { not_found };
    }
    if !visible {
        return not_found;
    }
    match action {
        // Only for oneself.
        WriteTracking | CompleteTask | RequestCorrection if owner.is_some() && !is_self => {
            forbidden
        }
        // Never for oneself.
        DecideCorrection if is_self => forbidden,
        // A manager assigns to its team members.
        AssignTask if role == Role::Manager && is_self => forbidden,
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn user(role: Role, company: Option<CompanyId>) -> User {
        User {
            id: UserId::new(),
            company_id: company,
            role,
            username: "u".into(),
            email: None,
            display_name: "U".into(),
            active: true,
            last_agent_sync_at: None,
            password_hash: String::new(),
            created_at: Utc::now(),
            privacy: Default::default(),
        }
    }

    fn principal(role: Role, company: Option<CompanyId>, managed: &[UserId]) -> Principal {
        Principal::new(user(role, company), None, managed.iter().copied().collect())
    }

    fn code(r: Result<()>) -> &'static str {
        match r {
            Ok(()) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn cross_tenant_targets_are_not_found_for_every_action() {
        let (c1, c2) = (CompanyId::new(), CompanyId::new());
        let admin = principal(Role::Admin, Some(c1), &[]);
        for action in [
            Action::ReadPolicy,
            Action::ManageUsers,
            Action::ReadTracking,
            Action::ReadAudit,
            Action::ManageAlerts,
        ] {
            assert_eq!(
                code(authorize(&admin, action, Target::Company(c2))),
                "not_found"
            );
            assert_eq!(
                code(authorize(&admin, action, Target::user(c2, UserId::new()))),
                "not_found"
            );
        }
    }

    #[test]
    fn owner_reaches_lifecycle_and_aggregates_only() {
        let owner = principal(Role::Owner, None, &[]);
        let c = CompanyId::new();
        assert_eq!(
            code(authorize(
                &owner,
                Action::CompanyLifecycle,
                Target::Company(c)
            )),
            "ok"
        );
        assert_eq!(
            code(authorize(
                &owner,
                Action::CompanyAggregates,
                Target::Platform
            )),
            "ok"
        );
        assert_eq!(
            code(authorize(&owner, Action::ReadAudit, Target::Platform)),
            "ok"
        );
        for action in [
            Action::ReadPolicy,
            Action::ReadUsers,
            Action::ReadTracking,
            Action::ReadTasks,
            Action::ReadAudit,
            Action::ManageUsers,
            Action::ManageAlerts,
        ] {
            assert_eq!(
                code(authorize(&owner, action, Target::Company(c))),
                "forbidden"
            );
            assert_eq!(
                code(authorize(&owner, action, Target::user(c, UserId::new()))),
                "forbidden",
                "{action:?}"
            );
        }
    }

    #[test]
    fn manager_sees_its_teams_and_itself_only() {
        let c = CompanyId::new();
        let member = UserId::new();
        let stranger = UserId::new();
        let m = principal(Role::Manager, Some(c), &[member]);
        let me = m.user_id();
        assert_eq!(
            code(authorize(&m, Action::ReadTracking, Target::user(c, member))),
            "ok"
        );
        assert_eq!(
            code(authorize(&m, Action::ReadTracking, Target::user(c, me))),
            "ok"
        );
        assert_eq!(
            code(authorize(
                &m,
                Action::ReadTracking,
                Target::user(c, stranger)
            )),
            "not_found"
        );
        assert_eq!(
            code(authorize(&m, Action::AssignTask, Target::user(c, member))),
            "ok"
        );
        assert_eq!(
            code(authorize(&m, Action::AssignTask, Target::user(c, stranger))),
            "not_found"
        );
        assert_eq!(
            code(authorize(
                &m,
                Action::DecideCorrection,
                Target::user(c, member)
            )),
            "ok"
        );
        assert_eq!(
            code(authorize(&m, Action::DecideCorrection, Target::user(c, me))),
            "forbidden"
        );
        assert_eq!(
            code(authorize(&m, Action::ChangePolicy, Target::Company(c))),
            "forbidden"
        );
        assert_eq!(
            code(authorize(&m, Action::ReadAudit, Target::Company(c))),
            "forbidden"
        );
        assert_eq!(
            code(authorize(&m, Action::ManageAlerts, Target::Company(c))),
            "forbidden"
        );
        assert_eq!(
            code(authorize(&m, Action::ReadPolicy, Target::Company(c))),
            "ok"
        );
    }

    #[test]
    fn employee_sees_itself_only() {
        let c = CompanyId::new();
        let e = principal(Role::Employee, Some(c), &[]);
        let me = e.user_id();
        let other = UserId::new();
        assert_eq!(
            code(authorize(&e, Action::ReadTracking, Target::user(c, me))),
            "ok"
        );
        assert_eq!(
            code(authorize(&e, Action::ReadTracking, Target::user(c, other))),
            "not_found"
        );
        assert_eq!(
            code(authorize(&e, Action::ReadTracking, Target::Company(c))),
            "forbidden"
        );
        assert_eq!(
            code(authorize(&e, Action::ReadUsers, Target::Company(c))),
            "forbidden"
        );
        assert_eq!(
            code(authorize(&e, Action::ReadPolicy, Target::Company(c))),
            "ok"
        );
        assert_eq!(
            code(authorize(&e, Action::ChangePolicy, Target::Company(c))),
            "forbidden"
        );
        assert_eq!(
            code(authorize(&e, Action::AssignTask, Target::user(c, me))),
            "forbidden"
        );
        assert_eq!(
            code(authorize(&e, Action::CompleteTask, Target::user(c, me))),
            "ok"
        );
        assert_eq!(
            code(authorize(&e, Action::CompleteTask, Target::user(c, other))),
            "not_found"
        );
        assert_eq!(
            code(authorize(
                &e,
                Action::RequestCorrection,
                Target::user(c, me)
            )),
            "ok"
        );
        assert_eq!(
            code(authorize(&e, Action::DecideCorrection, Target::user(c, me))),
            "forbidden"
        );
        assert_eq!(
            code(authorize(&e, Action::WriteTracking, Target::user(c, me))),
            "ok"
        );
        assert_eq!(
            code(authorize(&e, Action::CompanyLifecycle, Target::Platform)),
            "forbidden"
        );
    }

    #[test]
    fn admin_runs_its_company_but_not_its_own_corrections_or_others_ingest() {
        let c = CompanyId::new();
        let a = principal(Role::Admin, Some(c), &[]);
        let me = a.user_id();
        let other = UserId::new();
        for action in [
            Action::ChangePolicy,
            Action::ManageUsers,
            Action::ReadAudit,
            Action::CompanyAggregates,
            Action::ReadTracking,
            Action::ManageAlerts,
        ] {
            assert_eq!(
                code(authorize(&a, action, Target::Company(c))),
                "ok",
                "{action:?}"
            );
        }
        assert_eq!(
            code(authorize(
                &a,
                Action::DecideCorrection,
                Target::user(c, other)
            )),
            "ok"
        );
        assert_eq!(
            code(authorize(&a, Action::DecideCorrection, Target::user(c, me))),
            "forbidden"
        );
        assert_eq!(
            code(authorize(&a, Action::WriteTracking, Target::user(c, other))),
            "forbidden"
        );
        assert_eq!(
            code(authorize(&a, Action::CompleteTask, Target::user(c, other))),
            "forbidden"
        );
        assert_eq!(
            code(authorize(&a, Action::CompanyLifecycle, Target::Company(c))),
            "forbidden"
        );
    }
}
