//! Alerts and the [`Notifier`] port: how alerts leave the system.
//!
//! The alert job ([`Tracker::check_alerts`](crate::Tracker::check_alerts))
//! stores each [`Alert`] (one open alert per company, kind and subject),
//! resolves it when its condition clears, and hands both events to the
//! [`Notifier`] for every webhook of the company's [`AlertSettings`]. Every
//! attempt is kept as a [`DeliveryRecord`].
//!
//! Webhook bodies are signed: [`sign`] computes the `X-Tracker-Signature`
//! header, `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, and a
//! receiver checks it with [`verify_signature`].
//!
//! ```
//! use tracker_core::notify::{sign, verify_signature};
//!
//! let body = br#"{"event":"raised"}"#;
//! let header = sign("s3cret", 1_700_000_000, body);
//! assert!(verify_signature("s3cret", &header, body, 1_700_000_060, 300).is_ok());
//! assert!(verify_signature("other", &header, body, 1_700_000_060, 300).is_err());
//! ```

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result, Validator};
use crate::ids::{AlertId, CompanyId, DeliveryId, UserId};

/// Kinds of alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AlertKind {
    /// An ACTIVE company had no agent sync for the configured hours (24 by default).
    NoSync,
    /// An employee with an open work session stopped heartbeating.
    AgentOffline,
    /// An employee's idle share passed the threshold on a day.
    HighIdle,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [AlertKind; 3] = [
        AlertKind::NoSync,
        AlertKind::AgentOffline,
        AlertKind::HighIdle,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::NoSync => "no_sync",
            AlertKind::AgentOffline => "agent_offline",
            AlertKind::HighIdle => "high_idle",
        }
    }

    /// Parses the stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A stored alert. Open while `resolved_at` is `None`; a company has at
/// most one open alert per kind and subject (`user_id`, or the company
/// itself when `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    /// Id.
    pub id: AlertId,
    /// Kind.
    pub kind: AlertKind,
    /// Company concerned.
    pub company_id: CompanyId,
    /// User concerned, for per-user alerts.
    pub user_id: Option<UserId>,
    /// A sentence for people.
    pub message: String,
    /// Structured facts (last sync, idle share, the day…).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
    /// When it was raised.
    pub raised_at: DateTime<Utc>,
    /// When its condition cleared.
    pub resolved_at: Option<DateTime<Utc>>,
}

impl Alert {
    /// Whether the alert is still open.
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }
}

/// Filter of an alert list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// Only this alert.
    pub id: Option<AlertId>,
    /// Only open (`true`) or resolved (`false`) alerts.
    pub open: Option<bool>,
    /// Only this kind.
    pub kind: Option<AlertKind>,
}

impl AlertFilter {
    /// Whether `alert` passes the filter.
    pub fn matches(&self, alert: &Alert) -> bool {
        self.id.is_none_or(|id| alert.id == id)
            && self.open.is_none_or(|o| alert.is_open() == o)
            && self.kind.is_none_or(|k| alert.kind == k)
    }
}

/// Body format of a webhook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WebhookFormat {
    /// The [`WebhookPayload`] JSON document.
    #[default]
    Json,
    /// A Slack incoming-webhook message (`{"text": …}`).
    Slack,
}

/// Where alerts of a company are sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTarget {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Body format.
    #[serde(default)]
    pub format: WebhookFormat,
    /// The HMAC key of the signature header; without one the body is sent
    /// unsigned (Slack URLs carry their own secret).
    #[serde(default)]
    pub secret: Option<String>,
}

/// A webhook as shown to people: the secret never leaves the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookView {
    /// URL.
    pub url: String,
    /// Body format.
    pub format: WebhookFormat,
    /// Whether bodies are signed.
    pub signed: bool,
}

/// Most webhooks per company.
pub const MAX_WEBHOOKS: usize = 5;
/// Longest webhook URL.
pub const MAX_URL_LEN: usize = crate::text::WEBHOOK_URL_MAX;

