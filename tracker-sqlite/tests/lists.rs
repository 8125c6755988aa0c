//! Lists whose SQL takes a path of its own on SQLite: activity events named
//! by id are read by key instead of through the per-user merge, and must
//! page and filter exactly as the merge does.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::executor::block_on;
use tracker_core::store::{TrackingFilter, TrackingStore};
use tracker_core::testkit::insert_events;
use tracker_core::*;
use tracker_sqlite::SqliteStore;

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 8, 0, 0).single().unwrap() + Duration::minutes(minute)
}

fn event(company: CompanyId, user: UserId, minute: i64) -> ActivityEvent {
    ActivityEvent {
        id: ActivityId::new(),
        company_id: company,
        user_id: user,
        session_id: None,
        started_at: at(minute),
        duration_seconds: 30,
        kind: ActivityKind::Active,
        app: None,
        window_title: None,
        url: None,
    }
}

/// Every page of a list, two items at a time.
fn all_pages(store: &SqliteStore, company: CompanyId, filter: &TrackingFilter) -> Vec<ActivityId> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let got = block_on(store.list_activity(company, filter, &page)).unwrap();
        out.extend(got.items.iter().map(|e| e.id));
        match got.next_cursor {
            Some(cursor) => page = PageRequest::after(cursor, 2),
            None => return out,
        }
    }
}

#[test]
fn events_named_by_id_page_and_filter_as_the_merged_list_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("tracker.db")).unwrap();
    let (company, other) = (CompanyId::new(), CompanyId::new());
    let (ann, bob) = (UserId::new(), UserId::new());
    // Interleaved in time, two at the same minute to order by id.
    let mut events: Vec<ActivityEvent> = (0..8).map(|m| event(company, ann, 2 * m)).collect();
    events.extend((0..8).map(|m| event(company, bob, 2 * m + 1)));
    events.push(event(company, bob, 4));
    block_on(insert_events(&store, company, &events)).unwrap();
    let stranger = event(other, UserId::new(), 4);
    block_on(insert_events(
        &store,
        other,
        std::slice::from_ref(&stranger),
    ))
    .unwrap();

    // Every other event, and an id of another company that must not show.
    let mut named: BTreeSet<_> = events.iter().step_by(2).map(|e| e.id.0).collect();
    named.insert(stranger.id.0);
    let narrowings = [
        TrackingFilter::default(),
        TrackingFilter {
            users: Some(BTreeSet::from([bob])),
            ..TrackingFilter::default()
        },
        TrackingFilter {
            from: Some(at(3)),
            to: Some(at(12)),
            ..TrackingFilter::default()
        },
    ];
    for narrowing in narrowings {
        let by_id = TrackingFilter {
            ids: Some(named.clone()),
            ..narrowing.clone()
        };
        let expected: Vec<ActivityId> = all_pages(&store, company, &narrowing)
            .into_iter()
            .filter(|id| named.contains(&id.0))
            .collect();
        assert!(!expected.is_empty(), "{narrowing:?} names some events");
        assert_eq!(
            all_pages(&store, company, &by_id),
            expected,
            "{narrowing:?}"
        );
    }
}
