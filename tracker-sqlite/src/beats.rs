//! Heartbeats, written many to a transaction.
//!
//! Every agent heartbeats, so heartbeats are most of the writes a busy
//! server takes, and each is one small row that its next heartbeat
//! replaces. A heartbeat whose user the token contexts in memory show to be
//! of its company is held here; the writer takes every heartbeat held at
//! once and writes them ahead of its next group's jobs, in the group's
//! transaction. A held heartbeat replaces an older one of the same agent.
//! A heartbeat the contexts do not tell of (its caller did not look a token
//! up first) is checked by the database: by a lookup before it is held
//! when it is answered before its commit, or else by a write job of its
//! own, queued like any other write.
//!
//! By default ([`SqliteOptions::heartbeat_delay`] zero) the writer takes
//! them at once and each caller is answered after the commit that wrote
//! its heartbeat: every acknowledged heartbeat is committed. Taken from
//! here rather than queued one by one, the heartbeats that arrive while a
//! group commits share the next one, without a job, a closure and a reply
//! each. Above zero, a heartbeat is answered once it is held, and the
//! writer writes what is held within the delay, or sooner, ahead of any
//! job that may read it; a crash of the process can lose the heartbeats of
//! the last delay, and closing the store writes them.
//!
//! Reads do not see less for it: every read of the store first waits for
//! the held heartbeats to commit ([`Engine::point`], [`Engine::read`]),
//! every write but the tracking writes (sessions, batches, purge steps,
//! which read none of it) runs after them in the same transaction, and the
//! token contexts in memory are patched when a heartbeat is held.
//!
//! [`Beats::record`] is the whole protocol as `AgentStore::record_heartbeat`
//! runs it; the writer drives the rest through [`Deferred`].
//!
//! [`SqliteOptions::heartbeat_delay`]: crate::SqliteOptions::heartbeat_delay
//! [`Engine::point`]: crate::engine::Engine::point
//! [`Engine::read`]: crate::engine::Engine::read

// Keys are digests and server-made ids: a fast hash, no need to resist
// chosen collisions.
use foldhash::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use rusqlite::{Connection, params};
use tracker_core::{AgentState, CompanyId, Error, UserId};

use crate::codec::{R, int, ts};
use crate::contexts::ContextCache;
use crate::engine::{CommitOutcome, Deferred, Engine, in_savepoint};
use crate::error::SqliteError;
use crate::sql::{count, exec};

type Key = (CompanyId, UserId);

/// Whether `user` is a user of `company`: who may heartbeat there.
fn user_of_company(c: &Connection, company: CompanyId, user: UserId) -> R<bool> {
    let known = count(
        c,
        "SELECT EXISTS (SELECT 1 FROM users WHERE company_id = ?1 AND id = ?2)",
        params![company.0, user.0],
    )?;
    Ok(known == 1)
}

/// Writes one agent state whose user is not known to be of its company:
/// `false` when it is not (nothing is written).
fn write_beat(c: &Connection, s: &AgentState) -> R<bool> {
    if !user_of_company(c, s.company_id, s.user_id)? {
        return Ok(false);
    }
    upsert_beat(c, s)?;
    Ok(true)
}

/// Writes one agent state: the agent's row, which is also the user's last
/// agent sync, and by trigger the company's last sync (migration 4).
fn upsert_beat(c: &Connection, s: &AgentState) -> R<()> {
    // `VALUES`, not a `SELECT` with the check of `write_beat`: SQLite would
    // copy that into a temporary table first.
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
    Ok(())
}

/// What [`Beats::hold`] did.
enum Hold {
    /// Held; `first`: nothing was held before, so the writer must be told
    /// (see [`Engine::wake`]). `committed`: when the caller answers after
    /// the commit (no delay), what tells it the commit's outcome.
    ///
    /// [`Engine::wake`]: crate::engine::Engine::wake
    Held {
        first: bool,
        committed: Option<Committed>,
    },
    /// The user is not of the company: nothing was held.
    NotOfCompany,
    /// The contexts in memory do not tell: check the database, then hold it
    /// as checked.
    Unknown(AgentState),
}

