//! Token contexts kept in memory between requests.
//!
//! Every authenticated request asks for its token's context
//! (`AgentStore::token_context`: the token, its user, the user's company
//! and that company's policy). Read from the database, that is a read
//! transaction and four index lookups, and after any commit the reader
//! starts with an empty page cache: most of an agent request's cost. The
//! rows involved (tokens, users, companies, policies) change rarely, and
//! only through this store's own writer, which counts the commits that may
//! change them ([`Engine::directory_version`]). The cache drops everything
//! it holds when that count moves, so it never answers with a row older
//! than a write its caller saw finish.
//!
//! A heartbeat changes two fields of those rows (the user's and the
//! company's sync times) on every call, so it does not drop the cache: it
//! patches the cached rows instead, in the order heartbeats are recorded:
//! when a heartbeat is held, or, for a heartbeat whose user the cache did
//! not hold, on the writer thread once its own write job committed (see
//! [`crate::beats`]).
//!
//! [`Engine::directory_version`]: crate::engine::Engine::directory_version

// Keys are digests and server-made ids: a fast hash, no need to resist
// chosen collisions.
use foldhash::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tracker_core::identity::TokenRecord;
use tracker_core::store::{ContextRows, TokenContext};
use tracker_core::{CompanyId, UserId};

/// The least move of a company's last sync (migration 4's trigger).
const COMPANY_SYNC_STEP: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

/// Tokens held at most; past it the cache starts over (a bound on memory,
/// far above the agents of most deployments).
const MAX_TOKENS: usize = 100_000;

/// What a lookup found.
#[expect(
    clippy::large_enum_variant,
    reason = "returned and taken apart at once; boxing would allocate per hit"
)]
pub(crate) enum Cached {
    /// The context, as the database holds it.
    Hit(TokenContext),
    /// Not held: read it and offer it back with [`ContextCache::fill`],
    /// quoting this ticket.
    Miss(Ticket),
}

/// Proof of when a miss was seen: a fill is kept only if nothing that could
/// make it stale happened since.
#[derive(Clone, Copy)]
pub(crate) struct Ticket(u64);

/// The cache. Rows are held per table, as the database holds them, so that
/// a heartbeat patches one user and one company however many tokens name
/// them.
pub(crate) struct ContextCache {
    /// The engine's directory version.
    directory: Arc<AtomicU64>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The directory version the rows below belong to.
    version: u64,
    /// Moves at every clear and every patch: tickets quote it.
    epoch: u64,
    /// The epoch of the last clear: a fill whose ticket is older may hold
    /// rows read before it, and is dropped.
    cleared: u64,
    /// The epoch of each user's and company's last patch since the clear:
    /// a fill of one of them quoting an older ticket is dropped. Per row,
    /// so that a stream of heartbeats of other agents lets fills land.
    patched_users: HashMap<(CompanyId, UserId), u64>,
    patched_companies: HashMap<CompanyId, u64>,
    rows: ContextRows<foldhash::fast::RandomState>,
}

impl State {
    /// Drops everything if the directory changed since the rows were read.
    /// A caller that read an older version is concurrent with the write
    /// that moved it, and may be served the newer rows.
    fn catch_up(&mut self, version: u64) {
        if version > self.version {
            self.clear();
            self.version = version;
        }
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.patched_users.clear();
        self.patched_companies.clear();
        self.epoch += 1;
        self.cleared = self.epoch;
    }

    /// Whether rows of `token`'s context read at `ticket` may be older than
    /// what the cache was told since.
    fn stale(&self, ticket: Ticket, token: &TokenRecord) -> bool {
        let after = |epoch: Option<&u64>| epoch.is_some_and(|&e| e > ticket.0);
        self.cleared > ticket.0
            || token.company_id.is_some_and(|company| {
                after(self.patched_users.get(&(company, token.user_id)))
                    || after(self.patched_companies.get(&company))
            })
    }
}

impl ContextCache {
    /// An empty cache that follows the engine's directory version.
    pub(crate) fn new(directory: Arc<AtomicU64>) -> Self {
        Self {
            directory,
            state: Mutex::default(),
        }
    }

