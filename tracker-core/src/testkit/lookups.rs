//! Lookups by id, key and username: what the provided methods are made of.

use std::collections::BTreeSet;

use crate::audit::{AuditAction, AuditChain};
use crate::identity::Role;
use crate::notify::{AlertFilter, AlertKind};
use crate::paging::PageRequest;
use crate::secret::SecretHash;
use crate::store::*;

use super::fixtures::*;

/// Every filter field a list takes narrows it within the company asked
/// for: an id, key or username of another company finds nothing, and the
/// lookups built on the lists (`get_*`, `*_by_*`, `has_owner`,
/// `count_seats`, `open_alerts`) agree with them.
pub async fn lookups_by_id_and_key_stay_in_their_company(store: &dyn Store) {
    let a = company(store, 10, 10_000).await;
    let b = company(store, 10, 10_000).await;
    let (ca, cb) = (a.company.id, b.company.id);
    let first = PageRequest::first(10);

    // Companies, by id and by key digest.
    let t = store.tenants();
    let only = |ids: &[CompanyId], key: Option<&SecretHash>| CompanyFilter {
        ids: (!ids.is_empty()).then(|| ids.iter().copied().collect()),
        key_hash: key.cloned(),
    };
    let ids = |f: CompanyFilter| async move {
        let page = t.list_companies(&f, &PageRequest::first(10)).await.unwrap();
        page.items.into_iter().map(|c| c.id).collect::<Vec<_>>()
    };
    assert_eq!(ids(only(&[ca], None)).await, [ca], "companies by id");
    let key_b = &b.company.key_hash;
    assert_eq!(ids(only(&[], Some(key_b))).await, [cb], "company by key");
    assert!(
        ids(only(&[ca], Some(key_b))).await.is_empty(),
        "filters combine"
    );
    assert_eq!(t.get_company(cb).await.unwrap(), Some(b.company.clone()));
    assert_eq!(
        t.company_by_key_hash(key_b).await.unwrap().map(|c| c.id),
        Some(cb)
    );
    let unknown = SecretHash::of("company_unknown");
    assert_eq!(t.company_by_key_hash(&unknown).await.unwrap(), None);

    // Users, by id and username; `None` names the owners.
    let u = store.users();
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    assert!(!u.has_owner().await.unwrap(), "no owner yet");
    let root = new_user(None, "root", Role::Owner);
    let owner_event = event(AuditChain::Platform, AuditAction::OwnerCreated, 1);
    u.insert_user(&root, None, owner_event).await.unwrap();
    assert!(u.has_owner().await.unwrap());
    let owners = u
        .list_users(None, &UserFilter::default(), &first)
        .await
        .unwrap();
    assert_eq!(
        owners.items,
        std::slice::from_ref(&root),
        "owners only, never a company user"
    );
    let named = |name: &str| UserFilter {
        username: Some(name.into()),
        ..UserFilter::default()
    };
    let found = u.list_users(Some(ca), &named("bob"), &first).await.unwrap();
    assert_eq!(found.items, std::slice::from_ref(&bob), "user by username");
    let found = u.list_users(Some(cb), &named("bob"), &first).await.unwrap();
    assert!(found.items.is_empty(), "a username of another company");
    let theirs = UserFilter {
        ids: Some(BTreeSet::from([bob.id])),
        ..UserFilter::default()
    };
    let found = u.list_users(Some(cb), &theirs, &first).await.unwrap();
    assert!(found.items.is_empty(), "a user id of another company");
    assert_eq!(
        u.get_user(Some(ca), bob.id).await.unwrap(),
        Some(bob.clone())
    );
    assert_eq!(u.get_user(Some(cb), bob.id).await.unwrap(), None);
    assert_eq!(u.get_user(None, bob.id).await.unwrap(), None);
    assert_eq!(u.user_by_username(None, "bob").await.unwrap(), None);
    assert_eq!(
        u.user_by_username(None, "root").await.unwrap(),
        Some(root.clone())
    );
    assert_eq!(u.count_seats(ca).await.unwrap(), 2, "the admin and bob");

    // Sessions, events and screenshots by their own id.
    let tr = store.tracking();
    let s = session(ca, bob.id, 0);
    tr.insert_session(&s).await.unwrap();
    let shot = shot(ca, bob.id, 0, 100);
    tr.insert_screenshot(&shot, 10_000).await.unwrap();
    let events = [activity(ca, bob.id, 0, 60), activity(ca, bob.id, 60, 60)];
    insert_events(tr, ca, &events).await.unwrap();
    let by_id = |id: uuid::Uuid| TrackingFilter {
        ids: Some(BTreeSet::from([id])),
        ..TrackingFilter::default()
    };
    let got = tr.list_sessions(cb, &by_id(s.id.0), &first).await.unwrap();
    assert!(got.items.is_empty(), "a session of another company");
    assert_eq!(tr.get_session(ca, s.id).await.unwrap(), Some(s.clone()));
    assert_eq!(tr.get_session(cb, s.id).await.unwrap(), None);
    let got = tr.list_activity(ca, &by_id(events[1].id.0), &first).await;
    assert_eq!(got.unwrap().items, [events[1].clone()], "an event by id");
    let got = tr.list_activity(cb, &by_id(events[1].id.0), &first).await;
    assert!(got.unwrap().items.is_empty(), "an event of another company");
    assert_eq!(
        tr.get_screenshot(ca, shot.id).await.unwrap(),
        Some(shot.clone())
    );
    assert_eq!(tr.get_screenshot(cb, shot.id).await.unwrap(), None);
    assert_eq!(tr.storage_used(ca).await.unwrap(), 100);
    assert_eq!(tr.storage_used(cb).await.unwrap(), 0);

    // Tasks and corrections by id.
    let task = new_task(ca, bob.id, 1);
    let assigned = event(AuditChain::Company(ca), AuditAction::TaskAssigned, 2);
    store.tasks().save_task(&task, assigned).await.unwrap();
    let theirs = TaskFilter {
        ids: Some(BTreeSet::from([task.id])),
        ..TaskFilter::default()
    };
    let got = store.tasks().list_tasks(cb, &theirs, &first).await.unwrap();
    assert!(got.items.is_empty(), "a task of another company");
    assert_eq!(
        store.tasks().get_task(ca, task.id).await.unwrap(),
        Some(task.clone())
    );
    assert_eq!(store.tasks().get_task(cb, task.id).await.unwrap(), None);
    let fix = new_correction(ca, bob.id, 1);
    let corrections = store.corrections();
    corrections
        .save_correction(&fix, requested(&fix))
        .await
        .unwrap();
    assert_eq!(
        corrections.get_correction(ca, fix.id).await.unwrap(),
        Some(fix.clone())
    );
    assert_eq!(corrections.get_correction(cb, fix.id).await.unwrap(), None);

    // Alerts by id, and across companies for the jobs.
    let al = store.alerts();
    let mine = alert(ca, AlertKind::NoSync, None);
    let other = alert(cb, AlertKind::NoSync, None);
    for x in [&mine, &other] {
        al.open_alert(x).await.unwrap();
    }
    let one = AlertFilter {
        id: Some(mine.id),
        ..AlertFilter::default()
    };
    let got = al.list_alerts(Some(cb), &one, &first).await.unwrap();
    assert!(got.items.is_empty(), "an alert of another company");
    let got = al.list_alerts(Some(ca), &one, &first).await.unwrap();
    assert_eq!(got.items, std::slice::from_ref(&mine));
    assert_eq!(al.get_alert(cb, mine.id).await.unwrap(), None);
    let all = al
        .list_alerts(None, &AlertFilter::default(), &first)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2, "every company's alerts with None");
    let open = al.open_alerts(None, AlertKind::NoSync).await.unwrap();
    let mut expected = vec![mine.clone(), other.clone()];
    expected.sort_by_key(|x| (x.company_id, x.id));
    assert_eq!(
        open, expected,
        "open alerts of every company by (company, id)"
    );
    assert_eq!(
        al.open_alerts(Some(cb), AlertKind::NoSync).await.unwrap(),
        [other]
    );
}
