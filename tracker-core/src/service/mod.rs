//! The [`Tracker`] service: the one entry point of every use case.
//!
//! Each operation takes the caller (a [`Principal`], or an [`AgentContext`]
//! for agent calls), checks the permission matrix and the company's access,
//! applies the domain rules, and calls the store, handing it the audit
//! event of any audited change so both are written together.

mod agent;
mod alerts;
mod archive;
mod audit;
mod auth;
mod jobs;
mod people;
mod policy;
mod privacy;
mod reports;
mod tenants;
mod tracking;
mod work;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{Actor, AuditAction, AuditChain, AuditKey, NewAuditEvent, PublicKey};
use crate::authz::{Action, Principal, Target, authorize};
use crate::blob::{BlobStore, NoBlobStore};
use crate::blur::{NoBlur, ScreenshotBlur};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::identity::{Role, User};
use crate::ids::{CompanyId, UserId};
use crate::lease::{JobLeases, LocalLeases};
use crate::notify::{NoNotifier, Notifier};
use crate::paging::{MAX_LIMIT, PageRequest};
use crate::secret::{Argon2Hasher, PasswordHasher};
use crate::store::{Store, UserFilter};
use crate::tenancy::Company;
use crate::tracking::IngestLimits;

pub use agent::AgentContext;
pub use alerts::AlertDetail;
pub use archive::{ArchiveFile, ArchiveManifest, ArchiveSink};
pub use audit::{AuditExport, CheckpointRun};
pub use jobs::{AlertRun, DEFAULT_PURGE_BATCH, ExpiryRun, RetentionRun, UsageRun};
pub use privacy::ErasureReceipt;
pub use reports::UsageReport;

/// Settings of a [`Tracker`].
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    /// How long a login token lives.
    pub token_ttl: Duration,
    /// Limits of agent ingest.
    pub ingest: IngestLimits,
    /// Trial length when a company is created without one.
    pub default_trial_days: u32,
    /// Retention when a company is created without one.
    pub default_retention_days: u32,
    /// Failed sign-ins an account may have within
    /// [`login_window`](Self::login_window) before further attempts are
    /// refused with `TooManyAttempts` until the window ends, whatever
    /// address they come from. Counted per process.
    pub login_failures: u32,
    /// See [`login_failures`](Self::login_failures).
    pub login_window: Duration,
    /// [`Tracker::sign_audit_checkpoints`] signs a chain's head once this
    /// many events follow its last checkpoint…
    pub checkpoint_every_events: u64,
    /// …or once this long has passed since it, if any event follows it.
    pub checkpoint_interval: Duration,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::days(30),
            ingest: IngestLimits::default(),
            default_trial_days: 14,
            default_retention_days: 90,
            login_failures: 10,
            login_window: Duration::minutes(15),
            checkpoint_every_events: 1_000,
            checkpoint_interval: Duration::hours(1),
        }
    }
}

/// Who a request comes from, as an external identity provider says: the
/// [`Authenticator`] port's answer, resolved into a [`Principal`] by
/// [`Tracker::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The user.
    pub user_id: UserId,
    /// The user's company (`None` for OWNER).
    pub company_id: Option<CompanyId>,
}

/// Bring your own identity: maps a credential of the integrator's product
/// (a session cookie, a JWT) to an [`Identity`]. The built-in token login
/// is [`Tracker::authenticate`].
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// The identity behind `credential`; [`Error::Unauthenticated`] if none.
    async fn identify(&self, credential: &str) -> Result<Identity>;
}

const _: Option<&dyn Authenticator> = None;

/// The service. Cheap to clone; share one per process.
pub struct Tracker<S: ?Sized = dyn Store> {
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    blobs: Arc<dyn BlobStore>,
    blur: Arc<dyn ScreenshotBlur>,
    hasher: Arc<dyn PasswordHasher>,
    notifier: Arc<dyn Notifier>,
    config: TrackerConfig,
    dummy_hash: Arc<OnceLock<String>>,
    logins: Arc<auth::LoginFailures>,
    audit_key: Option<Arc<AuditKey>>,
    leases: Arc<dyn JobLeases>,
}

