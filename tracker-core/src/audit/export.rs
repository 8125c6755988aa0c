//! Audit exports, and their verification with nothing but a public key.
//!
//! An export is newline-delimited JSON, one [`ExportRecord`] a line:
//!
//! 1. an `export` header: the format, the chain and the time range asked for;
//! 2. the chain's checkpoints signed before the first exported event, from
//!    checkpoint 1, so their chain and the key history verify from the start;
//! 3. the events, in seq order, each followed by the checkpoints that sign
//!    it as the chain's head;
//! 4. the checkpoints of later heads, up to the chain's head when the
//!    export began: with them the key history reaches today's key, whatever
//!    the range;
//! 5. an `end` record, signed when the export was made, that names the
//!    first and last event and the last checkpoint: a truncated export has
//!    no end, or an end that does not match.
//!
//! [`verify_export`] checks every link, every signature and the chain of
//! checkpoints, and that the events run without a gap; it names the first
//! line that fails.
//!
//! ```
//! use tracker_core::audit::export::{ExportWriter, verify_export};
//! use tracker_core::audit::{AuditKey, AuditChain, Checkpoint, NewAuditEvent, Actor, AuditAction};
//! let key = AuditKey::generate().unwrap();
//! let chain = AuditChain::Platform;
//! let event = NewAuditEvent {
//!     chain, actor: Actor::System, action: AuditAction::PlanCreated,
//!     description: "plan basic created".into(), details: serde_json::json!({}),
//!     client_ip: None, at: chrono::Utc::now(),
//! }.link(None);
//! let checkpoint = Checkpoint::sign(chain, &event.head(), None, chrono::Utc::now(), &key);
//!
//! let mut export = ExportWriter::new(chain, None, None);
//! let mut text = export.header();
//! text += &export.event(&event);
//! text += &export.checkpoint(&checkpoint);
//! text += &export.end(chrono::Utc::now(), Some(&key));
//!
//! let report = verify_export(text.as_bytes(), &key.public_key()).unwrap();
//! assert_eq!((report.events, report.checkpoints), (1, 1));
//! ```

use std::io::BufRead;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::GENESIS_DIGEST;
use super::checkpoint::{chain_name, encode, sign_bytes, signature_holds};
use super::{AuditChain, AuditEvent, AuditKey, ChainHead, ChainVerifier, Checkpoint, PublicKey};

/// The `format` of the header this module writes and reads.
pub const FORMAT: &str = "tracker-audit-export-v1";

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum ExportRecord {
    /// The first line.
    Export(ExportHeader),
    /// A signed checkpoint.
    Checkpoint(Checkpoint),
    /// An event with its link.
    Event(AuditEvent),
    /// The last line.
    End(ExportSeal),
}

/// What an export holds, as asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportHeader {
    /// [`FORMAT`].
    pub format: String,
    /// The chain.
    pub chain: AuditChain,
    /// Events from the first at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Up to, not including, the first event at or after this instant.
    pub to: Option<DateTime<Utc>>,
}

/// The end of an export, signed when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSeal {
    /// The chain.
    pub chain: AuditChain,
    /// The header's `from`.
    pub from: Option<DateTime<Utc>>,
    /// The header's `to`.
    pub to: Option<DateTime<Utc>>,
    /// Events in the export.
    pub events: u64,
    /// Seq of the first event (`None`: no events).
    pub first_seq: Option<u64>,
    /// Seq of the last event.
    pub last_seq: Option<u64>,
    /// Hash of the last event.
    pub last_hash: Option<String>,
    /// Checkpoints in the export: the number of the last one.
    pub checkpoints: u64,
    /// Digest of the last checkpoint.
    pub last_checkpoint: Option<String>,
    /// When the export was made.
    pub at: DateTime<Utc>,
    /// The signer's public key (`None`: the server has no audit key).
    pub key: Option<String>,
    /// The signature of the fields above.
    pub signature: Option<String>,
}

impl ExportSeal {
    fn signed_bytes(&self) -> Vec<u8> {
        let time = |t: Option<DateTime<Utc>>| {
            t.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
                .unwrap_or_default()
        };
        let num = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
        encode(&[
            "tracker-export-end-v1",
            &chain_name(self.chain),
            &time(self.from),
            &time(self.to),
            &self.events.to_string(),
            &num(self.first_seq),
            &num(self.last_seq),
            self.last_hash.as_deref().unwrap_or(""),
            &self.checkpoints.to_string(),
            self.last_checkpoint.as_deref().unwrap_or(""),
            &time(Some(self.at)),
            self.key.as_deref().unwrap_or(""),
        ])
    }
}

