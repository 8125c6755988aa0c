//! The audit trail: append-only, one hash chain per company and one for the
//! platform.
//!
//! `hash = sha256(prev_hash || canonical(event))`, where the canonical
//! encoding is a fixed sequence of length-prefixed fields (details as JSON
//! with sorted keys), so any change of any stored field, or of the order of
//! events, breaks the chain at that event. [`verify`] names the first broken link.
//!
//! A chain rewritten whole would still verify, so the deployment's
//! [`AuditKey`] signs chain heads as [`Checkpoint`]s, and an [`export`]
//! carries them to an auditor, who checks it with the [`PublicKey`] alone.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{AuditEventId, CompanyId, UserId};

mod checkpoint;
pub mod export;

pub use checkpoint::{AuditKey, Checkpoint, GENESIS_DIGEST, KeyError, PublicKey};

/// Which chain an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "chain", content = "company_id", rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AuditChain {
    /// The operator's chain: company lifecycle, plans, owner logins.
    Platform,
    /// One company's chain: everything done inside it.
    Company(CompanyId),
}

impl AuditChain {
    /// The company, for a company chain.
    pub fn company(self) -> Option<CompanyId> {
        match self {
            AuditChain::Platform => None,
            AuditChain::Company(c) => Some(c),
        }
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Actor {
    /// A user, with the username it had then.
    User {
        /// Id.
        id: UserId,
        /// Username at the time.
        username: String,
    },
    /// A background job of the system.
    System,
    /// Nobody authenticated (a failed login).
    Anonymous,
}

impl Actor {
    /// The user id, if a user acted.
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Actor::User { id, .. } => Some(*id),
            _ => None,
        }
    }

    fn canonical(&self) -> String {
        match self {
            Actor::User { id, username } => format!("user:{id}:{username}"),
            Actor::System => "system".into(),
            Actor::Anonymous => "anonymous".into(),
        }
    }
}

macro_rules! actions {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// What happened. The names are stable and used as filters.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum AuditAction {
            $($(#[$doc])* $variant,)*
        }

        impl AuditAction {
            /// Every action.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            /// The stable name.
            pub fn as_str(self) -> &'static str {
                match self { $(AuditAction::$variant => $name,)* }
            }

            /// Parses the stable name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(AuditAction::$variant),)* _ => None }
            }
        }
    };
}

actions! {
    /// An OWNER account was created.
    OwnerCreated => "owner_created",
    /// A plan was created.
    PlanCreated => "plan_created",
    /// A company was created.
    CompanyCreated => "company_created",
    /// A company's plan changed or renewed.
    PlanChanged => "plan_changed",
    /// A company was suspended.
    CompanySuspended => "company_suspended",
    /// A company was reactivated.
    CompanyReactivated => "company_reactivated",
    /// A company's trial or subscription ended (persisted by a job).
    CompanyExpired => "company_expired",
    /// A company key was rotated.
    KeyRotated => "key_rotated",
    /// A company's retention changed.
    RetentionChanged => "retention_changed",
    /// A user was created.
    EmployeeCreated => "employee_created",
    /// A user's profile or password changed.
    EmployeeUpdated => "employee_updated",
    /// A user was deactivated.
    EmployeeDeactivated => "employee_deactivated",
    /// A user was reactivated.
    EmployeeReactivated => "employee_reactivated",
    /// A user's role changed.
    RoleChanged => "role_changed",
    /// A team was created.
    TeamCreated => "team_created",
    /// A team's name, managers or members changed.
    TeamUpdated => "team_updated",
    /// A team was deleted.
    TeamDeleted => "team_deleted",
    /// The tracking policy changed.
    PolicyUpdated => "policy_updated",
    /// A task was assigned.
    TaskAssigned => "task_assigned",
    /// A correction was approved or rejected.
    CorrectionDecided => "correction_decided",
    /// Tracking data was purged by retention.
    DataPurged => "data_purged",
    /// The alert settings changed.
    AlertSettingsUpdated => "alert_settings_updated",
    /// A login failed.
    LoginFailed => "login_failed",
    /// A user signed in (a token or console session was issued).
    LoginSucceeded => "login_succeeded",
    /// A user signed out (revoked their token or session).
    LoggedOut => "logged_out",
    /// An employee completed a task.
    TaskCompleted => "task_completed",
    /// An employee asked for a correction of their recorded time.
    CorrectionRequested => "correction_requested",
    /// An employee acknowledged a version of the tracking policy.
    PolicyAcknowledged => "policy_acknowledged",
    /// A legal hold was placed on a company or a person.
    LegalHoldPlaced => "legal_hold_placed",
    /// A legal hold was released.
    LegalHoldReleased => "legal_hold_released",
    /// A person's data was erased (the receipt: counts and digests).
    PersonErased => "person_erased",
}

