//! Transport-neutral messages: what clients send to the
//! [`Tracker`](crate::Tracker) and what it answers. HTTP is one transport;
//! the same serde types travel over a queue or gRPC unchanged.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditAction;
use crate::identity::{Role, User};
use crate::ids::*;
use crate::policy::TrackingPolicy;
use crate::report::{TimelineBlock, Totals};
use crate::secret::{ApiToken, CompanyKey};
use crate::store::AuditFilter;
use crate::tenancy::{Company, CompanyStatus, Plan, Subscription};

mod privacy;
use crate::tracking::{ActivityInput, Liveness};
use crate::work::{CompanyUsageDaily, CorrectionStatus, TaskStatus};
pub use privacy::*;

/// Login with username and password. Company users send their company key;
/// an OWNER sends none.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// The company key (company users).
    #[serde(default)]
    pub company_key: Option<String>,
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A successful login.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// The bearer token; shown once.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub token: ApiToken,
    /// When the token dies.
    pub expires_at: DateTime<Utc>,
    /// The user.
    pub user: User,
    /// The company, for company users.
    pub company: Option<Company>,
}

/// An agent's heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeartbeatRequest {
    /// The policy version the agent applies.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 9223372036854775807_u64)
    )]
    pub policy_version: Option<u64>,
    /// The agent's software version.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::agent_version))]
    pub agent_version: Option<String>,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeartbeatResponse {
    /// Server time, to correct the agent's clock.
    pub server_time: DateTime<Utc>,
    /// Whether the agent may track now.
    pub tracking_allowed: bool,
    /// The current policy version.
    pub policy_version: u64,
    /// Whether the agent must fetch the policy again.
    pub policy_changed: bool,
    /// The company's effective status.
    pub company_status: CompanyStatus,
}

/// The policy as an agent or a user fetches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyResponse {
    /// The policy that applies to the caller now (its `pending` is empty:
    /// see [`pending`](Self::pending)).
    pub policy: TrackingPolicy,
    /// Whether tracking is allowed now: false when the company is suspended
    /// or expired or the user inactive. The agent must stop when false.
    pub tracking_allowed: bool,
    /// ETag of this version.
    pub etag: String,
    /// An announced change that does not apply to the caller yet.
    pub pending: Option<PolicyNotice>,
    /// What is stored about the caller under `policy`, in plain words.
    pub explanation: Vec<String>,
}

/// An agent opens a work session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StartSession {
    /// Client-generated id; replaying it is harmless.
    pub id: WorkSessionId,
    /// Start.
    pub started_at: DateTime<Utc>,
}

/// An agent closes a work session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StopSession {
    /// Stop time.
    pub stopped_at: DateTime<Utc>,
}

/// A batch of activity events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityBatch {
    /// The events: all stored or none.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub events: Vec<ActivityInput>,
}

/// What a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestReport {
    /// Events received.
    pub received: u64,
    /// Events newly stored.
    pub inserted: u64,
    /// Events already stored before (replays).
    pub duplicates: u64,
}

/// Metadata of a screenshot upload; the image bytes travel beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScreenshotUpload {
    /// Client-generated id.
    pub id: ScreenshotId,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// Whether the agent blurred it.
    #[serde(default)]
    pub blurred: bool,
}

/// What the server knows of an agent's sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncStatus {
    /// Server time.
    pub server_time: DateTime<Utc>,
    /// The user's last heartbeat.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// Liveness as the server sees it.
    pub liveness: Liveness,
    /// The current policy version.
    pub policy_version: u64,
    /// The policy version the agent last reported.
    pub agent_policy_version: Option<u64>,
    /// The company's effective status.
    pub company_status: CompanyStatus,
}

/// A new user, as an ADMIN creates it (or as the first admin of a company).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewUser {
    /// Username.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::username))]
    pub username: String,
    /// Initial password.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::password))]
    pub password: String,
    /// Email.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::email))]
    pub email: Option<String>,
    /// Display name; the username if absent.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::display_name))]
    pub display_name: Option<String>,
    /// Role: ADMIN, MANAGER or EMPLOYEE (default EMPLOYEE).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::CompanyRole>))]
    pub role: Option<Role>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("password", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A change of a user; absent fields keep their value.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserChanges {
    /// New email.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::email))]
    pub email: Option<String>,
    /// New display name.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::new_display_name))]
    pub display_name: Option<String>,
    /// New role (not OWNER).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::CompanyRole>))]
    pub role: Option<Role>,
    /// New password.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::new_password))]
    pub password: Option<String>,
}

impl std::fmt::Debug for UserChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserChanges")
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("role", &self.role)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// A change a user makes to its own account; absent fields keep their
/// value. A new password needs the current one.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileChanges {
    /// New display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New email; an empty one removes it.
    #[serde(default)]
    pub email: Option<String>,
    /// The current password: required with `new_password`.
    #[serde(default)]
    pub current_password: Option<String>,
    /// New password.
    #[serde(default)]
    pub new_password: Option<String>,
}

