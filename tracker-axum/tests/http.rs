//! The router over a real TCP socket, on the memory store and on a SQLite
//! file: agent login and calls, conditional policy fetch, idempotent
//! batches, and each transport fault's own 4xx as a problem document.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracker_core::protocol::{CreateCompany, LoginRequest, NewUser};
use tracker_core::store::Store;
use tracker_core::{Argon2Hasher, MemoryStore, Role, Tracker};

/// A response as the test reads it.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// One HTTP/1.1 request on a fresh connection.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

struct Client {
    addr: SocketAddr,
    token: String,
    key: String,
}

impl Client {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let auth = format!("Bearer {}", self.token);
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        send(
            self.addr,
            method,
            path,
            &[
                ("authorization", &auth),
                ("x-company-key", &self.key),
                ("content-type", "application/json"),
            ],
            bytes.as_bytes(),
        )
        .await
    }
}

/// A company with an employee, made through the service; the server on a
/// real port.
async fn serve(store: Arc<dyn Store>) -> (SocketAddr, Client, Client) {
    let tracker = Arc::new(
        Tracker::builder_shared(store)
            .password_hasher(Argon2Hasher::insecure_fast())
            .build(),
    );
    tracker.ensure_default_plans().await.unwrap();
    tracker
        .bootstrap_owner("operator", "operator-pass")
        .await
        .unwrap();
    let owner = tracker
        .login(
            LoginRequest {
                company_key: None,
                username: "operator".into(),
                password: "operator-pass".into(),
            },
            None,
        )
        .await
        .unwrap();
    let owner = tracker.authenticate(owner.token.expose()).await.unwrap();
    let mut agents = Vec::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    for name in ["acme", "globex"] {
        let created = tracker
            .create_company(
                &owner,
                CreateCompany {
                    name: name.into(),
                    plan: Some("PRO".into()),
                    timezone: Some("UTC".into()),
                    trial_days: Some(14),
                    retention_days: None,
                    admin: NewUser {
                        username: "admin".into(),
                        password: "admin-password".into(),
                        email: None,
                        display_name: None,
                        role: None,
                    },
                },
            )
            .await
            .unwrap();
        let key = created.company_key.expose().to_owned();
        let admin = tracker
            .login(
                LoginRequest {
                    company_key: Some(key.clone()),
                    username: "admin".into(),
                    password: "admin-password".into(),
                },
                None,
            )
            .await
            .unwrap();
        let admin = tracker.authenticate(admin.token.expose()).await.unwrap();
        tracker
            .create_user(
                &admin,
                NewUser {
                    username: "erin".into(),
                    password: "erin-password".into(),
                    email: None,
                    display_name: None,
                    role: Some(Role::Employee),
                },
            )
            .await
            .unwrap();
        agents.push(key);
    }
    let app = tracker_axum::router(Arc::clone(&tracker));
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let mut clients = Vec::new();
    for key in agents {
        // The agent logs in over HTTP.
        let reply = send(
            addr,
            "POST",
            "/api/v1/auth/login",
            &[("content-type", "application/json")],
            json!({ "company_key": key, "username": "erin", "password": "erin-password" })
                .to_string()
                .as_bytes(),
        )
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        clients.push(Client {
            addr,
            token: reply.body["token"].as_str().unwrap().to_owned(),
            key,
        });
    }
    let globex = clients.pop().unwrap();
    let acme = clients.pop().unwrap();
    (addr, acme, globex)
}

fn batch(n: usize) -> Value {
    let start = Utc::now() - Duration::hours(1);
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "id": uuid::Uuid::now_v7(),
                "started_at": start + Duration::seconds(60 * i as i64),
                "duration_seconds": 60,
                "kind": "active",
                "app": "editor",
            })
        })
        .collect();
    json!({ "events": events })
}

