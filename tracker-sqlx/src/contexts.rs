//! Token contexts kept in memory, forgotten on every node when the rows
//! behind them change.
//!
//! Every authenticated request asks for its token's context (the token,
//! its user, the company, its policy): one round trip per request without
//! this cache. The rows change rarely; when they do, triggers of migration
//! 6 announce the company on the channel `tracker_directory` as the
//! transaction commits, and every node's listener forgets what it holds of
//! that company. The node that made the change forgets it before its call
//! returns.
//!
//! The bound: another node refuses a revoked token, a deactivated user, a
//! rotated key or a suspended company once the notification reaches it
//! (milliseconds on one network; the test across two nodes measures it).
//! While its listener is not connected a node caches nothing and reads
//! every context, and when the listener loses its connection the node
//! drops everything it holds, since notifications may have been missed. A
//! context is also never kept longer than [`PgConfig::token_cache`]
//! (default 60 s). That bounds how old the sync times in a context may be
//! when the heartbeat went to another node: heartbeats patch the copy of
//! their own node, and announce nothing.
//!
//! [`PgConfig::token_cache`]: crate::PgConfig::token_cache

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tracker_core::store::{ContextRows, TokenContext};
use tracker_core::{CompanyId, UserId};

/// The channel of migration 6's triggers.
const CHANNEL: &str = "tracker_directory";
/// Contexts held at most; past it the cache starts over.
const MAX_TOKENS: usize = 100_000;
/// The least move of a company's last sync (see `record_heartbeat`).
const COMPANY_SYNC_STEP: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

/// What a lookup found.
pub(crate) enum Cached {
    /// The context, no older than the last announcement.
    Hit(Box<TokenContext>),
    /// Not held (or not cacheable now): read it, then offer it back with
    /// [`ContextCache::fill`] quoting the ticket.
    Miss(Ticket),
}

/// When a miss was seen: a fill is kept only if nothing was forgotten
/// since.
#[derive(Clone, Copy)]
pub(crate) struct Ticket(u64);

/// The cache of one store.
pub(crate) struct ContextCache {
    ttl: Duration,
    /// Whether the listener is connected and listening.
    live: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Moves at every forget: tickets quote it.
    epoch: u64,
    rows: ContextRows,
    /// When each token's rows were read.
    filled: HashMap<String, Instant>,
}

impl State {
    fn clear(&mut self) {
        self.epoch += 1;
        self.rows.clear();
        self.filled.clear();
    }
}

impl ContextCache {
    /// A cache whose entries live at most `ttl`; nothing is held until the
    /// listener says it listens.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            live: AtomicBool::new(false),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every change of the state is one statement: a panic elsewhere
        // cannot leave it half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The context of `hash`, if held and young enough.
    pub(crate) fn get(&self, hash: &str) -> Cached {
        let s = self.state();
        let young = s.filled.get(hash).is_some_and(|at| at.elapsed() < self.ttl);
        match s.rows.get(hash).filter(|_| young) {
            Some(context) => Cached::Hit(Box::new(context)),
            None => Cached::Miss(Ticket(s.epoch)),
        }
    }

    /// Keeps a context read after a miss, unless something was forgotten
    /// since the miss (the read may predate it) or the listener is down.
    pub(crate) fn fill(&self, ticket: Ticket, context: &TokenContext) {
        let mut s = self.state();
        if s.epoch != ticket.0 || !self.live.load(Ordering::Acquire) {
            return;
        }
        if s.filled.len() >= MAX_TOKENS {
            s.clear();
            return;
        }
        s.rows.insert(context);
        let hash = context.token.hash.as_str().to_owned();
        s.filled.insert(hash, Instant::now());
    }

    /// Forgets the contexts of a company (`None`: the platform's users).
    pub(crate) fn forget_company(&self, company: Option<CompanyId>) {
        let mut s = self.state();
        s.epoch += 1;
        s.rows.forget_company(company);
    }

    /// Forgets one token's context.
    pub(crate) fn forget_token(&self, hash: &str) {
        let mut s = self.state();
        s.epoch += 1;
        s.rows.forget_token(hash);
        s.filled.remove(hash);
    }

    /// A heartbeat at `at` was recorded on this node: the user's last agent
    /// sync is `at`, and the company's moved to `at` by the store's rule
    /// (more than a second, never back). Other nodes' copies keep the older
    /// times until they expire: no decision reads them from a context.
    pub(crate) fn heartbeat(&self, company: CompanyId, user: UserId, at: DateTime<Utc>) {
        self.state().rows.heartbeat(company, user, at, |synced| {
            synced.is_none_or(|t| t < at - COMPANY_SYNC_STEP)
        });
    }

