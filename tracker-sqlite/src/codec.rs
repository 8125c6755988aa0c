//! Column encodings: ids as 16-byte blobs, instants as microseconds,
//! enums as their stable names.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::Row;
use rusqlite::types::Value;
use tracker_core::audit::{Actor, AuditAction, AuditChain};
use tracker_core::identity::Role;
use tracker_core::secret::SecretHash;
use tracker_core::tenancy::CompanyStatus;
use tracker_core::tracking::ActivityKind;
use tracker_core::work::{CorrectionStatus, TaskStatus};
use tracker_core::*;
use uuid::Uuid;

use crate::error::SqliteError;

pub(crate) type R<T> = Result<T, tracker_core::Error>;

pub(crate) fn ts(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(crate) fn ts_opt(at: Option<DateTime<Utc>>) -> Option<i64> {
    at.map(ts)
}

pub(crate) fn corrupt(column: &'static str, reason: impl Into<String>) -> tracker_core::Error {
    SqliteError::Corrupt {
        column,
        reason: reason.into(),
    }
    .into()
}

/// Reads columns by name with domain conversions.
pub(crate) struct Cols<'a, 'b>(pub &'a Row<'b>);

impl Cols<'_, '_> {
    fn raw<T: rusqlite::types::FromSql>(&self, c: &'static str) -> R<T> {
        self.0.get(c).map_err(|e| corrupt(c, e.to_string()))
    }
    pub(crate) fn uuid(&self, c: &'static str) -> R<Uuid> {
        self.raw(c)
    }
    pub(crate) fn uuid_opt(&self, c: &'static str) -> R<Option<Uuid>> {
        self.raw(c)
    }
    pub(crate) fn text(&self, c: &'static str) -> R<String> {
        self.raw(c)
    }
    pub(crate) fn text_opt(&self, c: &'static str) -> R<Option<String>> {
        self.raw(c)
    }
    pub(crate) fn int(&self, c: &'static str) -> R<i64> {
        self.raw(c)
    }
    pub(crate) fn u64(&self, c: &'static str) -> R<u64> {
        let v = self.int(c)?;
        u64::try_from(v).map_err(|_| corrupt(c, format!("negative value {v}")))
    }
    pub(crate) fn u32(&self, c: &'static str) -> R<u32> {
        let v = self.int(c)?;
        u32::try_from(v).map_err(|_| corrupt(c, format!("value {v} out of range")))
    }
    pub(crate) fn bool(&self, c: &'static str) -> R<bool> {
        Ok(self.int(c)? != 0)
    }
    pub(crate) fn time(&self, c: &'static str) -> R<DateTime<Utc>> {
        let v = self.int(c)?;
        DateTime::from_timestamp_micros(v)
            .ok_or_else(|| corrupt(c, format!("instant {v} out of range")))
    }
    pub(crate) fn time_opt(&self, c: &'static str) -> R<Option<DateTime<Utc>>> {
        match self.raw::<Option<i64>>(c)? {
            None => Ok(None),
            Some(v) => DateTime::from_timestamp_micros(v)
                .map(Some)
                .ok_or_else(|| corrupt(c, format!("instant {v} out of range"))),
        }
    }
    pub(crate) fn date(&self, c: &'static str) -> R<NaiveDate> {
        let s = self.text(c)?;
        s.parse().map_err(|_| corrupt(c, format!("date {s:?}")))
    }
    pub(crate) fn date_opt(&self, c: &'static str) -> R<Option<NaiveDate>> {
        match self.text_opt(c)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| corrupt(c, format!("date {s:?}"))),
        }
    }
    pub(crate) fn json(&self, c: &'static str) -> R<serde_json::Value> {
        let s = self.text(c)?;
        serde_json::from_str(&s).map_err(|e| corrupt(c, e.to_string()))
    }
    pub(crate) fn ids<T: From<Uuid>>(&self, c: &'static str) -> R<Vec<T>> {
        let s = self.text(c)?;
        let ids: Vec<Uuid> = serde_json::from_str(&s).map_err(|e| corrupt(c, e.to_string()))?;
        Ok(ids.into_iter().map(T::from).collect())
    }
    pub(crate) fn parsed<T>(&self, c: &'static str, parse: impl Fn(&str) -> Option<T>) -> R<T> {
        let s = self.text(c)?;
        parse(&s).ok_or_else(|| corrupt(c, format!("unknown value {s:?}")))
    }
}