async fn agent_flow(store: Arc<dyn Store>) {
    let (addr, acme, globex) = serve(store).await;

    let hb = acme
        .call(
            "POST",
            "/api/v1/agent/heartbeat",
            Some(json!({ "agent_version": "1.0.0" })),
        )
        .await;
    assert_eq!(hb.status, 200, "{hb:?}");
    assert_eq!(hb.body["tracking_allowed"], true);

    let policy = acme.call("GET", "/api/v1/agent/policy", None).await;
    assert_eq!(policy.status, 200);
    let etag = policy.header("etag").unwrap().to_owned();
    let again = send(
        addr,
        "GET",
        "/api/v1/agent/policy",
        &[
            ("authorization", &format!("Bearer {}", acme.token)),
            ("x-company-key", &acme.key),
            ("if-none-match", &etag),
        ],
        b"",
    )
    .await;
    assert_eq!(again.status, 304);
    assert_eq!(again.header("etag"), Some(etag.as_str()));

    let session =
        json!({ "id": uuid::Uuid::now_v7(), "started_at": Utc::now() - Duration::hours(2) });
    let started = acme
        .call("POST", "/api/v1/agent/sessions", Some(session.clone()))
        .await;
    assert_eq!(started.status, 201, "{started:?}");
    let replayed = acme
        .call("POST", "/api/v1/agent/sessions", Some(session.clone()))
        .await;
    assert_eq!(replayed.status, 200);
    let sid = session["id"].as_str().unwrap();
    let stop = acme
        .call(
            "POST",
            &format!("/api/v1/agent/sessions/{sid}/stop"),
            Some(json!({ "stopped_at": Utc::now() })),
        )
        .await;
    assert_eq!(stop.status, 200, "{stop:?}");
    // Another tenant's agent cannot see it.
    let theirs = globex
        .call(
            "POST",
            &format!("/api/v1/agent/sessions/{sid}/stop"),
            Some(json!({ "stopped_at": Utc::now() })),
        )
        .await;
    assert_eq!((theirs.status, theirs.code()), (404, "not_found"));
    let bad_id = acme
        .call(
            "POST",
            "/api/v1/agent/sessions/not-a-uuid/stop",
            Some(json!({ "stopped_at": Utc::now() })),
        )
        .await;
    assert_eq!(bad_id.status, 404);

    let events = batch(20);
    let first = acme
        .call("POST", "/api/v1/agent/activity", Some(events.clone()))
        .await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(
        (
            first.body["inserted"].as_u64(),
            first.body["duplicates"].as_u64()
        ),
        (Some(20), Some(0))
    );
    let second = acme
        .call("POST", "/api/v1/agent/activity", Some(events))
        .await;
    assert_eq!(
        (
            second.body["inserted"].as_u64(),
            second.body["duplicates"].as_u64()
        ),
        (Some(0), Some(20))
    );

    let status = acme.call("GET", "/api/v1/agent/sync-status", None).await;
    assert_eq!(status.status, 200);
    assert_eq!(
        acme.call("GET", "/api/v1/agent/tasks", None).await.status,
        200
    );

    // Refusals, each with its own status and code.
    let no_token = send(
        addr,
        "POST",
        "/api/v1/agent/heartbeat",
        &[("content-type", "application/json")],
        b"{}",
    )
    .await;
    assert_eq!((no_token.status, no_token.code()), (401, "unauthenticated"));
    assert_eq!(
        no_token.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(no_token.header("www-authenticate"), Some("Bearer"));
    let crossed = Client {
        addr,
        token: globex.token.clone(),
        key: acme.key.clone(),
    };
    let r = crossed
        .call("POST", "/api/v1/agent/heartbeat", Some(json!({})))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (401, "invalid_company_key"),
        "a token of another company with this key"
    );
    let no_key = send(
        addr,
        "POST",
        "/api/v1/agent/heartbeat",
        &[
            ("authorization", &format!("Bearer {}", acme.token)),
            ("content-type", "application/json"),
        ],
        b"{}",
    )
    .await;
    assert_eq!(no_key.status, 401);
    let auth = format!("Bearer {}", acme.token);
    let agent_headers = |ct: &'static str| {
        vec![
            ("authorization", auth.clone()),
            ("x-company-key", acme.key.clone()),
            ("content-type", ct.to_owned()),
        ]
    };
    let post = |ct: &'static str, body: Vec<u8>| {
        let headers = agent_headers(ct);
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            send(addr, "POST", "/api/v1/agent/activity", &h, &body).await
        }
    };
    let r = post("application/json", b"{\"events\": [".to_vec()).await;
    assert_eq!((r.status, r.code()), (400, "malformed_json"));
    let r = post("application/json", br#"{"events": [{"id": 5}]}"#.to_vec()).await;
    assert_eq!((r.status, r.code()), (422, "invalid_body"));
    assert_eq!(r.body["errors"][0]["field"], "events[0].id");
    let r = post(
        "application/json",
        br#"{"events": [], "sneaky": true}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (422, Some("sneaky"))
    );
    let r = post("text/plain", b"{}".to_vec()).await;
    assert_eq!((r.status, r.code()), (415, "unsupported_media_type"));
    let r = post("application/json", vec![b' '; 2 << 20]).await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    let r = post("application/json", json!({ "events": [{ "id": uuid::Uuid::now_v7(), "started_at": Utc::now() + Duration::days(3), "duration_seconds": 60, "kind": "active" }] }).to_string().into_bytes()).await;
    assert_eq!((r.status, r.code()), (422, "validation"));
    assert_eq!(r.body["errors"][0]["field"], "events[0].started_at");

    let r = send(addr, "GET", "/api/v1/nowhere", &[], b"").await;
    assert_eq!((r.status, r.code()), (404, "no_route"));
    let r = send(addr, "GET", "/api/v1/agent/heartbeat", &[], b"").await;
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"));

    let health = send(addr, "GET", "/healthz", &[("x-request-id", "probe-1")], b"").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.header("x-request-id"), Some("probe-1"));
    let ready = send(addr, "GET", "/readyz", &[], b"").await;
    assert_eq!((ready.status, &ready.body["store"]), (200, &json!("ok")));
    assert!(
        ready.header("x-request-id").is_some(),
        "a request id is made when none came"
    );

    // Logout revokes the token.
    assert_eq!(
        acme.call("POST", "/api/v1/auth/logout", None).await.status,
        204
    );
    let after = acme.call("GET", "/api/v1/agent/policy", None).await;
    assert_eq!((after.status, after.code()), (401, "unauthenticated"));
}

#[tokio::test]
async fn agents_over_http_on_the_memory_store() {
    agent_flow(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn agents_over_http_on_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = tracker_sqlite::SqliteStore::open(dir.path().join("http.db")).unwrap();
    agent_flow(Arc::new(store)).await;
}
