//! Users: scoping, seats, filters.

use std::collections::BTreeSet;

use crate::audit::{AuditAction, AuditChain};
use crate::identity::{Role, User};
use crate::paging::PageRequest;
use crate::store::*;
use crate::tenancy::{Company, CompanyStatus};

use super::fixtures::*;

/// Users are found only in their own company; usernames are unique per
/// company and among owners.
pub async fn users_are_scoped_to_their_company(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let u = store.users();
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let bob_b = add_user(store, &b, "bob", Role::Employee).await;
    assert_eq!(
        u.get_user(Some(a.company.id), bob.id).await.unwrap(),
        Some(bob.clone())
    );
    assert_eq!(
        u.get_user(Some(b.company.id), bob.id).await.unwrap(),
        None,
        "other company's user is absent"
    );
    assert_eq!(
        u.get_user(None, bob.id).await.unwrap(),
        None,
        "a company user is not an owner"
    );
    assert_eq!(
        u.user_by_username(Some(b.company.id), "bob")
            .await
            .unwrap()
            .map(|x| x.id),
        Some(bob_b.id)
    );
    assert_eq!(
        u.user_by_username(Some(a.company.id), "nobody")
            .await
            .unwrap(),
        None
    );

    let before = chain_len(store, AuditChain::Company(a.company.id)).await;
    let dup = new_user(Some(a.company.id), "bob", Role::Manager);
    expect_code(
        u.insert_user(
            &dup,
            None,
            event(
                AuditChain::Company(a.company.id),
                AuditAction::EmployeeCreated,
                9,
            ),
        )
        .await,
        "username_taken",
        "duplicate username in a company",
    );
    assert_eq!(u.get_user(Some(a.company.id), dup.id).await.unwrap(), None);
    assert_eq!(
        chain_len(store, AuditChain::Company(a.company.id)).await,
        before
    );

    assert!(!u.has_owner().await.unwrap());
    let owner = new_user(None, "root", Role::Owner);
    u.insert_user(
        &owner,
        None,
        event(AuditChain::Platform, AuditAction::OwnerCreated, 10),
    )
    .await
    .unwrap();
    assert!(u.has_owner().await.unwrap());
    assert_eq!(
        u.get_user(None, owner.id).await.unwrap(),
        Some(owner.clone())
    );
    assert_eq!(
        u.get_user(Some(a.company.id), owner.id).await.unwrap(),
        None
    );
    assert_eq!(
        u.user_by_username(None, "root")
            .await
            .unwrap()
            .map(|x| x.id),
        Some(owner.id)
    );
    let root_in_company = new_user(Some(a.company.id), "root", Role::Employee);
    u.insert_user(
        &root_in_company,
        None,
        event(
            AuditChain::Company(a.company.id),
            AuditAction::EmployeeCreated,
            11,
        ),
    )
    .await
    .expect("an owner's username is free inside companies");
    expect_code(
        u.insert_user(
            &new_user(None, "root", Role::Owner),
            None,
            event(AuditChain::Platform, AuditAction::OwnerCreated, 12),
        )
        .await,
        "username_taken",
        "owner usernames are unique among owners",
    );

    // Replacing a user of another company is not found, and changes nothing.
    let mut forged = bob.clone();
    forged.company_id = Some(b.company.id);
    forged.display_name = "forged".into();
    expect_code(
        u.update_user(
            &forged,
            &UserUpdate::default(),
            event(
                AuditChain::Company(b.company.id),
                AuditAction::EmployeeUpdated,
                13,
            ),
        )
        .await,
        "not_found",
        "update_user across companies",
    );
    assert_eq!(
        u.get_user(Some(a.company.id), bob.id).await.unwrap(),
        Some(bob)
    );
    assert_eq!(
        u.get_user(Some(b.company.id), bob_b.id).await.unwrap(),
        Some(bob_b)
    );
}

/// Seats: `insert_user` and reactivation refuse past the limit with
/// `SeatLimitReached`, store nothing and append nothing.
pub async fn seats_are_enforced_atomically(store: &dyn Store) {
    let f = company(store, 3, 1_000).await;
    let u = store.users();
    let chain = AuditChain::Company(f.company.id);
    let e1 = add_user(store, &f, "e1", Role::Employee).await;
    assert_eq!(u.count_seats(f.company.id).await.unwrap(), 2);
    let e2 = new_user(Some(f.company.id), "e2", Role::Employee);
    u.insert_user(&e2, Some(3), event(chain, AuditAction::EmployeeCreated, 14))
        .await
        .unwrap();
    let before = chain_len(store, chain).await;
    let e3 = new_user(Some(f.company.id), "e3", Role::Employee);
    expect_code(
        u.insert_user(&e3, Some(3), event(chain, AuditAction::EmployeeCreated, 15))
            .await,
        "seat_limit_reached",
        "a fourth seat on a 3-seat plan",
    );
    assert_eq!(u.get_user(Some(f.company.id), e3.id).await.unwrap(), None);
    assert_eq!(chain_len(store, chain).await, before);
    // An inactive user holds no seat.
    let parked = User {
        active: false,
        ..new_user(Some(f.company.id), "parked", Role::Employee)
    };
    u.insert_user(
        &parked,
        Some(3),
        event(chain, AuditAction::EmployeeCreated, 16),
    )
    .await
    .unwrap();
    assert_eq!(u.count_seats(f.company.id).await.unwrap(), 3);
    let back = User {
        active: true,
        ..parked.clone()
    };
    let reactivate = UserUpdate {
        seat_limit: Some(3),
        revoke_tokens: false,
        expect_active: None,
    };
    expect_code(
        u.update_user(
            &back,
            &reactivate,
            event(chain, AuditAction::EmployeeReactivated, 17),
        )
        .await,
        "seat_limit_reached",
        "reactivation past the seats",
    );
    assert_eq!(
        u.get_user(Some(f.company.id), parked.id).await.unwrap(),
        Some(parked.clone())
    );
    // Freeing a seat lets it back in.
    let gone = User {
        active: false,
        ..e1
    };
    u.update_user(
        &gone,
        &UserUpdate::default(),
        event(chain, AuditAction::EmployeeDeactivated, 18),
    )
    .await
    .unwrap();
    u.update_user(
        &back,
        &reactivate,
        event(chain, AuditAction::EmployeeReactivated, 19),
    )
    .await
    .unwrap();
    assert_eq!(u.count_seats(f.company.id).await.unwrap(), 3);
    // Updating an already active user never counts as taking a seat.
    let renamed = User {
        display_name: "Renamed".into(),
        ..e2
    };
    u.update_user(
        &renamed,
        &reactivate,
        event(chain, AuditAction::EmployeeUpdated, 20),
    )
    .await
    .unwrap();
}