/// The outcome of the commit that wrote a heartbeat.
type Committed = oneshot::Receiver<CommitOutcome>;
type Waiter = oneshot::Sender<CommitOutcome>;

/// Least wait before heartbeats whose write failed are tried again, so
/// that a full disk is not retried in a loop.
const RETRY_AFTER: Duration = Duration::from_millis(50);

/// The heartbeats held until the writer takes them.
pub(crate) struct Beats {
    held: Mutex<Held>,
    /// Heartbeats acknowledged so far; moves under the lock of `held`.
    acked: AtomicU64,
    /// What the writer took and has not seen commit; only the writer
    /// thread touches it.
    in_flight: Mutex<Taken>,
    /// How long a heartbeat may wait for its write; zero: its caller waits
    /// for the commit, and the writer writes it at once.
    delay: Duration,
}

#[derive(Default)]
struct Held {
    taken: Taken,
    /// When the held heartbeats must be written.
    due: Option<Instant>,
}

/// Heartbeats, and the callers waiting for their commit.
#[derive(Default)]
struct Taken {
    rows: HashMap<Key, AgentState>,
    waiting: Vec<Waiter>,
}

impl Beats {
    pub(crate) fn new(delay: Duration) -> Self {
        Self {
            held: Mutex::default(),
            acked: AtomicU64::new(0),
            in_flight: Mutex::default(),
            delay,
        }
    }

    /// Whether callers are answered after the commit (no delay).
    fn answers_after_commit(&self) -> bool {
        self.delay.is_zero()
    }

