//! Alerts over HTTP and the webhook notifier against real receivers on
//! 127.0.0.1: signatures, retries with backoff, no redirects, the host
//! allowlist, timeouts, the Slack payload; and the jobs' status in
//! `/readyz` and `/metrics`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use tracker::notify::{SIGNATURE_HEADER, verify_signature};
use tracker::protocol::{HeartbeatRequest, StartSession};
use tracker::{Argon2Hasher, ManualClock, MemoryStore, Tracker, WorkSessionId};
use tracker_axum::Api;
use tracker_axum::testing::{Client, Server, unlimited};
use tracker_jobs::scheduler::{JobBoard, JobSchedule, spawn_jobs};
use tracker_jobs::webhook::{WebhookConfig, WebhookNotifier};

const SECRET: &str = "webhook-secret-0123456789";

/// What a receiver was sent.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

/// A webhook receiver on 127.0.0.1 that answers the given statuses in turn
/// (the last one from then on), after `delay`.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<(String, Received)>>>,
}

impl Receiver {
    async fn start(statuses: Vec<u16>, delay: Duration) -> Receiver {
        let got: Arc<Mutex<Vec<(String, Received)>>> = Arc::default();
        let seen = got.clone();
        let statuses = Arc::new(statuses);
        let handler = move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            let statuses = statuses.clone();
            async move {
                tokio::time::sleep(delay).await;
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push((uri.path().to_owned(), Received { headers, body }));
                    seen.len()
                };
                let status = statuses[(n - 1).min(statuses.len() - 1)];
                let mut response = StatusCode::from_u16(status).unwrap().into_response();
                if (300..400).contains(&status) {
                    response
                        .headers_mut()
                        .insert("location", "/elsewhere".parse().unwrap());
                }
                response
            }
        };
        let app = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, got }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn got(&self) -> Vec<(String, Received)> {
        self.got.lock().unwrap().clone()
    }
}

struct Setup {
    server: Server,
    clock: ManualClock,
    admin: Client,
    manager: Client,
    tracker: Arc<Tracker>,
    agent: tracker::AgentContext,
}

/// A server whose tracker delivers through a webhook notifier with fast
/// backoff; a company with an admin, a manager and an employee's agent.
async fn setup(config: WebhookConfig, board: Option<JobBoard>) -> Setup {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap());
    let notifier = WebhookNotifier::new(config).unwrap();
    let tracker = Arc::new(
        Tracker::builder_shared(Arc::new(MemoryStore::new()) as Arc<dyn tracker::store::Store>)
            .clock(clock.clone())
            .notifier(Arc::new(notifier))
            .password_hasher(Argon2Hasher::insecure_fast())
            .build(),
    );
    let server = Server::serve(tracker.clone(), |t| {
        let api = Api::new(t).config(unlimited());
        match board {
            Some(b) => api.jobs(b),
            None => api,
        }
    })
    .await;
    let owner = server.owner().await;
    let created = owner
        .post(
            "/api/v1/owner/companies",
            &json!({ "name": "Acme", "plan": "PRO", "admin": { "username": "alice", "password": "alice-password" } }),
        )
        .await
        .expect(201);
    let key = created.body["company_key"].as_str().unwrap().to_owned();
    let admin = server.login(Some(&key), "alice", "alice-password").await;
    for (name, role) in [("bob", "EMPLOYEE"), ("mia", "MANAGER")] {
        admin
            .post(
                "/api/v1/company/employees",
                &json!({ "username": name, "password": format!("{name}-password"), "role": role }),
            )
            .await
            .expect(201);
    }
    let manager = server.login(Some(&key), "mia", "mia-password").await;
    let bob = server.login(Some(&key), "bob", "bob-password").await;
    let agent = tracker
        .agent(&key, bob.token.as_deref().unwrap())
        .await
        .unwrap();
    Setup {
        server,
        clock,
        admin,
        manager,
        tracker,
        agent,
    }
}

/// Quick retries, to receivers on this machine's loopback.
fn fast(config: WebhookConfig) -> WebhookConfig {
    WebhookConfig {
        backoff: Duration::from_millis(20),
        timeout: Duration::from_secs(2),
        allow_private: true,
        ..config
    }
}

/// Bob's agent heartbeats, opens a session, and goes silent for 20 minutes.
async fn go_offline(s: &Setup) {
    s.tracker
        .heartbeat(
            &s.agent,
            HeartbeatRequest {
                policy_version: None,
                agent_version: None,
            },
        )
        .await
        .unwrap();
    s.tracker
        .start_session(
            &s.agent,
            StartSession {
                id: WorkSessionId::new(),
                started_at: s.tracker.now(),
            },
        )
        .await
        .unwrap();
    s.clock.advance(chrono::Duration::minutes(20));
}

