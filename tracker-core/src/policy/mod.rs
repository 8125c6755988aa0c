//! The tracking policy: what agents capture, bounded and versioned.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Result, Validator};
use crate::ids::CompanyId;

/// Bounds of the policy's numeric values, in seconds.
pub mod bounds {
    /// Shortest screenshot interval.
    pub const SCREENSHOT_INTERVAL_MIN: u32 = 30;
    /// Longest screenshot interval.
    pub const SCREENSHOT_INTERVAL_MAX: u32 = 3_600;
    /// Shortest idle threshold.
    pub const IDLE_THRESHOLD_MIN: u32 = 60;
    /// Longest idle threshold.
    pub const IDLE_THRESHOLD_MAX: u32 = 3_600;
}

/// How much of a visited URL is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum UrlDetail {
    /// The host name only: `https://docs.rs`.
    Domain,
    /// Scheme, host and path, without the query or fragment.
    Path,
    /// The URL as the agent sent it.
    #[default]
    Full,
}

/// What is kept of window titles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TitleRule {
    /// Nothing: titles are dropped on ingest.
    Drop,
    /// The title with every match of the policy's `title_patterns`
    /// replaced by `[redacted]`.
    Redact,
    /// The title as the agent sent it.
    #[default]
    Keep,
}

/// How long each kind of tracking data is kept, in days. `None` keeps a
/// kind as long as the company's retention (the OWNER's maximum), which
/// also bounds every value here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionByKind {
    /// Screenshots and their images.
    pub screenshots_days: Option<u32>,
    /// URLs and window titles: blanked at this age, the times kept.
    pub details_days: Option<u32>,
    /// Activity events.
    pub activity_days: Option<u32>,
    /// Work sessions.
    pub sessions_days: Option<u32>,
}

impl RetentionByKind {
    /// The kinds with their names, in a fixed order.
    pub fn kinds(&self) -> [(&'static str, Option<u32>); 4] {
        [
            ("screenshots_days", self.screenshots_days),
            ("details_days", self.details_days),
            ("activity_days", self.activity_days),
            ("sessions_days", self.sessions_days),
        ]
    }

    /// Days a kind is kept under a company retention of `company_days`.
    pub fn days(kind: Option<u32>, company_days: u32) -> u32 {
        kind.map_or(company_days, |d| d.min(company_days))
    }
}

/// A change that collects more than the policy in force, announced and
/// waiting for its notice period (and, where the policy in force asks for
/// it, each employee's acknowledgement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingPolicy {
    /// The announced policy (its own `pending` is always empty).
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub policy: TrackingPolicy,
    /// When it may apply: its announcement plus the notice period in force.
    pub applies_at: DateTime<Utc>,
    /// Acknowledgements of this version or later count for it: the first
    /// version of a run of changes, each collecting no more than the one
    /// before, that replaced one another while pending.
    pub acknowledged_from: u64,
    /// Whether it applies to an employee only once they acknowledged it:
    /// the strictest rule any employee was under when it was announced.
    pub requires_acknowledgement: bool,
}

/// A company's tracking policy. Created with the company; every change
/// takes the next version, which serves as the agents' ETag.
///
/// The record is the policy in force. A change that collects more waits
/// in [`pending`](Self::pending) (see [`change`](Self::change)); what
/// applies to one employee is [`effective`](Self::effective).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrackingPolicy {
    /// Company.
    pub company_id: CompanyId,
    /// Whether agents take screenshots (uploads are refused when off).
    pub screenshots_enabled: bool,
    /// Seconds between screenshots.
    pub screenshot_interval_seconds: u32,
    /// Whether URLs are kept (dropped on ingest when off).
    pub website_tracking_enabled: bool,
    /// Whether app names and window titles are kept (dropped on ingest when off).
    pub app_tracking_enabled: bool,
    /// Seconds without input after which the agent reports idle.
    pub idle_threshold_seconds: u32,
    /// Whether screenshots are blurred (by the server, on upload).
    pub blur_screenshots: bool,
    /// How much of a URL is kept.
    #[serde(default)]
    pub url_detail: UrlDetail,
    /// What is kept of window titles.
    #[serde(default)]
    pub window_titles: TitleRule,
    /// Regular expressions redacted from window titles under
    /// [`TitleRule::Redact`]; at most 20, each at most 200 characters.
    #[serde(default)]
    pub title_patterns: Vec<String>,
    /// Days between the announcement of a change that collects more and
    /// the day it may apply.
    #[serde(default)]
    pub notice_days: u32,
    /// Whether a change that collects more applies to an employee only
    /// once they acknowledged its version.
    #[serde(default)]
    pub require_acknowledgement: bool,
    /// How long each kind of data is kept.
    #[serde(default)]
    pub retention: RetentionByKind,
    /// This policy's version.
    pub version: u64,
    /// Time of the change that made this version.
    pub updated_at: DateTime<Utc>,
    /// A change that collects more, announced and not yet in force.
    #[serde(default)]
    pub pending: Option<Box<PendingPolicy>>,
}