impl<S: ?Sized> Clone for Tracker<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            clock: self.clock.clone(),
            blobs: self.blobs.clone(),
            blur: self.blur.clone(),
            hasher: self.hasher.clone(),
            notifier: self.notifier.clone(),
            config: self.config.clone(),
            dummy_hash: self.dummy_hash.clone(),
            logins: self.logins.clone(),
            audit_key: self.audit_key.clone(),
            leases: self.leases.clone(),
        }
    }
}

/// Builds a [`Tracker`].
pub struct TrackerBuilder<S: ?Sized> {
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    blobs: Arc<dyn BlobStore>,
    blur: Arc<dyn ScreenshotBlur>,
    hasher: Arc<dyn PasswordHasher>,
    notifier: Arc<dyn Notifier>,
    config: TrackerConfig,
    audit_key: Option<Arc<AuditKey>>,
    leases: Arc<dyn JobLeases>,
}

impl<S: Store + ?Sized> TrackerBuilder<S> {
    /// Who may run each company's share of a background job (default:
    /// [`LocalLeases`], one runner at a time in this process). Give every
    /// node of a cluster leases that hold across processes, such as the
    /// PostgreSQL store's, and every node may run every job.
    pub fn job_leases(mut self, leases: Arc<dyn JobLeases>) -> Self {
        self.leases = leases;
        self
    }

