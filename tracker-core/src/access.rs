//! Who looked at whose tracking data: reads of one person's data by
//! someone else, one record per actor, subject, kind of data and day.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ids::{CompanyId, UserId};

/// The kind of a person's data someone read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AccessKind {
    /// Activity events, or the app and website usage made of them.
    Activity,
    /// Work sessions.
    Sessions,
    /// A day report (totals, timeline, top apps and sites).
    DayReport,
    /// Screenshot metadata.
    Screenshots,
    /// A screenshot's image or thumbnail.
    ScreenshotImages,
    /// Timesheet rows or the month grid.
    Timesheet,
}

impl AccessKind {
    /// Every kind.
    pub const ALL: [AccessKind; 6] = [
        AccessKind::Activity,
        AccessKind::Sessions,
        AccessKind::DayReport,
        AccessKind::Screenshots,
        AccessKind::ScreenshotImages,
        AccessKind::Timesheet,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKind::Activity => "activity",
            AccessKind::Sessions => "sessions",
            AccessKind::DayReport => "day_report",
            AccessKind::Screenshots => "screenshots",
            AccessKind::ScreenshotImages => "screenshot_images",
            AccessKind::Timesheet => "timesheet",
        }
    }

    /// The kind of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Reads of one person's data by another, of one kind on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessRecord {
    /// Derived from (company, actor, subject, kind, day): the record a
    /// read adds to ([`AccessRecord::key`]).
    pub id: Uuid,
    /// Company.
    pub company_id: CompanyId,
    /// Who read.
    pub actor_id: UserId,
    /// Whose data.
    pub subject_id: UserId,
    /// What kind of data.
    pub kind: AccessKind,
    /// The UTC date of the reads.
    pub day: NaiveDate,
    /// Items read that day (rows, images, reports).
    pub count: u64,
    /// The first read of the day.
    pub first_at: DateTime<Utc>,
    /// The last read of the day.
    pub last_at: DateTime<Utc>,
}

impl AccessRecord {
    /// A record of `count` items read at `at`.
    pub fn new(
        company_id: CompanyId,
        actor_id: UserId,
        subject_id: UserId,
        kind: AccessKind,
        count: u64,
        at: DateTime<Utc>,
    ) -> Self {
        let day = at.date_naive();
        Self {
            id: Self::key(company_id, actor_id, subject_id, kind, day),
            company_id,
            actor_id,
            subject_id,
            kind,
            day,
            count,
            first_at: at,
            last_at: at,
        }
    }

    /// The id of the record of (company, actor, subject, kind, day): 16
    /// bytes of SHA-256 over them, so every node adds to the same record.
    pub fn key(
        company: CompanyId,
        actor: UserId,
        subject: UserId,
        kind: AccessKind,
        day: NaiveDate,
    ) -> Uuid {
        let mut h = Sha256::new();
        h.update(company.0.as_bytes());
        h.update(actor.0.as_bytes());
        h.update(subject.0.as_bytes());
        h.update(kind.as_str().as_bytes());
        h.update(day.to_string().as_bytes());
        let digest = h.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    }

    /// This record with `other`'s reads added (same key).
    pub fn merged(&self, other: &AccessRecord) -> AccessRecord {
        AccessRecord {
            count: self.count.saturating_add(other.count),
            first_at: self.first_at.min(other.first_at),
            last_at: self.last_at.max(other.last_at),
            ..self.clone()
        }
    }
}

/// Filter of an access log list; the default lists the whole company's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessFilter {
    /// Only reads of this person's data.
    pub subject: Option<UserId>,
    /// Only reads by this person.
    pub actor: Option<UserId>,
}

impl AccessFilter {
    /// Whether `record` passes the filter.
    pub fn matches(&self, record: &AccessRecord) -> bool {
        self.subject.is_none_or(|s| s == record.subject_id)
            && self.actor.is_none_or(|a| a == record.actor_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_per_actor_subject_kind_and_day() {
        let (c, a, s) = (CompanyId::new(), UserId::new(), UserId::new());
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let k = AccessRecord::key(c, a, s, AccessKind::Activity, day);
        assert_eq!(k, AccessRecord::key(c, a, s, AccessKind::Activity, day));
        for other in [
            AccessRecord::key(c, s, a, AccessKind::Activity, day),
            AccessRecord::key(c, a, s, AccessKind::Sessions, day),
            AccessRecord::key(c, a, s, AccessKind::Activity, day.succ_opt().unwrap()),
            AccessRecord::key(CompanyId::new(), a, s, AccessKind::Activity, day),
        ] {
            assert_ne!(k, other);
        }
        for kind in AccessKind::ALL {
            assert_eq!(AccessKind::parse(kind.as_str()), Some(kind));
        }
    }
}
