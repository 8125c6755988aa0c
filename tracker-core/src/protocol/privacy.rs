//! The wire types of privacy: an announced change and its
//! acknowledgement, who read whose data, and legal holds.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::policy::TrackingPolicy;

/// An announced change of the policy, as one user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyNotice {
    /// The announced policy.
    pub policy: TrackingPolicy,
    /// The earliest time it applies.
    pub applies_at: DateTime<Utc>,
    /// What it collects beyond the policy in force, in plain words.
    pub collects_more: Vec<String>,
    /// Whether it applies to the user only once they acknowledge it.
    pub acknowledgement_required: bool,
    /// Whether the user acknowledged this version.
    pub acknowledged: bool,
}

/// Reads of one person's tracking data by another on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessEntry {
    /// Who read.
    pub actor_id: UserId,
    /// Their login name.
    pub actor_username: String,
    /// Their name.
    pub actor_name: String,
    /// Whose data.
    pub subject_id: UserId,
    /// Their login name.
    pub subject_username: String,
    /// Their name.
    pub subject_name: String,
    /// What kind of data.
    pub kind: crate::access::AccessKind,
    /// The UTC date of the reads.
    pub day: NaiveDate,
    /// Items read that day.
    pub count: u64,
    /// The first read of the day.
    pub first_at: DateTime<Utc>,
    /// The last read of the day.
    pub last_at: DateTime<Utc>,
}

/// A legal hold's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LegalHoldRequest {
    /// Why (a case, a request), 1 to 500 characters; kept in the audit log.
    pub reason: String,
}

/// An employee acknowledges a version of the tracking policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcknowledgePolicy {
    /// The version read: the newest announced one.
    pub version: u64,
}

/// Who acknowledged the newest announced policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Acknowledgements {
    /// The newest announced version.
    pub version: u64,
    /// Active users of the company, each with the version they last
    /// acknowledged.
    pub users: Vec<UserAcknowledgement>,
}

/// One user's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserAcknowledgement {
    /// User.
    pub user_id: UserId,
    /// Login name.
    pub username: String,
    /// Name shown.
    pub display_name: String,
    /// The newest version they acknowledged.
    pub acknowledged_version: Option<u64>,
    /// When.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Whether that is the newest announced version.
    pub current: bool,
}

/// Filter of `GET /company/access-log`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AccessQuery {
    /// Only reads of this person's data.
    #[serde(default)]
    pub subject_id: Option<UserId>,
    /// Only reads by this person.
    #[serde(default)]
    pub actor_id: Option<UserId>,
}

impl From<AccessQuery> for crate::access::AccessFilter {
    fn from(q: AccessQuery) -> Self {
        crate::access::AccessFilter {
            subject: q.subject_id,
            actor: q.actor_id,
        }
    }
}
