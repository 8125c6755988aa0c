//! The export format against tampering: every way of changing an export
//! a forger has, and what the verifier names.

use super::*;
use crate::audit::{Actor, AuditAction, NewAuditEvent};
use crate::ids::CompanyId;

struct Fixture {
    chain: AuditChain,
    key: AuditKey,
    events: Vec<AuditEvent>,
    checkpoints: Vec<Checkpoint>,
}

/// `n` events with a checkpoint after each seq in `signed`.
fn fixture(n: u64, signed: &[u64]) -> Fixture {
    let chain = AuditChain::Company(CompanyId::new());
    let key = AuditKey::generate().unwrap();
    let mut events: Vec<AuditEvent> = Vec::new();
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    for i in 1..=n {
        let e = NewAuditEvent {
            chain,
            actor: Actor::System,
            action: AuditAction::PolicyUpdated,
            description: format!("change {i}"),
            details: serde_json::json!({"n": i, "ratio": 0.5 * i as f64}),
            client_ip: Some("10.0.0.1".into()),
            at: Utc::now(),
        }
        .link(events.last().map(AuditEvent::head).as_ref());
        if signed.contains(&i) {
            checkpoints.push(Checkpoint::sign(
                chain,
                &e.head(),
                checkpoints.last(),
                Utc::now(),
                &key,
            ));
        }
        events.push(e);
    }
    Fixture {
        chain,
        key,
        events,
        checkpoints,
    }
}

impl Fixture {
    /// The export of events `from_seq..`, merged as the service does.
    fn export(&self, from_seq: u64) -> String {
        self.export_range(from_seq..=u64::MAX)
    }

    fn export_range(&self, seqs: std::ops::RangeInclusive<u64>) -> String {
        let mut w = ExportWriter::new(self.chain, None, None);
        let mut out = w.header();
        let mut cps = self.checkpoints.iter().peekable();
        while let Some(cp) = cps.next_if(|c| c.event_seq < *seqs.start()) {
            out += &w.checkpoint(cp);
        }
        for e in self.events.iter().filter(|e| seqs.contains(&e.seq)) {
            out += &w.event(e);
            while let Some(cp) = cps.next_if(|c| c.event_seq == e.seq) {
                out += &w.checkpoint(cp);
            }
        }
        for cp in cps {
            out += &w.checkpoint(cp);
        }
        out + &w.end(Utc::now(), Some(&self.key))
    }

