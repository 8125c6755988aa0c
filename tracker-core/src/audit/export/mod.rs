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

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::checkpoint::{chain_name, encode, sign_bytes};
use super::{AuditChain, AuditEvent, AuditKey, ChainHead, Checkpoint};

mod verify;

pub use verify::{ExportFailure, ExportReport, verify_export};

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
    pub(super) fn signed_bytes(&self) -> Vec<u8> {
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

pub(super) fn line(record: &ExportRecord) -> String {
    // Serializing these types cannot fail: no map has non-string keys.
    let mut s = serde_json::to_string(record).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests;
