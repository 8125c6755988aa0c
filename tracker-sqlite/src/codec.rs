//! Column encodings: ids as 16-byte blobs, instants as microseconds,
//! enums as their stable names.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::Row;
use rusqlite::types::Value;
use tracker_core::audit::{AuditChain, Checkpoint};
use tracker_core::identity::TokenRecord;
use tracker_core::notify::DeliveryRecord;
use tracker_core::rows::{self, Columns};
use tracker_core::store::{PendingUsageDay, PurgeProgress};
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

/// Reads columns by name in this store's encoding.
pub(crate) struct Cols<'a, 'b>(pub &'a Row<'b>);

impl Cols<'_, '_> {
    fn raw<T: rusqlite::types::FromSql>(&self, c: &'static str) -> R<T> {
        self.0.get(c).map_err(|e| corrupt(c, e.to_string()))
    }
    fn int(&self, c: &'static str) -> R<i64> {
        self.raw(c)
    }
}

fn instant(c: &'static str, v: i64) -> R<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| corrupt(c, format!("instant {v} out of range")))
}

fn day(c: &'static str, s: &str) -> R<NaiveDate> {
    s.parse().map_err(|_| corrupt(c, format!("date {s:?}")))
}

impl Columns for Cols<'_, '_> {
    fn corrupt(&self, column: &'static str, reason: String) -> tracker_core::Error {
        corrupt(column, reason)
    }
    fn uuid(&self, c: &'static str) -> R<Uuid> {
        self.raw(c)
    }
    fn uuid_opt(&self, c: &'static str) -> R<Option<Uuid>> {
        self.raw(c)
    }
    fn uuids(&self, c: &'static str) -> R<Vec<Uuid>> {
        let s = self.text(c)?;
        serde_json::from_str(&s).map_err(|e| corrupt(c, e.to_string()))
    }
    fn text(&self, c: &'static str) -> R<String> {
        self.raw(c)
    }
    fn text_opt(&self, c: &'static str) -> R<Option<String>> {
        self.raw(c)
    }
    fn bool(&self, c: &'static str) -> R<bool> {
        Ok(self.int(c)? != 0)
    }
    fn u64(&self, c: &'static str) -> R<u64> {
        let v = self.int(c)?;
        u64::try_from(v).map_err(|_| corrupt(c, format!("negative value {v}")))
    }
    fn u64_opt(&self, c: &'static str) -> R<Option<u64>> {
        let v: Option<i64> = self.raw(c)?;
        v.map(|v| u64::try_from(v).map_err(|_| corrupt(c, format!("negative value {v}"))))
            .transpose()
    }
    fn u32(&self, c: &'static str) -> R<u32> {
        let v = self.int(c)?;
        u32::try_from(v).map_err(|_| corrupt(c, format!("value {v} out of range")))
    }
    fn time(&self, c: &'static str) -> R<DateTime<Utc>> {
        instant(c, self.int(c)?)
    }
    fn time_opt(&self, c: &'static str) -> R<Option<DateTime<Utc>>> {
        let v: Option<i64> = self.raw(c)?;
        v.map(|v| instant(c, v)).transpose()
    }
    fn date(&self, c: &'static str) -> R<NaiveDate> {
        day(c, &self.text(c)?)
    }
    fn date_opt(&self, c: &'static str) -> R<Option<NaiveDate>> {
        self.text_opt(c)?.map(|s| day(c, &s)).transpose()
    }
    fn json(&self, c: &'static str) -> R<serde_json::Value> {
        let s = self.text(c)?;
        serde_json::from_str(&s).map_err(|e| corrupt(c, e.to_string()))
    }
}

pub(crate) use tracker_core::rows::{PLATFORM, company_key};

pub(crate) fn chain_key(chain: AuditChain) -> Uuid {
    company_key(chain.company())
}

pub(crate) fn ids_json<T: Copy + Into<Uuid>>(ids: &[T]) -> String {
    let v: Vec<Uuid> = ids.iter().map(|&i| i.into()).collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".into())
}

/// Row mappers for the store's queries: the shared decoders over [`Cols`].
macro_rules! decoders {
    ($($name:ident -> $ty:ty),* $(,)?) => {
        $(pub(crate) fn $name(r: &Row<'_>) -> R<$ty> {
            rows::$name(&Cols(r))
        })*
    };
}

decoders!(
    plan -> Plan,
    company -> Company,
    subscription -> Subscription,
    user -> User,
    token -> TokenRecord,
    team -> Team,
    policy -> TrackingPolicy,
    audit_event -> AuditEvent,
    checkpoint -> Checkpoint,
    agent_state -> AgentState,
    session -> WorkSession,
    activity -> ActivityEvent,
    screenshot -> Screenshot,
    task -> Task,
    correction -> CorrectionRequest,
    access_record -> tracker_core::access::AccessRecord,
    usage -> CompanyUsageDaily,
    alert -> Alert,
    delivery -> DeliveryRecord,
    alert_settings -> AlertSettings,
    pending_day -> PendingUsageDay,
    purge_progress -> PurgeProgress,
);

pub(crate) fn usage_sum(r: &Row<'_>) -> R<tracker_core::store::UsageSum> {
    let c = Cols(r);
    Ok(tracker_core::store::UsageSum {
        user_id: UserId(c.uuid("user_id")?),
        name: c.text("name")?,
        active_micros: c.int("active_micros")?,
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

/// A date as a range bound over the TEXT date columns. Stored dates are
/// 'YYYY-MM-DD', which sort as text only within years 0 to 9999, so a bound
/// outside them (`NaiveDate::MIN`/`MAX`, whose text is signed) is clamped.
pub(crate) fn date_bound(d: NaiveDate) -> String {
    let lo = NaiveDate::from_ymd_opt(0, 1, 1).unwrap_or(NaiveDate::MIN);
    let hi = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(NaiveDate::MAX);
    d.clamp(lo, hi).to_string()
}

/// Converts an unsigned count for SQLite's signed integers.
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
