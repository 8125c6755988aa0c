//! Row decoding: ids as `uuid`, instants as `timestamptz`, enums as their
//! stable names, counts as signed integers checked on the way back.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, Row, Type};
use tracker_core::audit::{AuditChain, Checkpoint};
use tracker_core::notify::DeliveryRecord;
use tracker_core::rows::{self, Columns};
use tracker_core::store::{DayRollup, PendingUsageDay, PurgeProgress};
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

pub(crate) use tracker_core::rows::{PLATFORM, company_key};

pub(crate) fn chain_key(chain: AuditChain) -> Uuid {
    company_key(chain.company())
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

/// Reads columns by name in this store's encoding.
pub(crate) struct Cols<'r>(pub &'r PgRow);

impl<'r> Cols<'r> {
    fn get<T: Decode<'r, Postgres> + Type<Postgres>>(&self, c: &'static str) -> R<T> {
        self.0.try_get(c).map_err(|e| corrupt(c, e.to_string()))
    }
}

impl Columns for Cols<'_> {
    fn corrupt(&self, column: &'static str, reason: String) -> tracker_core::Error {
        corrupt(column, reason)
    }
    fn uuid(&self, c: &'static str) -> R<Uuid> {
        self.get(c)
    }
    fn uuid_opt(&self, c: &'static str) -> R<Option<Uuid>> {
        self.get(c)
    }
    fn uuids(&self, c: &'static str) -> R<Vec<Uuid>> {
        self.get(c)
    }
    fn text(&self, c: &'static str) -> R<String> {
        self.get(c)
    }
    fn text_opt(&self, c: &'static str) -> R<Option<String>> {
        self.get(c)
    }
    fn bool(&self, c: &'static str) -> R<bool> {
        self.get(c)
    }
    fn u64(&self, c: &'static str) -> R<u64> {
        let v: i64 = self.get(c)?;
        u64::try_from(v).map_err(|_| corrupt(c, format!("negative value {v}")))
    }
    fn u64_opt(&self, c: &'static str) -> R<Option<u64>> {
        let v: Option<i64> = self.get(c)?;
        v.map(|v| u64::try_from(v).map_err(|_| corrupt(c, format!("negative value {v}"))))
            .transpose()
    }
    fn u32(&self, c: &'static str) -> R<u32> {
        let v: i32 = self.get(c)?;
        u32::try_from(v).map_err(|_| corrupt(c, format!("negative value {v}")))
    }
    fn time(&self, c: &'static str) -> R<DateTime<Utc>> {
        self.get(c)
    }
    fn time_opt(&self, c: &'static str) -> R<Option<DateTime<Utc>>> {
        self.get(c)
    }
    fn date(&self, c: &'static str) -> R<NaiveDate> {
        self.get(c)
    }
    fn date_opt(&self, c: &'static str) -> R<Option<NaiveDate>> {
        self.get(c)
    }
    fn json(&self, c: &'static str) -> R<serde_json::Value> {
        self.get(c)
    }
    fn status_opt(&self, c: &'static str) -> R<Option<u16>> {
        // Stored as `integer` (int4), which sqlx does not widen.
        let v: Option<i32> = self.get(c)?;
        v.map(|s| u16::try_from(s).map_err(|_| corrupt(c, format!("not an HTTP status: {s}"))))
            .transpose()
    }
}

/// Reads the columns of a row that PostgreSQL encoded as one JSON object
/// (`to_jsonb(t)`), so one statement can return rows of several tables
/// whose column names overlap. PostgreSQL writes ids and instants as
/// strings (ISO 8601 for instants), counts as numbers, arrays as arrays.
pub(crate) struct JsonCols<'r>(pub &'r serde_json::Map<String, serde_json::Value>);