    /// The state, caught up with the directory as of now.
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is consistent between statements: a panic elsewhere
        // cannot leave it half-written.
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.catch_up(self.directory.load(Ordering::Acquire));
        s
    }

    /// The context of `hash`, if held.
    pub(crate) fn get(&self, hash: &str) -> Cached {
        let s = self.state();
        let found = s.rows.get(hash);
        match found {
            Some(context) => Cached::Hit(context),
            None => Cached::Miss(Ticket(s.epoch)),
        }
    }

    /// Keeps a context read from the database after a miss, unless the rows
    /// may have changed since the miss.
    pub(crate) fn fill(&self, ticket: Ticket, context: &TokenContext) {
        let mut s = self.state();
        let token = &context.token;
        if s.stale(ticket, token) {
            return;
        }
        if s.rows.len() >= MAX_TOKENS {
            s.clear();
            return;
        }
        s.rows.insert(context);
    }

    /// A heartbeat at `at` is recorded: the user's last agent sync is `at`,
    /// and the company's moved to `at` by the rule of migration 4's
    /// trigger (a second or more, never back), which sees the same row.
    pub(crate) fn heartbeat(&self, company: CompanyId, user: UserId, at: DateTime<Utc>) {
        self.state().heartbeat(company, user, at);
    }

    /// [`ContextCache::heartbeat`] for a user the rows held show to be of the
    /// company, with `recorded` run first under the same lock: `Some(true)`.
    /// `Some(false)` when they show the user is not of it, `None` when they
    /// do not tell; neither records anything. As sure as a read of the
    /// database, since any write that could change the answer drops the
    /// rows before it is answered.
    pub(crate) fn heartbeat_if_known(
        &self,
        company: CompanyId,
        user: UserId,
        at: DateTime<Utc>,
        recorded: impl FnOnce(),
    ) -> Option<bool> {
        let mut s = self.state();
        if !s.rows.user(Some(company), user)?.is_some() {
            return Some(false);
        }
        recorded();
        s.heartbeat(company, user, at);
        Some(true)
    }
}

impl State {
    /// See [`ContextCache::heartbeat`].
    fn heartbeat(&mut self, company: CompanyId, user: UserId, at: DateTime<Utc>) {
        self.epoch += 1;
        let epoch = self.epoch;
        if self.patched_users.len() >= MAX_TOKENS {
            self.clear();
            return;
        }
        // A fill read before this must not land after it.
        self.patched_users.insert((company, user), epoch);
        let moved = self.rows.heartbeat(company, user, at, |synced| {
            synced.is_none_or(|t| t <= at - COMPANY_SYNC_STEP)
        });
        // The company row moves about once a second, however many agents
        // it has: only then does it void fills of its users.
        if moved {
            self.patched_companies.insert(company, epoch);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use tracker_core::secret::SecretHash;
    use tracker_core::{Company, Role, User};

    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 4, 8, minute, 0).unwrap()
    }

    /// An employee's token with its user, and no company rows (enough for
    /// the cache, which holds whatever the database answered).
    fn context(company: CompanyId) -> TokenContext {
        let user = User {
            id: UserId::new(),
            company_id: Some(company),
            role: Role::Employee,
            username: "bob".into(),
            email: None,
            display_name: "Bob".into(),
            active: true,
            last_agent_sync_at: None,
            password_hash: String::new(),
            created_at: at(0),
            privacy: Default::default(),
        };
        TokenContext {
            token: TokenRecord {
                hash: SecretHash::of(&user.id.to_string()),
                user_id: user.id,
                company_id: Some(company),
                created_at: at(0),
                expires_at: at(59),
            },
            user: Some(user),
            company: None,
            policy: None,
        }
    }

