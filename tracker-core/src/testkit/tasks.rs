//! Tasks and time corrections.

use std::collections::BTreeSet;

use chrono::Duration;

use crate::audit::{AuditAction, AuditChain};
use crate::identity::Role;
use crate::paging::PageRequest;
use crate::store::*;
use crate::work::{CorrectionRequest, CorrectionStatus, Task, TaskStatus};

use super::fixtures::*;

/// Tasks are scoped to their company, filtered and paged by id.
pub async fn tasks_are_scoped_and_paged(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let c = a.company.id;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let mut ids = Vec::new();
    for n in 0..8 {
        let t = new_task(c, if n % 2 == 0 { bob.id } else { a.admin.id }, n);
        store
            .tasks()
            .save_task(
                &t,
                event(AuditChain::Company(c), AuditAction::TaskAssigned, 50 + n),
            )
            .await
            .unwrap();
        ids.push(t.id);
    }
    ids.sort();
    let none = TaskFilter::default();
    let got: Vec<TaskId> = walk(3, |p| {
        let none = none.clone();
        async move { store.tasks().list_tasks(c, &none, &p).await }
    })
    .await
    .into_iter()
    .map(|t| t.id)
    .collect();
    assert_eq!(got, ids);
    let first = store.tasks().get_task(c, ids[0]).await.unwrap().unwrap();
    assert_eq!(
        store.tasks().get_task(b.company.id, ids[0]).await.unwrap(),
        None
    );
    let done = Task {
        status: TaskStatus::Done,
        completion_note: Some("done".into()),
        completed_at: Some(t0() + Duration::hours(3)),
        ..first.clone()
    };
    let completed = event(AuditChain::Company(c), AuditAction::TaskCompleted, 60);
    store
        .tasks()
        .save_task(&done, completed.clone())
        .await
        .unwrap();
    assert_eq!(
        store.tasks().get_task(c, done.id).await.unwrap(),
        Some(done.clone())
    );
    // The same id saved for another company is that company's own task:
    // it neither reaches nor reveals the first.
    let theirs = Task {
        company_id: b.company.id,
        status: TaskStatus::Open,
        ..first.clone()
    };
    store
        .tasks()
        .save_task(
            &theirs,
            event(
                AuditChain::Company(b.company.id),
                AuditAction::TaskAssigned,
                61,
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        store.tasks().get_task(b.company.id, done.id).await.unwrap(),
        Some(theirs),
        "save_task across companies"
    );
    let again = Task {
        completion_note: Some("done twice".into()),
        ..done.clone()
    };
    let chain = AuditChain::Company(c);
    let before = chain_len(store, chain).await;
    expect_code(
        store.tasks().save_task(&again, completed).await,
        "invalid_state",
        "a done task is final",
    );
    assert_eq!(
        chain_len(store, chain).await,
        before,
        "a refused save_task appends no event"
    );
    assert_eq!(
        store.tasks().get_task(c, done.id).await.unwrap(),
        Some(done.clone()),
        "the first completion stands"
    );
    let bobs_open = TaskFilter {
        assignees: Some(BTreeSet::from([bob.id])),
        status: Some(TaskStatus::Open),
        ..TaskFilter::default()
    };
    let got = store
        .tasks()
        .list_tasks(c, &bobs_open, &PageRequest::first(100))
        .await
        .unwrap()
        .items;
    assert!(
        got.iter()
            .all(|t| t.assignee_id == bob.id && t.status == TaskStatus::Open)
    );
    let expected_open = 4 - usize::from(done.assignee_id == bob.id);
    assert_eq!(got.len(), expected_open);
    let bs: Vec<TaskId> = store
        .tasks()
        .list_tasks(b.company.id, &none, &PageRequest::first(100))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        bs,
        vec![done.id],
        "the other company sees its own task only"
    );
    bad_cursor(
        |p| async move {
            store
                .tasks()
                .list_tasks(c, &TaskFilter::default(), &p)
                .await
        },
        "list_tasks",
    )
    .await;
}

