//! What only a real SQLite file can show: durability across reopen,
//! append-only audit rows at the database level, and clear errors for bad
//! database states.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use futures::executor::block_on;
use tracker_core::audit::{Actor, AuditAction, AuditChain, NewAuditEvent};
use tracker_core::identity::TokenRecord;
use tracker_core::secret::SecretHash;
use tracker_core::store::{AgentStore, AuditStore, TenantStore, TrackingStore, UserStore};
use tracker_core::tenancy::NewPlan;
use tracker_core::testkit::insert_events;
use tracker_core::*;
use tracker_sqlite::{SCHEMA_VERSION, SqliteError, SqliteOptions, SqliteStore};

fn event(chain: AuditChain, n: u32) -> NewAuditEvent {
    NewAuditEvent {
        chain,
        actor: Actor::System,
        action: AuditAction::PlanCreated,
        description: format!("event {n}"),
        details: serde_json::json!({ "n": n }),
        client_ip: None,
        at: Utc::now(),
    }
}

fn activity(company: CompanyId, user: UserId, n: i64) -> ActivityEvent {
    ActivityEvent {
        id: ActivityId::new(),
        company_id: company,
        user_id: user,
        session_id: None,
        started_at: clock::normalize(Utc::now() - Duration::minutes(n)),
        duration_seconds: 30,
        kind: ActivityKind::Active,
        app: Some("editor".into()),
        window_title: None,
        url: None,
    }
}

#[test]
fn acknowledged_writes_survive_drop_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.db");
    let company = CompanyId::new();
    let user = UserId::new();
    let events: Vec<ActivityEvent> = (0..500).map(|n| activity(company, user, n)).collect();
    {
        let store = SqliteStore::open(&path).unwrap();
        let n = block_on(insert_events(&store, company, &events)).unwrap();
        assert_eq!(n.inserted, 500);
        for i in 0..10 {
            block_on(store.append_audit(event(AuditChain::Platform, i))).unwrap();
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    let stored = block_on(store.activity_between(
        company,
        None,
        Utc::now() - Duration::days(1),
        Utc::now() + Duration::days(1),
    ))
    .unwrap();
    assert_eq!(stored.len(), 500);
    let mut expected: Vec<_> = events.iter().map(|e| (e.started_at, e.id)).collect();
    expected.sort();
    let got: Vec<_> = stored.iter().map(|e| (e.started_at, e.id)).collect();
    assert_eq!(got, expected);
    let chain = block_on(store.read_chain(AuditChain::Platform, 0, 100)).unwrap();
    assert_eq!(
        tracker_core::audit::verify(AuditChain::Platform, &chain),
        Ok(10)
    );
    // A replayed batch after the reopen is still recognised.
    let again = block_on(insert_events(&store, company, &events)).unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 500));
}

