//! What privacy keeps in the store: the policy's minimisation, notice,
//! retention and pending change, and each user's acknowledgement.

use chrono::Duration;

use crate::audit::{AuditAction, AuditChain};
use crate::identity::{LegalHold, Role, User};
use crate::policy::{PolicyUpdate, RetentionByKind, TitleRule, TrackingPolicy, UrlDetail};
use crate::store::*;

use super::fixtures::*;

/// A policy with every privacy rule and a pending change is stored whole,
/// changes compare and set on the newest announced version, and a user's
/// acknowledgement and legal hold are stored with the user and read with
/// their token.
pub async fn privacy_rules_and_consent_are_stored_whole(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let chain = AuditChain::Company(a.company.id);
    let p = store.policies();
    let stored = p.get_policy(a.company.id).await.unwrap().unwrap();
    let strict = stored
        .change(
            &PolicyUpdate {
                url_detail: Some(UrlDetail::Domain),
                window_titles: Some(TitleRule::Redact),
                title_patterns: Some(vec!["salary".into(), "(?i)inbox".into()]),
                notice_days: Some(14),
                require_acknowledgement: Some(true),
                screenshots_enabled: Some(false),
                ..PolicyUpdate::default()
            },
            t0() + Duration::hours(1),
        )
        .unwrap();
    let strict = TrackingPolicy {
        retention: RetentionByKind {
            screenshots_days: Some(7),
            details_days: Some(2),
            ..RetentionByKind::default()
        },
        ..strict
    };
    assert!(strict.pending.is_none(), "it collects less: at once");
    p.update_policy(&strict, event(chain, AuditAction::PolicyUpdated, 40))
        .await
        .unwrap();
    assert_eq!(
        p.get_policy(a.company.id).await.unwrap(),
        Some(strict.clone())
    );

    // Screenshots back on: announced, pending for 14 days.
    let announced = strict
        .change(
            &PolicyUpdate {
                screenshots_enabled: Some(true),
                ..PolicyUpdate::default()
            },
            t0() + Duration::hours(2),
        )
        .unwrap();
    let pending = announced
        .pending
        .clone()
        .expect("it collects more: pending");
    assert_eq!(
        announced.version, strict.version,
        "the policy in force stays"
    );
    p.update_policy(&announced, event(chain, AuditAction::PolicyUpdated, 41))
        .await
        .unwrap();
    let read = p.get_policy(a.company.id).await.unwrap().unwrap();
    assert_eq!(read, announced);
    assert_eq!(read.pending.as_deref(), Some(&*pending));
    assert_eq!(read.revision(), strict.version + 1);

    // A write computed from the record before the announcement loses.
    let before = chain_len(store, chain).await;
    let stale = strict
        .change(
            &PolicyUpdate {
                blur_screenshots: Some(true),
                ..PolicyUpdate::default()
            },
            t0() + Duration::hours(3),
        )
        .unwrap();
    expect_code(
        p.update_policy(&stale, event(chain, AuditAction::PolicyUpdated, 42))
            .await,
        "invalid_state",
        "a change computed from an older revision",
    );
    assert_eq!(p.get_policy(a.company.id).await.unwrap(), Some(announced));
    assert_eq!(chain_len(store, chain).await, before);
    assert_eq!(
        p.get_policy(b.company.id).await.unwrap().unwrap().version,
        1,
        "another company's policy is untouched"
    );

    // Consent and hold live on the user, and travel with the token.
    let mut bob = add_user(store, &a, "bob", Role::Employee).await;
    bob.privacy.acknowledged_version = Some(read.revision());
    bob.privacy.acknowledged_at = Some(t0() + Duration::hours(4));
    bob.privacy.legal_hold = Some(LegalHold {
        reason: "case 2026-17".into(),
        placed_by: a.admin.id,
        placed_at: t0() + Duration::hours(4),
    });
    store
        .users()
        .update_user(
            &bob,
            &UserUpdate::default(),
            event(chain, AuditAction::PolicyAcknowledged, 43),
        )
        .await
        .unwrap();
    let again = store
        .users()
        .get_user(Some(a.company.id), bob.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.privacy, bob.privacy);
    let token = TokenRecord {
        hash: SecretHash::of("tk_privacy"),
        user_id: bob.id,
        company_id: bob.company_id,
        created_at: t0(),
        expires_at: t0() + Duration::days(30),
    };
    store
        .agents()
        .insert_token(&token, signed_in(&token))
        .await
        .unwrap();
    let context = store
        .agents()
        .token_context(&token.hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(context.user.unwrap().privacy, bob.privacy);
    assert_eq!(context.policy.unwrap().pending, read.pending);
}

/// Reads add up in one record per actor, subject, kind and day, list in
/// (first read, id) order page by page, filter by subject and actor, stay
/// in their company, and go only with the retention purge of their day.
pub async fn access_records_add_up_and_stay_in_their_company(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let eve = add_user(store, &a, "eve", Role::Employee).await;
    let lead = add_user(store, &a, "lead", Role::Manager).await;
    let log = store.access();
    let at = |hours: i64| t0() + Duration::hours(hours);
    let read = |actor: &User, subject: &User, kind, n, hours| {
        AccessRecord::new(a.company.id, actor.id, subject.id, kind, n, at(hours))
    };
    log.record_access(
        a.company.id,
        &[
            read(&a.admin, &bob, AccessKind::Activity, 3, 1),
            read(&lead, &bob, AccessKind::Screenshots, 1, 2),
            read(&a.admin, &eve, AccessKind::Activity, 2, 3),
        ],
    )
    .await
    .unwrap();
    // The same reader, person, kind and day: added to the first record.
    log.record_access(
        a.company.id,
        &[read(&a.admin, &bob, AccessKind::Activity, 4, 5)],
    )
    .await
    .unwrap();
    // The next day is a record of its own.
    log.record_access(
        a.company.id,
        &[read(&a.admin, &bob, AccessKind::Activity, 1, 30)],
    )
    .await
    .unwrap();
    // A record naming another company is not this company's to store.
    let stray = AccessRecord::new(
        b.company.id,
        b.admin.id,
        b.admin.id,
        AccessKind::Sessions,
        9,
        at(1),
    );
    log.record_access(a.company.id, std::slice::from_ref(&stray))
        .await
        .unwrap();

    let all = walk(1, |page| async move {
        log.list_access(a.company.id, &AccessFilter::default(), &page)
            .await
    })
    .await;
    let seen: Vec<(UserId, UserId, AccessKind, u64)> = all
        .iter()
        .map(|r| (r.actor_id, r.subject_id, r.kind, r.count))
        .collect();
    assert_eq!(
        seen,
        [
            (a.admin.id, bob.id, AccessKind::Activity, 7),
            (lead.id, bob.id, AccessKind::Screenshots, 1),
            (a.admin.id, eve.id, AccessKind::Activity, 2),
            (a.admin.id, bob.id, AccessKind::Activity, 1),
        ],
        "one record per actor, subject, kind and day, by first read"
    );
    assert_eq!((all[0].first_at, all[0].last_at), (at(1), at(5)));
    assert_eq!(
        reads(store, a.company.id, Some(bob.id), None).await.len(),
        3
    );
    assert_eq!(
        reads(store, a.company.id, None, Some(lead.id)).await.len(),
        1
    );
    assert!(
        reads(store, b.company.id, None, None).await.is_empty(),
        "another company sees none of it, and the stray record was not stored"
    );

    // Only the purge removes records, those dated before its date.
    log.record_access(
        b.company.id,
        &[AccessRecord::new(
            b.company.id,
            b.admin.id,
            b.admin.id,
            AccessKind::Sessions,
            1,
            at(1),
        )],
    )
    .await
    .unwrap();
    let counts = store
        .retention()
        .purge_tracking(
            a.company.id,
            &PurgeBatch {
                before: t0() - Duration::days(365),
                before_date: at(30).date_naive(),
                screenshots: vec![],
                limit: 10,
                started_at: at(40),
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
    assert_eq!(counts.access_records, 3);
    assert_eq!(
        reads(store, a.company.id, None, None).await,
        [all[3].clone()]
    );
    assert_eq!(
        reads(store, b.company.id, None, None).await.len(),
        1,
        "a purge of one company leaves another's records"
    );
}

/// The person's rows of every kind, stored for `f`'s company.
async fn person_rows(store: &dyn Store, f: &Fixture, user: &User, n: i64) -> Screenshot {
    let (c, u) = (f.company.id, user.id);
    let t = store.tracking();
    t.insert_session(&session(c, u, n)).await.unwrap();
    insert_events(
        t,
        c,
        &[activity(c, u, n * 60, 60), activity(c, u, n * 60 + 90, 30)],
    )
    .await
    .unwrap();
    let s = shot(c, u, n, 10);
    t.insert_screenshot(&s, 1_000_000).await.unwrap();
    let fix = new_correction(c, u, n);
    store
        .corrections()
        .save_correction(&fix, requested(&fix))
        .await
        .unwrap();
    let mut task = new_task(c, u, n as u32);
    task.status = crate::work::TaskStatus::Done;
    task.completion_note = Some(format!("notes of {}", user.username));
    store
        .tasks()
        .save_task(
            &task,
            event(AuditChain::Company(c), AuditAction::TaskAssigned, 50),
        )
        .await
        .unwrap();
    store
        .access()
        .record_access(
            c,
            &[AccessRecord::new(
                c,
                f.admin.id,
                u,
                AccessKind::Activity,
                1,
                t0(),
            )],
        )
        .await
        .unwrap();
    s
}

/// What a person has stored, as counts: sessions, events, screenshots,
/// corrections, task notes, access records naming them.
async fn held_by(store: &dyn Store, f: &Fixture, user: &User) -> [usize; 6] {
    let c = f.company.id;
    let theirs = TrackingFilter {
        users: Some(std::collections::BTreeSet::from([user.id])),
        ..TrackingFilter::default()
    };
    let all = PageRequest::first(500);
    let t = store.tracking();
    let tasks = store
        .tasks()
        .list_tasks(c, &TaskFilter::default(), &all)
        .await
        .unwrap()
        .items;
    [
        t.list_sessions(c, &theirs, &all).await.unwrap().items.len(),
        t.list_activity(c, &theirs, &all).await.unwrap().items.len(),
        t.list_screenshots(c, &theirs, &all)
            .await
            .unwrap()
            .items
            .len(),
        store
            .corrections()
            .list_corrections(c, &CorrectionFilter::default(), &all)
            .await
            .unwrap()
            .items
            .iter()
            .filter(|x| x.user_id == user.id)
            .count(),
        tasks
            .iter()
            .filter(|x| x.assignee_id == user.id && x.completion_note.is_some())
            .count(),
        reads(store, c, Some(user.id), None).await.len(),
    ]
}

/// An erasure step deletes one person's rows of every kind and nothing of
/// anyone else's, in their company or another, and keeps no purge
/// progress; a retention step keeps the rows of the people it must keep.
pub async fn erasure_and_holds_keep_to_their_people(store: &dyn Store) {
    let a = company(store, 10, 1_000_000).await;
    let b = company(store, 10, 1_000_000).await;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let eve = add_user(store, &a, "eve", Role::Employee).await;
    let carol = add_user(store, &b, "carol", Role::Employee).await;
    let bobs = person_rows(store, &a, &bob, 1).await;
    let eves = person_rows(store, &a, &eve, 2).await;
    person_rows(store, &b, &carol, 3).await;
    let whole = [1, 2, 1, 1, 1, 1];
    assert_eq!(held_by(store, &a, &bob).await, whole);

    let end = chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
    let erase = |user: UserId, shots: Vec<ScreenshotId>| PurgeBatch {
        before: end.and_time(chrono::NaiveTime::MIN).and_utc(),
        before_date: end,
        screenshots: shots,
        limit: 1,
        started_at: t0(),
        user: Some(user),
        keep: Default::default(),
        personal: true,
        screenshots_before: None,
        sessions_before: None,
        details_before: None,
    };
    // Eve's screenshot listed by mistake: it stays.
    let mut total = PurgeCounts::default();
    for _ in 0..10 {
        let step = store
            .retention()
            .purge_tracking(a.company.id, &erase(bob.id, vec![bobs.id, eves.id]))
            .await
            .unwrap();
        if step.is_empty() {
            break;
        }
        total.add(&step);
    }
    assert_eq!(
        (
            total.sessions,
            total.events,
            total.screenshots,
            total.corrections,
            total.task_notes
        ),
        (1, 2, 1, 1, 1)
    );
    assert_eq!(held_by(store, &a, &bob).await, [0; 6], "bob is gone");
    assert_eq!(held_by(store, &a, &eve).await, whole, "eve is whole");
    assert_eq!(held_by(store, &b, &carol).await, whole, "carol is whole");
    assert_eq!(
        store
            .retention()
            .purge_progress(a.company.id)
            .await
            .unwrap(),
        None,
        "an erasure keeps no purge progress"
    );
    // An erasure named in the wrong company deletes nothing.
    let wrong = store
        .retention()
        .purge_tracking(b.company.id, &erase(eve.id, vec![]))
        .await
        .unwrap();
    assert!(wrong.is_empty());
    assert_eq!(held_by(store, &a, &eve).await, whole);

    // Retention keeping eve (a legal hold) deletes carol's old rows, not eve's.
    let hold = PurgeBatch {
        keep: std::collections::BTreeSet::from([eve.id]),
        user: None,
        personal: false,
        ..erase(eve.id, vec![])
    };
    store
        .retention()
        .purge_tracking(a.company.id, &hold)
        .await
        .unwrap();
    assert_eq!(held_by(store, &a, &eve).await, whole, "held rows stay");
}

/// The first 500 access records of `company`, of `subject` and by `actor`.
async fn reads(
    store: &dyn Store,
    company: CompanyId,
    subject: Option<UserId>,
    actor: Option<UserId>,
) -> Vec<AccessRecord> {
    store
        .access()
        .list_access(
            company,
            &AccessFilter { subject, actor },
            &PageRequest::first(500),
        )
        .await
        .unwrap()
        .items
}

/// A purge step cuts each kind at its own instant: screenshots and
/// sessions at theirs, and events older than `details_before` keep their
/// times but lose their URL and window title.
pub async fn kinds_are_purged_at_their_own_age(store: &dyn Store) {
    let a = company(store, 10, 1_000_000).await;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let (c, u) = (a.company.id, bob.id);
    let t = store.tracking();
    // Two of each, an hour and ten hours after t0.
    let (s1, s2) = (session(c, u, 60), session(c, u, 600));
    for s in [&s1, &s2] {
        t.insert_session(s).await.unwrap();
    }
    let (e1, e2) = (activity(c, u, 3_600, 60), activity(c, u, 36_000, 60));
    insert_events(t, c, &[e1.clone(), e2.clone()])
        .await
        .unwrap();
    let (p1, p2) = (shot(c, u, 60, 10), shot(c, u, 600, 10));
    for p in [&p1, &p2] {
        t.insert_screenshot(p, 1_000_000).await.unwrap();
    }
    let at = |hours: i64| t0() + Duration::hours(hours);
    let step = PurgeBatch {
        // Events: none old enough; their details: the first one's.
        before: t0(),
        before_date: t0().date_naive(),
        screenshots: vec![p1.id, p2.id],
        limit: 10,
        started_at: at(20),
        screenshots_before: Some(at(5)),
        sessions_before: Some(at(5)),
        details_before: Some(at(5)),
        user: None,
        keep: Default::default(),
        personal: false,
    };
    let counts = store.retention().purge_tracking(c, &step).await.unwrap();
    assert_eq!(
        (
            counts.events,
            counts.sessions,
            counts.screenshots,
            counts.details
        ),
        (0, 1, 1, 1)
    );
    let all = PageRequest::first(50);
    let filter = TrackingFilter::default();
    let sessions = t.list_sessions(c, &filter, &all).await.unwrap().items;
    assert_eq!(sessions, [s2]);
    let shots = t.list_screenshots(c, &filter, &all).await.unwrap().items;
    assert_eq!(shots, [p2]);
    let events = t.list_activity(c, &filter, &all).await.unwrap().items;
    assert_eq!(events.len(), 2, "events keep their times");
    let first = events.iter().find(|e| e.id == e1.id).unwrap();
    assert_eq!(
        (first.url.as_deref(), first.window_title.as_deref()),
        (None, None)
    );
    assert_eq!(first.app, e1.app, "the app stays");
    assert_eq!(first.duration_seconds, e1.duration_seconds);
    let second = events.iter().find(|e| e.id == e2.id).unwrap();
    assert_eq!(second, &e2, "a newer event keeps its details");
}
