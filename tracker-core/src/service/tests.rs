//! The service's own logic, isolated from any store with mockall: what it
//! asks the store to do, and what it must never ask.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use mockall::predicate::always;

use super::*;
use crate::audit::AuditEvent;
use crate::blob::MockBlobStore;
use crate::clock::ManualClock;
use crate::identity::TokenRecord;
use crate::ids::{ActivityId, PlanId, ScreenshotId};
use crate::policy::{PolicyUpdate, TrackingPolicy};
use crate::protocol::{ActivityBatch, LoginRequest, NewUser, ScreenshotUpload, TrackingQuery};
use crate::secret::{ApiToken, CompanyKey};
use crate::store::*;
use crate::tenancy::{CompanyStatus, Plan};
use crate::tracking::{ActivityInput, ActivityKind, AgentState, Liveness};

#[derive(Default)]
struct Mocks {
    tenants: MockTenantStore,
    users: MockUserStore,
    teams: MockTeamStore,
    agents: MockAgentStore,
    policies: MockPolicyStore,
    audit: MockAuditStore,
    tracking: MockTrackingStore,
    retention: MockRetentionStore,
    usage: MockUsageStore,
    tasks: MockTaskStore,
    corrections: MockCorrectionStore,
    alerts: MockAlertStore,
    access: MockAccessLogStore,
}

impl Store for Mocks {
    fn tenants(&self) -> &dyn TenantStore {
        &self.tenants
    }
    fn users(&self) -> &dyn UserStore {
        &self.users
    }
    fn teams(&self) -> &dyn TeamStore {
        &self.teams
    }
    fn agents(&self) -> &dyn AgentStore {
        &self.agents
    }
    fn policies(&self) -> &dyn PolicyStore {
        &self.policies
    }
    fn audit(&self) -> &dyn AuditStore {
        &self.audit
    }
    fn tracking(&self) -> &dyn TrackingStore {
        &self.tracking
    }
    fn retention(&self) -> &dyn RetentionStore {
        &self.retention
    }
    fn usage(&self) -> &dyn UsageStore {
        &self.usage
    }
    fn tasks(&self) -> &dyn TaskStore {
        &self.tasks
    }
    fn corrections(&self) -> &dyn CorrectionStore {
        &self.corrections
    }
    fn alerts(&self) -> &dyn AlertStore {
        &self.alerts
    }
    fn access(&self) -> &dyn AccessLogStore {
        &self.access
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn tracker(mocks: Mocks) -> Tracker<Mocks> {
    Tracker::builder(mocks)
        .clock(ManualClock::new(now()))
        .password_hasher(Argon2Hasher::insecure_fast())
        .build()
}

fn company(key: &CompanyKey) -> Company {
    Company {
        id: CompanyId::new(),
        name: "Acme".into(),
        status: CompanyStatus::Active,
        plan_id: PlanId::new(),
        trial_ends_at: None,
        subscription_expires_at: None,
        status_before_suspension: None,
        timezone: "UTC".into(),
        retention_days: 90,
        last_sync_at: None,
        created_at: now() - Duration::days(10),
        key_hash: key.hash(),
        legal_hold: None,
    }
}

fn user(company: Option<&Company>, role: Role) -> User {
    User {
        id: UserId::new(),
        company_id: company.map(|c| c.id),
        role,
        username: format!("{}-user", role.as_str().to_lowercase()),
        email: None,
        display_name: "Someone".into(),
        active: true,
        last_agent_sync_at: None,
        password_hash: Argon2Hasher::insecure_fast()
            .hash("right-password")
            .unwrap(),
        created_at: now() - Duration::days(5),
        privacy: Default::default(),
    }
}

fn principal(company: Option<&Company>, role: Role) -> Principal {
    Principal::new(user(company, role), company.cloned(), BTreeSet::new())
}

fn code<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code(),
    }
}

