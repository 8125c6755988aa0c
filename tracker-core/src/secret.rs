//! Secrets: company keys, API tokens and passwords.
//!
//! Keys and tokens come from the operating system's CSPRNG, are shown to
//! their holder once, and are stored only as SHA-256 digests. Digests are
//! compared in constant time. Passwords are hashed with argon2id behind the
//! [`PasswordHasher`] port.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

fn random_hex<const N: usize>() -> Result<String> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::storage("os-rng", e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// Lowercase hex SHA-256 of `data`. Every authenticated request hashes its
/// token and key: `hex::encode` builds the string a char at a time, a
/// table fill into a buffer does not.
fn sha256_hex(data: &[u8]) -> String {
    let mut digits = [0u8; 64];
    // A 32-byte digest always fills exactly 64 digits.
    let _ = hex::encode_to_slice(Sha256::digest(data), &mut digits);
    String::from_utf8_lossy(&digits).into_owned()
}

/// SHA-256 digest of a secret, the only form in which secrets are stored.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretHash(String);

impl SecretHash {
    /// Digest of `secret`.
    pub fn of(secret: &str) -> Self {
        Self(sha256_hex(secret.as_bytes()))
    }

    /// Hex SHA-256 of arbitrary bytes (content digests).
    pub fn of_bytes(bytes: &[u8]) -> String {
        sha256_hex(bytes)
    }

    /// Wraps a stored hex digest (as read back from a store).
    pub fn from_stored(hex_digest: impl Into<String>) -> Self {
        Self(hex_digest.into())
    }

    /// The hex digest, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `secret` hashes to this digest, compared in constant time.
    pub fn matches(&self, secret: &str) -> bool {
        self.ct_eq(&Self::of(secret))
    }

    /// Constant-time equality of two digests.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Even a digest helps an attacker with a dictionary: show only a prefix.
        write!(f, "SecretHash({}…)", &self.0[..self.0.len().min(8)])
    }
}

/// A company key in clear text: `company_` and 32 lowercase hex digits.
///
/// Exists only between generation and the answer that shows it once;
/// `Debug` redacts it.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CompanyKey(String);

impl CompanyKey {
    /// The prefix of every key.
    pub const PREFIX: &'static str = "company_";

    /// A new key from the OS CSPRNG.
    pub fn generate() -> Result<Self> {
        Ok(Self(format!("{}{}", Self::PREFIX, random_hex::<16>()?)))
    }

    /// Parses a key a client sent; `None` when it does not have the key format.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix(Self::PREFIX)?;
        (hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(s.to_owned()))
    }

    /// The key in clear text.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest to store.
    pub fn hash(&self) -> SecretHash {
        SecretHash::of(&self.0)
    }
}

impl fmt::Debug for CompanyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CompanyKey([redacted])")
    }
}

/// An API token in clear text, as handed to a client at login.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ApiToken(String);

impl ApiToken {
    /// A new token: `tk_` and 64 hex digits (256 bits) from the OS CSPRNG.
    pub fn generate() -> Result<Self> {
        Ok(Self(format!("tk_{}", random_hex::<32>()?)))
    }

    /// Wraps a token a client sent.
    pub fn from_client(s: &str) -> Self {
        Self(s.to_owned())
    }

    /// The token in clear text.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest to store and look up.
    pub fn hash(&self) -> SecretHash {
        SecretHash::of(&self.0)
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken([redacted])")
    }
}

/// The password hashing port. The default is [`Argon2Hasher`].
pub trait PasswordHasher: Send + Sync + 'static {
    /// Hashes `password` into a self-describing string (PHC format).
    fn hash(&self, password: &str) -> Result<String>;
    /// Whether `password` matches `hash`. A malformed hash is `false`.
    fn verify(&self, password: &str, hash: &str) -> bool;
}

/// argon2id with a random 16-byte salt, PHC strings.
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    params: argon2::Params,
}

impl Default for Argon2Hasher {
    /// OWASP's recommended argon2id cost: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            params: argon2::Params::DEFAULT,
        }
    }
}

impl Argon2Hasher {
    /// A hasher with explicit cost parameters (memory in KiB, passes, lanes).
    pub fn with_params(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let params = argon2::Params::new(m_cost_kib, t_cost, p_cost, None)
            .map_err(|e| Error::invalid("argon2_params", e.to_string()))?;
        Ok(Self { params })
    }

    /// The cheapest parameters argon2 accepts. For tests only: a password
    /// hashed with it falls to a brute force quickly.
    pub fn insecure_fast() -> Self {
        Self {
            params: argon2::Params::new(argon2::Params::MIN_M_COST, 1, 1, None)
                .unwrap_or(argon2::Params::DEFAULT),
        }
    }

    fn engine(&self) -> argon2::Argon2<'static> {
        argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            self.params.clone(),
        )
    }
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &str) -> Result<String> {
        use argon2::PasswordHasher as _;
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| Error::storage("os-rng", e.to_string()))?;
        let hash = self
            .engine()
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map_err(|e| Error::storage("argon2", e.to_string()))?;
        Ok(hash.to_string())
    }

    fn verify(&self, password: &str, hash: &str) -> bool {
        use argon2::PasswordVerifier as _;
        match argon2::PasswordHash::new(hash) {
            Ok(parsed) => self
                .engine()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn company_key_has_the_documented_format_and_is_unique() {
        let a = CompanyKey::generate().unwrap();
        let b = CompanyKey::generate().unwrap();
        assert_ne!(a, b);
        assert!(CompanyKey::parse(a.expose()).is_some());
        assert_eq!(a.expose().len(), "company_".len() + 32);
        assert!(CompanyKey::parse("company_ABCDEF").is_none());
        assert!(CompanyKey::parse(&a.expose().to_uppercase()).is_none());
        assert_eq!(format!("{a:?}"), "CompanyKey([redacted])");
    }

    #[test]
    fn digests_are_lowercase_hex_sha256() {
        // FIPS 180-2's test vector: stored digests must never change form.
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(SecretHash::of("abc").as_str(), abc);
        assert_eq!(SecretHash::of_bytes(b"abc"), abc);
    }

    #[test]
    fn hashes_match_only_their_secret() {
        let key = CompanyKey::generate().unwrap();
        let stored = key.hash();
        assert!(stored.matches(key.expose()));
        assert!(!stored.matches("company_00000000000000000000000000000000"));
        assert!(!format!("{stored:?}").contains(stored.as_str()));
    }

    #[test]
    fn argon2_round_trip() {
        let h = Argon2Hasher::insecure_fast();
        let hash = h.hash("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(h.verify("correct horse", &hash));
        assert!(!h.verify("wrong horse", &hash));
        assert!(!h.verify("correct horse", "not a phc string"));
        // A hash made with other parameters still verifies: they are in the string.
        assert!(Argon2Hasher::default().verify("correct horse", &hash));
    }
}