impl JsonCols<'_> {
    fn value(&self, c: &'static str) -> R<&serde_json::Value> {
        self.0.get(c).ok_or_else(|| corrupt(c, "missing"))
    }

    /// `None` for JSON null, else `read` of the value.
    fn opt<T>(
        &self,
        c: &'static str,
        read: impl FnOnce(&serde_json::Value) -> R<T>,
    ) -> R<Option<T>> {
        match self.value(c)? {
            serde_json::Value::Null => Ok(None),
            v => read(v).map(Some),
        }
    }

    fn str_of<'v>(c: &'static str, v: &'v serde_json::Value) -> R<&'v str> {
        v.as_str()
            .ok_or_else(|| corrupt(c, format!("not text: {v}")))
    }

    fn uuid_of(c: &'static str, v: &serde_json::Value) -> R<Uuid> {
        Uuid::parse_str(Self::str_of(c, v)?).map_err(|e| corrupt(c, e.to_string()))
    }

    fn i64_of(c: &'static str, v: &serde_json::Value) -> R<i64> {
        v.as_i64()
            .ok_or_else(|| corrupt(c, format!("not an integer: {v}")))
    }

    fn time_of(c: &'static str, v: &serde_json::Value) -> R<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(Self::str_of(c, v)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| corrupt(c, e.to_string()))
    }

    fn date_of(c: &'static str, v: &serde_json::Value) -> R<NaiveDate> {
        NaiveDate::parse_from_str(Self::str_of(c, v)?, "%Y-%m-%d")
            .map_err(|e| corrupt(c, e.to_string()))
    }

    fn unsigned(c: &'static str, v: &serde_json::Value) -> R<u64> {
        let n = Self::i64_of(c, v)?;
        u64::try_from(n).map_err(|_| corrupt(c, format!("negative value {n}")))
    }
}

impl Columns for JsonCols<'_> {
    fn corrupt(&self, column: &'static str, reason: String) -> tracker_core::Error {
        corrupt(column, reason)
    }
    fn uuid(&self, c: &'static str) -> R<Uuid> {
        Self::uuid_of(c, self.value(c)?)
    }
    fn uuid_opt(&self, c: &'static str) -> R<Option<Uuid>> {
        self.opt(c, |v| Self::uuid_of(c, v))
    }
    fn uuids(&self, c: &'static str) -> R<Vec<Uuid>> {
        let v = self.value(c)?;
        v.as_array()
            .ok_or_else(|| corrupt(c, format!("not an array: {v}")))?
            .iter()
            .map(|id| Self::uuid_of(c, id))
            .collect()
    }
    fn text(&self, c: &'static str) -> R<String> {
        Self::str_of(c, self.value(c)?).map(str::to_owned)
    }
    fn text_opt(&self, c: &'static str) -> R<Option<String>> {
        self.opt(c, |v| Self::str_of(c, v).map(str::to_owned))
    }
    fn bool(&self, c: &'static str) -> R<bool> {
        let v = self.value(c)?;
        v.as_bool()
            .ok_or_else(|| corrupt(c, format!("not a flag: {v}")))
    }
    fn u64(&self, c: &'static str) -> R<u64> {
        Self::unsigned(c, self.value(c)?)
    }
    fn u64_opt(&self, c: &'static str) -> R<Option<u64>> {
        self.opt(c, |v| Self::unsigned(c, v))
    }
    fn u32(&self, c: &'static str) -> R<u32> {
        let n = Self::unsigned(c, self.value(c)?)?;
        u32::try_from(n).map_err(|_| corrupt(c, format!("out of range: {n}")))
    }
    fn time(&self, c: &'static str) -> R<DateTime<Utc>> {
        Self::time_of(c, self.value(c)?)
    }
    fn time_opt(&self, c: &'static str) -> R<Option<DateTime<Utc>>> {
        self.opt(c, |v| Self::time_of(c, v))
    }
    fn date(&self, c: &'static str) -> R<NaiveDate> {
        Self::date_of(c, self.value(c)?)
    }
    fn date_opt(&self, c: &'static str) -> R<Option<NaiveDate>> {
        self.opt(c, |v| Self::date_of(c, v))
    }
    fn json(&self, c: &'static str) -> R<serde_json::Value> {
        self.value(c).cloned()
    }
}

/// A row of `table` read as JSON by [`JsonCols`]: `None` for SQL null (no
/// row joined).
pub(crate) fn json_row<T>(
    r: &PgRow,
    table: &'static str,
    decode: impl FnOnce(&JsonCols<'_>) -> R<T>,
) -> R<Option<T>> {
    let v: Option<serde_json::Value> = r
        .try_get(table)
        .map_err(|e| corrupt(table, e.to_string()))?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Object(m)) => decode(&JsonCols(&m)).map(Some),
        Some(other) => Err(corrupt(table, format!("not a row: {other}"))),
    }
}

/// Row mappers for the store's queries: the shared decoders over [`Cols`].
macro_rules! decoders {
    ($($name:ident -> $ty:ty),* $(,)?) => {
        $(pub(crate) fn $name(r: &PgRow) -> R<$ty> {
            rows::$name(&Cols(r))
        })*
    };
}

decoders!(
    plan -> Plan,
    company -> Company,
    subscription -> Subscription,
    user -> User,
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