    /// [`context`] with its company row, last synced at `synced`.
    fn with_company(company: CompanyId, synced: DateTime<Utc>) -> TokenContext {
        TokenContext {
            company: Some(Company {
                id: company,
                name: "Acme".into(),
                status: tracker_core::CompanyStatus::Active,
                plan_id: tracker_core::PlanId::new(),
                trial_ends_at: None,
                subscription_expires_at: None,
                status_before_suspension: None,
                timezone: "UTC".into(),
                retention_days: 90,
                last_sync_at: Some(synced),
                created_at: at(0),
                key_hash: SecretHash::of("key"),
                legal_hold: None,
            }),
            ..context(company)
        }
    }

    fn miss(cache: &ContextCache, o: &TokenContext) -> Ticket {
        match cache.get(o.token.hash.as_str()) {
            Cached::Miss(ticket) => ticket,
            Cached::Hit(_) => panic!("not held yet"),
        }
    }

    fn hit(cache: &ContextCache, o: &TokenContext) -> Option<TokenContext> {
        match cache.get(o.token.hash.as_str()) {
            Cached::Hit(found) => Some(found),
            Cached::Miss(_) => None,
        }
    }

    #[test]
    fn a_fill_is_served_until_the_directory_moves() {
        let version = Arc::new(AtomicU64::new(0));
        let cache = ContextCache::new(Arc::clone(&version));
        let o = context(CompanyId::new());
        let ticket = miss(&cache, &o);
        cache.fill(ticket, &o);
        assert_eq!(hit(&cache, &o).map(|f| f.token), Some(o.token.clone()));
        version.fetch_add(1, Ordering::AcqRel);
        assert!(hit(&cache, &o).is_none(), "a directory write drops it");
    }

    #[test]
    fn a_fill_read_before_a_write_is_dropped() {
        let version = Arc::new(AtomicU64::new(0));
        let cache = ContextCache::new(Arc::clone(&version));
        let o = context(CompanyId::new());
        let ticket = miss(&cache, &o);
        // The rows were read, then a directory write committed.
        version.fetch_add(1, Ordering::AcqRel);
        cache.fill(ticket, &o);
        assert!(hit(&cache, &o).is_none());
    }

    #[test]
    fn heartbeats_patch_what_is_held_and_void_older_fills() {
        let cache = ContextCache::new(Arc::new(AtomicU64::new(0)));
        let company = CompanyId::new();
        let (held, racing) = (context(company), context(company));
        cache.fill(miss(&cache, &held), &held);
        let ticket = miss(&cache, &racing);

        let user = held.token.user_id;
        cache.heartbeat(company, user, at(5));
        let found = hit(&cache, &held).and_then(|f| f.user);
        assert_eq!(found.and_then(|u| u.last_agent_sync_at), Some(at(5)));

        // `racing` was read before that heartbeat committed: it could hold
        // an older sync time, so it is not kept.
        cache.fill(ticket, &racing);
        assert!(hit(&cache, &racing).is_none());
        cache.fill(miss(&cache, &racing), &racing);
        assert!(hit(&cache, &racing).is_some());
    }

    /// Heartbeats void fills of their own user only, and of the company's
    /// users only when they move its held sync time (once a second), so
    /// that the fills of a busy company still land.
    #[test]
    fn heartbeats_void_fills_of_the_rows_they_change_only() {
        let cache = ContextCache::new(Arc::new(AtomicU64::new(0)));
        let company = CompanyId::new();
        let busy = with_company(company, at(5));
        cache.fill(miss(&cache, &busy), &busy);
        let quiet = with_company(company, at(5));
        let ticket = miss(&cache, &quiet);

        // Another agent of the company, within the second of the held sync.
        cache.heartbeat(company, busy.token.user_id, at(5));
        cache.fill(ticket, &quiet);
        assert!(
            hit(&cache, &quiet).is_some(),
            "lands: its rows did not change"
        );

        let late = with_company(company, at(5));
        let ticket = miss(&cache, &late);
        // A minute on, the company's sync moves: its users' fills are void.
        cache.heartbeat(company, busy.token.user_id, at(6));
        cache.fill(ticket, &late);
        assert!(hit(&cache, &late).is_none());
        let held = hit(&cache, &quiet).and_then(|o| o.company);
        assert_eq!(held.and_then(|c| c.last_sync_at), Some(at(6)));
    }
}
