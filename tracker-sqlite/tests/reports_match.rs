//! Month grids and timesheets on SQLite come from day rollups; they must
//! equal what the memory store's exact computation gives, for clean days,
//! overlapping events and approved corrections alike.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::executor::block_on;
use tracker_core::protocol::*;
use tracker_core::report::Totals;
use tracker_core::tracking::ActivityInput;
use tracker_core::*;
use tracker_sqlite::SqliteStore;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-20T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        password: format!("{name}-password"),
        email: None,
        display_name: None,
        role: Some(Role::Employee),
    }
}

fn input(id: u128, at: DateTime<Utc>, secs: u32, kind: ActivityKind) -> ActivityInput {
    ActivityInput {
        id: ActivityId::from_uuid(uuid::Uuid::from_u128(id)),
        session_id: None,
        started_at: at,
        duration_seconds: secs,
        kind,
        app: Some("editor".into()),
        window_title: None,
        url: None,
    }
}

/// Totals keyed by (username, date).
type ByDay = BTreeMap<(String, NaiveDate), Totals>;

/// Runs one scenario on `store` and returns the month grid and timesheet.
fn scenario(store: Arc<dyn Store>) -> (ByDay, ByDay) {
    block_on(async {
        let t: Tracker = Tracker::builder_shared(store)
            .clock(ManualClock::new(now()))
            .password_hasher(Argon2Hasher::insecure_fast())
            .build();
        t.ensure_default_plans().await.unwrap();
        t.bootstrap_owner("operator", "operator-password")
            .await
            .unwrap();
        let login = |key: Option<String>, name: &str| LoginRequest {
            company_key: key,
            username: name.into(),
            password: format!("{name}-password"),
        };
        let owner = t.login(login(None, "operator"), None).await.unwrap();
        let owner = t.authenticate(owner.token.expose()).await.unwrap();
        let created = t
            .create_company(
                &owner,
                CreateCompany {
                    name: "Acme".into(),
                    plan: Some("PRO".into()),
                    timezone: Some("America/New_York".into()),
                    trial_days: None,
                    retention_days: None,
                    admin: NewUser {
                        role: None,
                        ..user("alice")
                    },
                },
            )
            .await
            .unwrap();
        let key = created.company_key.expose().to_owned();
        let admin = t
            .login(login(Some(key.clone()), "alice"), None)
            .await
            .unwrap();
        let admin = t.authenticate(admin.token.expose()).await.unwrap();
        let mut names = BTreeMap::new();
        for name in ["bob", "carol"] {
            let u = t.create_user(&admin, user(name)).await.unwrap();
            names.insert(u.id, name.to_owned());
        }
        let agent = |name: &'static str| {
            let t = t.clone();
            let key = key.clone();
            async move {
                let r = t.login(login(Some(key.clone()), name), None).await.unwrap();
                t.agent(&key, r.token.expose()).await.unwrap()
            }
        };
        let bob = agent("bob").await;
        let carol = agent("carol").await;
        // Bob: clean days, one across local midnight (04:00 UTC is midnight in New York).
        let mut events = Vec::new();
        for day in 0..5u32 {
            let start = now() - Duration::days(i64::from(day) + 1) - Duration::hours(9);
            for i in 0..20u32 {
                let kind = if i % 4 == 3 {
                    ActivityKind::Idle
                } else {
                    ActivityKind::Active
                };
                events.push(input(
                    u128::from(day * 100 + i) + 1,
                    start + Duration::minutes(i64::from(i) * 15),
                    900,
                    kind,
                ));
            }
        }
        t.upload_activity(&bob, ActivityBatch { events })
            .await
            .unwrap();
        // Carol: overlapping events (a confused agent) on one day.
        let base = now() - Duration::days(2);
        let overlapping = vec![
            input(10_001, base, 3_600, ActivityKind::Active),
            input(
                10_002,
                base + Duration::minutes(30),
                3_600,
                ActivityKind::Active,
            ),
            input(
                10_003,
                base + Duration::minutes(45),
                600,
                ActivityKind::Idle,
            ),
        ];
        t.upload_activity(
            &carol,
            ActivityBatch {
                events: overlapping,
            },
        )
        .await
        .unwrap();
        // Bob asks to count a gap; the admin approves.
        let bob_p = t
            .authenticate(
                t.login(login(Some(key.clone()), "bob"), None)
                    .await
                    .unwrap()
                    .token
                    .expose(),
            )
            .await
            .unwrap();
        let c = t
            .request_correction(
                &bob_p,
                NewCorrection {
                    starts_at: now() - Duration::days(3) - Duration::hours(2),
                    ends_at: now() - Duration::days(3),
                    reason: "offsite".into(),
                },
            )
            .await
            .unwrap();
        t.approve_correction(&admin, c.id, Decision::default())
            .await
            .unwrap();

        let grid = t.monthly_report(&admin, 2026, 4, None).await.unwrap();
        let grid = grid
            .cells
            .into_iter()
            .filter_map(|c| Some(((names.get(&c.user_id)?.clone(), c.date), c.totals)))
            .collect();
        let from = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
        let to = NaiveDate::from_ymd_opt(2026, 4, 30).unwrap();
        let sheet = t
            .timesheet(&admin, from, to, None)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.username != "alice")
            .map(|r| ((r.username, r.date), r.totals))
            .collect();
        (grid, sheet)
    })
}

#[test]
fn sqlite_reports_equal_the_exact_computation() {
    let (mem_grid, mem_sheet) = scenario(Arc::new(MemoryStore::new()));
    let (sql_grid, sql_sheet) = scenario(Arc::new(SqliteStore::open_in_memory().unwrap()));
    assert_eq!(mem_grid.len(), 60, "two users by thirty days");
    let busy = mem_grid.values().filter(|t| t.active_seconds > 0).count();
    assert!(busy >= 6, "the scenario has data on several days: {busy}");
    assert!(
        mem_grid.values().any(|t| t.corrected_seconds > 0),
        "a corrected day is in the grid"
    );
    assert_eq!(sql_grid, mem_grid);
    assert_eq!(sql_sheet, mem_sheet);
}
