//! The service's rules end to end on the memory store: tenancy lifecycle,
//! seats, keys, tokens, policy enforcement, idempotent ingest, reports and
//! corrections, and the audit trail they leave.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::executor::block_on;
use tracker_core::lease::{JobLeases, LeaseKey, LocalLeases};
use tracker_core::protocol::*;
use tracker_core::store::AuditFilter;
use tracker_core::tracking::{ActivityInput, ImageFormat};
use tracker_core::*;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-10T15:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

struct World {
    t: Tracker<MemoryStore>,
    clock: ManualClock,
    owner: Principal,
    company: CompanyId,
    key: String,
    admin: Principal,
}

fn new_user(name: &str, role: Role) -> NewUser {
    NewUser {
        username: name.into(),
        password: format!("{name}-password"),
        email: None,
        display_name: None,
        role: Some(role),
    }
}

impl World {
    fn new(plan: &str, trial_days: u32) -> World {
        Self::with_blobs(plan, trial_days, Some(Arc::new(MemoryBlobStore::default())))
    }

    /// A world whose service keeps screenshot images in `blobs`, or was
    /// built without a blob store.
    fn with_blobs(plan: &str, trial_days: u32, blobs: Option<Arc<dyn BlobStore>>) -> World {
        Self::with_leases(plan, trial_days, blobs, LocalLeases::default())
    }

    /// A world whose jobs take their leases from `leases`.
    fn with_leases(
        plan: &str,
        trial_days: u32,
        blobs: Option<Arc<dyn BlobStore>>,
        leases: LocalLeases,
    ) -> World {
        Self::with_parts(plan, trial_days, blobs, leases, None)
    }

    /// A world whose service blurs screenshots with `blur`.
    fn with_blur(blobs: Arc<dyn BlobStore>, blur: Arc<dyn ScreenshotBlur>) -> World {
        Self::with_parts("PRO", 14, Some(blobs), LocalLeases::default(), Some(blur))
    }

    fn with_parts(
        plan: &str,
        trial_days: u32,
        blobs: Option<Arc<dyn BlobStore>>,
        leases: LocalLeases,
        blur: Option<Arc<dyn ScreenshotBlur>>,
    ) -> World {
        block_on(async {
            let clock = ManualClock::new(start());
            let builder = Tracker::builder(MemoryStore::new()).job_leases(Arc::new(leases));
            let builder = match blobs {
                Some(blobs) => builder.blobs(blobs),
                None => builder,
            };
            let builder = match blur {
                Some(blur) => builder.blur(blur),
                None => builder,
            };
            let t = builder
                .clock(clock.clone())
                .password_hasher(Argon2Hasher::insecure_fast())
                .build();
            t.ensure_default_plans().await.unwrap();
            t.bootstrap_owner("operator", "operator-password")
                .await
                .unwrap();
            let owner = login(&t, None, "operator").await.unwrap();
            let created = t
                .create_company(
                    &owner,
                    CreateCompany {
                        name: "Acme".into(),
                        plan: Some(plan.into()),
                        timezone: Some("Europe/Berlin".into()),
                        trial_days: Some(trial_days),
                        retention_days: None,
                        admin: new_user("alice", Role::Admin),
                    },
                )
                .await
                .unwrap();
            let key = created.company_key.expose().to_owned();
            let admin = login(&t, Some(&key), "alice").await.unwrap();
            World {
                t,
                clock,
                owner,
                company: created.company.id,
                key,
                admin,
            }
        })
    }

    async fn user(&self, name: &str, role: Role) -> (User, Principal) {
        let u = self
            .t
            .create_user(&self.admin, new_user(name, role))
            .await
            .unwrap();
        let p = login(&self.t, Some(&self.key), name).await.unwrap();
        (u, p)
    }

    async fn agent(&self, name: &str) -> AgentContext {
        let resp = self
            .t
            .login(self.login_req(Some(&self.key), name), None)
            .await
            .unwrap();
        self.t.agent(&self.key, resp.token.expose()).await.unwrap()
    }

    fn login_req(&self, key: Option<&str>, name: &str) -> LoginRequest {
        LoginRequest {
            company_key: key.map(str::to_owned),
            username: name.into(),
            password: format!("{name}-password"),
        }
    }

    async fn actions(&self) -> Vec<AuditAction> {
        let page = self
            .t
            .company_audit(
                &self.admin,
                &AuditFilter::default(),
                &PageRequest::first(500),
            )
            .await
            .unwrap();
        page.items.iter().map(|e| e.action).collect()
    }
}

async fn login(t: &Tracker<MemoryStore>, key: Option<&str>, name: &str) -> Result<Principal> {
    let password = if name == "operator" {
        "operator-password".to_owned()
    } else {
        format!("{name}-password")
    };
    let resp = t
        .login(
            LoginRequest {
                company_key: key.map(str::to_owned),
                username: name.into(),
                password,
            },
            Some("192.0.2.1".into()),
        )
        .await?;
    t.authenticate(resp.token.expose()).await
}

fn code<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code(),
    }
}

fn event(at: DateTime<Utc>, secs: u32, kind: ActivityKind) -> ActivityInput {
    ActivityInput {
        id: ActivityId::from_uuid(uuid_v4()),
        session_id: None,
        started_at: at,
        duration_seconds: secs,
        kind,
        app: Some("editor".into()),
        window_title: Some("notes.txt".into()),
        url: Some("https://docs.example.com/page".into()),
    }
}

fn uuid_v4() -> uuid::Uuid {
    uuid::Uuid::new_v4()
}

#[test]
fn seats_are_enforced_on_create_and_reactivation() {
    let w = World::new("FREE", 14);
    block_on(async {
        // FREE has 5 seats; alice holds one.
        for i in 0..4 {
            w.t.create_user(&w.admin, new_user(&format!("emp{i}"), Role::Employee))
                .await
                .unwrap();
        }
        let r =
            w.t.create_user(&w.admin, new_user("emp9", Role::Employee))
                .await;
        assert_eq!(code(r), "seat_limit_reached");
        let users =
            w.t.list_users(&w.admin, None, &PageRequest::default())
                .await
                .unwrap();
        assert_eq!(users.items.len(), 5, "the refused user was not stored");

        let emp0 = users
            .items
            .iter()
            .find(|u| u.username == "emp0")
            .unwrap()
            .id;
        w.t.deactivate_user(&w.admin, emp0).await.unwrap();
        w.t.create_user(&w.admin, new_user("emp5", Role::Employee))
            .await
            .unwrap();
        assert_eq!(
            code(w.t.reactivate_user(&w.admin, emp0).await),
            "seat_limit_reached"
        );

        // A plan smaller than the seats in use is refused.
        let r =
            w.t.change_plan(
                &w.owner,
                w.company,
                ChangePlan {
                    plan: "FREE".into(),
                    expires_at: None,
                    amount_cents: None,
                },
            )
            .await;
        assert!(r.is_ok(), "5 seats fit FREE");
        let mut small = tracker_core::tenancy::NewPlan::defaults()[0].clone();
        small.code = "TINY".into();
        small.max_employees = 2;
        w.t.create_plan(&w.owner, small).await.unwrap();
        let r =
            w.t.change_plan(
                &w.owner,
                w.company,
                ChangePlan {
                    plan: "TINY".into(),
                    expires_at: None,
                    amount_cents: None,
                },
            )
            .await;
        assert_eq!(code(r), "plan_too_small");
        // Duplicate usernames are refused in the same company, whatever the case.
        let emp1 = users
            .items
            .iter()
            .find(|u| u.username == "emp1")
            .unwrap()
            .id;
        w.t.deactivate_user(&w.admin, emp1).await.unwrap();
        let r =
            w.t.create_user(&w.admin, new_user("EMP5", Role::Employee))
                .await;
        assert_eq!(code(r), "username_taken");
    });
}