/// Per-company alert settings (ADMIN-managed, audited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertSettings {
    /// Company.
    pub company_id: CompanyId,
    /// Raise no-sync alerts.
    pub no_sync_enabled: bool,
    /// Hours without any agent sync before a no-sync alert (1 to 720).
    pub no_sync_hours: u32,
    /// Raise agent-offline alerts.
    pub agent_offline_enabled: bool,
    /// Minutes without a heartbeat, during an open session, before an offline alert (5 to 1440).
    pub offline_minutes: u32,
    /// Raise high-idle alerts.
    pub high_idle_enabled: bool,
    /// Idle share of tracked time, in percent, above which a day is high-idle (1 to 100).
    pub high_idle_percent: u32,
    /// Tracked minutes a day needs before its idle share counts (1 to 1440).
    pub high_idle_min_minutes: u32,
    /// Where alerts are sent.
    pub webhooks: Vec<WebhookTarget>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl AlertSettings {
    /// The defaults: every kind on, 24 hours, 15 minutes, 50% over 60 minutes, no webhooks.
    pub fn default_for(company_id: CompanyId, now: DateTime<Utc>) -> Self {
        Self {
            company_id,
            no_sync_enabled: true,
            no_sync_hours: 24,
            agent_offline_enabled: true,
            offline_minutes: 15,
            high_idle_enabled: true,
            high_idle_percent: 50,
            high_idle_min_minutes: 60,
            webhooks: Vec::new(),
            updated_at: now,
        }
    }

    /// Whether alerts of `kind` are raised.
    pub fn enabled(&self, kind: AlertKind) -> bool {
        match kind {
            AlertKind::NoSync => self.no_sync_enabled,
            AlertKind::AgentOffline => self.agent_offline_enabled,
            AlertKind::HighIdle => self.high_idle_enabled,
        }
    }

    /// Applies a change. Webhooks given without a secret keep the secret
    /// stored for the same URL, so thresholds can be edited without
    /// sending secrets again.
    pub fn apply(&self, update: &AlertSettingsUpdate, now: DateTime<Utc>) -> Result<AlertSettings> {
        update.validate()?;
        let mut s = self.clone();
        macro_rules! set {
            ($($f:ident),*) => { $(if let Some(v) = update.$f { s.$f = v; })* };
        }
        set!(
            no_sync_enabled,
            no_sync_hours,
            agent_offline_enabled,
            offline_minutes,
            high_idle_enabled,
            high_idle_percent,
            high_idle_min_minutes
        );
        if let Some(hooks) = &update.webhooks {
            s.webhooks = hooks
                .iter()
                .map(|h| WebhookTarget {
                    url: h.url.clone(),
                    format: h.format,
                    secret: h.secret.clone().or_else(|| {
                        self.webhooks
                            .iter()
                            .find(|old| old.url == h.url)
                            .and_then(|old| old.secret.clone())
                    }),
                })
                .collect();
        }
        s.updated_at = now;
        Ok(s)
    }

    /// The settings as shown to people, without secrets.
    pub fn view(&self) -> AlertSettingsView {
        AlertSettingsView {
            no_sync_enabled: self.no_sync_enabled,
            no_sync_hours: self.no_sync_hours,
            agent_offline_enabled: self.agent_offline_enabled,
            offline_minutes: self.offline_minutes,
            high_idle_enabled: self.high_idle_enabled,
            high_idle_percent: self.high_idle_percent,
            high_idle_min_minutes: self.high_idle_min_minutes,
            webhooks: self
                .webhooks
                .iter()
                .map(|h| WebhookView {
                    url: h.url.clone(),
                    format: h.format,
                    signed: h.secret.is_some(),
                })
                .collect(),
            updated_at: self.updated_at,
        }
    }
}