#[test]
fn forbidden_calls_never_reach_the_store() {
    // Mocks without expectations panic on any call.
    let t = tracker(Mocks::default());
    let c = company(&CompanyKey::generate().unwrap());
    let employee = principal(Some(&c), Role::Employee);
    let manager = principal(Some(&c), Role::Manager);
    let owner = principal(None, Role::Owner);
    futures::executor::block_on(async {
        let update = PolicyUpdate {
            screenshots_enabled: Some(false),
            ..Default::default()
        };
        assert_eq!(
            code(t.update_policy(&employee, update.clone()).await),
            "forbidden"
        );
        assert_eq!(code(t.update_policy(&manager, update).await), "forbidden");
        let new = NewUser {
            username: "mallory".into(),
            password: "long-enough".into(),
            email: None,
            display_name: None,
            role: None,
        };
        assert_eq!(code(t.create_user(&manager, new).await), "forbidden");
        let page = PageRequest::default();
        assert_eq!(
            code(t.list_users(&employee, None, &page).await),
            "forbidden"
        );
        assert_eq!(
            code(
                t.sessions(&employee, &TrackingQuery::default(), &page)
                    .await
            ),
            "forbidden"
        );
        assert_eq!(
            code(t.sessions(&owner, &TrackingQuery::default(), &page).await),
            "forbidden"
        );
        assert_eq!(code(t.policy(&owner).await), "forbidden");
        assert_eq!(
            code(
                t.company_audit(&manager, &AuditFilter::default(), &page)
                    .await
            ),
            "forbidden"
        );
        assert_eq!(
            code(
                t.platform_audit(&employee, &AuditFilter::default(), &page)
                    .await
            ),
            "forbidden"
        );
        assert_eq!(
            code(t.suspend_company(&employee, c.id, None).await),
            "forbidden"
        );
        assert_eq!(code(t.list_companies(&employee, &page).await), "forbidden");
        // An employee asking about a colleague learns nothing, not even that it exists.
        let q = TrackingQuery {
            user_id: Some(UserId::new()),
            ..Default::default()
        };
        assert_eq!(code(t.sessions(&employee, &q, &page).await), "not_found");
    });
}

#[test]
fn an_admin_asking_for_another_tenants_user_gets_not_found_and_no_data() {
    let mut m = Mocks::default();
    let c = company(&CompanyKey::generate().unwrap());
    let admin = principal(Some(&c), Role::Admin);
    let stranger = UserId::new();
    let cid = c.id;
    // The lookup is scoped to the admin's company, so the stranger is absent.
    m.users
        .expect_get_user()
        .withf(move |company, id| *company == Some(cid) && *id == stranger)
        .times(1)
        .returning(|_, _| Ok(None));
    let t = tracker(m);
    let q = TrackingQuery {
        user_id: Some(stranger),
        ..Default::default()
    };
    let r = futures::executor::block_on(t.activity(&admin, &q, &PageRequest::default()));
    assert_eq!(code(r), "not_found");
}

#[test]
fn a_suspension_writes_exactly_one_audit_event_with_the_change() {
    let mut m = Mocks::default();
    let c = company(&CompanyKey::generate().unwrap());
    let stored = c.clone();
    m.tenants
        .expect_get_company()
        .times(1)
        .returning(move |_| Ok(Some(stored.clone())));
    let cid = c.id;
    m.tenants
        .expect_update_company()
        .withf(move |ch| {
            ch.company.id == cid
                && ch.company.status == CompanyStatus::Suspended
                && ch.audit.action == AuditAction::CompanySuspended
                && ch.audit.chain == AuditChain::Platform
                && ch.subscription.is_none()
        })
        .times(1)
        .returning(|_| Ok(()));
    // The event travels with the change, never as a separate append.
    m.audit.expect_append_audit().times(0);
    let t = tracker(m);
    let owner = principal(None, Role::Owner);
    let updated =
        futures::executor::block_on(t.suspend_company(&owner, c.id, Some("unpaid".into())))
            .unwrap();
    assert_eq!(updated.status, CompanyStatus::Suspended);
    assert_eq!(
        updated.status_before_suspension,
        Some(CompanyStatus::Active)
    );
}

