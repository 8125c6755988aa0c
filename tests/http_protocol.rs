//! Protocol details over a real socket, on the memory store and a SQLite
//! file: replayed sessions, stop by id, validation paths, list parameters,
//! request ids, probes, unknown routes and methods, logout.

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;
use tracker_axum::testing::{Client, Server};
use tracker_core::MemoryStore;
use tracker_core::store::Store;

/// A company with one employee; the employee's agent client.
async fn agent(server: &Server, name: &str) -> Client {
    let owner = server.owner().await;
    let created = owner
        .post(
            "/api/v1/owner/companies",
            &json!({ "name": name, "admin": { "username": "admin", "password": "admin-password" } }),
        )
        .await
        .expect(201);
    let key = created.body["company_key"].as_str().unwrap().to_owned();
    // The admin's dashboard calls carry no key (and spend no key budget).
    let admin = server
        .login(Some(&key), "admin", "admin-password")
        .await
        .without_key();
    admin
        .post(
            "/api/v1/company/employees",
            &json!({ "username": "erin", "password": "erin-password" }),
        )
        .await
        .expect(201);
    server.login(Some(&key), "erin", "erin-password").await
}

async fn protocol(store: Arc<dyn Store>) {
    let server = Server::start(store).await;
    let acme = agent(&server, "acme").await;
    let globex = agent(&server, "globex").await;

    let session =
        json!({ "id": uuid::Uuid::now_v7(), "started_at": Utc::now() - Duration::hours(2) });
    acme.post("/api/v1/agent/sessions", &session)
        .await
        .expect(201);
    let replayed = acme
        .post("/api/v1/agent/sessions", &session)
        .await
        .expect(200);
    assert_eq!(replayed.body["id"], session["id"]);
    let stop = format!(
        "/api/v1/agent/sessions/{}/stop",
        session["id"].as_str().unwrap()
    );
    let stopped_at = json!({ "stopped_at": Utc::now() });
    let theirs = globex.post(&stop, &stopped_at).await.expect(404);
    assert_eq!(theirs.code(), "not_found");
    acme.post(&stop, &stopped_at).await.expect(200);
    acme.post("/api/v1/agent/sessions/not-a-uuid/stop", &stopped_at)
        .await
        .expect(404);

    // Validation names the field inside the batch.
    let late = json!({ "events": [{ "id": uuid::Uuid::now_v7(), "started_at": Utc::now() + Duration::days(3),
                                     "duration_seconds": 60, "kind": "active" }] });
    let r = acme.post("/api/v1/agent/activity", &late).await.expect(422);
    assert_eq!(
        (r.code(), r.fields()),
        ("validation", vec!["events[0].started_at".to_owned()])
    );
    let r = acme
        .post(
            "/api/v1/agent/activity",
            &json!({ "events": [{ "id": 5 }] }),
        )
        .await
        .expect(422);
    assert_eq!(r.fields(), ["events[0].id"]);
    let r = acme.get("/api/v1/agent/sync-status").await.expect(200);
    assert_eq!(r.body["liveness"], "never", "no heartbeat yet");

    // List parameters: a bad cursor or limit is named.
    let r = acme.get("/api/v1/agent/tasks?limit=0").await.expect(422);
    assert_eq!(r.fields(), ["limit"]);
    let r = acme
        .get("/api/v1/agent/tasks?cursor=bogus")
        .await
        .expect(422);
    assert_eq!(r.fields(), ["cursor"]);
    let r = acme.get("/api/v1/agent/tasks?limit=ten").await.expect(400);
    assert_eq!(
        (r.code(), r.fields()),
        ("invalid_query", vec!["limit".to_owned()])
    );
    let r = acme
        .get("/api/v1/agent/tasks?colour=blue")
        .await
        .expect(400);
    assert_eq!(r.fields(), ["colour"]);
    // One's own export has no per-user view: a user_id is an unknown parameter.
    let r = acme
        .get("/api/v1/me/export?from=2026-11-01&to=2026-11-02&user_id=00000000-0000-0000-0000-000000000000")
        .await
        .expect(400);
    assert_eq!(r.fields(), ["user_id"]);
    let csv = acme
        .get("/api/v1/me/export?from=2026-11-01&to=2026-11-02")
        .await
        .expect(200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));

    let anonymous = server.anonymous();
    assert_eq!(
        anonymous.get("/api/v1/nowhere").await.expect(404).code(),
        "no_route"
    );
    assert_eq!(
        anonymous.get("/nowhere").await.expect(404).code(),
        "no_route"
    );
    let r = anonymous.get("/api/v1/agent/heartbeat").await.expect(405);
    assert_eq!(r.code(), "method_not_allowed");

    let health = anonymous
        .raw("GET", "/healthz", &[("x-request-id", "probe-1")], b"")
        .await
        .expect(200);
    assert_eq!(health.header("x-request-id"), Some("probe-1"));
    // A long or odd id is not echoed into answers and logs: a new one is made.
    let long = "x".repeat(500);
    for odd in [long.as_str(), "a b", "id\"><script>"] {
        let r = anonymous
            .raw("GET", "/healthz", &[("x-request-id", odd)], b"")
            .await
            .expect(200);
        let made = r.header("x-request-id").unwrap();
        assert!(made != odd && made.len() == 36, "{odd:?} -> {made:?}");
    }
    let ready = anonymous.get("/readyz").await.expect(200);
    assert_eq!(ready.body["store"], "ok");
    assert!(
        ready.header("x-request-id").is_some(),
        "a request id is made when none came"
    );

    // Metrics: by route template and status, and what was ingested.
    let metrics = anonymous.get("/metrics").await.expect(200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .contains("openmetrics-text")
    );
    let text = String::from_utf8(metrics.raw).unwrap();
    for line in [
        r#"tracker_http_requests_total{method="POST",route="/api/v1/agent/sessions",status="201"} 1"#,
        r#"tracker_http_requests_total{method="POST",route="/api/v1/agent/sessions",status="200"} 1"#,
        r#"tracker_http_requests_total{method="POST",route="/api/v1/agent/sessions/{id}/stop",status="404"} 2"#,
        r#"tracker_http_requests_total{method="GET",route="unmatched",status="404"} 2"#,
        "tracker_http_request_duration_seconds_bucket{",
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }

    // Logout revokes the token; a second logout is 401.
    acme.act("/api/v1/auth/logout").await.expect(204);
    let after = acme.get("/api/v1/agent/policy").await.expect(401);
    assert_eq!(after.code(), "unauthenticated");
    acme.act("/api/v1/auth/logout").await.expect(401);
}