/// An event before it is linked into its chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAuditEvent {
    /// The chain.
    pub chain: AuditChain,
    /// Who.
    pub actor: Actor,
    /// What.
    pub action: AuditAction,
    /// A sentence for people.
    pub description: String,
    /// Structured details (old and new values, counts, ids).
    pub details: serde_json::Value,
    /// The client's IP address, when known.
    pub client_ip: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A stored event, linked into its chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// Id.
    pub id: AuditEventId,
    /// The chain.
    pub chain: AuditChain,
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// Who.
    pub actor: Actor,
    /// What.
    pub action: AuditAction,
    /// A sentence for people.
    pub description: String,
    /// Structured details.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
    /// Client IP.
    pub client_ip: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// Hash of the previous event (64 zeros for the first).
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

/// The `prev_hash` of the first event of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The last link of a chain, which the next event hangs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Sequence number of the last event.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

impl NewAuditEvent {
    /// Links the event after `head` (`None` for an empty chain). Stores call
    /// this inside the transaction that holds the chain head.
    pub fn link(self, head: Option<&ChainHead>) -> AuditEvent {
        let (seq, prev_hash) = match head {
            Some(h) => (h.seq + 1, h.hash.clone()),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let mut event = AuditEvent {
            id: AuditEventId::new(),
            chain: self.chain,
            seq,
            actor: self.actor,
            action: self.action,
            description: self.description,
            details: self.details,
            client_ip: self.client_ip,
            at: crate::clock::normalize(self.at),
            prev_hash,
            hash: String::new(),
        };
        event.hash = event.compute_hash();
        event
    }
}

impl AuditEvent {
    /// The hash this event should have, from its fields and `prev_hash`.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(checkpoint::encode(&[
            "tracker-audit-v1",
            &self.id.to_string(),
            &checkpoint::chain_name(self.chain),
            &self.seq.to_string(),
            &self.actor.canonical(),
            self.action.as_str(),
            &self.description,
            &canonical_json(&self.details),
            self.client_ip.as_deref().unwrap_or_default(),
            &self.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        ]));
        hex::encode(h.finalize())
    }

    /// The head this event makes.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// JSON with object keys sorted at every level, whatever map type serde_json
/// was built with.
pub fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<_> = map.keys().collect();
            keys.sort();
            let body: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(items) => {
            let body: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", body.join(","))
        }
        other => other.to_string(),
    }
}

/// Why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("audit chain broken at seq {seq}: {reason}")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BrokenLink {
    /// The first event that does not verify.
    pub seq: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// Result of verifying a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainVerification {
    /// Events checked.
    pub events: u64,
    /// The first broken link, if any.
    pub broken: Option<BrokenLink>,
}

/// Incremental verifier: feed events in sequence order, page by page.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    chain: AuditChain,
    expected_seq: u64,
    prev_hash: String,
    checked: u64,
}

impl ChainVerifier {
    /// A verifier for `chain`, expecting seq 1 first.
    pub fn new(chain: AuditChain) -> Self {
        Self {
            chain,
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            checked: 0,
        }
    }

