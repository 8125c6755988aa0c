//! The activity layout of schema 5 on disk: migration 5 on a database
//! written by schema 4 (events stored per company, as version 4 wrote
//! them, come out whole, with usage sums equal to the events and ids still
//! deduplicated), and the strings a purge leaves behind.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use futures::executor::block_on;
use tracker_core::report::{day_bounds, usage_by};
use tracker_core::store::{Store, TrackingFilter, TrackingStore};
use tracker_core::testkit::{AsStore, company, insert_events};
use tracker_core::*;
use tracker_sqlite::SqliteStore;

/// Schema 4's activity table, its indexes, and nothing of schemas 5 to 8.
const SCHEMA_4_ACTIVITY: &str = "
    DROP VIEW user_rows;
    ALTER TABLE users DROP COLUMN privacy;
    CREATE VIEW user_rows AS
    SELECT u.*, a.last_heartbeat_at AS last_agent_sync_at
    FROM users u
    LEFT JOIN agent_states a ON a.company_id = u.company_id AND a.user_id = u.id;
    ALTER TABLE companies DROP COLUMN legal_hold;
    ALTER TABLE policies DROP COLUMN privacy;
    ALTER TABLE policies DROP COLUMN revision;
    DROP TABLE access_log;
    ALTER TABLE purge_progress DROP COLUMN access_records;
    ALTER TABLE purge_progress DROP COLUMN details;
    DROP TABLE usage_mark_seq;
    DROP TABLE audit_checkpoints;
    DROP VIEW activity_events_by_id;
    DROP VIEW activity_events;
    DROP TABLE activity_usage;
    DROP TABLE activity;
    DROP TABLE activity_texts;
    DROP TABLE activity_owners;
    CREATE TABLE activity_events (
        company_id       BLOB NOT NULL,
        id               BLOB NOT NULL,
        user_id          BLOB NOT NULL,
        session_id       BLOB,
        started_at       INTEGER NOT NULL,
        duration_seconds INTEGER NOT NULL,
        kind             TEXT NOT NULL,
        app              TEXT,
        window_title     TEXT,
        url              TEXT
    );
    CREATE UNIQUE INDEX activity_events_key ON activity_events (company_id, id);
    CREATE INDEX activity_events_by_user ON activity_events (company_id, user_id, started_at, id, duration_seconds);
    PRAGMA user_version = 4;
";

/// Events of one user around local midnights (Europe/Berlin), with
/// repeated apps, titles and URLs, idle time and missing fields.
fn events(company: CompanyId, user: UserId, salt: i64) -> Vec<ActivityEvent> {
    let base = Utc.with_ymd_and_hms(2026, 5, 4, 20, 0, 0).single().unwrap();
    (0..200)
        .map(|n: i64| ActivityEvent {
            id: ActivityId::new(),
            company_id: company,
            user_id: user,
            session_id: None,
            started_at: base + Duration::minutes(n * 7 + salt),
            duration_seconds: 300 + (n % 5) as u32 * 60,
            kind: if n % 4 == 3 {
                ActivityKind::Idle
            } else {
                ActivityKind::Active
            },
            app: (n % 9 != 0).then(|| format!("app {}", n % 3)),
            window_title: Some(format!("title {}", n % 11)),
            url: (n % 2 == 0).then(|| format!("https://www.site{}.example/p/{n}", n % 4)),
        })
        .collect()
}

fn all_events(store: &SqliteStore, company: CompanyId) -> Vec<ActivityEvent> {
    block_on(tracker_core::store::collect_pages(|page| async move {
        store
            .list_activity(company, &TrackingFilter::default(), &page)
            .await
    }))
    .unwrap()
}