#[tokio::test]
async fn protocol_details_on_the_memory_store() {
    protocol(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn protocol_details_on_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = tracker_sqlite::SqliteStore::open(dir.path().join("http.db")).unwrap();
    protocol(Arc::new(store)).await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let config = tracker_axum::HttpConfig {
        // One more a minute: nothing refills while the test runs.
        rate_per_ip: tracker_axum::RateLimit::per_minute(1, 3),
        rate_per_company_key: None,
        ..Default::default()
    };
    let server = Server::start_with(Arc::new(MemoryStore::new()), config).await;
    let anonymous = server.anonymous();
    for _ in 0..3 {
        anonymous.get("/api/v1/agent/policy").await.expect(401);
    }
    let limited = anonymous.get("/api/v1/agent/policy").await.expect(429);
    assert_eq!(limited.code(), "rate_limited");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Probes are not limited: a load balancer must always see the truth.
    anonymous.get("/healthz").await.expect(200);
    let metrics = String::from_utf8(anonymous.get("/metrics").await.expect(200).raw).unwrap();
    assert!(
        metrics.contains(r#"tracker_rate_limited_total{limit="ip"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn each_company_key_has_its_own_budget() {
    let config = tracker_axum::HttpConfig {
        rate_per_ip: None,
        rate_per_company_key: tracker_axum::RateLimit::per_minute(1, 2),
        ..Default::default()
    };
    let server = Server::start_with(Arc::new(MemoryStore::new()), config).await;
    let acme = agent(&server, "acme").await;
    let globex = agent(&server, "globex").await;
    // Two agent calls of acme spend its burst; the third waits.
    acme.get("/api/v1/agent/policy").await.expect(200);
    acme.get("/api/v1/agent/policy").await.expect(200);
    acme.get("/api/v1/agent/policy").await.expect(429);
    globex.get("/api/v1/agent/policy").await.expect(200);
}

/// A request that outlasts the timeout (here a body that stops arriving)
/// is answered 408 with a problem document, keeps its request id, and is
/// counted under its route.
#[tokio::test]
async fn a_request_past_the_timeout_is_answered_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let config = tracker_axum::HttpConfig {
        request_timeout: std::time::Duration::from_millis(200),
        ..tracker_axum::testing::unlimited()
    };
    let server = Server::start_with(Arc::new(MemoryStore::new()), config).await;
    let agent = agent(&server, "acme").await;
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let head = format!(
        "POST /api/v1/agent/heartbeat HTTP/1.1\r\nhost: tracker\r\ncontent-type: application/json\r\n\
         authorization: Bearer {}\r\nx-company-key: {}\r\nx-request-id: slow-1\r\ncontent-length: 64\r\n\r\n{{\"policy_",
        agent.token.as_deref().unwrap(),
        agent.key.as_deref().unwrap(),
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The rest of the body never comes; the server answers by itself.
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") || !answer.ends_with(b"}") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("answered before the test's own limit")
            .unwrap();
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(text.starts_with("http/1.1 408"), "{text}");
    assert!(
        text.contains("content-type: application/problem+json"),
        "{text}"
    );
    assert!(text.contains("x-request-id: slow-1"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");

    let metrics = server.anonymous().get("/metrics").await.expect(200);
    let metrics = String::from_utf8(metrics.raw).unwrap();
    assert!(
        metrics.contains(
            r#"tracker_http_requests_total{method="POST",route="/api/v1/agent/heartbeat",status="408"} 1"#
        ),
        "{metrics}"
    );
}

/// Reads one HTTP/1.1 answer (head and a `content-length` body) from
/// `stream`, or `None` when the server closed the connection first.
async fn read_answer(stream: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                return Some(String::from_utf8_lossy(&answer[..end + 4 + length]).into_owned());
            }
        }
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf));
        match read.await.expect("the server answers or closes") {
            Ok(0) | Err(_) => return None,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
}

/// A request refused before its body was read (401 without credentials,
/// 413 past the limit): the client is told the connection closes, or the
/// connection stays usable for its next request; never a reset after a
/// keep-alive answer.
#[tokio::test]
async fn answers_before_the_body_is_read_keep_keep_alive_honest() {
    use tokio::io::AsyncWriteExt;

    let config = tracker_axum::HttpConfig {
        json_limit: 1024,
        ..tracker_axum::testing::unlimited()
    };
    let server = Server::start_with(Arc::new(MemoryStore::new()), config).await;
    let body = format!("{{\"events\":[{}]}}", "0,".repeat(100_000) + "0");
    let agent = agent(&server, "acme").await;
    let credentials = format!(
        "authorization: Bearer {}\r\nx-company-key: {}\r\n",
        agent.token.as_deref().unwrap(),
        agent.key.as_deref().unwrap()
    );
    for (auth, expected) in [("", "401"), (credentials.as_str(), "413")] {
        let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let request = format!(
            "POST /api/v1/agent/activity HTTP/1.1\r\nhost: tracker\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let first = read_answer(&mut stream).await.expect("an answer");
        assert!(
            first.starts_with(&format!("HTTP/1.1 {expected}")),
            "{first}"
        );
        let closes = first.to_lowercase().contains("connection: close");
        let next = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: tracker\r\n\r\n")
            .await;
        let second = match next {
            Ok(()) => read_answer(&mut stream).await,
            Err(_) => None,
        };
        assert!(
            closes
                || second
                    .as_deref()
                    .is_some_and(|s| s.starts_with("HTTP/1.1 200")),
            "kept alive but unusable: {first:?} then {second:?}"
        );
    }
    // A body read whole keeps the connection for the next request.
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let beat = r#"{"policy_version":1}"#;
    let request = format!(
        "POST /api/v1/agent/heartbeat HTTP/1.1\r\nhost: tracker\r\ncontent-type: application/json\r\n{credentials}content-length: {}\r\n\r\n{beat}",
        beat.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let answered = read_answer(&mut stream).await.expect("an answer");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(
        !answered.to_lowercase().contains("connection: close"),
        "{answered}"
    );
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: tracker\r\n\r\n")
        .await
        .unwrap();
    let next = read_answer(&mut stream)
        .await
        .expect("the same connection answers");
    assert!(next.starts_with("HTTP/1.1 200"), "{next}");
}

/// Guesses at one account from many addresses: after ten failures its
/// sign-ins are 429 with `Retry-After`, even with the right password.
#[tokio::test]
async fn an_account_under_guessing_answers_429_with_retry_after() {
    let server = Server::start(Arc::new(MemoryStore::new())).await;
    let erin = agent(&server, "acme").await;
    let key = erin.key.clone().unwrap();
    let anonymous = server.anonymous();
    let login =
        |password: &str| json!({ "company_key": key, "username": "erin", "password": password });
    for n in 0..10 {
        let forwarded = format!("198.51.100.{n}");
        let r = anonymous
            .raw(
                "POST",
                "/api/v1/auth/login",
                &[
                    ("content-type", "application/json"),
                    ("x-forwarded-for", &forwarded),
                ],
                login("wrong-password").to_string().as_bytes(),
            )
            .await
            .expect(401);
        assert_eq!(r.code(), "invalid_credentials");
    }
    let refused = anonymous
        .post("/api/v1/auth/login", &login("erin-password"))
        .await
        .expect(429);
    assert_eq!(refused.code(), "too_many_attempts");
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
}

/// Behind a trusted proxy the client address comes from its header, for
/// the audit log and the per-address limit; from anyone else the header
/// is ignored.
#[tokio::test]
async fn a_trusted_proxy_names_the_client() {
    for (trusted, expected) in [
        (vec!["127.0.0.0/8"], "198.51.100.23"),
        (vec![], "127.0.0.1"),
    ] {
        let config = tracker_axum::HttpConfig {
            trusted_proxies: trusted.iter().map(|n| n.parse().unwrap()).collect(),
            ..tracker_axum::testing::unlimited()
        };
        let server = Server::start_with(Arc::new(MemoryStore::new()), config).await;
        let owner = server.owner().await;
        let body = json!({ "username": "nobody", "password": "wrong-password" });
        server
            .anonymous()
            .raw(
                "POST",
                "/api/v1/auth/login",
                &[
                    ("content-type", "application/json"),
                    ("x-forwarded-for", "203.0.113.9, 198.51.100.23"),
                ],
                body.to_string().as_bytes(),
            )
            .await
            .expect(401);
        let audit = owner
            .get("/api/v1/owner/audit?action=login_failed")
            .await
            .expect(200);
        let ips: Vec<&str> = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["client_ip"].as_str())
            .collect();
        assert_eq!(ips, [expected], "trusting {trusted:?}");
    }
}
