//! Token owners kept in memory between requests.
//!
//! Every authenticated request asks who owns its token. Read from the
//! database, that is a read transaction and four index lookups, and after
//! any commit the reader starts with an empty page cache: most of an agent
//! request's cost. The rows involved (tokens, users, companies, policies)
//! change rarely, and only through this store's own writer, which counts
//! the commits that may change them ([`Engine::directory_version`]). The
//! cache drops everything it holds when that count moves, so it never
//! answers with a row older than a write its caller saw finish.
//!
//! A heartbeat changes two fields of those rows (the user's and the
//! company's sync times) on every call, so it does not drop the cache: its
//! commit patches the cached rows instead, on the writer thread, in commit
//! order.
//!
//! [`Engine::directory_version`]: crate::engine::Engine::directory_version

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tracker_core::identity::TokenRecord;
use tracker_core::store::TokenOwner;
use tracker_core::{Company, CompanyId, TrackingPolicy, User, UserId};

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
    /// The owner, as the database holds it.
    Hit(TokenOwner),
    /// Not held: read it and offer it back with [`OwnerCache::fill`],
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
pub(crate) struct OwnerCache {
    /// The engine's directory version.
    directory: Arc<AtomicU64>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The directory version the rows below belong to.
    version: u64,
    /// Moves at every clear and every patch; a fill whose ticket is older
    /// may hold rows read before it, and is dropped.
    epoch: u64,
    tokens: HashMap<String, TokenRecord>,
    users: HashMap<(Option<CompanyId>, UserId), Option<User>>,
    companies: HashMap<CompanyId, (Option<Company>, Option<TrackingPolicy>)>,
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
        self.tokens.clear();
        self.users.clear();
        self.companies.clear();
        self.epoch += 1;
    }
}

impl OwnerCache {
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

    /// The owner of `hash`, if held.
    pub(crate) fn get(&self, hash: &str) -> Cached {
        let s = self.state();
        let found = s.tokens.get(hash).and_then(|token| {
            let user = s.users.get(&(token.company_id, token.user_id))?;
            let (company, policy) = match token.company_id {
                Some(id) => s.companies.get(&id)?.clone(),
                None => (None, None),
            };
            Some(TokenOwner {
                token: token.clone(),
                user: user.clone(),
                company,
                policy,
            })
        });
        match found {
            Some(owner) => Cached::Hit(owner),
            None => Cached::Miss(Ticket(s.epoch)),
        }
    }

    /// Keeps an owner read from the database after a miss, unless the rows
    /// may have changed since the miss.
    pub(crate) fn fill(&self, ticket: Ticket, owner: &TokenOwner) {
        let mut s = self.state();
        if s.epoch != ticket.0 {
            return;
        }
        if s.tokens.len() >= MAX_TOKENS {
            s.clear();
            return;
        }
        let token = &owner.token;
        s.tokens
            .insert(token.hash.as_str().to_owned(), token.clone());
        s.users
            .insert((token.company_id, token.user_id), owner.user.clone());
        if let Some(id) = token.company_id {
            s.companies
                .insert(id, (owner.company.clone(), owner.policy.clone()));
        }
    }

    /// A heartbeat at `at` committed: the user's last agent sync is `at`,
    /// and the company's moved to `at` by the rule of migration 4's
    /// trigger (a second or more, never back), which sees the same row.
    pub(crate) fn heartbeat(&self, company: CompanyId, user: UserId, at: DateTime<Utc>) {
        let mut s = self.state();
        if let Some(Some(u)) = s.users.get_mut(&(Some(company), user)) {
            u.last_agent_sync_at = Some(at);
        }
        if let Some((Some(c), _)) = s.companies.get_mut(&company)
            && c.last_sync_at.is_none_or(|t| t <= at - COMPANY_SYNC_STEP)
        {
            c.last_sync_at = Some(at);
        }
        // A fill read before this commit must not land after it.
        s.epoch += 1;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use tracker_core::Role;
    use tracker_core::secret::SecretHash;

    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 4, 8, minute, 0).unwrap()
    }

    /// An employee's token with its user, and no company rows (enough for
    /// the cache, which holds whatever the database answered).
    fn owner(company: CompanyId) -> TokenOwner {
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
        };
        TokenOwner {
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

    fn miss(cache: &OwnerCache, o: &TokenOwner) -> Ticket {
        match cache.get(o.token.hash.as_str()) {
            Cached::Miss(ticket) => ticket,
            Cached::Hit(_) => panic!("not held yet"),
        }
    }

    fn hit(cache: &OwnerCache, o: &TokenOwner) -> Option<TokenOwner> {
        match cache.get(o.token.hash.as_str()) {
            Cached::Hit(found) => Some(found),
            Cached::Miss(_) => None,
        }
    }

    #[test]
    fn a_fill_is_served_until_the_directory_moves() {
        let version = Arc::new(AtomicU64::new(0));
        let cache = OwnerCache::new(Arc::clone(&version));
        let o = owner(CompanyId::new());
        let ticket = miss(&cache, &o);
        cache.fill(ticket, &o);
        assert_eq!(hit(&cache, &o).map(|f| f.token), Some(o.token.clone()));
        version.fetch_add(1, Ordering::AcqRel);
        assert!(hit(&cache, &o).is_none(), "a directory write drops it");
    }

    #[test]
    fn a_fill_read_before_a_write_is_dropped() {
        let version = Arc::new(AtomicU64::new(0));
        let cache = OwnerCache::new(Arc::clone(&version));
        let o = owner(CompanyId::new());
        let ticket = miss(&cache, &o);
        // The rows were read, then a directory write committed.
        version.fetch_add(1, Ordering::AcqRel);
        cache.fill(ticket, &o);
        assert!(hit(&cache, &o).is_none());
    }

    #[test]
    fn heartbeats_patch_what_is_held_and_void_older_fills() {
        let cache = OwnerCache::new(Arc::new(AtomicU64::new(0)));
        let company = CompanyId::new();
        let (held, racing) = (owner(company), owner(company));
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
}