    /// The key that signs audit checkpoints and exports (default: none;
    /// exports are then unsigned and no verifier accepts them).
    pub fn audit_key(mut self, key: AuditKey) -> Self {
        self.audit_key = Some(Arc::new(key));
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The blob store for screenshot images (default: [`NoBlobStore`],
    /// which refuses uploads rather than keep images in process memory).
    pub fn blobs(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = blobs;
        self
    }

    /// How screenshots are blurred when the policy asks for it (default:
    /// [`NoBlur`], which refuses such uploads rather than store them
    /// sharp).
    pub fn blur(mut self, blur: Arc<dyn ScreenshotBlur>) -> Self {
        self.blur = blur;
        self
    }

    /// The password hasher (default: argon2id with OWASP parameters).
    pub fn password_hasher(mut self, hasher: impl PasswordHasher) -> Self {
        self.hasher = Arc::new(hasher);
        self
    }

    /// Where alerts are delivered (default: [`NoNotifier`], which refuses
    /// webhooks when they are saved).
    pub fn notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = notifier;
        self
    }

    /// The settings.
    pub fn config(mut self, config: TrackerConfig) -> Self {
        self.config = config;
        self
    }

    /// The service.
    pub fn build(self) -> Tracker<S> {
        Tracker {
            store: self.store,
            clock: self.clock,
            blobs: self.blobs,
            blur: self.blur,
            hasher: self.hasher,
            notifier: self.notifier,
            config: self.config,
            dummy_hash: Arc::new(OnceLock::new()),
            logins: Arc::default(),
            audit_key: self.audit_key,
            leases: self.leases,
        }
    }
}

impl<S: Store> Tracker<S> {
    /// A builder over `store`.
    pub fn builder(store: S) -> TrackerBuilder<S> {
        Self::builder_shared(Arc::new(store))
    }
}

impl<S: Store + ?Sized> Tracker<S> {
    /// A builder over a shared store (also `Arc<dyn Store>`).
    pub fn builder_shared(store: Arc<S>) -> TrackerBuilder<S> {
        TrackerBuilder {
            store,
            clock: Arc::new(SystemClock),
            blobs: Arc::new(NoBlobStore),
            blur: Arc::new(NoBlur),
            hasher: Arc::new(Argon2Hasher::default()),
            notifier: Arc::new(NoNotifier),
            config: TrackerConfig::default(),
            audit_key: None,
            leases: Arc::new(LocalLeases::default()),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// The public half of the audit signing key, if the service has one:
    /// what auditors verify exports with.
    pub fn audit_public_key(&self) -> Option<PublicKey> {
        self.audit_key.as_ref().map(|k| k.public_key())
    }

    /// The current time of the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        crate::clock::normalize(self.clock.now())
    }

    // ---- helpers shared by the operations ------------------------------

    fn actor(p: &Principal) -> Actor {
        Actor::User {
            id: p.user_id(),
            username: p.user().username.clone(),
        }
    }

    fn event(
        &self,
        p: &Principal,
        chain: AuditChain,
        action: AuditAction,
        description: String,
        details: serde_json::Value,
    ) -> NewAuditEvent {
        NewAuditEvent {
            chain,
            actor: Self::actor(p),
            action,
            description,
            details,
            client_ip: p.client_ip().map(str::to_owned),
            at: self.now(),
        }
    }

    /// The caller's company, once the matrix lets the caller do `action`
    /// over it as a whole: the pair every company-wide operation starts
    /// with.
    fn company_for(p: &Principal, action: Action) -> Result<&Company> {
        let company = Self::company_of(p, action)?;
        authorize(p, action, Target::Company(company.id))?;
        Ok(company)
    }

    /// The caller's company; OWNER has none and is refused `action`.
    fn company_of(p: &Principal, action: Action) -> Result<&Company> {
        p.company().ok_or(Error::Forbidden {
            action: action.name(),
        })
    }

    /// Authorizes `action` over a user's data, or over the company's lists
    /// when `user` is `None`, and returns the users the caller may see in
    /// that list (`None`: everyone of the company).
    async fn scope(
        &self,
        p: &Principal,
        action: Action,
        user: Option<UserId>,
    ) -> Result<(CompanyId, Option<BTreeSet<UserId>>)> {
        let company = Self::company_of(p, action)?.id;
        match user {
            Some(u) => {
                authorize(p, action, Target::user(company, u))?;
                self.store
                    .users()
                    .get_user(Some(company), u)
                    .await?
                    .ok_or(Error::not_found("user"))?;
                Ok((company, Some(BTreeSet::from([u]))))
            }
            None => {
                authorize(p, action, Target::Company(company))?;
                Ok((company, visible_users(p)))
            }
        }
    }

    /// Every user of a company matching `filter`, page by page.
    async fn all_users(&self, company: CompanyId, filter: &UserFilter) -> Result<Vec<User>> {
        let mut out = Vec::new();
        let mut page = PageRequest::first(MAX_LIMIT);
        loop {
            let p = self
                .store
                .users()
                .list_users(Some(company), filter, &page)
                .await?;
            out.extend(p.items);
            match p.next_cursor {
                Some(c) => page = PageRequest::after(c, MAX_LIMIT),
                None => return Ok(out),
            }
        }
    }

    fn plan_error(code: &str) -> Error {
        Error::invalid("plan", format!("{code:?} is not a plan code"))
    }
}

/// The users a caller sees in company-wide lists (`None`: all).
fn visible_users(p: &Principal) -> Option<BTreeSet<UserId>> {
    match p.role() {
        Role::Admin => None,
        Role::Manager => {
            let mut s = p.managed_users().clone();
            s.insert(p.user_id());
            Some(s)
        }
        Role::Employee | Role::Owner => Some(BTreeSet::from([p.user_id()])),
    }
}

/// Validates a date range of at most `max_days` days.
fn date_range(from: NaiveDate, to: NaiveDate, max_days: i64) -> Result<()> {
    if to < from {
        return Err(Error::invalid("to", "must not be before from"));
    }
    if (to - from).num_days() >= max_days {
        return Err(Error::invalid(
            "to",
            format!("a range spans at most {max_days} days"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