/// Corrections are decided once; only approved ones overlapping a window
/// count for reports; other companies' ids are absent.
pub async fn corrections_are_decided_once(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let c = a.company.id;
    let chain = AuditChain::Company(c);
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let c1 = new_correction(c, bob.id, 1);
    let c2 = new_correction(c, bob.id, 3);
    let c3 = new_correction(c, a.admin.id, 1);
    for x in [&c1, &c2, &c3] {
        store
            .corrections()
            .save_correction(x, requested(x))
            .await
            .unwrap();
    }
    assert_eq!(
        store.corrections().get_correction(c, c1.id).await.unwrap(),
        Some(c1.clone())
    );
    assert_eq!(
        store
            .corrections()
            .get_correction(b.company.id, c1.id)
            .await
            .unwrap(),
        None
    );
    let before = chain_len(store, AuditChain::Company(b.company.id)).await;
    expect_code(
        store
            .corrections()
            .save_correction(
                &CorrectionRequest {
                    company_id: b.company.id,
                    ..decided(&c1, CorrectionStatus::Approved, b.admin.id)
                },
                event(
                    AuditChain::Company(b.company.id),
                    AuditAction::CorrectionDecided,
                    60,
                ),
            )
            .await,
        "not_found",
        "decide across companies",
    );
    assert_eq!(
        chain_len(store, AuditChain::Company(b.company.id)).await,
        before
    );
    let approved = decided(&c1, CorrectionStatus::Approved, a.admin.id);
    store
        .corrections()
        .save_correction(&approved, event(chain, AuditAction::CorrectionDecided, 61))
        .await
        .unwrap();
    assert_eq!(
        store.corrections().get_correction(c, c1.id).await.unwrap(),
        Some(approved.clone())
    );
    let len = chain_len(store, chain).await;
    expect_code(
        store
            .corrections()
            .save_correction(
                &decided(&c1, CorrectionStatus::Rejected, a.admin.id),
                event(chain, AuditAction::CorrectionDecided, 62),
            )
            .await,
        "invalid_state",
        "deciding twice",
    );
    assert_eq!(
        store.corrections().get_correction(c, c1.id).await.unwrap(),
        Some(approved.clone())
    );
    assert_eq!(chain_len(store, chain).await, len);
    store
        .corrections()
        .save_correction(
            &decided(&c3, CorrectionStatus::Rejected, a.admin.id),
            event(chain, AuditAction::CorrectionDecided, 63),
        )
        .await
        .unwrap();

    let window = (t0(), t0() + Duration::hours(10));
    let got = store
        .corrections()
        .approved_corrections(c, None, window.0, window.1)
        .await
        .unwrap();
    assert_eq!(got, vec![approved.clone()], "only approved ones");
    let edge = store
        .corrections()
        .approved_corrections(c, None, t0() + Duration::hours(2), window.1)
        .await
        .unwrap();
    assert!(
        edge.is_empty(),
        "a correction ending at the window's start does not overlap it"
    );
    let others = store
        .corrections()
        .approved_corrections(c, Some(&BTreeSet::from([a.admin.id])), window.0, window.1)
        .await
        .unwrap();
    assert!(others.is_empty());
    assert!(
        store
            .corrections()
            .approved_corrections(b.company.id, None, window.0, window.1)
            .await
            .unwrap()
            .is_empty()
    );

    let pending = CorrectionFilter {
        users: Some(BTreeSet::from([bob.id])),
        status: Some(CorrectionStatus::Pending),
        ..CorrectionFilter::default()
    };
    let got = store
        .corrections()
        .list_corrections(c, &pending, &PageRequest::first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(got, vec![c2.clone()]);
    let mut ids = vec![c1.id, c2.id, c3.id];
    ids.sort();
    let none = CorrectionFilter::default();
    let all: Vec<CorrectionId> = walk(2, |p| {
        let none = none.clone();
        async move { store.corrections().list_corrections(c, &none, &p).await }
    })
    .await
    .into_iter()
    .map(|x| x.id)
    .collect();
    assert_eq!(all, ids);
    bad_cursor(
        |p| async move {
            store
                .corrections()
                .list_corrections(c, &CorrectionFilter::default(), &p)
                .await
        },
        "list_corrections",
    )
    .await;
}
