//! The world a case builds and the model of what it stored.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

use crate::protocol::{CreateCompany, LoginRequest, NewTeam, NewUser};
use crate::store::Store;
use crate::{
    ActivityId, Argon2Hasher, CompanyId, CorrectionId, CorrectionStatus, ManualClock, PageRequest,
    Principal, Role, ScreenshotId, TaskId, TeamId, Tracker, TrackingPolicy, UserId, WorkSessionId,
};

use super::input::*;
use super::*;

// ---- the world and its model ------------------------------------------------

/// A caller: the OWNER or a company user (index into `World::users`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Who {
    Owner,
    User(usize),
}

/// Where a change may happen: the platform or one company (by index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Scope {
    Platform,
    Company(usize),
}

pub(super) struct CompanyModel {
    pub(super) id: CompanyId,
    pub(super) key: String,
    pub(super) users: BTreeSet<UserId>,
    /// Team id -> its manager.
    pub(super) teams: BTreeMap<TeamId, UserId>,
    pub(super) policy: TrackingPolicy,
}

pub(super) struct UserModel {
    pub(super) id: UserId,
    pub(super) company: usize,
    pub(super) role: Role,
    pub(super) username: String,
    pub(super) token: String,
    pub(super) principal: Principal,
    /// Whose data this user may see: the whole company for an ADMIN, the
    /// members of its teams and itself for a MANAGER, itself for an EMPLOYEE.
    pub(super) visible: BTreeSet<UserId>,
    /// The newest policy version the user acknowledged.
    pub(super) acknowledged: Option<u64>,
}

pub(super) struct SessionModel {
    pub(super) company: usize,
    pub(super) id: WorkSessionId,
    pub(super) user: UserId,
    pub(super) stopped: bool,
}

pub(super) struct ActivityModel {
    pub(super) company: usize,
    pub(super) id: ActivityId,
    pub(super) user: UserId,
    pub(super) seconds: u64,
    pub(super) app_kept: bool,
    pub(super) url_kept: bool,
}

pub(super) struct ShotModel {
    pub(super) company: usize,
    pub(super) id: ScreenshotId,
    pub(super) user: UserId,
    pub(super) bytes: Vec<u8>,
}

pub(super) struct TaskModel {
    pub(super) company: usize,
    pub(super) id: TaskId,
    pub(super) assignee: UserId,
    pub(super) done: bool,
}

pub(super) struct CorrectionModel {
    pub(super) company: usize,
    pub(super) id: CorrectionId,
    pub(super) user: UserId,
    pub(super) status: CorrectionStatus,
    pub(super) seconds: u64,
}

pub(super) struct World {
    pub(super) tracker: Tracker,
    pub(super) clock: ManualClock,
    pub(super) owner: Principal,
    pub(super) owner_token: String,
    pub(super) companies: Vec<CompanyModel>,
    pub(super) users: Vec<UserModel>,
    pub(super) sessions: Vec<SessionModel>,
    pub(super) activity: Vec<ActivityModel>,
    pub(super) shots: Vec<ShotModel>,
    pub(super) tasks: Vec<TaskModel>,
    pub(super) corrections: Vec<CorrectionModel>,
}

/// What the store may do during one operation: which scopes may change,
/// and by how many events each audit chain grows (0 where not listed).
#[derive(Debug, Default)]
pub(super) struct Allowed {
    pub(super) scopes: BTreeSet<Scope>,
    pub(super) audit: BTreeMap<Scope, usize>,
}

impl Allowed {
    pub(super) fn nothing() -> Self {
        Self::default()
    }

    pub(super) fn company(c: usize) -> Self {
        Self::nothing().and(Scope::Company(c))
    }

    pub(super) fn and(mut self, scope: Scope) -> Self {
        self.scopes.insert(scope);
        self
    }

    pub(super) fn audited(mut self, scope: Scope) -> Self {
        self.scopes.insert(scope);
        *self.audit.entry(scope).or_default() += 1;
        self
    }
}

/// The expected outcome: Ok, or an error with this code.
pub(super) type Exp = Result<(), &'static str>;

