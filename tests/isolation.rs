//! Tenant isolation as a property.
//!
//! Each case builds a small platform through the public [`Tracker`] API (an
//! OWNER, 2 or 3 companies with an ADMIN, two MANAGERs with a team each and
//! a few EMPLOYEEs), then applies 20 to 60 random operations by random
//! callers: agent ingest, policy changes, tasks, corrections, every read,
//! owner operations, and writes the matrix forbids. The test keeps its own
//! model of who belongs where and what was stored, and after every
//! operation checks:
//!
//! 1. the outcome (Ok, or the exact error code the rules in `authz.rs`
//!    give: another tenant's object or user is `not_found`, never
//!    `forbidden`);
//! 2. every item returned belongs to the caller's company and to a user the
//!    caller may see, and the set returned is exactly the model's (so a
//!    missing company or user filter, or an over-eager one, fails);
//! 3. the serialized answer names no user or company of another tenant (and
//!    for the OWNER, no company user at all);
//! 4. the store changed only where the operation may change it: a refused
//!    or read-only operation changes nothing, a write changes only the
//!    caller's company, and audit chains grow by exactly the audited writes.
//!
//! At the end of a case every audit chain verifies and the store holds
//! exactly the model's data, each item in its own company.
//!
//! The same property runs on the memory store, on a SQLite file and, when
//! `DATABASE_URL` is set, on PostgreSQL (a fresh schema per case).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::executor::block_on;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use tracker::audit::AuditChain;
use tracker::protocol::{
    ActivityBatch, ChangePlan, CompleteTask, CreateCompany, Decision, HeartbeatRequest,
    LoginRequest, NewCorrection, NewTask, NewTeam, NewUser, ScreenshotUpload, StartSession,
    StopSession, TaskQuery, TrackingQuery, UserChanges,
};
use tracker::store::{AuditFilter, Store, TrackingFilter, UserFilter};
use tracker::tracking::ActivityInput;
use tracker::{
    ActivityId, ActivityKind, AgentContext, Argon2Hasher, CompanyId, CorrectionId,
    CorrectionStatus, ManualClock, MemoryStore, PageRequest, PolicyUpdate, Principal, Role,
    ScreenshotId, TaskId, TaskStatus, TeamId, Tracker, TrackingPolicy, UserId, WorkSessionId,
};
use tracker_sqlite::SqliteStore;
use tracker_sqlx::testing::TestStore;

/// Cases when `PROPTEST_CASES` is not set: about 0.14 s each in a debug
/// build on two busy cores, so about 14 s in all.
const DEFAULT_CASES: u32 = 96;
const TIMEZONES: [&str; 3] = ["UTC", "Europe/Berlin", "America/New_York"];
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
/// A well-formed company key that belongs to no company.
const UNKNOWN_KEY: &str = "company_00000000000000000000000000000000";

fn config() -> ProptestConfig {
    // `ProptestConfig::default()` has already applied PROPTEST_CASES; an
    // explicit `cases` would override it, so only set ours when it is unset.
    let default = ProptestConfig::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        default.cases
    } else {
        DEFAULT_CASES
    };
    ProptestConfig {
        cases,
        // Do not write regression files into the source tree.
        failure_persistence: None,
        ..default
    }
}

/// The SQLite store runs the same attack; each case opens a real database
/// file, so it runs a quarter of the cases.
fn sqlite_config() -> ProptestConfig {
    let c = config();
    ProptestConfig {
        cases: (c.cases / 4).max(1),
        ..c
    }
}

fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("isolation.db")).expect("open SQLite");
    (Arc::new(store), dir)
}

/// One runtime for every PostgreSQL case.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tenants_stay_isolated(spec in vec(company_spec(), 2..=3), ops in vec(op(), 20..=60)) {
        block_on(run(Arc::new(MemoryStore::new()), &spec, &ops))?;
    }
}

proptest! {
    #![proptest_config(sqlite_config())]

    #[test]
    fn tenants_stay_isolated_on_sqlite(spec in vec(company_spec(), 2..=3), ops in vec(op(), 20..=60)) {
        let (store, _dir) = sqlite_store();
        block_on(run(store, &spec, &ops))?;
    }
}

proptest! {
    // As many cases as on SQLite: each one migrates a schema of its own.
    #![proptest_config(sqlite_config())]

    #[test]
    fn tenants_stay_isolated_on_postgres(spec in vec(company_spec(), 2..=3), ops in vec(op(), 20..=60)) {
        runtime().block_on(async {
            let Some(db) = TestStore::new().await else { return Ok(()) };
            run(Arc::new(db), &spec, &ops).await
        })?;
    }
}

async fn run(store: Arc<dyn Store>, spec: &[CompanySpec], ops: &[Op]) -> Result<(), TestCaseError> {
    let mut world = World::build(store, spec).await;
    for (step, op) in ops.iter().enumerate() {
        Box::pin(world.apply(step, op)).await?;
    }
    world.finish().await
}

// ---- the random input -----------------------------------------------------

/// The shape of one company. Manager `k` manages team `k`.
#[derive(Debug, Clone)]
struct CompanySpec {
    /// Per employee, the teams it is a member of (bit `k`: team `k`).
    employees: Vec<u8>,
    /// Manager 1 is also a member of team 0 (so manager 0 sees it).
    manager1_in_team0: bool,
    /// The admin is also a member of team 1 (so manager 1 sees it).
    admin_in_team1: bool,
}

fn company_spec() -> impl Strategy<Value = CompanySpec> {
    (vec(0u8..4, 2..=4), any::<bool>(), any::<bool>()).prop_map(|(mut employees, m1, admin)| {
        // Each manager's team has at least one employee.
        employees[0] |= 1;
        employees[1] |= 2;
        CompanySpec {
            employees,
            manager1_in_team0: m1,
            admin_in_team1: admin,
        }
    })
}

/// A caller: the OWNER, or a company user of the role.
#[derive(Debug, Clone, Copy)]
struct Caller {
    role: Role,
    index: Index,
}

fn caller() -> impl Strategy<Value = Caller> {
    let role = prop_oneof![
        1 => Just(Role::Owner),
        2 => Just(Role::Admin),
        2 => Just(Role::Manager),
        2 => Just(Role::Employee),
    ];
    (role, any::<Index>()).prop_map(|(role, index)| Caller { role, index })
}

/// A company user running an agent.
fn agent_caller() -> impl Strategy<Value = Caller> {
    let role = prop_oneof![Just(Role::Admin), Just(Role::Manager), Just(Role::Employee)];
    (role, any::<Index>()).prop_map(|(role, index)| Caller { role, index })
}

/// The user an operation is about, relative to the caller.
#[derive(Debug, Clone, Copy)]
enum UserPick {
    Me,
    /// Someone the caller may see.
    Visible(Index),
    SameCompany(Index),
    OtherCompany(Index),
    Owner,
    Unknown,
}

fn user_pick() -> impl Strategy<Value = UserPick> {
    prop_oneof![
        1 => Just(UserPick::Me),
        2 => any::<Index>().prop_map(UserPick::Visible),
        2 => any::<Index>().prop_map(UserPick::SameCompany),
        2 => any::<Index>().prop_map(UserPick::OtherCompany),
        1 => Just(UserPick::Owner),
        1 => Just(UserPick::Unknown),
    ]
}

/// An object id: a new one, or a stored one among the caller's own, those
/// of users it may see, those of its company, or those of any company.
#[derive(Debug, Clone, Copy)]
enum Pick {
    Fresh,
    Mine(Index),
    Visible(Index),
    SameCompany(Index),
    AnyCompany(Index),
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        1 => Just(Pick::Fresh),
        2 => any::<Index>().prop_map(Pick::Mine),
        2 => any::<Index>().prop_map(Pick::Visible),
        2 => any::<Index>().prop_map(Pick::SameCompany),
        2 => any::<Index>().prop_map(Pick::AnyCompany),
    ]
}

#[derive(Debug, Clone, Copy)]
enum SentVersion {
    Current,
    Stale,
    Missing,
}

#[derive(Debug, Clone)]
struct EventSpec {
    ago_min: i64,
    seconds: u32,
    active: bool,
}

#[derive(Debug, Clone, Copy)]
enum Read {
    Sessions,
    Activity,
    Screenshots,
    /// `list_users` without a target, `get_user` with one.
    Users,
    DailyReport {
        days_ago: i64,
    },
    MonthlyReport,
    Timesheet,
    UsageApps,
    UsageDomains,
    Tasks,
    Corrections,
    CompanyAudit,
    VerifyCompanyAudit,
    Agents,
    Teams,
    Policy,
    CompanyUsage,
    MyDay,
    MySessions,
    MyTasks,
    MyExport,
}

fn read() -> impl Strategy<Value = Read> {
    use Read::*;
    prop_oneof![
        Just(Sessions),
        Just(Activity),
        Just(Screenshots),
        Just(Users),
        (0i64..14).prop_map(|days_ago| DailyReport { days_ago }),
        Just(MonthlyReport),
        Just(Timesheet),
        Just(UsageApps),
        Just(UsageDomains),
        Just(Tasks),
        Just(Corrections),
        Just(CompanyAudit),
        Just(VerifyCompanyAudit),
        Just(Agents),
        Just(Teams),
        Just(Policy),
        Just(CompanyUsage),
        Just(MyDay),
        Just(MySessions),
        Just(MyTasks),
        Just(MyExport),
    ]
}

#[derive(Debug, Clone, Copy)]
enum AgentRead {
    Tasks,
    SyncStatus,
    Policy,
}

#[derive(Debug, Clone, Copy)]
enum PlatformOp {
    ListCompanies,
    CompanyDetail,
    OwnerReport,
    NoSync,
    PlatformAudit,
    VerifyPlatformAudit,
    ListPlans,
}

#[derive(Debug, Clone, Copy)]
enum LifecycleOp {
    Suspend,
    RotateKey,
    Retention,
    ChangePlan,
}