/// Most window-title patterns a policy holds.
pub const MAX_TITLE_PATTERNS: usize = 20;
/// Longest window-title pattern, in characters.
pub const MAX_TITLE_PATTERN_CHARS: usize = 200;
/// Longest notice period, in days.
pub const MAX_NOTICE_DAYS: u32 = 90;
/// Longest retention of any kind, in days (the company's own bound).
pub const MAX_RETENTION_DAYS: u32 = 3_650;

impl TrackingPolicy {
    /// The policy a new company starts with.
    pub fn default_for(company_id: CompanyId, now: DateTime<Utc>) -> Self {
        Self {
            company_id,
            screenshots_enabled: true,
            screenshot_interval_seconds: 600,
            website_tracking_enabled: true,
            app_tracking_enabled: true,
            idle_threshold_seconds: 300,
            blur_screenshots: false,
            url_detail: UrlDetail::Full,
            window_titles: TitleRule::Keep,
            title_patterns: Vec::new(),
            notice_days: 0,
            require_acknowledgement: false,
            retention: RetentionByKind::default(),
            version: 1,
            updated_at: now,
            pending: None,
        }
    }

    /// The version of the newest announced policy: grows by one on every
    /// change of the record, whether it applied at once or waits, so
    /// stores compare and set on it.
    pub fn revision(&self) -> u64 {
        self.latest().version
    }

    /// The newest announced policy: the pending one, else this one.
    pub fn latest(&self) -> &TrackingPolicy {
        self.pending.as_ref().map_or(self, |p| &p.policy)
    }

    /// The policy record after an ADMIN's `update` of the newest announced
    /// policy: validated, the next version, and put through
    /// [`ratchet`](Self::ratchet).
    pub fn change(&self, update: &PolicyUpdate, now: DateTime<Utc>) -> Result<TrackingPolicy> {
        update.validate()?;
        let latest = self.latest();
        let target = TrackingPolicy {
            company_id: self.company_id,
            screenshots_enabled: update
                .screenshots_enabled
                .unwrap_or(latest.screenshots_enabled),
            screenshot_interval_seconds: update
                .screenshot_interval_seconds
                .unwrap_or(latest.screenshot_interval_seconds),
            website_tracking_enabled: update
                .website_tracking_enabled
                .unwrap_or(latest.website_tracking_enabled),
            app_tracking_enabled: update
                .app_tracking_enabled
                .unwrap_or(latest.app_tracking_enabled),
            idle_threshold_seconds: update
                .idle_threshold_seconds
                .unwrap_or(latest.idle_threshold_seconds),
            blur_screenshots: update.blur_screenshots.unwrap_or(latest.blur_screenshots),
            url_detail: update.url_detail.unwrap_or(latest.url_detail),
            window_titles: update.window_titles.unwrap_or(latest.window_titles),
            title_patterns: update
                .title_patterns
                .clone()
                .unwrap_or_else(|| latest.title_patterns.clone()),
            notice_days: update.notice_days.unwrap_or(latest.notice_days),
            require_acknowledgement: update
                .require_acknowledgement
                .unwrap_or(latest.require_acknowledgement),
            retention: update.retention.unwrap_or(latest.retention),
            version: latest.version + 1,
            updated_at: now,
            pending: None,
        };
        Ok(self.ratchet(target, now))
    }

