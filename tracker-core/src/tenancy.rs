//! Tenancy: plans, companies and their lifecycle, subscriptions, seats.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Validator};
use crate::ids::{CompanyId, PlanId, SubscriptionId, UserId};
use crate::secret::SecretHash;

/// A price plan. Plans are data: FREE, PRO, ENTERPRISE are defaults, an
/// operator may add its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    /// Id.
    pub id: PlanId,
    /// Unique code, upper case (`FREE`, `PRO`, `ENTERPRISE`, or custom).
    pub code: String,
    /// Seats: active company users the plan allows.
    pub max_employees: u32,
    /// Screenshot storage the plan allows, in bytes.
    pub max_storage_bytes: u64,
    /// Monthly price in cents.
    pub price_monthly_cents: u64,
}

/// What an operator sends to create a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    /// Unique code: 1 to 32 of `A-Z`, `0-9`, `_`.
    pub code: String,
    /// Seats, at least 1.
    pub max_employees: u32,
    /// Storage in bytes.
    pub max_storage_bytes: u64,
    /// Monthly price in cents.
    pub price_monthly_cents: u64,
}

impl NewPlan {
    /// Validates the fields, naming each bad one.
    pub fn validate(&self) -> Result<()> {
        let mut v = Validator::new();
        v.check(
            !self.code.is_empty()
                && self.code.len() <= 32
                && self
                    .code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
            "code",
            "must be 1 to 32 characters of A-Z, 0-9 and _",
        );
        v.range("max_employees", self.max_employees, 1, 1_000_000);
        v.finish()
    }

    /// The plan this request creates.
    pub fn into_plan(self) -> Plan {
        Plan {
            id: PlanId::new(),
            code: self.code,
            max_employees: self.max_employees,
            max_storage_bytes: self.max_storage_bytes,
            price_monthly_cents: self.price_monthly_cents,
        }
    }

    /// The three default plans.
    pub fn defaults() -> [NewPlan; 3] {
        const GIB: u64 = 1 << 30;
        [
            NewPlan {
                code: "FREE".into(),
                max_employees: 5,
                max_storage_bytes: GIB,
                price_monthly_cents: 0,
            },
            NewPlan {
                code: "PRO".into(),
                max_employees: 50,
                max_storage_bytes: 100 * GIB,
                price_monthly_cents: 9_900,
            },
            NewPlan {
                code: "ENTERPRISE".into(),
                max_employees: 1_000,
                max_storage_bytes: 1_024 * GIB,
                price_monthly_cents: 49_900,
            },
        ]
    }
}

/// The stored lifecycle state of a company. What counts is the
/// [`effective`](Company::effective_status) status, which also applies the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CompanyStatus {
    /// On trial until `trial_ends_at`.
    Trial,
    /// Paying, until `subscription_expires_at` if set.
    Active,
    /// Blocked by the operator.
    Suspended,
    /// Trial or subscription ended.
    Expired,
}

impl CompanyStatus {
    /// The stable name (`TRIAL`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CompanyStatus::Trial => "TRIAL",
            CompanyStatus::Active => "ACTIVE",
            CompanyStatus::Suspended => "SUSPENDED",
            CompanyStatus::Expired => "EXPIRED",
        }
    }

    /// Parses the stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "TRIAL" => CompanyStatus::Trial,
            "ACTIVE" => CompanyStatus::Active,
            "SUSPENDED" => CompanyStatus::Suspended,
            "EXPIRED" => CompanyStatus::Expired,
            _ => return None,
        })
    }
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Company {
    /// Id.
    pub id: CompanyId,
    /// Display name.
    pub name: String,
    /// Stored status; see [`Company::effective_status`].
    pub status: CompanyStatus,
    /// The current plan.
    pub plan_id: PlanId,
    /// End of the trial, for TRIAL companies.
    pub trial_ends_at: Option<DateTime<Utc>>,
    /// End of the paid period, if it has one.
    pub subscription_expires_at: Option<DateTime<Utc>>,
    /// The status to return to on reactivation (set while SUSPENDED).
    pub status_before_suspension: Option<CompanyStatus>,
    /// IANA timezone; reports cut days in it.
    pub timezone: String,
    /// Tracking data older than this many days is purged.
    pub retention_days: u32,
    /// Last heartbeat of any of its agents.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Digest of the company key. Never serialized.
    #[serde(skip_serializing, default = "empty_hash")]
    pub key_hash: SecretHash,
    /// A legal hold on the whole company: no purge and no erasure while set.
    #[serde(default)]
    pub legal_hold: Option<crate::identity::LegalHold>,
}