async fn save_webhook(s: &Setup, url: &str, format: &str) -> tracker_axum::testing::Reply {
    s.admin
        .put(
            "/api/v1/company/alerts/settings",
            &json!({ "webhooks": [{ "url": url, "format": format, "secret": SECRET }] }),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_twice_gets_the_signed_alert_on_the_third_try() {
    let receiver = Receiver::start(vec![500, 503, 200], Duration::ZERO).await;
    let s = setup(fast(WebhookConfig::default()), None).await;
    let saved = save_webhook(&s, &receiver.url("/hooks/tracker"), "json")
        .await
        .expect(200);
    assert_eq!(saved.body["webhooks"][0]["signed"], true);
    assert!(
        !saved
            .raw
            .windows(SECRET.len())
            .any(|w| w == SECRET.as_bytes()),
        "the secret is never shown"
    );
    go_offline(&s).await;

    let run = s.tracker.check_alerts().await.unwrap();
    assert_eq!(
        (run.raised, run.delivered, run.failed),
        (1, 1, 0),
        "{run:?}"
    );
    let got = receiver.got();
    assert_eq!(got.len(), 3, "two failures, then the delivery");
    let (path, last) = &got[2];
    assert_eq!(path, "/hooks/tracker");
    let header = last
        .headers
        .get(SIGNATURE_HEADER)
        .unwrap()
        .to_str()
        .unwrap();
    verify_signature(SECRET, header, &last.body, Utc::now().timestamp(), 300)
        .expect("a valid signature");
    assert!(
        verify_signature(
            "another-secret-0000",
            header,
            &last.body,
            Utc::now().timestamp(),
            300
        )
        .is_err()
    );
    assert_eq!(last.headers["content-type"], "application/json");
    assert_eq!(last.headers["x-tracker-event"], "raised");
    let body: Value = serde_json::from_slice(&last.body).unwrap();
    assert_eq!(body["event"], "raised");
    assert_eq!(body["alert"]["kind"], "agent_offline");

    // The ADMIN sees the alert and each attempt.
    let list = s
        .admin
        .get("/api/v1/company/alerts?open=true")
        .await
        .expect(200);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let id = items[0]["id"].as_str().unwrap();
    assert_eq!(body["alert"]["id"], id);
    let detail = s
        .admin
        .get(&format!("/api/v1/company/alerts/{id}"))
        .await
        .expect(200);
    let attempts: Vec<(u64, Option<u64>, bool)> = detail.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["attempt"].as_u64().unwrap(),
                d["status"].as_u64(),
                d["delivered"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (1, Some(500), false),
            (2, Some(503), false),
            (3, Some(200), true)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_and_timeouts_fail_the_attempt() {
    let redirecting = Receiver::start(vec![302], Duration::ZERO).await;
    let s = setup(
        fast(WebhookConfig {
            attempts: 2,
            ..Default::default()
        }),
        None,
    )
    .await;
    save_webhook(&s, &redirecting.url("/hook"), "json")
        .await
        .expect(200);
    go_offline(&s).await;
    let run = s.tracker.check_alerts().await.unwrap();
    assert_eq!((run.delivered, run.failed), (0, 1));
    let got = redirecting.got();
    assert_eq!(got.len(), 2, "two tries, never the redirect's target");
    assert!(got.iter().all(|(path, _)| path == "/hook"));
    let alert = s.admin.get("/api/v1/company/alerts").await.expect(200);
    let id = alert.body["items"][0]["id"].as_str().unwrap().to_owned();
    let detail = s
        .admin
        .get(&format!("/api/v1/company/alerts/{id}"))
        .await
        .expect(200);
    let error = detail.body["deliveries"][0]["error"].as_str().unwrap();
    assert!(error.contains("redirects are not followed"), "{error}");

    // A receiver slower than the timeout.
    let slow = Receiver::start(vec![200], Duration::from_secs(3)).await;
    let s = setup(
        WebhookConfig {
            attempts: 1,
            timeout: Duration::from_millis(300),
            allow_private: true,
            ..Default::default()
        },
        None,
    )
    .await;
    save_webhook(&s, &slow.url("/slow"), "json")
        .await
        .expect(200);
    go_offline(&s).await;
    let run = s.tracker.check_alerts().await.unwrap();
    assert_eq!((run.delivered, run.failed), (0, 1));
    let alert = s.admin.get("/api/v1/company/alerts").await.expect(200);
    let id = alert.body["items"][0]["id"].as_str().unwrap().to_owned();
    let detail = s
        .admin
        .get(&format!("/api/v1/company/alerts/{id}"))
        .await
        .expect(200);
    let error = detail.body["deliveries"][0]["error"].as_str().unwrap();
    assert!(error.contains("timed out"), "{error}");
}

/// The company's settings hold no webhook: a refused save changed nothing.
async fn assert_no_webhooks(s: &Setup) {
    let stored = s
        .admin
        .get("/api/v1/company/alerts/settings")
        .await
        .expect(200);
    assert_eq!(stored.body["webhooks"], json!([]), "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_to_internal_addresses_are_refused_by_default() {
    let receiver = Receiver::start(vec![200], Duration::ZERO).await;
    let s = setup(WebhookConfig::default(), None).await;
    for url in [
        receiver.url("/hook"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://[::1]:8080/hook".to_owned(),
    ] {
        let refused = save_webhook(&s, &url, "json").await.expect(422);
        assert_eq!(refused.fields(), ["webhooks[0].url"], "{url}");
        assert!(
            refused.body.to_string().contains("outside services"),
            "{}",
            refused.body
        );
    }
    assert_no_webhooks(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_allowlist_refuses_targets_when_saved_and_slack_gets_text() {
    let receiver = Receiver::start(vec![200], Duration::ZERO).await;
    let s = setup(
        fast(WebhookConfig {
            allowed_hosts: Some(vec!["hooks.example.com".into()]),
            ..Default::default()
        }),
        None,
    )
    .await;
    let refused = save_webhook(&s, &receiver.url("/hook"), "json")
        .await
        .expect(422);
    assert_eq!(refused.fields(), ["webhooks[0].url"]);
    assert!(
        refused.body.to_string().contains("127.0.0.1"),
        "{}",
        refused.body
    );
    assert_no_webhooks(&s).await;

    let s = setup(
        fast(WebhookConfig {
            allowed_hosts: Some(vec!["127.0.0.1".into()]),
            ..Default::default()
        }),
        None,
    )
    .await;
    save_webhook(&s, &receiver.url("/slack"), "slack")
        .await
        .expect(200);
    go_offline(&s).await;
    s.tracker.check_alerts().await.unwrap();
    let got = receiver.got();
    let body: Value = serde_json::from_slice(&got.last().unwrap().1.body).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("agent_offline") && text.contains("bob"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_routes_follow_the_matrix_and_validate() {
    let s = setup(fast(WebhookConfig::default()), None).await;
    for path in ["/api/v1/company/alerts", "/api/v1/company/alerts/settings"] {
        assert_eq!(s.manager.get(path).await.expect(403).code(), "forbidden");
        assert_eq!(
            s.server.anonymous().get(path).await.expect(401).code(),
            "unauthenticated"
        );
    }
    let bad = s
        .admin
        .put(
            "/api/v1/company/alerts/settings",
            &json!({ "offline_minutes": 1, "high_idle_percent": 101, "webhooks": [{ "url": "ftp://x" }] }),
        )
        .await
        .expect(422);
    assert_eq!(
        bad.fields(),
        ["offline_minutes", "high_idle_percent", "webhooks[0].url"]
    );
    let unknown = s
        .admin
        .put("/api/v1/company/alerts/settings", &json!({ "mute": true }))
        .await
        .expect(422);
    assert_eq!(unknown.fields(), ["mute"]);
    s.admin
        .get("/api/v1/company/alerts?kind=loud")
        .await
        .expect(400);
    s.admin
        .get(&format!("/api/v1/company/alerts/{}", uuid::Uuid::new_v4()))
        .await
        .expect(404);
    let ok = s
        .admin
        .put(
            "/api/v1/company/alerts/settings",
            &json!({ "offline_minutes": 30, "high_idle_enabled": false }),
        )
        .await
        .expect(200);
    assert_eq!(ok.body["offline_minutes"], 30);
    let audit = s
        .admin
        .get("/api/v1/company/audit?action=alert_settings_updated")
        .await
        .expect(200);
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        audit.body["items"][0]["details"]["new"]["offline_minutes"],
        30
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_and_metrics_show_each_jobs_last_run() {
    let board = JobBoard::default();
    let s = setup(fast(WebhookConfig::default()), Some(board.clone())).await;
    let schedule = JobSchedule {
        usage_every: Some(Duration::from_secs(3600)),
        expiry_every: Some(Duration::from_secs(3600)),
        retention_every: Some(Duration::from_secs(3600)),
        alerts_every: Some(Duration::from_secs(3600)),
        checkpoints_every: Some(Duration::from_secs(3600)),
        purge_batch: 100,
    };
    let jobs = spawn_jobs(s.tracker.clone(), schedule, board.clone());
    // The first run of each is at start.
    let mut ready = Value::Null;
    for _ in 0..200 {
        ready = s.server.anonymous().get("/readyz").await.expect(200).body;
        if ready["jobs"].as_object().is_some_and(|j| j.len() == 5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for job in ["usage", "expiry", "retention", "alerts", "checkpoints"] {
        assert_eq!(ready["jobs"][job]["runs"], 1, "{job}: {ready}");
        assert_eq!(ready["jobs"][job]["last_ok"], true, "{job}: {ready}");
    }
    assert!(ready["jobs"]["alerts"]["last_result"]["raised"].is_u64());
    let metrics =
        String::from_utf8(s.server.anonymous().get("/metrics").await.expect(200).raw).unwrap();
    for job in ["usage", "expiry", "retention", "alerts", "checkpoints"] {
        let line = format!("tracker_job_runs_total{{job=\"{job}\",outcome=\"ok\"}} 1");
        assert!(metrics.contains(&line), "{line} missing from:\n{metrics}");
        assert!(metrics.contains(&format!(
            "tracker_job_last_success_timestamp_seconds{{job=\"{job}\"}}"
        )));
    }
    jobs.stop();
}