impl std::fmt::Debug for ProfileChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileChanges")
            .field("display_name", &self.display_name)
            .field("email", &self.email)
            .field(
                "current_password",
                &self.current_password.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "new_password",
                &self.new_password.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// An OWNER creates a company with its first ADMIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateCompany {
    /// Name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub name: String,
    /// Plan code (default FREE).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_plan_code))]
    pub plan: Option<String>,
    /// IANA timezone (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Trial length in days, 1 to 365 (default 14); 0 starts ACTIVE.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 365))]
    pub trial_days: Option<u32>,
    /// Retention of tracking data in days (default 90).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub retention_days: Option<u32>,
    /// The first ADMIN.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::NewAdmin))]
    pub admin: NewUser,
}

/// A new company and its key, shown once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompanyCreated {
    /// The company.
    pub company: Company,
    /// The company key in clear text: shown this once.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub company_key: CompanyKey,
    /// The first ADMIN.
    pub admin: User,
}

/// An OWNER changes or renews a company's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePlan {
    /// Plan code.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::plan_code))]
    pub plan: String,
    /// End of the paid period; `None` for open-ended.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Amount charged in cents (default: the plan's monthly price).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 9223372036854775807_u64)
    )]
    pub amount_cents: Option<u64>,
}

/// A company as the OWNER's list shows it: numbers only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompanySummary {
    /// The company.
    pub company: Company,
    /// Status with the clock applied.
    pub effective_status: CompanyStatus,
    /// Plan code.
    pub plan_code: String,
    /// Seats in use.
    pub seats_used: u32,
    /// Seats allowed.
    pub seats_limit: u32,
    /// Whether it raises a no-sync alert now.
    pub no_sync: bool,
}

/// A company in detail for the OWNER: numbers, billing and usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompanyDetail {
    /// Summary.
    #[serde(flatten)]
    pub summary: CompanySummary,
    /// The plan.
    pub plan: Plan,
    /// Bytes of screenshots stored.
    pub storage_used_bytes: u64,
    /// Billing history.
    pub subscriptions: Vec<Subscription>,
    /// Daily usage of the last 30 days.
    pub usage: Vec<CompanyUsageDaily>,
}

/// One company's numbers in the OWNER report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompanyUsageTotal {
    /// Company.
    pub company_id: CompanyId,
    /// Name.
    pub name: String,
    /// Active seconds in the period.
    pub active_seconds: u64,
    /// Screenshots in the period.
    pub screenshots: u64,
    /// Most active users on a day in the period.
    pub peak_active_users: u32,
    /// Screenshot bytes stored, as of the period's last day with usage.
    pub storage_bytes: u64,
}

/// The OWNER's platform report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OwnerReport {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Companies by active time, largest first.
    pub companies_by_usage: Vec<CompanyUsageTotal>,
    /// Companies per plan code.
    pub plan_distribution: BTreeMap<String, u64>,
    /// Monthly recurring revenue in cents: plan prices of effectively ACTIVE companies.
    pub mrr_cents: u64,
    /// Companies per effective status.
    pub status_counts: BTreeMap<String, u64>,
}

/// A company without sync for 24 hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoSyncCompany {
    /// Company.
    pub company_id: CompanyId,
    /// Name.
    pub name: String,
    /// Last sync, if any.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Hours since the last sync (or creation).
    pub hours_without_sync: i64,
    /// When the open no-sync alert of the company was raised, if the
    /// alert job has raised one.
    pub alert_raised_at: Option<DateTime<Utc>>,
}

/// One agent in the company's agent list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentStatus {
    /// User.
    pub user_id: UserId,
    /// Username.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Last heartbeat.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// Online, stale, offline or never.
    pub liveness: Liveness,
    /// Policy version the agent applies.
    pub policy_version: Option<u64>,
    /// Whether that is older than the current policy.
    pub policy_outdated: bool,
    /// Agent software version.
    pub agent_version: Option<String>,
}

/// A new team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewTeam {
    /// Name, unique in the company.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub name: String,
    /// Managers (MANAGER or ADMIN users).
    #[serde(default)]
    pub managers: Vec<UserId>,
    /// Members.
    #[serde(default)]
    pub members: Vec<UserId>,
}

/// A change of a team; absent fields keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamChanges {
    /// New name.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::new_name))]
    pub name: Option<String>,
    /// New managers.
    #[serde(default)]
    pub managers: Option<Vec<UserId>>,
    /// New members.
    #[serde(default)]
    pub members: Option<Vec<UserId>>,
}

/// A new task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewTask {
    /// Title.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::title))]
    pub title: String,
    /// Description.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::description))]
    pub description: Option<String>,
    /// Assignee.
    pub assignee_id: UserId,
    /// Due date.
    #[serde(default)]
    pub due_on: Option<NaiveDate>,
}

/// Completing a task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompleteTask {
    /// What was done.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::task_note))]
    pub note: Option<String>,
}

/// A correction request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewCorrection {
    /// Start of the span: within the last 14 days.
    pub starts_at: DateTime<Utc>,
    /// End of the span: after `starts_at`, at most 24 hours after it, and
    /// not in the future.
    pub ends_at: DateTime<Utc>,
    /// Why.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::reason))]
    pub reason: String,
}

