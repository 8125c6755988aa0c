//! The whole product over HTTP on a real port, on a SQLite file and (with
//! `DATABASE_URL`) on PostgreSQL: an OWNER sets up a company, its admin
//! fills the seats, an agent tracks, the policy and the company's state
//! take effect at once, a rotated key dies, and the audit log holds it all.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use tracker_axum::testing::{Client, PNG, Server};
use tracker_core::store::Store;
use tracker_sqlite::{SqliteOptions, SqliteStore};
use tracker_sqlx::testing::TestStore;

fn events(n: usize, minutes_ago: i64) -> Value {
    let start = Utc::now() - Duration::minutes(minutes_ago);
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "id": uuid::Uuid::new_v4(),
                "started_at": start + Duration::seconds(30 * i as i64),
                "duration_seconds": 30,
                "kind": if i % 4 == 3 { "idle" } else { "active" },
                "app": "editor",
                "window_title": "notes.md",
                "url": "https://docs.example.com/page",
            })
        })
        .collect();
    json!({ "events": events })
}

fn actions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect()
}

/// Every event of an audit list, following the cursors.
async fn whole_audit(client: &Client, path: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut url = format!("{path}?limit=100");
    loop {
        let page = client.get(&url).await.expect(200).body;
        all.extend(actions(&page));
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("{path}?limit=100&cursor={c}"),
            None => return all,
        }
    }
}

