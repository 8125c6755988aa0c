//! Signed checkpoints: the deployment's ed25519 key vouches for a chain's
//! head, so a chain rewritten later, even consistently, no longer matches
//! what was signed.
//!
//! A checkpoint signs (chain, number, event seq, head hash, time, the
//! previous checkpoint's digest, signer, next signer). Checkpoints of a
//! chain are numbered from 1 without gaps and each names the digest of the
//! one before, so they form a chain of their own. A key rotation is a
//! checkpoint signed by the old key that names the new one, which
//! countersigns it: trust in either key extends to the other.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AuditChain, ChainHead, GENESIS_HASH};
use crate::error::{Error, Result};

/// The `prev_digest` of a chain's first checkpoint.
pub const GENESIS_DIGEST: &str = GENESIS_HASH;

/// A deployment's audit signing key (ed25519). Its [`Debug`] shows only
/// the public half.
pub struct AuditKey(SigningKey);

impl AuditKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::storage("os-rng", e.to_string()))?;
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    /// A key from its PKCS#8 PEM encoding (what [`to_pem`](Self::to_pem)
    /// writes, and what `openssl genpkey -algorithm ed25519` writes).
    pub fn from_pem(pem: &str) -> std::result::Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem)
            .map(Self)
            .map_err(|e| KeyError(format!("not an ed25519 private key in PKCS#8 PEM: {e}")))
    }

    /// The PKCS#8 PEM encoding, for a file only the operator reads.
    pub fn to_pem(&self) -> std::result::Result<String, KeyError> {
        self.0
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.as_str().to_owned())
            .map_err(|e| KeyError(e.to_string()))
    }

    /// The public half, which auditors verify with.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    fn sign(&self, bytes: &[u8]) -> String {
        hex::encode(self.0.sign(bytes).to_bytes())
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AuditKey").field(&self.public_key()).finish()
    }
}

