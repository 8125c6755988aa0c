//! The background jobs through the public `Tracker` API with the manual
//! clock: expiry, usage aggregation, retention and alerts. Every scenario
//! runs on the memory store, on a SQLite file and, when `DATABASE_URL` is
//! set, on PostgreSQL.

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use tracker::audit::AuditChain;
use tracker::notify::{AlertEvent, AlertKind, AlertSettingsUpdate};
use tracker::protocol::{
    ActivityBatch, AlertQuery, ChangePlan, CreateCompany, HeartbeatRequest, LoginRequest, NewUser,
    ScreenshotUpload, StartSession, StopSession,
};
use tracker::store::{AuditFilter, PurgeBatch, Store, TrackingFilter};
use tracker::tracking::ActivityInput;
use tracker::{
    ActivityId, ActivityKind, AgentContext, Argon2Hasher, AuditAction, BlobStore, CompanyId,
    CompanyStatus, CompanyUsageDaily, ManualClock, MemoryBlobStore, MemoryStore, PageRequest,
    Principal, RecordingNotifier, Role, ScreenshotId, Tracker, WorkSessionId,
};
use tracker_sqlite::SqliteStore;
use tracker_sqlx::testing::TestStore;

use tracker_core::testkit::PNG;

/// A platform with one company, its admin and one employee's agent.
struct World {
    tracker: Tracker,
    clock: ManualClock,
    blobs: Arc<MemoryBlobStore>,
    notifier: Arc<RecordingNotifier>,
    owner: Principal,
    admin: Principal,
    company: CompanyId,
    agent: AgentContext,
    _guard: Box<dyn std::any::Any + Send>,
}

impl World {
    async fn new(
        (store, guard): (Arc<dyn Store>, Box<dyn std::any::Any + Send>),
        now: DateTime<Utc>,
        timezone: &str,
        retention_days: u32,
    ) -> World {
        let clock = ManualClock::new(now);
        let blobs = Arc::new(MemoryBlobStore::default());
        let notifier = Arc::new(RecordingNotifier::default());
        let tracker: Tracker = Tracker::builder_shared(store)
            .clock(clock.clone())
            .blobs(blobs.clone())
            .notifier(notifier.clone())
            .password_hasher(Argon2Hasher::insecure_fast())
            .build();
        tracker.ensure_default_plans().await.unwrap();
        tracker
            .bootstrap_owner("operator", "operator-password")
            .await
            .unwrap();
        let login = |key: Option<&str>, user: &str, password: &str| LoginRequest {
            company_key: key.map(str::to_owned),
            username: user.into(),
            password: password.into(),
        };
        let owner = tracker
            .login(login(None, "operator", "operator-password"), None)
            .await
            .unwrap();
        let owner = tracker.authenticate(owner.token.expose()).await.unwrap();
        let created = tracker
            .create_company(
                &owner,
                CreateCompany {
                    name: "Acme".into(),
                    plan: Some("PRO".into()),
                    timezone: Some(timezone.into()),
                    trial_days: Some(3),
                    retention_days: Some(retention_days),
                    admin: NewUser {
                        username: "alice".into(),
                        password: "alice-password".into(),
                        email: None,
                        display_name: None,
                        role: None,
                    },
                },
            )
            .await
            .unwrap();
        let key = created.company_key.expose().to_owned();
        let admin = tracker
            .login(login(Some(&key), "alice", "alice-password"), None)
            .await
            .unwrap();
        let admin = tracker.authenticate(admin.token.expose()).await.unwrap();
        tracker
            .create_user(
                &admin,
                NewUser {
                    username: "bob".into(),
                    password: "bob-password".into(),
                    email: None,
                    display_name: None,
                    role: Some(Role::Employee),
                },
            )
            .await
            .unwrap();
        let bob = tracker
            .login(login(Some(&key), "bob", "bob-password"), None)
            .await
            .unwrap();
        let agent = tracker.agent(&key, bob.token.expose()).await.unwrap();
        World {
            company: created.company.id,
            tracker,
            clock,
            blobs,
            notifier,
            owner,
            admin,
            agent,
            _guard: guard,
        }
    }

    /// Renews the subscription so the company is ACTIVE until `until`.
    async fn activate(&self, until: Option<DateTime<Utc>>) {
        self.tracker
            .change_plan(
                &self.owner,
                self.company,
                ChangePlan {
                    plan: "PRO".into(),
                    expires_at: until,
                    amount_cents: None,
                },
            )
            .await
            .unwrap();
    }