async fn journey(store: Arc<dyn Store>) {
    let server = Server::start(store).await;
    let owner = server.owner().await;

    // The OWNER creates a company on the FREE plan (5 seats) with its admin.
    let created = owner
        .post(
            "/api/v1/owner/companies",
            &json!({
                "name": "Acme",
                "plan": "FREE",
                "timezone": "Europe/Berlin",
                "admin": { "username": "ada", "password": "ada-password-1" },
            }),
        )
        .await
        .expect(201)
        .body;
    let key = created["company_key"].as_str().expect("key").to_owned();
    let company_id = created["company"]["id"].as_str().expect("id").to_owned();
    assert!(key.starts_with("company_"), "{key}");
    let admin = server.login(Some(&key), "ada", "ada-password-1").await;

    // The admin fills the seats; the next one is a conflict.
    let detail = owner
        .get(&format!("/api/v1/owner/companies/{company_id}"))
        .await
        .expect(200)
        .body;
    let free = detail["seats_limit"].as_u64().unwrap() - detail["seats_used"].as_u64().unwrap();
    assert!(free >= 2, "{detail}");
    for i in 0..free {
        admin
            .post(
                "/api/v1/company/employees",
                &json!({ "username": format!("emp{i}"), "password": "employee-password" }),
            )
            .await
            .expect(201);
    }
    let full = admin
        .post(
            "/api/v1/company/employees",
            &json!({ "username": "one-too-many", "password": "employee-password" }),
        )
        .await
        .expect(409);
    assert_eq!(full.code(), "seat_limit_reached");
    let listed = admin
        .get("/api/v1/company/employees?limit=2")
        .await
        .expect(200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    assert!(listed.body["next_cursor"].is_string());

    // An employee's agent: login, heartbeat, policy, then 304.
    let agent = server.login(Some(&key), "emp0", "employee-password").await;
    let beat = agent
        .post(
            "/api/v1/agent/heartbeat",
            &json!({ "policy_version": 1, "agent_version": "2.0.0" }),
        )
        .await
        .expect(200);
    assert_eq!(beat.body["tracking_allowed"], true);
    // Acknowledged is visible to the next read, committed first or held.
    let agents = admin.get("/api/v1/company/agents").await.expect(200).body;
    let emp0 = agents["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["username"] == "emp0")
        .expect("emp0 in the agent list");
    assert_eq!(emp0["liveness"], "online", "{emp0}");
    assert_eq!(emp0["policy_version"], 1, "{emp0}");
    assert!(emp0["last_heartbeat_at"].is_string(), "{emp0}");
    let policy = agent.get("/api/v1/agent/policy").await.expect(200);
    let etag = policy.header("etag").expect("etag").to_owned();
    assert_eq!(policy.body["policy"]["screenshots_enabled"], true);
    agent
        .raw(
            "GET",
            "/api/v1/agent/policy",
            &[("if-none-match", &etag)],
            b"",
        )
        .await
        .expect(304);

    // A work session and a batch sent twice: counted once.
    let session = uuid::Uuid::new_v4();
    agent
        .post(
            "/api/v1/agent/sessions",
            &json!({ "id": session, "started_at": Utc::now() - Duration::minutes(90) }),
        )
        .await
        .expect(201);
    let batch = events(40, 60);
    for (inserted, duplicates) in [(40, 0), (0, 40)] {
        let report = agent
            .post("/api/v1/agent/activity", &batch)
            .await
            .expect(200)
            .body;
        assert_eq!(
            (report["inserted"].as_u64(), report["duplicates"].as_u64()),
            (Some(inserted), Some(duplicates)),
            "{report}"
        );
    }
    let stored = admin
        .get("/api/v1/company/activity?limit=500")
        .await
        .expect(200);
    assert_eq!(stored.body["items"].as_array().unwrap().len(), 40);

    // Screenshots: a binary body, then multipart; a replay is 200.
    let shot = uuid::Uuid::new_v4();
    let taken =
        (Utc::now() - Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let path = format!("/api/v1/agent/screenshots?id={shot}&taken_at={taken}");
    agent
        .raw("POST", &path, &[("content-type", "image/png")], PNG)
        .await
        .expect(201);
    agent
        .raw("POST", &path, &[("content-type", "image/png")], PNG)
        .await
        .expect(200);
    let meta = json!({ "id": uuid::Uuid::new_v4(), "taken_at": taken });
    let uploaded = agent.upload_screenshot(&meta, PNG).await.expect(201);
    let image = admin
        .get(&format!(
            "/api/v1/company/screenshots/{}/image",
            uploaded.body["id"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(
        (image.header("content-type"), image.raw.as_slice()),
        (Some("image/png"), PNG)
    );
    assert_eq!(image.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        image.header("content-security-policy"),
        Some("default-src 'none'; sandbox"),
        "an image opened as a page runs nothing"
    );

    // The admin disables screenshots: the next upload is refused.
    let changed = admin
        .put(
            "/api/v1/company/policy",
            &json!({ "screenshots_enabled": false }),
        )
        .await
        .expect(200);
    assert_eq!(changed.body["version"], 2);
    let refused = agent
        .raw(
            "POST",
            &format!(
                "/api/v1/agent/screenshots?id={}&taken_at={taken}",
                uuid::Uuid::new_v4()
            ),
            &[("content-type", "image/png")],
            PNG,
        )
        .await
        .expect(403);
    assert_eq!(refused.code(), "policy_disabled");
    let beat = agent
        .post("/api/v1/agent/heartbeat", &json!({ "policy_version": 1 }))
        .await
        .expect(200);
    assert_eq!(beat.body["policy_changed"], true);
    agent
        .raw(
            "GET",
            "/api/v1/agent/policy",
            &[("if-none-match", &etag)],
            b"",
        )
        .await
        .expect(200);

    // The OWNER suspends the company: every company-user call is refused,
    // OWNER calls go on.
    let company = format!("/api/v1/owner/companies/{company_id}");
    owner
        .post(
            &format!("{company}/suspend"),
            &json!({ "reason": "unpaid invoice" }),
        )
        .await
        .expect(200);
    for reply in [
        admin.get("/api/v1/company/policy").await,
        admin.get("/api/v1/company/employees").await,
        agent.post("/api/v1/agent/heartbeat", &json!({})).await,
        agent.get("/api/v1/me/day").await,
        server
            .anonymous()
            .post(
                "/api/v1/auth/login",
                &json!({ "company_key": key, "username": "ada", "password": "ada-password-1" }),
            )
            .await,
    ] {
        assert_eq!(
            (reply.status, reply.code()),
            (403, "company_suspended"),
            "{reply:?}"
        );
    }
    owner.get(&company).await.expect(200);
    owner.get("/api/v1/owner/companies").await.expect(200);
    owner
        .act(&format!("{company}/reactivate"))
        .await
        .expect(200);
    admin.get("/api/v1/company/policy").await.expect(200);

    // Key rotation: the old key is dead at once, the new one works.
    let rotated = owner
        .act(&format!("{company}/rotate-key"))
        .await
        .expect(200);
    let new_key = rotated.body["company_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    let old = agent
        .post("/api/v1/agent/heartbeat", &json!({}))
        .await
        .expect(401);
    assert_eq!(old.code(), "invalid_company_key");
    agent
        .with_key(&new_key)
        .post("/api/v1/agent/heartbeat", &json!({}))
        .await
        .expect(200);
    // A dashboard that still sends the old key is refused as well.
    admin.get("/api/v1/company/policy").await.expect(401);
    let admin = admin.with_key(&new_key);

    // The audit log holds every action, and both chains verify.
    let company_log = whole_audit(&admin, "/api/v1/company/audit").await;
    let count = |log: &[String], action: &str| log.iter().filter(|a| *a == action).count();
    // The first admin's creation opens the chain, then the seats filled.
    assert_eq!(
        count(&company_log, "employee_created") as u64,
        free + 1,
        "{company_log:?}"
    );
    assert_eq!(company_log[0], "employee_created", "{company_log:?}");
    assert_eq!(count(&company_log, "policy_updated"), 1, "{company_log:?}");
    let platform_log = whole_audit(&owner, "/api/v1/owner/audit").await;
    for action in [
        "company_created",
        "company_suspended",
        "company_reactivated",
        "key_rotated",
    ] {
        assert_eq!(
            count(&platform_log, action),
            1,
            "{action}: {platform_log:?}"
        );
    }
    let filtered = admin
        .get("/api/v1/company/audit?action=policy_updated")
        .await
        .expect(200);
    assert_eq!(actions(&filtered.body), ["policy_updated"]);
    for path in ["/api/v1/company/audit/verify", "/api/v1/owner/audit/verify"] {
        let verified = (if path.contains("owner") {
            &owner
        } else {
            &admin
        })
        .get(path)
        .await
        .expect(200);
        assert!(
            verified.body["broken"].is_null(),
            "{path}: {}",
            verified.body
        );
        assert!(
            verified.body["events"].as_u64().unwrap_or(0) > 0,
            "{path}: {}",
            verified.body
        );
    }

    // Reports read what the agent sent.
    let today = Utc::now().date_naive();
    let from = today - Duration::days(1);
    let sheet = admin
        .get(&format!(
            "/api/v1/company/exports/timesheet.csv?from={from}&to={today}"
        ))
        .await
        .expect(200);
    assert!(
        sheet
            .header("content-type")
            .unwrap()
            .starts_with("text/csv")
    );
    let text = String::from_utf8(sheet.raw).unwrap();
    assert!(text.lines().count() >= 2 && text.contains("emp0"), "{text}");
    let users: BTreeSet<String> =
        admin.get("/api/v1/company/agents").await.expect(200).body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["username"].as_str().unwrap().to_owned())
            .collect();
    assert!(users.contains("emp0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_journey_on_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("tracker.db")).unwrap();
    journey(Arc::new(store)).await;
}

/// As the reference server runs: heartbeats held for up to 50 ms and
/// answered before their commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_journey_on_a_sqlite_file_with_held_heartbeats() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        heartbeat_delay: std::time::Duration::from_millis(50),
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open_with(dir.path().join("tracker.db"), &options).unwrap();
    journey(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_journey_on_postgres() {
    let Some(store) = TestStore::new().await else {
        return;
    };
    journey(Arc::new(store)).await;
}
