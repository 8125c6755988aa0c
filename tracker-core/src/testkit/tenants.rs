//! Plans, companies and billing.

use chrono::Duration;

use crate::audit::{AuditAction, AuditChain};
use crate::identity::Role;
use crate::policy::TrackingPolicy;
use crate::secret::SecretHash;
use crate::store::*;
use crate::tenancy::{Company, CompanyStatus, Plan, Subscription};

use super::fixtures::*;

/// Plans are found by id and code; a taken code is `AlreadyExists` and
/// appends no audit event.
pub async fn plans_are_unique_by_code(store: &dyn Store) {
    let f = company(store, 5, 1_000).await;
    let t = store.tenants();
    assert_eq!(t.get_plan(f.plan.id).await.unwrap(), Some(f.plan.clone()));
    assert_eq!(
        t.plan_by_code(&f.plan.code).await.unwrap(),
        Some(f.plan.clone())
    );
    assert_eq!(t.get_plan(PlanId::new()).await.unwrap(), None);
    assert_eq!(t.plan_by_code("NO_SUCH_PLAN").await.unwrap(), None);
    let other = Plan {
        id: PlanId::new(),
        code: "AAA_FIRST".into(),
        ..f.plan.clone()
    };
    t.insert_plan(
        &other,
        event(AuditChain::Platform, AuditAction::PlanCreated, 3),
    )
    .await
    .unwrap();
    let codes: Vec<String> = t
        .list_plans()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.code)
        .collect();
    assert_eq!(
        codes,
        ["AAA_FIRST".to_owned(), f.plan.code.clone()],
        "plans are ordered by code"
    );
    let before = chain_len(store, AuditChain::Platform).await;
    let dup = Plan {
        id: PlanId::new(),
        ..f.plan.clone()
    };
    expect_code(
        t.insert_plan(
            &dup,
            event(AuditChain::Platform, AuditAction::PlanCreated, 4),
        )
        .await,
        "already_exists",
        "duplicate plan code",
    );
    assert_eq!(
        chain_len(store, AuditChain::Platform).await,
        before,
        "a refused insert appends no event"
    );
}