fn empty_hash() -> SecretHash {
    SecretHash::from_stored(String::new())
}

/// Parses an IANA timezone name.
pub fn parse_timezone(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

impl Company {
    /// The status with the clock applied: a TRIAL past `trial_ends_at` or an
    /// ACTIVE past `subscription_expires_at` is EXPIRED even before a job
    /// persists it.
    pub fn effective_status(&self, now: DateTime<Utc>) -> CompanyStatus {
        match self.status {
            CompanyStatus::Trial if self.trial_ends_at.is_some_and(|end| now >= end) => {
                CompanyStatus::Expired
            }
            CompanyStatus::Active if self.subscription_expires_at.is_some_and(|end| now >= end) => {
                CompanyStatus::Expired
            }
            other => other,
        }
    }

    /// The access rule for company users: SUSPENDED and EXPIRED are refused.
    pub fn check_access(&self, now: DateTime<Utc>) -> Result<()> {
        match self.effective_status(now) {
            CompanyStatus::Suspended => Err(Error::CompanySuspended),
            CompanyStatus::Expired => Err(Error::CompanyExpired),
            CompanyStatus::Trial | CompanyStatus::Active => Ok(()),
        }
    }

    /// The company's timezone; UTC if the stored name is unknown (it is
    /// validated on every write, so this only guards old data).
    pub fn tz(&self) -> Tz {
        parse_timezone(&self.timezone).unwrap_or(Tz::UTC)
    }

    /// Whether this company raises a no-sync alert at `now`: effectively
    /// ACTIVE and no agent synced for 24 hours (counted from creation if
    /// none ever did).
    pub fn is_no_sync(&self, now: DateTime<Utc>) -> bool {
        self.effective_status(now) == CompanyStatus::Active
            && now - self.last_sync_at.unwrap_or(self.created_at) >= Duration::hours(24)
    }

    /// The company after a suspension.
    pub fn suspended(&self, now: DateTime<Utc>) -> Result<Company> {
        let current = self.effective_status(now);
        if current == CompanyStatus::Suspended {
            return Err(Error::invalid_state("the company is already suspended"));
        }
        Ok(Company {
            status: CompanyStatus::Suspended,
            status_before_suspension: Some(self.status),
            ..self.clone()
        })
    }

    /// The company after reactivation: back to the status it had before the
    /// suspension. Only a suspended company can be reactivated; an expired
    /// one is renewed by a plan change.
    pub fn reactivated(&self) -> Result<Company> {
        if self.status != CompanyStatus::Suspended {
            return Err(Error::invalid_state(format!(
                "only a suspended company can be reactivated, this one is {}",
                self.status.as_str()
            )));
        }
        Ok(Company {
            status: self
                .status_before_suspension
                .unwrap_or(CompanyStatus::Active),
            status_before_suspension: None,
            ..self.clone()
        })
    }
}

/// Validates a company name, timezone and retention.
pub fn validate_company_fields(
    v: &mut Validator,
    name: Option<&str>,
    timezone: Option<&str>,
    retention_days: Option<u32>,
) {
    if let Some(name) = name {
        v.text("name", name, 1, 200);
    }
    if let Some(tz) = timezone {
        v.check(
            parse_timezone(tz).is_some(),
            "timezone",
            format!("{tz:?} is not an IANA timezone name"),
        );
    }
    if let Some(days) = retention_days {
        v.range("retention_days", days, 1, 3_650);
    }
}

/// One row of a company's billing history: a plan change or renewal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscription {
    /// Id.
    pub id: SubscriptionId,
    /// Company.
    pub company_id: CompanyId,
    /// The plan chosen.
    pub plan_id: PlanId,
    /// Amount charged, in cents.
    pub amount_cents: u64,
    /// Start of the period.
    pub starts_at: DateTime<Utc>,
    /// End of the period, if it has one.
    pub ends_at: Option<DateTime<Utc>>,
    /// Who made the change.
    pub created_by: Option<UserId>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The plan-change rule: the company's seats in use and storage used must
/// fit the new plan.
pub fn check_plan_fits(plan: &Plan, seats_in_use: u32, storage_used: u64) -> Result<()> {
    if seats_in_use > plan.max_employees {
        return Err(Error::PlanTooSmall {
            reason: format!(
                "{seats_in_use} seats in use, plan {} allows {}",
                plan.code, plan.max_employees
            ),
        });
    }
    if storage_used > plan.max_storage_bytes {
        return Err(Error::PlanTooSmall {
            reason: format!(
                "{storage_used} bytes stored, plan {} allows {}",
                plan.code, plan.max_storage_bytes
            ),
        });
    }
    Ok(())
}

/// The seat rule: one more active user must fit.
pub fn check_seat_available(plan_max: u32, seats_in_use: u32) -> Result<()> {
    if seats_in_use >= plan_max {
        Err(Error::SeatLimitReached { limit: plan_max })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn company(status: CompanyStatus) -> Company {
        Company {
            id: CompanyId::new(),
            name: "Acme".into(),
            status,
            plan_id: PlanId::new(),
            trial_ends_at: Some(at("2026-02-01T00:00:00Z")),
            subscription_expires_at: Some(at("2026-03-01T00:00:00Z")),
            status_before_suspension: None,
            timezone: "Europe/Berlin".into(),
            retention_days: 90,
            last_sync_at: None,
            created_at: at("2026-01-01T00:00:00Z"),
            key_hash: SecretHash::of("k"),
            legal_hold: None,
        }
    }

    #[test]
    fn trial_expires_with_the_clock_before_any_job() {
        let c = company(CompanyStatus::Trial);
        assert!(c.check_access(at("2026-01-31T23:59:59Z")).is_ok());
        let err = c.check_access(at("2026-02-01T00:00:00Z")).unwrap_err();
        assert_eq!(err.code(), "company_expired");
    }

    #[test]
    fn active_expires_at_subscription_end() {
        let c = company(CompanyStatus::Active);
        assert_eq!(
            c.effective_status(at("2026-02-15T00:00:00Z")),
            CompanyStatus::Active
        );
        assert_eq!(
            c.effective_status(at("2026-03-01T00:00:00Z")),
            CompanyStatus::Expired
        );
    }

    #[test]
    fn suspension_refuses_and_reactivation_restores() {
        let c = company(CompanyStatus::Active);
        let now = at("2026-01-10T00:00:00Z");
        let s = c.suspended(now).unwrap();
        assert_eq!(s.check_access(now).unwrap_err().code(), "company_suspended");
        assert!(s.suspended(now).is_err());
        let r = s.reactivated().unwrap();
        assert_eq!(r.status, CompanyStatus::Active);
        assert!(
            c.reactivated().is_err(),
            "an active company cannot be reactivated"
        );
    }

    #[test]
    fn no_sync_needs_active_and_24_hours() {
        let mut c = company(CompanyStatus::Active);
        c.subscription_expires_at = None;
        c.last_sync_at = Some(at("2026-01-05T00:00:00Z"));
        assert!(!c.is_no_sync(at("2026-01-05T23:59:59Z")));
        assert!(c.is_no_sync(at("2026-01-06T00:00:00Z")));
        c.status = CompanyStatus::Trial;
        assert!(!c.is_no_sync(at("2026-01-09T00:00:00Z")));
    }

    #[test]
    fn plan_and_seat_rules() {
        let plan = NewPlan::defaults()[0].clone().into_plan();
        assert!(check_plan_fits(&plan, 5, 0).is_ok());
        assert_eq!(
            check_plan_fits(&plan, 6, 0).unwrap_err().code(),
            "plan_too_small"
        );
        assert_eq!(
            check_plan_fits(&plan, 1, plan.max_storage_bytes + 1)
                .unwrap_err()
                .code(),
            "plan_too_small"
        );
        assert!(check_seat_available(5, 4).is_ok());
        assert_eq!(
            check_seat_available(5, 5).unwrap_err().code(),
            "seat_limit_reached"
        );
    }

    #[test]
    fn plan_codes_are_validated() {
        let mut p = NewPlan::defaults()[1].clone();
        assert!(p.validate().is_ok());
        p.code = "pro plan".into();
        p.max_employees = 0;
        let err = p.validate().unwrap_err();
        let fields: Vec<_> = err.field_errors().iter().map(|e| e.field.clone()).collect();
        assert_eq!(fields, ["code", "max_employees"]);
    }

    #[test]
    fn company_fields_are_validated() {
        let mut v = Validator::new();
        validate_company_fields(&mut v, Some(""), Some("Mars/Olympus"), Some(0));
        assert_eq!(v.finish().unwrap_err().field_errors().len(), 3);
        let mut v = Validator::new();
        validate_company_fields(&mut v, Some("Acme"), Some("America/New_York"), Some(30));
        assert!(v.finish().is_ok());
    }
}