/// [`AlertSettings`] as shown to people (and written to the audit log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertSettingsView {
    /// See [`AlertSettings::no_sync_enabled`].
    pub no_sync_enabled: bool,
    /// See [`AlertSettings::no_sync_hours`].
    pub no_sync_hours: u32,
    /// See [`AlertSettings::agent_offline_enabled`].
    pub agent_offline_enabled: bool,
    /// See [`AlertSettings::offline_minutes`].
    pub offline_minutes: u32,
    /// See [`AlertSettings::high_idle_enabled`].
    pub high_idle_enabled: bool,
    /// See [`AlertSettings::high_idle_percent`].
    pub high_idle_percent: u32,
    /// See [`AlertSettings::high_idle_min_minutes`].
    pub high_idle_min_minutes: u32,
    /// Webhooks, without their secrets.
    pub webhooks: Vec<WebhookView>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A webhook in a settings change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookInput {
    /// `http://` or `https://` URL.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::webhook_url))]
    pub url: String,
    /// Body format (default `json`).
    #[serde(default)]
    pub format: WebhookFormat,
    /// HMAC key, 16 to 256 characters; absent keeps the one stored for this URL.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::webhook_secret))]
    pub secret: Option<String>,
}

/// A change of the alert settings; absent fields keep their value, a
/// given `webhooks` list replaces the stored one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertSettingsUpdate {
    /// See [`AlertSettings::no_sync_enabled`].
    pub no_sync_enabled: Option<bool>,
    /// See [`AlertSettings::no_sync_hours`]; 1 to 720.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 720))]
    pub no_sync_hours: Option<u32>,
    /// See [`AlertSettings::agent_offline_enabled`].
    pub agent_offline_enabled: Option<bool>,
    /// See [`AlertSettings::offline_minutes`]; 5 to 1440.
    #[cfg_attr(feature = "openapi", schema(minimum = 5, maximum = 1440))]
    pub offline_minutes: Option<u32>,
    /// See [`AlertSettings::high_idle_enabled`].
    pub high_idle_enabled: Option<bool>,
    /// See [`AlertSettings::high_idle_percent`]; 1 to 100.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub high_idle_percent: Option<u32>,
    /// See [`AlertSettings::high_idle_min_minutes`]; 1 to 1440.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1440))]
    pub high_idle_min_minutes: Option<u32>,
    /// The webhooks, at most 5.
    pub webhooks: Option<Vec<WebhookInput>>,
}

impl AlertSettingsUpdate {
    /// Checks bounds and URLs, naming every bad field.
    pub fn validate(&self) -> Result<()> {
        let mut v = Validator::new();
        let mut range = |field: &str, value: Option<u32>, min: u32, max: u32| {
            if let Some(x) = value {
                v.range(field, x, min, max);
            }
        };
        range("no_sync_hours", self.no_sync_hours, 1, 720);
        range("offline_minutes", self.offline_minutes, 5, 1440);
        range("high_idle_percent", self.high_idle_percent, 1, 100);
        range("high_idle_min_minutes", self.high_idle_min_minutes, 1, 1440);
        if let Some(hooks) = &self.webhooks {
            v.check(
                hooks.len() <= MAX_WEBHOOKS,
                "webhooks",
                format!("at most {MAX_WEBHOOKS} webhooks"),
            );
            for (i, h) in hooks.iter().enumerate() {
                if let Err(msg) = check_url(&h.url) {
                    v.push(format!("webhooks[{i}].url"), msg);
                }
                if let Some(secret) = &h.secret {
                    v.text(&format!("webhooks[{i}].secret"), secret, 16, 256);
                }
                if hooks[..i].iter().any(|o| o.url == h.url) {
                    v.push(format!("webhooks[{i}].url"), "is listed twice");
                }
            }
        }
        v.finish()
    }
}

/// The host of an `http(s)://` URL, lowercased, without port or
/// credentials; `Err` names what is wrong with the URL.
pub fn url_host(url: &str) -> std::result::Result<String, &'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not contain credentials");
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err("must name a host");
    }
    Ok(host.to_ascii_lowercase())
}

fn check_url(url: &str) -> std::result::Result<(), String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    url_host(url).map(drop).map_err(str::to_owned)
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AlertEvent {
    /// The alert was raised.
    Raised,
    /// Its condition cleared.
    Resolved,
}