    /// A verifier that starts after `head`: for a stretch of a chain whose
    /// earlier events are not at hand.
    pub fn after(chain: AuditChain, head: ChainHead) -> Self {
        Self {
            chain,
            expected_seq: head.seq + 1,
            prev_hash: head.hash,
            checked: 0,
        }
    }

    /// Checks the next event.
    pub fn push(&mut self, event: &AuditEvent) -> Result<(), BrokenLink> {
        let broken = |reason: String| BrokenLink {
            seq: event.seq,
            reason,
        };
        if event.chain != self.chain {
            return Err(broken("event belongs to another chain".into()));
        }
        if event.seq != self.expected_seq {
            return Err(BrokenLink {
                seq: self.expected_seq,
                reason: format!("expected seq {}, found {}", self.expected_seq, event.seq),
            });
        }
        if event.prev_hash != self.prev_hash {
            return Err(broken(
                "prev_hash does not match the previous event's hash".into(),
            ));
        }
        if event.compute_hash() != event.hash {
            return Err(broken(
                "the event was altered: its hash does not match its content".into(),
            ));
        }
        self.expected_seq += 1;
        self.prev_hash = event.hash.clone();
        self.checked += 1;
        Ok(())
    }

    /// Events checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }
}

/// Verifies a whole chain given in sequence order.
pub fn verify<'a>(
    chain: AuditChain,
    events: impl IntoIterator<Item = &'a AuditEvent>,
) -> Result<u64, BrokenLink> {
    let mut v = ChainVerifier::new(chain);
    for e in events {
        v.push(e)?;
    }
    Ok(v.checked())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(chain: AuditChain, n: u32) -> NewAuditEvent {
        NewAuditEvent {
            chain,
            actor: Actor::System,
            action: AuditAction::PolicyUpdated,
            description: format!("change {n}"),
            details: serde_json::json!({"b": n, "a": [1, {"z": 1, "y": 2}]}),
            client_ip: Some("127.0.0.1".into()),
            at: Utc::now(),
        }
    }

    fn chain_of(n: u32) -> (AuditChain, Vec<AuditEvent>) {
        let chain = AuditChain::Company(CompanyId::new());
        let mut events: Vec<AuditEvent> = Vec::new();
        for i in 0..n {
            let head = events.last().map(AuditEvent::head);
            events.push(draft(chain, i).link(head.as_ref()));
        }
        (chain, events)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (chain, events) = chain_of(5);
        assert_eq!(verify(chain, &events), Ok(5));
        assert_eq!(events[0].prev_hash, GENESIS_HASH);
        assert_eq!(events[4].seq, 5);
    }

    #[test]
    fn altering_any_event_names_it() {
        let (chain, mut events) = chain_of(5);
        events[2].description = "nothing happened".into();
        let err = verify(chain, &events).unwrap_err();
        assert_eq!(err.seq, 3);
        assert!(err.reason.contains("altered"));
    }

    #[test]
    fn a_missing_or_reordered_event_is_found() {
        let (chain, mut events) = chain_of(5);
        events.remove(1);
        assert_eq!(verify(chain, &events).unwrap_err().seq, 2);
        let (chain, mut events) = chain_of(3);
        events.swap(1, 2);
        assert_eq!(verify(chain, &events).unwrap_err().seq, 2);
    }

    #[test]
    fn rehashing_an_altered_event_still_breaks_the_next_link() {
        let (chain, mut events) = chain_of(3);
        events[0].details = serde_json::json!({"forged": true});
        events[0].hash = events[0].compute_hash();
        let err = verify(chain, &events).unwrap_err();
        assert_eq!(err.seq, 2);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"d": [true, null], "c": "x"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"x","d":[true,null]},"b":1}"#
        );
    }

    #[test]
    fn action_names_round_trip() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(*a));
            let json = serde_json::to_string(a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
        }
    }
}
