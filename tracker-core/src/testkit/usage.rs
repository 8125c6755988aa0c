//! Usage rows, day rollups and pending-day marks.

use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate, TimeZone, Utc};

use crate::audit::{AuditAction, AuditChain};
use crate::identity::Role;
use crate::store::*;
use crate::tracking::{ActivityEvent, ActivityKind, Screenshot};
use crate::work::{CompanyUsageDaily, CorrectionRequest, CorrectionStatus};

use super::fixtures::*;

/// Usage rows are replaced by (company, date) and listed by inclusive range.
pub async fn usage_rows_upsert_by_day(store: &dyn Store) {
    let (a, b) = (CompanyId::new(), CompanyId::new());
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 5, d).unwrap_or_default();
    let row = |company: CompanyId, d: u32, active: u64| CompanyUsageDaily {
        company_id: company,
        date: day(d),
        active_seconds: active,
        idle_seconds: 10,
        screenshots: 2,
        storage_bytes: 2_048,
        active_users: 3,
    };
    let us = store.usage();
    us.upsert_usage(&[
        row(a, 1, 100),
        row(a, 2, 200),
        row(a, 3, 300),
        row(b, 2, 50),
    ])
    .await
    .unwrap();
    us.upsert_usage(&[row(a, 2, 222)]).await.unwrap();
    let got = us.list_usage(Some(a), day(2), day(3)).await.unwrap();
    assert_eq!(
        got,
        vec![row(a, 2, 222), row(a, 3, 300)],
        "replaced, inclusive range, by date"
    );
    let mut all = us.list_usage(None, day(1), day(31)).await.unwrap();
    assert_eq!(all.len(), 4);
    let sorted = {
        let mut s = all.clone();
        s.sort_by_key(|r| (r.company_id, r.date));
        s
    };
    assert_eq!(all, sorted, "all companies, by (company, date)");
    all.retain(|r| r.company_id == b);
    assert_eq!(all, vec![row(b, 2, 50)]);
    assert!(
        us.list_usage(Some(b), day(3), day(31))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Two companies in Europe/Berlin, a second user `bob` in the first, and
/// 23:30 local on May 4 (21:30 UTC, UTC+2): events from there cross local
/// midnight.
struct Midnight {
    a: Fixture,
    b: Fixture,
    bob: crate::identity::User,
    base: chrono::DateTime<Utc>,
}

impl Midnight {
    async fn new(store: &dyn Store) -> Self {
        let a = company(store, 10, 1_000).await;
        let b = company(store, 10, 1_000).await;
        let bob = add_user(store, &a, "bob", Role::Employee).await;
        let base = Utc
            .with_ymd_and_hms(2026, 5, 4, 21, 30, 0)
            .single()
            .unwrap_or_default();
        Self { a, b, bob, base }
    }
}

/// A store that keeps day rollups returns sums equal to the events clipped
/// to local days (company timezone), exact unless events overlap, unchanged
/// by replays, and scoped to the company and users asked for.
pub async fn day_rollups_match_the_events(store: &dyn Store) {
    let Midnight { a, b, bob, base } = Midnight::new(store).await;
    let tr = store.tracking();
    let c = a.company.id;
    let tz = a.company.tz();
    let ev = |offset_min: i64, secs: u32, kind: ActivityKind| ActivityEvent {
        kind,
        started_at: base + Duration::minutes(offset_min),
        duration_seconds: secs,
        ..activity(c, bob.id, 0, secs)
    };
    let events = vec![
        ev(0, 3_600, ActivityKind::Active),
        ev(60, 600, ActivityKind::Idle),
        ev(70, 1_200, ActivityKind::Active),
    ];
    insert_events(tr, c, &events).await.unwrap();
    insert_events(tr, c, &events).await.unwrap(); // a replay changes nothing
    insert_events(
        tr,
        b.company.id,
        &[ActivityEvent {
            company_id: b.company.id,
            user_id: b.admin.id,
            ..events[0].clone()
        }],
    )
    .await
    .unwrap();
    let (d4, d5) = (
        NaiveDate::from_ymd_opt(2026, 5, 4).unwrap_or_default(),
        NaiveDate::from_ymd_opt(2026, 5, 5).unwrap_or_default(),
    );
    let users = Some(BTreeSet::from([bob.id]));
    let Some(mut rollups) = tr.day_rollups(c, users.as_ref(), d4, d5).await.unwrap() else {
        return; // this store keeps no rollups; reports compute from events
    };
    rollups.sort_by_key(|r| r.date);
    let grid = crate::report::day_grid(tz, d4, d5, &[bob.id], &events, &[]);
    assert_eq!(
        rollups.len(),
        2,
        "one row per local day with events: {rollups:?}"
    );
    for (r, cell) in rollups.iter().zip(&grid) {
        assert_eq!(r.date, cell.date);
        assert!(r.exact, "no overlap: the sums are exact");
        assert_eq!(
            (r.active_seconds, r.idle_seconds),
            (cell.totals.active_seconds, cell.totals.idle_seconds),
            "{}",
            r.date
        );
        assert_eq!(
            (r.first_seen, r.last_seen),
            (cell.totals.first_seen, cell.totals.last_seen),
            "{}",
            r.date
        );
    }
    assert_eq!(
        rollups[0].active_seconds, 1_800,
        "the half hour before local midnight"
    );
    // An overlapping event makes its day inexact.
    insert_events(tr, c, &[ev(75, 60, ActivityKind::Active)])
        .await
        .unwrap();
    let after = tr
        .day_rollups(c, users.as_ref(), d5, d5)
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(after.len(), 1);
    assert!(!after[0].exact, "overlapping events are flagged");
    let before_midnight = tr
        .day_rollups(c, users.as_ref(), d4, d4)
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(before_midnight[0].exact, "the other day stays exact");
    let strangers = tr
        .day_rollups(c, Some(&BTreeSet::from([b.admin.id])), d4, d5)
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        strangers.is_empty(),
        "another company's user has no rollups here"
    );
    let theirs = tr
        .day_rollups(b.company.id, None, d4, d5)
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(theirs.iter().all(|r| r.user_id == b.admin.id));

    // A short event sent long after the start of a long one it falls in.
    let d7 = NaiveDate::from_ymd_opt(2026, 5, 7).unwrap_or_default();
    let long = ActivityEvent {
        started_at: base + Duration::days(2) + Duration::hours(4),
        ..ev(0, 6 * 3_600, ActivityKind::Active)
    };
    insert_events(tr, c, std::slice::from_ref(&long))
        .await
        .unwrap();
    let inside = ActivityEvent {
        started_at: long.started_at + Duration::hours(5),
        ..ev(0, 60, ActivityKind::Active)
    };
    insert_events(tr, c, &[inside]).await.unwrap();
    let day7 = tr
        .day_rollups(c, users.as_ref(), d7, d7)
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(day7.len(), 1, "{day7:?}");
    assert!(
        !day7[0].exact,
        "an event inside one that started hours before it is an overlap"
    );
}