    /// The privacy ratchet: the record after `target` is announced at
    /// `now`. A target that collects no more than the policy in force
    /// applies at once, whole. One that collects more in any respect
    /// waits as [`pending`](Self::pending) until the notice period of the
    /// policy in force has passed; a target that collects no more than
    /// the change already pending keeps that change's date, of which its
    /// employees were told.
    pub fn ratchet(&self, target: TrackingPolicy, now: DateTime<Utc>) -> TrackingPolicy {
        let (base, pending) = match &self.pending {
            // Due and needing no acknowledgement: it is in force for all.
            Some(p) if now >= p.applies_at && !p.requires_acknowledgement => {
                (p.policy.clone(), None)
            }
            Some(p) => (self.without_pending(), Some(p)),
            None => (self.clone(), None),
        };
        if target.collects_no_more_than(&base) {
            return target;
        }
        // Within the change already pending, its date and the consent given
        // to it still hold: the employees were told of more than this.
        let pending = match pending {
            Some(p) if target.collects_no_more_than(&p.policy) => PendingPolicy {
                policy: target,
                ..(**p).clone()
            },
            // Some employees may be under the change it replaces: the
            // notice and consent promised by either hold.
            _ => {
                let (notice, consent) =
                    pending.map_or((base.notice_days, base.require_acknowledgement), |p| {
                        (
                            base.notice_days.max(p.policy.notice_days),
                            base.require_acknowledgement
                                || p.requires_acknowledgement
                                || p.policy.require_acknowledgement,
                        )
                    });
                PendingPolicy {
                    applies_at: now + chrono::Duration::days(i64::from(notice)),
                    acknowledged_from: target.version,
                    requires_acknowledgement: consent,
                    policy: target,
                }
            }
        };
        // Due now and needing no acknowledgement (no notice period): it
        // applies at once, as a change that collects less does.
        if pending.applies_at <= now && !pending.requires_acknowledgement {
            return pending.policy;
        }
        TrackingPolicy {
            pending: Some(Box::new(pending)),
            ..base
        }
    }

    /// The policy that applies to an employee who last acknowledged
    /// version `acknowledged` (if any) at `now`: the pending change once
    /// it is due and, where the policy in force asks for it, acknowledged;
    /// else the policy in force. Its own `pending` is empty.
    pub fn effective(&self, acknowledged: Option<u64>, now: DateTime<Utc>) -> TrackingPolicy {
        match &self.pending {
            Some(p) if self.pending_applies(acknowledged, now) => p.policy.clone(),
            _ => self.without_pending(),
        }
    }

    /// Whether the pending change applies to an employee who last
    /// acknowledged `acknowledged` (false when nothing is pending).
    pub fn pending_applies(&self, acknowledged: Option<u64>, now: DateTime<Utc>) -> bool {
        self.pending.as_ref().is_some_and(|p| {
            now >= p.applies_at
                && (!p.requires_acknowledgement
                    || acknowledged.is_some_and(|v| v >= p.acknowledged_from))
        })
    }

    /// This policy without its pending change.
    pub fn without_pending(&self) -> TrackingPolicy {
        TrackingPolicy {
            pending: None,
            ..self.clone()
        }
    }

    /// Whether this policy collects nothing that `other` does not: in
    /// every respect it takes, keeps and exposes no more, and protects
    /// no less (notice, acknowledgement, retention). The idle threshold
    /// changes how time is counted, not what is collected.
    pub fn collects_no_more_than(&self, other: &TrackingPolicy) -> bool {
        self.more_than(other).is_empty()
    }