/// A decision on a correction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    /// A note for the requester.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::decision_note))]
    pub note: Option<String>,
}

/// The employee's own day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MyDay {
    /// Local date.
    pub date: NaiveDate,
    /// Totals.
    pub totals: Totals,
    /// The timeline.
    pub blocks: Vec<TimelineBlock>,
    /// Top apps.
    pub top_apps: Vec<crate::report::UsageEntry>,
    /// Top domains.
    pub top_domains: Vec<crate::report::UsageEntry>,
    /// Screenshots taken.
    pub screenshots: u64,
    /// What is tracked (transparency).
    pub policy: TrackingPolicy,
}

/// Filter of tracking lists as clients send it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct TrackingQuery {
    /// Only this user.
    #[serde(default)]
    pub user_id: Option<UserId>,
    /// From this instant.
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    /// Until this instant.
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
}

/// Filter of task lists as clients send it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct TaskQuery {
    /// Only this assignee.
    #[serde(default)]
    pub assignee_id: Option<UserId>,
    /// Only this status.
    #[serde(default)]
    pub status: Option<TaskStatus>,
}

/// An OWNER suspends a company.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuspendCompany {
    /// Why, for the audit log.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::suspend_reason))]
    pub reason: Option<String>,
}

/// An OWNER sets how long a company's tracking data is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetRetention {
    /// Days, 1 to 3650.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub retention_days: u32,
}

/// A list without a filter of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct NoFilter {}

/// Filter of the user list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct UserQuery {
    /// Only active (true) or deactivated (false) users.
    #[serde(default)]
    pub active: Option<bool>,
}

/// Filter of the correction list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct CorrectionQuery {
    /// Only this status.
    #[serde(default)]
    pub status: Option<CorrectionStatus>,
    /// Only this requester.
    #[serde(default)]
    pub user_id: Option<UserId>,
}

/// Filter of an audit list as clients send it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuditQuery {
    /// Only this action (`policy_updated`, `company_suspended`, …).
    #[serde(default)]
    pub action: Option<AuditAction>,
    /// Only this actor.
    #[serde(default)]
    pub actor_id: Option<UserId>,
    /// From this instant, included.
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    /// Until this instant, excluded.
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
}

/// The range of an audit export as clients send it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuditExportQuery {
    /// From the first event at or after this instant (default: the start).
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    /// Up to the first event at or after this instant (default: the end);
    /// not before `from` (422).
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
}

/// The deployment's audit signing key, public half.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPublicKey {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The key as 64 hex digits, as exports name their signers.
    pub public_key: String,
    /// The same key in PEM (SubjectPublicKeyInfo).
    pub pem: String,
}

impl From<crate::audit::PublicKey> for AuditPublicKey {
    fn from(key: crate::audit::PublicKey) -> Self {
        Self {
            algorithm: "ed25519".into(),
            public_key: key.to_string(),
            pem: key.to_pem(),
        }
    }
}

impl From<AuditQuery> for AuditFilter {
    fn from(q: AuditQuery) -> Self {
        AuditFilter {
            action: q.action,
            actor: q.actor_id,
            from: q.from,
            to: q.to,
        }
    }
}

/// Filter of `GET /company/alerts`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AlertQuery {
    /// Only open (`true`) or resolved (`false`) alerts.
    #[serde(default)]
    pub open: Option<bool>,
    /// Only this kind.
    #[serde(default)]
    pub kind: Option<crate::notify::AlertKind>,
}

/// One user's day: a daily report's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct DayQuery {
    /// The user.
    pub user_id: UserId,
    /// The local date.
    pub date: NaiveDate,
}

/// A day of one's own (today when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct MyDayQuery {
    /// The local date.
    #[serde(default)]
    pub date: Option<NaiveDate>,
}

/// A month grid's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct MonthQuery {
    /// Year, 1 to 9999.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 9999))]
    pub year: i32,
    /// Month, 1 to 12.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 12))]
    pub month: u32,
    /// Only this user.
    #[serde(default)]
    pub user_id: Option<UserId>,
}

/// A span of local dates, both included, optionally for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct DateRangeQuery {
    /// First day.
    pub from: NaiveDate,
    /// Last day: not before `from`, and a span of at most 93 days (422
    /// otherwise).
    pub to: NaiveDate,
    /// Only this user.
    #[serde(default)]
    pub user_id: Option<UserId>,
}

/// A span of local dates, both included, for the whole company or the
/// caller alone (usage numbers, the platform report, one's own export).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct DateSpanQuery {
    /// First day.
    pub from: NaiveDate,
    /// Last day: not before `from`, and a span of at most 93 days for
    /// one's own export, 366 for usage numbers and the platform report
    /// (422 otherwise).
    pub to: NaiveDate,
}

/// Filter of one's own tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct MyTasksQuery {
    /// Only this status.
    #[serde(default)]
    pub status: Option<TaskStatus>,
}

/// A company's new key after a rotation: shown this once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyRotated {
    /// The new key in clear text; the old one no longer works.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub company_key: CompanyKey,
}
