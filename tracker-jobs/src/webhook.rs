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
//! Webhooks cannot reach inside: unless [`WebhookConfig::allow_private`]
//! says otherwise, a URL whose address is loopback, private, link-local
//! (cloud metadata at 169.254.169.254), unique-local, shared, multicast,
//! reserved or unspecified is refused when saved (an address in the URL)
//! and at each delivery, where the name is resolved, every address it
//! has is checked, and the connection is made to the checked address
//! (a name that resolves elsewhere on the next lookup changes nothing).
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

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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
    /// Deliver to loopback, private and other internal addresses too.
    /// Default `false`: a webhook is an outside service, and an ADMIN must
    /// not make the server call what only it can reach.
    pub allow_private: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            attempts: 3,
            backoff: Duration::from_secs(2),
            allowed_hosts: None,
            allow_private: false,
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
        let client = client_builder(&config).build()?;
        Ok(Self { client, config })
    }

    async fn attempt(
        &self,
        target: &WebhookTarget,
        event: AlertEvent,
        alert: &Alert,
        body: &[u8],
    ) -> (Option<u16>, Option<String>) {
        let client = match self.client_for(&target.url).await {
            Ok(client) => client,
            Err(why) => return (None, Some(why)),
        };
        let mut request = client
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

impl WebhookNotifier {
    /// The client for one attempt at `url`: the shared one when internal
    /// addresses are allowed, else one pinned to the addresses the host
    /// resolved to, each checked.
    async fn client_for(&self, url: &str) -> Result<reqwest::Client, String> {
        if self.config.allow_private {
            return Ok(self.client.clone());
        }
        let host = url_host(url).map_err(str::to_owned)?;
        let port = url_port(url);
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| format!("could not resolve {host}: {e}"))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(format!("{host} has no address"));
        }
        // One internal address is enough to refuse: a name may list a
        // public address first and an internal one second.
        if let Some(why) = addrs.iter().find_map(|a| internal(a.ip())) {
            return Err(format!(
                "{host} resolves to {why}: webhooks go to outside services"
            ));
        }
        if host.parse::<IpAddr>().is_ok() {
            return Ok(self.client.clone());
        }
        client_builder(&self.config)
            .resolve_to_addrs(&host, &addrs)
            .build()
            .map_err(|e| format!("request failed: {e}"))
    }
}

/// Every client of the notifier: no redirects, the timeouts, its name.
fn client_builder(config: &WebhookConfig) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .user_agent(concat!("tracker-webhook/", env!("CARGO_PKG_VERSION")))
}

/// The port of an `http(s)://` URL: the one written, or the scheme's.
fn url_port(url: &str) -> u16 {
    let default = if url.starts_with("https://") { 443 } else { 80 };
    let authority = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .unwrap_or_default();
    let after_host = match authority.rfind(']') {
        Some(end) => &authority[end + 1..],
        None => authority,
    };
    after_host
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or(default)
}

/// What kind of internal address `ip` is, if it is one a webhook must
/// not reach.
fn internal(ip: IpAddr) -> Option<String> {
    let kind = match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4).map(|k| format!("{k} ({v6})"));
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() {
                Some("the unspecified address")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else if first & 0xfe00 == 0xfc00 {
                Some("a unique-local address")
            } else if first & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else {
                None
            }
        }
    };
    kind.map(|k| format!("{k} ({ip})"))
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_unspecified() || a == 0 {
        Some("the unspecified network")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip.is_broadcast() || a >= 240 {
        Some("a reserved address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else {
        None
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
        if let Some(allowed) = &self.config.allowed_hosts
            && !host_allowed(allowed, &host)
        {
            return Err(format!(
                "host {host} is not among the hosts alerts may be sent to"
            ));
        }
        if !self.config.allow_private {
            // Names are resolved at each delivery; what is known now is
            // an address in the URL, or a name that is always internal.
            let ip = match host.parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) if host == "localhost" || host.ends_with(".localhost") => {
                    Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
                }
                Err(_) => None,
            };
            if let Some(why) = ip.and_then(internal) {
                return Err(format!("{host} is {why}: webhooks go to outside services"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_named() {
        for (ip, kind) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("100.64.0.1", "shared"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
        ] {
            let why = internal(ip.parse().unwrap()).unwrap_or_default();
            assert!(why.contains(kind), "{ip}: {why:?}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert_eq!(internal(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn ports_come_from_the_url_or_its_scheme() {
        assert_eq!(url_port("https://hooks.example.com/x"), 443);
        assert_eq!(url_port("http://hooks.example.com/x"), 80);
        assert_eq!(url_port("http://hooks.example.com:8080/x?y=1"), 8080);
        assert_eq!(url_port("http://[::1]:9000/x"), 9000);
        assert_eq!(url_port("https://[2606:4700::1111]/x"), 443);
    }

    #[test]
    fn internal_targets_are_refused_when_saved_unless_allowed() {
        let strict = WebhookNotifier::new(WebhookConfig::default()).unwrap();
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "http://localhost:9000/hook",
            "http://10.0.0.5/hook",
        ] {
            let why = strict.check_target(url).unwrap_err();
            assert!(why.contains("outside services"), "{url}: {why}");
        }
        assert!(
            strict
                .check_target("https://hooks.slack.com/services/x")
                .is_ok()
        );
        let open = WebhookNotifier::new(WebhookConfig {
            allow_private: true,
            ..WebhookConfig::default()
        })
        .unwrap();
        assert!(open.check_target("http://127.0.0.1:8080/hook").is_ok());
    }

    #[tokio::test]
    async fn a_delivery_never_connects_to_an_internal_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let strict = WebhookNotifier::new(WebhookConfig {
            attempts: 1,
            ..WebhookConfig::default()
        })
        .unwrap();
        // Saved before the rule, or by a name: refused at delivery.
        for url in [
            format!("http://127.0.0.1:{port}/hook"),
            format!("http://localhost:{port}/hook"),
        ] {
            let (status, error) = strict
                .attempt(&target(&url), AlertEvent::Raised, &alert(), b"{}")
                .await;
            assert_eq!(status, None);
            assert!(error.unwrap().contains("loopback"), "{url}");
        }
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "no connection was made");
    }

    fn target(url: &str) -> WebhookTarget {
        WebhookTarget {
            url: url.into(),
            format: tracker_core::notify::WebhookFormat::Json,
            secret: None,
        }
    }

    fn alert() -> Alert {
        Alert {
            id: tracker_core::AlertId::new(),
            kind: tracker_core::notify::AlertKind::NoSync,
            company_id: tracker_core::CompanyId::new(),
            user_id: None,
            message: "no sync".into(),
            details: serde_json::json!({}),
            raised_at: Utc::now(),
            resolved_at: None,
        }
    }

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