#[test]
fn a_failed_login_is_audited_once_and_issues_no_token() {
    let mut m = Mocks::default();
    let key = CompanyKey::generate().unwrap();
    let c = company(&key);
    let u = user(Some(&c), Role::Employee);
    let (c2, u2) = (c.clone(), u.clone());
    m.tenants
        .expect_company_by_key_hash()
        .returning(move |_| Ok(Some(c2.clone())));
    m.users
        .expect_user_by_username()
        .returning(move |_, _| Ok(Some(u2.clone())));
    let cid = c.id;
    m.audit
        .expect_append_audit()
        .withf(move |e| e.action == AuditAction::LoginFailed && e.chain == AuditChain::Company(cid))
        .times(1)
        .returning(|e| Ok(e.link(None)));
    m.agents.expect_insert_token().times(0);
    let t = tracker(m);
    let req = LoginRequest {
        company_key: Some(key.expose().to_owned()),
        username: u.username.clone(),
        password: "wrong-password".into(),
    };
    let r = futures::executor::block_on(t.login(req, Some("203.0.113.9".into())));
    assert_eq!(code(r), "invalid_credentials");
}

#[test]
fn a_suspended_company_cannot_log_in_and_a_guess_does_not_learn_it() {
    let mut m = Mocks::default();
    let key = CompanyKey::generate().unwrap();
    let mut c = company(&key);
    c.status = CompanyStatus::Suspended;
    let u = user(Some(&c), Role::Employee);
    m.tenants
        .expect_company_by_key_hash()
        .returning(move |_| Ok(Some(c.clone())));
    m.users
        .expect_user_by_username()
        .returning(move |_, _| Ok(Some(u.clone())));
    m.audit
        .expect_append_audit()
        .withf(|e| e.action == AuditAction::LoginFailed)
        .times(1)
        .returning(|e| Ok(e.link(None)));
    m.agents.expect_insert_token().times(0);
    let t = tracker(m);
    let login = |password: &str| LoginRequest {
        company_key: Some(key.expose().to_owned()),
        username: "employee-user".into(),
        password: password.into(),
    };
    let right = futures::executor::block_on(t.login(login("right-password"), None));
    assert_eq!(code(right), "company_suspended");
    let guess = futures::executor::block_on(t.login(login("a-guess"), None));
    assert_eq!(
        code(guess),
        "invalid_credentials",
        "like any wrong password"
    );
}

#[test]
fn user_creation_hands_the_plan_seat_limit_to_the_store() {
    let mut m = Mocks::default();
    let c = company(&CompanyKey::generate().unwrap());
    let plan = Plan {
        id: c.plan_id,
        code: "FREE".into(),
        max_employees: 5,
        max_storage_bytes: 1 << 30,
        price_monthly_cents: 0,
    };
    m.tenants
        .expect_get_plan()
        .returning(move |_| Ok(Some(plan.clone())));
    m.users
        .expect_insert_user()
        .withf(|u, limit, audit| {
            *limit == Some(5)
                && u.role == Role::Employee
                && audit.action == AuditAction::EmployeeCreated
        })
        .times(1)
        .returning(|_, limit, _| {
            Err(Error::SeatLimitReached {
                limit: limit.unwrap_or(0),
            })
        });
    let t = tracker(m);
    let admin = principal(Some(&c), Role::Admin);
    let new = NewUser {
        username: "bob".into(),
        password: "long-enough".into(),
        email: None,
        display_name: None,
        role: None,
    };
    let r = futures::executor::block_on(t.create_user(&admin, new));
    assert_eq!(code(r), "seat_limit_reached");
}

/// Mocks that authenticate one agent of `c` whose company has `policy`:
/// one `token_owner` read and no other lookup.
fn agent_mocks(m: &mut Mocks, c: &Company, u: &User, policy: TrackingPolicy) {
    let owner = TokenContext {
        token: TokenRecord {
            hash: ApiToken::from_client("tk_agent").hash(),
            user_id: u.id,
            company_id: Some(c.id),
            created_at: now(),
            expires_at: now() + Duration::days(1),
        },
        user: Some(u.clone()),
        company: Some(c.clone()),
        policy: Some(policy),
    };
    m.agents
        .expect_token_context()
        .returning(move |_| Ok(Some(owner.clone())));
    m.users.expect_get_user().times(0);
    m.tenants.expect_get_company().times(0);
    m.policies.expect_get_policy().times(0);
}