/// Rewrites the database's activity as schema 4 stored it.
fn back_to_schema_4(path: &Path, events: &[ActivityEvent]) {
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.execute_batch(SCHEMA_4_ACTIVITY).unwrap();
    let mut insert = raw
        .prepare(
            "INSERT INTO activity_events (company_id, id, user_id, session_id, started_at, duration_seconds, kind, app, window_title, url)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .unwrap();
    for e in events {
        insert
            .execute(rusqlite::params![
                e.company_id.as_uuid(),
                e.id.as_uuid(),
                e.user_id.as_uuid(),
                e.session_id.map(|s| s.as_uuid()),
                e.started_at.timestamp_micros(),
                e.duration_seconds,
                e.kind.as_str(),
                e.app,
                e.window_title,
                e.url
            ])
            .unwrap();
    }
}

#[test]
fn schema_4_activity_migrates_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.db");
    let store = SqliteStore::open(&path).unwrap();
    let (a, b) = block_on(async {
        (
            company(store.as_store(), 10, 1_000).await,
            company(store.as_store(), 10, 1_000).await,
        )
    });
    let theirs = events(b.company.id, b.admin.id, 3);
    let ours = events(a.company.id, a.admin.id, 0);
    block_on(insert_events(store.tracking(), a.company.id, &ours)).unwrap();
    block_on(insert_events(store.tracking(), b.company.id, &theirs)).unwrap();
    let rollups = |store: &SqliteStore| {
        block_on(store.day_rollups(a.company.id, None, NaiveDate::MIN, NaiveDate::MAX)).unwrap()
    };
    let before = (all_events(&store, a.company.id), rollups(&store));
    assert_eq!(before.0.len(), ours.len());
    drop(store);

    let everything: Vec<ActivityEvent> = before.0.iter().chain(&theirs).cloned().collect();
    back_to_schema_4(&path, &everything);
    let store = SqliteStore::open(&path).unwrap();

    assert_eq!(
        (all_events(&store, a.company.id), rollups(&store)),
        before,
        "every event and day rollup as before"
    );
    assert_eq!(all_events(&store, b.company.id).len(), theirs.len());
    let tz = a.company.tz();
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 5, d).unwrap();
    let me = BTreeSet::from([a.admin.id]);
    for (from, to) in [(day(4), day(4)), (day(5), day(5)), (day(4), day(6))] {
        for by_domain in [false, true] {
            let sums = block_on(store.usage_sums(a.company.id, Some(&me), from, to, by_domain))
                .unwrap()
                .expect("the SQLite store keeps usage sums");
            let got = report::usage_entries(sums.into_iter().map(|s| (s.name, s.active_micros)));
            let window = (day_bounds(tz, from).0, day_bounds(tz, to).1);
            assert_eq!(got, usage_by(&ours, window, by_domain), "{from}..{to}");
        }
    }
    let replay = block_on(insert_events(store.tracking(), a.company.id, &ours)).unwrap();
    assert_eq!((replay.inserted, replay.duplicates), (0, ours.len() as u64));
    let more = events(a.company.id, a.admin.id, 1_000_000);
    let n = block_on(insert_events(store.tracking(), a.company.id, &more)).unwrap();
    assert_eq!(
        n.inserted,
        more.len() as u64,
        "new events go in after the migration"
    );
}

/// The strings of purged events leave the database with them; those of
/// kept events stay.
#[test]
fn a_purge_takes_the_strings_only_purged_events_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.db");
    let store = SqliteStore::open(&path).unwrap();
    let a = block_on(company(store.as_store(), 10, 1_000));
    let c = a.company.id;
    let old = events(c, a.admin.id, 0);
    let kept = vec![ActivityEvent {
        id: ActivityId::new(),
        started_at: old[0].started_at + Duration::days(30),
        app: Some("kept app".into()),
        window_title: Some("kept title".into()),
        ..old[0].clone()
    }];
    let secret = ActivityEvent {
        id: ActivityId::new(),
        started_at: old[0].started_at - Duration::hours(1),
        window_title: Some("a title only this event had".into()),
        url: Some("https://private.example/only-here".into()),
        ..old[0].clone()
    };
    let all: Vec<ActivityEvent> = old.iter().chain(&kept).chain([&secret]).cloned().collect();
    block_on(insert_events(store.tracking(), c, &all)).unwrap();
    let before = kept[0].started_at - Duration::days(1);
    let batch = tracker_core::store::PurgeBatch {
        before,
        before_date: before.date_naive(),
        screenshots: Vec::new(),
        limit: 10_000,
        started_at: Utc::now(),
        user: None,
        keep: Default::default(),
        personal: false,
        screenshots_before: None,
        sessions_before: None,
        details_before: None,
    };
    let counts = block_on(store.retention().purge_tracking(c, &batch)).unwrap();
    assert_eq!(counts.events, old.len() as u64 + 1);
    let texts = |path: &Path| -> Vec<String> {
        let raw = rusqlite::Connection::open(path).unwrap();
        let mut stmt = raw
            .prepare("SELECT text FROM activity_texts ORDER BY text")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert!(
        texts(&path)
            .iter()
            .any(|t| t == "a title only this event had"),
        "strings go when the purge ends, not at each step"
    );
    let done = tracker_core::audit::NewAuditEvent {
        chain: tracker_core::audit::AuditChain::Company(c),
        actor: tracker_core::audit::Actor::System,
        action: tracker_core::audit::AuditAction::DataPurged,
        description: "purged".into(),
        details: serde_json::json!({}),
        client_ip: None,
        at: Utc::now(),
    };
    block_on(store.retention().finish_purge(c, done)).unwrap();
    drop(store);
    let texts = texts(&path);
    for gone in [
        "a title only this event had",
        "https://private.example/only-here",
        "private.example",
        "title 5",
    ] {
        assert!(
            !texts.iter().any(|t| t == gone),
            "{gone:?} stayed: {texts:?}"
        );
    }
    for stays in ["kept app", "kept title", "https://www.site0.example/p/0"] {
        assert!(
            texts.iter().any(|t| t == stays),
            "{stays:?} went: {texts:?}"
        );
    }
}
