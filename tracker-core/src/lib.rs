//! The pure domain of `tracker`, an embeddable multi-tenant employee
//! activity tracker: tenancy, tracking policy, the audit chain, agent
//! heartbeats and the role permission matrix, behind storage and transport
//! ports. No database driver, web framework or async runtime is a
//! dependency of this crate.
//!
//! ```
//! use tracker_core::{
//!     protocol::{CreateCompany, HeartbeatRequest, LoginRequest, NewUser},
//!     store::AuditFilter, Argon2Hasher, MemoryStore, PageRequest, PolicyUpdate, Role, Tracker,
//! };
//!
//! # futures::executor::block_on(async {
//! let tracker = Tracker::builder(MemoryStore::new())
//!     .password_hasher(Argon2Hasher::insecure_fast()) // tests only; the default is argon2id
//!     .build();
//! tracker.ensure_default_plans().await?;
//!
//! // The operator (OWNER) creates a company and its first admin.
//! tracker.bootstrap_owner("operator", "operator-password").await?;
//! let login = |company_key: Option<String>, username: &str, password: &str| LoginRequest {
//!     company_key,
//!     username: username.into(),
//!     password: password.into(),
//! };
//! let owner = tracker.login(login(None, "operator", "operator-password"), None).await?;
//! let owner = tracker.authenticate(owner.token.expose()).await?;
//! let created = tracker
//!     .create_company(&owner, CreateCompany {
//!         name: "Acme".into(),
//!         plan: Some("PRO".into()),
//!         timezone: Some("Europe/Berlin".into()),
//!         trial_days: None,
//!         retention_days: None,
//!         admin: NewUser {
//!             username: "alice".into(),
//!             password: "alice-password".into(),
//!             email: Some("alice@acme.example".into()),
//!             display_name: None,
//!             role: None,
//!         },
//!     })
//!     .await?;
//! let key = created.company_key.expose().to_owned(); // shown once, stored hashed
//!
//! // The admin adds an employee and turns screenshots off.
//! let admin = tracker.login(login(Some(key.clone()), "alice", "alice-password"), None).await?;
//! let admin = tracker.authenticate(admin.token.expose()).await?;
//! tracker
//!     .create_user(&admin, NewUser {
//!         username: "bob".into(),
//!         password: "bob-password".into(),
//!         email: None,
//!         display_name: Some("Bob".into()),
//!         role: Some(Role::Employee),
//!     })
//!     .await?;
//! let policy = tracker
//!     .update_policy(&admin, PolicyUpdate { screenshots_enabled: Some(false), ..Default::default() })
//!     .await?;
//! assert_eq!(policy.version, 2);
//!
//! // Bob's desktop agent logs in with the company key and heartbeats.
//! let bob = tracker.login(login(Some(key.clone()), "bob", "bob-password"), None).await?;
//! let agent = tracker.agent(&key, bob.token.expose()).await?;
//! let beat = tracker
//!     .heartbeat(&agent, HeartbeatRequest { policy_version: Some(1), agent_version: None })
//!     .await?;
//! assert!(beat.policy_changed, "the agent must fetch the new policy");
//!
//! // Every change and sign-in is in the company's audit log, and the chain verifies.
//! let log = tracker.company_audit(&admin, &AuditFilter::default(), &PageRequest::default()).await?;
//! let actions: Vec<_> = log.items.iter().map(|e| e.action.as_str()).collect();
//! assert_eq!(
//!     actions,
//!     ["employee_created", "login_succeeded", "employee_created", "policy_updated", "login_succeeded"]
//! );
//! assert!(tracker.verify_company_audit(&admin).await?.broken.is_none());
//! # Ok::<(), tracker_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Permission matrix
//!
//! The matrix below is [`authz::authorize`]; every operation of [`Tracker`] goes through it.
//!
#![doc = include_str!("../PERMISSIONS.md")]
//!
//! # Map
//!
//! - [`Tracker`]: the one service every use case goes through.
//! - [`authz`]: the permission matrix, as one function and as a table.
//! - [`tenancy`], [`identity`], [`policy`], [`tracking`], [`work`]: the domain types and rules.
//! - [`audit`]: the hash chain and its verification, signed checkpoints, and
//!   exports an auditor verifies offline ([`audit::export`]).
//! - [`report`]: days in the company's timezone, totals, timelines, grids.
//! - [`store`]: the storage ports and their contract; [`MemoryStore`] (feature
//!   `memory`); the conformance kit [`testkit`] (feature `testkit`); the
//!   [`guide`] to implementing your own store.
//! - [`protocol`]: the transport-neutral messages.
//! - [`Clock`], [`BlobStore`], [`Notifier`], [`PasswordHasher`], [`Authenticator`]: the other ports.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod access;
pub mod audit;
pub mod authz;
pub mod blob;
pub mod blur;
pub mod clock;
pub mod error;
pub mod guide;
pub mod identity;
pub mod ids;
pub mod lease;
pub mod minimise;
pub mod notify;
pub mod paging;
pub mod policy;
pub mod protocol;
pub mod report;
#[cfg(feature = "sql")]
pub mod rows;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod secret;
pub mod store;
pub mod tenancy;
pub mod text;
pub mod tracking;
pub mod work;

mod service;

#[cfg(feature = "memory")]
pub mod memory;
#[cfg(feature = "testkit")]
pub mod testkit;

/// The attribute the storage ports are written with: implement them with
/// `#[tracker_core::async_trait]` and no dependency of your own.
pub use async_trait::async_trait;
pub use audit::{Actor, AuditAction, AuditChain, AuditEvent, ChainVerification, NewAuditEvent};
pub use authz::{Action, Principal, Target, authorize};
pub use blob::{BlobStore, FsBlobStore, MemoryBlobStore, NoBlobStore};
pub use blur::{NoBlur, ScreenshotBlur};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, FieldError, Result};
pub use identity::{Role, Team, User};
pub use ids::*;
pub use notify::{Alert, AlertKind, AlertSettings, NoNotifier, Notifier, RecordingNotifier};
pub use paging::{Page, PageRequest};
pub use policy::{
    PendingPolicy, PolicyUpdate, RetentionByKind, TitleRule, TrackingPolicy, UrlDetail,
};
pub use secret::{ApiToken, Argon2Hasher, CompanyKey, PasswordHasher};
pub use service::{
    AgentContext, AlertDetail, AlertRun, ArchiveFile, ArchiveManifest, ArchiveSink, AuditExport,
    Authenticator, CheckpointRun, DEFAULT_PURGE_BATCH, ErasureReceipt, ExpiryRun, Identity,
    RetentionRun, Tracker, TrackerBuilder, TrackerConfig, UsageReport, UsageRun,
};
pub use store::Store;
pub use tenancy::{Company, CompanyStatus, Plan, Subscription};
pub use tracking::{
    ActivityEvent, ActivityKind, AgentState, Liveness, Preview, Screenshot, WorkSession,
};
pub use work::{CompanyUsageDaily, CorrectionRequest, CorrectionStatus, Task, TaskStatus};

#[cfg(feature = "memory")]
pub use memory::MemoryStore;
