//! Sessions, activity and screenshots.

use std::collections::BTreeSet;

use chrono::Duration;

use crate::audit::{AuditAction, AuditChain};
use crate::identity::Role;
use crate::paging::PageRequest;
use crate::store::*;
use crate::tracking::{ActivityEvent, Screenshot, WorkSession};

use super::fixtures::*;

/// Sessions: replays return the first row; stop sets once; another
/// company's id is absent; lists filter and page by (started_at, id).
pub async fn sessions_are_idempotent_and_scoped(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let s = session(c, bob.id, 0);
    let first = tr.insert_session(&s).await.unwrap();
    assert!(first.inserted);
    let replay = WorkSession {
        started_at: s.started_at + Duration::minutes(9),
        ..s.clone()
    };
    let second = tr.insert_session(&replay).await.unwrap();
    assert!(!second.inserted);
    assert_eq!(second.stored, s, "a replay returns the first row");
    assert_eq!(tr.get_session(b.company.id, s.id).await.unwrap(), None);
    let stop = t0() + Duration::hours(1);
    assert_eq!(
        tr.stop_session(c, s.id, stop).await.unwrap().stopped_at,
        Some(stop)
    );
    let again = tr
        .stop_session(c, s.id, stop + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(again.stopped_at, Some(stop), "stop sets the time once");
    expect_code(
        tr.stop_session(b.company.id, s.id, stop).await,
        "not_found",
        "stop across companies",
    );
    // Same client id in another company is another row.
    let theirs = WorkSession {
        company_id: b.company.id,
        user_id: b.admin.id,
        ..s.clone()
    };
    assert!(tr.insert_session(&theirs).await.unwrap().inserted);

    let mut expected = vec![tr.get_session(c, s.id).await.unwrap().unwrap()];
    for i in 0..9 {
        // Pairs share a start time, so paging must break ties by id.
        let x = session(c, if i % 2 == 0 { bob.id } else { a.admin.id }, 10 + i / 2);
        tr.insert_session(&x).await.unwrap();
        expected.push(x);
    }
    expected.sort_by_key(|x| (x.started_at, x.id));
    let none = TrackingFilter::default();
    let got = walk(4, |p| {
        let none = none.clone();
        async move { tr.list_sessions(c, &none, &p).await }
    })
    .await;
    assert_eq!(
        got, expected,
        "all sessions of the company, by (started_at, id)"
    );
    let only_bob = TrackingFilter {
        users: Some(BTreeSet::from([bob.id])),
        from: Some(t0() + Duration::minutes(10)),
        to: Some(t0() + Duration::minutes(12)),
        ..TrackingFilter::default()
    };
    let got = tr
        .list_sessions(c, &only_bob, &PageRequest::first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|x| x.user_id == bob.id && x.started_at >= t0() + Duration::minutes(10))
    );
    let theirs_only = tr
        .list_sessions(b.company.id, &none, &PageRequest::first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(theirs_only, vec![theirs]);
    bad_cursor(
        |p| async move { tr.list_sessions(c, &TrackingFilter::default(), &p).await },
        "list_sessions",
    )
    .await;
}

/// Activity: ids already stored (in this or an earlier call) are counted
/// as duplicates and ignored; events must belong to the company.
pub async fn activity_ingest_is_idempotent_and_scoped(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let events: Vec<ActivityEvent> = (0..25)
        .map(|i| activity(c, a.admin.id, i * 60, 60))
        .collect();
    let n = insert_events(tr, c, &events[..20]).await.unwrap();
    assert_eq!((n.inserted, n.duplicates), (20, 0));
    let n = insert_events(tr, c, &events).await.unwrap();
    assert_eq!(
        (n.inserted, n.duplicates),
        (5, 20),
        "a replay is counted once"
    );
    let twice = vec![events[0].clone(), events[0].clone()];
    let n = insert_events(tr, c, &twice).await.unwrap();
    assert_eq!((n.inserted, n.duplicates), (0, 2));
    let fresh = activity(c, a.admin.id, 5_000, 10);
    let n = insert_events(tr, c, &[fresh.clone(), fresh.clone()])
        .await
        .unwrap();
    assert_eq!(
        (n.inserted, n.duplicates),
        (1, 1),
        "a duplicate inside one batch is stored once"
    );

    let mixed = vec![
        activity(c, a.admin.id, 9_000, 10),
        activity(b.company.id, b.admin.id, 9_000, 10),
    ];
    assert!(
        insert_events(tr, c, &mixed).await.is_err(),
        "an event of another company is refused"
    );
    let none = TrackingFilter::default();
    let stored = walk(7, |p| {
        let none = none.clone();
        async move { tr.list_activity(c, &none, &p).await }
    })
    .await;
    assert_eq!(stored.len(), 26, "the refused batch stored nothing");
    let mut expected: Vec<ActivityEvent> = events.clone();
    expected.push(fresh);
    expected.sort_by_key(|e| (e.started_at, e.id));
    assert_eq!(
        stored, expected,
        "events read back exactly, by (started_at, id)"
    );
    let same_ids: Vec<ActivityEvent> = events
        .iter()
        .map(|e| ActivityEvent {
            company_id: b.company.id,
            user_id: b.admin.id,
            ..e.clone()
        })
        .collect();
    let n = insert_events(tr, b.company.id, &same_ids).await.unwrap();
    assert_eq!(n.inserted, 25, "ids are unique per company, not globally");
    let window = TrackingFilter {
        users: Some(BTreeSet::from([a.admin.id])),
        from: Some(t0() + Duration::minutes(10)),
        to: Some(t0() + Duration::minutes(15)),
        ..TrackingFilter::default()
    };
    let got = tr
        .list_activity(c, &window, &PageRequest::first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(got.len(), 5);
    let strangers = TrackingFilter {
        users: Some(BTreeSet::from([b.admin.id])),
        ..Default::default()
    };
    assert!(
        tr.list_activity(c, &strangers, &PageRequest::first(100))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    bad_cursor(
        |p| async move { tr.list_activity(c, &TrackingFilter::default(), &p).await },
        "list_activity",
    )
    .await;
}

/// Event ids are unique per user: an id one user stored, sent in another
/// user's batch, is that user's own new event; each user's replay counts
/// once, and neither user's event changes the other's.
pub async fn event_ids_are_unique_per_user(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let bob = new_user(Some(c), "bob", Role::Employee);
    store
        .users()
        .insert_user(
            &bob,
            None,
            event(AuditChain::Company(c), AuditAction::EmployeeCreated, 1),
        )
        .await
        .unwrap();
    let theirs = activity(c, a.admin.id, 0, 60);
    insert_events(tr, c, std::slice::from_ref(&theirs))
        .await
        .unwrap();
    let same_id = ActivityEvent {
        user_id: bob.id,
        duration_seconds: 5,
        app: Some("bob's app".into()),
        ..theirs.clone()
    };
    let bobs = vec![
        activity(c, bob.id, 600, 60),
        same_id.clone(),
        activity(c, bob.id, 900, 60),
    ];
    let n = insert_events(tr, c, &bobs).await.unwrap();
    assert_eq!((n.inserted, n.duplicates), (3, 0), "bob's three are new");
    let of = |user: UserId| TrackingFilter {
        users: Some(BTreeSet::from([user])),
        ..TrackingFilter::default()
    };
    let page = PageRequest::first(100);
    let alices = tr.list_activity(c, &of(a.admin.id), &page).await.unwrap();
    assert_eq!(alices.items, vec![theirs.clone()], "theirs whole");
    let bobs_stored = tr.list_activity(c, &of(bob.id), &page).await.unwrap().items;
    let mut in_order = bobs.clone();
    in_order.sort_by_key(|e| (e.started_at, e.id));
    assert_eq!(bobs_stored, in_order, "bob's own, with his own fields");
    for (user_events, user) in [(vec![theirs.clone()], "alice"), (bobs, "bob")] {
        let replay = insert_events(tr, c, &user_events).await.unwrap();
        assert_eq!(
            (replay.inserted, replay.duplicates),
            (0, user_events.len() as u64),
            "{user}'s replay counts once"
        );
    }
    let named = TrackingFilter {
        ids: Some(BTreeSet::from([theirs.id.0])),
        ..TrackingFilter::default()
    };
    let both = tr.list_activity(c, &named, &page).await.unwrap().items;
    assert_eq!(both.len(), 2, "one id, two users' events: {both:?}");
}

/// `activity_between` returns the events overlapping the window, by
/// (started_at, id), for the given users of the company only.
pub async fn activity_between_selects_overlaps(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let from = t0() + Duration::hours(1);
    let to = t0() + Duration::hours(2);
    let before_ending_at_from = activity(c, bob.id, 3_600 - 600, 600);
    let straddling_from = activity(c, bob.id, 3_600 - 300, 600);
    let inside = activity(c, bob.id, 4_000, 60);
    let inside_other_user = activity(c, a.admin.id, 4_000, 60);
    let starting_at_to = activity(c, bob.id, 7_200, 60);
    let straddling_to = activity(c, bob.id, 7_100, 600);
    let all = vec![
        before_ending_at_from,
        straddling_from.clone(),
        inside.clone(),
        inside_other_user.clone(),
        starting_at_to,
        straddling_to.clone(),
    ];
    insert_events(tr, c, &all).await.unwrap();
    insert_events(
        tr,
        b.company.id,
        &[activity(b.company.id, b.admin.id, 4_000, 60)],
    )
    .await
    .unwrap();
    let got = tr.activity_between(c, None, from, to).await.unwrap();
    let mut expected = vec![
        straddling_from.clone(),
        inside.clone(),
        inside_other_user,
        straddling_to.clone(),
    ];
    expected.sort_by_key(|e| (e.started_at, e.id));
    assert_eq!(got, expected);
    let bob_only = tr
        .activity_between(c, Some(&BTreeSet::from([bob.id])), from, to)
        .await
        .unwrap();
    assert_eq!(bob_only, vec![straddling_from, inside, straddling_to]);
    let none = tr
        .activity_between(c, Some(&BTreeSet::new()), from, to)
        .await
        .unwrap();
    assert!(none.is_empty(), "an empty user set selects nothing");
    let stranger = tr
        .activity_between(c, Some(&BTreeSet::from([b.admin.id])), from, to)
        .await
        .unwrap();
    assert!(stranger.is_empty());
}

/// Company-wide activity reads merge every user's events in (started_at,
/// id) order, ties between users included, whatever the page size; a user
/// filter and a window narrow them; a purge step's limit counts across
/// users, and steps repeated until nothing is left delete exactly the old
/// events of every user and nothing of another company.
pub async fn company_activity_spans_users(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let mut users = vec![a.admin.id];
    for name in ["u1", "u2", "u3"] {
        users.push(add_user(store, &a, name, Role::Employee).await.id);
    }
    // Interleaved timelines (user k starts k*15 s after user 0) and one
    // instant every user shares, so only the ids order the ties.
    let mut events = Vec::new();
    for (k, user) in users.iter().enumerate() {
        let mine: Vec<ActivityEvent> = (0..12)
            .map(|i| activity(c, *user, i * 60 + k as i64 * 15, 10))
            .chain([activity(c, *user, 10_000, 30)])
            .collect();
        insert_events(tr, c, &mine).await.unwrap();
        events.extend(mine);
    }
    let theirs: Vec<ActivityEvent> = (0..12)
        .map(|i| activity(b.company.id, b.admin.id, i * 60, 10))
        .collect();
    insert_events(tr, b.company.id, &theirs).await.unwrap();
    events.sort_by_key(|e| (e.started_at, e.id));

    for size in [1, 5, 13, 500] {
        let got = walk(size, |p| async move {
            tr.list_activity(c, &TrackingFilter::default(), &p).await
        })
        .await;
        assert_eq!(got, events, "every user's events merged, pages of {size}");
    }
    let some = BTreeSet::from([users[1], users[3]]);
    let window = TrackingFilter {
        users: Some(some.clone()),
        from: Some(t0() + Duration::seconds(120)),
        to: Some(t0() + Duration::seconds(10_000)),
        ..TrackingFilter::default()
    };
    let expected: Vec<ActivityEvent> = events
        .iter()
        .filter(|e| {
            some.contains(&e.user_id)
                && e.started_at >= t0() + Duration::seconds(120)
                && e.started_at < t0() + Duration::seconds(10_000)
        })
        .cloned()
        .collect();
    assert_eq!(expected.len(), 20);
    let got = walk(3, |p| {
        let window = window.clone();
        async move { tr.list_activity(c, &window, &p).await }
    })
    .await;
    assert_eq!(got, expected, "users and window narrow the merge");
    let (from, to) = (t0() + Duration::seconds(100), t0() + Duration::seconds(400));
    let between: Vec<ActivityEvent> = events
        .iter()
        .filter(|e| e.started_at < to && e.ended_at() > from)
        .cloned()
        .collect();
    assert_eq!(
        tr.activity_between(c, None, from, to).await.unwrap(),
        between,
        "every user's overlapping events, in order"
    );

    // The first six minutes are old: 6 events of each of the 4 users.
    let before = t0() + Duration::seconds(360);
    let step = PurgeBatch {
        before,
        before_date: t0().date_naive(),
        screenshots: vec![],
        limit: 5,
        started_at: t0() + Duration::days(100),
        user: None,
        keep: Default::default(),
        personal: false,
        screenshots_before: None,
        sessions_before: None,
        details_before: None,
    };
    let mut deleted = 0;
    for _ in 0..20 {
        let n = store
            .retention()
            .purge_tracking(c, &step)
            .await
            .unwrap()
            .events;
        assert!(n <= 5, "a step deletes at most its limit, got {n}");
        if n == 0 {
            break;
        }
        deleted += n;
    }
    assert_eq!(deleted, 24, "every user's old events, across steps");
    let left = walk(500, |p| async move {
        tr.list_activity(c, &TrackingFilter::default(), &p).await
    })
    .await;
    let kept: Vec<ActivityEvent> = events
        .iter()
        .filter(|e| e.ended_at() > before)
        .cloned()
        .collect();
    assert_eq!(left, kept, "only the old events went");
    let their_left = tr
        .list_activity(
            b.company.id,
            &TrackingFilter::default(),
            &PageRequest::first(100),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(their_left.len(), 12, "another company's events stay");
}

/// Screenshots: replays return the first row; a new one past the storage
/// limit is refused and stored nowhere; lists are scoped and paged.
pub async fn screenshots_respect_storage_limits(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let s1 = shot(c, a.admin.id, 0, 400);
    assert!(tr.insert_screenshot(&s1, 1_000).await.unwrap().inserted);
    let replay = tr
        .insert_screenshot(
            &Screenshot {
                size_bytes: 1,
                ..s1.clone()
            },
            1_000,
        )
        .await
        .unwrap();
    assert!(!replay.inserted);
    assert_eq!(replay.stored, s1);
    let s2 = shot(c, a.admin.id, 1, 600);
    assert!(
        tr.insert_screenshot(&s2, 1_000).await.unwrap().inserted,
        "exactly at the limit is allowed"
    );
    let s3 = shot(c, a.admin.id, 2, 1);
    expect_code(
        tr.insert_screenshot(&s3, 1_000).await,
        "storage_limit_reached",
        "one byte past the limit",
    );
    assert_eq!(tr.get_screenshot(c, s3.id).await.unwrap(), None);
    assert_eq!(tr.storage_used(c).await.unwrap(), 1_000);
    assert_eq!(
        tr.storage_used(b.company.id).await.unwrap(),
        0,
        "storage is per company"
    );
    assert!(
        tr.insert_screenshot(&shot(b.company.id, b.admin.id, 0, 900), 1_000)
            .await
            .unwrap()
            .inserted
    );
    assert_eq!(tr.get_screenshot(b.company.id, s1.id).await.unwrap(), None);
    let mut expected = vec![s1, s2];
    for i in 0..5 {
        let s = shot(c, a.admin.id, 10 + i, 0);
        tr.insert_screenshot(&s, 1_000).await.unwrap();
        expected.push(s);
    }
    expected.sort_by_key(|s| (s.taken_at, s.id));
    let none = TrackingFilter::default();
    let got = walk(3, |p| {
        let none = none.clone();
        async move { tr.list_screenshots(c, &none, &p).await }
    })
    .await;
    assert_eq!(got, expected);
    bad_cursor(
        |p| async move { tr.list_screenshots(c, &TrackingFilter::default(), &p).await },
        "list_screenshots",
    )
    .await;
}

/// Open sessions are those without `stopped_at`, of the company asked for,
/// ordered by (started_at, id).
pub async fn open_sessions_are_listed_per_company(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let later = session(c, bob.id, 30);
    let earlier = session(c, a.admin.id, 10);
    let stopped = session(c, bob.id, 0);
    for s in [&later, &earlier, &stopped] {
        tr.insert_session(s).await.unwrap();
    }
    tr.stop_session(c, stopped.id, t0() + Duration::minutes(5))
        .await
        .unwrap();
    tr.insert_session(&session(b.company.id, b.admin.id, 0))
        .await
        .unwrap();
    let open = tr.open_sessions(c).await.unwrap();
    assert_eq!(open, vec![earlier, later]);
}
