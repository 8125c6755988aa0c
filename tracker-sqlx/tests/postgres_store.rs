//! What only a real PostgreSQL server can show: concurrent writers of one
//! audit chain, append-only audit rows at the database level, migrations in
//! the store's own schema, several nodes sharing one database, a write
//! rolled back whole when the server refuses its last statement, and clear
//! errors for bad settings. Each test runs in a schema of its own
//! (skipped without `DATABASE_URL`, failed without it under `CI=true`).

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use tracker_core::audit::{self, Actor, AuditAction, AuditChain, NewAuditEvent};
use tracker_core::store::{
    AgentStore, AlertStore, AuditStore, CompanyChange, CorrectionStore, Store, TenantStore,
    TrackingStore, UsageStore,
};
use tracker_core::testkit;
use tracker_core::*;
use tracker_sqlx::testing::TestStore;
use tracker_sqlx::{PgConfig, PgError, PgStore};

fn event(chain: AuditChain, n: u32) -> NewAuditEvent {
    NewAuditEvent {
        chain,
        actor: Actor::System,
        action: AuditAction::PlanCreated,
        description: format!("event {n}"),
        details: serde_json::json!({ "n": n }),
        client_ip: None,
        at: clock::normalize(Utc::now()),
    }
}

fn activity(
    company: CompanyId,
    user: UserId,
    start: chrono::DateTime<Utc>,
    secs: u32,
) -> ActivityEvent {
    ActivityEvent {
        id: ActivityId::new(),
        company_id: company,
        user_id: user,
        session_id: None,
        started_at: start,
        duration_seconds: secs,
        kind: ActivityKind::Active,
        app: Some("editor".into()),
        window_title: None,
        url: None,
    }
}

fn url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_default()
}