/// The company key of the platform: owners and the platform audit chain.
pub(crate) fn platform() -> Uuid {
    Uuid::nil()
}

pub(crate) fn chain_key(chain: AuditChain) -> Uuid {
    chain.company().map_or_else(platform, |c| c.0)
}

pub(crate) fn ids_json<T: Copy + Into<Uuid>>(ids: &[T]) -> String {
    let v: Vec<Uuid> = ids.iter().map(|&i| i.into()).collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn plan(r: &Row<'_>) -> R<Plan> {
    let c = Cols(r);
    Ok(Plan {
        id: PlanId(c.uuid("id")?),
        code: c.text("code")?,
        max_employees: c.u32("max_employees")?,
        max_storage_bytes: c.u64("max_storage_bytes")?,
        price_monthly_cents: c.u64("price_monthly_cents")?,
    })
}

pub(crate) fn company(r: &Row<'_>) -> R<Company> {
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

pub(crate) fn subscription(r: &Row<'_>) -> R<Subscription> {
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

pub(crate) fn user(r: &Row<'_>) -> R<User> {
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

pub(crate) fn team(r: &Row<'_>) -> R<Team> {
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

pub(crate) fn policy(r: &Row<'_>) -> R<TrackingPolicy> {
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

pub(crate) fn audit_event(r: &Row<'_>) -> R<AuditEvent> {
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

pub(crate) fn agent_state(r: &Row<'_>) -> R<AgentState> {
    let c = Cols(r);
    Ok(AgentState {
        company_id: CompanyId(c.uuid("company_id")?),
        user_id: UserId(c.uuid("user_id")?),
        last_heartbeat_at: c.time("last_heartbeat_at")?,
        policy_version: c
            .raw::<Option<i64>>("policy_version")?
            .and_then(|v| u64::try_from(v).ok()),
        agent_version: c.text_opt("agent_version")?,
    })
}

pub(crate) fn session(r: &Row<'_>) -> R<WorkSession> {
    let c = Cols(r);
    Ok(WorkSession {
        id: WorkSessionId(c.uuid("id")?),
        company_id: CompanyId(c.uuid("company_id")?),
        user_id: UserId(c.uuid("user_id")?),
        started_at: c.time("started_at")?,
        stopped_at: c.time_opt("stopped_at")?,
    })
}

pub(crate) fn activity(r: &Row<'_>) -> R<ActivityEvent> {
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

pub(crate) fn screenshot(r: &Row<'_>) -> R<Screenshot> {
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

pub(crate) fn task(r: &Row<'_>) -> R<Task> {
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

pub(crate) fn correction(r: &Row<'_>) -> R<CorrectionRequest> {
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

pub(crate) fn rollup(r: &Row<'_>) -> R<tracker_core::store::DayRollup> {
    let c = Cols(r);
    Ok(tracker_core::store::DayRollup {
        user_id: UserId(c.uuid("user_id")?),
        date: c.date("date")?,
        active_seconds: c.u64("active_us")? / 1_000_000,
        idle_seconds: c.u64("idle_us")? / 1_000_000,
        first_seen: Some(c.time("first_us")?),
        last_seen: Some(c.time("last_us")?),
        exact: c.bool("exact")?,
    })
}

pub(crate) fn usage(r: &Row<'_>) -> R<CompanyUsageDaily> {
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

/// A set of ids as a `rarray` parameter (`col IN rarray(?)`).
pub(crate) fn id_array<T: Copy + Into<Uuid>>(
    ids: impl IntoIterator<Item = T>,
) -> rusqlite::vtab::array::Array {
    std::rc::Rc::new(
        ids.into_iter()
            .map(|i| Value::Blob(i.into().as_bytes().to_vec()))
            .collect(),
    )
}

/// Converts an unsigned count for SQLite's signed integers.
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