#[test]
fn audit_rows_cannot_be_updated_or_deleted_with_raw_sql() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        for i in 0..3 {
            block_on(store.append_audit(event(AuditChain::Platform, i))).unwrap();
        }
    }
    let raw = rusqlite::Connection::open(&path).unwrap();
    let err = raw
        .execute(
            "UPDATE audit_events SET description = 'nothing happened'",
            [],
        )
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = raw.execute("DELETE FROM audit_events", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let n: i64 = raw
        .query_row("SELECT count(*) FROM audit_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
}

fn expect_err(r: Result<SqliteStore, SqliteError>) -> SqliteError {
    match r {
        Ok(_) => panic!("the store opened"),
        Err(e) => e,
    }
}

#[test]
fn a_database_of_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.db");
    drop(SqliteStore::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", SCHEMA_VERSION as i64 + 1)
        .unwrap();
    drop(raw);
    let err = expect_err(SqliteStore::open(&path));
    assert!(matches!(err, SqliteError::SchemaTooNew), "{err:?}");
    assert!(err.to_string().contains("newer"));
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let err = expect_err(SqliteStore::open(&path));
    assert!(matches!(err, SqliteError::NotADatabase { .. }), "{err:?}");
    assert!(err.to_string().contains("not a SQLite database"));
    // And nothing was written over it.
    assert_eq!(std::fs::read(&path).unwrap(), vec![b'x'; 8192]);
}

#[test]
fn a_missing_directory_is_a_clear_open_error() {
    let err = expect_err(SqliteStore::open("/nonexistent-dir/for/sure/tracker.db"));
    assert!(matches!(err, SqliteError::Open { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("/nonexistent-dir/for/sure/tracker.db")
    );
}

#[test]
fn a_full_database_fails_writes_and_keeps_what_it_had() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        max_db_mib: Some(1),
        ..Default::default()
    };
    let store = SqliteStore::open_with(dir.path().join("tracker.db"), &options).unwrap();
    let company = CompanyId::new();
    let user = UserId::new();
    let mut stored = 0u64;
    let mut failure = None;
    for _ in 0..200 {
        let mut batch: Vec<ActivityEvent> = (0..100).map(|n| activity(company, user, n)).collect();
        for e in &mut batch {
            e.window_title = Some("w".repeat(200));
        }
        match block_on(insert_events(&store, company, &batch)) {
            Ok(n) => stored += n.inserted,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let err = failure.expect("a 1 MiB database fills up");
    assert_eq!(err.code(), "storage");
    let chain = chain_text(&err);
    assert!(
        chain.contains("disk holding the SQLite database is full"),
        "{chain}"
    );
    // The failed batch was rolled back whole; earlier ones are intact.
    let all = block_on(store.activity_between(
        company,
        None,
        Utc::now() - Duration::days(1),
        Utc::now() + Duration::days(1),
    ))
    .unwrap();
    assert_eq!(all.len() as u64, stored);
    assert!(stored > 0);
}

fn chain_text(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// Makes `path` unwritable even for root (immutable attribute) or, failing
/// that, by permissions. Returns false if neither works here.
fn make_read_only(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444));
    if std::fs::OpenOptions::new().append(true).open(path).is_err() {
        return true;
    }
    let ok = std::process::Command::new("chattr")
        .arg("+i")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    ok && std::fs::OpenOptions::new().append(true).open(path).is_err()
}

fn undo_read_only(path: &Path) {
    let _ = std::process::Command::new("chattr")
        .arg("-i")
        .arg(path)
        .status();
}

#[test]
fn a_read_only_database_gives_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.db");
    let plan = NewPlan::defaults()[0].clone().into_plan();
    {
        let store = SqliteStore::open(&path).unwrap();
        block_on(store.insert_plan(&plan, event(AuditChain::Platform, 0))).unwrap();
    }
    if !make_read_only(&path) {
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot make a file read-only on this machine"
        );
        eprintln!("skipped: cannot make a file read-only here");
        return;
    }
    let outcome = SqliteStore::open(&path);
    let result = match outcome {
        Err(e) => {
            // Refused at open: the error says why.
            let text = e.to_string();
            assert!(
                matches!(
                    e,
                    SqliteError::ReadOnly | SqliteError::Open { .. } | SqliteError::Sqlite(_)
                ),
                "{e:?}"
            );
            assert!(!text.is_empty());
            None
        }
        Ok(store) => {
            // Opened: reads work, writes fail cleanly.
            assert_eq!(
                block_on(store.get_plan(plan.id)).unwrap(),
                Some(plan.clone())
            );
            let other = NewPlan::defaults()[1].clone().into_plan();
            let err =
                block_on(store.insert_plan(&other, event(AuditChain::Platform, 1))).unwrap_err();
            Some(err.code())
        }
    };
    undo_read_only(&path);
    if let Some(code) = result {
        assert_eq!(code, "storage");
    }
    // Nothing was lost: the file opens normally again.
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(block_on(store.list_plans()).unwrap().len(), 1);
    assert!(block_on(store.has_owner()).is_ok());
}

