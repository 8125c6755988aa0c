//! Row decoding: ids as `uuid`, instants as `timestamptz`, enums as their
//! stable names, counts as signed integers checked on the way back.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, Row, Type};
use tracker_core::audit::{Actor, AuditAction, AuditChain};
use tracker_core::identity::Role;
use tracker_core::secret::SecretHash;
use tracker_core::store::DayRollup;
use tracker_core::tenancy::CompanyStatus;
use tracker_core::tracking::ActivityKind;
use tracker_core::work::{CorrectionStatus, TaskStatus};
use tracker_core::*;
use uuid::Uuid;

use crate::error::PgError;

pub(crate) type R<T> = Result<T, tracker_core::Error>;

pub(crate) fn corrupt(column: &'static str, reason: impl Into<String>) -> tracker_core::Error {
    PgError::Corrupt {
        column,
        reason: reason.into(),
    }
    .into()
}

/// The company key of the platform: owners and the platform audit chain.
pub(crate) fn platform() -> Uuid {
    Uuid::nil()
}

pub(crate) fn chain_key(chain: AuditChain) -> Uuid {
    chain.company().map_or_else(platform, |c| c.0)
}

pub(crate) fn company_key(company: Option<CompanyId>) -> Uuid {
    company.map_or_else(platform, |c| c.0)
}

/// Converts an unsigned count for PostgreSQL's signed integers.
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn int32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

pub(crate) fn uuids<T: Copy + Into<Uuid>>(ids: impl IntoIterator<Item = T>) -> Vec<Uuid> {
    ids.into_iter().map(Into::into).collect()
}

/// The earliest date PostgreSQL stores (4713 BC, a little after its
/// first day); chrono reaches further back, PostgreSQL's upper limits lie
/// beyond chrono's.
fn earliest_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(-4712, 12, 1).unwrap_or(NaiveDate::MIN)
}

/// A query bound PostgreSQL can take: bounds before its first day mean the
/// same as its first day.
pub(crate) fn bound_date(d: NaiveDate) -> NaiveDate {
    d.max(earliest_date())
}

/// Like [`bound_date`] for instants.
pub(crate) fn bound_time(t: DateTime<Utc>) -> DateTime<Utc> {
    t.max(earliest_date().and_time(chrono::NaiveTime::MIN).and_utc())
}

/// Reads columns by name with domain conversions.
pub(crate) struct Cols<'r>(pub &'r PgRow);

impl<'r> Cols<'r> {
    fn get<T: Decode<'r, Postgres> + Type<Postgres>>(&self, c: &'static str) -> R<T> {
        self.0.try_get(c).map_err(|e| corrupt(c, e.to_string()))
    }
    pub(crate) fn uuid(&self, c: &'static str) -> R<Uuid> {
        self.get(c)
    }
    pub(crate) fn uuid_opt(&self, c: &'static str) -> R<Option<Uuid>> {
        self.get(c)
    }
    pub(crate) fn text(&self, c: &'static str) -> R<String> {
        self.get(c)
    }
    pub(crate) fn text_opt(&self, c: &'static str) -> R<Option<String>> {
        self.get(c)
    }
    pub(crate) fn bool(&self, c: &'static str) -> R<bool> {
        self.get(c)
    }
    pub(crate) fn u64(&self, c: &'static str) -> R<u64> {
        let v: i64 = self.get(c)?;
        u64::try_from(v).map_err(|_| corrupt(c, format!("negative value {v}")))
    }
    pub(crate) fn u32(&self, c: &'static str) -> R<u32> {
        let v: i32 = self.get(c)?;
        u32::try_from(v).map_err(|_| corrupt(c, format!("negative value {v}")))
    }
    pub(crate) fn time(&self, c: &'static str) -> R<DateTime<Utc>> {
        self.get(c)
    }
    pub(crate) fn time_opt(&self, c: &'static str) -> R<Option<DateTime<Utc>>> {
        self.get(c)
    }
    pub(crate) fn date(&self, c: &'static str) -> R<NaiveDate> {
        self.get(c)
    }
    pub(crate) fn date_opt(&self, c: &'static str) -> R<Option<NaiveDate>> {
        self.get(c)
    }
    pub(crate) fn json(&self, c: &'static str) -> R<serde_json::Value> {
        self.get(c)
    }
    pub(crate) fn ids<T: From<Uuid>>(&self, c: &'static str) -> R<Vec<T>> {
        let v: Vec<Uuid> = self.get(c)?;
        Ok(v.into_iter().map(T::from).collect())
    }
    pub(crate) fn parsed<T>(&self, c: &'static str, parse: impl Fn(&str) -> Option<T>) -> R<T> {
        let s = self.text(c)?;
        parse(&s).ok_or_else(|| corrupt(c, format!("unknown value {s:?}")))
    }
}

pub(crate) fn plan(r: &PgRow) -> R<Plan> {
    let c = Cols(r);
    Ok(Plan {
        id: PlanId(c.uuid("id")?),
        code: c.text("code")?,
        max_employees: c.u32("max_employees")?,
        max_storage_bytes: c.u64("max_storage_bytes")?,
        price_monthly_cents: c.u64("price_monthly_cents")?,
    })
}

