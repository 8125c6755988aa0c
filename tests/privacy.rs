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

    // Who looked: the ADMIN's two reads of erin's activity are one
    // record of count 2; erin's own reads are not recorded.
    admin.get("/api/v1/company/activity").await.expect(200);
    me.get("/api/v1/me/day").await.expect(200);
    let looked = me.get("/api/v1/me/access-log").await.expect(200);
    let entries = looked.body["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", looked.body);
    assert_eq!(entries[0]["actor_username"], ADMIN.0);
    assert_eq!(entries[0]["subject_username"], "erin");
    assert_eq!(entries[0]["kind"], "activity");
    assert_eq!(entries[0]["count"], 2);
    let erin_id = entries[0]["subject_id"].as_str().unwrap().to_owned();
    let company_log = admin
        .get(&format!("/api/v1/company/access-log?subject_id={erin_id}"))
        .await
        .expect(200);
    assert_eq!(company_log.body["items"], looked.body["items"]);
    me.get("/api/v1/company/access-log").await.expect(403);
    admin
        .get(&format!(
            "/api/v1/company/access-log?actor_id={}",
            uuid::Uuid::new_v4()
        ))
        .await
        .expect(404);

    // Everything kept about erin, in one streamed archive with a manifest.
    let archive = me.get("/api/v1/me/archive").await.expect(200);
    assert_eq!(archive.header("content-type"), Some("application/x-tar"));
    let files = untar(&archive.raw);
    let manifest: serde_json::Value = serde_json::from_slice(&files.last().unwrap().1).unwrap();
    assert_eq!(files.last().unwrap().0, "manifest.json");
    let listed = manifest["files"].as_array().unwrap();
    assert_eq!(listed.len(), files.len() - 1, "every file but itself");
    for (entry, (name, bytes)) in listed.iter().zip(&files) {
        assert_eq!(entry["name"], name.as_str());
        assert_eq!(entry["bytes"], bytes.len());
        assert_eq!(entry["sha256"], hex_sha256(bytes), "{name}");
    }
    let file = |wanted: &str| {
        files
            .iter()
            .find(|(name, _)| name.starts_with(wanted))
            .map(|(_, b)| String::from_utf8(b.clone()).unwrap())
            .unwrap_or_else(|| {
                panic!(
                    "no {wanted} in {:?}",
                    files.iter().map(|f| &f.0).collect::<Vec<_>>()
                )
            })
    };
    let activity = file("activity/");
    assert_eq!(activity.lines().count(), 1);
    assert!(activity.contains(&erin_id));
    let looked = file("access_log.jsonl");
    assert_eq!(looked.lines().count(), 1, "{looked}");
    assert!(looked.contains("\"count\":2"), "{looked}");
    assert!(file("audit.jsonl").contains("policy_acknowledged"));
    assert!(file("profile.json").contains("\"erin\""));
    assert!(!file("profile.json").contains("password"));
    // The OWNER has no archive: refused before any byte.
    let owner = server.owner().await;
    let refused = owner.get("/api/v1/me/archive").await.expect(403);
    assert_eq!(refused.code(), "forbidden");
}

/// The files of a tar archive, in order.
fn untar(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (name, data)
        })
        .collect()
}

fn hex_sha256(bytes: &[u8]) -> String {
    tracker_core::secret::SecretHash::of_bytes(bytes)
}

#[tokio::test]
async fn an_erasure_leaves_a_tombstone_and_a_receipt_not_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = tracker_sqlite::SqliteStore::open(dir.path().join("erase.db")).unwrap();
    let server = Server::start(Arc::new(store)).await;
    let acme = server.company().await;
    let admin = acme.admin.without_key();
    let dan = server.agent(&acme, "dan").await;
    let keep = server.agent(&acme, "kim").await;
    for agent in [&dan, &keep] {
        let batch = json!({ "events": [{
            "id": uuid::Uuid::now_v7(),
            "started_at": Utc::now() - Duration::minutes(30),
            "duration_seconds": 60,
            "kind": "active",
            "window_title": "secret project plan",
        }]});
        agent
            .post("/api/v1/agent/activity", &batch)
            .await
            .expect(200);
    }
    let me = dan.without_key().get("/api/v1/me").await.expect(200);
    let id = me.body["id"].as_str().unwrap().to_owned();

    // A hold stops the erasure until it is released.
    let hold = format!("/api/v1/company/employees/{id}/legal-hold");
    admin
        .post(&hold, &json!({ "reason": "" }))
        .await
        .expect(422);
    admin
        .post(&hold, &json!({ "reason": "case 2026-17" }))
        .await
        .expect(200);
    admin
        .post(&hold, &json!({ "reason": "again" }))
        .await
        .expect(409);
    let erase = format!("/api/v1/company/employees/{id}/erase");
    let refused = admin.act(&erase).await.expect(409);
    assert!(refused.body["detail"].to_string().contains("legal hold"));
    admin.call("DELETE", &hold, None).await.expect(200);

    // So does a hold on the whole company, by its ADMIN or the OWNER.
    admin
        .post(
            "/api/v1/company/legal-hold",
            &json!({ "reason": "audit 2026" }),
        )
        .await
        .expect(200);
    let refused = admin.act(&erase).await.expect(409);
    assert!(refused.body["detail"].to_string().contains("company"));
    admin
        .call("DELETE", "/api/v1/company/legal-hold", None)
        .await
        .expect(200);
    let owner = server.owner().await;
    let company_hold = format!("/api/v1/owner/companies/{}/legal-hold", acme.id);
    let held = owner
        .post(&company_hold, &json!({ "reason": "regulator" }))
        .await
        .expect(200);
    assert_eq!(held.body["legal_hold"]["reason"], "regulator");
    admin.act(&erase).await.expect(409);
    owner.call("DELETE", &company_hold, None).await.expect(200);
    dan.without_key()
        .post("/api/v1/company/legal-hold", &json!({ "reason": "x" }))
        .await
        .expect(403);

    let receipt = admin.act(&erase).await.expect(200);
    assert_eq!(receipt.body["counts"]["events"], 1, "{}", receipt.body);
    assert_eq!(receipt.body["digest"].as_str().unwrap().len(), 64);
    // Gone: the token, the name, the data; kim's data stays.
    dan.get("/api/v1/agent/policy").await.expect(401);
    let tomb = admin
        .get(&format!("/api/v1/company/employees/{id}"))
        .await
        .expect(200);
    assert!(
        tomb.body["username"]
            .as_str()
            .unwrap()
            .starts_with("erased-")
    );
    assert!(tomb.body["email"].is_null());
    assert_eq!(tomb.body["active"], false);
    let left = admin.get("/api/v1/company/activity").await.expect(200);
    let owners: Vec<&str> = left.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(owners.len(), 1);
    assert_ne!(owners[0], id);
    admin.act(&erase).await.expect(409);

    // The receipt is in the chain, which still verifies, and it holds
    // none of the erased data.
    let log = admin
        .get("/api/v1/company/audit?action=person_erased")
        .await
        .expect(200);
    let event = &log.body["items"][0];
    assert_eq!(event["details"]["digest"], receipt.body["digest"]);
    assert!(!log.body.to_string().contains("secret project plan"));
    let verified = admin.get("/api/v1/company/audit/verify").await.expect(200);
    assert!(verified.body["broken"].is_null(), "{}", verified.body);
}