#[test]
fn ingest_drops_what_the_policy_disables_before_the_store_sees_it() {
    let mut m = Mocks::default();
    let key = CompanyKey::generate().unwrap();
    let c = company(&key);
    let u = user(Some(&c), Role::Employee);
    let mut policy = TrackingPolicy::default_for(c.id, now());
    policy.website_tracking_enabled = false;
    agent_mocks(&mut m, &c, &u, policy);
    let uid = u.id;
    m.tracking
        .expect_insert_activity()
        .withf(move |batch| {
            batch.events().len() == 2
                && batch.repeated() == 1
                && batch.user() == uid
                && batch
                    .events()
                    .iter()
                    .all(|e| e.url.is_none() && e.app.is_some())
        })
        .times(1)
        .returning(|batch| {
            Ok(IngestCount {
                inserted: batch.events().len() as u64 - 1,
                duplicates: 1,
            })
        });
    let t = tracker(m);
    let input = |id| ActivityInput {
        id,
        session_id: None,
        started_at: now() - Duration::hours(1),
        duration_seconds: 60,
        kind: ActivityKind::Active,
        app: Some("browser".into()),
        window_title: None,
        url: Some("https://example.com/private".into()),
    };
    let (a, b) = (ActivityId::new(), ActivityId::new());
    let report = futures::executor::block_on(async {
        let agent = t.agent(key.expose(), "tk_agent").await?;
        t.upload_activity(
            &agent,
            ActivityBatch {
                events: vec![input(a), input(b), input(a)],
            },
        )
        .await
    })
    .unwrap();
    assert_eq!(
        (report.received, report.inserted, report.duplicates),
        (3, 1, 2)
    );
}

#[test]
fn sync_status_reads_the_agents_own_state_only() {
    let mut m = Mocks::default();
    let key = CompanyKey::generate().unwrap();
    let c = company(&key);
    let u = user(Some(&c), Role::Employee);
    agent_mocks(&mut m, &c, &u, TrackingPolicy::default_for(c.id, now()));
    let (cid, uid) = (c.id, u.id);
    let seen = now() - Duration::minutes(12);
    m.agents
        .expect_agent_state()
        .withf(move |company, user| *company == cid && *user == uid)
        .times(1)
        .returning(move |company, user| {
            Ok(Some(AgentState {
                company_id: company,
                user_id: user,
                last_heartbeat_at: seen,
                policy_version: Some(0),
                agent_version: None,
            }))
        });
    // A company's agents can be many; one agent's poll reads one row.
    m.agents.expect_list_agent_states().times(0);
    let t = tracker(m);
    let status = futures::executor::block_on(async {
        let agent = t.agent(key.expose(), "tk_agent").await?;
        t.sync_status(&agent).await
    })
    .unwrap();
    assert_eq!(status.last_heartbeat_at, Some(seen));
    assert_eq!(status.agent_policy_version, Some(0));
    assert_eq!(status.liveness, Liveness::Stale, "12 minutes ago");
}

#[test]
fn an_agent_with_another_companys_key_is_refused_before_any_ingest() {
    let mut m = Mocks::default();
    let c = company(&CompanyKey::generate().unwrap());
    let u = user(Some(&c), Role::Employee);
    agent_mocks(&mut m, &c, &u, TrackingPolicy::default_for(c.id, now()));
    let t = tracker(m);
    let other_key = CompanyKey::generate().unwrap();
    let r = futures::executor::block_on(t.agent(other_key.expose(), "tk_agent"));
    assert_eq!(code(r), "invalid_company_key");
    let r = futures::executor::block_on(t.agent("not-a-key", "tk_agent"));
    assert_eq!(code(r), "invalid_company_key");
}

#[test]
fn an_expired_token_is_deleted_and_refused() {
    let mut m = Mocks::default();
    let record = TokenRecord {
        hash: ApiToken::from_client("tk_old").hash(),
        user_id: UserId::new(),
        company_id: None,
        created_at: now() - Duration::days(40),
        expires_at: now() - Duration::days(10),
    };
    m.agents.expect_token_context().returning(move |_| {
        Ok(Some(TokenContext {
            token: record.clone(),
            user: None,
            company: None,
            policy: None,
        }))
    });
    m.agents
        .expect_delete_token()
        .withf(|_, audit| audit.is_none())
        .times(1)
        .returning(|_, _| Ok(()));
    m.users.expect_get_user().times(0);
    let t = tracker(m);
    assert_eq!(
        code(futures::executor::block_on(t.authenticate("tk_old"))),
        "unauthenticated"
    );
}