/// Checks `r` against `exp`; the value when both say Ok.
pub(super) fn outcome<T>(
    ctx: &str,
    r: crate::Result<T>,
    exp: Exp,
) -> Result<Option<T>, TestCaseError> {
    match (r, exp) {
        (Ok(v), Ok(())) => Ok(Some(v)),
        (Err(e), Err(code)) if e.code() == code => Ok(None),
        (Ok(_), Err(code)) => Err(TestCaseError::fail(format!(
            "{ctx}: expected Err({code}), got Ok"
        ))),
        (Err(e), exp) => Err(TestCaseError::fail(format!(
            "{ctx}: expected {exp:?}, got Err({}): {e}",
            e.code()
        ))),
    }
}

pub(super) fn all() -> PageRequest {
    PageRequest::first(500)
}

pub(super) fn login(key: Option<&str>, username: &str) -> LoginRequest {
    LoginRequest {
        company_key: key.map(str::to_owned),
        username: username.to_owned(),
        password: password(username),
    }
}

pub(super) fn password(username: &str) -> String {
    format!("{username}-password")
}

pub(super) fn new_user(username: &str, role: Option<Role>) -> NewUser {
    NewUser {
        username: username.to_owned(),
        password: password(username),
        email: None,
        display_name: None,
        role,
    }
}

pub(super) fn app_of(user: UserId) -> String {
    format!("app-{}", user.as_uuid().simple())
}

pub(super) fn domain_of(user: UserId) -> String {
    format!("{}.example", user.as_uuid().simple())
}

impl World {
    pub(super) async fn build(store: Arc<dyn Store>, spec: &[CompanySpec]) -> World {
        let start = DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z")
            .expect("a date")
            .with_timezone(&Utc);
        let clock = ManualClock::new(start);
        let tracker = Tracker::builder_shared(store)
            .blobs(Arc::new(crate::MemoryBlobStore::default()))
            .blur(Arc::new(crate::testkit::UnchangedBlur))
            .password_hasher(Argon2Hasher::insecure_fast())
            .clock(clock.clone())
            .build();
        tracker.ensure_default_plans().await.expect("plans");
        tracker
            .bootstrap_owner("operator", &password("operator"))
            .await
            .expect("owner");
        let owner_token = tracker
            .login(login(None, "operator"), None)
            .await
            .expect("owner login")
            .token
            .expose()
            .to_owned();
        let owner = tracker.authenticate(&owner_token).await.expect("owner");

        let mut companies = Vec::new();
        let mut users = Vec::new();
        for (ci, cs) in spec.iter().enumerate() {
            let admin_name = format!("c{ci}-admin");
            let created = tracker
                .create_company(
                    &owner,
                    CreateCompany {
                        name: format!("Tenant {ci}"),
                        plan: Some("PRO".into()),
                        timezone: Some(TIMEZONES[ci].into()),
                        trial_days: Some(0),
                        retention_days: None,
                        admin: new_user(&admin_name, None),
                    },
                )
                .await
                .expect("company");
            let key = created.company_key.expose().to_owned();
            let admin_login = tracker
                .login(login(Some(&key), &admin_name), None)
                .await
                .expect("admin login");
            let admin = tracker
                .authenticate(admin_login.token.expose())
                .await
                .expect("admin");

            let mut people = vec![(admin_name, Role::Admin, created.admin.id)];
            let mut add = async |name: String, role: Role| {
                let u = tracker
                    .create_user(&admin, new_user(&name, Some(role)))
                    .await
                    .expect("user");
                people.push((name, role, u.id));
                u.id
            };
            let managers = [
                add(format!("c{ci}-mgr0"), Role::Manager).await,
                add(format!("c{ci}-mgr1"), Role::Manager).await,
            ];
            let mut employees = Vec::new();
            for j in 0..cs.employees.len() {
                employees.push(add(format!("c{ci}-emp{j}"), Role::Employee).await);
            }

            // Team k: managed by manager k.
            let mut members: [Vec<UserId>; 2] = [Vec::new(), Vec::new()];
            for (j, bits) in cs.employees.iter().enumerate() {
                for (k, team) in members.iter_mut().enumerate() {
                    if bits & (1 << k) != 0 {
                        team.push(employees[j]);
                    }
                }
            }
            if cs.manager1_in_team0 {
                members[0].push(managers[1]);
            }
            if cs.admin_in_team1 {
                members[1].push(created.admin.id);
            }
            let mut teams = BTreeMap::new();
            for (k, team_members) in members.iter().enumerate() {
                let team = tracker
                    .create_team(
                        &admin,
                        NewTeam {
                            name: format!("Team {k}"),
                            managers: vec![managers[k]],
                            members: team_members.clone(),
                        },
                    )
                    .await
                    .expect("team");
                teams.insert(team.id, managers[k]);
            }

            let everyone: BTreeSet<UserId> = people.iter().map(|p| p.2).collect();
            for (name, role, id) in people {
                let token = tracker
                    .login(login(Some(&key), &name), None)
                    .await
                    .expect("login")
                    .token
                    .expose()
                    .to_owned();
                let principal = tracker.authenticate(&token).await.expect("principal");
                tracker.agent(&key, &token).await.expect("agent");
                let mut visible = match role {
                    Role::Admin => everyone.clone(),
                    Role::Manager => {
                        let k = managers.iter().position(|m| *m == id).expect("a manager");
                        members[k].iter().copied().collect()
                    }
                    _ => BTreeSet::new(),
                };
                if role == Role::Manager {
                    assert_eq!(
                        principal.managed_users(),
                        &visible,
                        "the service sees the teams as built"
                    );
                }
                visible.insert(id);
                users.push(UserModel {
                    id,
                    company: ci,
                    role,
                    username: name,
                    token,
                    principal,
                    visible,
                    acknowledged: None,
                });
            }
            let policy = tracker.policy(&admin).await.expect("policy").policy;
            companies.push(CompanyModel {
                id: created.company.id,
                key,
                users: everyone,
                teams,
                policy,
            });
        }
        World {
            tracker,
            clock,
            owner,
            owner_token,
            companies,
            users,
            sessions: Vec::new(),
            activity: Vec::new(),
            shots: Vec::new(),
            tasks: Vec::new(),
            corrections: Vec::new(),
        }
    }

