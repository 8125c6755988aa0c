//! The random input: company shapes, callers, picks and operations.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;

use crate::{PolicyUpdate, Role};

// ---- the random input -----------------------------------------------------

/// The shape of one company. Manager `k` manages team `k`.
#[derive(Debug, Clone)]
pub(super) struct CompanySpec {
    /// Per employee, the teams it is a member of (bit `k`: team `k`).
    pub(super) employees: Vec<u8>,
    /// Manager 1 is also a member of team 0 (so manager 0 sees it).
    pub(super) manager1_in_team0: bool,
    /// The admin is also a member of team 1 (so manager 1 sees it).
    pub(super) admin_in_team1: bool,
}

pub(super) fn company_spec() -> impl Strategy<Value = CompanySpec> {
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
pub(super) struct Caller {
    pub(super) role: Role,
    pub(super) index: Index,
}

pub(super) fn caller() -> impl Strategy<Value = Caller> {
    let role = prop_oneof![
        1 => Just(Role::Owner),
        2 => Just(Role::Admin),
        2 => Just(Role::Manager),
        2 => Just(Role::Employee),
    ];
    (role, any::<Index>()).prop_map(|(role, index)| Caller { role, index })
}

/// A company user running an agent.
pub(super) fn agent_caller() -> impl Strategy<Value = Caller> {
    let role = prop_oneof![Just(Role::Admin), Just(Role::Manager), Just(Role::Employee)];
    (role, any::<Index>()).prop_map(|(role, index)| Caller { role, index })
}

/// The user an operation is about, relative to the caller.
#[derive(Debug, Clone, Copy)]
pub(super) enum UserPick {
    Me,
    /// Someone the caller may see.
    Visible(Index),
    SameCompany(Index),
    OtherCompany(Index),
    Owner,
    Unknown,
}

pub(super) fn user_pick() -> impl Strategy<Value = UserPick> {
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
pub(super) enum Pick {
    Fresh,
    Mine(Index),
    Visible(Index),
    SameCompany(Index),
    AnyCompany(Index),
}

pub(super) fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        1 => Just(Pick::Fresh),
        2 => any::<Index>().prop_map(Pick::Mine),
        2 => any::<Index>().prop_map(Pick::Visible),
        2 => any::<Index>().prop_map(Pick::SameCompany),
        2 => any::<Index>().prop_map(Pick::AnyCompany),
    ]
}

#[derive(Debug, Clone, Copy)]
pub(super) enum SentVersion {
    Current,
    Stale,
    Missing,
}

#[derive(Debug, Clone)]
pub(super) struct EventSpec {
    pub(super) ago_min: i64,
    pub(super) seconds: u32,
    pub(super) active: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Read {
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
    /// Who read the caller's data.
    MyAccessLog,
    /// Who read whose data in the caller's company.
    CompanyAccessLog,
    /// Everything kept about the caller, as an archive.
    MyArchive,
}

pub(super) fn read() -> impl Strategy<Value = Read> {
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
        Just(MyAccessLog),
        Just(CompanyAccessLog),
        Just(MyArchive),
    ]
}

#[derive(Debug, Clone, Copy)]
pub(super) enum AgentRead {
    Tasks,
    SyncStatus,
    Policy,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum PlatformOp {
    ListCompanies,
    CompanyDetail,
    OwnerReport,
    NoSync,
    PlatformAudit,
    VerifyPlatformAudit,
    ListPlans,
}

/// Privacy actions on a person: those that would succeed (changing who may
/// do what, or deleting the model's data) are not attempted.
#[derive(Debug, Clone, Copy)]
pub(super) enum PrivacyAct {
    /// An ADMIN erases a person.
    Erase,
    /// An ADMIN places a legal hold on a person.
    Hold,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum LifecycleOp {
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
pub(super) enum Op {
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
    /// Erases, or holds, a person.
    Privacy {
        who: Caller,
        target: UserPick,
        act: PrivacyAct,
    },
    /// Acknowledges the company's newest policy version.
    Acknowledge {
        who: Caller,
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

pub(super) fn policy_update() -> impl Strategy<Value = PolicyUpdate> {
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
            ..PolicyUpdate::default()
        })
}

pub(super) fn op() -> impl Strategy<Value = Op> {
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
        1 => (who(), user_pick(), prop_oneof![Just(PrivacyAct::Erase), Just(PrivacyAct::Hold)])
            .prop_map(|(who, target, act)| Op::Privacy { who, target, act }),
        1 => who().prop_map(|who| Op::Acknowledge { who }),
        1 => any::<Index>().prop_map(|company| Op::Aggregate { company }),
        1 => (1i64..=30).prop_map(|minutes| Op::Tick { minutes }),
    ]
}
