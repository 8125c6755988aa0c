//! Audit evidence over HTTP on a SQLite file: the public key and the
//! exports are served, an export verifies offline, and a chain rewritten
//! consistently in the database after a checkpoint, which its own hash
//! check cannot see, is caught by the checkpoint's signature.

use std::sync::Arc;

use serde_json::{Value, json};
use tracker_axum::testing::{Client, Company, Server};
use tracker_core::audit::export::{ExportRecord, verify_export};
use tracker_core::audit::{AuditEvent, AuditKey};
use tracker_core::{Argon2Hasher, MemoryBlobStore, Tracker};
use tracker_sqlite::SqliteStore;

struct Setup {
    server: Server,
    key: AuditKey,
    admin: Client,
    company_id: String,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let key = AuditKey::generate().unwrap();
    let tracker = Arc::new(
        Tracker::builder_shared(store as Arc<dyn tracker_core::store::Store>)
            .blobs(Arc::new(MemoryBlobStore::default()))
            .password_hasher(Argon2Hasher::insecure_fast())
            .audit_key(AuditKey::from_pem(&key.to_pem().unwrap()).unwrap())
            .build(),
    );
    let server = Server::serve(tracker, tracker_axum::Api::new).await;
    let Company { id, admin, .. } = server.company().await;
    for idle in [300, 301, 302] {
        admin
            .put(
                "/api/v1/company/policy",
                &json!({ "idle_threshold_seconds": idle }),
            )
            .await
            .expect(200);
    }
    Setup {
        server,
        key,
        admin,
        company_id: id,
        _dir: dir,
        path,
    }
}

async fn export(admin: &Client) -> String {
    let reply = admin.get("/api/v1/company/audit/export").await.expect(200);
    String::from_utf8(reply.raw).unwrap()
}

fn records(text: &str) -> Vec<ExportRecord> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_over_http_verifies_with_the_served_public_key() {
    let s = setup().await;
    s.server.tracker.sign_audit_checkpoints().await.unwrap();
    s.admin
        .put(
            "/api/v1/company/policy",
            &json!({ "idle_threshold_seconds": 303 }),
        )
        .await
        .expect(200);

    let served = s
        .server
        .anonymous()
        .get("/api/v1/audit/public-key")
        .await
        .expect(200)
        .body;
    assert_eq!(served["algorithm"], "ed25519");
    assert_eq!(served["public_key"], s.key.public_key().to_string());
    let key = tracker_core::audit::PublicKey::parse(served["pem"].as_str().unwrap()).unwrap();

    let reply = s
        .admin
        .get("/api/v1/company/audit/export")
        .await
        .expect(200);
    assert_eq!(reply.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(
        reply.header("content-disposition"),
        Some("attachment; filename=\"audit.ndjson\"")
    );
    let text = String::from_utf8(reply.raw).unwrap();
    let report = verify_export(text.as_bytes(), &key).unwrap_or_else(|e| panic!("{e}"));
    let listed = s
        .admin
        .get("/api/v1/company/audit?limit=500")
        .await
        .expect(200)
        .body;
    let events = listed["items"].as_array().unwrap().len() as u64;
    assert_eq!(report.events, events, "every event of the chain");
    assert_eq!(report.checkpoints, 1);
    assert_eq!(report.signed_through, Some(events - 1));

    let platform = s
        .server
        .owner()
        .await
        .get("/api/v1/owner/audit/export")
        .await
        .expect(200);
    assert!(verify_export(&platform.raw[..], &key).is_ok());
    let from_later = s
        .admin
        .get("/api/v1/company/audit/export?from=2999-01-01T00:00:00Z")
        .await
        .expect(200);
    assert_eq!(verify_export(&from_later.raw[..], &key).unwrap().events, 0);
    let bad = s
        .admin
        .get("/api/v1/company/audit/export?from=yesterday")
        .await;
    assert!(matches!(bad.status, 400 | 422), "{bad:?}");
    let backwards = s
        .admin
        .get("/api/v1/company/audit/export?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z")
        .await
        .expect(422);
    assert_eq!(backwards.fields(), ["to"]);
    s.admin.get("/api/v1/owner/audit/export").await.expect(403);
    s.server
        .anonymous()
        .get("/api/v1/company/audit/export")
        .await
        .expect(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_rewritten_consistently_is_caught_by_its_checkpoint() {
    let s = setup().await;
    s.server.tracker.sign_audit_checkpoints().await.unwrap();
    let text = export(&s.admin).await;
    let mut events: Vec<AuditEvent> = records(&text)
        .into_iter()
        .filter_map(|r| match r {
            ExportRecord::Event(e) => Some(e),
            _ => None,
        })
        .collect();

    // Someone with write access to the file turns the triggers off, changes
    // the second event and relinks every event after it.
    events[1].details = json!({ "forged": true });
    for i in 1..events.len() {
        if i > 1 {
            events[i].prev_hash = events[i - 1].hash.clone();
        }
        events[i].hash = events[i].compute_hash();
    }
    let raw = rusqlite::Connection::open(&s.path).unwrap();
    raw.execute_batch("DROP TRIGGER audit_events_no_update")
        .unwrap();
    let company: uuid::Uuid = s.company_id.parse().unwrap();
    for e in &events[1..] {
        raw.execute(
            "UPDATE audit_events SET details = ?1, prev_hash = ?2, hash = ?3 WHERE company_id = ?4 AND seq = ?5",
            rusqlite::params![e.details.to_string(), e.prev_hash, e.hash, company, e.seq as i64],
        )
        .unwrap();
    }
    drop(raw);

    // The chain is consistent: its own check finds nothing…
    let check: Value = s
        .admin
        .get("/api/v1/company/audit/verify")
        .await
        .expect(200)
        .body;
    assert_eq!(check["broken"], Value::Null, "{check}");
    // …but the checkpoint signed before the rewrite does.
    let text = export(&s.admin).await;
    let err = verify_export(text.as_bytes(), &s.key.public_key()).unwrap_err();
    assert_eq!(err.subject, "checkpoint 1", "{err}");
    assert!(err.reason.contains("rewritten"), "{err}");
}
