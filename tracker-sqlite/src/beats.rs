//! Heartbeats acknowledged before their commit.
//!
//! Every agent heartbeats, so heartbeats are most of the writes a busy
//! server takes, and each is one small row that its next heartbeat
//! replaces. Committed one by one, each would also wait behind whatever
//! the writer is doing (an activity batch takes milliseconds). With
//! [`SqliteOptions::heartbeat_delay`] above zero the store answers a
//! heartbeat once it is checked and held here; the writer writes what is
//! held within the delay, or sooner, ahead of any job that may read it.
//! A held heartbeat replaces an older one of the same agent.
//!
//! Reads do not see less for it: every read of the store first waits for
//! the held heartbeats to commit ([`Engine::point`], [`Engine::read`]),
//! every write but the tracking writes (sessions, batches, purge steps,
//! which read none of it) runs after them in the same transaction, and the
//! token owners in memory are patched when a heartbeat is held. What a crash of
//! the process can lose is the heartbeats of the last delay; closing the
//! store writes them.
//!
//! [`SqliteOptions::heartbeat_delay`]: crate::SqliteOptions::heartbeat_delay
//! [`Engine::point`]: crate::engine::Engine::point
//! [`Engine::read`]: crate::engine::Engine::read

// Keys are digests and server-made ids: a fast hash, no need to resist
// chosen collisions.
use foldhash::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rusqlite::{Connection, params};
use tracker_core::{AgentState, CompanyId, UserId};

use crate::codec::{R, int, ts};
use crate::engine::{Deferred, in_savepoint};
use crate::owners::OwnerCache;
use crate::store::{count, exec};

type Key = (CompanyId, UserId);

/// Whether `user` is a user of `company`: who may heartbeat there.
pub(crate) fn user_of_company(c: &Connection, company: CompanyId, user: UserId) -> R<bool> {
    let known = count(
        c,
        "SELECT EXISTS (SELECT 1 FROM users WHERE company_id = ?1 AND id = ?2)",
        params![company.0, user.0],
    )?;
    Ok(known == 1)
}

/// Writes one agent state: the agent's row, which is also the user's last
/// agent sync, and by trigger the company's last sync (migration 4).
/// `false` when the user is not of the company (nothing is written).
pub(crate) fn write_beat(c: &Connection, s: &AgentState) -> R<bool> {
    if !user_of_company(c, s.company_id, s.user_id)? {
        return Ok(false);
    }
    // `VALUES`, not a `SELECT` with the check above: SQLite would copy
    // that into a temporary table first.
    exec(
        c,
        "INSERT INTO agent_states (company_id, user_id, last_heartbeat_at, policy_version, agent_version)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (company_id, user_id) DO UPDATE SET last_heartbeat_at = excluded.last_heartbeat_at,
           policy_version = excluded.policy_version, agent_version = excluded.agent_version",
        params![
            s.company_id.0,
            s.user_id.0,
            ts(s.last_heartbeat_at),
            s.policy_version.map(int),
            s.agent_version
        ],
    )?;
    Ok(true)
}

/// What [`Beats::hold`] did.
pub(crate) enum Hold {
    /// Held; `first`: nothing was held before, so the writer must be told
    /// (see [`Engine::wake`]).
    ///
    /// [`Engine::wake`]: crate::engine::Engine::wake
    Held { first: bool },
    /// The user is not of the company: nothing was held.
    NotOfCompany,
    /// The owners in memory do not tell: check the database, then hold it
    /// as checked.
    Unknown(AgentState),
}

/// The heartbeats held until the writer takes them.
pub(crate) struct Beats {
    held: Mutex<Held>,
    /// Heartbeats acknowledged so far; moves under the lock of `held`.
    acked: AtomicU64,
    /// What the writer took and has not seen commit; only the writer
    /// thread touches it.
    in_flight: Mutex<HashMap<Key, AgentState>>,
}

#[derive(Default)]
struct Held {
    rows: HashMap<Key, AgentState>,
    /// When the oldest held heartbeat was acknowledged.
    since: Option<Instant>,
}

impl Beats {
    pub(crate) fn new() -> Self {
        Self {
            held: Mutex::default(),
            acked: AtomicU64::new(0),
            in_flight: Mutex::default(),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        // Each statement under the lock leaves it consistent: a panic
        // elsewhere cannot leave it half-written.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds a heartbeat and patches the token owners in memory with it,
    /// if the user is of the company: known to be (`checked`, from the
    /// database), or shown to be by the rows the owners hold.
    pub(crate) fn hold(&self, state: AgentState, owners: &OwnerCache, checked: bool) -> Hold {
        let (company, user, at) = (state.company_id, state.user_id, state.last_heartbeat_at);
        let mut held = self.held();
        // Counted before the owners are patched (under their lock when they
        // are asked): a lookup that misses after the patch then finds the
        // count moved, and waits for the write before it reads the
        // database.
        let count = || {
            self.acked.fetch_add(1, Ordering::AcqRel);
        };
        let recorded = if checked {
            count();
            owners.heartbeat(company, user, at);
            Some(true)
        } else {
            owners.heartbeat_if_known(company, user, at, count)
        };
        match recorded {
            Some(true) => {
                // Under the same lock as the count, so the writer takes
                // every heartbeat counted.
                let first = held.since.is_none();
                held.rows.insert((company, user), state);
                held.since.get_or_insert_with(Instant::now);
                Hold::Held { first }
            }
            Some(false) => Hold::NotOfCompany,
            None => Hold::Unknown(state),
        }
    }

    /// Holds again what a failed write took, behind anything held since
    /// (which is newer), and waits a delay before the next try.
    fn restore(&self, rows: HashMap<Key, AgentState>) {
        if rows.is_empty() {
            return;
        }
        let mut held = self.held();
        for (key, state) in rows {
            held.rows.entry(key).or_insert(state);
        }
        held.since = Some(Instant::now());
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<Key, AgentState>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Deferred for Beats {
    fn since(&self) -> Option<Instant> {
        self.held().since
    }

    fn acked(&self) -> u64 {
        self.acked.load(Ordering::Acquire)
    }

    fn write(&self, conn: &Connection) -> Option<u64> {
        let (rows, acked) = {
            let mut held = self.held();
            held.since = None;
            // Read under the lock: every heartbeat counted is in `rows` or
            // was taken before.
            (std::mem::take(&mut held.rows), self.acked())
        };
        if rows.is_empty() {
            // Every heartbeat counted was taken by an earlier group, whose
            // commit came before this group.
            return Some(acked);
        }
        // In time order, as they were held, so the company's sync moves as
        // the owners in memory saw it move. A user gone since its
        // heartbeat was held is skipped.
        let mut order: Vec<&AgentState> = rows.values().collect();
        order.sort_by_key(|s| s.last_heartbeat_at);
        let wrote = in_savepoint(conn, |c| {
            order.iter().try_for_each(|s| write_beat(c, s).map(drop))
        });
        match wrote {
            Ok(()) => {
                *self.in_flight() = rows;
                Some(acked)
            }
            Err(_) => {
                self.restore(rows);
                None
            }
        }
    }

    fn settled(&self, committed: bool) {
        let rows = std::mem::take(&mut *self.in_flight());
        if !committed {
            self.restore(rows);
        }
    }
}