    // ---- picking ----------------------------------------------------------

    pub(super) fn resolve(&self, caller: Caller) -> Who {
        if caller.role == Role::Owner {
            return Who::Owner;
        }
        let of_role: Vec<usize> = (0..self.users.len())
            .filter(|&i| self.users[i].role == caller.role)
            .collect();
        Who::User(of_role[caller.index.index(of_role.len())])
    }

    /// Like [`resolve`](Self::resolve), but a caller that picks among its
    /// own (or visible) objects is chosen among the users of its role that
    /// have some, so that those picks rarely come up empty.
    pub(super) fn resolve_for(
        &self,
        caller: Caller,
        pick: Pick,
        owners: impl Iterator<Item = UserId>,
    ) -> Who {
        let owners: BTreeSet<UserId> = owners.collect();
        let having: Vec<usize> = (0..self.users.len())
            .filter(|&i| {
                let u = &self.users[i];
                u.role == caller.role
                    && match pick {
                        Pick::Mine(_) => owners.contains(&u.id),
                        Pick::Visible(_) => !u.visible.is_disjoint(&owners),
                        _ => false,
                    }
            })
            .collect();
        if caller.role == Role::Owner || having.is_empty() {
            return self.resolve(caller);
        }
        Who::User(having[caller.index.index(having.len())])
    }

    pub(super) fn user_pick(&self, who: Who, pick: UserPick) -> UserId {
        let caller = match who {
            Who::Owner => None,
            Who::User(i) => Some(&self.users[i]),
        };
        // For the OWNER, every company user is "visible", "of the same
        // company" and "of another company" alike.
        let among = |ix: Index, keep: &dyn Fn(&UserModel) -> bool| {
            let ids: Vec<UserId> = self
                .users
                .iter()
                .filter(|u| keep(u))
                .map(|u| u.id)
                .collect();
            if ids.is_empty() {
                UserId::new()
            } else {
                ids[ix.index(ids.len())]
            }
        };
        match pick {
            UserPick::Me => self.principal(who).user_id(),
            UserPick::Visible(ix) => {
                among(ix, &|u| caller.is_none_or(|c| c.visible.contains(&u.id)))
            }
            UserPick::SameCompany(ix) => {
                among(ix, &|u| caller.is_none_or(|c| c.company == u.company))
            }
            UserPick::OtherCompany(ix) => {
                among(ix, &|u| caller.is_none_or(|c| c.company != u.company))
            }
            UserPick::Owner => self.owner.user_id(),
            UserPick::Unknown => UserId::new(),
        }
    }