impl AlertEvent {
    /// The stable name (also the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertEvent::Raised => "raised",
            AlertEvent::Resolved => "resolved",
        }
    }

    /// Parses the stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [AlertEvent::Raised, AlertEvent::Resolved]
            .into_iter()
            .find(|e| e.as_str() == s)
    }
}

/// The JSON body of a [`WebhookFormat::Json`] webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPayload {
    /// Raised or resolved.
    pub event: AlertEvent,
    /// The alert.
    pub alert: Alert,
}

/// The body a webhook of `format` gets for `event` of `alert`.
pub fn webhook_body(alert: &Alert, event: AlertEvent, format: WebhookFormat) -> Vec<u8> {
    let value = match format {
        WebhookFormat::Json => serde_json::json!({ "event": event, "alert": alert }),
        WebhookFormat::Slack => {
            let mark = match event {
                AlertEvent::Raised => ":rotating_light: Alert",
                AlertEvent::Resolved => ":white_check_mark: Resolved",
            };
            serde_json::json!({ "text": format!("{mark} ({}): {}", alert.kind.as_str(), alert.message) })
        }
    };
    // A `Value` always serializes.
    serde_json::to_vec(&value).unwrap_or_default()
}

/// The name of the signature header.
pub const SIGNATURE_HEADER: &str = "X-Tracker-Signature";

/// The signature header value for `body` sent at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
/// The timestamp is signed so that a captured request cannot be replayed
/// later than the receiver's tolerance.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac(secret, timestamp, body))
    )
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Checks a signature header made by [`sign`]: the MAC (in constant time)
/// and that the timestamp is within `tolerance_seconds` of `now` (Unix seconds).
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_seconds: i64,
) -> Result<()> {
    let bad = |m: &str| Error::invalid(SIGNATURE_HEADER, m);
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(hex::decode(s).map_err(|_| bad("v1 is not hex"))?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| bad("no t= timestamp"))?;
    if (now - timestamp).abs() > tolerance_seconds {
        return Err(bad("timestamp outside the tolerance"));
    }
    let expected = mac(secret, timestamp, body);
    let ok = signatures.iter().any(|s| {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            s.as_slice(),
            expected.as_slice(),
        ))
    });
    if ok {
        Ok(())
    } else {
        Err(bad("signature does not match"))
    }
}

/// One try to deliver an alert to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// 1 for the first try.
    pub attempt: u32,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Whether the receiver accepted it (2xx).
    pub delivered: bool,
}

/// A stored [`DeliveryAttempt`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryRecord {
    /// Id.
    pub id: DeliveryId,
    /// Company.
    pub company_id: CompanyId,
    /// The alert.
    pub alert_id: AlertId,
    /// Raised or resolved.
    pub event: AlertEvent,
    /// The webhook URL.
    pub url: String,
    /// 1 for the first try.
    pub attempt: u32,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Whether the receiver accepted it.
    pub delivered: bool,
}

/// Delivers alerts to webhooks (chat and email gateways are webhooks of
/// their own). Retries are the notifier's own business: it returns every
/// attempt it made, and the service stores them.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Delivers `event` of `alert` to `target`.
    async fn notify(
        &self,
        alert: &Alert,
        event: AlertEvent,
        target: &WebhookTarget,
    ) -> Vec<DeliveryAttempt>;

    /// Refuses a target this notifier would never deliver to (a host
    /// outside its allowlist), naming the reason. Called when an ADMIN
    /// saves the settings, so the mistake is seen then.
    fn check_target(&self, url: &str) -> std::result::Result<(), String>;
}

const _: Option<&dyn Notifier> = None;

/// The default notifier: delivers nothing and refuses every target, so a
/// server without a configured notifier says so when webhooks are saved.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoNotifier;

#[async_trait]
impl Notifier for NoNotifier {
    async fn notify(&self, _: &Alert, _: AlertEvent, _: &WebhookTarget) -> Vec<DeliveryAttempt> {
        Vec::new()
    }

    fn check_target(&self, _: &str) -> std::result::Result<(), String> {
        Err("this server delivers no webhooks".into())
    }
}