/// An update or company change that names the state it was computed
/// from is refused, writing nothing, once that state is gone: racing
/// deactivations, suspensions and reactivations apply once.
pub async fn transitions_apply_to_the_state_they_expect(store: &dyn Store) {
    let f = company(store, 10, 1_000).await;
    let c = f.company.id;
    let chain = AuditChain::Company(c);
    let u = store.users();
    let bob = new_user(Some(c), "bob", Role::Employee);
    u.insert_user(&bob, None, event(chain, AuditAction::EmployeeCreated, 1))
        .await
        .unwrap();
    let off = User {
        active: false,
        ..bob.clone()
    };
    let deactivate = UserUpdate {
        expect_active: Some(true),
        ..UserUpdate::default()
    };
    let audit = |n| event(chain, AuditAction::EmployeeDeactivated, n);
    u.update_user(&off, &deactivate, audit(2)).await.unwrap();
    let before = chain_len(store, chain).await;
    expect_code(
        u.update_user(&off, &deactivate, audit(3)).await,
        "invalid_state",
        "a second deactivation",
    );
    assert_eq!(chain_len(store, chain).await, before, "no second event");

    let t = store.tenants();
    let suspended = Company {
        status: CompanyStatus::Suspended,
        ..f.company.clone()
    };
    let change = |company: &Company, from| CompanyChange {
        company: company.clone(),
        subscription: None,
        max_seats: None,
        max_storage_bytes: None,
        expect_status: Some(from),
        audit: event(AuditChain::Platform, AuditAction::CompanySuspended, 4),
    };
    t.update_company(&change(&suspended, f.company.status))
        .await
        .unwrap();
    let platform = chain_len(store, AuditChain::Platform).await;
    expect_code(
        t.update_company(&change(&suspended, f.company.status))
            .await,
        "invalid_state",
        "a second suspension",
    );
    assert_eq!(chain_len(store, AuditChain::Platform).await, platform);
    assert_eq!(
        t.get_company(c).await.unwrap().map(|c| c.status),
        Some(CompanyStatus::Suspended)
    );
}

/// Users page by id and filter by id set and active flag.
pub async fn users_page_and_filter(store: &dyn Store) {
    let f = company(store, 100, 1_000).await;
    let other = company(store, 100, 1_000).await;
    add_user(store, &other, "stranger", Role::Employee).await;
    let mut ids = vec![f.admin.id];
    for i in 0..11 {
        ids.push(
            add_user(store, &f, &format!("user{i:02}"), Role::Employee)
                .await
                .id,
        );
    }
    ids.sort();
    let u = store.users();
    let c = f.company.id;
    let all = UserFilter::default();
    let got: Vec<UserId> = walk(5, |p| {
        let all = all.clone();
        async move { u.list_users(Some(c), &all, &p).await }
    })
    .await
    .into_iter()
    .map(|x| x.id)
    .collect();
    assert_eq!(
        got, ids,
        "every user of the company once, in id order, and no other company's"
    );
    let some: BTreeSet<UserId> = ids.iter().step_by(3).copied().collect();
    let filter = UserFilter {
        ids: Some(some.clone()),
        active: None,
        ..UserFilter::default()
    };
    let got: BTreeSet<UserId> = u
        .list_users(Some(c), &filter, &PageRequest::first(100))
        .await
        .unwrap()
        .items
        .iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(got, some);
    let stranger_only = UserFilter {
        ids: Some(BTreeSet::from([other.admin.id])),
        active: None,
        ..UserFilter::default()
    };
    assert!(
        u.list_users(Some(c), &stranger_only, &PageRequest::first(100))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let inactive = UserFilter {
        ids: None,
        active: Some(false),
        ..UserFilter::default()
    };
    assert!(
        u.list_users(Some(c), &inactive, &PageRequest::first(100))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    bad_cursor(
        |p| async move { u.list_users(Some(c), &UserFilter::default(), &p).await },
        "list_users",
    )
    .await;
}
