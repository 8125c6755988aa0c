//! Tasks, time corrections and usage aggregates.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Result, Validator};
use crate::ids::{CompanyId, CorrectionId, TaskId, UserId};

/// State of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TaskStatus {
    /// Assigned, not done.
    Open,
    /// Completed by its assignee.
    Done,
}

impl TaskStatus {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Done => "done",
        }
    }
    /// Parses the stable name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(TaskStatus::Open),
            "done" => Some(TaskStatus::Done),
            _ => None,
        }
    }
}

/// A task assigned to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    /// Id.
    pub id: TaskId,
    /// Company.
    pub company_id: CompanyId,
    /// Title.
    pub title: String,
    /// Longer description.
    pub description: Option<String>,
    /// Who must do it.
    pub assignee_id: UserId,
    /// Who assigned it.
    pub created_by: UserId,
    /// Open or done.
    pub status: TaskStatus,
    /// Due date.
    pub due_on: Option<NaiveDate>,
    /// The assignee's note on completion.
    pub completion_note: Option<String>,
    /// When completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// State of a correction request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CorrectionStatus {
    /// Waiting for a decision.
    Pending,
    /// Approved: the span counts as active time in reports.
    Approved,
    /// Rejected.
    Rejected,
}

impl CorrectionStatus {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            CorrectionStatus::Pending => "pending",
            CorrectionStatus::Approved => "approved",
            CorrectionStatus::Rejected => "rejected",
        }
    }
    /// Parses the stable name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(CorrectionStatus::Pending),
            "approved" => Some(CorrectionStatus::Approved),
            "rejected" => Some(CorrectionStatus::Rejected),
            _ => None,
        }
    }
}

/// A user's request to count a span of time as worked (a meeting away from
/// the computer, an agent that was not running).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CorrectionRequest {
    /// Id.
    pub id: CorrectionId,
    /// Company.
    pub company_id: CompanyId,
    /// The requester, whose time it is.
    pub user_id: UserId,
    /// Start of the span.
    pub starts_at: DateTime<Utc>,
    /// End of the span.
    pub ends_at: DateTime<Utc>,
    /// Why.
    pub reason: String,
    /// Pending, approved or rejected.
    pub status: CorrectionStatus,
    /// Who decided.
    pub decided_by: Option<UserId>,
    /// When decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// The decider's note.
    pub decision_note: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Validates a correction span and reason. Like agent activity, a span
/// may start at most `max_age` before `now`.
pub fn validate_correction(
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    reason: &str,
    now: DateTime<Utc>,
    max_age: chrono::Duration,
) -> Result<()> {
    let mut v = Validator::new();
    v.check(
        starts_at >= now - max_age,
        "starts_at",
        format!("must be within the last {} days", max_age.num_days()),
    );
    v.check(ends_at > starts_at, "ends_at", "must be after starts_at");
    v.check(
        ends_at - starts_at <= chrono::Duration::hours(24),
        "ends_at",
        "a correction spans at most 24 hours",
    );
    v.check(ends_at <= now, "ends_at", "must not be in the future");
    v.text("reason", reason, 1, 2_000);
    v.finish()
}

/// Daily numbers of one company: what OWNER may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompanyUsageDaily {
    /// Company.
    pub company_id: CompanyId,
    /// Day in the company's timezone.
    pub date: NaiveDate,
    /// Seconds of active time, all users.
    pub active_seconds: u64,
    /// Seconds of idle time, all users.
    pub idle_seconds: u64,
    /// Screenshots taken that day.
    pub screenshots: u64,
    /// Bytes of screenshots taken that day.
    pub storage_bytes: u64,
    /// Users with any active time that day.
    pub active_users: u32,
}