/// A second node on the same database and schema as `db`.
async fn second_node(db: &TestStore) -> PgStore {
    PgStore::connect(
        &url(),
        PgConfig {
            schema: db.schema().to_owned(),
            application_name: db.schema().to_owned(),
            ..PgConfig::default()
        },
    )
    .await
    .expect("second node")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_never_fork_a_chain() {
    let Some(db) = TestStore::new().await else {
        return;
    };
    let db = Arc::new(db);
    let chain = AuditChain::Company(CompanyId::new());
    let other = AuditChain::Company(CompanyId::new());
    let mut writers = Vec::new();
    for w in 0..8u32 {
        let db = Arc::clone(&db);
        writers.push(tokio::spawn(async move {
            for i in 0..25 {
                let e = db.append_audit(event(chain, w * 100 + i)).await.unwrap();
                assert_eq!(e.chain, chain);
                // Interleave another chain: heads are independent.
                if i % 5 == 0 {
                    db.append_audit(event(other, w * 100 + i)).await.unwrap();
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let events = db.read_chain(chain, 0, 1_000).await.unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>(), "no gap, no duplicate");
    assert_eq!(audit::verify(chain, &events), Ok(200));
    let theirs = db.read_chain(other, 0, 1_000).await.unwrap();
    assert_eq!(audit::verify(other, &theirs), Ok(40));
}

#[tokio::test]
async fn audit_rows_cannot_be_changed_or_removed() {
    let Some(db) = TestStore::new().await else {
        return;
    };
    let chain = AuditChain::Platform;
    for i in 0..3 {
        db.append_audit(event(chain, i)).await.unwrap();
    }
    for sql in [
        "UPDATE audit_events SET description = 'rewritten'",
        "DELETE FROM audit_events WHERE seq = 2",
        "TRUNCATE audit_events",
    ] {
        let err = sqlx::query(sql).execute(db.pool()).await.unwrap_err();
        assert!(
            err.to_string().contains("append-only"),
            "{sql} must be refused: {err}"
        );
    }
    let events = db.read_chain(chain, 0, 10).await.unwrap();
    assert_eq!(audit::verify(chain, &events), Ok(3));
    assert!(events.iter().all(|e| e.description.starts_with("event")));
}

#[tokio::test]
async fn migrations_live_in_the_store_schema_and_run_once() {
    let Some(db) = TestStore::new().await else {
        return;
    };
    let schema = db.schema().to_owned();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
    )
    .bind(&schema)
    .fetch_all(db.pool())
    .await
    .unwrap();
    for t in [
        "_sqlx_migrations",
        "activity_events",
        "alert_deliveries",
        "alert_settings",
        "alerts",
        "audit_events",
        "companies",
        "purge_progress",
        "usage_pending",
        "users",
    ] {
        assert!(tables.iter().any(|x| x == t), "{t} in {schema}: {tables:?}");
    }
    // A second node finds the schema migrated and applies nothing.
    let node = second_node(&db).await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(node.pool())
        .await
        .unwrap();
    assert_eq!(applied, tracker_sqlx::MIGRATOR.iter().count() as i64);
    node.close().await;
}

#[tokio::test]
async fn a_schema_from_a_newer_version_is_refused() {
    let Some(db) = TestStore::new().await else {
        return;
    };
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (999999, 'from the future', true, '\\x00'::bytea, 0)",
    )
    .execute(db.pool())
    .await
    .unwrap();
    let err = PgStore::connect(
        &url(),
        PgConfig {
            schema: db.schema().to_owned(),
            application_name: db.schema().to_owned(),
            ..PgConfig::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PgError::Migrate(_)), "{err:?}");
}

#[tokio::test]
async fn bad_settings_get_clear_errors() {
    let Some(_db) = TestStore::new().await else {
        return;
    };
    let err = PgStore::connect("not a url", PgConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, PgError::Connect(_)), "{err:?}");
    let err = PgStore::connect(
        &url(),
        PgConfig {
            schema: "Robert'); DROP TABLE students;--".into(),
            ..PgConfig::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PgError::InvalidSchema { .. }), "{err:?}");
    assert!(err.to_string().contains("lowercase"));
    // Nothing listens on port 1.
    let err = PgStore::connect(
        "postgres://postgres@127.0.0.1:1/test",
        PgConfig {
            acquire_timeout: std::time::Duration::from_secs(2),
            ..PgConfig::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PgError::Connect(_)), "{err:?}");
    // Errors reach the service as storage errors of the postgres backend.
    let core: Error = PgError::InvalidSchema { schema: "X".into() }.into();
    assert!(matches!(
        core,
        Error::Storage {
            backend: "postgres",
            ..
        }
    ));
}

#[tokio::test]
async fn another_node_changing_the_timezone_is_seen_by_ingest() {
    let Some(db) = TestStore::new().await else {
        return;
    };
    let fx = testkit::company(&*db, 10, 1_000).await; // Europe/Berlin
    let c = fx.company.id;
    let user = fx.admin.id;
    // Warm this node's timezone cache.
    let warm = activity(
        c,
        user,
        Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap(),
        60,
    );
    testkit::insert_events(db.store(), c, &[warm])
        .await
        .unwrap();

    // Another node moves the company to Tokyo (UTC+9).
    let node = second_node(&db).await;
    let mut company = fx.company.clone();
    company.timezone = "Asia/Tokyo".into();
    node.tenants()
        .update_company(&CompanyChange {
            company,
            subscription: None,
            max_seats: None,
            max_storage_bytes: None,
            expect_status: None,
            audit: event(AuditChain::Company(c), 1),
        })
        .await
        .unwrap();

    // 14:00-16:00 UTC is 23:00-01:00 in Tokyo: an hour on each local day.
    let start = Utc.with_ymd_and_hms(2026, 5, 10, 14, 0, 0).unwrap();
    let n = testkit::insert_events(db.store(), c, &[activity(c, user, start, 7_200)])
        .await
        .unwrap();
    assert_eq!(n.inserted, 1);
    let d10 = NaiveDate::from_ymd_opt(2026, 5, 10).unwrap();
    let d11 = NaiveDate::from_ymd_opt(2026, 5, 11).unwrap();
    let rollups = db
        .day_rollups(c, Some(&BTreeSet::from([user])), d10, d11)
        .await
        .unwrap()
        .unwrap();
    let cells: Vec<(NaiveDate, u64)> = rollups.iter().map(|r| (r.date, r.active_seconds)).collect();
    assert_eq!(cells, [(d10, 3_600), (d11, 3_600)], "cut in Tokyo days");
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_overlapping_batches_of_one_user_are_flagged() {
    let Some(db) = TestStore::new().await else {
        return;
    };
    let db = Arc::new(db);
    let fx = testkit::company(db.as_ref(), 10, 1_000).await;
    let (c, user) = (fx.company.id, fx.admin.id);
    let users = BTreeSet::from([user]);
    // Two devices of one user upload overlapping time at the same moment,
    // on a different day each round. Without serialization each batch
    // would miss the other and leave the day marked exact.
    for day in 1..=12u32 {
        let start = Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0).unwrap();
        let a = activity(c, user, start, 1_800);
        let b = activity(c, user, start + Duration::minutes(10), 1_800);
        let (d1, d2) = (Arc::clone(&db), Arc::clone(&db));
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { testkit::insert_events(d1.store(), c, &[a]).await }),
            tokio::spawn(async move { testkit::insert_events(d2.store(), c, &[b]).await }),
        );
        assert_eq!(ra.unwrap().unwrap().inserted, 1);
        assert_eq!(rb.unwrap().unwrap().inserted, 1);
        let date = NaiveDate::from_ymd_opt(2026, 3, day).unwrap();
        let rollups = db
            .day_rollups(c, Some(&users), date, date)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rollups.len(), 1);
        assert!(!rollups[0].exact, "day {day}: the overlap must be flagged");
        assert_eq!(rollups[0].active_seconds, 3_600, "sums of both events");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_of_one_company_mark_its_days_without_deadlock() {
    let Some(db) = TestStore::new().await else {
        return;
    };
    let db = Arc::new(db);
    let fx = testkit::company(db.as_ref(), 10, 1_000).await;
    let c = fx.company.id;
    let first = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    // Eight users upload batches over the same five days at once, half of
    // them newest day first: every batch upserts the company's five marks.
    let batches: Vec<Vec<ActivityEvent>> = (0..8)
        .map(|w| {
            let user = UserId::new();
            let mut days: Vec<_> = (0..5)
                .map(|d| activity(c, user, first + Duration::days(d), 60))
                .collect();
            if w % 2 == 1 {
                days.reverse();
            }
            days
        })
        .collect();
    let tasks: Vec<_> = batches
        .iter()
        .cloned()
        .map(|batch| {
            let db = Arc::clone(&db);
            tokio::spawn(async move { testkit::insert_events(db.store(), c, &batch).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().inserted, 5);
    }
    let marked = db.pending_usage_days(c).await.unwrap();
    let days: Vec<_> = (1..=5)
        .map(|d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap())
        .collect();
    assert_eq!(marked.iter().map(|p| p.date).collect::<Vec<_>>(), days);
    // A retried batch inserts nothing, so it marks nothing.
    let retried = testkit::insert_events(db.store(), c, &batches[0])
        .await
        .unwrap();
    assert_eq!(retried.inserted, 0);
    assert_eq!(
        db.pending_usage_days(c).await.unwrap(),
        marked,
        "a batch that inserted nothing leaves the marks' versions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_raises_leave_one_open_alert() {
    let Some(db) = TestStore::new().await else {
        return;
    };
    let db = Arc::new(db);
    let fx = testkit::company(db.as_ref(), 10, 1_000).await;
    let c = fx.company.id;
    let user = Some(fx.admin.id);
    for round in 0..5 {
        // Nodes of a cluster run the alert job at the same moment.
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let db = Arc::clone(&db);
                let alert = Alert {
                    id: AlertId::new(),
                    kind: AlertKind::AgentOffline,
                    company_id: c,
                    user_id: user,
                    message: "offline".into(),
                    details: serde_json::json!({ "round": round }),
                    raised_at: clock::normalize(Utc::now()),
                    resolved_at: None,
                };
                tokio::spawn(async move { db.open_alert(&alert).await })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap().unwrap());
        }
        assert_eq!(
            results.iter().filter(|r| r.inserted).count(),
            1,
            "round {round}"
        );
        let open = db
            .open_alerts(Some(c), AlertKind::AgentOffline)
            .await
            .unwrap();
        assert_eq!(open.len(), 1, "round {round}: {open:?}");
        assert!(
            results.iter().all(|r| r.stored == open[0]),
            "every caller sees the open one"
        );
        db.resolve_alert(c, open[0].id, clock::normalize(Utc::now()))
            .await
            .unwrap()
            .expect("resolved");
    }
}

#[tokio::test]
async fn a_batch_is_stored_whole_or_not_at_all() {
    let Some(db) = TestStore::new().await else {
        return;
    };
    let fx = testkit::company(&*db, 10, 1_000).await;
    let (c, user) = (fx.company.id, fx.admin.id);
    let start = Utc.with_ymd_and_hms(2026, 4, 1, 9, 0, 0).unwrap();
    let good = activity(c, user, start, 60);
    // An event of another company makes the whole call fail before writing.
    let stranger = ActivityEvent {
        company_id: CompanyId::new(),
        ..activity(c, user, start, 60)
    };
    let err = testkit::insert_events(db.store(), c, &[good.clone(), stranger])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "validation");
    assert!(
        db.activity_between(c, None, start, start + Duration::hours(1))
            .await
            .unwrap()
            .is_empty()
    );
    // Repeated ids inside one batch count as duplicates.
    let n = testkit::insert_events(db.store(), c, &[good.clone(), good.clone()])
        .await
        .unwrap();
    assert_eq!((n.inserted, n.duplicates), (1, 1));
}

#[tokio::test]
async fn bounds_beyond_postgres_calendar_are_answered() {
    let Some(db) = TestStore::new().await else {
        return;
    };
    let fx = testkit::company(&*db, 10, 1_000).await;
    let c = fx.company.id;
    let start = Utc.with_ymd_and_hms(2026, 4, 1, 9, 0, 0).unwrap();
    testkit::insert_events(db.store(), c, &[activity(c, fx.admin.id, start, 60)])
        .await
        .unwrap();
    let (min, max) = (
        chrono::DateTime::<Utc>::MIN_UTC,
        chrono::DateTime::<Utc>::MAX_UTC,
    );
    assert_eq!(
        db.activity_between(c, None, min, max).await.unwrap().len(),
        1
    );
    let filter = tracker_core::store::TrackingFilter {
        from: Some(min),
        to: Some(max),
        ..Default::default()
    };
    let page = db
        .list_activity(c, &filter, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let rollups = db
        .day_rollups(c, None, NaiveDate::MIN, NaiveDate::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rollups.len(), 1);
    assert!(
        db.usage()
            .list_usage(None, NaiveDate::MIN, NaiveDate::MAX)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_approval_whose_audit_event_fails_leaves_nothing_behind() {
    let Some(db) = TestStore::new().await else {
        return;
    };
    let fx = testkit::company(&*db, 10, 1_000).await;
    let (c, admin) = (fx.company.id, fx.admin.id);
    let chain = AuditChain::Company(c);
    let start = Utc.with_ymd_and_hms(2026, 4, 1, 22, 0, 0).unwrap();
    let now = clock::normalize(Utc::now());
    let fix = CorrectionRequest {
        id: CorrectionId::new(),
        company_id: c,
        user_id: admin,
        starts_at: start,
        ends_at: start + Duration::hours(4),
        reason: "the agent was off".into(),
        status: CorrectionStatus::Pending,
        decided_by: None,
        decided_at: None,
        decision_note: None,
        created_at: now,
    };
    db.save_correction(&fix, event(chain, 1)).await.unwrap();
    let approved = CorrectionRequest {
        status: CorrectionStatus::Approved,
        decided_by: Some(admin),
        decided_at: Some(now),
        ..fix.clone()
    };
    let events_before = db.read_chain(chain, 0, 100).await.unwrap().len();
    // PostgreSQL refuses a NUL character in text: the append fails after
    // the decision and its usage marks were written in the transaction.
    let refused = NewAuditEvent {
        description: "bad\0event".into(),
        ..event(chain, 1)
    };
    let err = db.save_correction(&approved, refused).await.unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    let stored = db.get_correction(c, fix.id).await.unwrap().unwrap();
    assert_eq!(
        stored.status,
        CorrectionStatus::Pending,
        "decision rolled back"
    );
    assert!(
        db.pending_usage_days(c).await.unwrap().is_empty(),
        "marks rolled back"
    );
    assert_eq!(
        db.read_chain(chain, 0, 100).await.unwrap().len(),
        events_before
    );
    // The same decision with a good event commits all three.
    db.save_correction(&approved, event(chain, 2))
        .await
        .unwrap();
    let marked: Vec<NaiveDate> = db
        .pending_usage_days(c)
        .await
        .unwrap()
        .iter()
        .map(|p| p.date)
        .collect();
    let day = |d| NaiveDate::from_ymd_opt(2026, 4, d).unwrap();
    assert_eq!(marked, [day(1), day(2)], "22:00 to 02:00 UTC");
    assert_eq!(
        db.read_chain(chain, 0, 100).await.unwrap().len(),
        events_before + 1
    );
}

/// Migration 3 on a table of schema 2 that holds events: the key becomes
/// (company, user, id), nothing stored is lost, and replays still count
/// once.
#[tokio::test]
async fn event_ids_become_unique_per_user_on_a_schema_2_table() {
    let Some(db) = TestStore::new().await else {
        return;
    };
    let fx = testkit::company(&*db, 10, 1_000).await;
    let c = fx.company.id;
    let base = Utc.with_ymd_and_hms(2026, 5, 4, 8, 0, 0).single().unwrap();
    let mut events: Vec<ActivityEvent> = (0..50)
        .map(|i| activity(c, fx.admin.id, base + Duration::minutes(i), 60))
        .collect();
    events.sort_by_key(|e| (e.started_at, e.id));
    testkit::insert_events(db.store(), c, &events)
        .await
        .unwrap();
    // Back to schema 2: the key on (company, id), migration 3 pending.
    sqlx::raw_sql(
        "DROP VIEW activity_events_by_owner;
         ALTER TABLE activity_events DROP CONSTRAINT activity_events_pkey;
         ALTER TABLE activity_events ADD PRIMARY KEY (company_id, id);
         DELETE FROM _sqlx_migrations WHERE version = 3;",
    )
    .execute(db.pool())
    .await
    .unwrap();
    tracker_sqlx::migrator(db.schema())
        .unwrap()
        .run(db.pool())
        .await
        .unwrap();
    let key: Vec<String> = sqlx::query_scalar(
        "SELECT a.attname::text
         FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])
         WHERE i.indrelid = 'activity_events'::regclass AND i.indisprimary
         ORDER BY array_position(i.indkey::int2[], a.attnum)",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(key, ["company_id", "user_id", "id"]);
    let stored = tracker_core::store::collect_pages(|page| {
        let db = &db;
        async move {
            db.list_activity(c, &tracker_core::store::TrackingFilter::default(), &page)
                .await
        }
    })
    .await
    .unwrap();
    assert_eq!(stored, events, "every event as it was");
    let replay = testkit::insert_events(db.store(), c, &events)
        .await
        .unwrap();
    assert_eq!(
        (replay.inserted, replay.duplicates),
        (0, events.len() as u64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_lease_has_one_holder_across_nodes_and_ends_with_its_session() {
    use tracker_core::lease::{JobLeases, LeaseKey};
    let Some(db) = TestStore::new().await else {
        return;
    };
    let Some(elsewhere) = TestStore::new().await else {
        return;
    };
    let node2 = second_node(&db).await;
    let (one, two) = (db.job_leases(), node2.job_leases());
    let key = LeaseKey {
        job: "usage",
        company: CompanyId::new(),
    };
    let held = one.try_lease(&key).await.unwrap().expect("free");
    assert!(
        two.try_lease(&key).await.unwrap().is_none(),
        "held by node 1"
    );
    assert!(
        one.try_lease(&key).await.unwrap().is_none(),
        "also on node 1"
    );
    let other_job = LeaseKey {
        job: "alerts",
        ..key
    };
    assert!(two.try_lease(&other_job).await.unwrap().is_some());
    let other_schema = elsewhere.job_leases().try_lease(&key).await.unwrap();
    assert!(other_schema.is_some(), "another schema's jobs are apart");

    held.release().await;
    let held = two.try_lease(&key).await.unwrap().expect("released");
    // Dropped without release, as when a run is cancelled: the session
    // ends, and the lock with it.
    drop(held);
    let mut waited = 0;
    let again = loop {
        if let Some(lease) = one.try_lease(&key).await.unwrap() {
            break lease;
        }
        waited += 1;
        assert!(waited < 100, "the lock outlived its dropped lease");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    again.release().await;
    node2.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heartbeats_written_together_answer_each_caller_and_never_deadlock() {
    let Some(db) = TestStore::new().await else {
        return;
    };
    let db = Arc::new(db);
    // Node 2 answers before the WAL flush: the other path of the writer.
    let lazy = PgConfig {
        schema: db.schema().to_owned(),
        durable_heartbeats: false,
        ..PgConfig::default()
    };
    let node2 = Arc::new(PgStore::connect(&url(), lazy).await.unwrap());
    let fx = testkit::company(db.as_ref(), 100, 1_000).await;
    let c = fx.company.id;
    let mut users = Vec::new();
    for n in 0..40 {
        let u = testkit::add_user(db.as_ref(), &fx, &format!("agent{n}"), Role::Employee).await;
        users.push(u.id);
    }
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    // Both nodes beat for every user at once, in opposite orders, with
    // strangers mixed in: each caller hears its own outcome.
    let mut calls = Vec::new();
    for round in 0..5 {
        for (n, user) in users.iter().enumerate() {
            for node in 0..2 {
                let (db, node2, user) = (db.clone(), node2.clone(), *user);
                let stranger = n % 10 == 0 && round == 0;
                let user = if stranger { UserId::new() } else { user };
                let state = AgentState {
                    company_id: c,
                    user_id: user,
                    last_heartbeat_at: at + Duration::seconds(round * 60 + n as i64),
                    policy_version: Some(1),
                    agent_version: Some(format!("node{node}")),
                };
                calls.push(tokio::spawn(async move {
                    let outcome = if node == 0 {
                        db.record_heartbeat(&state).await
                    } else {
                        node2.record_heartbeat(&state).await
                    };
                    (stranger, outcome)
                }));
            }
        }
    }
    for call in calls {
        let (stranger, outcome) = call.await.unwrap();
        match outcome {
            Ok(()) => assert!(!stranger, "a stranger's heartbeat was stored"),
            Err(e) => assert!(stranger && e.code() == "not_found", "{e}"),
        }
    }
    let states = db.list_agent_states(c).await.unwrap();
    assert_eq!(states.len(), users.len(), "one state per user");
    // The racing calls land in any order; once they are answered, the
    // next heartbeat of each user is the one every node reads.
    let later = at + Duration::hours(1);
    for (n, user) in users.iter().enumerate() {
        let state = AgentState {
            company_id: c,
            user_id: *user,
            last_heartbeat_at: later,
            policy_version: Some(2),
            agent_version: None,
        };
        let node: &PgStore = if n % 2 == 0 { &db } else { &node2 };
        node.record_heartbeat(&state).await.unwrap();
    }
    for s in db.list_agent_states(c).await.unwrap() {
        assert_eq!((s.last_heartbeat_at, s.policy_version), (later, Some(2)));
    }
    let synced = node2.get_company(c).await.unwrap().unwrap().last_sync_at;
    assert_eq!(synced, Some(later));
    node2.close().await;
}

#[tokio::test]
async fn row_security_hides_other_companies_from_an_unscoped_query() {
    let Some(db) = tracker_sqlx::testing::TestStore::with_row_security().await else {
        return;
    };
    let a = testkit::company(&db, 10, 1_000).await.company.id;
    let b = testkit::company(&db, 10, 1_000).await.company.id;
    // A connection of the store's own pool, as every call gets one.
    let mut conn = db.pool().acquire().await.unwrap();
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(user, tracker_sqlx::testing::ROW_SECURITY_ROLE);
    let companies = async |conn: &mut sqlx::PgConnection, table: &str| -> Vec<uuid::Uuid> {
        let column = if table == "companies" {
            "id"
        } else {
            "company_id"
        };
        let sql = format!("SELECT DISTINCT {column} FROM {table} ORDER BY 1");
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(conn)
            .await
            .unwrap()
    };
    let scope = async |conn: &mut sqlx::PgConnection, value: String| {
        sqlx::query("SELECT set_config('tracker.scope', $1, false)")
            .bind(value)
            .execute(conn)
            .await
            .unwrap();
    };
    sqlx::query("RESET tracker.scope")
        .execute(&mut *conn)
        .await
        .unwrap();
    for table in ["users", "companies", "policies", "audit_events"] {
        assert!(
            companies(&mut conn, table).await.is_empty(),
            "{table} unscoped"
        );
    }
    for c in [a, b] {
        scope(&mut conn, c.0.to_string()).await;
        for table in ["users", "companies", "policies", "audit_events"] {
            assert_eq!(
                companies(&mut conn, table).await,
                [c.0],
                "{table} of one company"
            );
        }
    }
    // Working for b, nothing of a can be changed or made.
    let changed = sqlx::query("UPDATE users SET display_name = 'x' WHERE company_id = $1")
        .bind(a.0)
        .execute(&mut *conn)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    let planted = sqlx::query(
        "INSERT INTO teams (company_id, id, name, managers, members, created_at)
         VALUES ($1, $2, 'planted', '{}', '{}', now())",
    )
    .bind(a.0)
    .bind(uuid::Uuid::new_v4())
    .execute(&mut *conn)
    .await;
    assert!(planted.is_err(), "a row of another company is refused");
    scope(&mut conn, "platform".into()).await;
    assert_eq!(companies(&mut conn, "companies").await.len(), 2);
}

#[tokio::test]
async fn a_row_security_role_that_would_not_hold_is_refused_with_what_to_do() {
    let Some(db) = TestStore::new().await else {
        return;
    };
    let config = |role: &str| PgConfig {
        schema: db.schema().to_owned(),
        run_migrations: false,
        row_security_role: Some(role.to_owned()),
        ..PgConfig::default()
    };
    // The login user of the tests is a superuser: as its own role it
    // would pass every policy.
    let user = url()
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['@', ':']).next())
        .unwrap_or("postgres")
        .to_owned();
    for (role, says) in [
        ("no_such_role_here", "no such role"),
        (user.as_str(), "passes row-level security"),
    ] {
        let err = PgStore::connect(&url(), config(role)).await.unwrap_err();
        assert!(
            matches!(&err, PgError::RowSecurity { .. }) && err.to_string().contains(says),
            "{role}: {err}"
        );
    }
}
