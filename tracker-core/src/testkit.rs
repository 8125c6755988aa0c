//! The conformance kit: the contract of the [storage ports](crate::store)
//! as async checks that any [`Store`] must pass.
//!
//! Each check takes a fresh, empty store, builds its own data, and panics
//! with a message naming the broken rule. The memory store, the SQLite and
//! PostgreSQL adapters, and your own store run the same checks. The
//! [`conformance_tests!`](crate::conformance_tests) macro expands to one test
//! per check, so a failure names its case:
//!
//! ```
//! // In a test file of your store's crate:
//! tracker_core::conformance_tests!(
//!     block_on = futures::executor::block_on,
//!     store = tracker_core::MemoryStore::new(),
//! );
//! # fn main() {}
//! ```
//!
//! With tokio, `attr = #[tokio::test]` replaces `block_on = …`. The `store`
//! expression is evaluated inside the async test body, once per case, so it
//! may `.await`; it may also be a tuple `(store, guard)` whose guard (a temp
//! directory, a database handle) lives as long as the case.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::json;

use crate::audit::{Actor, AuditAction, AuditChain, NewAuditEvent, verify};
use crate::error::Error;
use crate::identity::{Role, Team, TokenRecord, User};
use crate::ids::*;
use crate::notify::{
    Alert, AlertEvent, AlertFilter, AlertKind, AlertSettings, DeliveryRecord, WebhookFormat,
    WebhookTarget,
};
use crate::paging::{Page, PageRequest};
use crate::policy::TrackingPolicy;
use crate::secret::SecretHash;
use crate::store::*;
use crate::tenancy::{Company, CompanyStatus, Plan, Subscription};
use crate::tracking::{ActivityEvent, ActivityKind, AgentState, Screenshot, WorkSession};
use crate::work::{CompanyUsageDaily, CorrectionRequest, CorrectionStatus, Task, TaskStatus};

/// Lets a case hold a store together with what must outlive it.
pub trait AsStore {
    /// The store.
    fn as_store(&self) -> &dyn Store;
}

impl<S: Store> AsStore for S {
    fn as_store(&self) -> &dyn Store {
        self
    }
}

impl<S: Store, G> AsStore for (S, G) {
    fn as_store(&self) -> &dyn Store {
        &self.0
    }
}

