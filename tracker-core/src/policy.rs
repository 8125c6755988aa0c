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

/// A company's tracking policy. Created with the company; `version` grows
/// by one on every change and serves as the agents' ETag.
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
    /// Whether agents blur screenshots before upload.
    pub blur_screenshots: bool,
    /// Grows by one on every change.
    pub version: u64,
    /// Time of the last change.
    pub updated_at: DateTime<Utc>,
}

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
            version: 1,
            updated_at: now,
        }
    }

    /// The policy with `update` applied, validated, and its version bumped.
    pub fn apply(&self, update: &PolicyUpdate, now: DateTime<Utc>) -> Result<TrackingPolicy> {
        update.validate()?;
        Ok(TrackingPolicy {
            company_id: self.company_id,
            screenshots_enabled: update
                .screenshots_enabled
                .unwrap_or(self.screenshots_enabled),
            screenshot_interval_seconds: update
                .screenshot_interval_seconds
                .unwrap_or(self.screenshot_interval_seconds),
            website_tracking_enabled: update
                .website_tracking_enabled
                .unwrap_or(self.website_tracking_enabled),
            app_tracking_enabled: update
                .app_tracking_enabled
                .unwrap_or(self.app_tracking_enabled),
            idle_threshold_seconds: update
                .idle_threshold_seconds
                .unwrap_or(self.idle_threshold_seconds),
            blur_screenshots: update.blur_screenshots.unwrap_or(self.blur_screenshots),
            version: self.version + 1,
            updated_at: now,
        })
    }

    /// The ETag agents send back in `If-None-Match`.
    pub fn etag(&self) -> String {
        format!("\"policy-v{}\"", self.version)
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
            "version": self.version,
        })
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
        v.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_bump_the_version_and_keep_absent_fields() {
        let now = Utc::now();
        let p = TrackingPolicy::default_for(CompanyId::new(), now);
        let q = p
            .apply(
                &PolicyUpdate {
                    screenshots_enabled: Some(false),
                    ..Default::default()
                },
                now,
            )
            .unwrap();
        assert_eq!(q.version, p.version + 1);
        assert!(!q.screenshots_enabled);
        assert_eq!(q.idle_threshold_seconds, p.idle_threshold_seconds);
        assert_ne!(p.etag(), q.etag());
    }

    #[test]
    fn out_of_range_values_are_named() {
        let bad = PolicyUpdate {
            screenshot_interval_seconds: Some(5),
            idle_threshold_seconds: Some(100_000),
            ..Default::default()
        };
        let err = bad.validate().unwrap_err();
        let fields: Vec<_> = err
            .field_errors()
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(
            fields,
            ["screenshot_interval_seconds", "idle_threshold_seconds"]
        );
    }
}