    /// The respects in which this policy collects more than `other`, in
    /// plain words; empty when it collects no more.
    pub fn more_than(&self, other: &TrackingPolicy) -> Vec<&'static str> {
        let mut more = Vec::new();
        if self.screenshots_enabled {
            if !other.screenshots_enabled {
                more.push("screenshots are taken");
            } else {
                if self.screenshot_interval_seconds < other.screenshot_interval_seconds {
                    more.push("screenshots are taken more often");
                }
                if !self.blur_screenshots && other.blur_screenshots {
                    more.push("screenshots are no longer blurred");
                }
            }
        }
        if self.website_tracking_enabled {
            if !other.website_tracking_enabled {
                more.push("visited websites are recorded");
            } else if self.url_detail > other.url_detail {
                more.push("more of each visited URL is kept");
            }
        }
        if self.app_tracking_enabled {
            if !other.app_tracking_enabled {
                more.push("applications and window titles are recorded");
            } else if !self.titles_within(other) {
                more.push("more of each window title is kept");
            }
        }
        if self.notice_days < other.notice_days {
            more.push("changes are announced with less notice");
        }
        if !self.require_acknowledgement && other.require_acknowledgement {
            more.push("changes no longer wait for your acknowledgement");
        }
        let longer = self
            .retention
            .kinds()
            .iter()
            .zip(other.retention.kinds())
            .any(|((_, mine), (_, theirs))| mine.unwrap_or(u32::MAX) > theirs.unwrap_or(u32::MAX));
        if longer {
            more.push("data is kept longer");
        }
        more
    }

    /// Whether this policy keeps no more of window titles than `other`.
    fn titles_within(&self, other: &TrackingPolicy) -> bool {
        match (self.window_titles, other.window_titles) {
            (TitleRule::Drop, _) | (_, TitleRule::Keep) => true,
            (TitleRule::Keep, _) | (TitleRule::Redact, TitleRule::Drop) => false,
            // Redacting at least every pattern the other redacts.
            (TitleRule::Redact, TitleRule::Redact) => other
                .title_patterns
                .iter()
                .all(|p| self.title_patterns.contains(p)),
        }
    }

    /// The ETag agents send back in `If-None-Match`.
    pub fn etag(&self) -> String {
        format!("\"policy-v{}\"", self.version)
    }

    /// What is stored about an employee under this policy, in plain words.
    pub fn explain(&self, company_retention_days: u32) -> Vec<String> {
        let days = |kind| RetentionByKind::days(kind, company_retention_days);
        let mut lines = vec![format!(
            "Work sessions (start and stop times) are kept for {} days; activity \
             (active or idle time) for {} days.",
            days(self.retention.sessions_days),
            days(self.retention.activity_days)
        )];
        lines.push(if self.screenshots_enabled {
            format!(
                "A screenshot is taken about every {} seconds{}, kept for {} days.",
                self.screenshot_interval_seconds,
                if self.blur_screenshots {
                    " and blurred by the server before it is stored"
                } else {
                    ""
                },
                days(self.retention.screenshots_days)
            )
        } else {
            "No screenshots are taken.".to_owned()
        });
        lines.push(if self.website_tracking_enabled {
            match self.url_detail {
                UrlDetail::Full => "Visited web addresses are kept in full.",
                UrlDetail::Path => "Visited web addresses are kept without their query.",
                UrlDetail::Domain => "Only the site name of visited web addresses is kept.",
            }
            .to_owned()
        } else {
            "Visited websites are not recorded.".to_owned()
        });
        lines.push(if self.app_tracking_enabled {
            match self.window_titles {
                TitleRule::Keep => "Application names and window titles are kept.".to_owned(),
                TitleRule::Redact => format!(
                    "Application names are kept; window titles are kept with the parts \
                     matching {} redacted.",
                    counted(self.title_patterns.len(), "pattern")
                ),
                TitleRule::Drop => "Application names are kept; window titles are not.".to_owned(),
            }
        } else {
            "Applications and window titles are not recorded.".to_owned()
        });
        if self.website_tracking_enabled || self.app_tracking_enabled {
            lines.push(format!(
                "Web addresses and window titles are blanked after {} days.",
                days(self.retention.details_days)
            ));
        }
        let consent = if self.require_acknowledgement {
            ", and applies to you only once you acknowledge it"
        } else {
            ""
        };
        lines.push(match self.notice_days {
            0 => {
                format!("A change that collects more applies as soon as it is announced{consent}.")
            }
            n => format!(
                "A change that collects more is announced {} before it applies{consent}.",
                counted(n as usize, "day")
            ),
        });
        lines
    }

    /// The values as JSON, for audit details (old and new values).
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "screenshots_enabled": self.screenshots_enabled,
            "screenshot_interval_seconds": self.screenshot_interval_seconds,
            "website_tracking_enabled": self.website_tracking_enabled,
            "app_tracking_enabled": self.app_tracking_enabled,
            "idle_threshold_seconds": self.idle_threshold_seconds,
            "blur_screenshots": self.blur_screenshots,
            "url_detail": self.url_detail,
            "window_titles": self.window_titles,
            "title_patterns": self.title_patterns,
            "notice_days": self.notice_days,
            "require_acknowledgement": self.require_acknowledgement,
            "retention": self.retention,
            "version": self.version,
            "pending": self.pending.as_ref().map(|p| serde_json::json!({
                "version": p.policy.version,
                "applies_at": p.applies_at,
            })),
        })
    }
}