/// Writes an export's lines in order, keeping what its end must state.
#[derive(Debug, Clone)]
pub struct ExportWriter {
    header: ExportHeader,
    events: u64,
    first_seq: Option<u64>,
    last: Option<ChainHead>,
    checkpoints: u64,
    last_checkpoint: Option<String>,
}

impl ExportWriter {
    /// An export of `chain` over `[from, to)`.
    pub fn new(chain: AuditChain, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Self {
        Self {
            header: ExportHeader {
                format: FORMAT.to_owned(),
                chain,
                from: from.map(crate::clock::normalize),
                to: to.map(crate::clock::normalize),
            },
            events: 0,
            first_seq: None,
            last: None,
            checkpoints: 0,
            last_checkpoint: None,
        }
    }

    /// The header line.
    pub fn header(&self) -> String {
        line(&ExportRecord::Export(self.header.clone()))
    }

    /// An event's line.
    pub fn event(&mut self, event: &AuditEvent) -> String {
        self.events += 1;
        self.first_seq.get_or_insert(event.seq);
        self.last = Some(event.head());
        line(&ExportRecord::Event(event.clone()))
    }

    /// A checkpoint's line.
    pub fn checkpoint(&mut self, checkpoint: &Checkpoint) -> String {
        self.checkpoints = checkpoint.number;
        self.last_checkpoint = Some(checkpoint.digest());
        line(&ExportRecord::Checkpoint(checkpoint.clone()))
    }

    /// The end line, signed by `key` (unsigned without one).
    pub fn end(&self, at: DateTime<Utc>, key: Option<&AuditKey>) -> String {
        let mut seal = ExportSeal {
            chain: self.header.chain,
            from: self.header.from,
            to: self.header.to,
            events: self.events,
            first_seq: self.first_seq,
            last_seq: self.last.as_ref().map(|h| h.seq),
            last_hash: self.last.as_ref().map(|h| h.hash.clone()),
            checkpoints: self.checkpoints,
            last_checkpoint: self.last_checkpoint.clone(),
            at: crate::clock::normalize(at),
            key: key.map(|k| k.public_key().to_string()),
            signature: None,
        };
        seal.signature = key.map(|k| sign_bytes(k, &seal.signed_bytes()));
        line(&ExportRecord::End(seal))
    }
}

fn line(record: &ExportRecord) -> String {
    // Serializing these types cannot fail: no map has non-string keys.
    let mut s = serde_json::to_string(record).unwrap_or_default();
    s.push('\n');
    s
}

/// What a verified export holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// The chain.
    pub chain: AuditChain,
    /// Events checked.
    pub events: u64,
    /// Seq of the first and last event.
    pub seqs: Option<(u64, u64)>,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// The seq of the last event a checkpoint in the export signs: events
    /// after it are vouched for by the export's end alone, which the
    /// server signed when it made the export.
    pub signed_through: Option<u64>,
    /// The signing keys, oldest first, each handed over to the next by a
    /// rotation they both signed.
    pub keys: Vec<String>,
    /// When the export was made.
    pub exported_at: DateTime<Utc>,
}

/// Why an export does not verify: the first line that fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, {subject}: {reason}")]
pub struct ExportFailure {
    /// The line, from 1.
    pub line: u64,
    /// What fails: `event 42`, `checkpoint 3`, `the end record`…
    pub subject: String,
    /// Why.
    pub reason: String,
}

/// Verifies an export against the auditor's copy of a public key: any key
/// of the deployment's key history will do.
pub fn verify_export(input: impl BufRead, key: &PublicKey) -> Result<ExportReport, ExportFailure> {
    let mut v = Verifier::default();
    let mut n = 0;
    for text in input.lines() {
        n += 1;
        let fail = |subject: &str, reason: String| ExportFailure {
            line: n,
            subject: subject.to_owned(),
            reason,
        };
        let text = text.map_err(|e| fail("the file", format!("cannot be read: {e}")))?;
        if v.end.is_some() {
            return Err(fail(
                "a line after the end record",
                "the export goes on after its end".into(),
            ));
        }
        let record: ExportRecord = serde_json::from_str(&text)
            .map_err(|e| fail("the line", format!("not a record of an export: {e}")))?;
        v.push(record)
            .map_err(|(subject, reason)| fail(&subject, reason))?;
    }
    v.finish(key).map_err(|(subject, reason)| ExportFailure {
        line: n,
        subject,
        reason,
    })
}

type Failed = (String, String);