/// The public half of an [`AuditKey`]; shown as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses 64 hex digits, or a PEM public key (SubjectPublicKeyInfo,
    /// what `openssl pkey -pubout` writes).
    pub fn parse(text: &str) -> std::result::Result<Self, KeyError> {
        let text = text.trim();
        if text.starts_with("-----BEGIN") {
            return VerifyingKey::from_public_key_pem(text)
                .map(Self)
                .map_err(|e| KeyError(format!("not an ed25519 public key in PEM: {e}")));
        }
        let bytes: [u8; 32] = hex::decode(text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| KeyError("a public key is 64 hex digits, or a PEM block".into()))?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|e| KeyError(format!("not an ed25519 public key: {e}")))
    }

    /// The PEM encoding (SubjectPublicKeyInfo).
    pub fn to_pem(&self) -> String {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        self.0.to_public_key_pem(LineEnding::LF).unwrap_or_default()
    }

    /// Whether `signature` (hex) is this key's signature of `bytes`.
    fn verifies(&self, bytes: &[u8], signature: &str) -> bool {
        let Some(sig) = hex::decode(signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
        else {
            return false;
        };
        self.0
            .verify_strict(bytes, &Signature::from_bytes(&sig))
            .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// A key that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// A signed statement of a chain's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The chain.
    pub chain: AuditChain,
    /// Position among the chain's checkpoints, from 1, without gaps.
    pub number: u64,
    /// The seq of the event it signs: the chain's head when signed.
    pub event_seq: u64,
    /// That event's hash.
    pub head_hash: String,
    /// When it was signed.
    pub at: DateTime<Utc>,
    /// [`digest`](Self::digest) of checkpoint `number - 1`
    /// ([`GENESIS_DIGEST`] for the first).
    pub prev_digest: String,
    /// The signer's public key, hex.
    pub key: String,
    /// On a key rotation: the key that signs from the next checkpoint on.
    pub next_key: Option<String>,
    /// `key`'s signature of the fields above, hex.
    pub signature: String,
    /// On a key rotation: `next_key`'s signature of the same fields.
    pub next_signature: Option<String>,
}

impl Checkpoint {
    /// The checkpoint after `prev` (`None`: the chain's first) that signs
    /// `head`, by `key`.
    pub fn sign(
        chain: AuditChain,
        head: &ChainHead,
        prev: Option<&Checkpoint>,
        at: DateTime<Utc>,
        key: &AuditKey,
    ) -> Checkpoint {
        let mut cp = Self::unsigned(chain, head, prev, at, key, None);
        cp.signature = key.sign(&cp.signed_bytes());
        cp
    }

    /// A key rotation: the checkpoint after `prev` that signs `head` by
    /// `old` and hands signing over to `new`, which countersigns it.
    pub fn rotation(
        chain: AuditChain,
        head: &ChainHead,
        prev: Option<&Checkpoint>,
        at: DateTime<Utc>,
        old: &AuditKey,
        new: &AuditKey,
    ) -> Checkpoint {
        let mut cp = Self::unsigned(chain, head, prev, at, old, Some(new.public_key()));
        let bytes = cp.signed_bytes();
        cp.signature = old.sign(&bytes);
        cp.next_signature = Some(new.sign(&bytes));
        cp
    }

    fn unsigned(
        chain: AuditChain,
        head: &ChainHead,
        prev: Option<&Checkpoint>,
        at: DateTime<Utc>,
        key: &AuditKey,
        next: Option<PublicKey>,
    ) -> Checkpoint {
        Checkpoint {
            chain,
            number: prev.map_or(1, |p| p.number + 1),
            event_seq: head.seq,
            head_hash: head.hash.clone(),
            at: crate::clock::normalize(at),
            prev_digest: prev.map_or_else(|| GENESIS_DIGEST.to_owned(), Checkpoint::digest),
            key: key.public_key().to_string(),
            next_key: next.map(|k| k.to_string()),
            signature: String::new(),
            next_signature: None,
        }
    }

    /// The bytes the signatures cover: length-prefixed fields, like an
    /// event's hash input.
    pub fn signed_bytes(&self) -> Vec<u8> {
        encode(&[
            "tracker-checkpoint-v1",
            &chain_name(self.chain),
            &self.number.to_string(),
            &self.event_seq.to_string(),
            &self.head_hash,
            &self.at.to_rfc3339_opts(SecondsFormat::Micros, true),
            &self.prev_digest,
            &self.key,
            self.next_key.as_deref().unwrap_or(""),
        ])
    }

    /// sha256 of the signed bytes and the signatures: what the next
    /// checkpoint names as `prev_digest`.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.signed_bytes());
        h.update(encode(&[
            &self.signature,
            self.next_signature.as_deref().unwrap_or(""),
        ]));
        hex::encode(h.finalize())
    }

    /// Checks the signature by `key` and, on a rotation, the countersign
    /// by `next_key`; says which fails.
    pub fn check_signatures(&self) -> std::result::Result<(), String> {
        let bytes = self.signed_bytes();
        let key = PublicKey::parse(&self.key).map_err(|e| format!("its key: {e}"))?;
        if !key.verifies(&bytes, &self.signature) {
            return Err(format!(
                "its signature does not hold for key {}: the checkpoint was altered or forged",
                self.key
            ));
        }
        match (&self.next_key, &self.next_signature) {
            (None, None) => Ok(()),
            (Some(next), Some(sig)) => {
                let next_key = PublicKey::parse(next).map_err(|e| format!("its next key: {e}"))?;
                if next_key.verifies(&bytes, sig) {
                    Ok(())
                } else {
                    Err(format!(
                        "the new key {next} did not countersign the rotation"
                    ))
                }
            }
            _ => Err("a rotation needs both the next key and its countersign".into()),
        }
    }

    /// What a store answers when this checkpoint's number is not its
    /// chain's next (see [`AuditStore::append_checkpoint`](crate::store::AuditStore::append_checkpoint)).
    pub fn taken(&self) -> Error {
        Error::AlreadyExists {
            entity: "audit checkpoint",
            value: self.number.to_string(),
        }
    }

    /// The key that signs the chain's next checkpoint.
    pub fn key_after(&self) -> &str {
        self.next_key.as_deref().unwrap_or(&self.key)
    }
}

/// `platform`, or `company:<id>`: a chain's name in hashed and signed bytes.
pub(crate) fn chain_name(chain: AuditChain) -> String {
    match chain {
        AuditChain::Platform => "platform".to_owned(),
        AuditChain::Company(c) => format!("company:{c}"),
    }
}