/// A store in a new file, with a company and its employee bob.
fn store_with_bob(
    options: &SqliteOptions,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    SqliteStore,
    CompanyId,
    User,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.db");
    let store = SqliteStore::open_with(&path, options).unwrap();
    let fixture = block_on(tracker_core::testkit::company(&store, 10, 0));
    let company = fixture.company.id;
    let bob = tracker_core::testkit::new_user(Some(company), "bob", Role::Employee);
    block_on(store.insert_user(&bob, None, event(AuditChain::Company(company), 1))).unwrap();
    (dir, path, store, company, bob)
}

/// Gives `user` a token and looks it up, as a request does first: the
/// store then knows the user from memory.
fn look_up_a_token_of(store: &SqliteStore, company: CompanyId, user: UserId) {
    let hash = SecretHash::of(&format!("tk_{}", user.0));
    let token = TokenRecord {
        hash: hash.clone(),
        user_id: user,
        company_id: Some(company),
        created_at: Utc::now(),
        expires_at: Utc::now() + Duration::days(1),
    };
    block_on(store.insert_token(&token, event(AuditChain::Company(company), 0))).unwrap();
    assert!(block_on(store.token_context(&hash)).unwrap().is_some());
}

/// Sixteen agents of one company heartbeat fifty times each, at once; the
/// store is closed and opened again. Half of them had their token looked
/// up first, as a request does, so the store knows them from memory; the
/// others are checked by the database. `on_ack`: each heartbeat is in the
/// file, as another connection reads it, when its call returns.
fn concurrent_heartbeats_survive_close(options: &SqliteOptions, on_ack: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.db");
    let store = SqliteStore::open_with(&path, options).unwrap();
    let fixture = block_on(tracker_core::testkit::company(&store, 100, 0));
    let company = fixture.company.id;
    let users: Vec<UserId> = (0..16)
        .map(|i| {
            let u = tracker_core::testkit::new_user(
                Some(company),
                &format!("agent{i:02}"),
                Role::Employee,
            );
            block_on(store.insert_user(&u, None, event(AuditChain::Company(company), i))).unwrap();
            if i % 2 == 0 {
                look_up_a_token_of(&store, company, u.id);
            }
            u.id
        })
        .collect();
    let base = clock::normalize(Utc::now());
    std::thread::scope(|s| {
        for &user in &users {
            let (store, path) = (&store, &path);
            s.spawn(move || {
                let raw = rusqlite::Connection::open(path).unwrap();
                for n in 0..50 {
                    block_on(store.record_heartbeat(&beat(company, user, base, n))).unwrap();
                    if on_ack {
                        let on_disk: i64 = raw
                            .query_row(
                                "SELECT policy_version FROM agent_states WHERE user_id = ?1",
                                [user.0],
                                |r| r.get(0),
                            )
                            .unwrap();
                        assert_eq!(on_disk, n, "committed before it was answered");
                    }
                }
            });
        }
    });
    drop(store);
    // Every acknowledged heartbeat is on disk: the last one of each caller wins.
    let store = SqliteStore::open(&path).unwrap();
    let states = block_on(store.list_agent_states(company)).unwrap();
    assert_eq!(states.len(), 16);
    for s in states {
        assert_eq!(s.last_heartbeat_at, base + Duration::seconds(49));
        assert_eq!(s.policy_version, Some(49));
    }
}

fn beat(company: CompanyId, user: UserId, base: DateTime<Utc>, n: i64) -> AgentState {
    AgentState {
        company_id: company,
        user_id: user,
        last_heartbeat_at: base + Duration::seconds(n),
        policy_version: Some(n as u64),
        agent_version: None,
    }
}

fn holding() -> SqliteOptions {
    SqliteOptions {
        heartbeat_delay: std::time::Duration::from_millis(50),
        ..Default::default()
    }
}

