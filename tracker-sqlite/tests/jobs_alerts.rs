//! Jobs and alerts on SQLite beyond the conformance kit: rollups of kept
//! days after a purge cut inside them, usage marks committed with (only
//! with) their data, and the upgrade of a schema 1 database.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use futures::executor::block_on;
use tracker_core::store::{
    AlertStore, DayRollup, PurgeBatch, RetentionStore, TrackingStore, UsageStore,
};
use tracker_core::testkit::insert_events;
use tracker_core::*;
use tracker_sqlite::{SCHEMA_VERSION, SqliteStore};

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, day, hour, minute, 0)
        .single()
        .unwrap()
}

fn event(
    company: CompanyId,
    user: UserId,
    start: DateTime<Utc>,
    minutes: u32,
    kind: ActivityKind,
) -> ActivityEvent {
    ActivityEvent {
        id: ActivityId::new(),
        company_id: company,
        user_id: user,
        session_id: None,
        started_at: start,
        duration_seconds: minutes * 60,
        kind,
        app: None,
        window_title: None,
        url: None,
    }
}

fn rollup(store: &SqliteStore, company: CompanyId, user: UserId) -> Vec<DayRollup> {
    let users = Some([user].into());
    block_on(store.day_rollups(company, users.as_ref(), NaiveDate::MIN, NaiveDate::MAX))
        .unwrap()
        .unwrap()
}

/// A purge whose cutoff is not the start of `before_date` deletes events of
/// that kept day: its rollup rows are rebuilt from the events left.
#[test]
fn a_purge_cut_inside_a_kept_day_rebuilds_its_rollups() {
    let store = SqliteStore::open_in_memory().unwrap();
    // No company row: days are cut in UTC.
    let c = CompanyId::new();
    let (kept, emptied, overlapped) = (UserId::new(), UserId::new(), UserId::new());
    use ActivityKind::{Active, Idle};
    let events = vec![
        event(c, kept, at(5, 10, 0), 10, Active),
        event(c, kept, at(6, 1, 0), 10, Active),
        event(c, kept, at(6, 9, 0), 10, Idle),
        event(c, emptied, at(6, 2, 0), 5, Active),
        event(c, overlapped, at(6, 1, 0), 10, Active),
        event(c, overlapped, at(6, 1, 5), 10, Active),
        event(c, overlapped, at(6, 10, 0), 5, Active),
    ];
    block_on(insert_events(&store, c, &events)).unwrap();
    assert!(
        !rollup(&store, c, overlapped)[0].exact,
        "overlap seen at ingest"
    );

    let batch = PurgeBatch {
        before: at(6, 5, 0),
        before_date: NaiveDate::from_ymd_opt(2026, 5, 6).unwrap(),
        screenshots: vec![],
        limit: 100,
        started_at: at(20, 0, 0),
        user: None,
        keep: Default::default(),
        personal: false,
        screenshots_before: None,
        sessions_before: None,
        details_before: None,
    };
    let counts = block_on(store.purge_tracking(c, &batch)).unwrap();
    assert_eq!(counts.events, 5);
    assert_eq!(counts.daily_rows, 1, "the May 5 row of `kept`");

    assert_eq!(
        rollup(&store, c, kept),
        vec![DayRollup {
            user_id: kept,
            date: batch.before_date,
            active_seconds: 0,
            idle_seconds: 600,
            first_seen: Some(at(6, 9, 0)),
            last_seen: Some(at(6, 9, 10)),
            exact: true,
        }],
        "only the event left counts"
    );
    assert!(
        rollup(&store, c, emptied).is_empty(),
        "a day left without events has no row"
    );
    let o = rollup(&store, c, overlapped);
    assert_eq!((o.len(), o[0].active_seconds, o[0].exact), (1, 300, true));
}

/// Ingest marks commit with the rows that caused them: a refused screenshot
/// marks nothing, a replayed batch bumps nothing, new data bumps the version.
#[test]
fn usage_marks_follow_only_stored_rows() {
    let store = SqliteStore::open_in_memory().unwrap();
    let c = CompanyId::new();
    let u = UserId::new();
    let shot = Screenshot {
        id: ScreenshotId::new(),
        company_id: c,
        user_id: u,
        taken_at: at(9, 12, 0),
        size_bytes: 100,
        sha256: "ab".repeat(32),
        content_type: "image/png".into(),
        blurred: false,
        blob_key: "k".into(),
    };
    let refused = block_on(store.insert_screenshot(&shot, 10));
    assert!(refused.is_err());
    assert!(block_on(store.pending_usage_days(c)).unwrap().is_empty());

    let batch = vec![event(c, u, at(4, 8, 0), 10, ActivityKind::Active)];
    block_on(insert_events(&store, c, &batch)).unwrap();
    block_on(insert_events(&store, c, &batch)).unwrap();
    let first = block_on(store.pending_usage_days(c)).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].version, 1, "a replay marks nothing");
    block_on(insert_events(
        &store,
        c,
        &[event(c, u, at(4, 9, 0), 10, ActivityKind::Active)],
    ))
    .unwrap();
    assert_eq!(block_on(store.pending_usage_days(c)).unwrap()[0].version, 2);
}

/// A database written by schema 1 opens, gets the new tables, keeps its rows.
#[test]
fn a_schema_1_database_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.db");
    let c = CompanyId::new();
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(include_str!("../migrations/001_initial.sql"))
            .unwrap();
        raw.execute(
            "INSERT INTO work_sessions (company_id, id, user_id, started_at) VALUES (?1, ?2, ?3, 0)",
            rusqlite::params![c.0, WorkSessionId::new().0, UserId::new().0],
        )
        .unwrap();
        raw.pragma_update(None, "user_version", 1).unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(block_on(store.open_sessions(c)).unwrap().len(), 1);
    let alert = Alert {
        id: AlertId::new(),
        kind: AlertKind::NoSync,
        company_id: c,
        user_id: None,
        message: "no sync".into(),
        details: serde_json::json!({}),
        raised_at: at(4, 8, 0),
        resolved_at: None,
    };
    assert!(block_on(store.open_alert(&alert)).unwrap().inserted);
    drop(store);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION as i64);
}