    /// Records a heartbeat (`AgentStore::record_heartbeat`): held if the
    /// token contexts in memory show its user to be of its company;
    /// otherwise checked by the database first, or, when its caller waits
    /// for the commit anyway, written by a job of its own that checks it.
    /// Answers once held, or after the commit that wrote it (no delay).
    pub(crate) async fn record(
        &self,
        engine: &Engine,
        contexts: &Arc<ContextCache>,
        state: AgentState,
    ) -> tracker_core::Result<()> {
        let (company, user, at) = (state.company_id, state.user_id, state.last_heartbeat_at);
        // Checked now, written with the writer's next group.
        let held = match self.hold(state, contexts, false) {
            Hold::Unknown(s) if self.answers_after_commit() => {
                // Checked by the write itself, a job of its own, as the
                // contexts in memory do not tell (a caller that did not
                // look its token up first): no lookup ahead of it.
                let contexts = Arc::clone(contexts);
                return engine
                    .write_statement(
                        move |c| match write_beat(c, &s)? {
                            true => Ok(()),
                            false => Err(Error::not_found("user")),
                        },
                        move |()| contexts.heartbeat(company, user, at),
                    )
                    .await;
            }
            Hold::Unknown(s) => {
                let known = engine
                    .point_unsettled(move |c| user_of_company(c, company, user))
                    .await?;
                match known {
                    true => self.hold(s, contexts, true),
                    false => Hold::NotOfCompany,
                }
            }
            held => held,
        };
        let Hold::Held { first, committed } = held else {
            return Err(Error::not_found("user"));
        };
        if first {
            engine.wake();
        }
        match committed {
            None => Ok(()),
            Some(committed) => match committed.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(SqliteError::Commit(e).into()),
                Err(_) => Err(SqliteError::Closed.into()),
            },
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        // Each statement under the lock leaves it consistent: a panic
        // elsewhere cannot leave it half-written.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds a heartbeat and patches the token contexts in memory with it,
    /// if the user is of the company: known to be (`checked`, from the
    /// database), or shown to be by the rows the contexts hold.
    fn hold(&self, state: AgentState, contexts: &ContextCache, checked: bool) -> Hold {
        let (company, user, at) = (state.company_id, state.user_id, state.last_heartbeat_at);
        let mut held = self.held();
        // Counted before the contexts are patched (under their lock when they
        // are asked): a lookup that misses after the patch then finds the
        // count moved, and waits for the write before it reads the
        // database.
        let count = || {
            self.acked.fetch_add(1, Ordering::AcqRel);
        };
        let recorded = if checked {
            count();
            contexts.heartbeat(company, user, at);
            Some(true)
        } else {
            contexts.heartbeat_if_known(company, user, at, count)
        };
        match recorded {
            Some(true) => {
                // Under the same lock as the count, so the writer takes
                // every heartbeat counted, with its waiting caller.
                let first = held.due.is_none();
                held.taken.rows.insert((company, user), state);
                held.due.get_or_insert_with(|| Instant::now() + self.delay);
                let committed = self.delay.is_zero().then(|| {
                    let (tx, rx) = oneshot::channel();
                    held.taken.waiting.push(tx);
                    rx
                });
                Hold::Held { first, committed }
            }
            Some(false) => Hold::NotOfCompany,
            None => Hold::Unknown(state),
        }
    }

    /// Holds again what a failed write took, behind anything held since
    /// (which is newer), and waits before the next try. Its callers are
    /// told of the failure: a heartbeat answered with an error may still
    /// be written, as the retry of any failed write may be.
    fn restore(&self, taken: Taken, outcome: &CommitOutcome) {
        for waiter in taken.waiting {
            let _ = waiter.send(outcome.clone());
        }
        if taken.rows.is_empty() {
            return;
        }
        let mut held = self.held();
        for (key, state) in taken.rows {
            held.taken.rows.entry(key).or_insert(state);
        }
        held.due = Some(Instant::now() + self.delay.max(RETRY_AFTER));
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, Taken> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Deferred for Beats {
    fn due(&self) -> Option<Instant> {
        self.held().due
    }

    fn acked(&self) -> u64 {
        self.acked.load(Ordering::Acquire)
    }

    fn write(&self, conn: &Connection) -> Option<u64> {
        let (taken, acked) = {
            let mut held = self.held();
            held.due = None;
            // Read under the lock: every heartbeat counted is in `taken`
            // or was taken before.
            (std::mem::take(&mut held.taken), self.acked())
        };
        if taken.rows.is_empty() {
            // Every heartbeat counted was taken by an earlier group, whose
            // commit came before this group.
            return Some(acked);
        }
        // In time order, as they were held, so the company's sync moves as
        // the contexts in memory saw it move. Not checked again: a held
        // heartbeat's user was found in its company before it was held, and
        // users are deactivated, never deleted.
        let mut order: Vec<&AgentState> = taken.rows.values().collect();
        order.sort_by_key(|s| s.last_heartbeat_at);
        let wrote = in_savepoint(conn, |c| order.iter().try_for_each(|s| upsert_beat(c, s)));
        match wrote {
            Ok(()) => {
                *self.in_flight() = taken;
                Some(acked)
            }
            Err(_) => {
                self.restore(taken, &Err(Arc::new(SqliteError::Deferred)));
                None
            }
        }
    }

    fn postponed(&self, failure: &Arc<SqliteError>) {
        let waiting = {
            let mut held = self.held();
            if held.due.is_none() {
                return;
            }
            held.due = Some(Instant::now() + self.delay.max(RETRY_AFTER));
            std::mem::take(&mut held.taken.waiting)
        };
        for waiter in waiting {
            let _ = waiter.send(Err(Arc::clone(failure)));
        }
    }

    fn settled(&self, outcome: &CommitOutcome) {
        let taken = std::mem::take(&mut *self.in_flight());
        match outcome {
            Ok(()) => {
                for waiter in taken.waiting {
                    let _ = waiter.send(Ok(()));
                }
            }
            Err(_) => self.restore(taken, outcome),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn state(company: CompanyId, user: UserId, n: u64) -> AgentState {
        AgentState {
            company_id: company,
            user_id: user,
            last_heartbeat_at: chrono::DateTime::UNIX_EPOCH + chrono::Duration::seconds(n as i64),
            policy_version: Some(n),
            agent_version: None,
        }
    }

    fn held(beats: &Beats, s: AgentState, contexts: &ContextCache) -> Committed {
        match beats.hold(s, contexts, true) {
            Hold::Held {
                committed: Some(committed),
                ..
            } => committed,
            _ => panic!("held, with its caller waiting for the commit"),
        }
    }

    fn on_disk(c: &Connection) -> Vec<i64> {
        let mut stmt = c
            .prepare("SELECT policy_version FROM agent_states")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// With no delay each caller hears how the commit of its heartbeat
    /// went; what failed is held again (behind anything newer) and written
    /// by a later group.
    #[test]
    fn callers_hear_how_their_commit_went_and_failures_are_tried_again() {
        let (company, user) = (CompanyId::new(), UserId::new());
        let c = Connection::open_in_memory().unwrap();
        // The columns the heartbeat's write uses; a trigger refuses writes.
        c.execute_batch(
            "CREATE TABLE users (company_id BLOB, id BLOB, PRIMARY KEY (company_id, id));
             CREATE TABLE agent_states (company_id BLOB, user_id BLOB, last_heartbeat_at INTEGER,
               policy_version INTEGER, agent_version TEXT, PRIMARY KEY (company_id, user_id));
             CREATE TRIGGER refuse BEFORE INSERT ON agent_states
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
        c.execute(
            "INSERT INTO users VALUES (?1, ?2)",
            params![company.0, user.0],
        )
        .unwrap();
        let contexts = ContextCache::new(Arc::new(AtomicU64::new(0)));
        let beats = Beats::new(Duration::ZERO);

        // The write fails: the caller is told, the heartbeat waits again.
        let first = held(&beats, state(company, user, 1), &contexts);
        assert!(
            beats.due().is_some_and(|due| due <= Instant::now()),
            "due at once"
        );
        c.execute_batch("BEGIN").unwrap();
        assert_eq!(beats.write(&c), None);
        c.execute_batch("COMMIT").unwrap();
        assert!(block_on(first).unwrap().is_err());
        assert!(
            beats.due().is_some_and(|due| due > Instant::now()),
            "not tried again at once"
        );

        // The write goes through but its commit fails: the caller is told.
        c.execute_batch("DROP TRIGGER refuse").unwrap();
        let second = held(&beats, state(company, user, 2), &contexts);
        c.execute_batch("BEGIN").unwrap();
        assert_eq!(beats.write(&c), Some(2), "both counted ones are taken");
        c.execute_batch("ROLLBACK").unwrap();
        beats.settled(&Err(Arc::new(SqliteError::RolledBack)));
        assert!(block_on(second).unwrap().is_err());
        assert!(on_disk(&c).is_empty());

        // The next heartbeat replaces what waits, and its commit answers it.
        let third = held(&beats, state(company, user, 3), &contexts);
        c.execute_batch("BEGIN").unwrap();
        assert_eq!(beats.write(&c), Some(3));
        c.execute_batch("COMMIT").unwrap();
        beats.settled(&Ok(()));
        assert!(block_on(third).unwrap().is_ok());
        assert_eq!(on_disk(&c), vec![3]);
        assert_eq!(beats.due(), None, "nothing waits");
    }

    /// Above zero, a heartbeat is answered once held, and waits its delay.
    #[test]
    fn with_a_delay_a_heartbeat_is_answered_when_held() {
        let contexts = ContextCache::new(Arc::new(AtomicU64::new(0)));
        let beats = Beats::new(Duration::from_secs(60));
        let s = state(CompanyId::new(), UserId::new(), 1);
        match beats.hold(s, &contexts, true) {
            Hold::Held {
                first: true,
                committed: None,
            } => {}
            _ => panic!("held and answered"),
        }
        assert!(
            beats
                .due()
                .is_some_and(|due| due > Instant::now() + Duration::from_secs(30))
        );
    }
}
