//! Teams and tracking policies.

use chrono::Duration;

use crate::audit::{AuditAction, AuditChain};
use crate::identity::{Role, Team};
use crate::policy::TrackingPolicy;
use crate::store::*;

use super::fixtures::*;

/// Teams live in their company, have unique names there, and are
/// `NotFound` from any other.
pub async fn teams_are_scoped_and_named_uniquely(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let chain = AuditChain::Company(a.company.id);
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let team = |company: CompanyId, name: &str| Team {
        id: TeamId::new(),
        company_id: company,
        name: name.into(),
        managers: vec![a.admin.id],
        members: vec![bob.id],
        created_at: t0(),
    };
    let ops = team(a.company.id, "Ops");
    let dev = team(a.company.id, "Dev");
    store
        .teams()
        .save_team(&ops, event(chain, AuditAction::TeamCreated, 23))
        .await
        .unwrap();
    store
        .teams()
        .save_team(&dev, event(chain, AuditAction::TeamCreated, 24))
        .await
        .unwrap();
    store
        .teams()
        .save_team(
            &team(b.company.id, "Ops"),
            event(
                AuditChain::Company(b.company.id),
                AuditAction::TeamCreated,
                25,
            ),
        )
        .await
        .expect("the same name in another company");
    let names: Vec<String> = store
        .teams()
        .list_teams(a.company.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["Dev", "Ops"], "teams are ordered by name");
    assert_eq!(
        store.teams().get_team(a.company.id, ops.id).await.unwrap(),
        Some(ops.clone())
    );
    assert_eq!(
        store.teams().get_team(b.company.id, ops.id).await.unwrap(),
        None
    );
    expect_code(
        store
            .teams()
            .save_team(
                &team(a.company.id, "Ops"),
                event(chain, AuditAction::TeamCreated, 26),
            )
            .await,
        "already_exists",
        "duplicate team name",
    );
    let renamed = Team {
        name: "Dev".into(),
        ..ops.clone()
    };
    expect_code(
        store
            .teams()
            .save_team(&renamed, event(chain, AuditAction::TeamUpdated, 27))
            .await,
        "already_exists",
        "renaming onto a taken name",
    );
    let changed = Team {
        name: "Operations".into(),
        members: vec![],
        ..ops.clone()
    };
    store
        .teams()
        .save_team(&changed, event(chain, AuditAction::TeamUpdated, 28))
        .await
        .unwrap();
    assert_eq!(
        store.teams().get_team(a.company.id, ops.id).await.unwrap(),
        Some(changed.clone())
    );
    expect_code(
        store
            .teams()
            .delete_team(
                b.company.id,
                ops.id,
                event(
                    AuditChain::Company(b.company.id),
                    AuditAction::TeamDeleted,
                    30,
                ),
            )
            .await,
        "not_found",
        "delete_team across companies",
    );
    // A team saved under another company with this id is that company's
    // (or refused): the first company's team is untouched either way.
    let forged = Team {
        company_id: b.company.id,
        name: "forged".into(),
        ..changed.clone()
    };
    let saved = store
        .teams()
        .save_team(
            &forged,
            event(
                AuditChain::Company(b.company.id),
                AuditAction::TeamUpdated,
                29,
            ),
        )
        .await;
    assert!(
        saved.as_ref().is_ok() || saved.as_ref().is_err_and(|e| e.code() == "not_found"),
        "save_team across companies: {saved:?}"
    );
    assert_eq!(
        store.teams().get_team(a.company.id, ops.id).await.unwrap(),
        Some(changed)
    );
    store
        .teams()
        .delete_team(
            a.company.id,
            ops.id,
            event(chain, AuditAction::TeamDeleted, 31),
        )
        .await
        .unwrap();
    assert_eq!(
        store.teams().get_team(a.company.id, ops.id).await.unwrap(),
        None
    );
    expect_code(
        store
            .teams()
            .delete_team(
                a.company.id,
                ops.id,
                event(chain, AuditAction::TeamDeleted, 32),
            )
            .await,
        "not_found",
        "deleting twice",
    );
}

/// Policies change only from the stored version to the next.
pub async fn policy_updates_are_versioned(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let p = store.policies();
    let chain = AuditChain::Company(a.company.id);
    let mut next = p.get_policy(a.company.id).await.unwrap().unwrap();
    next.version += 1;
    next.screenshots_enabled = false;
    next.updated_at = t0() + Duration::hours(1);
    p.update_policy(&next, event(chain, AuditAction::PolicyUpdated, 33))
        .await
        .unwrap();
    assert_eq!(
        p.get_policy(a.company.id).await.unwrap(),
        Some(next.clone())
    );
    let before = chain_len(store, chain).await;
    let stale = TrackingPolicy {
        blur_screenshots: true,
        ..next.clone()
    };
    expect_code(
        p.update_policy(&stale, event(chain, AuditAction::PolicyUpdated, 34))
            .await,
        "invalid_state",
        "same version twice",
    );
    assert_eq!(p.get_policy(a.company.id).await.unwrap(), Some(next));
    assert_eq!(chain_len(store, chain).await, before);
    assert_eq!(
        p.get_policy(b.company.id).await.unwrap(),
        Some(TrackingPolicy::default_for(b.company.id, t0())),
        "another company's policy is untouched"
    );
    assert_eq!(p.get_policy(CompanyId::new()).await.unwrap(), None);
    let orphan = TrackingPolicy {
        version: 2,
        ..TrackingPolicy::default_for(CompanyId::new(), t0())
    };
    expect_code(
        p.update_policy(
            &orphan,
            event(AuditChain::Platform, AuditAction::PolicyUpdated, 35),
        )
        .await,
        "not_found",
        "policy of an unknown company",
    );
}