#[test]
fn concurrent_heartbeats_are_all_committed_when_acknowledged() {
    assert!(
        SqliteOptions::default().heartbeat_delay.is_zero(),
        "the default"
    );
    concurrent_heartbeats_survive_close(&SqliteOptions::default(), true);
}

#[test]
fn concurrent_held_heartbeats_are_all_written_by_close() {
    concurrent_heartbeats_survive_close(&holding(), false);
}

/// While another connection holds the file's write lock, a heartbeat
/// whose caller waits for its commit is answered with an error (not left
/// waiting, with the writer retrying in a loop), and is written once the
/// lock is free.
#[test]
fn a_heartbeat_that_cannot_begin_is_answered_with_an_error() {
    let options = SqliteOptions {
        busy_timeout: std::time::Duration::from_millis(50),
        ..Default::default()
    };
    let (_dir, path, store, company, bob) = store_with_bob(&options);
    // Looked up as a request does, so the heartbeat is held, not queued.
    look_up_a_token_of(&store, company, bob.id);
    let base = clock::normalize(Utc::now());

    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let store = &store;
        s.spawn(move || {
            let _ = tx.send(block_on(
                store.record_heartbeat(&beat(company, bob.id, base, 1)),
            ));
        });
        // A guard against a hang, not a timing: the answer takes about
        // the busy timeout.
        let answer = rx.recv_timeout(std::time::Duration::from_secs(60));
        // Freed before any check fails, so a caller left waiting ends.
        raw.execute_batch("COMMIT").unwrap();
        let err = answer
            .expect("answered, not left waiting")
            .expect_err("the file is locked");
        assert_eq!(err.code(), "storage");
    });
    // Held again, it is written with the next write.
    block_on(store.record_heartbeat(&beat(company, bob.id, base, 2))).unwrap();
    assert_eq!(
        heartbeats_on_disk(&raw),
        vec![((base + Duration::seconds(2)).timestamp_micros(), 2)]
    );
}

/// Heartbeats in the file, as another connection reads it.
fn heartbeats_on_disk(raw: &rusqlite::Connection) -> Vec<(i64, i64)> {
    let mut stmt = raw
        .prepare("SELECT last_heartbeat_at, policy_version FROM agent_states")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A held heartbeat is not in the file yet, yet every read of the store
/// sees it, and the read leaves it committed.
#[test]
fn reads_see_held_heartbeats_at_once() {
    let options = SqliteOptions {
        // Longer than the test: only a read or a close writes it.
        heartbeat_delay: std::time::Duration::from_secs(3600),
        ..Default::default()
    };
    let (_dir, path, store, company, bob) = store_with_bob(&options);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let base = clock::normalize(Utc::now());

    block_on(store.record_heartbeat(&beat(company, bob.id, base, 1))).unwrap();
    assert!(heartbeats_on_disk(&raw).is_empty(), "held, not written");
    let user = block_on(store.get_user(Some(company), bob.id))
        .unwrap()
        .unwrap();
    assert_eq!(user.last_agent_sync_at, Some(base + Duration::seconds(1)));
    assert_eq!(heartbeats_on_disk(&raw).len(), 1, "the read wrote it first");

    // The next one replaces it, and a list sees that one.
    block_on(store.record_heartbeat(&beat(company, bob.id, base, 2))).unwrap();
    block_on(store.record_heartbeat(&beat(company, bob.id, base, 3))).unwrap();
    let states = block_on(store.list_agent_states(company)).unwrap();
    assert_eq!(states, vec![beat(company, bob.id, base, 3)]);
    let synced = block_on(store.get_company(company)).unwrap().unwrap();
    assert_eq!(synced.last_sync_at, Some(base + Duration::seconds(3)));

    // Closing writes what is held.
    block_on(store.record_heartbeat(&beat(company, bob.id, base, 9))).unwrap();
    drop(store);
    let on_disk = heartbeats_on_disk(&raw);
    assert_eq!(on_disk.len(), 1);
    assert_eq!(on_disk[0].1, 9);
}

/// Nothing else writing or reading, a held heartbeat reaches the file by
/// itself.
#[test]
fn held_heartbeats_are_written_within_the_delay() {
    let (_dir, path, store, company, bob) = store_with_bob(&holding());
    let raw = rusqlite::Connection::open(&path).unwrap();
    block_on(store.record_heartbeat(&beat(company, bob.id, Utc::now(), 0))).unwrap();
    // Polled, not timed: the delay is 50 ms.
    let mut written = heartbeats_on_disk(&raw);
    for _ in 0..600 {
        if !written.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        written = heartbeats_on_disk(&raw);
    }
    assert_eq!(written.len(), 1, "the writer wrote it by itself");
    drop(store);
}

#[test]
fn concurrent_audit_appends_never_fork_a_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("tracker.db")).unwrap();
    let chain = AuditChain::Company(CompanyId::new());
    std::thread::scope(|s| {
        for t in 0..8u32 {
            let store = &store;
            s.spawn(move || {
                for n in 0..25 {
                    block_on(store.append_audit(event(chain, t * 100 + n))).unwrap();
                }
            });
        }
    });
    let events = block_on(store.read_chain(chain, 0, 1_000)).unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=200).collect::<Vec<_>>(),
        "no gaps, no duplicates"
    );
    assert_eq!(tracker_core::audit::verify(chain, &events), Ok(200));
}