#[derive(Default)]
struct Verifier {
    header: Option<ExportHeader>,
    chain: Option<ChainVerifier>,
    events: u64,
    first_seq: Option<u64>,
    last: Option<ChainHead>,
    checkpoint: Option<Checkpoint>,
    keys: Vec<String>,
    signed_through: Option<u64>,
    /// A checkpoint of a head after the last event was read: the events
    /// are over.
    past_events: bool,
    end: Option<ExportSeal>,
}

impl Verifier {
    fn push(&mut self, record: ExportRecord) -> Result<(), Failed> {
        let Some(chain) = self.header.as_ref().map(|h| h.chain) else {
            let ExportRecord::Export(h) = record else {
                return Err((
                    "the first line".into(),
                    "an export starts with its header".into(),
                ));
            };
            if h.format != FORMAT {
                return Err((
                    "the header".into(),
                    format!("unknown format {:?}", h.format),
                ));
            }
            self.header = Some(h);
            return Ok(());
        };
        match record {
            ExportRecord::Export(_) => {
                Err(("a second header".into(), "an export has one header".into()))
            }
            ExportRecord::Event(e) => self.event(chain, e),
            ExportRecord::Checkpoint(c) => self.checkpoint(chain, c),
            ExportRecord::End(seal) => {
                self.end = Some(seal);
                Ok(())
            }
        }
    }

    fn event(&mut self, chain: AuditChain, e: AuditEvent) -> Result<(), Failed> {
        let subject = format!("event {}", e.seq);
        if e.chain != chain {
            return Err((subject, "the event belongs to another chain".into()));
        }
        if self.past_events {
            return Err((
                subject,
                "it comes after a checkpoint of a later head: out of place".into(),
            ));
        }
        let verifier = match &mut self.chain {
            Some(v) => v,
            None => {
                // The first event: its link to the one before is vouched
                // for by the checkpoint that signed that one, if any.
                if let Some(cp) = &self.checkpoint {
                    if cp.event_seq >= e.seq {
                        return Err((
                            format!("checkpoint {}", cp.number),
                            format!(
                                "it signs event {} but comes before event {}: out of place",
                                cp.event_seq, e.seq
                            ),
                        ));
                    }
                    if cp.event_seq + 1 == e.seq && cp.head_hash != e.prev_hash {
                        return Err((
                            subject,
                            format!(
                                "its prev_hash is not the hash checkpoint {} signed for event {}",
                                cp.number, cp.event_seq
                            ),
                        ));
                    }
                }
                self.first_seq = Some(e.seq);
                self.chain.insert(match e.seq {
                    0 | 1 => ChainVerifier::new(chain),
                    seq => ChainVerifier::after(
                        chain,
                        ChainHead {
                            seq: seq - 1,
                            hash: e.prev_hash.clone(),
                        },
                    ),
                })
            }
        };
        verifier.push(&e).map_err(|broken| {
            let subject = if broken.seq == e.seq {
                subject.clone()
            } else {
                format!("event {} (where event {} was expected)", e.seq, broken.seq)
            };
            (subject, broken.reason)
        })?;
        self.events += 1;
        self.last = Some(e.head());
        Ok(())
    }

    fn checkpoint(&mut self, chain: AuditChain, c: Checkpoint) -> Result<(), Failed> {
        let subject = format!("checkpoint {}", c.number);
        if c.chain != chain {
            return Err((subject, "the checkpoint belongs to another chain".into()));
        }
        let (expected, prev_digest) = match &self.checkpoint {
            Some(p) => (p.number + 1, p.digest()),
            None => (1, GENESIS_DIGEST.to_owned()),
        };
        if c.number != expected {
            return Err((
                subject,
                format!("expected checkpoint {expected}: a checkpoint is missing or out of order"),
            ));
        }
        if c.prev_digest != prev_digest {
            return Err((
                subject,
                "its prev_digest is not the digest of the checkpoint before".into(),
            ));
        }
        if let Some(p) = &self.checkpoint {
            if c.key != p.key_after() {
                return Err((
                    subject,
                    format!(
                        "signed by key {}, but key {} was in force and no rotation handed over to it",
                        c.key,
                        p.key_after()
                    ),
                ));
            }
            if c.event_seq < p.event_seq {
                return Err((
                    subject,
                    "it signs an older head than the checkpoint before".into(),
                ));
            }
        }
        c.check_signatures()
            .map_err(|reason| (subject.clone(), reason))?;
        if let Some(last) = self.last.as_ref().filter(|l| c.event_seq <= l.seq) {
            // Inside the exported events: it must sign the event it follows.
            if self.past_events || c.event_seq != last.seq {
                return Err((
                    subject,
                    format!(
                        "it signs event {} but follows event {}: out of place",
                        c.event_seq, last.seq
                    ),
                ));
            }
            if c.head_hash != last.hash {
                return Err((
                    subject,
                    format!(
                        "it signed hash {} for event {}, but the exported events hash to {}: \
                         the chain was rewritten after it was signed",
                        c.head_hash, c.event_seq, last.hash
                    ),
                ));
            }
            self.signed_through = Some(c.event_seq);
        } else if self.last.is_some() {
            // A later head's: its signature and its place in the chain of
            // checkpoints hold, the events it signs are not in the export.
            self.past_events = true;
        }
        if self.keys.is_empty() {
            self.keys.push(c.key.clone());
        }
        if let Some(next) = &c.next_key {
            self.keys.push(next.clone());
        }
        self.checkpoint = Some(c);
        Ok(())
    }

