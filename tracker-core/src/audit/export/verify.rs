//! Checking an export line by line, with nothing but a public key.

use std::io::BufRead;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{ExportHeader, ExportRecord, ExportSeal, FORMAT};
use crate::audit::checkpoint::{chain_name, signature_holds};
use crate::audit::{
    AuditChain, AuditEvent, ChainHead, ChainVerifier, Checkpoint, GENESIS_DIGEST, PublicKey,
};

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
    fn shown<T: ToString>(v: Option<T>) -> String {
        v.map_or_else(|| "none".to_owned(), |v| v.to_string())
    }
    let header: [(&str, String, String); 3] = [
        ("chain", chain_name(seal.chain), chain_name(expected.chain)),
        ("from", shown(seal.from), shown(expected.from)),
        ("to", shown(seal.to), shown(expected.to)),
    ];
    if let Some((name, stated, found)) = header.into_iter().find(|(_, s, f)| s != f) {
        return format!(
            "it states {name} {stated}, but the header says {found}: one of them was changed"
        );
    }
    let body: [(&str, String, String); 5] = [
        (
            "events",
            seal.events.to_string(),
            expected.events.to_string(),
        ),
        (
            "first_seq",
            shown(seal.first_seq),
            shown(expected.first_seq),
        ),
        ("last_seq", shown(seal.last_seq), shown(expected.last_seq)),
        (
            "last_hash",
            shown(seal.last_hash.as_ref()),
            shown(expected.last_hash.as_ref()),
        ),
        (
            "checkpoints",
            seal.checkpoints.to_string(),
            expected.checkpoints.to_string(),
        ),
    ];
    match body.into_iter().find(|(_, s, f)| s != f) {
        Some((name, stated, found)) => format!(
            "it states {name} {stated}, but the export holds {found}: lines were dropped or added"
        ),
        None => "its last checkpoint's digest is not the digest of the export's last checkpoint"
            .to_owned(),
    }
}