    fn verify(&self, text: &str) -> Result<ExportReport, ExportFailure> {
        verify_export(text.as_bytes(), &self.key.public_key())
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(|l| format!("{l}\n")).collect()
}

#[test]
fn a_clean_export_verifies() {
    let f = fixture(6, &[2, 4]);
    let report = f.verify(&f.export(1)).unwrap();
    assert_eq!(report.events, 6);
    assert_eq!(report.seqs, Some((1, 6)));
    assert_eq!(report.checkpoints, 2);
    assert_eq!(report.signed_through, Some(4));
    assert_eq!(report.keys, vec![f.key.public_key().to_string()]);
}

#[test]
fn an_export_from_the_middle_carries_the_earlier_checkpoints() {
    let f = fixture(8, &[2, 4, 7]);
    let text = f.export(3);
    let report = f.verify(&text).unwrap();
    assert_eq!((report.events, report.seqs), (6, Some((3, 8))));
    assert_eq!(report.checkpoints, 3);
    // Checkpoint 1 (event 2) comes before the events; its hash anchors
    // event 3's link.
    let mut forged = lines(&text);
    let line = forged
        .iter()
        .position(|l| l.contains("\"seq\":3,"))
        .unwrap();
    forged[line] = forged[line].replace(&f.events[1].hash, &"ab".repeat(32));
    let err = f.verify(&forged.concat()).unwrap_err();
    assert_eq!(err.subject, "event 3");
}

#[test]
fn changing_an_event_names_it() {
    let f = fixture(5, &[5]);
    let text = f.export(1).replace("change 3", "change 9");
    let err = f.verify(&text).unwrap_err();
    assert_eq!((err.line, err.subject.as_str()), (4, "event 3"));
    assert!(err.reason.contains("altered"), "{err}");
}

#[test]
fn dropping_or_reordering_events_is_named() {
    let f = fixture(5, &[5]);
    let mut dropped = lines(&f.export(1));
    dropped.remove(3); // event 3
    let err = f.verify(&dropped.concat()).unwrap_err();
    assert!(err.subject.starts_with("event 4"), "{err}");
    let mut swapped = lines(&f.export(1));
    swapped.swap(2, 3); // events 2 and 3
    let err = f.verify(&swapped.concat()).unwrap_err();
    assert!(err.subject.starts_with("event 3"), "{err}");
    // The first events dropped: the end record says where it started.
    let mut head_cut = lines(&f.export(1));
    head_cut.remove(1);
    let err = f.verify(&head_cut.concat()).unwrap_err();
    assert_eq!(err.subject, "the end record");
    assert!(err.reason.contains("events"), "{err}");
}

#[test]
fn a_truncated_export_fails() {
    let f = fixture(5, &[2]);
    let all = lines(&f.export(1));
    let err = f.verify(&all[..all.len() - 1].concat()).unwrap_err();
    assert_eq!(err.subject, "the end record");
    assert!(err.reason.contains("truncated"));
    // Events cut with the end kept: the end names the last event.
    let mut cut = all.clone();
    cut.remove(all.len() - 2);
    let err = f.verify(&cut.concat()).unwrap_err();
    assert_eq!(err.subject, "the end record");
    assert!(
        err.reason.contains("last_seq") || err.reason.contains("events"),
        "{err}"
    );
}

#[test]
fn a_checkpoint_forged_with_another_key_is_named() {
    let f = fixture(4, &[2, 4]);
    let forger = AuditKey::generate().unwrap();
    let forged = Checkpoint::sign(
        f.chain,
        &f.events[3].head(),
        Some(&f.checkpoints[0]),
        Utc::now(),
        &forger,
    );
    let text = f.export(1).replace(
        &line(&ExportRecord::Checkpoint(f.checkpoints[1].clone())),
        &line(&ExportRecord::Checkpoint(forged)),
    );
    let err = f.verify(&text).unwrap_err();
    assert_eq!(err.subject, "checkpoint 2");
    assert!(err.reason.contains("no rotation"), "{err}");
}

#[test]
fn an_export_wholly_signed_by_another_key_is_refused() {
    let f = fixture(3, &[2]);
    let other = AuditKey::generate().unwrap();
    let err = verify_export(f.export(1).as_bytes(), &other.public_key()).unwrap_err();
    assert_eq!(err.subject, "checkpoint 1");
    assert!(err.reason.contains("not the given key"), "{err}");
}

#[test]
fn a_chain_rewritten_consistently_is_caught_by_its_checkpoint() {
    let mut f = fixture(5, &[3]);
    // Rewrite event 2 and relink everything after it, as someone with
    // write access to the database could.
    f.events[1].details = serde_json::json!({"n": 2, "forged": true});
    for i in 1..f.events.len() {
        if i > 1 {
            f.events[i].prev_hash = f.events[i - 1].hash.clone();
        }
        f.events[i].hash = f.events[i].compute_hash();
    }
    let err = f.verify(&f.export(1)).unwrap_err();
    assert_eq!(err.subject, "checkpoint 1");
    assert!(err.reason.contains("rewritten"), "{err}");
}

#[test]
fn a_rotation_is_followed_from_either_key() {
    let mut f = fixture(4, &[1]);
    let new = AuditKey::generate().unwrap();
    let rotation = Checkpoint::rotation(
        f.chain,
        &f.events[1].head(),
        f.checkpoints.last(),
        Utc::now(),
        &f.key,
        &new,
    );
    let after = Checkpoint::sign(
        f.chain,
        &f.events[3].head(),
        Some(&rotation),
        Utc::now(),
        &new,
    );
    f.checkpoints.extend([rotation, after]);
    let old = std::mem::replace(&mut f.key, new);
    let text = f.export(1);
    let report = f.verify(&text).unwrap();
    assert_eq!(report.keys.len(), 2);
    assert!(verify_export(text.as_bytes(), &old.public_key()).is_ok());
    // Signed by the old key after the handover: refused.
    let stale = Checkpoint::sign(
        f.chain,
        &f.events[3].head(),
        Some(&f.checkpoints[1]),
        Utc::now(),
        &old,
    );
    let text = text.replace(
        &line(&ExportRecord::Checkpoint(f.checkpoints[2].clone())),
        &line(&ExportRecord::Checkpoint(stale)),
    );
    assert_eq!(f.verify(&text).unwrap_err().subject, "checkpoint 3");
}

#[test]
fn an_earlier_range_verifies_with_the_key_a_later_rotation_handed_over_to() {
    let mut f = fixture(6, &[2]);
    let new = AuditKey::generate().unwrap();
    let rotation = Checkpoint::rotation(
        f.chain,
        &f.events[4].head(),
        f.checkpoints.last(),
        Utc::now(),
        &f.key,
        &new,
    );
    f.checkpoints.push(rotation);
    f.key = new;
    // Events 1 to 3: the rotation (at event 5) follows them.
    let text = f.export_range(1..=3);
    let report = f.verify(&text).unwrap();
    assert_eq!((report.seqs, report.checkpoints), (Some((1, 3)), 2));
    assert_eq!(report.signed_through, Some(2));
    // A later head's checkpoint ends the events: one after it is out of place.
    let mut lines = lines(&text);
    let event3 = lines.iter().position(|l| l.contains("\"seq\":3,")).unwrap();
    let moved = lines.remove(event3);
    lines.insert(lines.len() - 1, moved);
    assert!(f.verify(&lines.concat()).is_err());
}

#[test]
fn an_unsigned_export_does_not_verify() {
    let f = fixture(2, &[]);
    let mut w = ExportWriter::new(f.chain, None, None);
    let text =
        w.header() + &w.event(&f.events[0]) + &w.event(&f.events[1]) + &w.end(Utc::now(), None);
    let err = f.verify(&text).unwrap_err();
    assert!(err.reason.contains("not signed"), "{err}");
}

#[test]
fn an_empty_range_verifies_with_its_signed_end() {
    let f = fixture(0, &[]);
    let report = f.verify(&f.export(1)).unwrap();
    assert_eq!((report.events, report.seqs), (0, None));
}

#[test]
fn every_single_byte_change_fails() {
    let f = fixture(3, &[1, 3]);
    let text = f.export(2);
    assert!(f.verify(&text).is_ok());
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        let mut changed = bytes.to_vec();
        changed[i] ^= 0x01;
        let outcome = verify_export(&changed[..], &f.key.public_key());
        assert!(
            outcome.is_err(),
            "flipping byte {i} went unnoticed: {:?}",
            String::from_utf8_lossy(&bytes[i.saturating_sub(40)..(i + 10).min(bytes.len())])
        );
    }
}