    fn finish(self, trusted: &PublicKey) -> Result<ExportReport, Failed> {
        let end = "the end record".to_owned();
        let Some(header) = self.header else {
            return Err(("the file".into(), "empty: no header".into()));
        };
        let Some(seal) = self.end else {
            return Err((end, "missing: the export was truncated".into()));
        };
        let last_checkpoint = self.checkpoint.as_ref();
        let expected = ExportSeal {
            chain: header.chain,
            from: header.from,
            to: header.to,
            events: self.events,
            first_seq: self.first_seq,
            last_seq: self.last.as_ref().map(|h| h.seq),
            last_hash: self.last.as_ref().map(|h| h.hash.clone()),
            checkpoints: last_checkpoint.map_or(0, |c| c.number),
            last_checkpoint: last_checkpoint.map(Checkpoint::digest),
            ..seal.clone()
        };
        if seal != expected {
            return Err((end, mismatch(&seal, &expected)));
        }
        let (Some(key), Some(signature)) = (&seal.key, &seal.signature) else {
            return Err((
                end,
                "not signed: the server that made it has no audit key".into(),
            ));
        };
        if let Some(cp) = last_checkpoint
            && key != cp.key_after()
        {
            return Err((
                end,
                format!(
                    "signed by key {key}, but key {} was in force after the last checkpoint",
                    cp.key_after()
                ),
            ));
        }
        if !signature_holds(key, &seal.signed_bytes(), signature) {
            return Err((
                end,
                "its signature does not hold: it was altered or forged".into(),
            ));
        }
        let mut keys = self.keys;
        if keys.is_empty() {
            keys.push(key.clone());
        }
        let trusted = trusted.to_string();
        if !keys.contains(&trusted) {
            let first = if self.checkpoint.is_some() {
                "checkpoint 1".to_owned()
            } else {
                end
            };
            return Err((
                first,
                format!(
                    "signed by key {}, which is not the given key {trusted} nor handed over to or from it",
                    keys[0]
                ),
            ));
        }
        let seqs = self.first_seq.zip(self.last.map(|h| h.seq));
        Ok(ExportReport {
            chain: header.chain,
            events: self.events,
            seqs,
            checkpoints: last_checkpoint.map_or(0, |c| c.number),
            signed_through: self.signed_through,
            keys,
            exported_at: seal.at,
        })
    }
}

/// Names the first field of the end record that does not match the export.
fn mismatch(seal: &ExportSeal, expected: &ExportSeal) -> String {
    let fields: [(&str, String, String); 8] = [
        ("chain", chain_name(seal.chain), chain_name(expected.chain)),
        (
            "from",
            format!("{:?}", seal.from),
            format!("{:?}", expected.from),
        ),
        ("to", format!("{:?}", seal.to), format!("{:?}", expected.to)),
        (
            "events",
            seal.events.to_string(),
            expected.events.to_string(),
        ),
        (
            "first_seq",
            format!("{:?}", seal.first_seq),
            format!("{:?}", expected.first_seq),
        ),
        (
            "last_seq",
            format!("{:?}", seal.last_seq),
            format!("{:?}", expected.last_seq),
        ),
        (
            "last_hash",
            format!("{:?}", seal.last_hash),
            format!("{:?}", expected.last_hash),
        ),
        (
            "checkpoints",
            seal.checkpoints.to_string(),
            expected.checkpoints.to_string(),
        ),
    ];
    fields
        .into_iter()
        .find(|(_, stated, found)| stated != found)
        .map_or_else(
            || "its last checkpoint digest does not match the export's last checkpoint".into(),
            |(name, stated, found)| {
                format!("it states {name} {stated}, but the export has {found}: events were dropped or added")
            },
        )
}

#[cfg(test)]
mod tests {
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
}