/// One operation. `who` picks a caller among the company users and the
/// OWNER (agent operations: among the company users); `about`, `assignee`
/// and `target` pick a user among the company users, the OWNER and an
/// unknown id.
#[derive(Debug, Clone)]
enum Op {
    Heartbeat {
        who: Caller,
        version: SentVersion,
    },
    StartSession {
        who: Caller,
        id: Pick,
        ago_min: i64,
    },
    StopSession {
        who: Caller,
        session: Pick,
    },
    Activity {
        who: Caller,
        events: Vec<EventSpec>,
        replay: Option<Index>,
    },
    Screenshot {
        who: Caller,
        id: Pick,
        ago_min: i64,
    },
    AgentRead {
        who: Caller,
        read: AgentRead,
    },
    /// `Tracker::agent` with the key of a company (or an unknown key).
    AgentLogin {
        who: Caller,
        key_of: Index,
    },
    UpdatePolicy {
        who: Caller,
        update: PolicyUpdate,
    },
    CreateTask {
        who: Caller,
        assignee: UserPick,
    },
    CompleteTask {
        who: Caller,
        task: Pick,
    },
    RequestCorrection {
        who: Caller,
        ago_min: i64,
        len_min: i64,
    },
    Decide {
        who: Caller,
        correction: Pick,
        approve: bool,
    },
    Read {
        who: Caller,
        read: Read,
        about: Option<UserPick>,
    },
    ReadImage {
        who: Caller,
        shot: Pick,
    },
    /// `company` picks a company or an unknown id.
    Platform {
        who: Caller,
        op: PlatformOp,
        company: Index,
    },
    /// The OWNER always sets the retention (the other lifecycle changes
    /// would change who may do what); company users try all of them.
    Lifecycle {
        who: Caller,
        op: LifecycleOp,
        company: Index,
    },
    /// Renames, or tries to deactivate, a user. A deactivation that would
    /// succeed is not attempted (it would change the callers of the model).
    ManageUser {
        who: Caller,
        target: UserPick,
        deactivate: bool,
    },
    /// Creates a team whose only member is a user outside the caller's company.
    ForeignTeam {
        who: Caller,
        member: Index,
    },
    /// The usage aggregation job of a company.
    Aggregate {
        company: Index,
    },
    Tick {
        minutes: i64,
    },
}

fn policy_update() -> impl Strategy<Value = PolicyUpdate> {
    let interval = prop_oneof![
        3 => Just(None),
        3 => (30u32..=3600).prop_map(Some),
        1 => Just(Some(5)),
    ];
    let idle = prop_oneof![
        3 => Just(None),
        3 => (60u32..=3600).prop_map(Some),
        1 => Just(Some(100_000)),
    ];
    (
        option::of(any::<bool>()),
        interval,
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        idle,
        option::of(any::<bool>()),
    )
        .prop_map(|(shots, interval, web, apps, idle, blur)| PolicyUpdate {
            screenshots_enabled: shots,
            screenshot_interval_seconds: interval,
            website_tracking_enabled: web,
            app_tracking_enabled: apps,
            idle_threshold_seconds: idle,
            blur_screenshots: blur,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let who = caller;
    let agent = agent_caller;
    let ago = || 0i64..20_000;
    let event =
        (61i64..20_000, 1u32..=3_600, any::<bool>()).prop_map(|(ago_min, seconds, active)| {
            EventSpec {
                ago_min,
                seconds,
                active,
            }
        });
    let version = prop_oneof![
        Just(SentVersion::Current),
        Just(SentVersion::Stale),
        Just(SentVersion::Missing)
    ];
    let agent_read = prop_oneof![
        Just(AgentRead::Tasks),
        Just(AgentRead::SyncStatus),
        Just(AgentRead::Policy)
    ];
    let platform = prop_oneof![
        Just(PlatformOp::ListCompanies),
        Just(PlatformOp::CompanyDetail),
        Just(PlatformOp::OwnerReport),
        Just(PlatformOp::NoSync),
        Just(PlatformOp::PlatformAudit),
        Just(PlatformOp::VerifyPlatformAudit),
        Just(PlatformOp::ListPlans),
    ];
    let lifecycle = prop_oneof![
        Just(LifecycleOp::Suspend),
        Just(LifecycleOp::RotateKey),
        Just(LifecycleOp::Retention),
        Just(LifecycleOp::ChangePlan),
    ];
    prop_oneof![
        2 => (agent(), version).prop_map(|(who, version)| Op::Heartbeat { who, version }),
        3 => (agent(), pick(), ago())
            .prop_map(|(who, id, ago_min)| Op::StartSession { who, id, ago_min }),
        2 => (agent(), pick()).prop_map(|(who, session)| Op::StopSession { who, session }),
        4 => (agent(), vec(event, 1..=4), option::weighted(0.3, any::<Index>()))
            .prop_map(|(who, events, replay)| Op::Activity { who, events, replay }),
        3 => (agent(), pick(), ago())
            .prop_map(|(who, id, ago_min)| Op::Screenshot { who, id, ago_min }),
        1 => (agent(), agent_read).prop_map(|(who, read)| Op::AgentRead { who, read }),
        1 => (who(), any::<Index>()).prop_map(|(who, key_of)| Op::AgentLogin { who, key_of }),
        2 => (who(), policy_update()).prop_map(|(who, update)| Op::UpdatePolicy { who, update }),
        4 => (who(), user_pick()).prop_map(|(who, assignee)| Op::CreateTask { who, assignee }),
        2 => (who(), pick()).prop_map(|(who, task)| Op::CompleteTask { who, task }),
        3 => (who(), 1i64..20_000, 1i64..=600)
            .prop_map(|(who, ago_min, len_min)| Op::RequestCorrection { who, ago_min, len_min }),
        3 => (who(), pick(), any::<bool>())
            .prop_map(|(who, correction, approve)| Op::Decide { who, correction, approve }),
        12 => (who(), read(), option::of(user_pick()))
            .prop_map(|(who, read, about)| Op::Read { who, read, about }),
        2 => (who(), pick()).prop_map(|(who, shot)| Op::ReadImage { who, shot }),
        3 => (who(), platform, any::<Index>())
            .prop_map(|(who, op, company)| Op::Platform { who, op, company }),
        2 => (who(), lifecycle, any::<Index>())
            .prop_map(|(who, op, company)| Op::Lifecycle { who, op, company }),
        1 => (who(), user_pick(), any::<bool>())
            .prop_map(|(who, target, deactivate)| Op::ManageUser { who, target, deactivate }),
        1 => (who(), any::<Index>()).prop_map(|(who, member)| Op::ForeignTeam { who, member }),
        1 => any::<Index>().prop_map(|company| Op::Aggregate { company }),
        1 => (1i64..=30).prop_map(|minutes| Op::Tick { minutes }),
    ]
}

// ---- the world and its model ------------------------------------------------

/// A caller: the OWNER or a company user (index into `World::users`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Owner,
    User(usize),
}

/// Where a change may happen: the platform or one company (by index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    Platform,
    Company(usize),
}

struct CompanyModel {
    id: CompanyId,
    key: String,
    users: BTreeSet<UserId>,
    /// Team id -> its manager.
    teams: BTreeMap<TeamId, UserId>,
    policy: TrackingPolicy,
}

struct UserModel {
    id: UserId,
    company: usize,
    role: Role,
    username: String,
    token: String,
    principal: Principal,
    /// Whose data this user may see: the whole company for an ADMIN, the
    /// members of its teams and itself for a MANAGER, itself for an EMPLOYEE.
    visible: BTreeSet<UserId>,
}

struct SessionModel {
    company: usize,
    id: WorkSessionId,
    user: UserId,
    stopped: bool,
}

struct ActivityModel {
    company: usize,
    id: ActivityId,
    user: UserId,
    seconds: u64,
    app_kept: bool,
    url_kept: bool,
}

struct ShotModel {
    company: usize,
    id: ScreenshotId,
    user: UserId,
    bytes: Vec<u8>,
}

struct TaskModel {
    company: usize,
    id: TaskId,
    assignee: UserId,
    done: bool,
}

struct CorrectionModel {
    company: usize,
    id: CorrectionId,
    user: UserId,
    status: CorrectionStatus,
    seconds: u64,
}

struct World {
    tracker: Tracker,
    clock: ManualClock,
    owner: Principal,
    owner_token: String,
    companies: Vec<CompanyModel>,
    users: Vec<UserModel>,
    sessions: Vec<SessionModel>,
    activity: Vec<ActivityModel>,
    shots: Vec<ShotModel>,
    tasks: Vec<TaskModel>,
    corrections: Vec<CorrectionModel>,
}

/// What the store may do during one operation: which scopes may change,
/// and by how many events each audit chain grows (0 where not listed).
#[derive(Debug, Default)]
struct Allowed {
    scopes: BTreeSet<Scope>,
    audit: BTreeMap<Scope, usize>,
}

impl Allowed {
    fn nothing() -> Self {
        Self::default()
    }

    fn company(c: usize) -> Self {
        Self::nothing().and(Scope::Company(c))
    }

    fn and(mut self, scope: Scope) -> Self {
        self.scopes.insert(scope);
        self
    }

    fn audited(mut self, scope: Scope) -> Self {
        self.scopes.insert(scope);
        *self.audit.entry(scope).or_default() += 1;
        self
    }
}

/// The expected outcome: Ok, or an error with this code.
type Exp = Result<(), &'static str>;

