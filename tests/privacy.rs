//! Privacy over HTTP on a SQLite file: minimisation applied before
//! storage, a change that collects more announced and pending, and an
//! employee's acknowledgement by version.

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;
use tracker_axum::testing::{ADMIN, Server};

#[tokio::test]
async fn minimisation_consent_and_the_ratchet_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let store = tracker_sqlite::SqliteStore::open(dir.path().join("privacy.db")).unwrap();
    let server = Server::start(Arc::new(store)).await;
    let acme = server.company().await;
    // The ADMIN's dashboard calls carry no key; the agent's do.
    let admin = acme.admin.without_key();
    let erin = server.agent(&acme, "erin").await;

    // Collecting less applies at once, whole.
    let strict = admin
        .put(
            "/api/v1/company/policy",
            &json!({
                "url_detail": "path",
                "window_titles": "redact",
                "title_patterns": ["salary \\w+"],
                "notice_days": 7,
                "require_acknowledgement": true,
            }),
        )
        .await
        .expect(200);
    assert_eq!(strict.body["version"], 2, "{}", strict.body);
    assert!(strict.body["pending"].is_null());

    // What the policy does not keep never reaches the store.
    let batch = json!({ "events": [{
        "id": uuid::Uuid::now_v7(),
        "started_at": Utc::now() - Duration::minutes(30),
        "duration_seconds": 60,
        "kind": "active",
        "app": "mail",
        "window_title": "Re: salary review for erin",
        "url": "https://user:pw@mail.example.com/inbox/7?q=salary#top",
    }]});
    erin.post("/api/v1/agent/activity", &batch)
        .await
        .expect(200);
    let stored = admin.get("/api/v1/company/activity").await.expect(200);
    let event = &stored.body["items"][0];
    assert_eq!(event["url"], "https://mail.example.com/inbox/7");
    assert_eq!(event["window_title"], "Re: [redacted] for erin");

    // A bad pattern is named, and nothing changes.
    let bad = admin
        .put(
            "/api/v1/company/policy",
            &json!({ "title_patterns": ["(unclosed", "x"], "notice_days": 91 }),
        )
        .await
        .expect(422);
    assert_eq!(bad.fields(), ["notice_days", "title_patterns[0]"]);

    // Collecting more waits for the notice and for each acknowledgement.
    let announced = admin
        .put("/api/v1/company/policy", &json!({ "url_detail": "full" }))
        .await
        .expect(200);
    assert_eq!(announced.body["version"], 2, "the policy in force stays");
    assert_eq!(announced.body["pending"]["policy"]["version"], 3);
    let mine = erin
        .without_key()
        .get("/api/v1/me/policy")
        .await
        .expect(200);
    assert_eq!(mine.body["policy"]["url_detail"], "path");
    assert_eq!(mine.body["pending"]["policy"]["url_detail"], "full");
    assert_eq!(
        mine.body["pending"]["collects_more"],
        json!(["more of each visited URL is kept"])
    );
    assert_eq!(mine.body["pending"]["acknowledgement_required"], true);
    assert_eq!(mine.body["pending"]["acknowledged"], false);
    let explained = mine.body["explanation"].to_string();
    assert!(explained.contains("without their query"), "{explained}");
    let agent_view = erin.get("/api/v1/agent/policy").await.expect(200);
    assert_eq!(agent_view.body["policy"]["version"], 2);
    assert_eq!(agent_view.header("etag"), Some("\"policy-v2\""));

    // Only the newest announced version can be acknowledged.
    let me = erin.without_key();
    let old = me
        .post("/api/v1/me/policy/acknowledge", &json!({ "version": 2 }))
        .await
        .expect(409);
    assert!(
        old.body["detail"]
            .to_string()
            .contains("newest is version 3")
    );
    me.post("/api/v1/me/policy/acknowledge", &json!({ "version": "3" }))
        .await
        .expect(422);
    let acked = me
        .post("/api/v1/me/policy/acknowledge", &json!({ "version": 3 }))
        .await
        .expect(200);
    assert_eq!(acked.body["pending"]["acknowledged"], true);
    assert_eq!(
        acked.body["policy"]["url_detail"], "path",
        "acknowledged, but the notice has not passed"
    );
    let who = admin
        .get("/api/v1/company/policy/acknowledgements")
        .await
        .expect(200);
    assert_eq!(who.body["version"], 3);
    let current: Vec<(String, bool)> = who.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["username"].as_str().unwrap().to_owned(),
                u["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(current.contains(&("erin".into(), true)), "{current:?}");
    assert!(current.contains(&(ADMIN.0.into(), false)), "{current:?}");
    erin.without_key()
        .get("/api/v1/company/policy/acknowledgements")
        .await
        .expect(403);

    // The acknowledgement is in the audit trail, once.
    me.post("/api/v1/me/policy/acknowledge", &json!({ "version": 3 }))
        .await
        .expect(200);
    let log = admin
        .get("/api/v1/company/audit?action=policy_acknowledged")
        .await
        .expect(200);
    assert_eq!(
        log.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        log.body
    );
}
