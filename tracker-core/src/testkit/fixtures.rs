//! Data every case builds on: companies, users, events, and list walkers.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::json;

use crate::audit::{Actor, AuditAction, AuditChain, NewAuditEvent};
use crate::error::Error;
use crate::identity::{Role, TokenRecord, User};
use crate::notify::{Alert, AlertKind};
use crate::paging::{Page, PageRequest};
use crate::policy::TrackingPolicy;
use crate::secret::SecretHash;
use crate::store::*;
use crate::tenancy::{Company, CompanyStatus, Plan, Subscription};

/// The smallest PNG there is, one transparent pixel: a screenshot upload's
/// bytes in tests (uploads are checked by their header).
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];
use crate::tracking::{ActivityEvent, ActivityKind, Screenshot, WorkSession};
use crate::work::{CorrectionRequest, CorrectionStatus, Task, TaskStatus};

/// Stores events of one company as one [`EventBatch`] per user, as agents
/// send them, and adds up the counts; an id repeated in a batch counts as a
/// duplicate. Refused if an event belongs to another company.
pub async fn insert_events(
    tracking: &dyn TrackingStore,
    company: CompanyId,
    events: &[ActivityEvent],
) -> Result<IngestCount, Error> {
    let mut by_user: BTreeMap<UserId, Vec<ActivityEvent>> = BTreeMap::new();
    for e in events {
        by_user.entry(e.user_id).or_default().push(e.clone());
    }
    let mut total = IngestCount::default();
    let batches = by_user
        .into_iter()
        .map(|(user, events)| EventBatch::new(company, user, events))
        .collect::<Result<Vec<_>, Error>>()?;
    for batch in &batches {
        let n = tracking.insert_activity(batch).await?;
        total.inserted += n.inserted;
        total.duplicates += n.duplicates + batch.repeated();
    }
    Ok(total)
}

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

pub(super) fn code(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase()
    )
}

pub(super) fn event(chain: AuditChain, action: AuditAction, n: u32) -> NewAuditEvent {
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

/// The audit event of a correction request.
pub(super) fn requested(correction: &CorrectionRequest) -> NewAuditEvent {
    event(
        AuditChain::Company(correction.company_id),
        AuditAction::CorrectionRequested,
        91,
    )
}

/// The audit event of the sign-in that issued `token`.
pub(super) fn signed_in(token: &TokenRecord) -> NewAuditEvent {
    event(
        token
            .company_id
            .map_or(AuditChain::Platform, AuditChain::Company),
        AuditAction::LoginSucceeded,
        90,
    )
}

pub(super) fn user_event(chain: AuditChain, actor: &User, n: u32) -> NewAuditEvent {
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
        privacy: Default::default(),
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
        legal_hold: None,
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
        admin_audit: event(AuditChain::Company(id), AuditAction::EmployeeCreated, 0),
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

/// Adds a user of `role` named `username` to the fixture's company.
pub async fn add_user(store: &dyn Store, f: &Fixture, username: &str, role: Role) -> User {
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

pub(super) async fn chain_len(store: &dyn Store, chain: AuditChain) -> usize {
    store
        .audit()
        .read_chain(chain, 0, 100_000)
        .await
        .expect("read_chain")
        .len()
}

pub(super) fn expect_code<T: std::fmt::Debug>(r: Result<T, Error>, code: &str, what: &str) {
    match r {
        Ok(v) => panic!("{what}: expected error {code}, got Ok({v:?})"),
        Err(e) => assert_eq!(e.code(), code, "{what}: wrong error {e}"),
    }
}

/// Walks every page of a list with pages of `size`, checking the cursor
/// contract, and returns the items in order.
pub(super) async fn walk<T, F, Fut>(size: u32, mut list: F) -> Vec<T>
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

pub(super) async fn bad_cursor<T: std::fmt::Debug, Fut>(
    list: impl FnOnce(PageRequest) -> Fut,
    what: &str,
) where
    Fut: std::future::Future<Output = Result<Page<T>, Error>>,
{
    let err = list(PageRequest::after("not-a-cursor", 10))
        .await
        .expect_err(&format!("{what}: a garbage cursor must be refused"));
    assert_eq!(err.code(), "validation", "{what}");
    assert_eq!(err.field_errors()[0].field, "cursor", "{what}");
}

pub(super) fn session(company: CompanyId, user: UserId, minutes: i64) -> WorkSession {
    WorkSession {
        id: WorkSessionId::from_uuid(uuid::Uuid::new_v4()),
        company_id: company,
        user_id: user,
        started_at: t0() + Duration::minutes(minutes),
        stopped_at: None,
    }
}

pub(super) fn activity(
    company: CompanyId,
    user: UserId,
    start_secs: i64,
    duration: u32,
) -> ActivityEvent {
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

/// Up to `limit` screenshots taken before `before`, oldest first: what the
/// retention purge deletes the blobs of.
pub(super) async fn old_screenshots(
    tracking: &dyn TrackingStore,
    company: CompanyId,
    before: DateTime<Utc>,
    limit: u32,
) -> Vec<Screenshot> {
    let old = TrackingFilter {
        to: Some(before),
        ..TrackingFilter::default()
    };
    tracking
        .list_screenshots(company, &old, &PageRequest::first(limit))
        .await
        .unwrap()
        .items
}

pub(super) fn shot(company: CompanyId, user: UserId, minutes: i64, size: u64) -> Screenshot {
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

pub(super) fn new_task(company: CompanyId, assignee: UserId, n: u32) -> Task {
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

pub(super) fn new_correction(company: CompanyId, user: UserId, hour: i64) -> CorrectionRequest {
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

pub(super) fn decided(
    c: &CorrectionRequest,
    status: CorrectionStatus,
    by: UserId,
) -> CorrectionRequest {
    CorrectionRequest {
        status,
        decided_by: Some(by),
        decided_at: Some(t0() + Duration::days(1)),
        decision_note: Some("ok".into()),
        ..c.clone()
    }
}

pub(super) fn alert(company: CompanyId, kind: AlertKind, user: Option<UserId>) -> Alert {
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

/// A stand-in blur for tests of the service's other rules (isolation,
/// ownership): answers the image unchanged, so the bytes still name
/// whose screen they are. A real deployment blurs the pixels.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnchangedBlur;

#[async_trait::async_trait]
impl crate::blur::ScreenshotBlur for UnchangedBlur {
    async fn blur(
        &self,
        image: Vec<u8>,
        _format: crate::tracking::ImageFormat,
    ) -> crate::error::Result<Vec<u8>> {
        Ok(image)
    }
}
