//! The verifier as an auditor runs it: a file and a key on the command line.

use std::path::Path;
use std::process::{Command, Output};

use chrono::Utc;
use tracker_core::audit::export::ExportWriter;
use tracker_core::audit::{
    Actor, AuditAction, AuditChain, AuditEvent, AuditKey, Checkpoint, NewAuditEvent,
};

/// An export of four events with a checkpoint after the third.
fn export(key: &AuditKey) -> String {
    let chain = AuditChain::Platform;
    let mut events: Vec<AuditEvent> = Vec::new();
    for n in 1..=4 {
        events.push(
            NewAuditEvent {
                chain,
                actor: Actor::System,
                action: AuditAction::PlanCreated,
                description: format!("plan {n} created"),
                details: serde_json::json!({ "n": n, "price": 12.5 }),
                client_ip: None,
                at: Utc::now(),
            }
            .link(events.last().map(AuditEvent::head).as_ref()),
        );
    }
    let checkpoint = Checkpoint::sign(chain, &events[2].head(), None, Utc::now(), key);
    let mut w = ExportWriter::new(chain, None, None);
    let mut out = w.header();
    for e in &events {
        out += &w.event(e);
        if e.seq == 3 {
            out += &w.checkpoint(&checkpoint);
        }
    }
    out + &w.end(Utc::now(), Some(key))
}

fn verify(export: &Path, key: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracker-audit-verify"))
        .arg(export)
        .args(["--public-key", key])
        .output()
        .expect("the verifier runs")
}

#[test]
fn a_clean_export_verifies_with_the_key_or_its_pem_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = AuditKey::generate().unwrap();
    let file = dir.path().join("audit.ndjson");
    std::fs::write(&file, export(&key)).unwrap();
    let out = verify(&file, &key.public_key().to_string());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with("OK  the platform's chain: events 1 to 4 (4 events)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("events 4 to 4 are vouched for by the export's signed end only"),
        "{stdout}"
    );
    let pem = dir.path().join("audit-public.pem");
    std::fs::write(&pem, key.public_key().to_pem()).unwrap();
    assert_eq!(verify(&file, pem.to_str().unwrap()).status.code(), Some(0));
}

#[test]
fn a_changed_event_is_named_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let key = AuditKey::generate().unwrap();
    let file = dir.path().join("audit.ndjson");
    std::fs::write(
        &file,
        export(&key).replace("plan 2 created", "plan 2 deleted"),
    )
    .unwrap();
    let out = verify(&file, &key.public_key().to_string());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("FAILED  line 3, event 2: the event was altered"),
        "{stdout}"
    );
}

#[test]
fn another_key_fails_and_an_unreadable_key_or_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = AuditKey::generate().unwrap();
    let file = dir.path().join("audit.ndjson");
    std::fs::write(&file, export(&key)).unwrap();
    let other = AuditKey::generate().unwrap().public_key().to_string();
    let out = verify(&file, &other);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("checkpoint 1"));
    let out = verify(&file, "not-a-key");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the public key"));
    let out = verify(
        &dir.path().join("missing.ndjson"),
        &key.public_key().to_string(),
    );
    assert_eq!(out.status.code(), Some(2));
}
