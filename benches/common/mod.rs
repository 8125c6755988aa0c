//! What both store benches share: the database they measure and the
//! shape of its events.

#![allow(dead_code)]

use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use tracker_core::protocol::{CreateCompany, LoginRequest, NewUser};
use tracker_core::store::{EventBatch, Store};
use tracker_core::*;

/// The load generator's realistic events (see the file).
#[path = "../../examples/common/workload.rs"]
pub mod workload;

pub const USERS: usize = 100;
pub const DAYS: u32 = 30;

pub fn events_per_day() -> usize {
    // `cargo test --all-targets` runs benches once as tests: keep that quick.
    let benching = std::env::args().any(|a| a == "--bench");
    std::env::var("TRACKER_BENCH_EVENTS_PER_DAY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 334 } else { 2 })
}

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 30, 23, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The bench database: one company of employees and their events.
pub struct World<S: Store> {
    pub tracker: Tracker<S>,
    pub admin: Principal,
    pub company: CompanyId,
    /// The company key.
    pub key: String,
    pub users: Vec<UserId>,
}

pub fn event(
    company: CompanyId,
    user: UserId,
    at: DateTime<Utc>,
    secs: u32,
    n: usize,
) -> ActivityEvent {
    ActivityEvent {
        // Time-ordered ids, as the protocol recommends to agents.
        id: ActivityId::new(),
        company_id: company,
        user_id: user,
        session_id: None,
        started_at: at,
        duration_seconds: secs,
        kind: if n % 5 == 4 {
            ActivityKind::Idle
        } else {
            ActivityKind::Active
        },
        app: Some(["editor", "browser", "terminal", "mail"][n % 4].to_owned()),
        window_title: Some(format!("document {}", n % 50)),
        url: (n % 4 == 1).then(|| format!("https://site{}.example.com/page/{}", n % 20, n % 7)),
    }
}

/// The events of one user on one April day: back to back from 08:00 UTC.
pub fn day_events(
    company: CompanyId,
    user: UserId,
    day: u32,
    per_day: usize,
) -> Vec<ActivityEvent> {
    let start = Utc
        .with_ymd_and_hms(2026, 4, day, 8, 0, 0)
        .single()
        .unwrap_or_default();
    (0..per_day)
        .map(|i| {
            event(
                company,
                user,
                start + chrono::Duration::seconds(i as i64 * 60),
                60,
                i,
            )
        })
        .collect()
}

/// Fills `store` through the service: the company, its [`USERS`] users,
/// and `events_per_day()` events per user and day of April.
pub async fn build<S: Store>(store: S) -> World<S> {
    build_users(store, USERS).await
}

/// [`build`] with `count` users (`user000`, `user001`… with the password
/// `user-password`).
pub async fn build_users<S: Store>(store: S, count: usize) -> World<S> {
    build_with(store, count, events_per_day()).await
}

/// `count` users as [`build_users`] makes them, and `per_day` events of
/// each on each of the [`DAYS`] (none with 0).
pub async fn build_with<S: Store>(store: S, count: usize, per_day: usize) -> World<S> {
    let tracker = Tracker::builder(store)
        .clock(ManualClock::new(now()))
        .password_hasher(Argon2Hasher::insecure_fast())
        .build();
    let started = Instant::now();
    let world = async {
        tracker.ensure_default_plans().await.unwrap();
        tracker
            .bootstrap_owner("operator", "operator-password")
            .await
            .unwrap();
        let login = |key: Option<String>, u: &str, p: &str| LoginRequest {
            company_key: key,
            username: u.into(),
            password: p.into(),
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
                    name: "Bench".into(),
                    plan: Some("ENTERPRISE".into()),
                    timezone: Some("UTC".into()),
                    trial_days: Some(0),
                    retention_days: None,
                    admin: NewUser {
                        username: "admin".into(),
                        password: "admin-password".into(),
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
            .login(login(Some(key.clone()), "admin", "admin-password"), None)
            .await
            .unwrap();
        let admin = tracker.authenticate(admin.token.expose()).await.unwrap();
        let company = created.company.id;
        let mut users = Vec::with_capacity(count);
        for i in 0..count {
            let u = tracker
                .create_user(
                    &admin,
                    NewUser {
                        username: format!("user{i:03}"),
                        password: "user-password".into(),
                        email: None,
                        display_name: None,
                        role: Some(Role::Employee),
                    },
                )
                .await
                .unwrap();
            users.push(u.id);
        }
        for day in (1..=DAYS).filter(|_| per_day > 0) {
            for &u in &users {
                let events = day_events(company, u, day, per_day);
                let batch = EventBatch::new(company, u, events).expect("one user's events");
                tracker
                    .store()
                    .tracking()
                    .insert_activity(&batch)
                    .await
                    .unwrap();
            }
        }
        World {
            tracker,
            admin,
            company,
            key,
            users,
        }
    }
    .await;
    eprintln!(
        "built {} events ({} users x {} days x {per_day}) in {:.1?}",
        count * DAYS as usize * per_day,
        count,
        DAYS,
        started.elapsed()
    );
    world
}

/// A recorded event of the realistic workload as a user's activity event.
pub fn recorded(company: CompanyId, user: UserId, e: &workload::Event) -> ActivityEvent {
    ActivityEvent {
        id: ActivityId::from_uuid(e.id),
        company_id: company,
        user_id: user,
        session_id: None,
        started_at: e.at,
        duration_seconds: e.seconds,
        kind: ActivityKind::Active,
        app: Some(e.app.to_owned()),
        window_title: Some(e.title.clone()),
        url: e.url.clone(),
    }
}

/// One realistic recorder per user, each clock starting at `start`.
pub fn recorders(count: usize, start: DateTime<Utc>) -> Vec<workload::Recorder> {
    (0..count)
        .map(|i| workload::Recorder {
            mix: workload::Mix(i as u64 + 1),
            clock: start,
            last: Vec::new(),
        })
        .collect()
}