/// Expands to one test per conformance check. See the [module docs](crate::testkit).
#[macro_export]
macro_rules! conformance_tests {
    (attr = #[$attr:meta], store = $make:expr $(,)?) => {
        $crate::__conformance_cases!(__conformance_async_case, [$attr], $make);
    };
    (block_on = $run:path, store = $make:expr $(,)?) => {
        $crate::__conformance_cases!(__conformance_sync_case, [$run], $make);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_async_case {
    ([$attr:meta], $make:expr, $name:ident) => {
        #[$attr]
        async fn $name() {
            let store = $make;
            $crate::testkit::$name($crate::testkit::AsStore::as_store(&store)).await;
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_sync_case {
    ([$run:path], $make:expr, $name:ident) => {
        #[test]
        fn $name() {
            $run(async {
                let store = $make;
                $crate::testkit::$name($crate::testkit::AsStore::as_store(&store)).await;
            })
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($case:ident, $extra:tt, $make:expr) => {
        $crate::__conformance_cases!(@each $case, $extra, $make;
            plans_are_unique_by_code,
            companies_are_stored_whole,
            company_updates_check_limits,
            companies_page_by_id,
            users_are_scoped_to_their_company,
            seats_are_enforced_atomically,
            users_page_and_filter,
            tokens_are_stored_and_revoked,
            token_owners_follow_every_write,
            heartbeats_update_sync_times,
            teams_are_scoped_and_named_uniquely,
            policy_updates_are_versioned,
            audit_chains_are_continuous_and_independent,
            audit_lists_filter_and_page,
            audited_mutations_append_exactly_one_event,
            sessions_are_idempotent_and_scoped,
            activity_ingest_is_idempotent_and_scoped,
            activity_between_selects_overlaps,
            company_activity_spans_users,
            screenshots_respect_storage_limits,
            tasks_are_scoped_and_paged,
            corrections_are_decided_once,
            usage_rows_upsert_by_day,
            day_rollups_match_the_events,
            usage_marks_follow_ingest,
            open_sessions_are_listed_per_company,
            purges_delete_only_old_rows_of_their_company,
            alerts_stay_open_once_per_subject,
            alert_settings_and_deliveries_are_scoped,
        );
    };
    (@each $case:ident, $extra:tt, $make:expr; $($name:ident,)*) => {
        $( $crate::$case!($extra, $make, $name); )*
    };
}

// ---- fixtures ------------------------------------------------------------

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

fn code(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase()
    )
}

fn event(chain: AuditChain, action: AuditAction, n: u32) -> NewAuditEvent {
    NewAuditEvent {
        chain,
        actor: Actor::System,
        action,
        description: format!("event {n}"),
        details: json!({ "n": n }),
        client_ip: Some("192.0.2.10".into()),
        at: t0() + Duration::seconds(i64::from(n)),
    }
}

fn user_event(chain: AuditChain, actor: &User, n: u32) -> NewAuditEvent {
    NewAuditEvent {
        actor: Actor::User {
            id: actor.id,
            username: actor.username.clone(),
        },
        ..event(chain, AuditAction::EmployeeUpdated, n)
    }
}

/// A company with its plan and first admin, as stored by a check.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The plan.
    pub plan: Plan,
    /// The company.
    pub company: Company,
    /// Its first admin.
    pub admin: User,
}

/// A user of `company` (or an owner with `None`).
pub fn new_user(company: Option<CompanyId>, username: &str, role: Role) -> User {
    User {
        id: UserId::new(),
        company_id: company,
        role,
        username: username.into(),
        email: Some(format!("{username}@example.com")),
        display_name: username.to_uppercase(),
        active: true,
        last_agent_sync_at: None,
        password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        created_at: t0(),
    }
}

/// Stores a new plan allowing `seats` and `storage` bytes, and a company on it.
pub async fn company(store: &dyn Store, seats: u32, storage: u64) -> Fixture {
    let plan = Plan {
        id: PlanId::new(),
        code: code("PLAN"),
        max_employees: seats,
        max_storage_bytes: storage,
        price_monthly_cents: 1_000,
    };
    store
        .tenants()
        .insert_plan(
            &plan,
            event(AuditChain::Platform, AuditAction::PlanCreated, 0),
        )
        .await
        .expect("insert_plan");
    let id = CompanyId::new();
    let company = Company {
        id,
        name: format!("Company {}", &id.to_string()[..8]),
        status: CompanyStatus::Trial,
        plan_id: plan.id,
        trial_ends_at: Some(t0() + Duration::days(14)),
        subscription_expires_at: None,
        status_before_suspension: None,
        timezone: "Europe/Berlin".into(),
        retention_days: 90,
        last_sync_at: None,
        created_at: t0(),
        key_hash: SecretHash::of(&format!("company_{}", id.as_uuid().simple())),
    };
    let admin = new_user(Some(id), "admin", Role::Admin);
    let new = NewCompany {
        company: company.clone(),
        policy: TrackingPolicy::default_for(id, t0()),
        admin: admin.clone(),
        subscription: Subscription {
            id: SubscriptionId::new(),
            company_id: id,
            plan_id: plan.id,
            amount_cents: 0,
            starts_at: t0(),
            ends_at: company.trial_ends_at,
            created_by: None,
            created_at: t0(),
        },
    };
    store
        .tenants()
        .insert_company(
            &new,
            event(AuditChain::Platform, AuditAction::CompanyCreated, 1),
        )
        .await
        .expect("insert_company");
    Fixture {
        plan,
        company,
        admin,
    }
}

async fn add_user(store: &dyn Store, f: &Fixture, username: &str, role: Role) -> User {
    let u = new_user(Some(f.company.id), username, role);
    store
        .users()
        .insert_user(
            &u,
            None,
            event(
                AuditChain::Company(f.company.id),
                AuditAction::EmployeeCreated,
                2,
            ),
        )
        .await
        .expect("insert_user");
    u
}

async fn chain_len(store: &dyn Store, chain: AuditChain) -> usize {
    store
        .audit()
        .read_chain(chain, 0, 100_000)
        .await
        .expect("read_chain")
        .len()
}

fn expect_code<T: std::fmt::Debug>(r: Result<T, Error>, code: &str, what: &str) {
    match r {
        Ok(v) => panic!("{what}: expected error {code}, got Ok({v:?})"),
        Err(e) => assert_eq!(e.code(), code, "{what}: wrong error {e}"),
    }
}

/// Walks every page of a list with pages of `size`, checking the cursor
/// contract, and returns the items in order.
async fn walk<T, F, Fut>(size: u32, mut list: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, Error>>,
{
    let mut out = Vec::new();
    let mut req = PageRequest::first(size);
    for _ in 0..10_000 {
        let page = list(req.clone()).await.expect("list page");
        assert!(
            page.items.len() <= size as usize,
            "a page holds at most `limit` items"
        );
        let last = page.next_cursor.is_none();
        if !last {
            assert_eq!(
                page.items.len(),
                size as usize,
                "only the last page may be short"
            );
        }
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => req = PageRequest::after(c, size),
            None => return out,
        }
    }
    panic!("paging never ended");
}

async fn bad_cursor<T: std::fmt::Debug, Fut>(list: impl FnOnce(PageRequest) -> Fut, what: &str)
where
    Fut: std::future::Future<Output = Result<Page<T>, Error>>,
{
    let err = list(PageRequest::after("not-a-cursor", 10))
        .await
        .expect_err(&format!("{what}: a garbage cursor must be refused"));
    assert_eq!(err.code(), "validation", "{what}");
    assert_eq!(err.field_errors()[0].field, "cursor", "{what}");
}

// ---- tenancy ---------------------------------------------------------------

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
    };
    let before = chain_len(store, AuditChain::Platform).await;
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
    let got: Vec<CompanyId> = walk(3, |p| async move { t.list_companies(&p).await })
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
        |p| async move { t.list_companies(&p).await },
        "list_companies",
    )
    .await;
}

// ---- users -----------------------------------------------------------------

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
        async move { u.list_users(c, &all, &p).await }
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
    };
    let got: BTreeSet<UserId> = u
        .list_users(c, &filter, &PageRequest::first(100))
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
    };
    assert!(
        u.list_users(c, &stranger_only, &PageRequest::first(100))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let inactive = UserFilter {
        ids: None,
        active: Some(false),
    };
    assert!(
        u.list_users(c, &inactive, &PageRequest::first(100))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    bad_cursor(
        |p| async move { u.list_users(c, &UserFilter::default(), &p).await },
        "list_users",
    )
    .await;
}

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
        u.insert_token(t).await.unwrap();
    }
    assert_eq!(u.token_by_hash(&t1.hash).await.unwrap(), Some(t1.clone()));
    u.delete_token(&t1.hash).await.unwrap();
    assert_eq!(u.token_by_hash(&t1.hash).await.unwrap(), None);
    u.delete_token(&SecretHash::of("tk_unknown"))
        .await
        .expect("deleting an unknown token is fine");
    let revoke = UserUpdate {
        seat_limit: None,
        revoke_tokens: true,
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
        u.token_by_hash(&t2.hash).await.unwrap(),
        None,
        "the user's tokens are revoked"
    );
    assert_eq!(
        u.token_by_hash(&t3.hash).await.unwrap(),
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
    u.insert_token(&t4).await.unwrap();
    assert_eq!(
        u.token_by_hash(&t4.hash).await.unwrap(),
        Some(t4.clone()),
        "owner tokens have no company"
    );

    // What a request needs of its token, read together.
    let admin_owner = u
        .token_owner(&t3.hash)
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
    let root = u.token_owner(&t4.hash).await.unwrap().expect("owner token");
    assert_eq!(root.user.map(|x| x.id), Some(owner.id));
    assert!(
        root.company.is_none() && root.policy.is_none(),
        "an OWNER's token has no company and no policy"
    );
    assert!(
        u.token_owner(&t2.hash).await.unwrap().is_none(),
        "a revoked token has no owner"
    );
    assert!(
        u.token_owner(&SecretHash::of("tk_unknown"))
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
    u.insert_token(&forged).await.unwrap();
    let found = u.token_owner(&forged.hash).await.unwrap().expect("stored");
    assert!(found.user.is_none(), "no user of that company has that id");
    assert_eq!(found.company.map(|c| c.id), Some(other.company.id));
}

/// `token_owner` answers with the rows as they are after every write that
/// finished before it was asked, whether or not the store keeps owners
/// between calls: heartbeats, user, policy and company changes, and token
/// deletions each show at the next call.
pub async fn token_owners_follow_every_write(store: &dyn Store) {
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
    u.insert_token(&t1).await.unwrap();
    u.insert_token(&t2).await.unwrap();
    let owner = |t: &TokenRecord| {
        let hash = t.hash.clone();
        async move { u.token_owner(&hash).await.unwrap().expect("a stored token") }
    };
    let first = owner(&t1).await;
    assert_eq!(
        first.user.as_ref().map(|x| x.last_agent_sync_at),
        Some(None)
    );
    owner(&t2).await;

    let at = t0() + Duration::hours(2);
    u.record_heartbeat(&AgentState {
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
            audit: event(AuditChain::Platform, AuditAction::CompanySuspended, 42),
        })
        .await
        .unwrap();
    assert_eq!(owner(&t2).await.company, Some(suspended));

    u.delete_token(&t1.hash).await.unwrap();
    assert!(u.token_owner(&t1.hash).await.unwrap().is_none());
    let revoke = UserUpdate {
        seat_limit: None,
        revoke_tokens: true,
    };
    u.update_user(
        &renamed,
        &revoke,
        event(chain, AuditAction::EmployeeDeactivated, 43),
    )
    .await
    .unwrap();
    assert!(
        u.token_owner(&t2.hash).await.unwrap().is_none(),
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
    u.record_heartbeat(&state).await.unwrap();
    assert_eq!(
        u.list_agent_states(a.company.id).await.unwrap(),
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
    u.record_heartbeat(&later).await.unwrap();
    assert_eq!(
        u.list_agent_states(a.company.id).await.unwrap(),
        vec![later.clone()],
        "one state per user"
    );
    assert_eq!(
        u.agent_state(a.company.id, bob.id).await.unwrap(),
        Some(later.clone())
    );
    assert_eq!(
        u.agent_state(b.company.id, bob.id).await.unwrap(),
        None,
        "another company's user has no state there"
    );
    assert_eq!(
        u.agent_state(a.company.id, a.admin.id).await.unwrap(),
        None,
        "no heartbeat, no state"
    );

    let forged = AgentState {
        company_id: b.company.id,
        ..later.clone()
    };
    expect_code(
        u.record_heartbeat(&forged).await,
        "not_found",
        "heartbeat for another company's user",
    );
    assert!(u.list_agent_states(b.company.id).await.unwrap().is_empty());
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

/// Teams live in their company, have unique names there, and are
/// `NotFound` from any other.
pub async fn teams_are_scoped_and_named_uniquely(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let u = store.users();
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
    u.insert_team(&ops, event(chain, AuditAction::TeamCreated, 23))
        .await
        .unwrap();
    u.insert_team(&dev, event(chain, AuditAction::TeamCreated, 24))
        .await
        .unwrap();
    u.insert_team(
        &team(b.company.id, "Ops"),
        event(
            AuditChain::Company(b.company.id),
            AuditAction::TeamCreated,
            25,
        ),
    )
    .await
    .expect("the same name in another company");
    let names: Vec<String> = u
        .list_teams(a.company.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["Dev", "Ops"], "teams are ordered by name");
    assert_eq!(
        u.get_team(a.company.id, ops.id).await.unwrap(),
        Some(ops.clone())
    );
    assert_eq!(u.get_team(b.company.id, ops.id).await.unwrap(), None);
    expect_code(
        u.insert_team(
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
        u.update_team(&renamed, event(chain, AuditAction::TeamUpdated, 27))
            .await,
        "already_exists",
        "renaming onto a taken name",
    );
    let changed = Team {
        name: "Operations".into(),
        members: vec![],
        ..ops.clone()
    };
    u.update_team(&changed, event(chain, AuditAction::TeamUpdated, 28))
        .await
        .unwrap();
    assert_eq!(
        u.get_team(a.company.id, ops.id).await.unwrap(),
        Some(changed.clone())
    );
    let forged = Team {
        company_id: b.company.id,
        ..changed.clone()
    };
    expect_code(
        u.update_team(
            &forged,
            event(
                AuditChain::Company(b.company.id),
                AuditAction::TeamUpdated,
                29,
            ),
        )
        .await,
        "not_found",
        "update_team across companies",
    );
    expect_code(
        u.delete_team(
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
    assert_eq!(
        u.get_team(a.company.id, ops.id).await.unwrap(),
        Some(changed)
    );
    u.delete_team(
        a.company.id,
        ops.id,
        event(chain, AuditAction::TeamDeleted, 31),
    )
    .await
    .unwrap();
    assert_eq!(u.get_team(a.company.id, ops.id).await.unwrap(), None);
    expect_code(
        u.delete_team(
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

// ---- audit -----------------------------------------------------------------

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
        .users()
        .insert_team(&team, event(chain, AuditAction::TeamCreated, 41))
        .await
        .unwrap();
    store
        .users()
        .update_team(&team, event(chain, AuditAction::TeamUpdated, 42))
        .await
        .unwrap();
    store
        .users()
        .delete_team(c, team.id, event(chain, AuditAction::TeamDeleted, 43))
        .await
        .unwrap();
    expected += 3;
    assert_eq!(chain_len(store, chain).await, expected, "team mutations");
    let task = new_task(c, bob.id, 0);
    store
        .work()
        .insert_task(&task, event(chain, AuditAction::TaskAssigned, 44))
        .await
        .unwrap();
    expected += 1;
    store
        .work()
        .update_task(&Task {
            status: TaskStatus::Done,
            ..task
        })
        .await
        .unwrap();
    assert_eq!(
        chain_len(store, chain).await,
        expected,
        "insert_task audits, update_task does not"
    );
    let corr = new_correction(c, bob.id, 0);
    store.work().insert_correction(&corr).await.unwrap();
    store
        .work()
        .decide_correction(
            &decided(&corr, CorrectionStatus::Approved, f.admin.id),
            event(chain, AuditAction::CorrectionDecided, 45),
        )
        .await
        .unwrap();
    expected += 1;
    assert_eq!(chain_len(store, chain).await, expected, "decide_correction");
    let events = store.audit().read_chain(chain, 0, 1_000).await.unwrap();
    assert_eq!(verify(chain, &events), Ok(expected as u64));
    assert_eq!(
        chain_len(store, AuditChain::Platform).await,
        platform_before,
        "nothing leaked into the platform chain"
    );
}

// ---- tracking ----------------------------------------------------------------

fn session(company: CompanyId, user: UserId, minutes: i64) -> WorkSession {
    WorkSession {
        id: WorkSessionId::from_uuid(uuid::Uuid::new_v4()),
        company_id: company,
        user_id: user,
        started_at: t0() + Duration::minutes(minutes),
        stopped_at: None,
    }
}

fn activity(company: CompanyId, user: UserId, start_secs: i64, duration: u32) -> ActivityEvent {
    ActivityEvent {
        id: ActivityId::from_uuid(uuid::Uuid::new_v4()),
        company_id: company,
        user_id: user,
        session_id: None,
        started_at: t0() + Duration::seconds(start_secs),
        duration_seconds: duration,
        kind: if start_secs % 2 == 0 {
            ActivityKind::Active
        } else {
            ActivityKind::Idle
        },
        app: Some("editor".into()),
        window_title: Some("main.rs — project".into()),
        url: (start_secs % 3 == 0).then(|| "https://example.com/a?b=c".to_owned()),
    }
}

/// Sessions: replays return the first row; stop sets once; another
/// company's id is absent; lists filter and page by (started_at, id).
pub async fn sessions_are_idempotent_and_scoped(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let s = session(c, bob.id, 0);
    let first = tr.insert_session(&s).await.unwrap();
    assert!(first.inserted);
    let replay = WorkSession {
        started_at: s.started_at + Duration::minutes(9),
        ..s.clone()
    };
    let second = tr.insert_session(&replay).await.unwrap();
    assert!(!second.inserted);
    assert_eq!(second.stored, s, "a replay returns the first row");
    assert_eq!(tr.get_session(b.company.id, s.id).await.unwrap(), None);
    let stop = t0() + Duration::hours(1);
    assert_eq!(
        tr.stop_session(c, s.id, stop).await.unwrap().stopped_at,
        Some(stop)
    );
    let again = tr
        .stop_session(c, s.id, stop + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(again.stopped_at, Some(stop), "stop sets the time once");
    expect_code(
        tr.stop_session(b.company.id, s.id, stop).await,
        "not_found",
        "stop across companies",
    );
    // Same client id in another company is another row.
    let theirs = WorkSession {
        company_id: b.company.id,
        user_id: b.admin.id,
        ..s.clone()
    };
    assert!(tr.insert_session(&theirs).await.unwrap().inserted);

    let mut expected = vec![tr.get_session(c, s.id).await.unwrap().unwrap()];
    for i in 0..9 {
        // Pairs share a start time, so paging must break ties by id.
        let x = session(c, if i % 2 == 0 { bob.id } else { a.admin.id }, 10 + i / 2);
        tr.insert_session(&x).await.unwrap();
        expected.push(x);
    }
    expected.sort_by_key(|x| (x.started_at, x.id));
    let none = TrackingFilter::default();
    let got = walk(4, |p| {
        let none = none.clone();
        async move { tr.list_sessions(c, &none, &p).await }
    })
    .await;
    assert_eq!(
        got, expected,
        "all sessions of the company, by (started_at, id)"
    );
    let only_bob = TrackingFilter {
        users: Some(BTreeSet::from([bob.id])),
        from: Some(t0() + Duration::minutes(10)),
        to: Some(t0() + Duration::minutes(12)),
    };
    let got = tr
        .list_sessions(c, &only_bob, &PageRequest::first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|x| x.user_id == bob.id && x.started_at >= t0() + Duration::minutes(10))
    );
    let theirs_only = tr
        .list_sessions(b.company.id, &none, &PageRequest::first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(theirs_only, vec![theirs]);
    bad_cursor(
        |p| async move { tr.list_sessions(c, &TrackingFilter::default(), &p).await },
        "list_sessions",
    )
    .await;
}

/// Activity: ids already stored (in this or an earlier call) are counted
/// as duplicates and ignored; events must belong to the company.
pub async fn activity_ingest_is_idempotent_and_scoped(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let events: Vec<ActivityEvent> = (0..25)
        .map(|i| activity(c, a.admin.id, i * 60, 60))
        .collect();
    let n = tr.insert_activity(c, &events[..20]).await.unwrap();
    assert_eq!((n.inserted, n.duplicates), (20, 0));
    let n = tr.insert_activity(c, &events).await.unwrap();
    assert_eq!(
        (n.inserted, n.duplicates),
        (5, 20),
        "a replay is counted once"
    );
    let twice = vec![events[0].clone(), events[0].clone()];
    let n = tr.insert_activity(c, &twice).await.unwrap();
    assert_eq!((n.inserted, n.duplicates), (0, 2));
    let fresh = activity(c, a.admin.id, 5_000, 10);
    let n = tr
        .insert_activity(c, &[fresh.clone(), fresh.clone()])
        .await
        .unwrap();
    assert_eq!(
        (n.inserted, n.duplicates),
        (1, 1),
        "a duplicate inside one batch is stored once"
    );

    let mixed = vec![
        activity(c, a.admin.id, 9_000, 10),
        activity(b.company.id, b.admin.id, 9_000, 10),
    ];
    assert!(
        tr.insert_activity(c, &mixed).await.is_err(),
        "an event of another company is refused"
    );
    let none = TrackingFilter::default();
    let stored = walk(7, |p| {
        let none = none.clone();
        async move { tr.list_activity(c, &none, &p).await }
    })
    .await;
    assert_eq!(stored.len(), 26, "the refused batch stored nothing");
    let mut expected: Vec<ActivityEvent> = events.clone();
    expected.push(fresh);
    expected.sort_by_key(|e| (e.started_at, e.id));
    assert_eq!(
        stored, expected,
        "events read back exactly, by (started_at, id)"
    );
    let same_ids: Vec<ActivityEvent> = events
        .iter()
        .map(|e| ActivityEvent {
            company_id: b.company.id,
            user_id: b.admin.id,
            ..e.clone()
        })
        .collect();
    let n = tr.insert_activity(b.company.id, &same_ids).await.unwrap();
    assert_eq!(n.inserted, 25, "ids are unique per company, not globally");
    let window = TrackingFilter {
        users: Some(BTreeSet::from([a.admin.id])),
        from: Some(t0() + Duration::minutes(10)),
        to: Some(t0() + Duration::minutes(15)),
    };
    let got = tr
        .list_activity(c, &window, &PageRequest::first(100))
        .await
        .unwrap()
        .items;
    assert_eq!(got.len(), 5);
    let strangers = TrackingFilter {
        users: Some(BTreeSet::from([b.admin.id])),
        ..Default::default()
    };
    assert!(
        tr.list_activity(c, &strangers, &PageRequest::first(100))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    bad_cursor(
        |p| async move { tr.list_activity(c, &TrackingFilter::default(), &p).await },
        "list_activity",
    )
    .await;
}

/// `activity_between` returns the events overlapping the window, by
/// (started_at, id), for the given users of the company only.
pub async fn activity_between_selects_overlaps(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let from = t0() + Duration::hours(1);
    let to = t0() + Duration::hours(2);
    let before_ending_at_from = activity(c, bob.id, 3_600 - 600, 600);
    let straddling_from = activity(c, bob.id, 3_600 - 300, 600);
    let inside = activity(c, bob.id, 4_000, 60);
    let inside_other_user = activity(c, a.admin.id, 4_000, 60);
    let starting_at_to = activity(c, bob.id, 7_200, 60);
    let straddling_to = activity(c, bob.id, 7_100, 600);
    let all = vec![
        before_ending_at_from,
        straddling_from.clone(),
        inside.clone(),
        inside_other_user.clone(),
        starting_at_to,
        straddling_to.clone(),
    ];
    tr.insert_activity(c, &all).await.unwrap();
    tr.insert_activity(
        b.company.id,
        &[activity(b.company.id, b.admin.id, 4_000, 60)],
    )
    .await
    .unwrap();
    let got = tr.activity_between(c, &None, from, to).await.unwrap();
    let mut expected = vec![
        straddling_from.clone(),
        inside.clone(),
        inside_other_user,
        straddling_to.clone(),
    ];
    expected.sort_by_key(|e| (e.started_at, e.id));
    assert_eq!(got, expected);
    let bob_only = tr
        .activity_between(c, &Some(BTreeSet::from([bob.id])), from, to)
        .await
        .unwrap();
    assert_eq!(bob_only, vec![straddling_from, inside, straddling_to]);
    let none = tr
        .activity_between(c, &Some(BTreeSet::new()), from, to)
        .await
        .unwrap();
    assert!(none.is_empty(), "an empty user set selects nothing");
    let stranger = tr
        .activity_between(c, &Some(BTreeSet::from([b.admin.id])), from, to)
        .await
        .unwrap();
    assert!(stranger.is_empty());
}

/// Company-wide activity reads merge every user's events in (started_at,
/// id) order, ties between users included, whatever the page size; a user
/// filter and a window narrow them; a purge step's limit counts across
/// users, and steps repeated until nothing is left delete exactly the old
/// events of every user and nothing of another company.
pub async fn company_activity_spans_users(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let mut users = vec![a.admin.id];
    for name in ["u1", "u2", "u3"] {
        users.push(add_user(store, &a, name, Role::Employee).await.id);
    }
    // Interleaved timelines (user k starts k*15 s after user 0) and one
    // instant every user shares, so only the ids order the ties.
    let mut events = Vec::new();
    for (k, user) in users.iter().enumerate() {
        let mine: Vec<ActivityEvent> = (0..12)
            .map(|i| activity(c, *user, i * 60 + k as i64 * 15, 10))
            .chain([activity(c, *user, 10_000, 30)])
            .collect();
        tr.insert_activity(c, &mine).await.unwrap();
        events.extend(mine);
    }
    let theirs: Vec<ActivityEvent> = (0..12)
        .map(|i| activity(b.company.id, b.admin.id, i * 60, 10))
        .collect();
    tr.insert_activity(b.company.id, &theirs).await.unwrap();
    events.sort_by_key(|e| (e.started_at, e.id));

    for size in [1, 5, 13, 500] {
        let got = walk(size, |p| async move {
            tr.list_activity(c, &TrackingFilter::default(), &p).await
        })
        .await;
        assert_eq!(got, events, "every user's events merged, pages of {size}");
    }
    let some = BTreeSet::from([users[1], users[3]]);
    let window = TrackingFilter {
        users: Some(some.clone()),
        from: Some(t0() + Duration::seconds(120)),
        to: Some(t0() + Duration::seconds(10_000)),
    };
    let expected: Vec<ActivityEvent> = events
        .iter()
        .filter(|e| {
            some.contains(&e.user_id)
                && e.started_at >= t0() + Duration::seconds(120)
                && e.started_at < t0() + Duration::seconds(10_000)
        })
        .cloned()
        .collect();
    assert_eq!(expected.len(), 20);
    let got = walk(3, |p| {
        let window = window.clone();
        async move { tr.list_activity(c, &window, &p).await }
    })
    .await;
    assert_eq!(got, expected, "users and window narrow the merge");
    let (from, to) = (t0() + Duration::seconds(100), t0() + Duration::seconds(400));
    let between: Vec<ActivityEvent> = events
        .iter()
        .filter(|e| e.started_at < to && e.ended_at() > from)
        .cloned()
        .collect();
    assert_eq!(
        tr.activity_between(c, &None, from, to).await.unwrap(),
        between,
        "every user's overlapping events, in order"
    );

    // The first six minutes are old: 6 events of each of the 4 users.
    let before = t0() + Duration::seconds(360);
    let step = PurgeBatch {
        before,
        before_date: t0().date_naive(),
        screenshots: vec![],
        limit: 5,
        started_at: t0() + Duration::days(100),
    };
    let mut deleted = 0;
    for _ in 0..20 {
        let n = tr.purge_tracking(c, &step).await.unwrap().events;
        assert!(n <= 5, "a step deletes at most its limit, got {n}");
        if n == 0 {
            break;
        }
        deleted += n;
    }
    assert_eq!(deleted, 24, "every user's old events, across steps");
    let left = walk(500, |p| async move {
        tr.list_activity(c, &TrackingFilter::default(), &p).await
    })
    .await;
    let kept: Vec<ActivityEvent> = events
        .iter()
        .filter(|e| e.ended_at() > before)
        .cloned()
        .collect();
    assert_eq!(left, kept, "only the old events went");
    let their_left = tr
        .list_activity(
            b.company.id,
            &TrackingFilter::default(),
            &PageRequest::first(100),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(their_left.len(), 12, "another company's events stay");
}

fn shot(company: CompanyId, user: UserId, minutes: i64, size: u64) -> Screenshot {
    let id = ScreenshotId::from_uuid(uuid::Uuid::new_v4());
    Screenshot {
        id,
        company_id: company,
        user_id: user,
        taken_at: t0() + Duration::minutes(minutes),
        size_bytes: size,
        sha256: "ab".repeat(32),
        content_type: "image/png".into(),
        blurred: minutes % 2 == 0,
        blob_key: format!("{company}/{user}/{id}"),
    }
}

/// Screenshots: replays return the first row; a new one past the storage
/// limit is refused and stored nowhere; lists are scoped and paged.
pub async fn screenshots_respect_storage_limits(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let s1 = shot(c, a.admin.id, 0, 400);
    assert!(tr.insert_screenshot(&s1, 1_000).await.unwrap().inserted);
    let replay = tr
        .insert_screenshot(
            &Screenshot {
                size_bytes: 1,
                ..s1.clone()
            },
            1_000,
        )
        .await
        .unwrap();
    assert!(!replay.inserted);
    assert_eq!(replay.stored, s1);
    let s2 = shot(c, a.admin.id, 1, 600);
    assert!(
        tr.insert_screenshot(&s2, 1_000).await.unwrap().inserted,
        "exactly at the limit is allowed"
    );
    let s3 = shot(c, a.admin.id, 2, 1);
    expect_code(
        tr.insert_screenshot(&s3, 1_000).await,
        "storage_limit_reached",
        "one byte past the limit",
    );
    assert_eq!(tr.get_screenshot(c, s3.id).await.unwrap(), None);
    assert_eq!(tr.storage_used(c).await.unwrap(), 1_000);
    assert_eq!(
        tr.storage_used(b.company.id).await.unwrap(),
        0,
        "storage is per company"
    );
    assert!(
        tr.insert_screenshot(&shot(b.company.id, b.admin.id, 0, 900), 1_000)
            .await
            .unwrap()
            .inserted
    );
    assert_eq!(tr.get_screenshot(b.company.id, s1.id).await.unwrap(), None);
    let mut expected = vec![s1, s2];
    for i in 0..5 {
        let s = shot(c, a.admin.id, 10 + i, 0);
        tr.insert_screenshot(&s, 1_000).await.unwrap();
        expected.push(s);
    }
    expected.sort_by_key(|s| (s.taken_at, s.id));
    let none = TrackingFilter::default();
    let got = walk(3, |p| {
        let none = none.clone();
        async move { tr.list_screenshots(c, &none, &p).await }
    })
    .await;
    assert_eq!(got, expected);
    bad_cursor(
        |p| async move { tr.list_screenshots(c, &TrackingFilter::default(), &p).await },
        "list_screenshots",
    )
    .await;
}

// ---- work --------------------------------------------------------------------

fn new_task(company: CompanyId, assignee: UserId, n: u32) -> Task {
    Task {
        id: TaskId::new(),
        company_id: company,
        title: format!("task {n}"),
        description: Some("details".into()),
        assignee_id: assignee,
        created_by: assignee,
        status: TaskStatus::Open,
        due_on: NaiveDate::from_ymd_opt(2026, 6, 1),
        completion_note: None,
        completed_at: None,
        created_at: t0(),
    }
}

fn new_correction(company: CompanyId, user: UserId, hour: i64) -> CorrectionRequest {
    CorrectionRequest {
        id: CorrectionId::new(),
        company_id: company,
        user_id: user,
        starts_at: t0() + Duration::hours(hour),
        ends_at: t0() + Duration::hours(hour + 1),
        reason: "meeting".into(),
        status: CorrectionStatus::Pending,
        decided_by: None,
        decided_at: None,
        decision_note: None,
        created_at: t0(),
    }
}

fn decided(c: &CorrectionRequest, status: CorrectionStatus, by: UserId) -> CorrectionRequest {
    CorrectionRequest {
        status,
        decided_by: Some(by),
        decided_at: Some(t0() + Duration::days(1)),
        decision_note: Some("ok".into()),
        ..c.clone()
    }
}

/// Tasks are scoped to their company, filtered and paged by id.
pub async fn tasks_are_scoped_and_paged(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let w = store.work();
    let c = a.company.id;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let mut ids = Vec::new();
    for n in 0..8 {
        let t = new_task(c, if n % 2 == 0 { bob.id } else { a.admin.id }, n);
        w.insert_task(
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
        async move { w.list_tasks(c, &none, &p).await }
    })
    .await
    .into_iter()
    .map(|t| t.id)
    .collect();
    assert_eq!(got, ids);
    let first = w.get_task(c, ids[0]).await.unwrap().unwrap();
    assert_eq!(w.get_task(b.company.id, ids[0]).await.unwrap(), None);
    let done = Task {
        status: TaskStatus::Done,
        completion_note: Some("done".into()),
        completed_at: Some(t0() + Duration::hours(3)),
        ..first.clone()
    };
    w.update_task(&done).await.unwrap();
    assert_eq!(w.get_task(c, done.id).await.unwrap(), Some(done.clone()));
    expect_code(
        w.update_task(&Task {
            company_id: b.company.id,
            ..done.clone()
        })
        .await,
        "not_found",
        "update_task across companies",
    );
    let bobs_open = TaskFilter {
        assignees: Some(BTreeSet::from([bob.id])),
        status: Some(TaskStatus::Open),
    };
    let got = w
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
    assert!(
        w.list_tasks(b.company.id, &none, &PageRequest::first(100))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    bad_cursor(
        |p| async move { w.list_tasks(c, &TaskFilter::default(), &p).await },
        "list_tasks",
    )
    .await;
}

/// Corrections are decided once; only approved ones overlapping a window
/// count for reports; other companies' ids are absent.
pub async fn corrections_are_decided_once(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let w = store.work();
    let c = a.company.id;
    let chain = AuditChain::Company(c);
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let c1 = new_correction(c, bob.id, 1);
    let c2 = new_correction(c, bob.id, 3);
    let c3 = new_correction(c, a.admin.id, 1);
    for x in [&c1, &c2, &c3] {
        w.insert_correction(x).await.unwrap();
    }
    assert_eq!(w.get_correction(c, c1.id).await.unwrap(), Some(c1.clone()));
    assert_eq!(w.get_correction(b.company.id, c1.id).await.unwrap(), None);
    let before = chain_len(store, AuditChain::Company(b.company.id)).await;
    expect_code(
        w.decide_correction(
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
    w.decide_correction(&approved, event(chain, AuditAction::CorrectionDecided, 61))
        .await
        .unwrap();
    assert_eq!(
        w.get_correction(c, c1.id).await.unwrap(),
        Some(approved.clone())
    );
    let len = chain_len(store, chain).await;
    expect_code(
        w.decide_correction(
            &decided(&c1, CorrectionStatus::Rejected, a.admin.id),
            event(chain, AuditAction::CorrectionDecided, 62),
        )
        .await,
        "invalid_state",
        "deciding twice",
    );
    assert_eq!(
        w.get_correction(c, c1.id).await.unwrap(),
        Some(approved.clone())
    );
    assert_eq!(chain_len(store, chain).await, len);
    w.decide_correction(
        &decided(&c3, CorrectionStatus::Rejected, a.admin.id),
        event(chain, AuditAction::CorrectionDecided, 63),
    )
    .await
    .unwrap();

    let window = (t0(), t0() + Duration::hours(10));
    let got = w
        .approved_corrections(c, &None, window.0, window.1)
        .await
        .unwrap();
    assert_eq!(got, vec![approved.clone()], "only approved ones");
    let edge = w
        .approved_corrections(c, &None, t0() + Duration::hours(2), window.1)
        .await
        .unwrap();
    assert!(
        edge.is_empty(),
        "a correction ending at the window's start does not overlap it"
    );
    let others = w
        .approved_corrections(c, &Some(BTreeSet::from([a.admin.id])), window.0, window.1)
        .await
        .unwrap();
    assert!(others.is_empty());
    assert!(
        w.approved_corrections(b.company.id, &None, window.0, window.1)
            .await
            .unwrap()
            .is_empty()
    );

    let pending = CorrectionFilter {
        users: Some(BTreeSet::from([bob.id])),
        status: Some(CorrectionStatus::Pending),
    };
    let got = w
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
        async move { w.list_corrections(c, &none, &p).await }
    })
    .await
    .into_iter()
    .map(|x| x.id)
    .collect();
    assert_eq!(all, ids);
    bad_cursor(
        |p| async move {
            w.list_corrections(c, &CorrectionFilter::default(), &p)
                .await
        },
        "list_corrections",
    )
    .await;
}

/// Usage rows are replaced by (company, date) and listed by inclusive range.
pub async fn usage_rows_upsert_by_day(store: &dyn Store) {
    let (a, b) = (CompanyId::new(), CompanyId::new());
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 5, d).unwrap_or_default();
    let row = |company: CompanyId, d: u32, active: u64| CompanyUsageDaily {
        company_id: company,
        date: day(d),
        active_seconds: active,
        idle_seconds: 10,
        screenshots: 2,
        storage_bytes: 2_048,
        active_users: 3,
    };
    let us = store.usage();
    us.upsert_usage(&[
        row(a, 1, 100),
        row(a, 2, 200),
        row(a, 3, 300),
        row(b, 2, 50),
    ])
    .await
    .unwrap();
    us.upsert_usage(&[row(a, 2, 222)]).await.unwrap();
    let got = us.list_usage(Some(a), day(2), day(3)).await.unwrap();
    assert_eq!(
        got,
        vec![row(a, 2, 222), row(a, 3, 300)],
        "replaced, inclusive range, by date"
    );
    let mut all = us.list_usage(None, day(1), day(31)).await.unwrap();
    assert_eq!(all.len(), 4);
    let sorted = {
        let mut s = all.clone();
        s.sort_by_key(|r| (r.company_id, r.date));
        s
    };
    assert_eq!(all, sorted, "all companies, by (company, date)");
    all.retain(|r| r.company_id == b);
    assert_eq!(all, vec![row(b, 2, 50)]);
    assert!(
        us.list_usage(Some(b), day(3), day(31))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A store that keeps day rollups returns sums equal to the events clipped
/// to local days (company timezone), exact unless events overlap, unchanged
/// by replays, and scoped to the company and users asked for.
pub async fn day_rollups_match_the_events(store: &dyn Store) {
    let a = company(store, 10, 1_000).await; // Europe/Berlin
    let b = company(store, 10, 1_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let tz = a.company.tz();
    // 23:30 local on May 4 (UTC+2) is 21:30 UTC: an hour across local midnight, then more.
    let base = Utc
        .with_ymd_and_hms(2026, 5, 4, 21, 30, 0)
        .single()
        .unwrap_or_default();
    let ev = |offset_min: i64, secs: u32, kind: ActivityKind| ActivityEvent {
        kind,
        started_at: base + Duration::minutes(offset_min),
        duration_seconds: secs,
        ..activity(c, bob.id, 0, secs)
    };
    let events = vec![
        ev(0, 3_600, ActivityKind::Active),
        ev(60, 600, ActivityKind::Idle),
        ev(70, 1_200, ActivityKind::Active),
    ];
    tr.insert_activity(c, &events).await.unwrap();
    tr.insert_activity(c, &events).await.unwrap(); // a replay changes nothing
    tr.insert_activity(
        b.company.id,
        &[ActivityEvent {
            company_id: b.company.id,
            user_id: b.admin.id,
            ..events[0].clone()
        }],
    )
    .await
    .unwrap();
    let (d4, d5) = (
        NaiveDate::from_ymd_opt(2026, 5, 4).unwrap_or_default(),
        NaiveDate::from_ymd_opt(2026, 5, 5).unwrap_or_default(),
    );
    let users = Some(BTreeSet::from([bob.id]));
    let Some(mut rollups) = tr.day_rollups(c, &users, d4, d5).await.unwrap() else {
        return; // this store keeps no rollups; reports compute from events
    };
    rollups.sort_by_key(|r| r.date);
    let grid = crate::report::day_grid(tz, d4, d5, &[bob.id], &events, &[]);
    assert_eq!(
        rollups.len(),
        2,
        "one row per local day with events: {rollups:?}"
    );
    for (r, cell) in rollups.iter().zip(&grid) {
        assert_eq!(r.date, cell.date);
        assert!(r.exact, "no overlap: the sums are exact");
        assert_eq!(
            (r.active_seconds, r.idle_seconds),
            (cell.totals.active_seconds, cell.totals.idle_seconds),
            "{}",
            r.date
        );
        assert_eq!(
            (r.first_seen, r.last_seen),
            (cell.totals.first_seen, cell.totals.last_seen),
            "{}",
            r.date
        );
    }
    assert_eq!(
        rollups[0].active_seconds, 1_800,
        "the half hour before local midnight"
    );
    // An overlapping event makes its day inexact.
    tr.insert_activity(c, &[ev(75, 60, ActivityKind::Active)])
        .await
        .unwrap();
    let after = tr
        .day_rollups(c, &users, d5, d5)
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(after.len(), 1);
    assert!(!after[0].exact, "overlapping events are flagged");
    let before_midnight = tr
        .day_rollups(c, &users, d4, d4)
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(before_midnight[0].exact, "the other day stays exact");
    let strangers = tr
        .day_rollups(c, &Some(BTreeSet::from([b.admin.id])), d4, d5)
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        strangers.is_empty(),
        "another company's user has no rollups here"
    );
    let theirs = tr
        .day_rollups(b.company.id, &None, d4, d5)
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(theirs.iter().all(|r| r.user_id == b.admin.id));
}

// ---- jobs and alerts -----------------------------------------------------------

/// Ingest marks the UTC dates it touched (an event across UTC midnight marks
/// both), per company; clearing with a stale version keeps the mark.
pub async fn usage_marks_follow_ingest(store: &dyn Store) {
    let a = company(store, 10, 10_000).await;
    let b = company(store, 10, 10_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 5, d).unwrap_or_default();
    assert!(
        tr.pending_usage_days(c).await.unwrap().is_empty(),
        "nothing yet"
    );
    // t0 is May 4 08:00 UTC: 16 hours later is across UTC midnight.
    let late = ActivityEvent {
        started_at: t0() + Duration::hours(15) + Duration::minutes(50),
        duration_seconds: 1_200,
        ..activity(c, bob.id, 0, 1_200)
    };
    tr.insert_activity(c, &[activity(c, bob.id, 0, 60), late])
        .await
        .unwrap();
    tr.insert_screenshot(
        &Screenshot {
            taken_at: t0() + Duration::days(3),
            ..shot(c, bob.id, 0, 10)
        },
        10_000,
    )
    .await
    .unwrap();
    let pending = tr.pending_usage_days(c).await.unwrap();
    let dates: Vec<_> = pending.iter().map(|p| p.date).collect();
    assert_eq!(
        dates,
        [day(4), day(5), day(7)],
        "event start and end dates, the screenshot's date, in order"
    );
    assert!(
        tr.pending_usage_days(b.company.id)
            .await
            .unwrap()
            .is_empty(),
        "another company's ingest marks nothing here"
    );
    // New data on May 4 after the marks were read: its clear must not win.
    tr.insert_activity(c, &[activity(c, bob.id, 120, 60)])
        .await
        .unwrap();
    tr.clear_pending_usage(c, &pending).await.unwrap();
    let left: Vec<_> = tr
        .pending_usage_days(c)
        .await
        .unwrap()
        .iter()
        .map(|p| p.date)
        .collect();
    assert_eq!(
        left,
        [day(4)],
        "a date marked again after the read stays pending"
    );
    tr.clear_pending_usage(b.company.id, &tr.pending_usage_days(c).await.unwrap())
        .await
        .unwrap();
    assert_eq!(
        tr.pending_usage_days(c).await.unwrap().len(),
        1,
        "clearing is scoped to the company"
    );
    let now = tr.pending_usage_days(c).await.unwrap();
    tr.clear_pending_usage(c, &now).await.unwrap();
    assert!(tr.pending_usage_days(c).await.unwrap().is_empty());
    tr.mark_usage_days(c, &[day(9), day(9), day(10)])
        .await
        .unwrap();
    let marked: Vec<_> = tr
        .pending_usage_days(c)
        .await
        .unwrap()
        .iter()
        .map(|p| p.date)
        .collect();
    assert_eq!(marked, [day(9), day(10)]);
}

/// Open sessions are those without `stopped_at`, of the company asked for,
/// ordered by (started_at, id).
pub async fn open_sessions_are_listed_per_company(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let tr = store.tracking();
    let c = a.company.id;
    let bob = add_user(store, &a, "bob", Role::Employee).await;
    let later = session(c, bob.id, 30);
    let earlier = session(c, a.admin.id, 10);
    let stopped = session(c, bob.id, 0);
    for s in [&later, &earlier, &stopped] {
        tr.insert_session(s).await.unwrap();
    }
    tr.stop_session(c, stopped.id, t0() + Duration::minutes(5))
        .await
        .unwrap();
    tr.insert_session(&session(b.company.id, b.admin.id, 0))
        .await
        .unwrap();
    let open = tr.open_sessions(c).await.unwrap();
    assert_eq!(open, vec![earlier, later]);
}

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
    tr.insert_activity(
        c,
        &[old.clone(), vec![straddling.clone()], new.clone()].concat(),
    )
    .await
    .unwrap();
    let theirs = activity(b.company.id, b.admin.id, 0, 300);
    tr.insert_activity(b.company.id, std::slice::from_ref(&theirs))
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

    let listed = tr.screenshots_before(c, before, 2).await.unwrap();
    assert_eq!(
        listed,
        old_shots[..2].to_vec(),
        "oldest first, at most `limit`"
    );
    assert!(
        tr.purge_progress(c).await.unwrap().is_none(),
        "no purge yet"
    );
    let nothing = tr
        .purge_tracking(
            c,
            &PurgeBatch {
                before: t0() - Duration::days(30),
                before_date: NaiveDate::from_ymd_opt(2026, 4, 1).unwrap_or_default(),
                screenshots: vec![],
                limit: 10,
                started_at: t0(),
            },
        )
        .await
        .unwrap();
    assert!(
        nothing.is_empty(),
        "nothing is older than a month before the data"
    );
    assert!(
        tr.purge_progress(c).await.unwrap().is_none(),
        "a step that deleted nothing records nothing"
    );

    let step = |shots: Vec<ScreenshotId>| PurgeBatch {
        before,
        before_date,
        screenshots: shots,
        limit: 2,
        started_at: t0() + Duration::days(100),
    };
    // The new screenshot is listed by mistake: it is not deleted.
    let first = tr
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
    let progress = tr
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
        let shots = tr.screenshots_before(c, before, 2).await.unwrap();
        let n = tr
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
    let progress = tr
        .purge_progress(c)
        .await
        .unwrap()
        .expect("progress kept until finished");
    assert_eq!(progress.counts, total, "the running total adds every step");
    assert_eq!(progress.started_at, t0() + Duration::days(100));

    let everything = |company| async move {
        tr.activity_between(
            company,
            &None,
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
        .day_rollups(c, &None, NaiveDate::MIN, NaiveDate::MAX)
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
    tr.finish_purge(c, event(chain, AuditAction::DataPurged, 9))
        .await
        .unwrap();
    assert_eq!(chain_len(store, chain).await, len + 1, "one audit event");
    assert!(
        tr.purge_progress(c).await.unwrap().is_none(),
        "finished purges are forgotten"
    );
}

fn alert(company: CompanyId, kind: AlertKind, user: Option<UserId>) -> Alert {
    Alert {
        id: AlertId::new(),
        kind,
        company_id: company,
        user_id: user,
        message: format!("{kind:?} alert"),
        details: json!({ "n": 1 }),
        raised_at: t0(),
        resolved_at: None,
    }
}

/// One open alert per (company, kind, subject): a second is not stored and
/// the open one comes back; resolving closes it once, after which a new one
/// may open. Reads are scoped to the company.
pub async fn alerts_stay_open_once_per_subject(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let al = store.alerts();
    let c = a.company.id;
    let bob = UserId::new();
    let first = al
        .open_alert(&alert(c, AlertKind::AgentOffline, Some(bob)))
        .await
        .unwrap();
    assert!(first.inserted);
    let again = al
        .open_alert(&alert(c, AlertKind::AgentOffline, Some(bob)))
        .await
        .unwrap();
    assert!(!again.inserted, "one open alert per subject and kind");
    assert_eq!(again.stored, first.stored);
    let other_user = alert(c, AlertKind::AgentOffline, Some(UserId::new()));
    assert!(al.open_alert(&other_user).await.unwrap().inserted);
    let idle = alert(c, AlertKind::HighIdle, Some(bob));
    assert!(
        al.open_alert(&idle).await.unwrap().inserted,
        "another kind is another alert"
    );
    let no_sync_a = alert(c, AlertKind::NoSync, None);
    let no_sync_b = alert(b.company.id, AlertKind::NoSync, None);
    assert!(al.open_alert(&no_sync_a).await.unwrap().inserted);
    assert!(
        !al.open_alert(&alert(c, AlertKind::NoSync, None))
            .await
            .unwrap()
            .inserted,
        "company-wide subjects too"
    );
    assert!(
        al.open_alert(&no_sync_b).await.unwrap().inserted,
        "another company"
    );

    assert_eq!(al.get_alert(c, idle.id).await.unwrap(), Some(idle.clone()));
    assert_eq!(
        al.get_alert(b.company.id, idle.id).await.unwrap(),
        None,
        "scoped"
    );
    let offline = al
        .open_alerts(Some(c), AlertKind::AgentOffline)
        .await
        .unwrap();
    assert_eq!(offline.len(), 2);
    let all_no_sync = al.open_alerts(None, AlertKind::NoSync).await.unwrap();
    assert_eq!(all_no_sync.len(), 2, "every company's with None");

    let at = t0() + Duration::hours(1);
    assert_eq!(
        al.resolve_alert(b.company.id, first.stored.id, at)
            .await
            .unwrap(),
        None,
        "not of that company"
    );
    let resolved = al
        .resolve_alert(c, first.stored.id, at)
        .await
        .unwrap()
        .expect("resolved");
    assert_eq!(resolved.resolved_at, Some(at));
    assert_eq!(
        al.resolve_alert(c, first.stored.id, at).await.unwrap(),
        None,
        "only once"
    );
    let reopened = al
        .open_alert(&alert(c, AlertKind::AgentOffline, Some(bob)))
        .await
        .unwrap();
    assert!(reopened.inserted, "after resolution a new alert may open");

    let list = |filter: AlertFilter| async move {
        walk(2, |p| async move { al.list_alerts(c, &filter, &p).await }).await
    };
    let every: Vec<Alert> = list(AlertFilter::default()).await;
    assert_eq!(every.len(), 5, "{every:?}");
    let mut ids: Vec<_> = every.iter().map(|x| x.id).collect();
    ids.sort();
    assert_eq!(
        ids,
        every.iter().map(|x| x.id).collect::<Vec<_>>(),
        "ordered by id"
    );
    let closed = list(AlertFilter {
        open: Some(false),
        kind: None,
    })
    .await;
    assert_eq!(closed, vec![resolved]);
    let open_offline = list(AlertFilter {
        open: Some(true),
        kind: Some(AlertKind::AgentOffline),
    })
    .await;
    assert_eq!(open_offline.len(), 2);
    bad_cursor(
        |p| async move { al.list_alerts(c, &AlertFilter::default(), &p).await },
        "list_alerts",
    )
    .await;
}

/// Settings are stored whole per company with their audit event (unknown
/// company: not found, no event); deliveries are kept per alert and scoped.
pub async fn alert_settings_and_deliveries_are_scoped(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let al = store.alerts();
    let c = a.company.id;
    assert_eq!(al.get_alert_settings(c).await.unwrap(), None);
    let mut settings = AlertSettings::default_for(c, t0());
    settings.offline_minutes = 30;
    settings.webhooks = vec![WebhookTarget {
        url: "https://hooks.example/alerts".into(),
        format: WebhookFormat::Slack,
        secret: Some("0123456789abcdef".into()),
    }];
    let chain = AuditChain::Company(c);
    let len = chain_len(store, chain).await;
    al.put_alert_settings(
        &settings,
        event(chain, AuditAction::AlertSettingsUpdated, 3),
    )
    .await
    .unwrap();
    assert_eq!(chain_len(store, chain).await, len + 1);
    assert_eq!(
        al.get_alert_settings(c).await.unwrap(),
        Some(settings.clone())
    );
    assert_eq!(
        al.get_alert_settings(b.company.id).await.unwrap(),
        None,
        "scoped"
    );
    settings.high_idle_enabled = false;
    al.put_alert_settings(
        &settings,
        event(chain, AuditAction::AlertSettingsUpdated, 4),
    )
    .await
    .unwrap();
    assert_eq!(
        al.get_alert_settings(c).await.unwrap(),
        Some(settings.clone()),
        "replaced"
    );
    let ghost = AlertSettings::default_for(CompanyId::new(), t0());
    let platform = chain_len(store, AuditChain::Platform).await;
    expect_code(
        al.put_alert_settings(
            &ghost,
            event(AuditChain::Platform, AuditAction::AlertSettingsUpdated, 5),
        )
        .await,
        "not_found",
        "settings of an unknown company",
    );
    assert_eq!(
        chain_len(store, AuditChain::Platform).await,
        platform,
        "no event without the change"
    );

    let x = alert(c, AlertKind::NoSync, None);
    al.open_alert(&x).await.unwrap();
    let record = |attempt: u32, delivered: bool| DeliveryRecord {
        id: DeliveryId::new(),
        company_id: c,
        alert_id: x.id,
        event: AlertEvent::Raised,
        url: "https://hooks.example/alerts".into(),
        attempt,
        at: t0() + Duration::seconds(i64::from(attempt)),
        status: if delivered { Some(200) } else { Some(503) },
        error: (!delivered).then(|| "HTTP 503".to_owned()),
        delivered,
    };
    let records = vec![record(1, false), record(2, false), record(3, true)];
    al.insert_deliveries(&records).await.unwrap();
    assert_eq!(al.list_deliveries(c, x.id).await.unwrap(), records);
    assert!(
        al.list_deliveries(b.company.id, x.id)
            .await
            .unwrap()
            .is_empty(),
        "scoped"
    );
    assert!(
        al.list_deliveries(c, AlertId::new())
            .await
            .unwrap()
            .is_empty()
    );
}
