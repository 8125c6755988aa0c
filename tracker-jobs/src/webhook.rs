//! [`WebhookNotifier`]: alerts as signed JSON POSTs.
//!
//! Each delivery is one POST of [`webhook_body`] (the alert as JSON, or a
//! Slack message) with `Content-Type: application/json`,
//! `X-Tracker-Event: raised|resolved`, `X-Tracker-Alert: <alert id>` and,
//! when the webhook has a secret, the signature header
//! [`SIGNATURE_HEADER`] (`t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>">`, checked with [`tracker_core::notify::verify_signature`]).
//! A 2xx answer is a delivery; anything else, a timeout or a refused
//! connection is retried with exponential backoff. Redirects are never
//! followed (a 3xx is a failure), and [`WebhookConfig::allowed_hosts`]
//! restricts where alerts may go.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tracker_jobs::webhook::{WebhookConfig, WebhookNotifier};
//! use tracker_core::{MemoryStore, Tracker};
//!
//! let notifier = WebhookNotifier::new(WebhookConfig {
//!     allowed_hosts: Some(vec!["hooks.slack.com".into(), "alerts.example.com".into()]),
//!     ..WebhookConfig::default()
//! })
//! .expect("TLS roots load");
//! let tracker = Tracker::builder(MemoryStore::new())
//!     .notifier(Arc::new(notifier))
//!     .build();
//! # drop(tracker);
//! ```

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tracker_core::notify::{
    Alert, AlertEvent, DeliveryAttempt, Notifier, SIGNATURE_HEADER, WebhookTarget, sign, url_host,
    webhook_body,
};

/// How the notifier delivers.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Longest one attempt may take, connection included. Default 10 s.
    pub timeout: Duration,
    /// Tries per delivery. Default 3.
    pub attempts: u32,
    /// Wait before the second try; doubled before each next one. Default 2 s.
    pub backoff: Duration,
    /// Hosts alerts may be sent to (exact names, or `.example.com` for
    /// every subdomain); `None` allows any host. Checked when an ADMIN
    /// saves a webhook and again before each delivery.
    pub allowed_hosts: Option<Vec<String>>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            attempts: 3,
            backoff: Duration::from_secs(2),
            allowed_hosts: None,
        }
    }
}

/// Delivers alerts to webhooks over HTTP(S). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    client: reqwest::Client,
    config: WebhookConfig,
}

impl WebhookNotifier {
    /// A notifier with its own connection pool.
    pub fn new(config: WebhookConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("tracker-webhook/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, config })
    }

    async fn attempt(
        &self,
        target: &WebhookTarget,
        event: AlertEvent,
        alert: &Alert,
        body: &[u8],
    ) -> (Option<u16>, Option<String>) {
        let mut request = self
            .client
            .post(&target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Tracker-Event", event.as_str())
            .header("X-Tracker-Alert", alert.id.to_string())
            .body(body.to_vec());
        if let Some(secret) = &target.secret {
            request = request.header(SIGNATURE_HEADER, sign(secret, Utc::now().timestamp(), body));
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let error = if status.is_success() {
                    None
                } else if status.is_redirection() {
                    Some(format!(
                        "HTTP {}: redirects are not followed",
                        status.as_u16()
                    ))
                } else {
                    Some(format!("HTTP {}", status.as_u16()))
                };
                (Some(status.as_u16()), error)
            }
            Err(e) if e.is_timeout() => (
                None,
                Some(format!("timed out after {:?}", self.config.timeout)),
            ),
            Err(e) if e.is_connect() => (None, Some("could not connect".into())),
            Err(e) => (None, Some(format!("request failed: {e}"))),
        }
    }
}

fn host_allowed(allowed: &[String], host: &str) -> bool {
    allowed.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        match a.strip_prefix('.') {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => host == a,
        }
    })
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn notify(
        &self,
        alert: &Alert,
        event: AlertEvent,
        target: &WebhookTarget,
    ) -> Vec<DeliveryAttempt> {
        if let Err(why) = self.check_target(&target.url) {
            // Settings saved before the allowlist changed: refused, recorded.
            return vec![DeliveryAttempt {
                attempt: 1,
                at: Utc::now(),
                status: None,
                error: Some(why),
                delivered: false,
            }];
        }
        let body = webhook_body(alert, event, target.format);
        let mut attempts = Vec::new();
        let mut wait = self.config.backoff;
        for n in 1..=self.config.attempts.max(1) {
            let at = Utc::now();
            let (status, error) = self.attempt(target, event, alert, &body).await;
            let delivered = error.is_none();
            if let Some(e) = &error {
                tracing::warn!(url = %target.url, attempt = n, error = %e, "webhook delivery failed");
            }
            attempts.push(DeliveryAttempt {
                attempt: n,
                at,
                status,
                error,
                delivered,
            });
            if delivered || n == self.config.attempts {
                break;
            }
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
        attempts
    }

    fn check_target(&self, url: &str) -> Result<(), String> {
        let host = url_host(url).map_err(str::to_owned)?;
        match &self.config.allowed_hosts {
            Some(allowed) if !host_allowed(allowed, &host) => Err(format!(
                "host {host} is not among the hosts alerts may be sent to"
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlists_match_hosts_and_subdomains() {
        let allowed = vec!["hooks.slack.com".to_owned(), ".example.com".to_owned()];
        assert!(host_allowed(&allowed, "hooks.slack.com"));
        assert!(host_allowed(&allowed, "alerts.example.com"));
        assert!(!host_allowed(&allowed, "example.com.evil.net"));
        assert!(!host_allowed(&allowed, "slack.com"));
        assert!(!host_allowed(&allowed, "evilexample.com"));
    }
}