/// `n` things, in words: "1 day", "3 days".
fn counted(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// A change of the policy; absent fields keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyUpdate {
    /// See [`TrackingPolicy::screenshots_enabled`].
    pub screenshots_enabled: Option<bool>,
    /// See [`TrackingPolicy::screenshot_interval_seconds`]; 30 to 3600.
    #[cfg_attr(feature = "openapi", schema(minimum = 30, maximum = 3600))]
    pub screenshot_interval_seconds: Option<u32>,
    /// See [`TrackingPolicy::website_tracking_enabled`].
    pub website_tracking_enabled: Option<bool>,
    /// See [`TrackingPolicy::app_tracking_enabled`].
    pub app_tracking_enabled: Option<bool>,
    /// See [`TrackingPolicy::idle_threshold_seconds`]; 60 to 3600.
    #[cfg_attr(feature = "openapi", schema(minimum = 60, maximum = 3600))]
    pub idle_threshold_seconds: Option<u32>,
    /// See [`TrackingPolicy::blur_screenshots`].
    pub blur_screenshots: Option<bool>,
    /// See [`TrackingPolicy::url_detail`].
    pub url_detail: Option<UrlDetail>,
    /// See [`TrackingPolicy::window_titles`].
    pub window_titles: Option<TitleRule>,
    /// See [`TrackingPolicy::title_patterns`]: replaces the list.
    pub title_patterns: Option<Vec<String>>,
    /// See [`TrackingPolicy::notice_days`]; 0 to 90.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 90))]
    pub notice_days: Option<u32>,
    /// See [`TrackingPolicy::require_acknowledgement`].
    pub require_acknowledgement: Option<bool>,
    /// See [`TrackingPolicy::retention`]: replaces every kind; each at
    /// most the company's retention.
    pub retention: Option<RetentionByKind>,
}

impl PolicyUpdate {
    /// Checks the bounds, naming every field out of range.
    pub fn validate(&self) -> Result<()> {
        let mut v = Validator::new();
        if let Some(s) = self.screenshot_interval_seconds {
            v.range(
                "screenshot_interval_seconds",
                s,
                bounds::SCREENSHOT_INTERVAL_MIN,
                bounds::SCREENSHOT_INTERVAL_MAX,
            );
        }
        if let Some(s) = self.idle_threshold_seconds {
            v.range(
                "idle_threshold_seconds",
                s,
                bounds::IDLE_THRESHOLD_MIN,
                bounds::IDLE_THRESHOLD_MAX,
            );
        }
        if let Some(d) = self.notice_days {
            v.range("notice_days", d, 0, MAX_NOTICE_DAYS);
        }
        if let Some(patterns) = &self.title_patterns {
            if patterns.len() > MAX_TITLE_PATTERNS {
                v.push(
                    "title_patterns",
                    format!(
                        "holds {} patterns, at most {MAX_TITLE_PATTERNS} are accepted",
                        patterns.len()
                    ),
                );
            }
            for (i, p) in patterns.iter().enumerate().take(MAX_TITLE_PATTERNS) {
                let field = format!("title_patterns[{i}]");
                v.text(&field, p, 1, MAX_TITLE_PATTERN_CHARS);
                if let Err(why) = crate::minimise::compile(p) {
                    v.push(field, why);
                }
            }
        }
        if let Some(r) = &self.retention {
            for (name, days) in r.kinds() {
                if let Some(d) = days {
                    v.range(&format!("retention.{name}"), d, 1, MAX_RETENTION_DAYS);
                }
            }
        }
        v.finish()
    }
}

#[cfg(test)]
mod tests;