/// A store that keeps per-day usage sums returns, for any range of local
/// days, what [`usage_by`](crate::report::usage_by) computes from the
/// events: events across local midnight split, overlapping events counted
/// in full, idle time and events without an app or URL left out, replays
/// counted once, other users and companies apart.
pub async fn usage_sums_match_the_events(store: &dyn Store) {
    let Midnight { a, b, bob, base } = Midnight::new(store).await;
    let tr = store.tracking();
    let c = a.company.id;
    let tz = a.company.tz();
    let ev = |user: UserId, offset_min: i64, secs: u32, app: Option<&str>, url: Option<&str>| {
        ActivityEvent {
            kind: ActivityKind::Active,
            started_at: base + Duration::minutes(offset_min),
            duration_seconds: secs,
            app: app.map(str::to_owned),
            url: url.map(str::to_owned),
            ..activity(c, user, 0, secs)
        }
    };
    let bobs = vec![
        ev(bob.id, 0, 3_600, Some("editor"), Some("https://docs.rs/x")),
        ev(
            bob.id,
            20,
            600,
            Some("browser"),
            Some("https://www.Docs.rs/y"),
        ),
        ActivityEvent {
            kind: ActivityKind::Idle,
            ..ev(bob.id, 60, 600, Some("editor"), None)
        },
        ev(
            bob.id,
            70,
            1_201,
            Some("browser"),
            Some("http://example.com:8080/"),
        ),
        ev(bob.id, 95, 45, None, Some("not a url")),
        ev(bob.id, 100, 30, Some("terminal"), None),
    ];
    let admins = vec![ev(
        a.admin.id,
        10,
        900,
        Some("editor"),
        Some("https://docs.rs/"),
    )];
    insert_events(tr, c, &bobs).await.unwrap();
    insert_events(tr, c, &admins).await.unwrap();
    insert_events(tr, c, &bobs[..3]).await.unwrap(); // a replay changes nothing
    let theirs = ActivityEvent {
        company_id: b.company.id,
        user_id: b.admin.id,
        app: Some("theirs".into()),
        ..bobs[0].clone()
    };
    insert_events(tr, b.company.id, &[theirs]).await.unwrap();
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 5, d).unwrap_or_default();
    let everyone = BTreeSet::from([bob.id, a.admin.id]);
    for (from, to) in [
        (day(4), day(4)),
        (day(5), day(5)),
        (day(4), day(5)),
        (day(6), day(9)),
    ] {
        for by_domain in [false, true] {
            let Some(sums) = tr
                .usage_sums(c, Some(&everyone), from, to, by_domain)
                .await
                .unwrap()
            else {
                return; // this store keeps no sums; reports compute from events
            };
            let window = (
                crate::report::day_bounds(tz, from).0,
                crate::report::day_bounds(tz, to).1,
            );
            for (user, events) in [(bob.id, &bobs), (a.admin.id, &admins)] {
                let got = crate::report::usage_entries(
                    sums.iter()
                        .filter(|s| s.user_id == user)
                        .map(|s| (s.name.clone(), s.active_micros)),
                );
                let want = crate::report::usage_by(events.iter(), window, by_domain);
                assert_eq!(got, want, "{from}..{to}, by domain {by_domain}, {user}");
            }
            assert!(
                sums.iter().all(|s| everyone.contains(&s.user_id)),
                "only the users asked for: {sums:?}"
            );
        }
    }
    let only_bob = tr
        .usage_sums(c, Some(&BTreeSet::from([bob.id])), day(4), day(5), false)
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(only_bob.iter().all(|s| s.user_id == bob.id));
    assert!(!only_bob.is_empty());
    let strangers = tr
        .usage_sums(
            c,
            Some(&BTreeSet::from([b.admin.id])),
            day(4),
            day(5),
            false,
        )
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        strangers.is_empty(),
        "another company's user: {strangers:?}"
    );
    let all_of_b = tr
        .usage_sums(b.company.id, None, day(4), day(5), false)
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        all_of_b
            .iter()
            .all(|s| s.user_id == b.admin.id && s.name == "theirs"),
        "{all_of_b:?}"
    );
}