    async fn events(&self, events: &[(DateTime<Utc>, u32, ActivityKind)]) -> u64 {
        let batch = ActivityBatch {
            events: events
                .iter()
                .map(|&(started_at, duration_seconds, kind)| ActivityInput {
                    id: ActivityId::new(),
                    session_id: None,
                    started_at,
                    duration_seconds,
                    kind,
                    app: Some("editor".into()),
                    window_title: None,
                    url: None,
                })
                .collect(),
        };
        self.tracker
            .upload_activity(&self.agent, batch)
            .await
            .unwrap()
            .inserted
    }

    async fn screenshot(&self, taken_at: DateTime<Utc>) -> String {
        let shot = self
            .tracker
            .upload_screenshot(
                &self.agent,
                ScreenshotUpload {
                    id: ScreenshotId::new(),
                    taken_at,
                    blurred: false,
                },
                PNG.to_vec(),
            )
            .await
            .unwrap();
        shot.stored.blob_key
    }

    async fn company_events(&self, actions: AuditAction) -> Vec<tracker::AuditEvent> {
        self.tracker
            .store()
            .audit()
            .list_audit(
                AuditChain::Company(self.company),
                &AuditFilter {
                    action: Some(actions),
                    ..Default::default()
                },
                &PageRequest::first(100),
            )
            .await
            .unwrap()
            .items
    }
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

type Made = (Arc<dyn Store>, Box<dyn std::any::Any + Send>);

fn memory() -> Made {
    (Arc::new(MemoryStore::new()), Box::new(()))
}

fn sqlite() -> Made {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("jobs.db")).expect("open SQLite");
    (Arc::new(store), Box::new(dir))
}

async fn postgres() -> Option<Made> {
    let db = TestStore::new().await?;
    Some((Arc::new(db), Box::new(())))
}

/// One test per store for each scenario.
macro_rules! on_every_store {
    ($($scenario:ident),* $(,)?) => {
        mod memory_store {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() { super::$scenario(super::memory()).await; })*
        }
        mod sqlite_store {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() { super::$scenario(super::sqlite()).await; })*
        }
        mod postgres_store {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let Some(made) = super::postgres().await else { return };
                super::$scenario(made).await;
            })*
        }
    };
}

on_every_store!(
    trials_and_subscriptions_expire_as_system_actions,
    usage_matches_a_hand_computed_fixture_across_midnight_and_dst,
    retention_purges_exactly_the_old_rows_and_resumes,
    offline_agents_raise_one_alert_that_resolves,
    no_sync_and_high_idle_alerts_follow_their_conditions,
);