#[test]
fn a_screenshot_refused_for_storage_leaves_no_blob_behind() {
    let mut m = Mocks::default();
    let key = CompanyKey::generate().unwrap();
    let c = company(&key);
    let u = user(Some(&c), Role::Employee);
    agent_mocks(&mut m, &c, &u, TrackingPolicy::default_for(c.id, now()));
    let plan = Plan {
        id: c.plan_id,
        code: "FREE".into(),
        max_employees: 5,
        max_storage_bytes: 10,
        price_monthly_cents: 0,
    };
    m.tenants
        .expect_get_plan()
        .returning(move |_| Ok(Some(plan.clone())));
    m.tracking
        .expect_get_screenshot()
        .returning(|_, _| Ok(None));
    m.tracking
        .expect_insert_screenshot()
        .with(always(), mockall::predicate::eq(10))
        .times(1)
        .returning(|_, limit| Err(Error::StorageLimitReached { limit_bytes: limit }));
    let mut blobs = MockBlobStore::new();
    let prefix = format!("{}/{}/", c.id, u.id);
    blobs
        .expect_put()
        .withf(move |k, _| k.starts_with(&prefix))
        .times(1)
        .returning(|_, _| Ok(()));
    blobs.expect_delete().times(1).returning(|_| Ok(()));
    let t = Tracker::builder(m)
        .clock(ManualClock::new(now()))
        .blobs(Arc::new(blobs))
        .build();
    let r = futures::executor::block_on(async {
        let agent = t.agent(key.expose(), "tk_agent").await?;
        let meta = ScreenshotUpload {
            id: ScreenshotId::new(),
            taken_at: now(),
            blurred: false,
        };
        t.upload_screenshot(&agent, meta, crate::testkit::PNG.to_vec())
            .await
    });
    assert_eq!(code(r), "storage_limit_reached");
}

#[test]
fn a_policy_change_is_stored_with_old_and_new_values() {
    let mut m = Mocks::default();
    let c = company(&CompanyKey::generate().unwrap());
    let policy = TrackingPolicy::default_for(c.id, now());
    m.policies
        .expect_get_policy()
        .returning(move |_| Ok(Some(policy.clone())));
    m.policies
        .expect_update_policy()
        .withf(|p, audit| {
            p.version == 2
                && !p.app_tracking_enabled
                && audit.details["old"]["app_tracking_enabled"] == true
                && audit.details["new"]["app_tracking_enabled"] == false
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let t = tracker(m);
    let admin = principal(Some(&c), Role::Admin).with_client_ip("198.51.100.7");
    let update = PolicyUpdate {
        app_tracking_enabled: Some(false),
        ..Default::default()
    };
    let p = futures::executor::block_on(t.update_policy(&admin, update)).unwrap();
    assert_eq!(p.version, 2);
    // Out-of-range values never reach the store either.
    let bad = PolicyUpdate {
        idle_threshold_seconds: Some(1),
        ..Default::default()
    };
    let err = futures::executor::block_on(t.update_policy(&admin, bad)).unwrap_err();
    assert_eq!(err.field_errors()[0].field, "idle_threshold_seconds");
}

#[test]
fn verification_reads_the_chain_in_batches_and_names_the_break() {
    let mut m = Mocks::default();
    let c = company(&CompanyKey::generate().unwrap());
    let chain = AuditChain::Company(c.id);
    let mut events: Vec<AuditEvent> = Vec::new();
    for i in 0..3 {
        let head = events.last().map(AuditEvent::head);
        let e = NewAuditEvent {
            chain,
            actor: Actor::System,
            action: AuditAction::PolicyUpdated,
            description: format!("event {i}"),
            details: serde_json::json!({}),
            client_ip: None,
            at: now(),
        };
        events.push(e.link(head.as_ref()));
    }
    events[1].description = "rewritten".into();
    m.audit
        .expect_read_chain()
        .returning(move |_, after, limit| {
            Ok(events
                .iter()
                .filter(|e| e.seq > after)
                .take(limit)
                .cloned()
                .collect())
        });
    let t = tracker(m);
    let admin = principal(Some(&c), Role::Admin);
    let v = futures::executor::block_on(t.verify_company_audit(&admin)).unwrap();
    assert_eq!(v.events, 1);
    assert_eq!(v.broken.map(|b| b.seq), Some(2));
}