    /// The position of a stored object chosen by `pick` among objects of
    /// `owners` (company index and user of each), or `None` for a new id.
    pub(super) fn pick_object(
        &self,
        who: Who,
        pick: Pick,
        owners: impl Iterator<Item = (usize, UserId)>,
    ) -> Option<usize> {
        let caller = match who {
            Who::Owner => None,
            Who::User(i) => Some(&self.users[i]),
        };
        let (Pick::Mine(ix) | Pick::Visible(ix) | Pick::SameCompany(ix) | Pick::AnyCompany(ix)) =
            pick
        else {
            return None;
        };
        let keep = |company: usize, user: UserId| match (pick, caller) {
            (Pick::Mine(_), Some(c)) => user == c.id,
            (Pick::Visible(_), Some(c)) => c.visible.contains(&user),
            (Pick::SameCompany(_), Some(c)) => company == c.company,
            _ => true,
        };
        let found: Vec<usize> = owners
            .enumerate()
            .filter(|(_, (company, user))| keep(*company, *user))
            .map(|(k, _)| k)
            .collect();
        (!found.is_empty()).then(|| found[ix.index(found.len())])
    }

    /// A company index, or `None` for an unknown company.
    pub(super) fn company_pick(&self, i: Index) -> Option<usize> {
        let n = i.index(self.companies.len() + 1);
        (n < self.companies.len()).then_some(n)
    }

    pub(super) fn principal(&self, who: Who) -> &Principal {
        match who {
            Who::Owner => &self.owner,
            Who::User(i) => &self.users[i].principal,
        }
    }

    pub(super) fn role(&self, who: Who) -> Role {
        match who {
            Who::Owner => Role::Owner,
            Who::User(i) => self.users[i].role,
        }
    }

    pub(super) fn company_of_user(&self, id: UserId) -> Option<usize> {
        self.users.iter().find(|u| u.id == id).map(|u| u.company)
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.tracker.now()
    }

    pub(super) fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    // ---- expectations -------------------------------------------------------

    /// Reading one user's data (`Tracker::scope` with a user): OWNER is
    /// refused; a company user gets it if it may see that user, and
    /// `not_found` otherwise (another company, the OWNER, an unknown id,
    /// a colleague it may not see).
    pub(super) fn exp_about(&self, who: Who, user: UserId) -> Exp {
        match who {
            Who::Owner => Err("forbidden"),
            Who::User(i) if self.users[i].visible.contains(&user) => Ok(()),
            Who::User(_) => Err("not_found"),
        }
    }

    /// Company-wide lists: ADMIN and MANAGER only.
    pub(super) fn exp_list(&self, who: Who) -> Exp {
        match self.role(who) {
            Role::Admin | Role::Manager => Ok(()),
            _ => Err("forbidden"),
        }
    }

    pub(super) fn exp_admin(&self, who: Who) -> Exp {
        match self.role(who) {
            Role::Admin => Ok(()),
            _ => Err("forbidden"),
        }
    }

    /// The users whose items an answer may hold and must hold all of.
    pub(super) fn expected_users(&self, who: Who, about: Option<UserId>) -> BTreeSet<UserId> {
        match (who, about) {
            (_, Some(u)) => BTreeSet::from([u]),
            (Who::User(i), None) => self.users[i].visible.clone(),
            (Who::Owner, None) => BTreeSet::new(),
        }
    }

    /// Most seconds any report may count for `user`: its events and its
    /// approved corrections, overlaps counted twice.
    pub(super) fn bound(&self, user: UserId) -> u64 {
        let events: u64 = self
            .activity
            .iter()
            .filter(|a| a.user == user)
            .map(|a| a.seconds)
            .sum();
        let corrections: u64 = self
            .corrections
            .iter()
            .filter(|c| c.user == user && c.status == CorrectionStatus::Approved)
            .map(|c| c.seconds)
            .sum();
        events + corrections
    }

    /// Strings a caller's answer must not contain: ids of users and
    /// companies of other tenants (and their usernames); for the OWNER,
    /// every company user's id and every non-admin username.
    pub(super) fn foreign_strings(&self, who: Who) -> Vec<String> {
        let mut out = Vec::new();
        match who {
            Who::Owner => {
                for u in &self.users {
                    out.push(u.id.to_string());
                    if u.role != Role::Admin {
                        out.push(u.username.clone());
                    }
                }
            }
            Who::User(i) => {
                let own = self.users[i].company;
                out.push(self.owner.user_id().to_string());
                for u in self.users.iter().filter(|u| u.company != own) {
                    out.push(u.id.to_string());
                    out.push(u.username.clone());
                }
                for (ci, c) in self.companies.iter().enumerate() {
                    if ci != own {
                        out.push(c.id.to_string());
                    }
                }
            }
        }
        out
    }
}