pub(crate) fn company(r: &PgRow) -> R<Company> {
    let c = Cols(r);
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
    })
}

pub(crate) fn subscription(r: &PgRow) -> R<Subscription> {
    let c = Cols(r);
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

pub(crate) fn user(r: &PgRow) -> R<User> {
    let c = Cols(r);
    let company = c.uuid("company_id")?;
    Ok(User {
        id: UserId(c.uuid("id")?),
        company_id: (company != platform()).then_some(CompanyId(company)),
        role: c.parsed("role", Role::parse)?,
        username: c.text("username")?,
        email: c.text_opt("email")?,
        display_name: c.text("display_name")?,
        active: c.bool("active")?,
        last_agent_sync_at: c.time_opt("last_agent_sync_at")?,
        password_hash: c.text("password_hash")?,
        created_at: c.time("created_at")?,
    })
}

pub(crate) fn token(r: &PgRow) -> R<tracker_core::identity::TokenRecord> {
    let c = Cols(r);
    let company = c.uuid("company_id")?;
    Ok(tracker_core::identity::TokenRecord {
        hash: SecretHash::from_stored(c.text("hash")?),
        user_id: UserId(c.uuid("user_id")?),
        company_id: (company != platform()).then_some(CompanyId(company)),
        created_at: c.time("created_at")?,
        expires_at: c.time("expires_at")?,
    })
}

pub(crate) fn team(r: &PgRow) -> R<Team> {
    let c = Cols(r);
    Ok(Team {
        id: TeamId(c.uuid("id")?),
        company_id: CompanyId(c.uuid("company_id")?),
        name: c.text("name")?,
        managers: c.ids("managers")?,
        members: c.ids("members")?,
        created_at: c.time("created_at")?,
    })
}

pub(crate) fn policy(r: &PgRow) -> R<TrackingPolicy> {
    let c = Cols(r);
    Ok(TrackingPolicy {
        company_id: CompanyId(c.uuid("company_id")?),
        screenshots_enabled: c.bool("screenshots_enabled")?,
        screenshot_interval_seconds: c.u32("screenshot_interval_seconds")?,
        website_tracking_enabled: c.bool("website_tracking_enabled")?,
        app_tracking_enabled: c.bool("app_tracking_enabled")?,
        idle_threshold_seconds: c.u32("idle_threshold_seconds")?,
        blur_screenshots: c.bool("blur_screenshots")?,
        version: c.u64("version")?,
        updated_at: c.time("updated_at")?,
    })
}

pub(crate) fn audit_event(r: &PgRow) -> R<AuditEvent> {
    let c = Cols(r);
    let company = c.uuid("company_id")?;
    let actor: Actor =
        serde_json::from_value(c.json("actor")?).map_err(|e| corrupt("actor", e.to_string()))?;
    Ok(AuditEvent {
        id: AuditEventId(c.uuid("id")?),
        chain: if company == platform() {
            AuditChain::Platform
        } else {
            AuditChain::Company(CompanyId(company))
        },
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

pub(crate) fn agent_state(r: &PgRow) -> R<AgentState> {
    let c = Cols(r);
    let version: Option<i64> = c.get("policy_version")?;
    Ok(AgentState {
        company_id: CompanyId(c.uuid("company_id")?),
        user_id: UserId(c.uuid("user_id")?),
        last_heartbeat_at: c.time("last_heartbeat_at")?,
        policy_version: version.and_then(|v| u64::try_from(v).ok()),
        agent_version: c.text_opt("agent_version")?,
    })
}

pub(crate) fn session(r: &PgRow) -> R<WorkSession> {
    let c = Cols(r);
    Ok(WorkSession {
        id: WorkSessionId(c.uuid("id")?),
        company_id: CompanyId(c.uuid("company_id")?),
        user_id: UserId(c.uuid("user_id")?),
        started_at: c.time("started_at")?,
        stopped_at: c.time_opt("stopped_at")?,
    })
}

pub(crate) fn activity(r: &PgRow) -> R<ActivityEvent> {
    let c = Cols(r);
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

pub(crate) fn screenshot(r: &PgRow) -> R<Screenshot> {
    let c = Cols(r);
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

pub(crate) fn task(r: &PgRow) -> R<Task> {
    let c = Cols(r);
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

pub(crate) fn correction(r: &PgRow) -> R<CorrectionRequest> {
    let c = Cols(r);
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

pub(crate) fn rollup(r: &PgRow) -> R<DayRollup> {
    let c = Cols(r);
    Ok(DayRollup {
        user_id: UserId(c.uuid("user_id")?),
        date: c.date("date")?,
        active_seconds: c.u64("active_us")? / 1_000_000,
        idle_seconds: c.u64("idle_us")? / 1_000_000,
        first_seen: Some(c.time("first_at")?),
        last_seen: Some(c.time("last_at")?),
        exact: c.bool("exact")?,
    })
}

pub(crate) fn usage(r: &PgRow) -> R<CompanyUsageDaily> {
    let c = Cols(r);
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