#[test]
fn suspension_blocks_company_users_but_not_the_owner() {
    let w = World::new("PRO", 14);
    block_on(async {
        w.user("bob", Role::Employee).await;
        let token =
            w.t.login(w.login_req(Some(&w.key), "bob"), None)
                .await
                .unwrap()
                .token;
        w.t.suspend_company(&w.owner, w.company, Some("unpaid".into()))
            .await
            .unwrap();

        // Tokens issued before the suspension are refused from now on.
        assert_eq!(
            code(w.t.authenticate(token.expose()).await),
            "company_suspended"
        );
        assert_eq!(
            code(w.t.agent(&w.key, token.expose()).await),
            "company_suspended"
        );
        let login = w.t.login(w.login_req(Some(&w.key), "alice"), None).await;
        assert_eq!(code(login), "company_suspended");
        // A guess learns nothing of the suspension: a wrong password is a
        // wrong password, and it is audited as one.
        let guess = LoginRequest {
            password: "not-her-password".into(),
            ..w.login_req(Some(&w.key), "alice")
        };
        assert_eq!(code(w.t.login(guess, None).await), "invalid_credentials");
        assert_eq!(w.actions().await.last(), Some(&AuditAction::LoginFailed));

        // The owner still works.
        let detail = w.t.company_detail(&w.owner, w.company).await.unwrap();
        assert_eq!(detail.summary.effective_status, CompanyStatus::Suspended);
        w.t.reactivate_company(&w.owner, w.company).await.unwrap();
        assert!(
            w.t.login(w.login_req(Some(&w.key), "bob"), None)
                .await
                .is_ok()
        );
        assert_eq!(
            code(w.t.reactivate_company(&w.owner, w.company).await),
            "invalid_state"
        );

        let platform =
            w.t.platform_audit(&w.owner, &AuditFilter::default(), &PageRequest::first(500))
                .await
                .unwrap();
        let actions: Vec<_> = platform.items.iter().map(|e| e.action).collect();
        assert!(actions.contains(&AuditAction::CompanySuspended));
        assert!(actions.contains(&AuditAction::CompanyReactivated));
        assert!(
            w.t.verify_platform_audit(&w.owner)
                .await
                .unwrap()
                .broken
                .is_none()
        );
    });
}

#[test]
fn trials_expire_with_the_clock() {
    let w = World::new("PRO", 14);
    block_on(async {
        w.clock.advance(Duration::days(14));
        let r = w.t.login(w.login_req(Some(&w.key), "alice"), None).await;
        assert_eq!(code(r), "company_expired");
        // A plan change renews it.
        w.t.change_plan(
            &w.owner,
            w.company,
            ChangePlan {
                plan: "PRO".into(),
                expires_at: Some(w.t.now() + Duration::days(30)),
                amount_cents: Some(9_900),
            },
        )
        .await
        .unwrap();
        assert!(
            w.t.login(w.login_req(Some(&w.key), "alice"), None)
                .await
                .is_ok()
        );
        let detail = w.t.company_detail(&w.owner, w.company).await.unwrap();
        assert_eq!(detail.subscriptions.len(), 2);
        assert_eq!(detail.summary.effective_status, CompanyStatus::Active);
    });
}

#[test]
fn rotating_the_key_invalidates_the_old_one_at_once() {
    let w = World::new("PRO", 14);
    block_on(async {
        w.user("bob", Role::Employee).await;
        let token =
            w.t.login(w.login_req(Some(&w.key), "bob"), None)
                .await
                .unwrap()
                .token;
        assert!(w.t.agent(&w.key, token.expose()).await.is_ok());
        let new_key = w.t.rotate_company_key(&w.owner, w.company).await.unwrap();
        assert_eq!(
            code(w.t.agent(&w.key, token.expose()).await),
            "invalid_company_key"
        );
        assert!(w.t.agent(new_key.expose(), token.expose()).await.is_ok());
        let r = w.t.login(w.login_req(Some(&w.key), "bob"), None).await;
        assert_eq!(code(r), "invalid_company_key");
    });
}

#[test]
fn logout_and_deactivation_kill_tokens() {
    let w = World::new("PRO", 14);
    block_on(async {
        let (bob, _) = w.user("bob", Role::Employee).await;
        let t1 =
            w.t.login(w.login_req(Some(&w.key), "bob"), None)
                .await
                .unwrap()
                .token;
        let t2 =
            w.t.login(w.login_req(Some(&w.key), "bob"), None)
                .await
                .unwrap()
                .token;
        w.t.logout(t1.expose(), Some("198.51.100.7".into()))
            .await
            .unwrap();
        // Both sign-ins and the sign-out are on the company's record.
        let trail =
            w.t.company_audit(&w.admin, &Default::default(), &PageRequest::first(500))
                .await
                .unwrap()
                .items;
        let bobs: Vec<(AuditAction, Option<String>)> = trail
            .iter()
            .filter(|e| e.actor.user_id() == Some(bob.id))
            .map(|e| (e.action, e.client_ip.clone()))
            .collect();
        assert_eq!(
            bobs[bobs.len() - 3..],
            [
                (AuditAction::LoginSucceeded, None),
                (AuditAction::LoginSucceeded, None),
                (AuditAction::LoggedOut, Some("198.51.100.7".into())),
            ]
        );
        assert_eq!(code(w.t.authenticate(t1.expose()).await), "unauthenticated");
        assert!(w.t.authenticate(t2.expose()).await.is_ok());
        w.t.deactivate_user(&w.admin, bob.id).await.unwrap();
        assert_eq!(code(w.t.authenticate(t2.expose()).await), "unauthenticated");
        let r = w.t.login(w.login_req(Some(&w.key), "bob"), None).await;
        assert_eq!(code(r), "invalid_credentials");
        // An admin cannot lock itself out.
        assert_eq!(
            code(w.t.deactivate_user(&w.admin, w.admin.user_id()).await),
            "invalid_state"
        );
        let actions = w.actions().await;
        assert!(actions.contains(&AuditAction::EmployeeDeactivated));
        assert!(actions.contains(&AuditAction::LoginFailed));
    });
}

