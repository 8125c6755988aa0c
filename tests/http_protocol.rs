//! Protocol details over a real socket, on the memory store and a SQLite
//! file: replayed sessions, stop by id, validation paths, list parameters,
//! request ids, probes, unknown routes and methods, logout.

mod support;

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;
use support::{Client, Server};
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
    let admin = server.login(Some(&key), "admin", "admin-password").await;
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
    let ready = anonymous.get("/readyz").await.expect(200);
    assert_eq!(ready.body["store"], "ok");
    assert!(
        ready.header("x-request-id").is_some(),
        "a request id is made when none came"
    );

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