/// Committed writes reach the database file itself, not only the WAL,
/// without the writer checkpointing (its backstop is thousands of pages
/// away): a copy of the main file alone, without its WAL, holds them.
#[test]
fn the_checkpointer_copies_commits_into_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.db");
    let store = SqliteStore::open(&path).unwrap();
    let company = CompanyId::new();
    let user = UserId::new();
    let batch: Vec<ActivityEvent> = (0..50).map(|n| activity(company, user, n)).collect();
    block_on(insert_events(&store, company, &batch)).unwrap();

    let copy = dir.path().join("copy.db");
    let mut found = 0;
    // Polled, not timed: the checkpointer runs within 100 ms of a commit
    // on any machine that is not stalled.
    for _ in 0..600 {
        std::fs::copy(&path, &copy).unwrap();
        let raw = rusqlite::Connection::open(&copy).unwrap();
        found = raw
            .query_row("SELECT count(*) FROM activity_events", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap_or(0);
        drop(raw);
        let _ = std::fs::remove_file(&copy);
        let _ = std::fs::remove_file(dir.path().join("copy.db-wal"));
        if found == 50 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(found, 50, "the main file holds the batch");
}

#[test]
fn a_token_deleted_by_another_connection_stops_authenticating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.db");
    let store = SqliteStore::open(&path).unwrap();
    let token = tracker_core::identity::TokenRecord {
        hash: tracker_core::secret::SecretHash::of("tk_shared_file"),
        user_id: UserId::new(),
        company_id: None,
        created_at: Utc::now(),
        expires_at: Utc::now() + Duration::days(1),
    };
    block_on(store.insert_token(&token, event(AuditChain::Platform, 0))).unwrap();
    // Asked twice: the second answer may come from the store's memory.
    for _ in 0..2 {
        assert!(
            block_on(store.token_context(&token.hash))
                .unwrap()
                .is_some()
        );
    }

    // Another process (here a plain connection) revokes it.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    let n = raw
        .execute("DELETE FROM tokens WHERE hash = ?1", [token.hash.as_str()])
        .unwrap();
    assert_eq!(n, 1);

    // Polled, not timed: the writer looks for other connections' commits
    // every 100 ms when idle.
    let mut owner = block_on(store.token_context(&token.hash)).unwrap();
    for _ in 0..600 {
        if owner.is_none() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        owner = block_on(store.token_context(&token.hash)).unwrap();
    }
    assert!(owner.is_none(), "the revocation reached the store");
}