#[test]
fn ingest_is_idempotent_and_enforces_the_policy() {
    let w = World::new("PRO", 14);
    block_on(async {
        let (bob, bob_p) = w.user("bob", Role::Employee).await;
        let agent = w.agent("bob").await;
        let at = w.t.now() - Duration::hours(2);
        let batch = ActivityBatch {
            events: vec![
                event(at, 600, ActivityKind::Active),
                event(at + Duration::minutes(10), 300, ActivityKind::Idle),
            ],
        };
        let first = w.t.upload_activity(&agent, batch.clone()).await.unwrap();
        assert_eq!((first.inserted, first.duplicates), (2, 0));
        let replay = w.t.upload_activity(&agent, batch).await.unwrap();
        assert_eq!((replay.inserted, replay.duplicates), (0, 2));

        // A batch with one bad event stores nothing and names the item.
        let bad = ActivityBatch {
            events: vec![
                event(at, 60, ActivityKind::Active),
                event(w.t.now() + Duration::hours(3), 60, ActivityKind::Active),
            ],
        };
        let err = w.t.upload_activity(&agent, bad).await.unwrap_err();
        assert_eq!(err.field_errors()[0].field, "events[1].started_at");

        let q = TrackingQuery {
            user_id: Some(bob.id),
            ..Default::default()
        };
        let stored =
            w.t.activity(&w.admin, &q, &PageRequest::default())
                .await
                .unwrap();
        assert_eq!(stored.items.len(), 2);

        // Website tracking off: URLs are dropped on ingest.
        w.t.update_policy(
            &w.admin,
            PolicyUpdate {
                website_tracking_enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        // A context is one request's: it holds the policy read with it.
        let agent = w.agent("bob").await;
        w.t.upload_activity(
            &agent,
            ActivityBatch {
                events: vec![event(at + Duration::minutes(30), 60, ActivityKind::Active)],
            },
        )
        .await
        .unwrap();
        let stored =
            w.t.activity(&bob_p, &q, &PageRequest::default())
                .await
                .unwrap();
        assert_eq!(stored.items.iter().filter(|e| e.url.is_none()).count(), 1);

        // Screenshots: stored once; refused when the policy turns them off.
        let png = tracker_core::testkit::PNG.to_vec();
        let meta = ScreenshotUpload {
            id: ScreenshotId::from_uuid(uuid_v4()),
            taken_at: w.t.now(),
            blurred: false,
        };
        let s1 =
            w.t.upload_screenshot(&agent, meta.clone(), png.clone())
                .await
                .unwrap();
        let s2 =
            w.t.upload_screenshot(&agent, meta.clone(), png.clone())
                .await
                .unwrap();
        assert!(s1.inserted && !s2.inserted);
        let (shot, bytes) = w.t.screenshot_image(&w.admin, meta.id).await.unwrap();
        assert_eq!(
            (shot.content_type.as_str(), bytes),
            ("image/png", png.clone())
        );
        let r =
            w.t.upload_screenshot(&agent, meta.clone(), b"GIF89a".to_vec())
                .await;
        assert_eq!(code(r), "validation");
        w.t.update_policy(
            &w.admin,
            PolicyUpdate {
                screenshots_enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        // A context is one request's: it holds the policy read with it.
        let agent = w.agent("bob").await;
        let meta2 = ScreenshotUpload {
            id: ScreenshotId::from_uuid(uuid_v4()),
            ..meta
        };
        assert_eq!(
            code(w.t.upload_screenshot(&agent, meta2, png).await),
            "policy_disabled"
        );
    });
}

#[test]
fn heartbeats_drive_liveness_and_policy_freshness() {
    let w = World::new("PRO", 0);
    block_on(async {
        w.user("bob", Role::Employee).await;
        let agent = w.agent("bob").await;
        let beat =
            w.t.heartbeat(
                &agent,
                HeartbeatRequest {
                    policy_version: Some(1),
                    agent_version: Some("1.4.2".into()),
                },
            )
            .await
            .unwrap();
        assert!(beat.tracking_allowed && !beat.policy_changed);
        let agents =
            w.t.agents(&w.admin, &PageRequest::first(500))
                .await
                .unwrap()
                .items;
        let bob = agents.iter().find(|a| a.username == "bob").unwrap();
        assert_eq!(bob.liveness, Liveness::Online);
        assert!(!bob.policy_outdated);
        let alice = agents.iter().find(|a| a.username == "alice").unwrap();
        assert_eq!(alice.liveness, Liveness::Never);

        w.t.update_policy(
            &w.admin,
            PolicyUpdate {
                blur_screenshots: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        // A context is one request's: it holds the policy read with it.
        let agent = w.agent("bob").await;
        w.clock.advance(Duration::minutes(12));
        let agents =
            w.t.agents(&w.admin, &PageRequest::first(500))
                .await
                .unwrap()
                .items;
        let bob = agents.iter().find(|a| a.username == "bob").unwrap();
        assert_eq!(bob.liveness, Liveness::Stale);
        assert!(bob.policy_outdated, "bob still runs version 1");
        w.clock.advance(Duration::minutes(5));
        let status = w.t.sync_status(&agent).await.unwrap();
        assert_eq!(status.liveness, Liveness::Offline);
        assert_eq!(status.policy_version, 2);

        // The company synced, so it is not a no-sync company; a day later it is.
        assert!(
            w.t.no_sync_companies(&w.owner, &PageRequest::first(500))
                .await
                .unwrap()
                .items
                .is_empty()
        );
        w.clock.advance(Duration::hours(24));
        let no_sync =
            w.t.no_sync_companies(&w.owner, &PageRequest::first(500))
                .await
                .unwrap()
                .items;
        assert_eq!(no_sync.len(), 1);
        assert!(no_sync[0].hours_without_sync >= 24);
    });
}

#[test]
fn approved_corrections_change_reports_and_are_audited() {
    let w = World::new("PRO", 14);
    block_on(async {
        let (bob, bob_p) = w.user("bob", Role::Employee).await;
        let (_, mgr) = w.user("mia", Role::Manager).await;
        let agent = w.agent("bob").await;
        // Berlin is UTC+1 in March before DST: 10:00-11:00 local.
        let at = DateTime::parse_from_rfc3339("2026-03-10T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        w.t.upload_activity(
            &agent,
            ActivityBatch {
                events: vec![event(at, 3_600, ActivityKind::Active)],
            },
        )
        .await
        .unwrap();
        let c =
            w.t.request_correction(
                &bob_p,
                NewCorrection {
                    starts_at: at + Duration::hours(1),
                    ends_at: at + Duration::hours(2),
                    reason: "client meeting".into(),
                },
            )
            .await
            .unwrap();
        // The manager does not manage bob yet: bob's correction does not exist for it.
        assert_eq!(
            code(
                w.t.approve_correction(&mgr, c.id, Decision::default())
                    .await
            ),
            "not_found"
        );
        // Bob cannot approve his own.
        assert_eq!(
            code(
                w.t.approve_correction(&bob_p, c.id, Decision::default())
                    .await
            ),
            "forbidden"
        );
        w.t.create_team(
            &w.admin,
            NewTeam {
                name: "Field".into(),
                managers: vec![mgr.user_id()],
                members: vec![bob.id],
            },
        )
        .await
        .unwrap();
        let mgr = login(&w.t, Some(&w.key), "mia").await.unwrap();
        w.t.approve_correction(&mgr, c.id, Decision::default())
            .await
            .unwrap();
        assert_eq!(
            code(
                w.t.reject_correction(&w.admin, c.id, Decision::default())
                    .await
            ),
            "invalid_state"
        );

        let date = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let report = w.t.daily_report(&mgr, bob.id, date).await.unwrap();
        assert_eq!(report.totals.active_seconds, 7_200);
        assert_eq!(report.totals.corrected_seconds, 3_600);
        assert_eq!(report.top_domains[0].name, "docs.example.com");
        let day = w.t.my_day(&bob_p, Some(date)).await.unwrap();
        assert_eq!(
            day.blocks.len(),
            1,
            "recorded and corrected time merge into one block"
        );
        let sheet = w.t.timesheet(&w.admin, date, date, None).await.unwrap();
        let row = sheet.iter().find(|r| r.user_id == bob.id).unwrap();
        assert_eq!(row.totals.active_seconds, 7_200);
        let csv = tracker_core::report::timesheet_csv(&sheet);
        assert!(csv.contains(",bob,bob,7200,0,3600,"));
        let grid = w.t.monthly_report(&mgr, 2026, 3, None).await.unwrap();
        assert_eq!(grid.user_totals[&bob.id], 7_200);
        assert!(
            grid.cells
                .iter()
                .all(|c| c.user_id == bob.id || c.user_id == mgr.user_id()),
            "a manager's grid holds its team and itself"
        );

        // Aggregates for the owner: numbers only.
        let rows = w.t.aggregate_usage(w.company, date, date).await.unwrap();
        assert_eq!((rows[0].active_seconds, rows[0].active_users), (7_200, 1));
        let again = w.t.aggregate_usage(w.company, date, date).await.unwrap();
        assert_eq!(rows, again, "aggregation is idempotent");
        let report = w.t.owner_report(&w.owner, date, date).await.unwrap();
        assert_eq!(report.companies_by_usage[0].active_seconds, 7_200);

        let actions = w.actions().await;
        assert!(actions.contains(&AuditAction::CorrectionDecided));
        assert!(actions.contains(&AuditAction::TeamCreated));
        assert!(
            w.t.verify_company_audit(&w.admin)
                .await
                .unwrap()
                .broken
                .is_none()
        );
    });
}

#[test]
fn tasks_follow_the_matrix() {
    let w = World::new("PRO", 14);
    block_on(async {
        let (bob, bob_p) = w.user("bob", Role::Employee).await;
        let (carol, _) = w.user("carol", Role::Employee).await;
        let (mia, _) = w.user("mia", Role::Manager).await;
        w.t.create_team(
            &w.admin,
            NewTeam {
                name: "Ops".into(),
                managers: vec![mia.id],
                members: vec![bob.id],
            },
        )
        .await
        .unwrap();
        let mgr = login(&w.t, Some(&w.key), "mia").await.unwrap();
        let task = |who: UserId| NewTask {
            title: "Write the report".into(),
            description: None,
            assignee_id: who,
            due_on: None,
        };
        let t1 = w.t.create_task(&mgr, task(bob.id)).await.unwrap();
        assert_eq!(
            code(w.t.create_task(&mgr, task(carol.id)).await),
            "not_found"
        );
        assert_eq!(
            code(w.t.create_task(&bob_p, task(bob.id)).await),
            "forbidden"
        );
        let t2 = w.t.create_task(&w.admin, task(carol.id)).await.unwrap();

        let visible =
            w.t.tasks(&mgr, &TaskQuery::default(), &PageRequest::default())
                .await
                .unwrap();
        assert_eq!(
            visible.items.iter().map(|t| t.id).collect::<Vec<_>>(),
            [t1.id]
        );
        assert_eq!(
            code(
                w.t.complete_task(&bob_p, t2.id, CompleteTask::default())
                    .await
            ),
            "not_found"
        );
        let done =
            w.t.complete_task(
                &bob_p,
                t1.id,
                CompleteTask {
                    note: Some("sent".into()),
                },
            )
            .await
            .unwrap();
        assert_eq!(done.status, TaskStatus::Done);
        assert_eq!(
            code(
                w.t.complete_task(&bob_p, t1.id, CompleteTask::default())
                    .await
            ),
            "invalid_state"
        );
        let agent = w.agent("bob").await;
        assert!(
            w.t.agent_tasks(&agent, &PageRequest::first(500))
                .await
                .unwrap()
                .items
                .is_empty()
        );
        let assigned = w
            .actions()
            .await
            .into_iter()
            .filter(|a| *a == AuditAction::TaskAssigned)
            .count();
        assert_eq!(assigned, 2);
    });
}

#[test]
fn validation_names_fields_and_changes_nothing() {
    let w = World::new("PRO", 14);
    block_on(async {
        let before = w.actions().await.len();
        let err =
            w.t.update_policy(
                &w.admin,
                PolicyUpdate {
                    screenshot_interval_seconds: Some(1),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.field_errors()[0].field, "screenshot_interval_seconds");
        let err =
            w.t.create_user(
                &w.admin,
                NewUser {
                    username: "x".into(),
                    password: "short".into(),
                    email: Some("nope".into()),
                    display_name: None,
                    role: Some(Role::Owner),
                },
            )
            .await
            .unwrap_err();
        let fields: Vec<_> = err
            .field_errors()
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(fields, ["username", "password", "email", "role"]);
        let err =
            w.t.create_company(
                &w.owner,
                CreateCompany {
                    name: "".into(),
                    plan: Some("GOLD".into()),
                    timezone: Some("Mars/Base".into()),
                    trial_days: Some(400),
                    retention_days: Some(0),
                    admin: new_user("ok-admin", Role::Admin),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.field_errors().len(), 4);
        assert_eq!(w.actions().await.len(), before);
        assert_eq!(
            w.t.policy(&w.admin).await.unwrap().policy.version,
            1,
            "nothing changed"
        );
    });
}

#[test]
fn without_a_blob_store_screenshots_are_refused_and_nothing_is_kept() {
    let w = World::with_blobs("PRO", 14, None);
    block_on(async {
        w.t.create_user(&w.admin, new_user("bob", Role::Employee))
            .await
            .unwrap();
        let agent = w.agent("bob").await;
        let meta = ScreenshotUpload {
            id: ScreenshotId::from_uuid(uuid_v4()),
            taken_at: w.t.now(),
            blurred: false,
        };
        let png = tracker_core::testkit::PNG.to_vec();
        let r = w.t.upload_screenshot(&agent, meta, png).await;
        assert_eq!(code(r), "invalid_state", "refused, not kept in memory");
        let shots =
            w.t.screenshots(&w.admin, &TrackingQuery::default(), &PageRequest::default())
                .await
                .unwrap();
        assert!(shots.items.is_empty(), "no row without its image");
    });
}

#[test]
fn users_change_their_own_account_and_a_new_password_ends_their_sessions() {
    let w = World::new("PRO", 14);
    block_on(async {
        w.t.create_user(&w.admin, new_user("bob", Role::Employee))
            .await
            .unwrap();
        let bob = login(&w.t, Some(&w.key), "bob").await.unwrap();
        let renamed =
            w.t.update_profile(
                &bob,
                ProfileChanges {
                    display_name: Some("Bob Builder".into()),
                    email: Some("bob@acme.example".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(renamed.display_name, "Bob Builder");
        assert_eq!(renamed.email.as_deref(), Some("bob@acme.example"));

        let wrong = ProfileChanges {
            current_password: Some("not-it".into()),
            new_password: Some("a-new-password".into()),
            ..Default::default()
        };
        let e = w.t.update_profile(&bob, wrong).await.unwrap_err();
        assert_eq!(e.code(), "validation");
        assert!(e.to_string().contains("current_password"), "{e}");

        let token =
            w.t.login(w.login_req(Some(&w.key), "bob"), None)
                .await
                .unwrap()
                .token;
        let right = ProfileChanges {
            current_password: Some("bob-password".into()),
            new_password: Some("a-new-password".into()),
            ..Default::default()
        };
        w.t.update_profile(&bob, right).await.unwrap();
        let e = w.t.authenticate(token.expose()).await.unwrap_err();
        assert_eq!(e.code(), "unauthenticated", "the old sessions died");
        let again = LoginRequest {
            password: "a-new-password".into(),
            ..w.login_req(Some(&w.key), "bob")
        };
        assert!(w.t.login(again, None).await.is_ok());
        let actions = w.actions().await;
        assert_eq!(
            actions
                .iter()
                .filter(|a| **a == AuditAction::EmployeeUpdated)
                .count(),
            2,
            "both changes are audited"
        );
    });
}

#[test]
fn an_employee_reads_its_own_agent() {
    let w = World::new("PRO", 14);
    block_on(async {
        w.t.create_user(&w.admin, new_user("bob", Role::Employee))
            .await
            .unwrap();
        let bob = login(&w.t, Some(&w.key), "bob").await.unwrap();
        let never = w.t.my_agent(&bob).await.unwrap();
        assert_eq!(
            (never.liveness, never.last_heartbeat_at),
            (Liveness::Never, None)
        );
        let agent = w.agent("bob").await;
        w.t.heartbeat(
            &agent,
            HeartbeatRequest {
                policy_version: Some(1),
                agent_version: Some("1.2.3".into()),
            },
        )
        .await
        .unwrap();
        let mine = w.t.my_agent(&bob).await.unwrap();
        assert_eq!(mine.liveness, Liveness::Online);
        assert_eq!(
            (mine.policy_version, mine.agent_version.as_deref()),
            (Some(1), Some("1.2.3"))
        );
        let owner = w.t.my_agent(&w.owner).await.unwrap_err();
        assert_eq!(owner.code(), "forbidden", "the OWNER has no agent");
    });
}

#[test]
fn recurring_revenue_counts_the_amount_agreed_at_a_plan_change() {
    let w = World::new("PRO", 0);
    block_on(async {
        w.t.change_plan(
            &w.owner,
            w.company,
            ChangePlan {
                plan: "ENTERPRISE".into(),
                expires_at: None,
                amount_cents: Some(12_345),
            },
        )
        .await
        .unwrap();
        let day = w.t.now().date_naive();
        let report = w.t.owner_report(&w.owner, day, day).await.unwrap();
        assert_eq!(report.mrr_cents, 12_345, "not the plan's list price");
    });
}

/// Every write the service makes to its blob store.
#[derive(Default)]
struct Recorded {
    blobs: MemoryBlobStore,
    writes: std::sync::Mutex<Vec<Vec<u8>>>,
}

#[async_trait]
impl BlobStore for Recorded {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.writes.lock().unwrap().push(bytes.clone());
        self.blobs.put(key, bytes).await
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.blobs.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.blobs.delete(key).await
    }
}

/// A blur that answers with the test PNG, whatever it is given.
struct ToTestPng;

#[async_trait]
impl ScreenshotBlur for ToTestPng {
    async fn blur(&self, image: Vec<u8>, format: ImageFormat) -> Result<Vec<u8>> {
        assert_eq!(format, ImageFormat::Png);
        assert_ne!(image, tracker_core::testkit::PNG);
        Ok(tracker_core::testkit::PNG.to_vec())
    }
}

async fn upload_sharp(
    w: &World,
    sharp: Vec<u8>,
) -> Result<tracker_core::store::Ingested<Screenshot>> {
    let agent = w.agent("bob").await;
    let meta = ScreenshotUpload {
        id: ScreenshotId::from_uuid(uuid_v4()),
        taken_at: w.t.now(),
        // The agent claims it did not blur; the server blurs anyway.
        blurred: false,
    };
    w.t.upload_screenshot(&agent, meta, sharp).await
}

#[test]
fn a_blurring_policy_writes_only_the_blurred_image_whatever_the_agent_claims() {
    let sharp = [tracker_core::testkit::PNG, b"sharp pixels"].concat();
    let blur_on = PolicyUpdate {
        blur_screenshots: Some(true),
        ..Default::default()
    };

    let recorded = Arc::new(Recorded::default());
    let w = World::with_blur(recorded.clone(), Arc::new(ToTestPng));
    block_on(async {
        w.user("bob", Role::Employee).await;
        w.t.update_policy(&w.admin, blur_on.clone()).await.unwrap();
        let shot = upload_sharp(&w, sharp.clone()).await.unwrap().stored;
        assert!(shot.blurred);
        assert_eq!(shot.size_bytes, tracker_core::testkit::PNG.len() as u64);
        let (_, bytes) = w.t.screenshot_image(&w.admin, shot.id).await.unwrap();
        assert_eq!(bytes, tracker_core::testkit::PNG);
        let writes = recorded.writes.lock().unwrap().clone();
        assert_eq!(writes, [tracker_core::testkit::PNG.to_vec()]);
    });

    // Without a blur, such an upload is refused and nothing is written.
    let recorded = Arc::new(Recorded::default());
    let w = World::with_blobs("PRO", 14, Some(recorded.clone()));
    block_on(async {
        w.user("bob", Role::Employee).await;
        w.t.update_policy(&w.admin, blur_on).await.unwrap();
        assert_eq!(code(upload_sharp(&w, sharp).await), "invalid_state");
        assert!(recorded.writes.lock().unwrap().is_empty());
        assert!(recorded.blobs.is_empty());
    });
}

#[test]
fn a_thumbnail_is_drawn_once_kept_beside_its_image_and_purged_with_it() {
    let blobs = Arc::new(MemoryBlobStore::default());
    let w = World::with_blobs("PRO", 14, Some(blobs.clone()));
    block_on(async {
        let (_, bob) = w.user("bob", Role::Employee).await;
        let (_, carol) = w.user("carol", Role::Employee).await;
        let (_, lead) = w.user("lead", Role::Manager).await;
        let agent = w.agent("bob").await;
        let meta = ScreenshotUpload {
            id: ScreenshotId::from_uuid(uuid_v4()),
            taken_at: w.t.now(),
            blurred: true,
        };
        let png = tracker_core::testkit::PNG.to_vec();
        let shot =
            w.t.upload_screenshot(&agent, meta, png)
                .await
                .unwrap()
                .stored;

        let drawn = std::sync::atomic::AtomicUsize::new(0);
        let make = |image: Vec<u8>| {
            drawn.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { Some(image[..4].to_vec()) }
        };
        for viewer in [&w.admin, &bob, &w.admin] {
            let (seen, preview) =
                w.t.screenshot_thumbnail(viewer, shot.id, make)
                    .await
                    .unwrap();
            assert_eq!(seen.id, shot.id);
            assert_eq!(preview, Preview::Thumbnail(b"\x89PNG".to_vec()));
        }
        assert_eq!(drawn.into_inner(), 1, "drawn on the first view only");
        assert_eq!(blobs.len(), 2, "the image and its thumbnail");

        // Those who may not see the image may not see its thumbnail.
        for stranger in [&carol, &lead] {
            let r =
                w.t.screenshot_thumbnail(stranger, shot.id, |_| async { None })
                    .await;
            assert_eq!(code(r), "not_found");
        }
        // An image no thumbnail can be drawn from is shown as it is.
        let other = ScreenshotUpload {
            id: ScreenshotId::from_uuid(uuid_v4()),
            taken_at: w.t.now(),
            blurred: false,
        };
        let odd =
            w.t.upload_screenshot(&agent, other, [tracker_core::testkit::PNG, b"odd"].concat())
                .await
                .unwrap()
                .stored;
        let (_, preview) =
            w.t.screenshot_thumbnail(&w.admin, odd.id, |_| async { None })
                .await
                .unwrap();
        assert!(matches!(preview, Preview::Original(ref b) if b.ends_with(b"odd")));
        assert_eq!(blobs.len(), 3, "nothing cached for it");

        w.clock.advance(Duration::days(400));
        w.t.purge_company(w.company, 100).await.unwrap();
        assert!(blobs.is_empty(), "retention took the thumbnail too");
    });
}

#[test]
fn staff_read_a_persons_day_as_the_person_sees_it() {
    let w = World::new("PRO", 14);
    block_on(async {
        let (bob_user, bob) = w.user("bob", Role::Employee).await;
        let (_, carol) = w.user("carol", Role::Employee).await;
        let (_, lead) = w.user("lead", Role::Manager).await;
        let agent = w.agent("bob").await;
        let at = w.t.now() - Duration::hours(2);
        w.t.upload_activity(
            &agent,
            ActivityBatch {
                events: vec![event(at, 1800, ActivityKind::Active)],
            },
        )
        .await
        .unwrap();
        let own = w.t.my_day(&bob, None).await.unwrap();
        assert_eq!(own.totals.active_seconds, 1800);
        let seen = w.t.person_day(&w.admin, bob_user.id, None).await.unwrap();
        assert_eq!(seen, own, "the ADMIN sees what bob sees");
        for stranger in [&carol, &lead] {
            let r = w.t.person_day(stranger, bob_user.id, None).await;
            assert_eq!(code(r), "not_found", "outside one's team is not found");
        }
        w.t.create_team(
            &w.admin,
            NewTeam {
                name: "Builders".into(),
                managers: vec![lead.user_id()],
                members: vec![bob_user.id],
            },
        )
        .await
        .unwrap();
        let lead = login(&w.t, Some(&w.key), "lead").await.unwrap();
        let managed = w.t.person_day(&lead, bob_user.id, None).await.unwrap();
        assert_eq!(managed.totals.active_seconds, 1800, "its MANAGER sees it");
    });
}

#[test]
fn an_audit_actor_filter_stays_in_its_company() {
    let w = World::new("PRO", 14);
    let other = World::new("PRO", 14);
    block_on(async {
        w.user("bob", Role::Employee).await;
        let (stranger, _) = other.user("mallory", Role::Employee).await;
        let filter = |actor| AuditFilter {
            actor: Some(actor),
            ..AuditFilter::default()
        };
        let theirs =
            w.t.company_audit(&w.admin, &filter(stranger.id), &PageRequest::first(50))
                .await;
        assert_eq!(code(theirs), "not_found", "another company's user");
        let own =
            w.t.company_audit(
                &w.admin,
                &filter(w.admin.user_id()),
                &PageRequest::first(50),
            )
            .await
            .unwrap();
        assert!(
            own.items
                .iter()
                .all(|e| e.actor.user_id() == Some(w.admin.user_id()))
        );
        assert!(!own.items.is_empty());
    });
}

#[test]
fn a_correction_starts_within_the_ingest_window() {
    let w = World::new("PRO", 14);
    block_on(async {
        let (_, bob) = w.user("bob", Role::Employee).await;
        let now = w.t.now();
        let ancient = NewCorrection {
            starts_at: now - Duration::days(3650),
            ends_at: now - Duration::days(3650) + Duration::hours(1),
            reason: "a meeting ten years ago".into(),
        };
        let e = w.t.request_correction(&bob, ancient).await.unwrap_err();
        assert_eq!(e.code(), "validation");
        assert!(e.to_string().contains("starts_at"), "{e}");
        let recent = NewCorrection {
            starts_at: now - Duration::days(3),
            ends_at: now - Duration::days(3) + Duration::hours(1),
            reason: "a client visit".into(),
        };
        w.t.request_correction(&bob, recent).await.unwrap();
        let stored =
            w.t.corrections(&w.admin, None, None, &PageRequest::first(50))
                .await
                .unwrap();
        assert_eq!(stored.items.len(), 1, "only the recent one is kept");
    });
}

#[test]
fn the_platform_log_never_names_a_person_who_forgot_the_company_key() {
    let w = World::new("PRO", 14);
    block_on(async {
        w.user("bob", Role::Employee).await;
        let forgot_key = w.login_req(None, "bob");
        assert_eq!(
            code(w.t.login(forgot_key, None).await),
            "invalid_credentials"
        );
        let operator_typo = LoginRequest {
            password: "not-the-password".into(),
            ..w.login_req(None, "operator")
        };
        assert_eq!(
            code(w.t.login(operator_typo, None).await),
            "invalid_credentials"
        );
        let platform =
            w.t.platform_audit(&w.owner, &AuditFilter::default(), &PageRequest::first(500))
                .await
                .unwrap();
        let failed: Vec<_> = platform
            .items
            .iter()
            .filter(|e| e.action == AuditAction::LoginFailed)
            .collect();
        assert_eq!(failed.len(), 2);
        let text = |e: &&AuditEvent| format!("{} {}", e.description, e.details);
        assert!(!text(&failed[0]).contains("bob"), "{}", text(&failed[0]));
        assert!(
            text(&failed[1]).contains("operator"),
            "the operator's own name"
        );
    });
}

#[test]
fn events_name_only_their_agents_own_sessions() {
    let w = World::new("PRO", 14);
    block_on(async {
        w.user("bob", Role::Employee).await;
        w.user("carol", Role::Employee).await;
        let (bob, carol) = (w.agent("bob").await, w.agent("carol").await);
        let at = w.t.now() - Duration::hours(1);
        let start = |id| StartSession { id, started_at: at };
        let bobs = WorkSessionId::from_uuid(uuid_v4());
        w.t.start_session(&bob, start(bobs)).await.unwrap();
        let taken = w.t.start_session(&carol, start(bobs)).await;
        assert_eq!(code(taken), "already_exists", "bob's session id");

        let with_session = |session| ActivityInput {
            session_id: Some(session),
            ..event(at, 60, ActivityKind::Active)
        };
        let own = ActivityBatch {
            events: vec![with_session(bobs)],
        };
        assert_eq!(w.t.upload_activity(&bob, own).await.unwrap().inserted, 1);
        let unknown = WorkSessionId::from_uuid(uuid_v4());
        let theirs = ActivityBatch {
            events: vec![
                event(at, 60, ActivityKind::Active),
                with_session(bobs),
                with_session(unknown),
            ],
        };
        let e = w.t.upload_activity(&carol, theirs).await.unwrap_err();
        assert_eq!(e.code(), "validation");
        let fields: Vec<_> = e.field_errors().iter().map(|f| f.field.clone()).collect();
        assert_eq!(fields, ["events[1].session_id", "events[2].session_id"]);
        let stored =
            w.t.activity(&w.admin, &TrackingQuery::default(), &PageRequest::first(50))
                .await
                .unwrap();
        assert_eq!(stored.items.len(), 1, "nothing of carol's batch");
    });
}

#[test]
fn an_account_is_closed_to_guesses_for_a_while_whatever_their_address() {
    let w = World::new("PRO", 14);
    block_on(async {
        w.user("bob", Role::Employee).await;
        let wrong = |n: u8| LoginRequest {
            password: format!("guess-{n}"),
            ..w.login_req(Some(&w.key), "bob")
        };
        for n in 0..10 {
            let ip = Some(format!("203.0.113.{n}"));
            assert_eq!(code(w.t.login(wrong(n), ip).await), "invalid_credentials");
        }
        let failed = || async {
            w.actions()
                .await
                .iter()
                .filter(|a| **a == AuditAction::LoginFailed)
                .count()
        };
        assert_eq!(failed().await, 10);
        for _ in 0..3 {
            // Even the right password waits: it is not checked.
            let e =
                w.t.login(w.login_req(Some(&w.key), "bob"), None)
                    .await
                    .unwrap_err();
            match e {
                Error::TooManyAttempts { retry_after_secs } => {
                    assert!((1..=900).contains(&retry_after_secs), "{retry_after_secs}")
                }
                other => panic!("expected too_many_attempts, got {other}"),
            }
        }
        assert_eq!(
            failed().await,
            11,
            "the first refusal is on the record, once"
        );
        assert!(
            w.t.login(w.login_req(Some(&w.key), "alice"), None)
                .await
                .is_ok(),
            "another account is not slowed"
        );
        w.clock.advance(Duration::minutes(15));
        assert!(
            w.t.login(w.login_req(Some(&w.key), "bob"), None)
                .await
                .is_ok()
        );
        assert_eq!(code(w.t.login(wrong(1), None).await), "invalid_credentials");
    });
}

#[test]
fn a_jobs_share_held_by_another_runner_is_skipped_and_left_to_it() {
    let leases = LocalLeases::default();
    let w = World::with_leases("PRO", 14, None, leases.clone());
    block_on(async {
        w.user("bob", Role::Employee).await;
        let agent = w.agent("bob").await;
        let at = w.t.now() - Duration::hours(2);
        let batch = ActivityBatch {
            events: vec![event(at, 600, ActivityKind::Active)],
        };
        w.t.upload_activity(&agent, batch).await.unwrap();
        let key = |job| LeaseKey {
            job,
            company: w.company,
        };
        let mut held = Vec::new();
        for job in ["usage", "alerts", "retention"] {
            held.push(leases.try_lease(&key(job)).await.unwrap().unwrap());
        }

        let usage = w.t.aggregate_pending_usage().await.unwrap();
        assert_eq!((usage.companies, usage.skipped), (0, 1));
        let marks = w.t.store().usage().pending_usage_days(w.company).await;
        assert_eq!(marks.unwrap().len(), 1, "the marks are left to the holder");
        assert_eq!(w.t.check_alerts().await.unwrap().skipped, 1);
        assert_eq!(w.t.purge_expired_data(100).await.unwrap().skipped, 1);
        let busy = w.t.purge_company(w.company, 100).await;
        assert_eq!(code(busy), "invalid_state");

        for lease in held {
            lease.release().await;
        }
        let usage = w.t.aggregate_pending_usage().await.unwrap();
        assert_eq!((usage.companies, usage.skipped), (1, 0));
        let marks = w.t.store().usage().pending_usage_days(w.company).await;
        assert!(marks.unwrap().is_empty());
        assert_eq!(w.t.check_alerts().await.unwrap().skipped, 0);
        assert!(w.t.purge_company(w.company, 100).await.is_ok());
    });
}

#[test]
fn an_expiry_another_runner_holds_is_skipped_and_done_once() {
    let leases = LocalLeases::default();
    let w = World::with_leases("PRO", 1, None, leases.clone());
    block_on(async {
        w.clock.advance(Duration::days(2));
        let key = LeaseKey {
            job: "expiry",
            company: w.company,
        };
        let held = leases.try_lease(&key).await.unwrap().unwrap();
        let run = w.t.expire_companies().await.unwrap();
        assert!(run.expired.is_empty());
        assert_eq!(run.skipped, 1);
        held.release().await;
        assert_eq!(w.t.expire_companies().await.unwrap().expired, [w.company]);
        let again = w.t.expire_companies().await.unwrap();
        assert!(again.expired.is_empty() && again.skipped == 0);
    });
}

#[test]
fn the_purge_cuts_each_kind_at_its_age_and_keeps_people_under_hold() {
    let blobs = Arc::new(MemoryBlobStore::default());
    let w = World::with_blobs("PRO", 14, Some(blobs.clone()));
    block_on(async {
        w.user("bob", Role::Employee).await;
        let (kim, _) = w.user("kim", Role::Employee).await;
        // Longer than the company's 90 days: refused, naming the kind.
        let too_long = PolicyUpdate {
            retention: Some(RetentionByKind {
                screenshots_days: Some(91),
                ..RetentionByKind::default()
            }),
            ..PolicyUpdate::default()
        };
        let err = w.t.update_policy(&w.admin, too_long).await.unwrap_err();
        assert_eq!(err.field_errors()[0].field, "retention.screenshots_days");
        w.t.update_policy(
            &w.admin,
            PolicyUpdate {
                retention: Some(RetentionByKind {
                    screenshots_days: Some(7),
                    details_days: Some(3),
                    sessions_days: None,
                    activity_days: None,
                }),
                ..PolicyUpdate::default()
            },
        )
        .await
        .unwrap();
        let hold =
            w.t.place_legal_hold(&w.admin, kim.id, "case 17")
                .await
                .unwrap();
        assert!(hold.privacy.legal_hold.is_some());
        for name in ["bob", "kim"] {
            let agent = w.agent(name).await;
            let at = w.t.now() - Duration::hours(1);
            let mut e = event(at, 600, ActivityKind::Active);
            e.url = Some("https://example.com/private?q=1".into());
            e.window_title = Some("private".into());
            w.t.upload_activity(&agent, ActivityBatch { events: vec![e] })
                .await
                .unwrap();
            let meta = ScreenshotUpload {
                id: ScreenshotId::from_uuid(uuid_v4()),
                taken_at: w.t.now(),
                blurred: false,
            };
            w.t.upload_screenshot(&agent, meta, tracker_core::testkit::PNG.to_vec())
                .await
                .unwrap();
        }
        // Ten days on: screenshots (7 days) and details (3 days) go; the
        // events and their times stay (90 days); kim's all stay.
        w.clock.advance(Duration::days(10));
        let n = w.t.purge_company(w.company, 100).await.unwrap();
        assert_eq!((n.screenshots, n.details, n.events), (1, 1, 0));
        let q = TrackingQuery::default();
        let page = PageRequest::first(50);
        let shots = w.t.screenshots(&w.admin, &q, &page).await.unwrap().items;
        assert_eq!(
            shots.iter().map(|s| s.user_id).collect::<Vec<_>>(),
            [kim.id]
        );
        let events = w.t.activity(&w.admin, &q, &page).await.unwrap().items;
        assert_eq!(events.len(), 2);
        for e in &events {
            let kept = e.user_id == kim.id;
            assert_eq!(e.window_title.is_some(), kept, "{e:?}");
            assert_eq!(e.url.is_some(), kept, "{e:?}");
        }
        assert_eq!(blobs.len(), 1, "bob's image went with its row");
        let purged = w.actions().await;
        assert!(purged.contains(&AuditAction::LegalHoldPlaced));
        assert!(purged.contains(&AuditAction::DataPurged));
    });
}

#[test]
fn a_company_under_legal_hold_is_neither_purged_nor_erased() {
    let w = World::new("PRO", 14);
    block_on(async {
        let (bob, _) = w.user("bob", Role::Employee).await;
        let agent = w.agent("bob").await;
        w.t.upload_activity(
            &agent,
            ActivityBatch {
                events: vec![event(
                    w.t.now() - Duration::hours(1),
                    600,
                    ActivityKind::Active,
                )],
            },
        )
        .await
        .unwrap();
        let held =
            w.t.place_company_hold(&w.admin, None, "audit 2026")
                .await
                .unwrap();
        assert!(held.legal_hold.is_some());
        // Placed twice: refused, whoever asks.
        let again = w.t.place_company_hold(&w.owner, Some(w.company), "x").await;
        assert_eq!(code(again), "invalid_state");
        // An employee may not place one.
        let (_, erin) = w.user("erin", Role::Employee).await;
        assert_eq!(
            code(w.t.place_company_hold(&erin, None, "x").await),
            "forbidden"
        );

        w.clock.advance(Duration::days(400));
        let n = w.t.purge_company(w.company, 100).await.unwrap();
        assert!(n.is_empty(), "nothing is purged under the hold");
        assert_eq!(
            code(w.t.erase_person(&w.admin, bob.id).await),
            "invalid_state"
        );

        // The OWNER releases it; the purge and the erasure go ahead.
        let released =
            w.t.release_company_hold(&w.owner, Some(w.company))
                .await
                .unwrap();
        assert!(released.legal_hold.is_none());
        let n = w.t.purge_company(w.company, 100).await.unwrap();
        assert_eq!(n.events, 1);
        let receipt = w.t.erase_person(&w.admin, bob.id).await.unwrap();
        assert_eq!(receipt.user_id, bob.id);
        let tomb = w.t.get_user(&w.admin, bob.id).await.unwrap();
        assert!(tomb.username.starts_with("erased-") && !tomb.active);
        assert!(tomb.privacy.erased_at.is_some());
        // A tombstone stays one: no new password, no reactivation.
        let revive = UserChanges {
            password: Some("a-new-password".into()),
            ..UserChanges::default()
        };
        assert_eq!(
            code(w.t.update_user(&w.admin, bob.id, revive).await),
            "invalid_state"
        );
        assert_eq!(
            code(w.t.reactivate_user(&w.admin, bob.id).await),
            "invalid_state"
        );
    });
}