/// Ingest marks the UTC dates it touched (an event across UTC midnight marks
/// both), per company; clearing with a stale version keeps the mark; an
/// approved correction marks the dates it spans, a rejected one none.
pub async fn usage_marks_follow_ingest(store: &dyn Store) {
    let a = company(store, 10, 10_000).await;
    let b = company(store, 10, 10_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 5, d).unwrap_or_default();
    assert!(
        store
            .usage()
            .pending_usage_days(c)
            .await
            .unwrap()
            .is_empty(),
        "nothing yet"
    );
    // t0 is May 4 08:00 UTC: 16 hours later is across UTC midnight.
    let late = ActivityEvent {
        started_at: t0() + Duration::hours(15) + Duration::minutes(50),
        duration_seconds: 1_200,
        ..activity(c, bob.id, 0, 1_200)
    };
    insert_events(tr, c, &[activity(c, bob.id, 0, 60), late])
        .await
        .unwrap();
    tr.insert_screenshot(
        &Screenshot {
            taken_at: t0() + Duration::days(3),
            ..shot(c, bob.id, 0, 10)
        },
        10_000,
    )
    .await
    .unwrap();
    let pending = store.usage().pending_usage_days(c).await.unwrap();
    let dates: Vec<_> = pending.iter().map(|p| p.date).collect();
    assert_eq!(
        dates,
        [day(4), day(5), day(7)],
        "event start and end dates, the screenshot's date, in order"
    );
    assert!(
        store
            .usage()
            .pending_usage_days(b.company.id)
            .await
            .unwrap()
            .is_empty(),
        "another company's ingest marks nothing here"
    );
    // New data on May 4 after the marks were read: its clear must not win.
    insert_events(tr, c, &[activity(c, bob.id, 120, 60)])
        .await
        .unwrap();
    store
        .usage()
        .clear_pending_usage(c, &pending)
        .await
        .unwrap();
    let left: Vec<_> = store
        .usage()
        .pending_usage_days(c)
        .await
        .unwrap()
        .iter()
        .map(|p| p.date)
        .collect();
    assert_eq!(
        left,
        [day(4)],
        "a date marked again after the read stays pending"
    );
    store
        .usage()
        .clear_pending_usage(
            b.company.id,
            &store.usage().pending_usage_days(c).await.unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.usage().pending_usage_days(c).await.unwrap().len(),
        1,
        "clearing is scoped to the company"
    );
    let now = store.usage().pending_usage_days(c).await.unwrap();
    store.usage().clear_pending_usage(c, &now).await.unwrap();
    assert!(
        store
            .usage()
            .pending_usage_days(c)
            .await
            .unwrap()
            .is_empty()
    );
    // A date cleared and marked again gets a version never used before: a
    // run that read the old mark cannot clear the new one.
    let on_may_14 = |offset: i64| ActivityEvent {
        started_at: t0() + Duration::days(10) + Duration::seconds(offset),
        ..activity(c, bob.id, 0, 60)
    };
    insert_events(tr, c, &[on_may_14(0)]).await.unwrap();
    let first = store.usage().pending_usage_days(c).await.unwrap();
    store.usage().clear_pending_usage(c, &first).await.unwrap();
    insert_events(tr, c, &[on_may_14(120)]).await.unwrap();
    store.usage().clear_pending_usage(c, &first).await.unwrap();
    let again = store.usage().pending_usage_days(c).await.unwrap();
    assert_eq!(
        again.iter().map(|p| p.date).collect::<Vec<_>>(),
        [day(14)],
        "a stale clear of a date marked again after its clear keeps the mark"
    );
    assert_ne!(first, again, "versions are never reused");
    store.usage().clear_pending_usage(c, &again).await.unwrap();
    // A decision marks the days an approved correction spans, and only those.
    let approved = CorrectionRequest {
        ends_at: t0() + Duration::hours(138),
        ..new_correction(c, bob.id, 134) // May 9 22:00 to May 10 02:00
    };
    let rejected = new_correction(c, bob.id, 200); // May 12
    for (fix, status) in [
        (&approved, CorrectionStatus::Approved),
        (&rejected, CorrectionStatus::Rejected),
    ] {
        store
            .corrections()
            .save_correction(fix, requested(fix))
            .await
            .unwrap();
        store
            .corrections()
            .save_correction(
                &decided(fix, status, a.admin.id),
                event(AuditChain::Company(c), AuditAction::CorrectionDecided, 40),
            )
            .await
            .unwrap();
    }
    let marked: Vec<_> = store
        .usage()
        .pending_usage_days(c)
        .await
        .unwrap()
        .iter()
        .map(|p| p.date)
        .collect();
    assert_eq!(marked, [day(9), day(10)]);
}
