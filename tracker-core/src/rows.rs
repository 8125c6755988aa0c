//! Decoding stored rows into domain records, for stores built on SQL.
//!
//! A store implements [`Columns`] over its own row type (how it reads an
//! id, an instant, a flag from its column encoding); the decoders here then
//! build every record the same way in every store, with a value a store
//! cannot read reported through [`Columns::corrupt`]. Columns are read by
//! the names the stores' schemas share (`company_id`, `id`, `started_at`…).
//!
//! Platform rows (OWNER accounts, their tokens, the platform audit chain)
//! carry the all-zero company id: [`PLATFORM`].

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::audit::{Actor, AuditAction, AuditChain, AuditEvent, Checkpoint};
use crate::error::{Error, Result};
use crate::identity::{Role, Team, TokenRecord, User};
use crate::ids::*;
use crate::notify::{Alert, AlertEvent, AlertKind, AlertSettings, DeliveryRecord};
use crate::policy::{PendingPolicy, RetentionByKind, TitleRule, TrackingPolicy, UrlDetail};
use crate::secret::SecretHash;
use crate::store::{PendingUsageDay, PurgeCounts, PurgeProgress};
use crate::tenancy::{Company, CompanyStatus, Plan, Subscription};
use crate::tracking::{ActivityEvent, ActivityKind, AgentState, Screenshot, WorkSession};
use crate::work::{CompanyUsageDaily, CorrectionRequest, CorrectionStatus, Task, TaskStatus};

/// The company id stored for platform rows.
pub const PLATFORM: Uuid = Uuid::nil();

/// The stored company id of a user, token or chain (`None`: the platform).
pub fn company_key(company: Option<CompanyId>) -> Uuid {
    company.map_or(PLATFORM, |c| c.0)
}

/// The company of a stored company id (`None` for [`PLATFORM`]).
pub fn tenant(stored: Uuid) -> Option<CompanyId> {
    (stored != PLATFORM).then_some(CompanyId(stored))
}

