//! Tokens, their context, heartbeats.

use chrono::Duration;

use crate::audit::{AuditAction, AuditChain};
use crate::identity::{Role, TokenRecord, User};
use crate::secret::SecretHash;
use crate::store::*;
use crate::tenancy::CompanyStatus;
use crate::tracking::AgentState;

use super::fixtures::*;

/// Tokens are found by digest, deleted, and revoked with their user.
pub async fn tokens_are_stored_and_revoked(store: &dyn Store) {
    let f = company(store, 10, 1_000).await;
    let u = store.users();
    let bob = add_user(store, &f, "bob", Role::Employee).await;
    let token = |user: &User, secret: &str| TokenRecord {
        hash: SecretHash::of(secret),
        user_id: user.id,
        company_id: user.company_id,
        created_at: t0(),
        expires_at: t0() + Duration::days(30),
    };
    let (t1, t2, t3) = (
        token(&bob, "tk_1"),
        token(&bob, "tk_2"),
        token(&f.admin, "tk_3"),
    );
    for t in [&t1, &t2, &t3] {
        store.agents().insert_token(t, signed_in(t)).await.unwrap();
    }
    assert_eq!(
        store
            .agents()
            .token_context(&t1.hash)
            .await
            .unwrap()
            .map(|c| c.token),
        Some(t1.clone())
    );
    store.agents().delete_token(&t1.hash, None).await.unwrap();
    assert_eq!(
        store
            .agents()
            .token_context(&t1.hash)
            .await
            .unwrap()
            .map(|c| c.token),
        None
    );
    store
        .agents()
        .delete_token(&SecretHash::of("tk_unknown"), None)
        .await
        .expect("deleting an unknown token is fine");
    let revoke = UserUpdate {
        seat_limit: None,
        revoke_tokens: true,
        expect_active: None,
    };
    u.update_user(
        &bob,
        &revoke,
        event(
            AuditChain::Company(f.company.id),
            AuditAction::EmployeeDeactivated,
            21,
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        store
            .agents()
            .token_context(&t2.hash)
            .await
            .unwrap()
            .map(|c| c.token),
        None,
        "the user's tokens are revoked"
    );
    assert_eq!(
        store
            .agents()
            .token_context(&t3.hash)
            .await
            .unwrap()
            .map(|c| c.token),
        Some(t3.clone()),
        "other users' tokens stay"
    );
    let owner = new_user(None, "root", Role::Owner);
    u.insert_user(
        &owner,
        None,
        event(AuditChain::Platform, AuditAction::OwnerCreated, 22),
    )
    .await
    .unwrap();
    let t4 = token(&owner, "tk_4");
    store
        .agents()
        .insert_token(&t4, signed_in(&t4))
        .await
        .unwrap();
    assert_eq!(
        store
            .agents()
            .token_context(&t4.hash)
            .await
            .unwrap()
            .map(|c| c.token),
        Some(t4.clone()),
        "owner tokens have no company"
    );

    // What a request needs of its token, read together.
    let admin_owner = store
        .agents()
        .token_context(&t3.hash)
        .await
        .unwrap()
        .expect("a stored token has an owner");
    assert_eq!(admin_owner.token, t3);
    assert_eq!(admin_owner.user.as_ref().map(|x| x.id), Some(f.admin.id));
    assert_eq!(
        admin_owner.company.as_ref().map(|c| c.id),
        Some(f.company.id)
    );
    let policy = store.policies().get_policy(f.company.id).await.unwrap();
    assert!(policy.is_some(), "the fixture company has a policy");
    assert_eq!(
        admin_owner.policy.map(|p| (p.company_id, p.version)),
        policy.map(|p| (p.company_id, p.version)),
        "the company's policy"
    );
    let root = store
        .agents()
        .token_context(&t4.hash)
        .await
        .unwrap()
        .expect("owner token");
    assert_eq!(root.user.map(|x| x.id), Some(owner.id));
    assert!(
        root.company.is_none() && root.policy.is_none(),
        "an OWNER's token has no company and no policy"
    );
    assert!(
        store
            .agents()
            .token_context(&t2.hash)
            .await
            .unwrap()
            .is_none(),
        "a revoked token has no owner"
    );
    assert!(
        store
            .agents()
            .token_context(&SecretHash::of("tk_unknown"))
            .await
            .unwrap()
            .is_none()
    );
    // A token naming a user of another company finds no user: the user
    // lookup is scoped by the token's company.
    let other = company(store, 10, 1_000).await;
    let forged = TokenRecord {
        hash: SecretHash::of("tk_forged"),
        user_id: f.admin.id,
        company_id: Some(other.company.id),
        created_at: t0(),
        expires_at: t0() + Duration::days(30),
    };
    store
        .agents()
        .insert_token(&forged, signed_in(&forged))
        .await
        .unwrap();
    let found = store
        .agents()
        .token_context(&forged.hash)
        .await
        .unwrap()
        .expect("stored");
    assert!(found.user.is_none(), "no user of that company has that id");
    assert_eq!(found.company.map(|c| c.id), Some(other.company.id));
}

/// `token_owner` answers with the rows as they are after every write that
/// finished before it was asked, whether or not the store keeps owners
/// between calls: heartbeats, user, policy and company changes, and token
/// deletions each show at the next call.
pub async fn token_contexts_follow_every_write(store: &dyn Store) {
    let f = company(store, 10, 1_000).await;
    let u = store.users();
    let bob = add_user(store, &f, "bob", Role::Employee).await;
    let chain = AuditChain::Company(f.company.id);
    let token = |secret: &str| TokenRecord {
        hash: SecretHash::of(secret),
        user_id: bob.id,
        company_id: bob.company_id,
        created_at: t0(),
        expires_at: t0() + Duration::days(30),
    };
    let (t1, t2) = (token("tk_follow_1"), token("tk_follow_2"));
    store
        .agents()
        .insert_token(&t1, signed_in(&t1))
        .await
        .unwrap();
    store
        .agents()
        .insert_token(&t2, signed_in(&t2))
        .await
        .unwrap();
    let owner = |t: &TokenRecord| {
        let hash = t.hash.clone();
        async move {
            store
                .agents()
                .token_context(&hash)
                .await
                .unwrap()
                .expect("a stored token")
        }
    };
    let first = owner(&t1).await;
    assert_eq!(
        first.user.as_ref().map(|x| x.last_agent_sync_at),
        Some(None)
    );
    owner(&t2).await;

    let at = t0() + Duration::hours(2);
    store
        .agents()
        .record_heartbeat(&AgentState {
            company_id: f.company.id,
            user_id: bob.id,
            last_heartbeat_at: at,
            policy_version: Some(1),
            agent_version: None,
        })
        .await
        .unwrap();
    for t in [&t1, &t2] {
        let o = owner(t).await;
        assert_eq!(
            o.user.and_then(|x| x.last_agent_sync_at),
            Some(at),
            "the heartbeat shows on every token of the user"
        );
        assert_eq!(o.company.and_then(|c| c.last_sync_at), Some(at));
    }

    let renamed = User {
        display_name: "Robert".into(),
        ..bob.clone()
    };
    u.update_user(
        &renamed,
        &UserUpdate::default(),
        event(chain, AuditAction::EmployeeUpdated, 40),
    )
    .await
    .unwrap();
    let o = owner(&t1).await.user.expect("bob");
    assert_eq!(o.display_name, "Robert");
    assert_eq!(
        o.last_agent_sync_at,
        Some(at),
        "an update made from an older read keeps the sync time"
    );

    let p = store.policies();
    let mut policy = p.get_policy(f.company.id).await.unwrap().unwrap();
    policy.version += 1;
    policy.screenshots_enabled = !policy.screenshots_enabled;
    p.update_policy(&policy, event(chain, AuditAction::PolicyUpdated, 41))
        .await
        .unwrap();
    assert_eq!(owner(&t1).await.policy, Some(policy));

    let mut suspended = store
        .tenants()
        .get_company(f.company.id)
        .await
        .unwrap()
        .unwrap();
    suspended.status_before_suspension = Some(suspended.status);
    suspended.status = CompanyStatus::Suspended;
    store
        .tenants()
        .update_company(&CompanyChange {
            company: suspended.clone(),
            subscription: None,
            max_seats: None,
            max_storage_bytes: None,
            expect_status: None,
            audit: event(AuditChain::Platform, AuditAction::CompanySuspended, 42),
        })
        .await
        .unwrap();
    assert_eq!(owner(&t2).await.company, Some(suspended));

    store.agents().delete_token(&t1.hash, None).await.unwrap();
    assert!(
        store
            .agents()
            .token_context(&t1.hash)
            .await
            .unwrap()
            .is_none()
    );
    let revoke = UserUpdate {
        seat_limit: None,
        revoke_tokens: true,
        expect_active: None,
    };
    u.update_user(
        &renamed,
        &revoke,
        event(chain, AuditAction::EmployeeDeactivated, 43),
    )
    .await
    .unwrap();
    assert!(
        store
            .agents()
            .token_context(&t2.hash)
            .await
            .unwrap()
            .is_none(),
        "a revoked token has no owner at the next call"
    );
}

/// A heartbeat updates the agent state, the user's and the company's sync
/// times; a user of another company is `NotFound` and nothing changes.
pub async fn heartbeats_update_sync_times(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let u = store.users();
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let at = t0() + Duration::hours(1);
    let state = AgentState {
        company_id: a.company.id,
        user_id: bob.id,
        last_heartbeat_at: at,
        policy_version: Some(1),
        agent_version: Some("1.0.0".into()),
    };
    store.agents().record_heartbeat(&state).await.unwrap();
    assert_eq!(
        store
            .agents()
            .list_agent_states(a.company.id)
            .await
            .unwrap(),
        vec![state.clone()]
    );
    assert_eq!(
        u.get_user(Some(a.company.id), bob.id)
            .await
            .unwrap()
            .unwrap()
            .last_agent_sync_at,
        Some(at)
    );
    assert_eq!(
        store
            .tenants()
            .get_company(a.company.id)
            .await
            .unwrap()
            .unwrap()
            .last_sync_at,
        Some(at)
    );
    let later = AgentState {
        last_heartbeat_at: at + Duration::minutes(5),
        policy_version: Some(2),
        agent_version: None,
        ..state.clone()
    };
    store.agents().record_heartbeat(&later).await.unwrap();
    assert_eq!(
        store
            .agents()
            .list_agent_states(a.company.id)
            .await
            .unwrap(),
        vec![later.clone()],
        "one state per user"
    );
    assert_eq!(
        store
            .agents()
            .agent_state(a.company.id, bob.id)
            .await
            .unwrap(),
        Some(later.clone())
    );
    assert_eq!(
        store
            .agents()
            .agent_state(b.company.id, bob.id)
            .await
            .unwrap(),
        None,
        "another company's user has no state there"
    );
    assert_eq!(
        store
            .agents()
            .agent_state(a.company.id, a.admin.id)
            .await
            .unwrap(),
        None,
        "no heartbeat, no state"
    );

    let forged = AgentState {
        company_id: b.company.id,
        ..later.clone()
    };
    expect_code(
        store.agents().record_heartbeat(&forged).await,
        "not_found",
        "heartbeat for another company's user",
    );
    assert!(
        store
            .agents()
            .list_agent_states(b.company.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .tenants()
            .get_company(b.company.id)
            .await
            .unwrap()
            .unwrap()
            .last_sync_at,
        None
    );
}
