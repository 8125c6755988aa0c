//! The ADMIN's and the MANAGER's pages in Chromium: a company on a plan of
//! three seats, its agent over HTTP, and every company page visited,
//! photographed and checked for accessibility.

use super::*;
use tracker_core::UserId;
use tracker_core::protocol::{HeartbeatRequest, NewCorrection};
use tracker_core::tenancy::NewPlan;

/// A company on a plan of three seats, made through the service: its key.
async fn small_company(tracker: &Tracker, owner: &Principal) -> String {
    let plan = NewPlan {
        code: "TRIO".into(),
        max_employees: 3,
        max_storage_bytes: 1 << 30,
        price_monthly_cents: 3_000,
    };
    tracker.create_plan(owner, plan).await.unwrap();
    let created = tracker
        .create_company(
            owner,
            CreateCompany {
                name: "Trio".into(),
                plan: Some("TRIO".into()),
                timezone: Some("UTC".into()),
                trial_days: Some(0),
                retention_days: None,
                admin: NewUser {
                    username: "ada".into(),
                    password: "ada-password".into(),
                    email: None,
                    display_name: Some("Ada Admin".into()),
                    role: None,
                },
            },
        )
        .await
        .unwrap();
    created.company_key.expose().to_owned()
}

/// A desktop-like screenshot: a window with a title bar and lines of text.
fn screen_png() -> Vec<u8> {
    let picture = image::RgbImage::from_fn(1280, 720, |x, y| {
        let in_window = (120..1160).contains(&x) && (80..640).contains(&y);
        let line =
            (160..620).contains(&y) && (y / 12) % 3 == 0 && x > 160 && x < 400 + (y * 7) % 600;
        image::Rgb(match () {
            _ if !in_window => [58, 110, 165],
            _ if y < 110 => [40, 44, 52],
            _ if line => [90, 96, 104],
            _ => [250, 250, 250],
        })
    });
    let mut out = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The id of `username` in the company `p` sees.
async fn id_of(tracker: &Tracker, p: &Principal, username: &str) -> UserId {
    let page = tracker
        .list_users(p, None, &tracker_core::PageRequest::first(100))
        .await
        .unwrap();
    page.items
        .iter()
        .find(|u| u.username == username)
        .map(|u| u.id)
        .unwrap()
}

/// Bob's agent over HTTP: its headers.
struct Agent {
    addr: SocketAddr,
    bearer: String,
    key: String,
}

impl Agent {
    async fn sign_in(tracker: &Tracker, base: &str, key: &str) -> Self {
        let login = LoginRequest {
            company_key: Some(key.into()),
            username: "bob".into(),
            password: "bob-password".into(),
        };
        let token = tracker.login(login, None).await.unwrap().token;
        Self {
            addr: base.trim_start_matches("http://").parse().unwrap(),
            bearer: format!("Bearer {}", token.expose()),
            key: key.into(),
        }
    }

    async fn send(&self, method: &str, path: &str, body: &[u8]) -> serde_json::Value {
        let headers = [
            ("authorization", self.bearer.as_str()),
            ("x-company-key", self.key.as_str()),
            ("content-type", "application/json"),
        ];
        let reply = send(self.addr, method, path, &headers, body).await;
        assert!(reply.status < 300, "{path}: {:?}", reply.body);
        reply.body
    }

    async fn heartbeat(&self, policy_version: u64) {
        let beat = HeartbeatRequest {
            policy_version: Some(policy_version),
            agent_version: Some("1.4.0".into()),
        };
        let body = serde_json::to_vec(&beat).unwrap();
        self.send("POST", "/api/v1/agent/heartbeat", &body).await;
    }
}

/// The text of the agents page's row of `username`.
async fn agent_row(c: &Client, base: &str, username: &str) -> String {
    c.goto(&format!("{base}/company/agents")).await.unwrap();
    let rows = c.find_all(Locator::Css("tbody tr")).await.unwrap();
    for row in rows {
        let text = row.text().await.unwrap();
        if text.starts_with(username) {
            return text;
        }
    }
    panic!("no agent row for {username}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_runs_the_company_and_a_manager_sees_only_its_team() {
    let Some((driver, browser)) = browser_programs() else {
        return;
    };
    let tracker = tracker();
    tracker.ensure_default_plans().await.unwrap();
    tracker.bootstrap_owner(OWNER.0, OWNER.1).await.unwrap();
    let owner = sign_in_service(&tracker, None, OWNER.0, OWNER.1).await;
    let key = small_company(&tracker, &owner).await;
    let other_key = company(&tracker, &owner, "Globex").await;
    let base = serve(Arc::clone(&tracker), ConsoleConfig::default()).await;
    let driver = start_driver(&driver).await;
    let c = open_browser(&driver, &browser).await;
    let mut cam = Camera::new("admin");

    sign_in(&c, &base, &key, "ada", "ada-password").await;
    assert!(c.current_url().await.unwrap().path().ends_with("/company"));
    assert!(text(&c).await.contains("Getting started"));
    cam.take(&c, "dashboard-first-run").await;

    // Up to the plan's three seats, then the refusal, explained.
    c.goto(&format!("{base}/company/employees")).await.unwrap();
    assert!(text(&c).await.contains("1 of 3 seats"));
    for (name, role) in [("bob", "EMPLOYEE"), ("max", "MANAGER"), ("zoe", "EMPLOYEE")] {
        fill(&c, "username", name).await;
        fill(&c, "password", &format!("{name}-password")).await;
        set_value(&c, "role", role).await;
        submit(&c, "form[action$='/company/employees']").await;
    }
    let refused = text(&c).await;
    assert!(refused.contains("seat limit reached"), "{refused}");
    assert!(refused.contains("Deactivate someone who has left"));
    cam.take(&c, "seat-limit-refused").await;
    c.goto(&format!("{base}/company/employees")).await.unwrap();
    let list = text(&c).await;
    assert!(list.contains("3 of 3 seats") && list.contains("The plan is full"));
    assert!(!list.contains("zoe"), "nothing stored for the refused one");
    cam.take(&c, "employees").await;

    // A team with max as its manager and bob as its member.
    let admin = sign_in_service(&tracker, Some(&key), "ada", "ada-password").await;
    let (bob, max) = (
        id_of(&tracker, &admin, "bob").await,
        id_of(&tracker, &admin, "max").await,
    );
    c.goto(&format!("{base}/company/teams")).await.unwrap();
    fill(&c, "name", "Support").await;
    for field in [format!("manager:{max}"), format!("member:{bob}")] {
        c.find(Locator::Css(&format!("[name=\"{field}\"]")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    submit(&c, "form[action$='/company/teams']").await;
    let teams = text(&c).await;
    assert!(teams.contains("Managers: max") && teams.contains("Members: bob"));
    cam.take(&c, "teams").await;

    // Bob's agent: a heartbeat on policy 1, an hour of activity, a
    // screenshot; Bob asks for a correction.
    let agent = Agent::sign_in(&tracker, &base, &key).await;
    agent.heartbeat(1).await;
    let now = Utc::now();
    let events: Vec<ActivityInput> = (0..12)
        .map(|i| ActivityInput {
            id: ActivityId::new(),
            session_id: None,
            started_at: now - chrono::Duration::minutes(60 - i * 5),
            duration_seconds: 290,
            kind: ActivityKind::Active,
            app: Some("spreadsheet".into()),
            window_title: None,
            url: Some("https://crm.example.com/leads".into()),
        })
        .collect();
    let batch = serde_json::to_vec(&ActivityBatch { events }).unwrap();
    agent.send("POST", "/api/v1/agent/activity", &batch).await;
    let bob_p = sign_in_service(&tracker, Some(&key), "bob", "bob-password").await;
    let shot = tracker
        .upload_screenshot(
            &tracker
                .agent(&key, agent.bearer.trim_start_matches("Bearer "))
                .await
                .unwrap(),
            ScreenshotUpload {
                id: ScreenshotId::new(),
                taken_at: now - chrono::Duration::minutes(30),
                blurred: false,
            },
            screen_png(),
        )
        .await
        .unwrap()
        .stored;
    tracker
        .request_correction(
            &bob_p,
            NewCorrection {
                starts_at: now - chrono::Duration::minutes(150),
                ends_at: now - chrono::Duration::minutes(90),
                reason: "Workshop with a client".into(),
            },
        )
        .await
        .unwrap();

    // The policy changes: the agent list flags bob's agent until it
    // fetches the new version.
    c.goto(&format!("{base}/company/policy")).await.unwrap();
    cam.take(&c, "policy").await;
    fill(&c, "idle_threshold_seconds", "600").await;
    submit(&c, "form[action$='/company/policy']").await;
    let saved = text(&c).await;
    assert!(saved.contains("Saved as version 2") && saved.contains("The audit log recorded event"));
    cam.take(&c, "policy-saved").await;
    assert!(agent_row(&c, &base, "bob").await.contains("outdated"));
    cam.take(&c, "agents-outdated").await;
    let fetched = agent.send("GET", "/api/v1/agent/policy", b"").await;
    assert_eq!(fetched["policy"]["version"], 2, "{fetched}");
    agent.heartbeat(2).await;
    assert!(!agent_row(&c, &base, "bob").await.contains("outdated"));

    // Approving the correction changes bob's day.
    c.goto(&format!("{base}/company/corrections"))
        .await
        .unwrap();
    assert!(text(&c).await.contains("Adds up to 1 h 00 min"));
    cam.take(&c, "corrections").await;
    submit(&c, "form[action$='/approve']").await;
    let link = c.find(Locator::LinkText("See the day")).await.unwrap();
    click_and_wait(&c, link).await;
    let day = text(&c).await;
    assert!(day.contains("added by approved corrections"), "{day}");
    cam.take(&c, "day-after-correction").await;

    c.goto(&format!("{base}/company/audit")).await.unwrap();
    let audit = text(&c).await;
    assert!(audit.contains("every link holds") && audit.contains("correction_decided"));
    assert!(audit.contains("Download the signed export"), "{audit}");
    cam.take(&c, "audit").await;

    // The gallery's thumbnails load as pictures: the first view draws
    // one, which takes a moment in a debug build, so wait for it.
    c.goto(&format!("{base}/company/screenshots"))
        .await
        .unwrap();
    let loaded = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const img = document.querySelector('ul.gallery img');
             if (!img) { done('no picture'); }
             else if (img.complete) { done(img.naturalWidth > 0); }
             else {
                 img.addEventListener('load', () => done(img.naturalWidth > 0));
                 img.addEventListener('error', () => done('failed to load'));
             }",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(loaded, json!(true), "the thumbnail is an image");
    cam.take(&c, "screenshots").await;

    for (path, name) in [
        ("/company".to_owned(), "dashboard"),
        ("/company/reports".to_owned(), "reports-month"),
        ("/company/reports/usage".to_owned(), "reports-usage"),
        ("/company/reports/company".to_owned(), "reports-company"),
        ("/company/exports".to_owned(), "exports"),
        ("/company/sessions".to_owned(), "sessions"),
        ("/company/activity".to_owned(), "activity"),
        ("/company/tasks".to_owned(), "tasks"),
        ("/company/alerts".to_owned(), "alerts"),
        ("/company/alerts/settings".to_owned(), "alert-settings"),
        ("/company/access-log".to_owned(), "access-log"),
        (format!("/company/employees/{bob}"), "employee"),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        assert!(!text(&c).await.contains("Not Found"), "{path}");
        cam.take(&c, name).await;
    }
    // A legal hold on bob, shown with its reason, then released (it asks
    // first; the browser accepts).
    c.goto(&format!("{base}/company/employees/{bob}"))
        .await
        .unwrap();
    fill(&c, "reason", "Request 7 from the works council").await;
    submit(&c, "form[action$='/legal-hold']").await;
    let held = text(&c).await;
    assert!(
        held.contains("Reason: Request 7 from the works council")
            && held.contains("Erasure is refused while the legal hold is in place"),
        "{held}"
    );
    c.execute(
        "document.querySelector('form[action$=\"/release-hold\"]').scrollIntoView();",
        vec![],
    )
    .await
    .unwrap();
    cam.take(&c, "employee-on-hold").await;
    c.execute("window.confirm = () => true;", vec![])
        .await
        .unwrap();
    submit(&c, "form[action$='/release-hold']").await;
    assert!(text(&c).await.contains("Place a legal hold"));
    // At a phone's width: wide tables scroll in their box, nothing else
    // moves sideways.
    c.set_window_size(390, 844).await.unwrap();
    for (path, name) in [
        ("/company", "dashboard-phone"),
        ("/company/reports", "reports-month-phone"),
        ("/company/screenshots", "screenshots-phone"),
        ("/company/audit", "audit-phone"),
        ("/company/alerts/settings", "alert-settings-phone"),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        assert!(
            !crate::scrolls_sideways(&c).await,
            "{path} scrolls sideways at 390 px"
        );
        cam.take(&c, name).await;
    }
    c.set_window_size(1280, 800).await.unwrap();
    sign_out(&c).await;

    // The MANAGER: its team everywhere, and 404 for anyone else.
    let mut cam = Camera::new("manager");
    sign_in(&c, &base, &key, "max", "max-password").await;
    cam.take(&c, "dashboard").await;
    c.goto(&format!("{base}/company/employees")).await.unwrap();
    let people = text(&c).await;
    assert!(
        people.contains("bob") && !people.contains("ada"),
        "{people}"
    );
    cam.take(&c, "my-team").await;
    c.goto(&format!("{base}/company/reports")).await.unwrap();
    let month = text(&c).await;
    assert!(month.contains("bob") && !month.contains("ada"));
    cam.take(&c, "reports-month").await;
    c.goto(&format!("{base}/company/screenshots"))
        .await
        .unwrap();
    assert_eq!(
        c.find_all(Locator::Css("ul.gallery img"))
            .await
            .unwrap()
            .len(),
        1,
        "bob's screenshot"
    );
    cam.take(&c, "screenshots").await;
    c.goto(&format!("{base}/company/tasks")).await.unwrap();
    fill(&c, "title", "Call the workshop client back").await;
    submit(&c, "form[action$='/company/tasks']").await;
    assert!(text(&c).await.contains("Call the workshop client back"));
    cam.take(&c, "tasks").await;
    let ada = id_of(&tracker, &admin, "ada").await;
    for path in [
        format!("/company/reports/day?user={ada}"),
        format!("/company/activity?user={ada}"),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        assert!(text(&c).await.contains("Not Found"), "{path}");
    }
    // Another company's screenshot is not found either.
    let theirs = {
        let login = LoginRequest {
            company_key: Some(other_key.clone()),
            username: "ada".into(),
            password: "ada-password".into(),
        };
        let token = tracker.login(login, None).await.unwrap().token;
        let their_agent = tracker.agent(&other_key, token.expose()).await.unwrap();
        tracker
            .upload_screenshot(
                &their_agent,
                ScreenshotUpload {
                    id: ScreenshotId::new(),
                    taken_at: now,
                    blurred: false,
                },
                PNG.to_vec(),
            )
            .await
            .unwrap()
            .stored
    };
    c.goto(&format!("{base}/company/screenshots/{}", theirs.id))
        .await
        .unwrap();
    assert!(text(&c).await.contains("Not Found"));
    cam.take(&c, "not-found").await;
    c.goto(&format!("{base}/company/screenshots/{}", shot.id))
        .await
        .unwrap();
    assert!(
        !text(&c).await.contains("Not Found"),
        "its member's is found"
    );
    c.goto(&format!("{base}/company")).await.unwrap();
    sign_out(&c).await;

    // The EMPLOYEE: 403 on every ADMIN page.
    let mut cam = Camera::new("employee-refused");
    sign_in(&c, &base, &key, "bob", "bob-password").await;
    for path in [
        "/company",
        "/company/employees",
        "/company/teams",
        "/company/reports",
        "/company/screenshots",
        "/company/sessions",
        "/company/activity",
        "/company/tasks",
        "/company/corrections",
        "/company/policy",
        "/company/agents",
        "/company/alerts",
        "/company/audit",
        "/company/exports",
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        assert!(text(&c).await.contains("Forbidden"), "{path}");
    }
    cam.take(&c, "forbidden").await;
    c.close().await.unwrap();
}