async fn trials_and_subscriptions_expire_as_system_actions(made: Made) {
    let start = utc(2026, 6, 1, 9, 0);
    let w = World::new(made, start, "UTC", 90).await;
    let t = &w.tracker;
    w.clock
        .set(start + Duration::days(3) - Duration::seconds(1));
    assert!(
        t.expire_companies().await.unwrap().expired.is_empty(),
        "not before its end"
    );
    w.clock.set(start + Duration::days(3));
    assert_eq!(
        t.expire_companies().await.unwrap().expired,
        [w.company],
        "at its end"
    );
    let stored = t
        .store()
        .tenants()
        .get_company(w.company)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, CompanyStatus::Expired, "persisted");
    assert!(
        t.expire_companies().await.unwrap().expired.is_empty(),
        "once"
    );
    let log = t
        .platform_audit(
            &w.owner,
            &AuditFilter {
                action: Some(AuditAction::CompanyExpired),
                ..Default::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(log.items.len(), 1);
    assert_eq!(log.items[0].actor, tracker::Actor::System);
    assert_eq!(log.items[0].details["previous_status"], "TRIAL");

    // A renewal makes it ACTIVE; a paid period that ends expires the same way.
    let end = t.now() + Duration::days(30);
    w.activate(Some(end)).await;
    w.clock.set(end - Duration::minutes(1));
    assert!(t.expire_companies().await.unwrap().expired.is_empty());
    w.clock.set(end + Duration::minutes(1));
    assert_eq!(t.expire_companies().await.unwrap().expired, [w.company]);
    let log = t
        .platform_audit(
            &w.owner,
            &AuditFilter {
                action: Some(AuditAction::CompanyExpired),
                ..Default::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(log.items.len(), 2);
    assert_eq!(log.items[1].details["previous_status"], "ACTIVE");
    assert!(
        t.verify_platform_audit(&w.owner)
            .await
            .unwrap()
            .broken
            .is_none()
    );
}

async fn usage_matches_a_hand_computed_fixture_across_midnight_and_dst(made: Made) {
    // New York moves to daylight time at 02:00 on 2026-03-08: that day has 23 hours.
    let w = World::new(made, utc(2026, 3, 10, 12, 0), "America/New_York", 90).await;
    let t = &w.tracker;
    w.activate(None).await;
    w.events(&[
        // 23:30 EST on Mar 7 for an hour: 30 minutes on each side of midnight.
        (utc(2026, 3, 8, 4, 30), 3_600, ActivityKind::Active),
        // 01:30 EST for an hour ends 03:30 EDT: all on Mar 8, across the jump.
        (utc(2026, 3, 8, 6, 30), 3_600, ActivityKind::Idle),
        // 23:00 EDT on Mar 8 for two hours: one on Mar 8, one on Mar 9.
        (utc(2026, 3, 9, 3, 0), 7_200, ActivityKind::Active),
    ])
    .await;
    w.screenshot(utc(2026, 3, 9, 15, 0)).await;
    let run = t.aggregate_pending_usage().await.unwrap();
    assert_eq!((run.companies, run.days), (1, 3), "{run:?}");
    let row = |d: u32, active: u64, idle: u64, shots: u64, users: u32| CompanyUsageDaily {
        company_id: w.company,
        date: date(2026, 3, d),
        active_seconds: active,
        idle_seconds: idle,
        screenshots: shots,
        storage_bytes: shots * PNG.len() as u64,
        active_users: users,
    };
    let expected = vec![
        row(7, 1_800, 0, 0, 1),
        row(8, 1_800 + 3_600, 3_600, 0, 1),
        row(9, 3_600, 0, 1, 1),
    ];
    let stored = || async {
        t.company_usage(&w.admin, date(2026, 3, 1), date(2026, 3, 31))
            .await
            .unwrap()
    };
    assert_eq!(stored().await, expected);

    // Idempotent: nothing pending, nothing recomputed; a full recomputation
    // gives the same rows.
    assert_eq!(t.aggregate_pending_usage().await.unwrap().days, 0);
    t.aggregate_usage(w.company, date(2026, 3, 7), date(2026, 3, 9))
        .await
        .unwrap();
    t.aggregate_usage(w.company, date(2026, 3, 7), date(2026, 3, 9))
        .await
        .unwrap();
    assert_eq!(stored().await, expected);

    // Incremental: a row of a day without new data is not touched (a
    // tampered one stays as it is); the day with new data is recomputed.
    let tampered = CompanyUsageDaily {
        active_seconds: 1,
        ..expected[0].clone()
    };
    t.store()
        .usage()
        .upsert_usage(std::slice::from_ref(&tampered))
        .await
        .unwrap();
    w.events(&[(utc(2026, 3, 9, 16, 0), 600, ActivityKind::Active)])
        .await;
    let run = t.aggregate_pending_usage().await.unwrap();
    // UTC Mar 9 covers local Mar 8 (evening) and Mar 9.
    assert_eq!(run.days, 2, "{run:?}");
    let after = stored().await;
    assert_eq!(after[0], tampered, "Mar 7 had no new data");
    assert_eq!(after[1], expected[1]);
    assert_eq!(after[2], row(9, 3_600 + 600, 0, 1, 1));
}

async fn retention_purges_exactly_the_old_rows_and_resumes(made: Made) {
    let start = utc(2026, 6, 1, 10, 0);
    let w = World::new(made, start, "Europe/Berlin", 7).await;
    let t = &w.tracker;
    w.activate(None).await;
    // Old data: a session, five events and a screenshot around 08:00 on June 1.
    let old_session = WorkSessionId::new();
    t.start_session(
        &w.agent,
        StartSession {
            id: old_session,
            started_at: start - Duration::hours(2),
        },
    )
    .await
    .unwrap();
    t.stop_session(
        &w.agent,
        old_session,
        StopSession {
            stopped_at: start - Duration::hours(1),
        },
    )
    .await
    .unwrap();
    let old: Vec<_> = (0..5)
        .map(|i| {
            (
                start - Duration::hours(2) + Duration::minutes(10 * i),
                300,
                ActivityKind::Active,
            )
        })
        .collect();
    w.events(&old).await;
    let old_blob = w.screenshot(start - Duration::hours(1)).await;
    // Ten days later: new data.
    let now = start + Duration::days(10);
    w.clock.set(now);
    let new_session = WorkSessionId::new();
    t.start_session(
        &w.agent,
        StartSession {
            id: new_session,
            started_at: now - Duration::hours(1),
        },
    )
    .await
    .unwrap();
    w.events(&[(now - Duration::minutes(30), 600, ActivityKind::Idle)])
        .await;
    let new_blob = w.screenshot(now - Duration::minutes(5)).await;
    let chain_before = t
        .store()
        .audit()
        .read_chain(AuditChain::Company(w.company), 0, 10_000)
        .await
        .unwrap()
        .len();

    // A purge that stopped after its first step (a crash) is resumed with its
    // cutoff and counted whole.
    let tz = t
        .store()
        .tenants()
        .get_company(w.company)
        .await
        .unwrap()
        .unwrap()
        .tz();
    let cutoff = tracker::report::day_bounds(tz, date(2026, 6, 4)).0;
    let first = t
        .store()
        .retention()
        .purge_tracking(
            w.company,
            &PurgeBatch {
                before: cutoff,
                before_date: date(2026, 6, 4),
                screenshots: vec![],
                limit: 2,
                started_at: now,
                user: None,
                keep: Default::default(),
                personal: false,
                screenshots_before: None,
                sessions_before: None,
                details_before: None,
            },
        )
        .await
        .unwrap();
    assert_eq!((first.events, first.sessions), (2, 1));
    let run = t.purge_expired_data(2).await.unwrap();
    assert_eq!(run.companies, 1);
    let n = run.counts;
    assert_eq!(
        (n.events, n.sessions, n.screenshots),
        (5, 1, 1),
        "the whole purge: {n:?}"
    );
    assert_eq!(n.screenshot_bytes, PNG.len() as u64);

    let purged = w.company_events(AuditAction::DataPurged).await;
    assert_eq!(purged.len(), 1, "one audit event for the whole purge");
    let counts = &purged[0].details["counts"];
    assert_eq!(
        (
            counts["events"].as_u64(),
            counts["sessions"].as_u64(),
            counts["screenshots"].as_u64()
        ),
        (Some(5), Some(1), Some(1))
    );
    assert_eq!(purged[0].actor, tracker::Actor::System);

    // Exactly the old rows are gone, and the old blob with them.
    let tr = t.store().tracking();
    let events = tr
        .activity_between(
            w.company,
            None,
            start - Duration::days(30),
            now + Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].started_at, now - Duration::minutes(30));
    let sessions = tr
        .list_sessions(
            w.company,
            &TrackingFilter::default(),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        sessions.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        [new_session]
    );
    assert!(
        w.blobs.get(&old_blob).await.unwrap().is_none(),
        "the purged screenshot's blob is deleted"
    );
    assert!(w.blobs.get(&new_blob).await.unwrap().is_some());
    assert_eq!(tr.storage_used(w.company).await.unwrap(), PNG.len() as u64);

    // The audit log is kept whole and verifies; a second run deletes nothing
    // and writes nothing.
    let chain = t
        .store()
        .audit()
        .read_chain(AuditChain::Company(w.company), 0, 10_000)
        .await
        .unwrap();
    assert_eq!(chain.len(), chain_before + 1);
    let again = t.purge_expired_data(2).await.unwrap();
    assert!(again.counts.is_empty() && again.companies == 0, "{again:?}");
    assert_eq!(w.company_events(AuditAction::DataPurged).await.len(), 1);
    assert!(
        t.verify_company_audit(&w.admin)
            .await
            .unwrap()
            .broken
            .is_none()
    );
}

async fn offline_agents_raise_one_alert_that_resolves(made: Made) {
    let start = utc(2026, 6, 1, 9, 0);
    let w = World::new(made, start, "UTC", 90).await;
    let t = &w.tracker;
    t.update_alert_settings(&w.admin, support::one_webhook())
        .await
        .unwrap();
    let beat = || {
        t.heartbeat(
            &w.agent,
            HeartbeatRequest {
                policy_version: None,
                agent_version: None,
            },
        )
    };
    beat().await.unwrap();
    t.start_session(
        &w.agent,
        StartSession {
            id: WorkSessionId::new(),
            started_at: start,
        },
    )
    .await
    .unwrap();
    w.clock.advance(Duration::minutes(14));
    assert_eq!(
        t.check_alerts().await.unwrap().raised,
        0,
        "14 minutes is not offline yet"
    );
    w.clock.advance(Duration::minutes(2));
    let run = t.check_alerts().await.unwrap();
    assert_eq!((run.raised, run.delivered), (1, 1), "{run:?}");
    assert_eq!(
        t.check_alerts().await.unwrap().raised,
        0,
        "one open alert per agent"
    );
    let open = t
        .alerts(
            &w.admin,
            &AlertQuery {
                open: Some(true),
                kind: None,
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(open.items.len(), 1);
    let alert = &open.items[0];
    assert_eq!(alert.kind, AlertKind::AgentOffline);
    assert_eq!(alert.user_id, Some(w.agent.principal().user_id()));
    assert!(alert.message.contains("bob"), "{}", alert.message);

    // The heartbeat returns: the alert resolves, and the webhook hears both.
    beat().await.unwrap();
    let run = t.check_alerts().await.unwrap();
    assert_eq!((run.raised, run.resolved), (0, 1));
    let detail = t.alert(&w.admin, alert.id).await.unwrap();
    assert!(detail.alert.resolved_at.is_some());
    assert_eq!(
        detail.deliveries.len(),
        2,
        "raised and resolved, one attempt each"
    );
    let sent: Vec<_> = w
        .notifier
        .sent()
        .into_iter()
        .map(|(a, e, _)| (a.id, e))
        .collect();
    assert_eq!(
        sent,
        [
            (alert.id, AlertEvent::Raised),
            (alert.id, AlertEvent::Resolved)
        ]
    );
    assert!(
        t.alerts(
            &w.admin,
            &AlertQuery {
                open: Some(true),
                kind: None
            },
            &PageRequest::default()
        )
        .await
        .unwrap()
        .items
        .is_empty()
    );
    // The settings change was audited without the secret.
    let audited = w.company_events(AuditAction::AlertSettingsUpdated).await;
    assert_eq!(audited.len(), 1);
    assert!(!audited[0].details.to_string().contains("0123456789abcdef"));
}

async fn no_sync_and_high_idle_alerts_follow_their_conditions(made: Made) {
    let start = utc(2026, 6, 1, 9, 0);
    let w = World::new(made, start, "UTC", 90).await;
    let t = &w.tracker;
    w.activate(None).await;
    // Yesterday (May 31): 20 minutes active, 80 idle: 80% idle over 100 minutes.
    w.events(&[
        (utc(2026, 5, 31, 9, 0), 1_200, ActivityKind::Active),
        (utc(2026, 5, 31, 9, 20), 4_800, ActivityKind::Idle),
    ])
    .await;
    let run = t.check_alerts().await.unwrap();
    assert_eq!(
        run.raised, 1,
        "high idle only: the company was created today: {run:?}"
    );
    let idle = t
        .alerts(
            &w.admin,
            &AlertQuery {
                open: Some(true),
                kind: Some(AlertKind::HighIdle),
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(idle.items.len(), 1);
    assert_eq!(idle.items[0].details["idle_percent"], 80);

    // A day later nothing synced for 24 hours: no-sync; June 1 had no
    // tracked time, so the idle alert resolves.
    w.clock.advance(Duration::hours(24));
    let run = t.check_alerts().await.unwrap();
    assert_eq!((run.raised, run.resolved), (1, 1), "{run:?}");
    let no_sync = t
        .no_sync_companies(&w.owner, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(no_sync.items.len(), 1);
    assert!(
        no_sync.items[0].alert_raised_at.is_some(),
        "the OWNER sees the alert as a number"
    );
    // A heartbeat clears it.
    t.heartbeat(
        &w.agent,
        HeartbeatRequest {
            policy_version: None,
            agent_version: None,
        },
    )
    .await
    .unwrap();
    let run = t.check_alerts().await.unwrap();
    assert_eq!(run.resolved, 1);
    // Turning a kind off resolves nothing new and raises nothing.
    t.update_alert_settings(
        &w.admin,
        AlertSettingsUpdate {
            no_sync_enabled: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    w.clock.advance(Duration::hours(48));
    let run = t.check_alerts().await.unwrap();
    assert_eq!(run.raised, 0, "no-sync is off: {run:?}");
    let everything = t
        .alerts(&w.admin, &AlertQuery::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(everything.items.len(), 2);
    assert!(everything.items.iter().all(|a| a.resolved_at.is_some()));
}