/// Typed reads of one row's columns by name, in a store's own encoding.
pub trait Columns {
    /// The error for a value the store cannot read.
    fn corrupt(&self, column: &'static str, reason: String) -> Error;
    /// A UUID.
    fn uuid(&self, column: &'static str) -> Result<Uuid>;
    /// A nullable UUID.
    fn uuid_opt(&self, column: &'static str) -> Result<Option<Uuid>>;
    /// A list of UUIDs.
    fn uuids(&self, column: &'static str) -> Result<Vec<Uuid>>;
    /// Text.
    fn text(&self, column: &'static str) -> Result<String>;
    /// Nullable text.
    fn text_opt(&self, column: &'static str) -> Result<Option<String>>;
    /// A flag.
    fn bool(&self, column: &'static str) -> Result<bool>;
    /// A count or size that fits `u64`.
    fn u64(&self, column: &'static str) -> Result<u64>;
    /// A nullable `u64`.
    fn u64_opt(&self, column: &'static str) -> Result<Option<u64>>;
    /// A count that fits `u32`.
    fn u32(&self, column: &'static str) -> Result<u32>;
    /// An instant.
    fn time(&self, column: &'static str) -> Result<DateTime<Utc>>;
    /// A nullable instant.
    fn time_opt(&self, column: &'static str) -> Result<Option<DateTime<Utc>>>;
    /// A calendar date.
    fn date(&self, column: &'static str) -> Result<NaiveDate>;
    /// A nullable calendar date.
    fn date_opt(&self, column: &'static str) -> Result<Option<NaiveDate>>;
    /// A JSON document.
    fn json(&self, column: &'static str) -> Result<serde_json::Value>;

    /// A JSON document decoded into `T`.
    fn json_as<T: serde::de::DeserializeOwned>(&self, column: &'static str) -> Result<T>
    where
        Self: Sized,
    {
        serde_json::from_value(self.json(column)?).map_err(|e| self.corrupt(column, e.to_string()))
    }

    /// A nullable HTTP status. The provided version reads a `u64`; a store
    /// whose column type differs reads its own.
    fn status_opt(&self, column: &'static str) -> Result<Option<u16>>
    where
        Self: Sized,
    {
        self.u64_opt(column)?
            .map(|s| {
                u16::try_from(s)
                    .map_err(|_| self.corrupt(column, format!("not an HTTP status: {s}")))
            })
            .transpose()
    }

    /// Text parsed with `parse` (an enum's stable name).
    fn parsed<T>(&self, column: &'static str, parse: impl Fn(&str) -> Option<T>) -> Result<T>
    where
        Self: Sized,
    {
        let s = self.text(column)?;
        parse(&s).ok_or_else(|| self.corrupt(column, format!("unknown value {s:?}")))
    }
}

fn ids<T: From<Uuid>>(c: &impl Columns, column: &'static str) -> Result<Vec<T>> {
    Ok(c.uuids(column)?.into_iter().map(T::from).collect())
}

/// Decodes a stored plan.
pub fn plan(c: &impl Columns) -> Result<Plan> {
    Ok(Plan {
        id: PlanId(c.uuid("id")?),
        code: c.text("code")?,
        max_employees: c.u32("max_employees")?,
        max_storage_bytes: c.u64("max_storage_bytes")?,
        price_monthly_cents: c.u64("price_monthly_cents")?,
    })
}

/// Decodes a stored company.
pub fn company(c: &impl Columns) -> Result<Company> {
    Ok(Company {
        id: CompanyId(c.uuid("id")?),
        name: c.text("name")?,
        status: c.parsed("status", CompanyStatus::parse)?,
        plan_id: PlanId(c.uuid("plan_id")?),
        trial_ends_at: c.time_opt("trial_ends_at")?,
        subscription_expires_at: c.time_opt("subscription_expires_at")?,
        status_before_suspension: c
            .text_opt("status_before_suspension")?
            .as_deref()
            .and_then(CompanyStatus::parse),
        timezone: c.text("timezone")?,
        retention_days: c.u32("retention_days")?,
        last_sync_at: c.time_opt("last_sync_at")?,
        created_at: c.time("created_at")?,
        key_hash: SecretHash::from_stored(c.text("key_hash")?),
        legal_hold: c.json_as("legal_hold")?,
    })
}

/// The `legal_hold` document stored with a company (JSON `null` for none).
pub fn company_hold(company: &Company) -> serde_json::Value {
    serde_json::to_value(&company.legal_hold).unwrap_or_default()
}

/// Decodes a stored subscription.
pub fn subscription(c: &impl Columns) -> Result<Subscription> {
    Ok(Subscription {
        id: SubscriptionId(c.uuid("id")?),
        company_id: CompanyId(c.uuid("company_id")?),
        plan_id: PlanId(c.uuid("plan_id")?),
        amount_cents: c.u64("amount_cents")?,
        starts_at: c.time("starts_at")?,
        ends_at: c.time_opt("ends_at")?,
        created_by: c.uuid_opt("created_by")?.map(UserId),
        created_at: c.time("created_at")?,
    })
}

/// Decodes a stored user.
pub fn user(c: &impl Columns) -> Result<User> {
    let company = c.uuid("company_id")?;
    Ok(User {
        id: UserId(c.uuid("id")?),
        company_id: tenant(company),
        role: c.parsed("role", Role::parse)?,
        username: c.text("username")?,
        email: c.text_opt("email")?,
        display_name: c.text("display_name")?,
        active: c.bool("active")?,
        last_agent_sync_at: c.time_opt("last_agent_sync_at")?,
        password_hash: c.text("password_hash")?,
        created_at: c.time("created_at")?,
        privacy: c.json_as("privacy")?,
    })
}

/// The `privacy` document stored with a user.
pub fn user_privacy(user: &User) -> serde_json::Value {
    serde_json::to_value(&user.privacy).unwrap_or_default()
}

/// Decodes a stored token.
pub fn token(c: &impl Columns) -> Result<TokenRecord> {
    let company = c.uuid("company_id")?;
    Ok(TokenRecord {
        hash: SecretHash::from_stored(c.text("hash")?),
        user_id: UserId(c.uuid("user_id")?),
        company_id: tenant(company),
        created_at: c.time("created_at")?,
        expires_at: c.time("expires_at")?,
    })
}

/// Decodes a stored team.
pub fn team(c: &impl Columns) -> Result<Team> {
    Ok(Team {
        id: TeamId(c.uuid("id")?),
        company_id: CompanyId(c.uuid("company_id")?),
        name: c.text("name")?,
        managers: ids(c, "managers")?,
        members: ids(c, "members")?,
        created_at: c.time("created_at")?,
    })
}

/// Decodes a stored policy.
pub fn policy(c: &impl Columns) -> Result<TrackingPolicy> {
    let privacy: PolicyPrivacy = c.json_as("privacy")?;
    Ok(TrackingPolicy {
        company_id: CompanyId(c.uuid("company_id")?),
        screenshots_enabled: c.bool("screenshots_enabled")?,
        screenshot_interval_seconds: c.u32("screenshot_interval_seconds")?,
        website_tracking_enabled: c.bool("website_tracking_enabled")?,
        app_tracking_enabled: c.bool("app_tracking_enabled")?,
        idle_threshold_seconds: c.u32("idle_threshold_seconds")?,
        blur_screenshots: c.bool("blur_screenshots")?,
        url_detail: privacy.url_detail,
        window_titles: privacy.window_titles,
        title_patterns: privacy.title_patterns,
        notice_days: privacy.notice_days,
        require_acknowledgement: privacy.require_acknowledgement,
        retention: privacy.retention,
        version: c.u64("version")?,
        updated_at: c.time("updated_at")?,
        pending: privacy.pending,
    })
}

/// What a policy keeps beyond its first columns, stored as one JSON
/// document in the column `privacy`: minimisation, notice, retention by
/// kind and the pending change.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct PolicyPrivacy {
    url_detail: UrlDetail,
    window_titles: TitleRule,
    title_patterns: Vec<String>,
    notice_days: u32,
    require_acknowledgement: bool,
    retention: RetentionByKind,
    pending: Option<Box<PendingPolicy>>,
}

/// The `privacy` document stored with a policy.
pub fn policy_privacy(p: &TrackingPolicy) -> serde_json::Value {
    serde_json::to_value(PolicyPrivacy {
        url_detail: p.url_detail,
        window_titles: p.window_titles,
        title_patterns: p.title_patterns.clone(),
        notice_days: p.notice_days,
        require_acknowledgement: p.require_acknowledgement,
        retention: p.retention,
        pending: p.pending.clone(),
    })
    .unwrap_or_default()
}

/// Decodes a stored audit_event.
pub fn audit_event(c: &impl Columns) -> Result<AuditEvent> {
    let company = c.uuid("company_id")?;
    let actor: Actor =
        serde_json::from_value(c.json("actor")?).map_err(|e| c.corrupt("actor", e.to_string()))?;
    Ok(AuditEvent {
        id: AuditEventId(c.uuid("id")?),
        chain: tenant(company).map_or(AuditChain::Platform, AuditChain::Company),
        seq: c.u64("seq")?,
        actor,
        action: c.parsed("action", AuditAction::parse)?,
        description: c.text("description")?,
        details: c.json("details")?,
        client_ip: c.text_opt("client_ip")?,
        at: c.time("at")?,
        prev_hash: c.text("prev_hash")?,
        hash: c.text("hash")?,
    })
}

/// Decodes a stored audit_checkpoint.
pub fn checkpoint(c: &impl Columns) -> Result<Checkpoint> {
    let company = c.uuid("company_id")?;
    Ok(Checkpoint {
        chain: tenant(company).map_or(AuditChain::Platform, AuditChain::Company),
        number: c.u64("number")?,
        event_seq: c.u64("event_seq")?,
        head_hash: c.text("head_hash")?,
        at: c.time("at")?,
        prev_digest: c.text("prev_digest")?,
        key: c.text("key")?,
        next_key: c.text_opt("next_key")?,
        signature: c.text("signature")?,
        next_signature: c.text_opt("next_signature")?,
    })
}

/// Decodes a stored agent_state.
pub fn agent_state(c: &impl Columns) -> Result<AgentState> {
    Ok(AgentState {
        company_id: CompanyId(c.uuid("company_id")?),
        user_id: UserId(c.uuid("user_id")?),
        last_heartbeat_at: c.time("last_heartbeat_at")?,
        policy_version: c.u64_opt("policy_version")?,
        agent_version: c.text_opt("agent_version")?,
    })
}

/// Decodes a stored session.
pub fn session(c: &impl Columns) -> Result<WorkSession> {
    Ok(WorkSession {
        id: WorkSessionId(c.uuid("id")?),
        company_id: CompanyId(c.uuid("company_id")?),
        user_id: UserId(c.uuid("user_id")?),
        started_at: c.time("started_at")?,
        stopped_at: c.time_opt("stopped_at")?,
    })
}

/// Decodes a stored activity.
pub fn activity(c: &impl Columns) -> Result<ActivityEvent> {
    Ok(ActivityEvent {
        id: ActivityId(c.uuid("id")?),
        company_id: CompanyId(c.uuid("company_id")?),
        user_id: UserId(c.uuid("user_id")?),
        session_id: c.uuid_opt("session_id")?.map(WorkSessionId),
        started_at: c.time("started_at")?,
        duration_seconds: c.u32("duration_seconds")?,
        kind: c.parsed("kind", ActivityKind::parse)?,
        app: c.text_opt("app")?,
        window_title: c.text_opt("window_title")?,
        url: c.text_opt("url")?,
    })
}

/// Decodes a stored screenshot.
pub fn screenshot(c: &impl Columns) -> Result<Screenshot> {
    Ok(Screenshot {
        id: ScreenshotId(c.uuid("id")?),
        company_id: CompanyId(c.uuid("company_id")?),
        user_id: UserId(c.uuid("user_id")?),
        taken_at: c.time("taken_at")?,
        size_bytes: c.u64("size_bytes")?,
        sha256: c.text("sha256")?,
        content_type: c.text("content_type")?,
        blurred: c.bool("blurred")?,
        blob_key: c.text("blob_key")?,
    })
}

/// Decodes a stored task.
pub fn task(c: &impl Columns) -> Result<Task> {
    Ok(Task {
        id: TaskId(c.uuid("id")?),
        company_id: CompanyId(c.uuid("company_id")?),
        title: c.text("title")?,
        description: c.text_opt("description")?,
        assignee_id: UserId(c.uuid("assignee_id")?),
        created_by: UserId(c.uuid("created_by")?),
        status: c.parsed("status", TaskStatus::parse)?,
        due_on: c.date_opt("due_on")?,
        completion_note: c.text_opt("completion_note")?,
        completed_at: c.time_opt("completed_at")?,
        created_at: c.time("created_at")?,
    })
}

/// Decodes a stored correction.
pub fn correction(c: &impl Columns) -> Result<CorrectionRequest> {
    Ok(CorrectionRequest {
        id: CorrectionId(c.uuid("id")?),
        company_id: CompanyId(c.uuid("company_id")?),
        user_id: UserId(c.uuid("user_id")?),
        starts_at: c.time("starts_at")?,
        ends_at: c.time("ends_at")?,
        reason: c.text("reason")?,
        status: c.parsed("status", CorrectionStatus::parse)?,
        decided_by: c.uuid_opt("decided_by")?.map(UserId),
        decided_at: c.time_opt("decided_at")?,
        decision_note: c.text_opt("decision_note")?,
        created_at: c.time("created_at")?,
    })
}

/// Decodes a stored usage.
pub fn usage(c: &impl Columns) -> Result<CompanyUsageDaily> {
    Ok(CompanyUsageDaily {
        company_id: CompanyId(c.uuid("company_id")?),
        date: c.date("date")?,
        active_seconds: c.u64("active_seconds")?,
        idle_seconds: c.u64("idle_seconds")?,
        screenshots: c.u64("screenshots")?,
        storage_bytes: c.u64("storage_bytes")?,
        active_users: c.u32("active_users")?,
    })
}

/// The stored subject of an alert: its user, or the all-zero id for a
/// company-wide alert (a NULL would never conflict in the unique index of
/// open alerts).
pub fn alert_subject(user: Option<UserId>) -> Uuid {
    user.map_or(Uuid::nil(), |u| u.0)
}

/// Decodes a stored alert.
pub fn alert(c: &impl Columns) -> Result<Alert> {
    Ok(Alert {
        id: AlertId(c.uuid("id")?),
        kind: c.parsed("kind", AlertKind::parse)?,
        company_id: CompanyId(c.uuid("company_id")?),
        user_id: c.uuid_opt("user_id")?.map(UserId),
        message: c.text("message")?,
        details: c.json("details")?,
        raised_at: c.time("raised_at")?,
        resolved_at: c.time_opt("resolved_at")?,
    })
}

/// Decodes a stored webhook delivery attempt.
pub fn delivery(c: &impl Columns) -> Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: DeliveryId(c.uuid("id")?),
        company_id: CompanyId(c.uuid("company_id")?),
        alert_id: AlertId(c.uuid("alert_id")?),
        event: c.parsed("event", AlertEvent::parse)?,
        url: c.text("url")?,
        attempt: c.u32("attempt")?,
        at: c.time("at")?,
        status: c.status_opt("status")?,
        error: c.text_opt("error")?,
        delivered: c.bool("delivered")?,
    })
}

/// Decodes a company's stored alert settings (a JSON document in the
/// `settings` column).
pub fn alert_settings(c: &impl Columns) -> Result<AlertSettings> {
    let settings: AlertSettings = serde_json::from_value(c.json("settings")?)
        .map_err(|e| c.corrupt("settings", e.to_string()))?;
    // The document names its company too: never hand out another tenant's.
    if settings.company_id.0 != c.uuid("company_id")? {
        return Err(c.corrupt("settings", "company_id differs from the row's".into()));
    }
    Ok(settings)
}

/// Decodes a day marked for the usage job.
pub fn pending_day(c: &impl Columns) -> Result<PendingUsageDay> {
    Ok(PendingUsageDay {
        date: c.date("date")?,
        version: c.u64("version")?,
    })
}

/// Decodes an unfinished retention purge.
pub fn purge_progress(c: &impl Columns) -> Result<PurgeProgress> {
    Ok(PurgeProgress {
        company_id: CompanyId(c.uuid("company_id")?),
        before: c.time("before_at")?,
        before_date: c.date("before_date")?,
        started_at: c.time("started_at")?,
        counts: PurgeCounts {
            events: c.u64("events")?,
            sessions: c.u64("sessions")?,
            screenshots: c.u64("screenshots")?,
            screenshot_bytes: c.u64("screenshot_bytes")?,
            daily_rows: c.u64("daily_rows")?,
            access_records: c.u64("access_records")?,
            details: c.u64("details")?,
            ..PurgeCounts::default()
        },
    })
}

/// Decodes a stored access_log row.
pub fn access_record(c: &impl Columns) -> Result<crate::access::AccessRecord> {
    Ok(crate::access::AccessRecord {
        id: c.uuid("id")?,
        company_id: CompanyId(c.uuid("company_id")?),
        actor_id: UserId(c.uuid("actor_id")?),
        subject_id: UserId(c.uuid("subject_id")?),
        kind: c.parsed("kind", crate::access::AccessKind::parse)?,
        day: c.date("day")?,
        count: c.u64("count")?,
        first_at: c.time("first_at")?,
        last_at: c.time("last_at")?,
    })
}
