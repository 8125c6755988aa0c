//! The retention purge.

use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate};

use crate::audit::{AuditAction, AuditChain};
use crate::identity::Role;
use crate::store::*;
use crate::tracking::{ActivityEvent, Screenshot, WorkSession};

use super::fixtures::*;

/// A purge step deletes only the company's rows older than the cutoff
/// (events that ended by it, sessions started before it and stopped by it
/// or never, listed screenshots taken before it, daily rows dated before
/// it), at most `limit` of each, keeps a running total, and
/// `finish_purge` writes its audit event and forgets the total.
pub async fn purges_delete_only_old_rows_of_their_company(store: &dyn Store) {
    let a = company(store, 10, 1_000_000).await;
    let b = company(store, 10, 1_000_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let before = t0() + Duration::days(2);
    let before_date = NaiveDate::from_ymd_opt(2026, 5, 6).unwrap_or_default();
    // Five old events, one that ends after the cutoff, two new ones.
    let mut old: Vec<ActivityEvent> = (0..5).map(|i| activity(c, bob.id, i * 600, 300)).collect();
    let straddling = ActivityEvent {
        started_at: before - Duration::minutes(1),
        duration_seconds: 600,
        ..activity(c, bob.id, 0, 600)
    };
    let new: Vec<ActivityEvent> = (0..2)
        .map(|i| ActivityEvent {
            started_at: before + Duration::hours(i + 1),
            ..activity(c, bob.id, 0, 60)
        })
        .collect();
    insert_events(
        tr,
        c,
        &[old.clone(), vec![straddling.clone()], new.clone()].concat(),
    )
    .await
    .unwrap();
    let theirs = activity(b.company.id, b.admin.id, 0, 300);
    insert_events(tr, b.company.id, std::slice::from_ref(&theirs))
        .await
        .unwrap();
    // Sessions: old stopped, old never stopped, old stopped after the cutoff, new.
    let s_old = WorkSession {
        stopped_at: Some(t0() + Duration::hours(1)),
        ..session(c, bob.id, 0)
    };
    let s_open = session(c, bob.id, 5);
    let s_late = WorkSession {
        stopped_at: Some(before + Duration::hours(1)),
        ..session(c, bob.id, 10)
    };
    let s_new = WorkSession {
        started_at: before + Duration::hours(1),
        ..session(c, bob.id, 0)
    };
    for s in [&s_old, &s_open, &s_late, &s_new] {
        tr.insert_session(s).await.unwrap();
    }
    let s_theirs = session(b.company.id, b.admin.id, 0);
    tr.insert_session(&s_theirs).await.unwrap();
    // Screenshots: three old, one new, one of the other company.
    let old_shots: Vec<Screenshot> = (0..3).map(|i| shot(c, bob.id, i, 100)).collect();
    let new_shot = Screenshot {
        taken_at: before + Duration::hours(2),
        ..shot(c, bob.id, 0, 100)
    };
    let their_shot = shot(b.company.id, b.admin.id, 0, 100);
    for s in old_shots.iter().chain([&new_shot, &their_shot]) {
        tr.insert_screenshot(s, 1_000_000).await.unwrap();
    }

    let listed = old_screenshots(tr, c, before, 2).await;
    assert_eq!(
        listed,
        old_shots[..2].to_vec(),
        "oldest first, at most `limit`"
    );
    assert!(
        store.retention().purge_progress(c).await.unwrap().is_none(),
        "no purge yet"
    );
    let nothing = store
        .retention()
        .purge_tracking(
            c,
            &PurgeBatch {
                before: t0() - Duration::days(30),
                before_date: NaiveDate::from_ymd_opt(2026, 4, 1).unwrap_or_default(),
                screenshots: vec![],
                limit: 10,
                started_at: t0(),
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
    assert!(
        nothing.is_empty(),
        "nothing is older than a month before the data"
    );
    assert!(
        store.retention().purge_progress(c).await.unwrap().is_none(),
        "a step that deleted nothing records nothing"
    );

    let step = |shots: Vec<ScreenshotId>| PurgeBatch {
        before,
        before_date,
        screenshots: shots,
        limit: 2,
        started_at: t0() + Duration::days(100),
        user: None,
        keep: Default::default(),
        personal: false,
        screenshots_before: None,
        sessions_before: None,
        details_before: None,
    };
    // The new screenshot is listed by mistake: it is not deleted.
    let first = store
        .retention()
        .purge_tracking(
            c,
            &step(vec![listed[0].id, listed[1].id, new_shot.id, their_shot.id]),
        )
        .await
        .unwrap();
    assert_eq!(
        (first.events, first.sessions, first.screenshots),
        (2, 2, 2),
        "{first:?}"
    );
    assert_eq!(first.screenshot_bytes, 200);
    let progress = store
        .retention()
        .purge_progress(c)
        .await
        .unwrap()
        .expect("progress after a step");
    assert_eq!(
        (progress.before, progress.before_date),
        (before, before_date)
    );
    assert_eq!(progress.counts, first);
    let mut total = first;
    loop {
        let shots = old_screenshots(tr, c, before, 2).await;
        let n = store
            .retention()
            .purge_tracking(c, &step(shots.iter().map(|s| s.id).collect()))
            .await
            .unwrap();
        if n.is_empty() {
            break;
        }
        total.add(&n);
    }
    assert_eq!(
        (total.events, total.sessions, total.screenshots),
        (5, 2, 3),
        "{total:?}"
    );
    let progress = store
        .retention()
        .purge_progress(c)
        .await
        .unwrap()
        .expect("progress kept until finished");
    assert_eq!(progress.counts, total, "the running total adds every step");
    assert_eq!(progress.started_at, t0() + Duration::days(100));

    let everything = |company| async move {
        tr.activity_between(
            company,
            None,
            t0() - Duration::days(1),
            t0() + Duration::days(10),
        )
        .await
        .unwrap()
    };
    let mut kept: Vec<_> = everything(c).await.into_iter().map(|e| e.id).collect();
    kept.sort();
    let mut expected: Vec<_> = new.iter().chain([&straddling]).map(|e| e.id).collect();
    expected.sort();
    assert_eq!(
        kept, expected,
        "only events that ended by the cutoff are gone"
    );
    assert_eq!(
        everything(b.company.id).await,
        vec![theirs],
        "the other company keeps its events"
    );
    old.clear();
    let sessions: BTreeSet<_> = walk(10, |p| async move {
        tr.list_sessions(c, &TrackingFilter::default(), &p).await
    })
    .await
    .into_iter()
    .map(|s: WorkSession| s.id)
    .collect();
    assert_eq!(sessions, BTreeSet::from([s_late.id, s_new.id]));
    assert!(
        tr.get_session(b.company.id, s_theirs.id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        tr.storage_used(c).await.unwrap(),
        100,
        "only the new screenshot is left"
    );
    assert!(
        tr.get_screenshot(b.company.id, their_shot.id)
            .await
            .unwrap()
            .is_some()
    );
    if let Some(rows) = tr
        .day_rollups(c, None, NaiveDate::MIN, NaiveDate::MAX)
        .await
        .unwrap()
    {
        assert!(
            rows.iter().all(|r| r.date >= before_date),
            "daily rows before the cutoff date are gone: {rows:?}"
        );
        assert!(
            !rows.is_empty(),
            "daily rows from the cutoff date on are kept"
        );
    }

    let chain = AuditChain::Company(c);
    let len = chain_len(store, chain).await;
    store
        .retention()
        .finish_purge(c, event(chain, AuditAction::DataPurged, 9))
        .await
        .unwrap();
    assert_eq!(chain_len(store, chain).await, len + 1, "one audit event");
    assert!(
        store.retention().purge_progress(c).await.unwrap().is_none(),
        "finished purges are forgotten"
    );
}