/// A new company is stored with its policy, admin and subscription, found
/// by id and by key digest; the same id twice is refused.
pub async fn companies_are_stored_whole(store: &dyn Store) {
    let f = company(store, 5, 1_000).await;
    let t = store.tenants();
    let id = f.company.id;
    assert_eq!(t.get_company(id).await.unwrap(), Some(f.company.clone()));
    assert_eq!(
        t.company_by_key_hash(&f.company.key_hash).await.unwrap(),
        Some(f.company.clone())
    );
    assert_eq!(
        t.company_by_key_hash(&SecretHash::of("company_unknown"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(t.get_company(CompanyId::new()).await.unwrap(), None);
    let policy = store
        .policies()
        .get_policy(id)
        .await
        .unwrap()
        .expect("policy stored with the company");
    assert_eq!(policy, TrackingPolicy::default_for(id, t0()));
    assert_eq!(
        store.users().get_user(Some(id), f.admin.id).await.unwrap(),
        Some(f.admin.clone())
    );
    let subs = t.list_subscriptions(id).await.unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].plan_id, f.plan.id);
    let g = company(store, 5, 1_000).await;
    assert!(
        t.list_subscriptions(g.company.id)
            .await
            .unwrap()
            .iter()
            .all(|s| s.company_id == g.company.id)
    );
    assert_eq!(
        store
            .users()
            .user_by_username(Some(g.company.id), "admin")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(g.admin.id),
        "the same admin username lives in two companies"
    );
    let again = NewCompany {
        company: f.company.clone(),
        policy: TrackingPolicy::default_for(id, t0()),
        admin: new_user(Some(id), "second", Role::Admin),
        subscription: subs[0].clone(),
        admin_audit: event(AuditChain::Company(id), AuditAction::EmployeeCreated, 6),
    };
    let before = chain_len(store, AuditChain::Platform).await;
    let company_chain = AuditChain::Company(id);
    let first = store.audit().read_chain(company_chain, 0, 1).await.unwrap();
    assert_eq!(
        first.iter().map(|e| e.action).collect::<Vec<_>>(),
        [AuditAction::EmployeeCreated],
        "insert_company opens the company's chain with its admin's creation"
    );
    let company_before = chain_len(store, company_chain).await;
    assert!(
        t.insert_company(
            &again,
            event(AuditChain::Platform, AuditAction::CompanyCreated, 5)
        )
        .await
        .is_err(),
        "the same company id twice is refused"
    );
    assert_eq!(chain_len(store, AuditChain::Platform).await, before);
    assert_eq!(chain_len(store, company_chain).await, company_before);
    assert_eq!(
        store
            .users()
            .user_by_username(Some(id), "second")
            .await
            .unwrap(),
        None,
        "nothing of it stored"
    );
}

/// Updates replace the record and add the subscription; limits refuse
/// with `PlanTooSmall` and change nothing; unknown companies are `NotFound`.
pub async fn company_updates_check_limits(store: &dyn Store) {
    let f = company(store, 5, 1_000).await;
    let t = store.tenants();
    let id = f.company.id;
    add_user(store, &f, "e1", Role::Employee).await;
    let mut changed = f.company.clone();
    changed.status = CompanyStatus::Active;
    changed.retention_days = 30;
    changed.subscription_expires_at = Some(t0() + Duration::days(30));
    changed.key_hash = SecretHash::of("company_rotated");
    let sub = Subscription {
        id: SubscriptionId::new(),
        company_id: id,
        plan_id: f.plan.id,
        amount_cents: 990,
        starts_at: t0() + Duration::days(1),
        ends_at: changed.subscription_expires_at,
        created_by: Some(f.admin.id),
        created_at: t0() + Duration::days(1),
    };
    let change = CompanyChange {
        company: changed.clone(),
        subscription: Some(sub.clone()),
        max_seats: Some(2),
        max_storage_bytes: Some(0),
        expect_status: None,
        audit: event(AuditChain::Platform, AuditAction::PlanChanged, 6),
    };
    t.update_company(&change).await.unwrap();
    assert_eq!(t.get_company(id).await.unwrap(), Some(changed.clone()));
    assert_eq!(
        t.company_by_key_hash(&f.company.key_hash).await.unwrap(),
        None,
        "the old key digest is gone"
    );
    assert_eq!(t.list_subscriptions(id).await.unwrap().last(), Some(&sub));

    let before = chain_len(store, AuditChain::Platform).await;
    let mut smaller = changed.clone();
    smaller.retention_days = 7;
    let too_small = CompanyChange {
        company: smaller.clone(),
        subscription: None,
        max_seats: Some(1),
        max_storage_bytes: None,
        expect_status: None,
        audit: event(AuditChain::Platform, AuditAction::PlanChanged, 7),
    };
    expect_code(
        t.update_company(&too_small).await,
        "plan_too_small",
        "2 seats into a 1-seat plan",
    );
    assert_eq!(
        t.get_company(id).await.unwrap(),
        Some(changed.clone()),
        "a refused change changes nothing"
    );
    assert_eq!(t.list_subscriptions(id).await.unwrap().len(), 2);
    assert_eq!(chain_len(store, AuditChain::Platform).await, before);

    let unknown = CompanyChange {
        company: Company {
            id: CompanyId::new(),
            ..changed
        },
        subscription: None,
        max_seats: None,
        max_storage_bytes: None,
        expect_status: None,
        audit: event(AuditChain::Platform, AuditAction::PlanChanged, 8),
    };
    expect_code(
        t.update_company(&unknown).await,
        "not_found",
        "update of an unknown company",
    );
    assert_eq!(chain_len(store, AuditChain::Platform).await, before);
}

/// Companies page by id; `all_companies` returns them all in id order.
pub async fn companies_page_by_id(store: &dyn Store) {
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(company(store, 5, 1_000).await.company.id);
    }
    ids.sort();
    let t = store.tenants();
    let got: Vec<CompanyId> = walk(3, |p| async move {
        t.list_companies(&CompanyFilter::default(), &p).await
    })
    .await
    .into_iter()
    .map(|c| c.id)
    .collect();
    assert_eq!(got, ids);
    let all: Vec<CompanyId> = t
        .all_companies()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(all, ids);
    bad_cursor(
        |p| async move { t.list_companies(&CompanyFilter::default(), &p).await },
        "list_companies",
    )
    .await;
}
