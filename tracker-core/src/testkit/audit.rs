//! The audit trail.

use chrono::Duration;

use crate::audit::{AuditAction, AuditChain, verify};
use crate::audit::{AuditKey, ChainHead, Checkpoint};
use crate::identity::{Role, Team, TokenRecord};
use crate::paging::PageRequest;
use crate::secret::SecretHash;
use crate::store::*;
use crate::work::{CorrectionStatus, Task, TaskStatus};

use super::fixtures::*;

/// Each chain numbers its events from 1 without gaps, links them, and is
/// independent of the others.
pub async fn audit_chains_are_continuous_and_independent(store: &dyn Store) {
    let a = AuditChain::Company(CompanyId::new());
    let b = AuditChain::Company(CompanyId::new());
    let au = store.audit();
    let (pa, pb, pp) = (
        chain_len(store, a).await,
        chain_len(store, b).await,
        chain_len(store, AuditChain::Platform).await,
    );
    assert_eq!((pa, pb, pp), (0, 0, 0), "a fresh store has empty chains");
    for n in 0..30 {
        let chain = [a, b, AuditChain::Platform][n as usize % 3];
        let e = au
            .append_audit(event(chain, AuditAction::PolicyUpdated, n))
            .await
            .unwrap();
        assert_eq!(e.chain, chain);
        assert_eq!(e.seq, u64::from(n / 3 + 1), "seq counts per chain from 1");
    }
    for chain in [a, b, AuditChain::Platform] {
        let events = au.read_chain(chain, 0, 1_000).await.unwrap();
        assert_eq!(events.len(), 10);
        assert_eq!(
            verify(chain, &events),
            Ok(10),
            "the chain as stored verifies"
        );
        let tail = au.read_chain(chain, 4, 3).await.unwrap();
        assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 6, 7]);
        assert_eq!(tail[0], events[4], "events read back exactly as appended");
    }
    assert!(
        au.read_chain(AuditChain::Company(CompanyId::new()), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Audit lists filter by action, actor and time, and page by seq.
pub async fn audit_lists_filter_and_page(store: &dyn Store) {
    let f = company(store, 10, 1_000).await;
    let chain = AuditChain::Company(f.company.id);
    let au = store.audit();
    let bob = add_user(store, &f, "bob", Role::Employee).await;
    let base = chain_len(store, chain).await as u64;
    for n in 0..12 {
        let e = if n % 2 == 0 {
            user_event(chain, &bob, 100 + n)
        } else {
            event(chain, AuditAction::TaskAssigned, 100 + n)
        };
        au.append_audit(e).await.unwrap();
    }
    let none = AuditFilter::default();
    let all = walk(5, |p| {
        let none = none.clone();
        async move { au.list_audit(chain, &none, &p).await }
    })
    .await;
    let seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=base + 12).collect::<Vec<_>>(),
        "every event once, by seq"
    );
    let by_action = AuditFilter {
        action: Some(AuditAction::TaskAssigned),
        ..Default::default()
    };
    let got = au
        .list_audit(chain, &by_action, &PageRequest::first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(got.len(), 6);
    assert!(got.iter().all(|e| e.action == AuditAction::TaskAssigned));
    let by_actor = AuditFilter {
        actor: Some(bob.id),
        ..Default::default()
    };
    let got = au
        .list_audit(chain, &by_actor, &PageRequest::first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(got.len(), 6);
    assert!(got.iter().all(|e| e.actor.user_id() == Some(bob.id)));
    let window = AuditFilter {
        from: Some(t0() + Duration::seconds(104)),
        to: Some(t0() + Duration::seconds(108)),
        ..Default::default()
    };
    let got = au
        .list_audit(chain, &window, &PageRequest::first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(
        got.iter()
            .map(|e| e.description.clone())
            .collect::<Vec<_>>(),
        ["event 104", "event 105", "event 106", "event 107"]
    );
    let paged_filter = walk(2, |p| {
        let by_action = by_action.clone();
        async move { au.list_audit(chain, &by_action, &p).await }
    })
    .await;
    assert_eq!(paged_filter.len(), 6, "filters and paging combine");
    assert!(
        au.list_audit(
            AuditChain::Company(CompanyId::new()),
            &none,
            &PageRequest::first(10)
        )
        .await
        .unwrap()
        .items
        .is_empty()
    );
    bad_cursor(
        |p| async move { au.list_audit(chain, &AuditFilter::default(), &p).await },
        "list_audit",
    )
    .await;
}

/// Every audited mutation appends exactly one event to the chain it names.
pub async fn audited_mutations_append_exactly_one_event(store: &dyn Store) {
    let f = company(store, 10, 1_000).await;
    let c = f.company.id;
    let chain = AuditChain::Company(c);
    let platform_before = chain_len(store, AuditChain::Platform).await;
    let mut expected = chain_len(store, chain).await;
    let bob = add_user(store, &f, "bob", Role::Employee).await;
    expected += 1;
    assert_eq!(chain_len(store, chain).await, expected, "insert_user");
    store
        .users()
        .update_user(
            &bob,
            &UserUpdate::default(),
            event(chain, AuditAction::EmployeeUpdated, 40),
        )
        .await
        .unwrap();
    expected += 1;
    assert_eq!(chain_len(store, chain).await, expected, "update_user");
    let team = Team {
        id: TeamId::new(),
        company_id: c,
        name: "T".into(),
        managers: vec![],
        members: vec![bob.id],
        created_at: t0(),
    };
    store
        .teams()
        .save_team(&team, event(chain, AuditAction::TeamCreated, 41))
        .await
        .unwrap();
    store
        .teams()
        .save_team(&team, event(chain, AuditAction::TeamUpdated, 42))
        .await
        .unwrap();
    store
        .teams()
        .delete_team(c, team.id, event(chain, AuditAction::TeamDeleted, 43))
        .await
        .unwrap();
    expected += 3;
    assert_eq!(chain_len(store, chain).await, expected, "team mutations");
    let task = new_task(c, bob.id, 0);
    store
        .tasks()
        .save_task(&task, event(chain, AuditAction::TaskAssigned, 44))
        .await
        .unwrap();
    store
        .tasks()
        .save_task(
            &Task {
                status: TaskStatus::Done,
                ..task
            },
            event(chain, AuditAction::TaskCompleted, 46),
        )
        .await
        .unwrap();
    expected += 2;
    assert_eq!(chain_len(store, chain).await, expected, "save_task");
    let corr = new_correction(c, bob.id, 0);
    store
        .corrections()
        .save_correction(&corr, requested(&corr))
        .await
        .unwrap();
    expected += 1;
    assert_eq!(
        chain_len(store, chain).await,
        expected,
        "save_correction (a request)"
    );
    store
        .corrections()
        .save_correction(
            &decided(&corr, CorrectionStatus::Approved, f.admin.id),
            event(chain, AuditAction::CorrectionDecided, 45),
        )
        .await
        .unwrap();
    expected += 1;
    assert_eq!(
        chain_len(store, chain).await,
        expected,
        "save_correction (a decision)"
    );
    let token = TokenRecord {
        hash: SecretHash::of("tk_audited"),
        user_id: bob.id,
        company_id: Some(c),
        created_at: t0(),
        expires_at: t0() + Duration::days(1),
    };
    let agents = store.agents();
    agents
        .insert_token(&token, signed_in(&token))
        .await
        .unwrap();
    expected += 1;
    assert_eq!(chain_len(store, chain).await, expected, "insert_token");
    let signed_out = event(chain, AuditAction::LoggedOut, 47);
    agents
        .delete_token(&token.hash, Some(signed_out.clone()))
        .await
        .unwrap();
    expected += 1;
    assert_eq!(chain_len(store, chain).await, expected, "delete_token");
    agents
        .delete_token(&token.hash, Some(signed_out))
        .await
        .unwrap();
    assert_eq!(
        chain_len(store, chain).await,
        expected,
        "deleting an unknown token appends nothing"
    );
    let events = store.audit().read_chain(chain, 0, 1_000).await.unwrap();
    assert_eq!(verify(chain, &events), Ok(expected as u64));
    assert_eq!(
        chain_len(store, AuditChain::Platform).await,
        platform_before,
        "nothing leaked into the platform chain"
    );
}

/// Checkpoints append per chain, numbered from 1 without gaps: a number
/// taken or skipped is refused and stores nothing; they read back exactly,
/// and the chain's head is its last event.
pub async fn checkpoints_append_in_order_per_chain(store: &dyn Store) {
    let key = AuditKey::generate().expect("a key");
    let au = store.audit();
    let a = AuditChain::Company(CompanyId::new());
    let b = AuditChain::Company(CompanyId::new());
    assert_eq!(
        au.audit_head(a).await.unwrap(),
        None,
        "an empty chain has no head"
    );
    assert_eq!(au.last_checkpoint(a).await.unwrap(), None);
    let mut heads = Vec::new();
    for n in 0..5 {
        heads.push(
            au.append_audit(event(a, AuditAction::PolicyUpdated, n))
                .await
                .unwrap()
                .head(),
        );
    }
    au.append_audit(event(b, AuditAction::PolicyUpdated, 9))
        .await
        .unwrap();
    assert_eq!(au.audit_head(a).await.unwrap(), heads.last().cloned());
    let mut signed: Vec<Checkpoint> = Vec::new();
    for head in &heads {
        let cp = Checkpoint::sign(a, head, signed.last(), t0(), &key);
        au.append_checkpoint(&cp).await.unwrap();
        signed.push(cp);
    }
    let again = Checkpoint::sign(a, &heads[4], Some(&signed[3]), t0(), &key);
    expect_code(
        au.append_checkpoint(&again).await,
        "already_exists",
        "append_checkpoint with a number taken",
    );
    let gap = Checkpoint {
        number: 7,
        ..Checkpoint::sign(a, &heads[4], Some(&signed[4]), t0(), &key)
    };
    expect_code(
        au.append_checkpoint(&gap).await,
        "already_exists",
        "append_checkpoint leaving a gap",
    );
    assert_eq!(au.list_checkpoints(a, 0, 100).await.unwrap(), signed);
    assert_eq!(au.list_checkpoints(a, 2, 2).await.unwrap(), signed[2..4]);
    assert_eq!(au.last_checkpoint(a).await.unwrap().as_ref(), signed.last());
    assert!(
        au.list_checkpoints(b, 0, 100).await.unwrap().is_empty(),
        "per chain"
    );
    let first_of_b = Checkpoint::sign(
        b,
        &ChainHead {
            seq: 1,
            hash: "0".repeat(64),
        },
        None,
        t0(),
        &key,
    );
    au.append_checkpoint(&first_of_b).await.unwrap();
    assert_eq!(
        au.last_checkpoint(b).await.unwrap(),
        Some(first_of_b),
        "chains number their checkpoints independently"
    );
    assert_eq!(au.list_checkpoints(a, 0, 100).await.unwrap().len(), 5);
}