    /// Waits until the listener listens, at most `limit`.
    pub(crate) async fn until_live(&self, limit: Duration) {
        let start = Instant::now();
        while !self.live.load(Ordering::Acquire) && start.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Forgets everything, and caches from now on only if `live`.
    fn reset(&self, live: bool) {
        self.state().clear();
        self.live.store(live, Ordering::Release);
    }

    /// Applies one announcement: "<schema> <company id>".
    fn announced(&self, schema: &str, payload: &str) {
        let Some((of, company)) = payload.split_once(' ') else {
            return;
        };
        if of != schema {
            return;
        }
        match company.parse::<uuid::Uuid>() {
            Ok(id) if id.is_nil() => self.forget_company(None),
            Ok(id) => self.forget_company(Some(CompanyId::from_uuid(id))),
            Err(_) => self.reset(self.live.load(Ordering::Acquire)),
        }
    }
}

/// Listens for announcements for as long as the cache lives, reconnecting
/// after a lost connection. Spawned on the runtime by the store.
pub(crate) async fn listen(pool: PgPool, schema: String, cache: Weak<ContextCache>) {
    loop {
        if let Ok(mut listener) = PgListener::connect_with(&pool).await
            && listener.listen(CHANNEL).await.is_ok()
        {
            let Some(c) = cache.upgrade() else { return };
            c.reset(true);
            drop(c);
            // `try_recv` answers `None` when the connection is lost; what
            // was announced meanwhile is lost with it.
            while let Ok(Some(note)) = listener.try_recv().await {
                let Some(c) = cache.upgrade() else { return };
                c.announced(&schema, note.payload());
            }
        }
        let Some(c) = cache.upgrade() else { return };
        c.reset(false);
        drop(c);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A cache shared with its listener task.
pub(crate) fn spawn(
    pool: &PgPool,
    schema: &str,
    ttl: Duration,
) -> (Arc<ContextCache>, tokio::task::AbortHandle) {
    let cache = Arc::new(ContextCache::new(ttl));
    let task = tokio::spawn(listen(
        pool.clone(),
        schema.to_owned(),
        Arc::downgrade(&cache),
    ));
    (cache, task.abort_handle())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use tracker_core::UserId;
    use tracker_core::identity::TokenRecord;
    use tracker_core::secret::SecretHash;

    use super::*;

    fn context(company: Option<CompanyId>, hash: &str) -> TokenContext {
        TokenContext {
            token: TokenRecord {
                hash: SecretHash::from_stored(hash.to_owned()),
                company_id: company,
                user_id: UserId::new(),
                created_at: Utc::now(),
                expires_at: Utc::now(),
            },
            user: None,
            company: None,
            policy: None,
        }
    }

    fn held(cache: &ContextCache, hash: &str) -> bool {
        matches!(cache.get(hash), Cached::Hit(_))
    }

    fn put(cache: &ContextCache, c: &TokenContext) {
        let Cached::Miss(ticket) = cache.get(c.token.hash.as_str()) else {
            panic!("already held");
        };
        cache.fill(ticket, c);
    }

    #[test]
    fn nothing_is_held_until_the_listener_listens() {
        let cache = ContextCache::new(Duration::from_secs(60));
        let c = context(None, "a");
        put(&cache, &c);
        assert!(!held(&cache, "a"));
        cache.reset(true);
        put(&cache, &c);
        assert!(held(&cache, "a"));
        cache.reset(false);
        assert!(!held(&cache, "a"), "a lost listener drops everything");
    }

    #[test]
    fn an_announcement_forgets_its_company_of_this_schema_only() {
        let cache = ContextCache::new(Duration::from_secs(60));
        cache.reset(true);
        let (a, b) = (CompanyId::new(), CompanyId::new());
        for c in [
            context(Some(a), "a"),
            context(Some(b), "b"),
            context(None, "o"),
        ] {
            put(&cache, &c);
        }
        cache.announced("tracker", &format!("elsewhere {}", a.as_uuid()));
        assert!(held(&cache, "a"), "another schema's change");
        cache.announced("tracker", &format!("tracker {}", a.as_uuid()));
        assert!(!held(&cache, "a") && held(&cache, "b") && held(&cache, "o"));
        cache.announced("tracker", &format!("tracker {}", uuid::Uuid::nil()));
        assert!(
            !held(&cache, "o") && held(&cache, "b"),
            "the platform's users"
        );
        cache.announced("tracker", "tracker garbage");
        assert!(
            !held(&cache, "b"),
            "an announcement not understood forgets all"
        );
    }

    #[test]
    fn a_read_from_before_a_forget_is_not_kept_and_old_entries_expire() {
        let cache = ContextCache::new(Duration::from_secs(60));
        cache.reset(true);
        let a = CompanyId::new();
        let c = context(Some(a), "a");
        let Cached::Miss(ticket) = cache.get("a") else {
            panic!()
        };
        cache.forget_company(Some(CompanyId::new()));
        cache.fill(ticket, &c);
        assert!(!held(&cache, "a"), "read before a change was announced");
        put(&cache, &c);
        cache.forget_token("a");
        assert!(!held(&cache, "a"));
        let brief = ContextCache::new(Duration::ZERO);
        brief.reset(true);
        put(&brief, &c);
        assert!(!held(&brief, "a"), "older than the time to live");
    }
}
