//! Identity: users, roles, teams and API tokens.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Validator;
use crate::ids::{CompanyId, TeamId, UserId};
use crate::secret::SecretHash;

/// The four roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// The SaaS operator: company lifecycle and aggregates, never employee data.
    Owner,
    /// A company administrator: everything inside its company.
    Admin,
    /// A team manager: the people of the teams it manages.
    Manager,
    /// An employee: itself.
    Employee,
}

impl Role {
    /// The stable name (`OWNER`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "OWNER",
            Role::Admin => "ADMIN",
            Role::Manager => "MANAGER",
            Role::Employee => "EMPLOYEE",
        }
    }

    /// Parses the stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "OWNER" => Role::Owner,
            "ADMIN" => Role::Admin,
            "MANAGER" => Role::Manager,
            "EMPLOYEE" => Role::Employee,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person: an OWNER (no company) or a company user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Id.
    pub id: UserId,
    /// The company; `None` for OWNER.
    pub company_id: Option<CompanyId>,
    /// Role.
    pub role: Role,
    /// Login name, lower case, unique within its company (or among owners).
    pub username: String,
    /// Email address.
    pub email: Option<String>,
    /// Name to show.
    pub display_name: String,
    /// Inactive users cannot log in and hold no seat.
    pub active: bool,
    /// Last heartbeat of this user's agent.
    pub last_agent_sync_at: Option<DateTime<Utc>>,
    /// argon2id PHC string. Never serialized.
    #[serde(skip_serializing, default)]
    pub password_hash: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Consent, legal hold and erasure.
    #[serde(default)]
    pub privacy: UserPrivacy,
}

/// What a user's record keeps about consent, legal hold and erasure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserPrivacy {
    /// The newest tracking-policy version the user acknowledged.
    pub acknowledged_version: Option<u64>,
    /// When they acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// A legal hold on the person's data: no purge and no erasure while set.
    pub legal_hold: Option<LegalHold>,
    /// When the person was erased: the record is a tombstone since.
    pub erased_at: Option<DateTime<Utc>>,
}

/// A legal hold: the data it covers is neither purged nor erased until
/// the hold is released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LegalHold {
    /// Why, as the person who placed it wrote it.
    pub reason: String,
    /// Who placed it.
    pub placed_by: UserId,
    /// When.
    pub placed_at: DateTime<Utc>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("company_id", &self.company_id)
            .field("role", &self.role)
            .field("username", &self.username)
            .field("active", &self.active)
            .field("password_hash", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Normalizes a username for storage and lookup: trimmed, lower case.
pub fn normalize_username(username: &str) -> String {
    username.trim().to_lowercase()
}

/// Validates a username as written: 3 to 64 of `A-Z a-z 0-9 . _ - @`
/// ([`crate::text::USERNAME_PATTERN`]); it is stored in lower case.
pub fn validate_username(v: &mut Validator, field: &str, username: &str) {
    let ok = (3..=64).contains(&username.len())
        && username
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-@".contains(&c));
    v.check(
        ok,
        field,
        "must be 3 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-', '@'",
    );
}

/// Validates a password: 8 to 1024 characters.
pub fn validate_password(v: &mut Validator, field: &str, password: &str) {
    let n = password.chars().count();
    v.check(
        (8..=1024).contains(&n),
        field,
        "must be between 8 and 1024 characters",
    );
}

/// Validates an email address loosely ([`crate::text::EMAIL_PATTERN`]):
/// one `@` with text on both sides, no white space or control character,
/// at most [`crate::text::EMAIL_MAX`] characters.
pub fn validate_email(v: &mut Validator, field: &str, email: &str) {
    let ok = email.chars().count() <= crate::text::EMAIL_MAX
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'));
    v.check(ok, field, "must be an email address");
}

/// A team of a company: managers see its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Team {
    /// Id.
    pub id: TeamId,
    /// Company.
    pub company_id: CompanyId,
    /// Name, unique within the company.
    pub name: String,
    /// Users with the MANAGER (or ADMIN) role who manage it.
    pub managers: Vec<UserId>,
    /// Members.
    pub members: Vec<UserId>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A stored API token: only its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// SHA-256 of the token.
    pub hash: SecretHash,
    /// Owner of the token.
    pub user_id: UserId,
    /// The user's company (`None` for OWNER).
    pub company_id: Option<CompanyId>,
    /// Issued at.
    pub created_at: DateTime<Utc>,
    /// Dead after this instant.
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalized_and_checked() {
        assert_eq!(normalize_username("  Alice.B "), "alice.b");
        let mut v = Validator::new();
        validate_username(&mut v, "u1", "Alice.B");
        validate_username(&mut v, "u2", "al");
        validate_username(&mut v, "u3", "bad name");
        validate_email(&mut v, "e1", "a@b.example");
        validate_email(&mut v, "e2", "nope");
        validate_password(&mut v, "p1", "short");
        let err = v.finish().unwrap_err();
        let fields: Vec<_> = err
            .field_errors()
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(fields, ["u2", "u3", "e2", "p1"]);
    }

    #[test]
    fn user_debug_redacts_the_password_hash() {
        let u = User {
            id: UserId::new(),
            company_id: None,
            role: Role::Owner,
            username: "root".into(),
            email: None,
            display_name: "Root".into(),
            active: true,
            last_agent_sync_at: None,
            password_hash: "$argon2id$secret".into(),
            created_at: Utc::now(),
            privacy: Default::default(),
        };
        let dbg = format!("{u:?}");
        assert!(!dbg.contains("secret"));
        assert!(!serde_json::to_string(&u).unwrap().contains("secret"));
        for r in [Role::Owner, Role::Admin, Role::Manager, Role::Employee] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