/// A notifier that keeps what it is given and delivers at once: tests and demos.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    sent: std::sync::Mutex<Vec<(Alert, AlertEvent, String)>>,
}

impl RecordingNotifier {
    /// Every (alert, event, URL) delivered so far.
    pub fn sent(&self) -> Vec<(Alert, AlertEvent, String)> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn notify(
        &self,
        alert: &Alert,
        event: AlertEvent,
        target: &WebhookTarget,
    ) -> Vec<DeliveryAttempt> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).push((
            alert.clone(),
            event,
            target.url.clone(),
        ));
        vec![DeliveryAttempt {
            attempt: 1,
            at: alert.resolved_at.unwrap_or(alert.raised_at),
            status: Some(200),
            error: None,
            delivered: true,
        }]
    }

    fn check_target(&self, url: &str) -> std::result::Result<(), String> {
        check_url(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_names_are_the_serde_names_and_parse_back() {
        for e in [AlertEvent::Raised, AlertEvent::Resolved] {
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
            assert_eq!(AlertEvent::parse(e.as_str()), Some(e));
        }
        for k in AlertKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(AlertKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(AlertEvent::parse("Raised"), None);
    }

    #[test]
    fn hosts_are_read_from_urls() {
        assert_eq!(
            url_host("https://Hooks.Example.com:8443/x?y").unwrap(),
            "hooks.example.com"
        );
        assert_eq!(url_host("http://[::1]:9/x").unwrap(), "::1");
        assert!(url_host("ftp://x").is_err());
        assert!(url_host("http://user:pw@x/").is_err());
        assert!(url_host("https:///path").is_err());
    }

    #[test]
    fn signatures_bind_body_secret_and_time() {
        let h = sign("k".repeat(16).as_str(), 100, b"body");
        let key = "k".repeat(16);
        assert!(verify_signature(&key, &h, b"body", 100, 300).is_ok());
        assert!(verify_signature(&key, &h, b"bodx", 100, 300).is_err());
        assert!(verify_signature(&key, &h, b"body", 1000, 300).is_err());
        let forged = h.replace("t=100", "t=900");
        assert!(verify_signature(&key, &forged, b"body", 900, 300).is_err());
    }

    #[test]
    fn settings_updates_are_checked_and_keep_secrets() {
        let now = Utc::now();
        let s = AlertSettings::default_for(CompanyId::new(), now);
        let bad = AlertSettingsUpdate {
            offline_minutes: Some(1),
            webhooks: Some(vec![
                WebhookInput {
                    url: "ftp://x".into(),
                    format: WebhookFormat::Json,
                    secret: None,
                },
                WebhookInput {
                    url: "https://a/".into(),
                    format: WebhookFormat::Json,
                    secret: Some("short".into()),
                },
            ]),
            ..Default::default()
        };
        let fields: Vec<_> = bad
            .validate()
            .unwrap_err()
            .field_errors()
            .iter()
            .map(|e| e.field.clone())
            .collect();
        assert_eq!(
            fields,
            ["offline_minutes", "webhooks[0].url", "webhooks[1].secret"]
        );

        let hook = |secret: Option<&str>| AlertSettingsUpdate {
            webhooks: Some(vec![WebhookInput {
                url: "https://hooks.example/a".into(),
                format: WebhookFormat::Json,
                secret: secret.map(str::to_owned),
            }]),
            ..Default::default()
        };
        let s = s.apply(&hook(Some("0123456789abcdef")), now).unwrap();
        let s = s
            .apply(
                &AlertSettingsUpdate {
                    offline_minutes: Some(30),
                    ..hook(None)
                },
                now,
            )
            .unwrap();
        assert_eq!(s.offline_minutes, 30);
        assert_eq!(s.webhooks[0].secret.as_deref(), Some("0123456789abcdef"));
        assert!(s.view().webhooks[0].signed);
        assert!(
            !serde_json::to_string(&s.view())
                .unwrap()
                .contains("0123456789abcdef")
        );
    }
}