/// Checks `r` against `exp`; the value when both say Ok.
fn outcome<T>(ctx: &str, r: tracker::Result<T>, exp: Exp) -> Result<Option<T>, TestCaseError> {
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

fn all() -> PageRequest {
    PageRequest::first(500)
}

fn login(key: Option<&str>, username: &str) -> LoginRequest {
    LoginRequest {
        company_key: key.map(str::to_owned),
        username: username.to_owned(),
        password: password(username),
    }
}

fn password(username: &str) -> String {
    format!("{username}-password")
}

fn new_user(username: &str, role: Option<Role>) -> NewUser {
    NewUser {
        username: username.to_owned(),
        password: password(username),
        email: None,
        display_name: None,
        role,
    }
}

fn app_of(user: UserId) -> String {
    format!("app-{}", user.as_uuid().simple())
}

fn domain_of(user: UserId) -> String {
    format!("{}.example", user.as_uuid().simple())
}

/// The answer as JSON, to search it for names it must not hold.
macro_rules! json {
    ($value:expr) => {
        serde_json::to_string($value).expect("serializes")
    };
}

impl World {
    async fn build(store: Arc<dyn Store>, spec: &[CompanySpec]) -> World {
        let start = DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z")
            .expect("a date")
            .with_timezone(&Utc);
        let clock = ManualClock::new(start);
        let tracker = Tracker::builder_shared(store)
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

    fn resolve(&self, caller: Caller) -> Who {
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
    fn resolve_for(&self, caller: Caller, pick: Pick, owners: impl Iterator<Item = UserId>) -> Who {
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

    fn user_pick(&self, who: Who, pick: UserPick) -> UserId {
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
    fn pick_object(
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
    fn company_pick(&self, i: Index) -> Option<usize> {
        let n = i.index(self.companies.len() + 1);
        (n < self.companies.len()).then_some(n)
    }

    fn principal(&self, who: Who) -> &Principal {
        match who {
            Who::Owner => &self.owner,
            Who::User(i) => &self.users[i].principal,
        }
    }

    fn role(&self, who: Who) -> Role {
        match who {
            Who::Owner => Role::Owner,
            Who::User(i) => self.users[i].role,
        }
    }

    fn company_of_user(&self, id: UserId) -> Option<usize> {
        self.users.iter().find(|u| u.id == id).map(|u| u.company)
    }

    fn now(&self) -> DateTime<Utc> {
        self.tracker.now()
    }

    fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    // ---- expectations -------------------------------------------------------

    /// Reading one user's data (`Tracker::scope` with a user): OWNER is
    /// refused; a company user gets it if it may see that user, and
    /// `not_found` otherwise (another company, the OWNER, an unknown id,
    /// a colleague it may not see).
    fn exp_about(&self, who: Who, user: UserId) -> Exp {
        match who {
            Who::Owner => Err("forbidden"),
            Who::User(i) if self.users[i].visible.contains(&user) => Ok(()),
            Who::User(_) => Err("not_found"),
        }
    }

    /// Company-wide lists: ADMIN and MANAGER only.
    fn exp_list(&self, who: Who) -> Exp {
        match self.role(who) {
            Role::Admin | Role::Manager => Ok(()),
            _ => Err("forbidden"),
        }
    }

    fn exp_admin(&self, who: Who) -> Exp {
        match self.role(who) {
            Role::Admin => Ok(()),
            _ => Err("forbidden"),
        }
    }

    /// The users whose items an answer may hold and must hold all of.
    fn expected_users(&self, who: Who, about: Option<UserId>) -> BTreeSet<UserId> {
        match (who, about) {
            (_, Some(u)) => BTreeSet::from([u]),
            (Who::User(i), None) => self.users[i].visible.clone(),
            (Who::Owner, None) => BTreeSet::new(),
        }
    }

    /// Most seconds any report may count for `user`: its events and its
    /// approved corrections, overlaps counted twice.
    fn bound(&self, user: UserId) -> u64 {
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
    fn foreign_strings(&self, who: Who) -> Vec<String> {
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

    fn check_no_leak(&self, ctx: &str, who: Who, answer: &str) -> Result<(), TestCaseError> {
        for s in self.foreign_strings(who) {
            prop_assert!(
                !answer.contains(&s),
                "{}: the answer names {} which the caller must not see: {}",
                ctx,
                s,
                answer
            );
        }
        Ok(())
    }

    /// Every item's (company, user) is the caller's company and an expected
    /// user, and the ids are exactly the expected ones.
    fn check_items<I: Ord + std::fmt::Debug>(
        &self,
        ctx: &str,
        who: Who,
        items: impl IntoIterator<Item = (I, CompanyId, UserId)>,
        expected_users: &BTreeSet<UserId>,
        expected_ids: BTreeSet<I>,
    ) -> Result<(), TestCaseError> {
        let Who::User(i) = who else {
            return Err(TestCaseError::fail(format!("{ctx}: OWNER got items")));
        };
        let own = self.companies[self.users[i].company].id;
        let mut ids = BTreeSet::new();
        for (id, company, user) in items {
            prop_assert_eq!(
                company,
                own,
                "{}: an item of another company: {:?}",
                ctx,
                id
            );
            prop_assert!(
                expected_users.contains(&user),
                "{}: an item of user {} the caller may not see (or did not ask for): {:?}",
                ctx,
                user,
                id
            );
            ids.insert(id);
        }
        prop_assert_eq!(ids, expected_ids, "{}: not exactly the expected items", ctx);
        Ok(())
    }

    // ---- the store, as a whole ---------------------------------------------------

    /// Everything the store holds, per scope, serialized.
    async fn snapshot(&self) -> Snapshot {
        let s = self.tracker.store();
        let (t, u, tr, w) = (s.tenants(), s.users(), s.tracking(), s.work());
        let mut snap = Snapshot::default();
        let chain = s
            .audit()
            .read_chain(AuditChain::Platform, 0, 1_000_000)
            .await
            .expect("chain");
        snap.chains.insert(Scope::Platform, chain.len());
        let owner = u.get_user(None, self.owner.user_id()).await.expect("owner");
        let parts = BTreeMap::from([
            ("audit", json!(&chain)),
            ("plans", json!(&t.list_plans().await.expect("plans"))),
            ("owner", json!(&owner)),
        ]);
        snap.scopes.insert(Scope::Platform, parts);

        let f = TrackingFilter::default();
        let (from, to) = (NaiveDate::MIN, NaiveDate::MAX);
        for (ci, c) in self.companies.iter().enumerate() {
            let id = c.id;
            let chain = s
                .audit()
                .read_chain(AuditChain::Company(id), 0, 1_000_000)
                .await;
            let chain = chain.expect("chain");
            snap.chains.insert(Scope::Company(ci), chain.len());
            let users = u.list_users(id, &UserFilter::default(), &all()).await;
            let tasks = w.list_tasks(id, &Default::default(), &all()).await;
            let corrections = w.list_corrections(id, &Default::default(), &all()).await;
            let parts = BTreeMap::from([
                ("audit", json!(&chain)),
                ("company", json!(&t.get_company(id).await.expect("company"))),
                (
                    "subscriptions",
                    json!(&t.list_subscriptions(id).await.expect("subs")),
                ),
                ("users", json!(&users.expect("users"))),
                ("teams", json!(&u.list_teams(id).await.expect("teams"))),
                (
                    "agents",
                    json!(&u.list_agent_states(id).await.expect("agents")),
                ),
                (
                    "policy",
                    json!(&s.policies().get_policy(id).await.expect("policy")),
                ),
                (
                    "sessions",
                    json!(&tr.list_sessions(id, &f, &all()).await.expect("sessions")),
                ),
                (
                    "activity",
                    json!(&tr.list_activity(id, &f, &all()).await.expect("activity")),
                ),
                (
                    "screenshots",
                    json!(&tr.list_screenshots(id, &f, &all()).await.expect("shots")),
                ),
                ("tasks", json!(&tasks.expect("tasks"))),
                ("corrections", json!(&corrections.expect("corrections"))),
                (
                    "usage",
                    json!(
                        &s.usage()
                            .list_usage(Some(id), from, to)
                            .await
                            .expect("usage")
                    ),
                ),
            ]);
            snap.scopes.insert(Scope::Company(ci), parts);
        }
        snap
    }

    fn check_changes(
        ctx: &str,
        before: &Snapshot,
        after: &Snapshot,
        allowed: &Allowed,
    ) -> Result<(), TestCaseError> {
        for (scope, parts) in &before.scopes {
            let grown = after.chains[scope] as i64 - before.chains[scope] as i64;
            let want = allowed.audit.get(scope).copied().unwrap_or(0) as i64;
            prop_assert_eq!(
                grown,
                want,
                "{}: the audit chain of {:?} grew by {}, expected {}",
                ctx,
                scope,
                grown,
                want
            );
            if !allowed.scopes.contains(scope) {
                let changed: Vec<&str> = parts
                    .iter()
                    .filter(|(k, v)| after.scopes[scope].get(*k) != Some(v))
                    .map(|(k, _)| *k)
                    .collect();
                prop_assert!(
                    changed.is_empty(),
                    "{}: {:?} changed ({:?}) though this operation must not change it",
                    ctx,
                    scope,
                    changed
                );
            }
        }
        Ok(())
    }

    // ---- one operation ------------------------------------------------------------

    async fn apply(&mut self, step: usize, op: &Op) -> Result<(), TestCaseError> {
        let before = self.snapshot().await;
        let sessions = || self.sessions.iter().map(|s| s.user);
        let shots = || self.shots.iter().map(|s| s.user);
        let who = match op {
            Op::StartSession { who, id: pick, .. } | Op::StopSession { who, session: pick } => {
                Some(self.resolve_for(*who, *pick, sessions()))
            }
            Op::Screenshot { who, id: pick, .. } | Op::ReadImage { who, shot: pick } => {
                Some(self.resolve_for(*who, *pick, shots()))
            }
            Op::CompleteTask { who, task } => {
                Some(self.resolve_for(*who, *task, self.tasks.iter().map(|t| t.assignee)))
            }
            Op::Decide {
                who, correction, ..
            } => Some(self.resolve_for(*who, *correction, self.corrections.iter().map(|c| c.user))),
            Op::Heartbeat { who, .. }
            | Op::Activity { who, .. }
            | Op::AgentRead { who, .. }
            | Op::AgentLogin { who, .. }
            | Op::UpdatePolicy { who, .. }
            | Op::CreateTask { who, .. }
            | Op::RequestCorrection { who, .. }
            | Op::Read { who, .. }
            | Op::Platform { who, .. }
            | Op::Lifecycle { who, .. }
            | Op::ManageUser { who, .. }
            | Op::ForeignTeam { who, .. } => Some(self.resolve(*who)),
            Op::Aggregate { .. } | Op::Tick { .. } => None,
        };
        let ctx = match who {
            Some(w) => format!("step {step}: {op:?} by {} ({w:?})", self.role(w)),
            None => format!("step {step}: {op:?}"),
        };
        let allowed = match (op, who) {
            (Op::Heartbeat { version, .. }, Some(Who::User(i))) => {
                self.heartbeat(&ctx, i, *version).await?
            }
            (Op::StartSession { id, ago_min, .. }, Some(Who::User(i))) => {
                self.start_session(&ctx, i, *id, *ago_min).await?
            }
            (Op::StopSession { session, .. }, Some(Who::User(i))) => {
                self.stop_session(&ctx, i, *session).await?
            }
            (Op::Activity { events, replay, .. }, Some(Who::User(i))) => {
                self.upload_activity(&ctx, i, events, *replay).await?
            }
            (Op::Screenshot { id, ago_min, .. }, Some(Who::User(i))) => {
                self.upload_screenshot(&ctx, i, *id, *ago_min).await?
            }
            (Op::AgentRead { read, .. }, Some(Who::User(i))) => {
                self.agent_read(&ctx, i, *read).await?
            }
            (Op::AgentLogin { key_of, .. }, Some(w)) => self.agent_login(&ctx, w, *key_of).await?,
            (Op::UpdatePolicy { update, .. }, Some(w)) => {
                self.update_policy(&ctx, w, update).await?
            }
            (Op::CreateTask { assignee, .. }, Some(w)) => {
                let assignee = self.user_pick(w, *assignee);
                self.create_task(&ctx, w, assignee).await?
            }
            (Op::CompleteTask { task, .. }, Some(w)) => self.complete_task(&ctx, w, *task).await?,
            (
                Op::RequestCorrection {
                    ago_min, len_min, ..
                },
                Some(w),
            ) => self.request_correction(&ctx, w, *ago_min, *len_min).await?,
            (
                Op::Decide {
                    correction,
                    approve,
                    ..
                },
                Some(w),
            ) => self.decide(&ctx, w, *correction, *approve).await?,
            (Op::Read { read, about, .. }, Some(w)) => {
                let about = about.map(|a| self.user_pick(w, a));
                Box::pin(self.read(&ctx, w, *read, about)).await?
            }
            (Op::ReadImage { shot, .. }, Some(w)) => self.read_image(&ctx, w, *shot).await?,
            (Op::Platform { op, company, .. }, Some(w)) => {
                Box::pin(self.platform(&ctx, w, *op, *company)).await?
            }
            (Op::Lifecycle { op, company, .. }, Some(w)) => {
                self.lifecycle(&ctx, w, *op, *company).await?
            }
            (
                Op::ManageUser {
                    target, deactivate, ..
                },
                Some(w),
            ) => {
                let target = self.user_pick(w, *target);
                self.manage_user(&ctx, w, target, *deactivate).await?
            }
            (Op::ForeignTeam { member, .. }, Some(w)) => {
                self.foreign_team(&ctx, w, *member).await?
            }
            (Op::Aggregate { company }, None) => {
                self.aggregate(&ctx, company.index(self.companies.len()))
                    .await?
            }
            (Op::Tick { minutes }, None) => {
                self.clock.advance(Duration::minutes(*minutes));
                Allowed::nothing()
            }
            _ => unreachable!("every operation has its caller"),
        };
        let after = self.snapshot().await;
        Self::check_changes(&ctx, &before, &after, &allowed)
    }

    // ---- agent operations ---------------------------------------------------------

    async fn heartbeat(
        &self,
        ctx: &str,
        i: usize,
        version: SentVersion,
    ) -> Result<Allowed, TestCaseError> {
        let u = &self.users[i];
        let current = self.companies[u.company].policy.version;
        let sent = match version {
            SentVersion::Current => Some(current),
            SentVersion::Stale => Some(current.saturating_sub(1)),
            SentVersion::Missing => None,
        };
        let r = self
            .tracker
            .heartbeat(
                &self.agent(i).await,
                HeartbeatRequest {
                    policy_version: sent,
                    agent_version: Some("1.0.0".into()),
                },
            )
            .await;
        let Some(beat) = outcome(ctx, r, Ok(()))? else {
            return Ok(Allowed::nothing());
        };
        prop_assert_eq!(beat.policy_version, current, "{}: policy version", ctx);
        prop_assert_eq!(beat.policy_changed, sent != Some(current), "{}", ctx);
        prop_assert!(beat.tracking_allowed, "{}: tracking must be allowed", ctx);
        Ok(Allowed::company(u.company))
    }

    async fn start_session(
        &mut self,
        ctx: &str,
        i: usize,
        id: Pick,
        ago_min: i64,
    ) -> Result<Allowed, TestCaseError> {
        let (me, c) = (self.users[i].id, self.users[i].company);
        let id = self
            .pick_object(
                Who::User(i),
                id,
                self.sessions.iter().map(|s| (s.company, s.user)),
            )
            .map_or_else(WorkSessionId::new, |k| self.sessions[k].id);
        let existing = self
            .sessions
            .iter()
            .find(|s| s.company == c && s.id == id)
            .map(|s| s.user);
        // Another user's id of the same company: not revealed. Another
        // company's id: a session of our own with the same client id.
        let exp = match existing {
            Some(owner) if owner != me => Err("not_found"),
            _ => Ok(()),
        };
        let started_at = self.now() - Duration::minutes(ago_min);
        let r = self
            .tracker
            .start_session(&self.agent(i).await, StartSession { id, started_at })
            .await;
        let Some(ingested) = outcome(ctx, r, exp)? else {
            return Ok(Allowed::nothing());
        };
        let s = &ingested.stored;
        prop_assert_eq!(s.company_id, self.companies[c].id, "{}", ctx);
        prop_assert_eq!(s.user_id, me, "{}", ctx);
        prop_assert_eq!(s.id, id, "{}", ctx);
        prop_assert_eq!(ingested.inserted, existing.is_none(), "{}: inserted", ctx);
        if !ingested.inserted {
            return Ok(Allowed::nothing());
        }
        self.sessions.push(SessionModel {
            company: c,
            id,
            user: me,
            stopped: false,
        });
        Ok(Allowed::company(c))
    }

    async fn stop_session(
        &mut self,
        ctx: &str,
        i: usize,
        session: Pick,
    ) -> Result<Allowed, TestCaseError> {
        let (me, c) = (self.users[i].id, self.users[i].company);
        let id = self
            .pick_object(
                Who::User(i),
                session,
                self.sessions.iter().map(|s| (s.company, s.user)),
            )
            .map_or_else(WorkSessionId::new, |k| self.sessions[k].id);
        let own = self
            .sessions
            .iter()
            .position(|s| s.company == c && s.id == id && s.user == me);
        let exp = if own.is_some() {
            Ok(())
        } else {
            Err("not_found")
        };
        let stopped_at = self.now();
        let r = self
            .tracker
            .stop_session(&self.agent(i).await, id, StopSession { stopped_at })
            .await;
        let Some(s) = outcome(ctx, r, exp)? else {
            return Ok(Allowed::nothing());
        };
        prop_assert_eq!(s.company_id, self.companies[c].id, "{}", ctx);
        prop_assert_eq!(s.user_id, me, "{}", ctx);
        prop_assert!(s.stopped_at.is_some(), "{}: still open", ctx);
        let model = &mut self.sessions[own.expect("expected Ok")];
        if model.stopped {
            return Ok(Allowed::nothing());
        }
        model.stopped = true;
        Ok(Allowed::company(c))
    }

    async fn upload_activity(
        &mut self,
        ctx: &str,
        i: usize,
        events: &[EventSpec],
        replay: Option<Index>,
    ) -> Result<Allowed, TestCaseError> {
        let (me, c) = (self.users[i].id, self.users[i].company);
        let now = self.now();
        let input = |id: ActivityId, e: &EventSpec| ActivityInput {
            id,
            session_id: None,
            started_at: now - Duration::minutes(e.ago_min),
            duration_seconds: e.seconds,
            kind: if e.active {
                ActivityKind::Active
            } else {
                ActivityKind::Idle
            },
            app: Some(app_of(me)),
            window_title: Some(format!("window of {me}")),
            url: Some(format!("https://{}/page", domain_of(me))),
        };
        let mut batch: Vec<ActivityInput> =
            events.iter().map(|e| input(ActivityId::new(), e)).collect();
        if let Some(ix) = replay
            && !self.activity.is_empty()
        {
            // The id of a stored event, possibly of another user or company.
            let id = self.activity[ix.index(self.activity.len())].id;
            batch.push(input(id, &events[0]));
        }
        let new: Vec<&ActivityInput> = batch
            .iter()
            .filter(|e| !self.activity.iter().any(|a| a.company == c && a.id == e.id))
            .collect();
        let received = batch.len() as u64;
        let r = self
            .tracker
            .upload_activity(
                &self.agent(i).await,
                ActivityBatch {
                    events: batch.clone(),
                },
            )
            .await;
        let Some(report) = outcome(ctx, r, Ok(()))? else {
            return Ok(Allowed::nothing());
        };
        prop_assert_eq!(report.received, received, "{}", ctx);
        prop_assert_eq!(
            report.inserted,
            new.len() as u64,
            "{}: new events counted",
            ctx
        );
        if new.is_empty() {
            return Ok(Allowed::nothing());
        }
        let policy = &self.companies[c].policy;
        let models: Vec<ActivityModel> = new
            .iter()
            .map(|e| ActivityModel {
                company: c,
                id: e.id,
                user: me,
                seconds: u64::from(e.duration_seconds),
                app_kept: policy.app_tracking_enabled,
                url_kept: policy.website_tracking_enabled,
            })
            .collect();
        self.activity.extend(models);
        Ok(Allowed::company(c))
    }

    async fn upload_screenshot(
        &mut self,
        ctx: &str,
        i: usize,
        id: Pick,
        ago_min: i64,
    ) -> Result<Allowed, TestCaseError> {
        let (me, c) = (self.users[i].id, self.users[i].company);
        let id = self
            .pick_object(
                Who::User(i),
                id,
                self.shots.iter().map(|s| (s.company, s.user)),
            )
            .map_or_else(ScreenshotId::new, |k| self.shots[k].id);
        let existing = self
            .shots
            .iter()
            .find(|s| s.company == c && s.id == id)
            .map(|s| s.user);
        let exp = if !self.companies[c].policy.screenshots_enabled {
            Err("policy_disabled")
        } else {
            match existing {
                Some(owner) if owner != me => Err("not_found"),
                _ => Ok(()),
            }
        };
        let mut bytes = PNG.to_vec();
        bytes.extend_from_slice(format!("screen of {me} in {}", self.companies[c].id).as_bytes());
        let meta = ScreenshotUpload {
            id,
            taken_at: self.now() - Duration::minutes(ago_min),
            blurred: false,
        };
        let r = self
            .tracker
            .upload_screenshot(&self.agent(i).await, meta, bytes.clone())
            .await;
        let Some(ingested) = outcome(ctx, r, exp)? else {
            return Ok(Allowed::nothing());
        };
        let s = &ingested.stored;
        prop_assert_eq!(s.company_id, self.companies[c].id, "{}", ctx);
        prop_assert_eq!(s.user_id, me, "{}", ctx);
        prop_assert_eq!(s.id, id, "{}", ctx);
        prop_assert_eq!(ingested.inserted, existing.is_none(), "{}: inserted", ctx);
        if !ingested.inserted {
            return Ok(Allowed::nothing());
        }
        prop_assert_eq!(s.size_bytes, bytes.len() as u64, "{}", ctx);
        self.shots.push(ShotModel {
            company: c,
            id,
            user: me,
            bytes,
        });
        Ok(Allowed::company(c))
    }

    /// User `i`'s agent, authenticated anew as the HTTP adapter does for
    /// each request (a context holds the policy it was read with).
    async fn agent(&self, i: usize) -> AgentContext {
        let u = &self.users[i];
        self.tracker
            .agent(&self.companies[u.company].key, &u.token)
            .await
            .expect("the agent of a company that stays open")
    }

    async fn agent_read(
        &self,
        ctx: &str,
        i: usize,
        read: AgentRead,
    ) -> Result<Allowed, TestCaseError> {
        let (me, c) = (self.users[i].id, self.users[i].company);
        let agent = &self.agent(i).await;
        let who = Who::User(i);
        match read {
            AgentRead::Tasks => {
                let r = self
                    .tracker
                    .agent_tasks(agent, &all())
                    .await
                    .map(|p| p.items);
                if let Some(tasks) = outcome(ctx, r, Ok(()))? {
                    self.check_no_leak(ctx, who, &json!(&tasks))?;
                    let expected = self
                        .tasks
                        .iter()
                        .filter(|t| t.assignee == me && !t.done)
                        .map(|t| t.id)
                        .collect();
                    let items = tasks.iter().map(|t| (t.id, t.company_id, t.assignee_id));
                    self.check_items(ctx, who, items, &BTreeSet::from([me]), expected)?;
                }
            }
            AgentRead::SyncStatus => {
                let r = self.tracker.sync_status(agent).await;
                if let Some(s) = outcome(ctx, r, Ok(()))? {
                    self.check_no_leak(ctx, who, &json!(&s))?;
                    prop_assert_eq!(
                        s.policy_version,
                        self.companies[c].policy.version,
                        "{}",
                        ctx
                    );
                }
            }
            AgentRead::Policy => {
                let r = self.tracker.agent_policy(agent).await;
                if let Some(p) = outcome(ctx, r, Ok(()))? {
                    prop_assert_eq!(&p.policy, &self.companies[c].policy, "{}", ctx);
                    prop_assert!(p.tracking_allowed, "{}", ctx);
                }
            }
        }
        Ok(Allowed::nothing())
    }

    async fn agent_login(
        &self,
        ctx: &str,
        who: Who,
        key_of: Index,
    ) -> Result<Allowed, TestCaseError> {
        let target = self.company_pick(key_of);
        let key = target.map_or(UNKNOWN_KEY, |c| self.companies[c].key.as_str());
        let (token, exp) = match who {
            Who::Owner => (self.owner_token.as_str(), Err("forbidden")),
            Who::User(i) => {
                let u = &self.users[i];
                let exp = if target == Some(u.company) {
                    Ok(())
                } else {
                    Err("invalid_company_key")
                };
                (u.token.as_str(), exp)
            }
        };
        let r = self.tracker.agent(key, token).await;
        if let (Some(a), Who::User(i)) = (outcome(ctx, r, exp)?, who) {
            prop_assert_eq!(a.principal().user_id(), self.users[i].id, "{}", ctx);
            prop_assert_eq!(
                a.principal().company_id(),
                Some(self.companies[self.users[i].company].id),
                "{}",
                ctx
            );
        }
        Ok(Allowed::nothing())
    }

    // ---- company writes -----------------------------------------------------------

    async fn update_policy(
        &mut self,
        ctx: &str,
        who: Who,
        update: &PolicyUpdate,
    ) -> Result<Allowed, TestCaseError> {
        let valid = update
            .screenshot_interval_seconds
            .is_none_or(|s| (30..=3600).contains(&s))
            && update
                .idle_threshold_seconds
                .is_none_or(|s| (60..=3600).contains(&s));
        let exp = match self.role(who) {
            Role::Admin if valid => Ok(()),
            Role::Admin => Err("validation"),
            _ => Err("forbidden"),
        };
        let r = self
            .tracker
            .update_policy(self.principal(who), update.clone())
            .await;
        let (Some(new), Who::User(i)) = (outcome(ctx, r, exp)?, who) else {
            return Ok(Allowed::nothing());
        };
        let c = self.users[i].company;
        prop_assert_eq!(new.company_id, self.companies[c].id, "{}", ctx);
        prop_assert_eq!(new.version, self.companies[c].policy.version + 1, "{}", ctx);
        self.companies[c].policy = new;
        Ok(Allowed::nothing().audited(Scope::Company(c)))
    }

    async fn create_task(
        &mut self,
        ctx: &str,
        who: Who,
        assignee: UserId,
    ) -> Result<Allowed, TestCaseError> {
        let exp = match who {
            Who::Owner => Err("forbidden"),
            Who::User(i) => {
                let u = &self.users[i];
                let visible = u.visible.contains(&assignee);
                match u.role {
                    Role::Admin if visible => Ok(()),
                    Role::Manager if visible && assignee == u.id => Err("forbidden"),
                    Role::Manager if visible => Ok(()),
                    Role::Employee if assignee == u.id => Err("forbidden"),
                    _ => Err("not_found"),
                }
            }
        };
        let r = self
            .tracker
            .create_task(
                self.principal(who),
                NewTask {
                    title: "Write the report".into(),
                    description: None,
                    assignee_id: assignee,
                    due_on: None,
                },
            )
            .await;
        let (Some(task), Who::User(i)) = (outcome(ctx, r, exp)?, who) else {
            return Ok(Allowed::nothing());
        };
        let c = self.users[i].company;
        prop_assert_eq!(task.company_id, self.companies[c].id, "{}", ctx);
        prop_assert_eq!(task.assignee_id, assignee, "{}", ctx);
        prop_assert_eq!(task.status, TaskStatus::Open, "{}", ctx);
        self.tasks.push(TaskModel {
            company: c,
            id: task.id,
            assignee,
            done: false,
        });
        Ok(Allowed::nothing().audited(Scope::Company(c)))
    }

    async fn complete_task(
        &mut self,
        ctx: &str,
        who: Who,
        task: Pick,
    ) -> Result<Allowed, TestCaseError> {
        let id = self
            .pick_object(
                who,
                task,
                self.tasks.iter().map(|t| (t.company, t.assignee)),
            )
            .map_or_else(TaskId::new, |k| self.tasks[k].id);
        let mut own = None;
        let exp = match who {
            Who::Owner => Err("forbidden"),
            Who::User(i) => {
                let u = &self.users[i];
                own = self
                    .tasks
                    .iter()
                    .position(|t| t.company == u.company && t.id == id);
                match own.map(|k| &self.tasks[k]) {
                    None => Err("not_found"),
                    Some(t) if !u.visible.contains(&t.assignee) => Err("not_found"),
                    Some(t) if t.assignee != u.id => Err("forbidden"),
                    Some(t) if t.done => Err("invalid_state"),
                    Some(_) => Ok(()),
                }
            }
        };
        let r = self
            .tracker
            .complete_task(
                self.principal(who),
                id,
                CompleteTask {
                    note: Some("done".into()),
                },
            )
            .await;
        let (Some(done), Some(k)) = (outcome(ctx, r, exp)?, own) else {
            return Ok(Allowed::nothing());
        };
        prop_assert_eq!(done.id, id, "{}", ctx);
        prop_assert_eq!(done.status, TaskStatus::Done, "{}", ctx);
        prop_assert_eq!(
            done.company_id,
            self.companies[self.tasks[k].company].id,
            "{}",
            ctx
        );
        self.tasks[k].done = true;
        Ok(Allowed::company(self.tasks[k].company))
    }

    async fn request_correction(
        &mut self,
        ctx: &str,
        who: Who,
        ago_min: i64,
        len_min: i64,
    ) -> Result<Allowed, TestCaseError> {
        let len_min = len_min.min(ago_min);
        let starts_at = self.now() - Duration::minutes(ago_min);
        let exp = match who {
            Who::Owner => Err("forbidden"),
            Who::User(_) => Ok(()),
        };
        let r = self
            .tracker
            .request_correction(
                self.principal(who),
                NewCorrection {
                    starts_at,
                    ends_at: starts_at + Duration::minutes(len_min),
                    reason: "the agent was not running".into(),
                },
            )
            .await;
        let (Some(corr), Who::User(i)) = (outcome(ctx, r, exp)?, who) else {
            return Ok(Allowed::nothing());
        };
        let c = self.users[i].company;
        prop_assert_eq!(corr.company_id, self.companies[c].id, "{}", ctx);
        prop_assert_eq!(corr.user_id, self.users[i].id, "{}", ctx);
        prop_assert_eq!(corr.status, CorrectionStatus::Pending, "{}", ctx);
        self.corrections.push(CorrectionModel {
            company: c,
            id: corr.id,
            user: self.users[i].id,
            status: CorrectionStatus::Pending,
            seconds: len_min as u64 * 60,
        });
        Ok(Allowed::company(c))
    }

    async fn decide(
        &mut self,
        ctx: &str,
        who: Who,
        correction: Pick,
        approve: bool,
    ) -> Result<Allowed, TestCaseError> {
        let id = self
            .pick_object(
                who,
                correction,
                self.corrections.iter().map(|c| (c.company, c.user)),
            )
            .map_or_else(CorrectionId::new, |k| self.corrections[k].id);
        let mut own = None;
        let exp = match who {
            Who::Owner => Err("forbidden"),
            Who::User(i) => {
                let u = &self.users[i];
                own = self
                    .corrections
                    .iter()
                    .position(|k| k.company == u.company && k.id == id);
                match (u.role, own.map(|k| &self.corrections[k])) {
                    (_, None) => Err("not_found"),
                    (Role::Employee, Some(k)) if k.user == u.id => Err("forbidden"),
                    (Role::Employee, Some(_)) => Err("not_found"),
                    (_, Some(k)) if !u.visible.contains(&k.user) => Err("not_found"),
                    (_, Some(k)) if k.user == u.id => Err("forbidden"),
                    (_, Some(k)) if k.status != CorrectionStatus::Pending => Err("invalid_state"),
                    (_, Some(_)) => Ok(()),
                }
            }
        };
        let p = self.principal(who);
        let d = Decision {
            note: Some("ok".into()),
        };
        let r = if approve {
            self.tracker.approve_correction(p, id, d).await
        } else {
            self.tracker.reject_correction(p, id, d).await
        };
        let (Some(decided), Some(k), Who::User(i)) = (outcome(ctx, r, exp)?, own, who) else {
            return Ok(Allowed::nothing());
        };
        let status = if approve {
            CorrectionStatus::Approved
        } else {
            CorrectionStatus::Rejected
        };
        let c = self.corrections[k].company;
        prop_assert_eq!(decided.id, id, "{}", ctx);
        prop_assert_eq!(decided.company_id, self.companies[c].id, "{}", ctx);
        prop_assert_eq!(decided.status, status, "{}", ctx);
        prop_assert_eq!(decided.decided_by, Some(self.users[i].id), "{}", ctx);
        self.corrections[k].status = status;
        Ok(Allowed::nothing().audited(Scope::Company(c)))
    }

    // ---- reads ------------------------------------------------------------------------

    async fn read(
        &self,
        ctx: &str,
        who: Who,
        read: Read,
        about: Option<UserId>,
    ) -> Result<Allowed, TestCaseError> {
        let p = self.principal(who);
        let t = &self.tracker;
        let me = p.user_id();
        // The expected outcome of a read of `about` (or of a company-wide list).
        let exp_scope = |about: Option<UserId>| match about {
            Some(u) => self.exp_about(who, u),
            None => self.exp_list(who),
        };
        let users_of = |about: Option<UserId>| self.expected_users(who, about);
        let today = self.today();
        let own_company = p.company_id();
        match read {
            Read::Sessions | Read::MySessions => {
                let about = if matches!(read, Read::MySessions) {
                    Some(me)
                } else {
                    about
                };
                let r = if matches!(read, Read::MySessions) {
                    t.my_sessions(p, &all()).await
                } else {
                    let q = TrackingQuery {
                        user_id: about,
                        ..Default::default()
                    };
                    t.sessions(p, &q, &all()).await
                };
                if let Some(page) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    prop_assert!(page.next_cursor.is_none(), "{}: one page", ctx);
                    let users = users_of(about);
                    let expected = self
                        .sessions
                        .iter()
                        .filter(|s| users.contains(&s.user))
                        .map(|s| s.id)
                        .collect();
                    let items = page.items.iter().map(|s| (s.id, s.company_id, s.user_id));
                    self.check_items(ctx, who, items, &users, expected)?;
                }
            }
            Read::Activity => {
                let q = TrackingQuery {
                    user_id: about,
                    ..Default::default()
                };
                let r = t.activity(p, &q, &all()).await;
                if let Some(page) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    prop_assert!(page.next_cursor.is_none(), "{}: one page", ctx);
                    let users = users_of(about);
                    let expected = self
                        .activity
                        .iter()
                        .filter(|a| users.contains(&a.user))
                        .map(|a| a.id)
                        .collect();
                    let items = page.items.iter().map(|a| (a.id, a.company_id, a.user_id));
                    self.check_items(ctx, who, items, &users, expected)?;
                    // The policy at ingest decided what was kept; what was
                    // kept is the owner's own.
                    for e in &page.items {
                        let m = self
                            .activity
                            .iter()
                            .find(|a| a.user == e.user_id && a.id == e.id)
                            .expect("checked above");
                        let app = m.app_kept.then(|| app_of(e.user_id));
                        prop_assert_eq!(&e.app, &app, "{}: app of {}", ctx, e.id);
                        let url = m
                            .url_kept
                            .then(|| format!("https://{}/page", domain_of(e.user_id)));
                        prop_assert_eq!(&e.url, &url, "{}: url of {}", ctx, e.id);
                    }
                }
            }
            Read::Screenshots => {
                let q = TrackingQuery {
                    user_id: about,
                    ..Default::default()
                };
                let r = t.screenshots(p, &q, &all()).await;
                if let Some(page) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    prop_assert!(page.next_cursor.is_none(), "{}: one page", ctx);
                    let users = users_of(about);
                    let expected = self
                        .shots
                        .iter()
                        .filter(|s| users.contains(&s.user))
                        .map(|s| s.id)
                        .collect();
                    let items = page.items.iter().map(|s| (s.id, s.company_id, s.user_id));
                    self.check_items(ctx, who, items, &users, expected)?;
                }
            }
            Read::Users => match about {
                None => {
                    let r = t.list_users(p, None, &all()).await;
                    if let Some(page) = outcome(ctx, r, exp_scope(None))? {
                        self.check_no_leak(ctx, who, &json!(&page))?;
                        let users = users_of(None);
                        let items = page
                            .items
                            .iter()
                            .map(|u| (u.id, u.company_id.unwrap_or_else(CompanyId::nil), u.id));
                        self.check_items(ctx, who, items, &users, users.clone())?;
                    }
                }
                Some(u) => {
                    let r = t.get_user(p, u).await;
                    if let Some(user) = outcome(ctx, r, exp_scope(Some(u)))? {
                        self.check_no_leak(ctx, who, &json!(&user))?;
                        prop_assert_eq!(user.id, u, "{}", ctx);
                        prop_assert_eq!(user.company_id, own_company, "{}", ctx);
                    }
                }
            },
            Read::DailyReport { days_ago } => {
                let user = about.unwrap_or(me);
                let date = today - Duration::days(days_ago);
                let r = t.daily_report(p, user, date).await;
                if let Some(d) = outcome(ctx, r, self.exp_about(who, user))? {
                    self.check_no_leak(ctx, who, &json!(&d))?;
                    prop_assert_eq!(d.user_id, user, "{}", ctx);
                    prop_assert_eq!(d.date, date, "{}", ctx);
                    self.check_day(ctx, user, &d.totals, &d.top_apps, &d.top_domains)?;
                    let shots = self.shots.iter().filter(|s| s.user == user).count() as u64;
                    prop_assert!(d.screenshots <= shots, "{}: screenshots counted", ctx);
                }
            }
            Read::MyDay => {
                let r = t.my_day(p, None).await;
                let exp = match who {
                    Who::Owner => Err("forbidden"),
                    Who::User(_) => Ok(()),
                };
                if let Some(d) = outcome(ctx, r, exp)? {
                    self.check_no_leak(ctx, who, &json!(&d))?;
                    self.check_day(ctx, me, &d.totals, &d.top_apps, &d.top_domains)?;
                    prop_assert_eq!(Some(d.policy.company_id), own_company, "{}", ctx);
                }
            }
            Read::MonthlyReport => {
                use chrono::Datelike;
                let r = t
                    .monthly_report(p, today.year(), today.month(), about)
                    .await;
                if let Some(grid) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&grid))?;
                    let users = users_of(about);
                    let got: BTreeSet<UserId> = grid.cells.iter().map(|c| c.user_id).collect();
                    prop_assert_eq!(&got, &users, "{}: users of the grid", ctx);
                    let totals: BTreeSet<UserId> = grid.user_totals.keys().copied().collect();
                    prop_assert_eq!(&totals, &users, "{}: users of the totals", ctx);
                    self.check_cells(ctx, grid.cells.iter().map(|c| (c.user_id, &c.totals)))?;
                }
            }
            Read::Timesheet | Read::MyExport => {
                let from = today - Duration::days(13);
                let (about, r) = if matches!(read, Read::MyExport) {
                    (Some(me), t.my_export(p, from, today).await)
                } else {
                    (about, t.timesheet(p, from, today, about).await)
                };
                if let Some(rows) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&rows))?;
                    let users = users_of(about);
                    let got: BTreeSet<UserId> = rows.iter().map(|r| r.user_id).collect();
                    prop_assert_eq!(&got, &users, "{}: users of the timesheet", ctx);
                    for row in &rows {
                        let u = self.users.iter().find(|u| u.id == row.user_id);
                        prop_assert_eq!(
                            u.map(|u| u.username.as_str()),
                            Some(row.username.as_str()),
                            "{}: username of {}",
                            ctx,
                            row.user_id
                        );
                    }
                    self.check_cells(ctx, rows.iter().map(|r| (r.user_id, &r.totals)))?;
                }
            }
            Read::UsageApps | Read::UsageDomains => {
                let by_domain = matches!(read, Read::UsageDomains);
                let from = today - Duration::days(13);
                let r = t.usage_report(p, from, today, about, by_domain).await;
                if let Some(report) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&report))?;
                    let users = users_of(about);
                    let got: BTreeSet<UserId> = report.by_user.keys().copied().collect();
                    prop_assert_eq!(&got, &users, "{}: users of the usage report", ctx);
                    for (user, entries) in &report.by_user {
                        let name = if by_domain {
                            domain_of(*user)
                        } else {
                            app_of(*user)
                        };
                        for e in entries {
                            prop_assert_eq!(&e.name, &name, "{}: usage of {}", ctx, user);
                        }
                    }
                }
            }
            Read::Tasks | Read::MyTasks => {
                let (about, r) = if matches!(read, Read::MyTasks) {
                    (Some(me), t.my_tasks(p, None, &all()).await)
                } else {
                    let q = TaskQuery {
                        assignee_id: about,
                        status: None,
                    };
                    (about, t.tasks(p, &q, &all()).await)
                };
                if let Some(page) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    let users = users_of(about);
                    let expected = self
                        .tasks
                        .iter()
                        .filter(|k| users.contains(&k.assignee))
                        .map(|k| k.id)
                        .collect();
                    let items = page
                        .items
                        .iter()
                        .map(|k| (k.id, k.company_id, k.assignee_id));
                    self.check_items(ctx, who, items, &users, expected)?;
                }
            }
            Read::Corrections => {
                let r = t.corrections(p, None, about, &all()).await;
                if let Some(page) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    let users = users_of(about);
                    let expected = self
                        .corrections
                        .iter()
                        .filter(|k| users.contains(&k.user))
                        .map(|k| k.id)
                        .collect();
                    let items = page.items.iter().map(|k| (k.id, k.company_id, k.user_id));
                    self.check_items(ctx, who, items, &users, expected)?;
                }
            }
            Read::CompanyAudit => {
                let r = t.company_audit(p, &AuditFilter::default(), &all()).await;
                if let Some(page) = outcome(ctx, r, self.exp_admin(who))? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    let own = own_company.expect("an admin");
                    let chain = self.chain_len(AuditChain::Company(own)).await;
                    prop_assert_eq!(page.items.len(), chain, "{}: the whole chain", ctx);
                    for e in &page.items {
                        prop_assert_eq!(e.chain, AuditChain::Company(own), "{}", ctx);
                    }
                }
            }
            Read::VerifyCompanyAudit => {
                let r = t.verify_company_audit(p).await;
                if let Some(v) = outcome(ctx, r, self.exp_admin(who))? {
                    prop_assert!(v.broken.is_none(), "{}: {:?}", ctx, v.broken);
                }
            }
            Read::Agents => {
                let r = t.agents(p, &all()).await.map(|p| p.items);
                if let Some(agents) = outcome(ctx, r, exp_scope(None))? {
                    self.check_no_leak(ctx, who, &json!(&agents))?;
                    let got: BTreeSet<UserId> = agents.iter().map(|a| a.user_id).collect();
                    prop_assert_eq!(got, users_of(None), "{}: agents listed", ctx);
                }
            }
            Read::Teams => {
                let r = t.list_teams(p, &all()).await.map(|p| p.items);
                if let (Some(teams), Who::User(i)) = (outcome(ctx, r, exp_scope(None))?, who) {
                    self.check_no_leak(ctx, who, &json!(&teams))?;
                    let u = &self.users[i];
                    let expected: BTreeSet<TeamId> = self.companies[u.company]
                        .teams
                        .iter()
                        .filter(|(_, m)| u.role == Role::Admin || **m == u.id)
                        .map(|(id, _)| *id)
                        .collect();
                    let got: BTreeSet<TeamId> = teams.iter().map(|t| t.id).collect();
                    prop_assert_eq!(got, expected, "{}: teams listed", ctx);
                    for team in &teams {
                        prop_assert_eq!(Some(team.company_id), own_company, "{}", ctx);
                    }
                }
            }
            Read::Policy => {
                let r = t.policy(p).await;
                let exp = match who {
                    Who::Owner => Err("forbidden"),
                    Who::User(_) => Ok(()),
                };
                if let (Some(policy), Who::User(i)) = (outcome(ctx, r, exp)?, who) {
                    let c = &self.companies[self.users[i].company];
                    prop_assert_eq!(&policy.policy, &c.policy, "{}", ctx);
                }
            }
            Read::CompanyUsage => {
                let r = t.company_usage(p, today - Duration::days(30), today).await;
                if let Some(rows) = outcome(ctx, r, self.exp_admin(who))? {
                    self.check_no_leak(ctx, who, &json!(&rows))?;
                    for row in &rows {
                        prop_assert_eq!(Some(row.company_id), own_company, "{}", ctx);
                    }
                }
            }
        }
        Ok(Allowed::nothing())
    }

    /// A day of one user holds only that user's apps and domains, and no
    /// more time than its events and approved corrections.
    fn check_day(
        &self,
        ctx: &str,
        user: UserId,
        totals: &tracker::report::Totals,
        apps: &[tracker::report::UsageEntry],
        domains: &[tracker::report::UsageEntry],
    ) -> Result<(), TestCaseError> {
        for a in apps {
            prop_assert_eq!(&a.name, &app_of(user), "{}: an app of someone else", ctx);
        }
        for d in domains {
            prop_assert_eq!(
                &d.name,
                &domain_of(user),
                "{}: a domain of someone else",
                ctx
            );
        }
        let counted = totals.active_seconds + totals.idle_seconds;
        prop_assert!(
            counted <= self.bound(user),
            "{}: {} seconds counted for {}, at most {} are its own",
            ctx,
            counted,
            user,
            self.bound(user)
        );
        Ok(())
    }

    /// Cells of a grid count, per user, no more than that user's own time.
    fn check_cells<'a>(
        &self,
        ctx: &str,
        cells: impl Iterator<Item = (UserId, &'a tracker::report::Totals)>,
    ) -> Result<(), TestCaseError> {
        let mut per_user: BTreeMap<UserId, u64> = BTreeMap::new();
        for (user, t) in cells {
            *per_user.entry(user).or_default() += t.active_seconds + t.idle_seconds;
        }
        for (user, counted) in per_user {
            prop_assert!(
                counted <= self.bound(user),
                "{}: {} seconds counted for {}, at most {} are its own",
                ctx,
                counted,
                user,
                self.bound(user)
            );
        }
        Ok(())
    }

    async fn chain_len(&self, chain: AuditChain) -> usize {
        self.tracker
            .store()
            .audit()
            .read_chain(chain, 0, 1_000_000)
            .await
            .expect("chain")
            .len()
    }

    async fn read_image(&self, ctx: &str, who: Who, shot: Pick) -> Result<Allowed, TestCaseError> {
        let id = self
            .pick_object(who, shot, self.shots.iter().map(|s| (s.company, s.user)))
            .map_or_else(ScreenshotId::new, |k| self.shots[k].id);
        let mut own = None;
        let exp = match who {
            Who::Owner => Err("forbidden"),
            Who::User(i) => {
                let u = &self.users[i];
                own = self
                    .shots
                    .iter()
                    .find(|s| s.company == u.company && s.id == id);
                match own {
                    Some(s) if u.visible.contains(&s.user) => Ok(()),
                    _ => Err("not_found"),
                }
            }
        };
        let r = self.tracker.screenshot_image(self.principal(who), id).await;
        if let (Some((meta, bytes)), Some(model)) = (outcome(ctx, r, exp)?, own) {
            self.check_no_leak(ctx, who, &json!(&meta))?;
            prop_assert_eq!(meta.id, id, "{}", ctx);
            prop_assert_eq!(meta.company_id, self.companies[model.company].id, "{}", ctx);
            prop_assert_eq!(meta.user_id, model.user, "{}", ctx);
            prop_assert!(
                bytes == model.bytes,
                "{}: the image of another screenshot",
                ctx
            );
        }
        Ok(Allowed::nothing())
    }

    // ---- platform -------------------------------------------------------------------------

    async fn platform(
        &self,
        ctx: &str,
        who: Who,
        op: PlatformOp,
        company: Index,
    ) -> Result<Allowed, TestCaseError> {
        let p = self.principal(who);
        let t = &self.tracker;
        let owner_only = match who {
            Who::Owner => Ok(()),
            Who::User(_) => Err("forbidden"),
        };
        let all_ids: BTreeSet<CompanyId> = self.companies.iter().map(|c| c.id).collect();
        let today = self.today();
        match op {
            PlatformOp::ListCompanies => {
                let r = t.list_companies(p, &all()).await;
                if let Some(page) = outcome(ctx, r, owner_only)? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    let got: BTreeSet<CompanyId> =
                        page.items.iter().map(|s| s.company.id).collect();
                    prop_assert_eq!(got, all_ids, "{}", ctx);
                    for s in &page.items {
                        let c = self.companies.iter().find(|c| c.id == s.company.id);
                        let seats = c.map_or(0, |c| c.users.len()) as u32;
                        prop_assert_eq!(s.seats_used, seats, "{}: seats", ctx);
                    }
                }
            }
            PlatformOp::CompanyDetail => {
                let target = self.company_pick(company);
                let id = target.map_or_else(CompanyId::new, |c| self.companies[c].id);
                let exp = match who {
                    Who::Owner if target.is_some() => Ok(()),
                    Who::Owner => Err("not_found"),
                    // A company user: its own company is refused, another
                    // one does not exist for it.
                    Who::User(i) if target == Some(self.users[i].company) => Err("forbidden"),
                    Who::User(_) => Err("not_found"),
                };
                let r = t.company_detail(p, id).await;
                if let (Some(d), Some(c)) = (outcome(ctx, r, exp)?, target) {
                    self.check_no_leak(ctx, who, &json!(&d))?;
                    prop_assert_eq!(d.summary.company.id, id, "{}", ctx);
                    for row in &d.usage {
                        prop_assert_eq!(row.company_id, id, "{}", ctx);
                    }
                    for s in &d.subscriptions {
                        prop_assert_eq!(s.company_id, id, "{}", ctx);
                    }
                    let stored: u64 = self
                        .shots
                        .iter()
                        .filter(|s| s.company == c)
                        .map(|s| s.bytes.len() as u64)
                        .sum();
                    prop_assert_eq!(d.storage_used_bytes, stored, "{}: storage used", ctx);
                }
            }
            PlatformOp::OwnerReport => {
                let r = t.owner_report(p, today - Duration::days(30), today).await;
                if let Some(report) = outcome(ctx, r, owner_only)? {
                    self.check_no_leak(ctx, who, &json!(&report))?;
                    let got: BTreeSet<CompanyId> = report
                        .companies_by_usage
                        .iter()
                        .map(|c| c.company_id)
                        .collect();
                    prop_assert_eq!(got, all_ids, "{}", ctx);
                    for row in &report.companies_by_usage {
                        let c = self
                            .companies
                            .iter()
                            .find(|c| c.id == row.company_id)
                            .expect("checked");
                        let bound: u64 = c.users.iter().map(|u| self.bound(*u)).sum();
                        prop_assert!(
                            row.active_seconds <= bound,
                            "{}: {} active seconds for company {}, at most {} are its own",
                            ctx,
                            row.active_seconds,
                            row.company_id,
                            bound
                        );
                    }
                }
            }
            PlatformOp::NoSync => {
                let r = t.no_sync_companies(p, &all()).await.map(|p| p.items);
                if let Some(list) = outcome(ctx, r, owner_only)? {
                    self.check_no_leak(ctx, who, &json!(&list))?;
                    for c in &list {
                        prop_assert!(all_ids.contains(&c.company_id), "{}", ctx);
                    }
                }
            }
            PlatformOp::PlatformAudit => {
                let r = t.platform_audit(p, &AuditFilter::default(), &all()).await;
                if let Some(page) = outcome(ctx, r, owner_only)? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    let chain = self.chain_len(AuditChain::Platform).await;
                    prop_assert_eq!(page.items.len(), chain, "{}: the whole chain", ctx);
                    for e in &page.items {
                        prop_assert_eq!(e.chain, AuditChain::Platform, "{}", ctx);
                    }
                }
            }
            PlatformOp::VerifyPlatformAudit => {
                let r = t.verify_platform_audit(p).await;
                if let Some(v) = outcome(ctx, r, owner_only)? {
                    prop_assert!(v.broken.is_none(), "{}: {:?}", ctx, v.broken);
                }
            }
            PlatformOp::ListPlans => {
                let r = t.list_plans(p).await;
                outcome(ctx, r, owner_only)?;
            }
        }
        Ok(Allowed::nothing())
    }

    async fn lifecycle(
        &self,
        ctx: &str,
        who: Who,
        op: LifecycleOp,
        company: Index,
    ) -> Result<Allowed, TestCaseError> {
        let target = self.company_pick(company);
        let id = target.map_or_else(CompanyId::new, |c| self.companies[c].id);
        let p = self.principal(who);
        let t = &self.tracker;
        let Who::User(i) = who else {
            let days = 30 + company.index(300) as u32;
            let exp = if target.is_some() {
                Ok(())
            } else {
                Err("not_found")
            };
            let r = t.set_retention(p, id, days).await;
            let (Some(updated), Some(c)) = (outcome(ctx, r, exp)?, target) else {
                return Ok(Allowed::nothing());
            };
            prop_assert_eq!(updated.id, id, "{}", ctx);
            prop_assert_eq!(updated.retention_days, days, "{}", ctx);
            return Ok(Allowed::company(c).audited(Scope::Platform));
        };
        // Company users may not touch any company's lifecycle: their own
        // is refused, another does not exist for them.
        let exp = if target == Some(self.users[i].company) {
            Err("forbidden")
        } else {
            Err("not_found")
        };
        match op {
            LifecycleOp::Suspend => {
                outcome(ctx, t.suspend_company(p, id, None).await, exp)?;
            }
            LifecycleOp::RotateKey => {
                outcome(ctx, t.rotate_company_key(p, id).await, exp)?;
            }
            LifecycleOp::Retention => {
                outcome(ctx, t.set_retention(p, id, 30).await, exp)?;
            }
            LifecycleOp::ChangePlan => {
                let req = ChangePlan {
                    plan: "ENTERPRISE".into(),
                    expires_at: None,
                    amount_cents: None,
                };
                outcome(ctx, t.change_plan(p, id, req).await, exp)?;
            }
        }
        Ok(Allowed::nothing())
    }

    async fn manage_user(
        &self,
        ctx: &str,
        who: Who,
        target: UserId,
        deactivate: bool,
    ) -> Result<Allowed, TestCaseError> {
        let exp = match who {
            Who::Owner => Err("forbidden"),
            Who::User(i) => {
                let u = &self.users[i];
                let same_company = self.company_of_user(target) == Some(u.company);
                match u.role {
                    Role::Admin if !same_company => Err("not_found"),
                    Role::Admin if deactivate && target == u.id => Err("invalid_state"),
                    // It would succeed; see `Op::ManageUser`.
                    Role::Admin if deactivate => return Ok(Allowed::nothing()),
                    Role::Admin => Ok(()),
                    _ if u.visible.contains(&target) => Err("forbidden"),
                    _ => Err("not_found"),
                }
            }
        };
        let p = self.principal(who);
        if deactivate {
            outcome(ctx, self.tracker.deactivate_user(p, target).await, exp)?;
            return Ok(Allowed::nothing());
        }
        let changes = UserChanges {
            display_name: Some(format!("Renamed by {me}", me = p.user_id())),
            ..Default::default()
        };
        let r = self.tracker.update_user(p, target, changes).await;
        let (Some(user), Who::User(i)) = (outcome(ctx, r, exp)?, who) else {
            return Ok(Allowed::nothing());
        };
        prop_assert_eq!(user.id, target, "{}", ctx);
        Ok(Allowed::nothing().audited(Scope::Company(self.users[i].company)))
    }

    async fn foreign_team(
        &self,
        ctx: &str,
        who: Who,
        member: Index,
    ) -> Result<Allowed, TestCaseError> {
        // A user outside the caller's company (another tenant's user, the
        // OWNER, or an unknown id).
        let own = match who {
            Who::Owner => None,
            Who::User(i) => Some(self.users[i].company),
        };
        let mut outside: Vec<UserId> = self
            .users
            .iter()
            .filter(|u| Some(u.company) != own)
            .map(|u| u.id)
            .collect();
        outside.push(self.owner.user_id());
        outside.push(UserId::new());
        let member = outside[member.index(outside.len())];
        // Team members are fields of the request, not targets: an ADMIN
        // gets a validation error naming the field ("is not a user of this
        // company", the same for an unknown id, so nothing leaks).
        let exp = match self.role(who) {
            Role::Admin => Err("validation"),
            _ => Err("forbidden"),
        };
        let r = self
            .tracker
            .create_team(
                self.principal(who),
                NewTeam {
                    name: "Borrowed people".into(),
                    managers: Vec::new(),
                    members: vec![member],
                },
            )
            .await;
        outcome(ctx, r, exp)?;
        Ok(Allowed::nothing())
    }

    async fn aggregate(&self, ctx: &str, c: usize) -> Result<Allowed, TestCaseError> {
        let today = self.today();
        let id = self.companies[c].id;
        let r = self
            .tracker
            .aggregate_usage(id, today - Duration::days(14), today)
            .await;
        let Some(rows) = outcome(ctx, r, Ok(()))? else {
            return Ok(Allowed::nothing());
        };
        let bound: u64 = self.companies[c].users.iter().map(|u| self.bound(*u)).sum();
        let counted: u64 = rows.iter().map(|r| r.active_seconds + r.idle_seconds).sum();
        prop_assert!(
            counted <= bound,
            "{}: {} seconds counted for company {}, at most {} are its own",
            ctx,
            counted,
            c,
            bound
        );
        for row in &rows {
            prop_assert_eq!(row.company_id, id, "{}", ctx);
        }
        Ok(Allowed::company(c))
    }

    // ---- the end of a case ---------------------------------------------------------------

    async fn finish(&self) -> Result<(), TestCaseError> {
        let s = self.tracker.store();
        for (ci, c) in self.companies.iter().enumerate() {
            let admin = self
                .users
                .iter()
                .find(|u| u.company == ci && u.role == Role::Admin)
                .expect("an admin");
            let v = self
                .tracker
                .verify_company_audit(&admin.principal)
                .await
                .map_err(|e| TestCaseError::fail(format!("verify company {ci}: {e}")))?;
            prop_assert!(v.broken.is_none(), "company {}: {:?}", ci, v.broken);
            prop_assert_eq!(
                v.events as usize,
                self.chain_len(AuditChain::Company(c.id)).await,
                "company {}: every event checked",
                ci
            );

            // The store holds exactly the model's data: the same ids, each
            // of the same user, so each of a user of this company.
            let (f, tr, w) = (TrackingFilter::default(), s.tracking(), s.work());
            let sessions = tr.list_sessions(c.id, &f, &all()).await.expect("sessions");
            let activity = tr.list_activity(c.id, &f, &all()).await.expect("activity");
            let shots = tr.list_screenshots(c.id, &f, &all()).await.expect("shots");
            let tasks = w.list_tasks(c.id, &Default::default(), &all()).await;
            let corrections = w.list_corrections(c.id, &Default::default(), &all()).await;
            let stored = [
                (
                    "sessions",
                    sessions.items.iter().map(|x| (x.id.0, x.user_id)).collect(),
                ),
                (
                    "activity",
                    activity.items.iter().map(|x| (x.id.0, x.user_id)).collect(),
                ),
                (
                    "screenshots",
                    shots.items.iter().map(|x| (x.id.0, x.user_id)).collect(),
                ),
                (
                    "tasks",
                    tasks
                        .expect("tasks")
                        .items
                        .iter()
                        .map(|x| (x.id.0, x.assignee_id))
                        .collect(),
                ),
                (
                    "corrections",
                    corrections
                        .expect("corrections")
                        .items
                        .iter()
                        .map(|x| (x.id.0, x.user_id))
                        .collect::<BTreeSet<_>>(),
                ),
            ];
            let of = |company: usize| company == ci;
            let modelled = [
                self.sessions
                    .iter()
                    .filter(|m| of(m.company))
                    .map(|m| (m.id.0, m.user))
                    .collect(),
                self.activity
                    .iter()
                    .filter(|m| of(m.company))
                    .map(|m| (m.id.0, m.user))
                    .collect(),
                self.shots
                    .iter()
                    .filter(|m| of(m.company))
                    .map(|m| (m.id.0, m.user))
                    .collect(),
                self.tasks
                    .iter()
                    .filter(|m| of(m.company))
                    .map(|m| (m.id.0, m.assignee))
                    .collect(),
                self.corrections
                    .iter()
                    .filter(|m| of(m.company))
                    .map(|m| (m.id.0, m.user))
                    .collect::<BTreeSet<_>>(),
            ];
            for ((what, stored), modelled) in stored.into_iter().zip(modelled) {
                prop_assert_eq!(stored, modelled, "end of case, company {}: {}", ci, what);
            }
        }
        let v = self
            .tracker
            .verify_platform_audit(&self.owner)
            .await
            .map_err(|e| TestCaseError::fail(format!("verify platform: {e}")))?;
        prop_assert!(v.broken.is_none(), "platform: {:?}", v.broken);
        prop_assert_eq!(
            v.events as usize,
            self.chain_len(AuditChain::Platform).await,
            "platform: every event checked"
        );
        Ok(())
    }
}

#[derive(Default)]
struct Snapshot {
    /// Each scope's parts, serialized.
    scopes: BTreeMap<Scope, BTreeMap<&'static str, String>>,
    /// Each scope's audit chain length.
    chains: BTreeMap<Scope, usize>,
}