/// Length-prefixed fields: an unambiguous encoding.
pub(crate) fn encode(fields: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fields.iter().map(|f| f.len() + 8).sum());
    for field in fields {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

/// Signs `bytes` with `key`: for the export's seal.
pub(crate) fn sign_bytes(key: &AuditKey, bytes: &[u8]) -> String {
    key.sign(bytes)
}

/// Whether `signature` is the signature of `bytes` by the key `key` (hex).
pub(crate) fn signature_holds(key: &str, bytes: &[u8], signature: &str) -> bool {
    PublicKey::parse(key).is_ok_and(|k| k.verifies(bytes, signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CompanyId;

    fn head(seq: u64) -> ChainHead {
        ChainHead {
            seq,
            hash: format!("{seq:064x}"),
        }
    }

    #[test]
    fn a_checkpoint_verifies_and_chains_to_the_one_before() {
        let key = AuditKey::generate().unwrap();
        let chain = AuditChain::Company(CompanyId::new());
        let first = Checkpoint::sign(chain, &head(3), None, Utc::now(), &key);
        let second = Checkpoint::sign(chain, &head(9), Some(&first), Utc::now(), &key);
        assert_eq!((first.number, second.number), (1, 2));
        assert_eq!(first.prev_digest, GENESIS_DIGEST);
        assert_eq!(second.prev_digest, first.digest());
        assert_eq!(first.check_signatures(), Ok(()));
        assert_eq!(second.check_signatures(), Ok(()));
        assert_eq!(second.key, key.public_key().to_string());
    }

    #[test]
    fn any_changed_field_breaks_the_signature() {
        let key = AuditKey::generate().unwrap();
        let cp = Checkpoint::sign(AuditChain::Platform, &head(3), None, Utc::now(), &key);
        let mut changed = cp.clone();
        changed.head_hash = format!("{:064x}", 4);
        assert!(changed.check_signatures().unwrap_err().contains("altered"));
        let mut changed = cp.clone();
        changed.event_seq = 2;
        assert!(changed.check_signatures().is_err());
        let mut changed = cp;
        changed.chain = AuditChain::Company(CompanyId::new());
        assert!(changed.check_signatures().is_err());
    }

    #[test]
    fn a_forger_with_another_key_cannot_pass_as_the_signer() {
        let (key, forger) = (AuditKey::generate().unwrap(), AuditKey::generate().unwrap());
        let mut cp = Checkpoint::sign(AuditChain::Platform, &head(3), None, Utc::now(), &key);
        cp.signature =
            Checkpoint::sign(AuditChain::Platform, &head(3), None, cp.at, &forger).signature;
        assert!(cp.check_signatures().is_err());
    }

    #[test]
    fn a_rotation_is_signed_by_the_old_key_and_countersigned_by_the_new() {
        let (old, new) = (AuditKey::generate().unwrap(), AuditKey::generate().unwrap());
        let chain = AuditChain::Platform;
        let first = Checkpoint::sign(chain, &head(3), None, Utc::now(), &old);
        let rot = Checkpoint::rotation(chain, &head(5), Some(&first), Utc::now(), &old, &new);
        assert_eq!(rot.check_signatures(), Ok(()));
        assert_eq!(rot.key, old.public_key().to_string());
        assert_eq!(rot.key_after(), new.public_key().to_string());
        let mut unsigned = rot.clone();
        unsigned.next_signature = None;
        assert!(unsigned.check_signatures().is_err());
        let mut other = rot;
        other.next_key = Some(AuditKey::generate().unwrap().public_key().to_string());
        assert!(other.check_signatures().is_err());
    }

    #[test]
    fn keys_round_trip_through_pem_and_hex() {
        let key = AuditKey::generate().unwrap();
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = AuditKey::from_pem(&pem).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let public = key.public_key();
        assert_eq!(PublicKey::parse(&public.to_string()).unwrap(), public);
        assert_eq!(PublicKey::parse(&public.to_pem()).unwrap(), public);
        assert!(PublicKey::parse("abc").is_err());
        assert!(AuditKey::from_pem("not a key").is_err());
        assert!(!format!("{key:?}").contains(&pem));
    }
}
