//! The console's pages over HTTP round trips in process: sign-in and
//! sign-out, sessions that end, CSRF, escaping, roles and tenants. The
//! browser tests drive the same pages in Chromium.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;
use tracker_console::{Console, ConsoleConfig};
use tracker_core::audit::AuditKey;
use tracker_core::audit::export::verify_export;
use tracker_core::protocol::{
    ActivityBatch, CreateCompany, LoginRequest, NewUser, ScreenshotUpload,
};
use tracker_core::store::Store;
use tracker_core::tracking::ActivityInput;
use tracker_core::{
    ActivityId, ActivityKind, AgentContext, Argon2Hasher, MemoryBlobStore, MemoryStore,
    RecordingNotifier, Role, ScreenshotId, Tracker, UserId,
};

const OWNER: (&str, &str) = ("operator", "operator-password");

/// A browser of one: its cookies, and the last page's CSRF token.
struct Browser {
    app: Router,
    cookies: BTreeMap<String, String>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
    /// The body as sent (a download's bytes).
    bytes: Vec<u8>,
    headers: axum::http::HeaderMap,
}

impl Page {
    /// The CSRF token of the page's first form.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find(r#"name="csrf" value=""#)
            .expect("a form with a CSRF token");
        let rest = &self.body[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl Browser {
    fn new(app: Router) -> Self {
        Self {
            app,
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, request: Request<Body>) -> Page {
        let response = self.app.clone().oneshot(request).await.unwrap();
        for value in response.headers().get_all(header::SET_COOKIE) {
            let value = value.to_str().unwrap();
            let (pair, attrs) = value.split_once(';').unwrap_or((value, ""));
            let (name, v) = pair.split_once('=').unwrap();
            assert!(
                attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict"),
                "{value}"
            );
            if v.is_empty() || attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), v.to_owned());
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        let location = headers
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Page {
            status,
            location,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.to_vec(),
            headers,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = Request::get(path)
            .header(header::COOKIE, self.cookie_header())
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// Signs in through the form; returns the page signing in answered.
    async fn sign_in(&mut self, key: &str, username: &str, password: &str) -> Page {
        let form = self.get("/sign-in").await;
        let csrf = form.csrf();
        self.post(
            "/sign-in",
            &[
                ("company_key", key),
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
            ],
        )
        .await
    }
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A platform with one company (admin `ada`, employee `bob`) and its key.
async fn platform(config: ConsoleConfig) -> (Arc<Tracker>, Router, String) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let tracker = Arc::new(
        Tracker::builder_shared(store)
            .password_hasher(Argon2Hasher::insecure_fast())
            .blobs(Arc::new(MemoryBlobStore::default()))
            .notifier(Arc::new(RecordingNotifier::default()))
            .audit_key(AuditKey::generate().unwrap())
            .build(),
    );
    tracker.ensure_default_plans().await.unwrap();
    tracker.bootstrap_owner(OWNER.0, OWNER.1).await.unwrap();
    let key = company(&tracker, "Acme", "ada").await;
    let app = Console::new(Arc::clone(&tracker)).config(config).router();
    (tracker, app, key)
}

async fn company(tracker: &Tracker, name: &str, admin: &str) -> String {
    let login = LoginRequest {
        company_key: None,
        username: OWNER.0.into(),
        password: OWNER.1.into(),
    };
    let owner = tracker.login(login, None).await.unwrap();
    let owner = tracker.authenticate(owner.token.expose()).await.unwrap();
    let created = tracker
        .create_company(
            &owner,
            CreateCompany {
                name: name.into(),
                plan: Some("PRO".into()),
                timezone: Some("Europe/Berlin".into()),
                trial_days: None,
                retention_days: None,
                admin: NewUser {
                    username: admin.into(),
                    password: format!("{admin}-password"),
                    email: None,
                    display_name: None,
                    role: None,
                },
            },
        )
        .await
        .unwrap();
    let key = created.company_key.expose().to_owned();
    let ada = tracker
        .login(
            LoginRequest {
                company_key: Some(key.clone()),
                username: admin.into(),
                password: format!("{admin}-password"),
            },
            None,
        )
        .await
        .unwrap();
    let ada = tracker.authenticate(ada.token.expose()).await.unwrap();
    tracker
        .create_user(
            &ada,
            NewUser {
                username: "bob".into(),
                password: "bob-password".into(),
                email: None,
                display_name: Some("<script>alert(1)</script>".into()),
                role: Some(Role::Employee),
            },
        )
        .await
        .unwrap();
    key
}

#[tokio::test]
async fn an_employee_signs_in_sees_its_day_and_signs_out() {
    let (_, app, key) = platform(ConsoleConfig::default()).await;
    let mut b = Browser::new(app);
    let start = b.get("/").await;
    assert_eq!(
        start.location.as_deref(),
        Some("/sign-in"),
        "no session: to the sign-in"
    );
    let signed = b.sign_in(&key, "bob", "bob-password").await;
    assert_eq!(
        (signed.status, signed.location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/"))
    );
    let home = b.get("/").await;
    assert_eq!(home.location.as_deref(), Some("/me/day"));
    let day = b.get("/me/day").await;
    assert_eq!(day.status, StatusCode::OK, "{}", day.body);
    assert!(day.body.contains("Timeline"));
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(day.headers[name], value);
    }
    let csp = day.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(csp.contains("frame-ancestors 'none'"));
    // The display name is shown as text, never run.
    assert!(day.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!day.body.contains("<script>alert(1)"));

    let csrf = day.csrf();
    let kept = b.cookies.clone();
    let out = b.post("/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.location.as_deref(), Some("/sign-in?ended=signed-out"));
    assert!(
        !b.cookies.contains_key("tracker_session"),
        "the cookie is cleared"
    );
    assert_eq!(b.get("/me/day").await.location.as_deref(), Some("/sign-in"));
    // A copy of the old cookie is worth nothing: its token died.
    b.cookies = kept;
    let after = b.get("/me/day").await;
    assert_eq!(after.location.as_deref(), Some("/sign-in?ended=revoked"));
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_the_apis_words() {
    let (_, app, key) = platform(ConsoleConfig::default()).await;
    let mut b = Browser::new(app);
    let page = b.sign_in(&key, "bob", "not-the-password").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("Check the company key"), "{}", page.body);
    assert!(!b.cookies.contains_key("tracker_session"));
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let (tracker, app, key) = platform(ConsoleConfig::default()).await;
    let mut b = Browser::new(app);
    // The sign-in form itself needs its token.
    let refused = b
        .post(
            "/sign-in",
            &[
                ("company_key", &key),
                ("username", "bob"),
                ("password", "bob-password"),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    b.sign_in(&key, "bob", "bob-password").await;
    let refused = b
        .post(
            "/me/account",
            &[("csrf", "forged"), ("display_name", "Mallory")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("Form expired"));
    assert!(
        !refused.body.contains("Your role"),
        "an expired form is not about the caller's role"
    );
    let bob = tracker
        .login(
            LoginRequest {
                company_key: Some(key),
                username: "bob".into(),
                password: "bob-password".into(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        bob.user.display_name, "<script>alert(1)</script>",
        "unchanged"
    );
}

#[tokio::test]
async fn an_idle_session_ends() {
    let config = ConsoleConfig {
        idle_timeout: Duration::from_secs(1),
        ..ConsoleConfig::default()
    };
    let (_, app, key) = platform(config).await;
    let mut b = Browser::new(app);
    b.sign_in(&key, "bob", "bob-password").await;
    assert_eq!(b.get("/me/day").await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let ended = b.get("/me/day").await;
    assert_eq!(ended.location.as_deref(), Some("/sign-in?ended=idle"));
    let notice = b.get("/sign-in?ended=idle").await;
    assert!(notice.body.contains("without activity"));
}

#[tokio::test]
async fn pages_of_another_role_are_forbidden_and_another_tenants_objects_are_not_found() {
    let (tracker, app, key) = platform(ConsoleConfig::default()).await;
    company(&tracker, "Globex", "gus").await;
    let mut b = Browser::new(app.clone());
    b.sign_in(&key, "bob", "bob-password").await;
    let owner_page = b.get("/owner").await;
    assert_eq!(owner_page.status, StatusCode::FORBIDDEN);
    let report = b.get("/owner/reports").await;
    assert_eq!(report.status, StatusCode::FORBIDDEN);

    let mut owner = Browser::new(app);
    let signed = owner.sign_in("", OWNER.0, OWNER.1).await;
    assert_eq!(signed.location.as_deref(), Some("/"));
    let dashboard = owner.get("/owner").await;
    assert_eq!(dashboard.status, StatusCode::OK, "{}", dashboard.body);
    assert!(dashboard.body.contains("Acme") && dashboard.body.contains("Globex"));
    // The OWNER never reads a person: an employee's page is refused.
    let day = owner.get("/me/day").await;
    assert_eq!(day.status, StatusCode::FORBIDDEN);
    let unknown = owner
        .get(&format!("/owner/companies/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let nonsense = b.get("/me/screenshots/not-an-id").await;
    assert_eq!(nonsense.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_owner_creates_a_company_and_reads_its_key_once() {
    let (_, app, _) = platform(ConsoleConfig::default()).await;
    let mut owner = Browser::new(app);
    owner.sign_in("", OWNER.0, OWNER.1).await;
    let form = owner.get("/owner/companies/new").await;
    let csrf = form.csrf();
    let created = owner
        .post(
            "/owner/companies",
            &[
                ("csrf", &csrf),
                ("name", "Initech"),
                ("plan", "FREE"),
                ("timezone", "America/New_York"),
                ("trial_days", "0"),
                ("admin_username", "peter"),
                ("admin_password", "peter-password"),
                ("admin_email", ""),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let marker = r#"id="company-key">"#;
    let at = created.body.find(marker).expect("the key is shown") + marker.len();
    let key = created.body[at..][..8 + 32].to_owned();
    assert!(key.starts_with("company_"), "{key}");
    let mut peter = Browser::new(owner.app.clone());
    let signed = peter.sign_in(&key, "peter", "peter-password").await;
    assert_eq!(
        signed.location.as_deref(),
        Some("/"),
        "the shown key signs in"
    );
    assert!(
        !peter.cookies.contains_key("tracker_company_key"),
        "the key is not remembered unless asked"
    );
}

#[tokio::test]
async fn an_admin_manages_employees_and_the_policy_and_reads_the_audit_log() {
    let (_, app, key) = platform(ConsoleConfig::default()).await;
    let mut ada = Browser::new(app);
    ada.sign_in(&key, "ada", "ada-password").await;
    let list = ada.get("/company/employees").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains("bob"));
    let csrf = list.csrf();
    let added = ada
        .post(
            "/company/employees",
            &[
                ("csrf", &csrf),
                ("username", "max"),
                ("display_name", "Max"),
                ("email", ""),
                ("password", "max-password"),
                ("role", "MANAGER"),
            ],
        )
        .await;
    assert_eq!(added.location.as_deref(), Some("/company/employees"));
    let list = ada.get("/company/employees").await;
    assert!(list.body.contains("max") && list.body.contains("MANAGER"));
    let refused = ada
        .post(
            "/company/employees",
            &[
                ("csrf", &csrf),
                ("username", "max"),
                ("password", "max-password"),
                ("role", "EMPLOYEE"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "a username in use");

    let policy = ada.get("/company/policy").await;
    assert!(policy.body.contains("Save as version 2"));
    let saved = ada
        .post(
            "/company/policy",
            &[
                ("csrf", &csrf),
                ("screenshot_interval_seconds", "600"),
                ("website_tracking_enabled", "on"),
                ("idle_threshold_seconds", "300"),
            ],
        )
        .await;
    assert_eq!(saved.location.as_deref(), Some("/company/policy?saved=1"));
    let policy = ada.get("/company/policy?saved=1").await;
    assert!(
        policy.body.contains("Save as version 3"),
        "version 2 is stored"
    );
    assert!(
        policy
            .body
            .contains("Saved as version 2. The audit log recorded event"),
        "saving shows the audit event it made"
    );
    assert!(
        policy
            .body
            .contains("<dt>new · screenshot interval seconds</dt><dd>600</dd>"),
        "with its values, readable"
    );
    assert!(
        policy.body.contains("<li>No screenshots are taken.</li>"),
        "what is kept, in the service's words"
    );
    let out_of_range = ada
        .post(
            "/company/policy",
            &[
                ("csrf", &csrf),
                ("screenshot_interval_seconds", "1"),
                ("idle_threshold_seconds", "300"),
            ],
        )
        .await;
    assert_eq!(out_of_range.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(out_of_range.body.contains("screenshot_interval_seconds"));

    let audit = ada.get("/company/audit").await;
    assert!(audit.body.contains("every link holds"));
    assert!(audit.body.contains("policy_updated") && audit.body.contains("employee_created"));
    let agents = ada.get("/company/agents").await;
    assert_eq!(agents.status, StatusCode::OK);

    let home = ada.get("/").await;
    assert_eq!(home.location.as_deref(), Some("/company"));
    let dashboard = ada.get("/company").await;
    assert!(
        dashboard.body.contains("Getting started"),
        "no agent connected yet"
    );
    assert!(
        dashboard.body.contains("<b>3 / 50</b>"),
        "ada, bob and max of PRO's 50"
    );
    assert!(dashboard.body.contains("seats of the plan"));

    let tasks = ada.get("/company/tasks").await;
    let bob_id = {
        let at = tasks.body.find(r#"<option value=""#).unwrap();
        let rest = &tasks.body[at..];
        let bob = rest.find(">bob<").unwrap();
        let option = &rest[..bob];
        let start = option.rfind(r#"value=""#).unwrap() + 7;
        option[start..start + 36].to_owned()
    };
    let assigned = ada
        .post(
            "/company/tasks",
            &[
                ("csrf", &csrf),
                ("title", "Quarterly report"),
                ("description", ""),
                ("assignee", &bob_id),
                ("due_on", ""),
            ],
        )
        .await;
    assert_eq!(assigned.location.as_deref(), Some("/company/tasks"));
    let tasks = ada.get("/company/tasks").await;
    assert!(tasks.body.contains("Quarterly report"));

    // The MANAGER's dashboard has no seats: the plan is the ADMIN's.
    let mut max = Browser::new(ada.app.clone());
    max.sign_in(&key, "max", "max-password").await;
    let team = max.get("/company").await;
    assert_eq!(team.status, StatusCode::OK, "{}", team.body);
    assert!(!team.body.contains("seats of the plan"));
}

#[tokio::test]
async fn the_audit_pages_offer_a_signed_export_that_verifies() {
    let (tracker, app, key) = platform(ConsoleConfig::default()).await;
    let public = tracker.audit_public_key().unwrap();
    let mut ada = Browser::new(app.clone());
    ada.sign_in(&key, "ada", "ada-password").await;
    let page = ada.get("/company/audit").await;
    assert!(
        page.body.contains("Download the signed export"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&public.to_string()));
    let export = ada.get("/company/audit/export").await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(export.headers[header::CONTENT_TYPE], "application/x-ndjson");
    let report = verify_export(export.body.as_bytes(), &public).unwrap();
    assert!(
        report.events >= 2,
        "the admin's sign-ins at least: {report:?}"
    );

    let mut owner = Browser::new(app.clone());
    owner.sign_in("", OWNER.0, OWNER.1).await;
    assert!(
        owner
            .get("/owner/audit")
            .await
            .body
            .contains("Download the signed export")
    );
    let platform = owner.get("/owner/audit/export").await;
    assert!(verify_export(platform.body.as_bytes(), &public).is_ok());

    let mut bob = Browser::new(app);
    bob.sign_in(&key, "bob", "bob-password").await;
    assert_eq!(
        bob.get("/company/audit/export").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ada.get("/owner/audit/export").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn an_employee_gets_403_on_the_company_pages() {
    let (_, app, key) = platform(ConsoleConfig::default()).await;
    let mut bob = Browser::new(app);
    bob.sign_in(&key, "bob", "bob-password").await;
    for path in [
        "/company/employees",
        "/company/policy",
        "/company/agents",
        "/company/corrections",
        "/company/audit",
        "/company/access-log",
    ] {
        assert_eq!(bob.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn nested_under_a_prefix_the_console_links_and_scopes_its_cookies_there() {
    let (_, console, key) = platform(ConsoleConfig::default()).await;
    let app = Router::new().nest("/console", console);
    let mut b = Browser::new(app);
    let start = b.get("/console").await;
    assert_eq!(start.location.as_deref(), Some("/console/sign-in"));
    let form = b.get("/console/sign-in").await;
    assert!(form.body.contains(r#"action="/console/sign-in""#));
    assert!(form.body.contains(r#"href="/console/assets/console.css""#));
    let csrf = form.csrf();
    let request = Request::post("/console/sign-in")
        .header(header::COOKIE, b.cookie_header())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "company_key={key}&username=bob&password=bob-password&csrf={csrf}"
        )))
        .unwrap();
    let response = b.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.headers()[header::LOCATION], "/console");
    let session = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("tracker_session="))
        .unwrap();
    assert!(session.contains("Path=/console;"), "{session}");
}

/// The id in the `manager:`/`member:` checkbox of `username` on a teams page.
fn checkbox_id(body: &str, username: &str) -> String {
    let row = body.find(&format!("<td>{username}</td>")).unwrap();
    let rest = &body[row..];
    let at = rest.find(r#"name="manager:"#).unwrap() + r#"name="manager:"#.len();
    rest[at..at + 36].to_owned()
}

#[tokio::test]
async fn an_admin_builds_a_team_and_its_manager_sees_only_its_people() {
    let (tracker, app, key) = platform(ConsoleConfig::default()).await;
    for (name, role) in [("max", Role::Manager), ("eve", Role::Employee)] {
        add_user(&tracker, &key, name, role).await;
    }
    let mut admin = Browser::new(app.clone());
    admin.sign_in(&key, "ada", "ada-password").await;
    let page = admin.get("/company/teams").await;
    assert!(page.body.contains("No team yet"));
    let (max, bob) = (
        checkbox_id(&page.body, "max"),
        checkbox_id(&page.body, "bob"),
    );
    let csrf = page.csrf();
    let created = admin
        .post(
            "/company/teams",
            &[
                ("csrf", &csrf),
                ("name", "Support"),
                (&format!("manager:{max}"), "on"),
                (&format!("member:{bob}"), "on"),
            ],
        )
        .await;
    assert_eq!(created.location.as_deref(), Some("/company/teams"));
    let page = admin.get("/company/teams").await;
    assert!(page.body.contains("Managers: max") && page.body.contains("Members: bob"));

    let mut manager = Browser::new(app);
    manager.sign_in(&key, "max", "max-password").await;
    let people = manager.get("/company/employees").await;
    assert_eq!(people.status, StatusCode::OK);
    assert!(people.body.contains("<td>bob</td>"), "its team member");
    assert!(!people.body.contains("<td>eve</td>"), "not in its team");
    assert!(
        !people.body.contains("Add an employee"),
        "a MANAGER manages nobody"
    );
}

/// `name` signed in with its password, as the service sees it.
async fn principal(tracker: &Tracker, key: &str, name: &str) -> tracker_core::Principal {
    let login = LoginRequest {
        company_key: Some(key.into()),
        username: name.into(),
        password: format!("{name}-password"),
    };
    let token = tracker.login(login, None).await.unwrap().token;
    tracker.authenticate(token.expose()).await.unwrap()
}

/// A user `name` of `role` (password `{name}-password`), added by ada.
async fn add_user(tracker: &Tracker, key: &str, name: &str, role: Role) {
    let ada = principal(tracker, key, "ada").await;
    let new = NewUser {
        username: name.into(),
        password: format!("{name}-password"),
        email: None,
        display_name: None,
        role: Some(role),
    };
    tracker.create_user(&ada, new).await.unwrap();
}

/// `name`'s agent, signed in with its password.
async fn agent_of(tracker: &Tracker, key: &str, name: &str) -> AgentContext {
    let login = LoginRequest {
        company_key: Some(key.into()),
        username: name.into(),
        password: format!("{name}-password"),
    };
    let token = tracker.login(login, None).await.unwrap().token;
    tracker.agent(key, token.expose()).await.unwrap()
}

/// A screenshot-sized PNG.
fn png(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The number of body rows of the page's first table.
fn rows(body: &str) -> usize {
    let Some(start) = body.find("<tbody>") else {
        return 0;
    };
    let end = body[start..].find("</tbody>").unwrap() + start;
    body[start..end].matches("<tr>").count()
}

/// Bob's yesterday (in Berlin): an hour of editor time at 10:00 as 60
/// one-minute events, and a screenshot. Returns the day, Bob's id and
/// the screenshot's.
async fn bobs_yesterday(tracker: &Tracker, key: &str) -> (chrono::NaiveDate, UserId, ScreenshotId) {
    let agent = agent_of(tracker, key, "bob").await;
    let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let day = tracker_core::report::local_date(tz, tracker.now()) - chrono::Duration::days(1);
    let ten = tracker_core::report::day_start(tz, day) + chrono::Duration::hours(10);
    let events = (0..60)
        .map(|i| ActivityInput {
            id: ActivityId::new(),
            session_id: None,
            started_at: ten + chrono::Duration::minutes(i),
            duration_seconds: 60,
            kind: ActivityKind::Active,
            app: Some("editor".into()),
            window_title: None,
            url: Some("https://docs.example.com/plan".into()),
        })
        .collect();
    tracker
        .upload_activity(&agent, ActivityBatch { events })
        .await
        .unwrap();
    let shot = tracker
        .upload_screenshot(
            &agent,
            ScreenshotUpload {
                id: ScreenshotId::new(),
                taken_at: ten + chrono::Duration::minutes(30),
                blurred: true,
            },
            png(1280, 720),
        )
        .await
        .unwrap()
        .stored;
    (day, agent.principal().user_id(), shot.id)
}

#[tokio::test]
async fn an_admin_reads_reports_lists_screenshots_and_alerts() {
    let (tracker, app, key) = platform(ConsoleConfig::default()).await;
    let (day, bob, shot) = bobs_yesterday(&tracker, &key).await;
    let mut ada = Browser::new(app);
    ada.sign_in(&key, "ada", "ada-password").await;

    let month = ada
        .get(&format!("/company/reports?month={}", day.format("%Y-%m")))
        .await;
    assert_eq!(month.status, StatusCode::OK, "{}", month.body);
    assert!(month.body.contains(r#"<table class="heat">"#));
    assert!(
        month.body.contains(r#"<td class="h1">1.0</td>"#),
        "an hour on one day"
    );
    assert!(month.body.contains(r#"<td class="total">1.0</td>"#));

    let one_day = ada
        .get(&format!("/company/reports/day?user={bob}&date={day}"))
        .await;
    assert_eq!(one_day.status, StatusCode::OK, "{}", one_day.body);
    assert!(one_day.body.contains("1 h 00 min") && one_day.body.contains(r#"class="timeline""#));
    assert!(
        one_day
            .body
            .contains(&format!("/company/screenshots/{shot}/thumbnail"))
    );

    let usage = ada
        .get(&format!("/company/reports/usage?from={day}&to={day}"))
        .await;
    assert!(usage.body.contains("editor") && usage.body.contains("docs.example.com"));
    let backwards = ada
        .get(&format!(
            "/company/reports/usage?from={day}&to={}",
            day - chrono::Duration::days(3)
        ))
        .await;
    assert_eq!(backwards.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(backwards.body.contains("before it starts"));

    let company = agent_of(&tracker, &key, "bob")
        .await
        .principal()
        .company_id()
        .unwrap();
    tracker.aggregate_usage(company, day, day).await.unwrap();
    let numbers = ada
        .get(&format!("/company/reports/company?from={day}&to={day}"))
        .await;
    assert!(numbers.body.contains(r#"class="columns""#) && numbers.body.contains("1 h 00 min"));

    let csv = ada
        .get(&format!(
            "/company/exports/timesheet.csv?from={day}&to={day}"
        ))
        .await;
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(
        csv.body
            .lines()
            .any(|l| l.contains("bob") && l.contains(&day.to_string()))
    );

    // Activity pages by 50, keeping its filters.
    let first = ada
        .get(&format!("/company/activity?user={bob}&from={day}&to={day}"))
        .await;
    assert_eq!(rows(&first.body), 50);
    let next = first.body.find(r#"rel="next""#).map(|at| {
        let href = first.body[..at].rfind("href=\"").unwrap() + 6;
        first.body[href..first.body[href..].find('"').unwrap() + href].replace("&amp;", "&")
    });
    let next = next.expect("a next page");
    assert!(next.contains(&format!("user={bob}")), "{next}");
    let second = ada.get(&next).await;
    assert_eq!(rows(&second.body), 10);
    assert!(!second.body.contains(r#"rel="next""#));
    let bad = ada.get("/company/sessions?from=yesterday").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("first day"), "the bad field is named");

    // The gallery's thumbnail is a small JPEG, the same on each view.
    let gallery = ada.get(&format!("/company/screenshots?date={day}")).await;
    assert!(
        gallery
            .body
            .contains(&format!("/company/screenshots/{shot}/thumbnail"))
    );
    assert!(gallery.body.contains("blurred"));
    let thumb = ada
        .get(&format!("/company/screenshots/{shot}/thumbnail"))
        .await;
    assert_eq!(thumb.headers[header::CONTENT_TYPE], "image/jpeg");
    let again = ada
        .get(&format!("/company/screenshots/{shot}/thumbnail"))
        .await;
    assert_eq!(thumb.body, again.body);
    let full = ada.get(&format!("/company/screenshots/{shot}")).await;
    assert_eq!(full.headers[header::CONTENT_TYPE], "image/png");
    assert!(full.body.len() > thumb.body.len());

    // Alerts, and a webhook whose secret is written, never shown.
    let alerts = ada.get("/company/alerts").await;
    assert!(alerts.body.contains("No alert matches."));
    let settings = ada.get("/company/alerts/settings").await;
    let csrf = settings.csrf();
    let secret = "a-long-enough-webhook-secret";
    let saved = ada
        .post(
            "/company/alerts/settings",
            &[
                ("csrf", &csrf),
                ("no_sync_enabled", "on"),
                ("no_sync_hours", "12"),
                ("offline_minutes", "30"),
                ("high_idle_percent", "60"),
                ("high_idle_min_minutes", "120"),
                ("url0", "https://hooks.example.com/tracker"),
                ("format0", "slack"),
                ("secret0", secret),
            ],
        )
        .await;
    assert_eq!(saved.location.as_deref(), Some("/company/alerts/settings"));
    let settings = ada.get("/company/alerts/settings").await;
    assert!(settings.body.contains("https://hooks.example.com/tracker"));
    assert!(settings.body.contains("A secret is stored"));
    assert!(!settings.body.contains(secret), "the secret is never shown");
    assert!(settings.body.contains(r#"value="12""#));
    let short = ada
        .post(
            "/company/alerts/settings",
            &[
                ("csrf", &csrf),
                ("no_sync_hours", "0"),
                ("offline_minutes", "30"),
                ("high_idle_percent", "60"),
                ("high_idle_min_minutes", "120"),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.body.contains("no_sync_hours"));

    // A new password for Bob, who lost his.
    let page = ada.get(&format!("/company/employees/{bob}")).await;
    let csrf = page.csrf();
    let reset = ada
        .post(
            &format!("/company/employees/{bob}"),
            &[("csrf", &csrf), ("password", "a-brand-new-password")],
        )
        .await;
    assert_eq!(reset.location, Some(format!("/company/employees/{bob}")));
    let login = LoginRequest {
        company_key: Some(key.clone()),
        username: "bob".into(),
        password: "a-brand-new-password".into(),
    };
    assert!(tracker.login(login, None).await.is_ok());
}

#[tokio::test]
async fn a_manager_sees_only_its_team_and_an_employee_no_company_page() {
    let (tracker, app, key) = platform(ConsoleConfig::default()).await;
    let (day, bob, shot) = bobs_yesterday(&tracker, &key).await;
    add_user(&tracker, &key, "max", Role::Manager).await;
    let mut max = Browser::new(app.clone());
    max.sign_in(&key, "max", "max-password").await;
    for path in [
        format!("/company/screenshots/{shot}"),
        format!("/company/screenshots/{shot}/thumbnail"),
        format!("/company/reports/day?user={bob}&date={day}"),
        format!("/company/activity?user={bob}"),
        format!("/company/exports/timesheet.csv?user={bob}"),
    ] {
        assert_eq!(max.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let month = max
        .get(&format!("/company/reports?month={}", day.format("%Y-%m")))
        .await;
    assert_eq!(month.status, StatusCode::OK);
    assert!(!month.body.contains(">bob<"), "not in its team");
    let gallery = max.get(&format!("/company/screenshots?date={day}")).await;
    assert!(gallery.body.contains("No screenshot on this day."));
    for path in [
        "/company/alerts",
        "/company/alerts/settings",
        "/company/reports/company",
    ] {
        assert_eq!(max.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }

    let mut bob = Browser::new(app);
    bob.sign_in(&key, "bob", "bob-password").await;
    for path in [
        "/company",
        "/company/reports",
        "/company/reports/day",
        "/company/reports/usage",
        "/company/exports",
        "/company/exports/timesheet.csv",
        "/company/sessions",
        "/company/activity",
        "/company/screenshots",
        "/company/alerts",
        "/company/tasks",
        "/company/teams",
    ] {
        assert_eq!(bob.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    // Its own screenshot it reaches through its own pages.
    let own = bob.get(&format!("/me/screenshots/{shot}")).await;
    assert_eq!(own.status, StatusCode::OK);
}

/// The policy form's fields as a browser sends them, with `changes`.
fn policy_form<'a>(csrf: &'a str, changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("csrf", csrf),
        ("screenshot_interval_seconds", "600"),
        ("website_tracking_enabled", "on"),
        ("url_detail", "full"),
        ("app_tracking_enabled", "on"),
        ("window_titles", "keep"),
        ("title_patterns", ""),
        ("idle_threshold_seconds", "300"),
        ("notice_days", "0"),
    ];
    for (name, value) in changes {
        match form.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value,
            None => form.push((name, value)),
        }
    }
    form
}

#[tokio::test]
async fn an_announced_change_waits_for_the_employees_acknowledgement() {
    let (_, app, key) = platform(ConsoleConfig::default()).await;
    let mut ada = Browser::new(app.clone());
    ada.sign_in(&key, "ada", "ada-password").await;
    let page = ada.get("/company/policy").await;
    assert!(page.body.contains("Save as version 2"));
    assert!(page.body.contains(r#"<option value="full" selected>"#));
    assert!(page.body.contains(r#"name="notice_days" value="0""#));
    let csrf = page.csrf();

    // Less: no screenshots, a week's notice, acknowledgement asked. At once.
    let less = policy_form(
        &csrf,
        &[("notice_days", "7"), ("require_acknowledgement", "on")],
    );
    let saved = ada.post("/company/policy", &less).await;
    assert_eq!(
        saved.location.as_deref(),
        Some("/company/policy?saved=1"),
        "{}",
        saved.body
    );
    let page = ada.get("/company/policy?saved=1").await;
    assert!(page.body.contains("Saved as version 2."), "{}", page.body);
    assert!(page.body.contains("<li>No screenshots are taken.</li>"));
    assert!(!page.body.contains("Announced: version"));

    // More: screenshots again, titles redacted. Announced, not in force.
    let more = policy_form(
        &csrf,
        &[
            ("notice_days", "7"),
            ("require_acknowledgement", "on"),
            ("screenshots_enabled", "on"),
            ("window_titles", "redact"),
            ("title_patterns", "salary\r\n  \r\ninbox\r\n"),
        ],
    );
    ada.post("/company/policy", &more).await;
    let page = ada.get("/company/policy?saved=1").await;
    assert!(
        page.body.contains("Version 3 is announced; applies from ")
            && page.body.contains(", after each employee acknowledges it."),
        "{}",
        page.body
    );
    assert!(page.body.contains("Version 2 stays in force until then."));
    assert!(
        page.body.contains("<li>No screenshots are taken.</li>"),
        "2 is in force"
    );
    assert!(
        page.body
            .contains("It collects more than version 2, in force:")
    );
    assert!(page.body.contains("<li>screenshots are taken</li>"));
    assert!(page.body.contains("0 of 2 active people."));
    assert!(
        page.body.contains("Save as version 4"),
        "the next after the newest announced"
    );
    // The form starts from version 3, the newest announced.
    assert!(
        page.body
            .contains(r#"name="screenshots_enabled" value="on" checked"#)
    );
    assert!(page.body.contains(r#"<option value="redact" selected>"#));
    assert!(
        page.body.contains(">salary\ninbox</textarea>"),
        "one a line"
    );
    let bad = ada
        .post(
            "/company/policy",
            &policy_form(&csrf, &[("url_detail", "everything")]),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("not one of the choices"));

    // Bob reads what it collects more, and from when.
    let mut bob = Browser::new(app);
    bob.sign_in(&key, "bob", "bob-password").await;
    let page = bob.get("/me/policy").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("A change is announced"));
    assert!(page.body.contains("Version 3 of the policy collects more"));
    assert!(page.body.contains("<li>screenshots are taken</li>"));
    assert!(page.body.contains("It may apply from <strong>"));
    assert!(
        page.body
            .contains("(Europe/Berlin), and to you only once you acknowledge it.")
    );
    assert!(page.body.contains("not acknowledged"));
    assert!(
        page.body
            .contains(r#"<input type="hidden" name="version" value="3">"#)
    );
    assert!(
        page.body.contains("<li>No screenshots are taken.</li>"),
        "what applies to bob"
    );
    assert!(
        page.body
            .contains("window titles are kept with the parts matching 2 patterns redacted")
    );
    let csrf = page.csrf();
    let forged = bob
        .post(
            "/me/policy/acknowledge",
            &[("csrf", "forged"), ("version", "3")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let old = bob
        .post(
            "/me/policy/acknowledge",
            &[("csrf", &csrf), ("version", "2")],
        )
        .await;
    assert_eq!(old.status, StatusCode::CONFLICT);
    assert!(old.body.contains("the newest is version 3"), "{}", old.body);
    assert!(
        bob.get("/me/policy")
            .await
            .body
            .contains("not acknowledged")
    );

    let done = bob
        .post(
            "/me/policy/acknowledge",
            &[("csrf", &csrf), ("version", "3")],
        )
        .await;
    assert_eq!(done.location.as_deref(), Some("/me/policy?acknowledged=1"));
    let page = bob.get("/me/policy?acknowledged=1").await;
    assert!(
        page.body
            .contains("Your acknowledgement of version 3 is recorded (")
    );
    assert!(page.body.contains("You acknowledged this change on "));
    assert!(
        !page.body.contains("I have read this change"),
        "nothing left to do"
    );
    assert!(
        page.body.contains("<li>No screenshots are taken.</li>"),
        "still version 2 until the notice ends"
    );

    let page = ada.get("/company/policy").await;
    assert!(page.body.contains("1 of 2 active people."), "{}", page.body);
    let row = &page.body[page.body.find("(bob)</td>").unwrap()..];
    assert!(row[..row.find("</tr>").unwrap()].contains("yes"));
}

#[tokio::test]
async fn a_person_sees_who_read_their_data_and_an_admin_the_whole_log() {
    let (tracker, app, key) = platform(ConsoleConfig::default()).await;
    let (day, bob, _) = bobs_yesterday(&tracker, &key).await;
    let mut b = Browser::new(app.clone());
    b.sign_in(&key, "bob", "bob-password").await;
    let nav = b.get("/me/policy").await;
    assert!(nav.body.contains(r#"href="/me/access-log""#));
    // Its own reads are not recorded.
    b.get(&format!("/me/day?date={day}")).await;
    let empty = b.get("/me/access-log").await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert!(
        empty
            .body
            .contains("Nobody else's read of your data is on record.")
    );

    let mut ada = Browser::new(app.clone());
    ada.sign_in(&key, "ada", "ada-password").await;
    let read = ada
        .get(&format!("/company/activity?user={bob}&from={day}&to={day}"))
        .await;
    assert_eq!(read.status, StatusCode::OK);

    let log = b.get("/me/access-log").await;
    assert_eq!(rows(&log.body), 1, "{}", log.body);
    assert!(
        log.body
            .contains("<td>ada</td><td>activity, apps and websites</td>")
    );
    let today = chrono::Utc::now().date_naive();
    assert!(
        log.body.contains(&format!("<td>{today}</td><td>50</td>")),
        "{}",
        log.body
    );

    let company = ada.get("/company/access-log").await;
    assert_eq!(company.status, StatusCode::OK, "{}", company.body);
    assert!(
        company.body.contains(r#"href="/company/access-log""#),
        "in the nav"
    );
    assert!(
        company
            .body
            .contains("<td>ada</td><td>&lt;script&gt;alert(1)&lt;/script&gt; (bob)</td>"),
        "names escaped: {}",
        company.body
    );
    let ada_id = principal(&tracker, &key, "ada").await.user_id();
    let theirs = ada
        .get(&format!("/company/access-log?subject={ada_id}"))
        .await;
    assert!(theirs.body.contains("No read matches."));
    let by_ada = ada
        .get(&format!("/company/access-log?reader={ada_id}"))
        .await;
    assert_eq!(rows(&by_ada.body), 1);
    let nonsense = ada.get("/company/access-log?reader=nobody").await;
    assert_eq!(nonsense.status, StatusCode::NOT_FOUND);

    // A MANAGER reads no company log.
    add_user(&tracker, &key, "max", Role::Manager).await;
    let mut max = Browser::new(app);
    max.sign_in(&key, "max", "max-password").await;
    assert_eq!(
        max.get("/company/access-log").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn an_employee_downloads_all_its_data_as_a_tar_closed_by_its_manifest() {
    let (tracker, app, key) = platform(ConsoleConfig::default()).await;
    bobs_yesterday(&tracker, &key).await;
    let mut bob = Browser::new(app.clone());
    bob.sign_in(&key, "bob", "bob-password").await;
    for page in ["/me/policy", "/me/account"] {
        let page = bob.get(page).await;
        assert!(page.body.contains(r#"href="/me/archive.tar" download"#));
    }
    let tar = bob.get("/me/archive.tar").await;
    assert_eq!(tar.status, StatusCode::OK, "{}", tar.body);
    assert_eq!(tar.headers[header::CONTENT_TYPE], "application/x-tar");
    let disposition = tar.headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(disposition.contains("my-data.tar"), "{disposition}");
    assert!(
        tar.headers.contains_key("set-cookie"),
        "the session goes on"
    );
    let mut archive = tar::Archive::new(tar.bytes.as_slice());
    let mut files = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        files.push((name, bytes));
    }
    let (last, manifest) = files.last().expect("files");
    assert_eq!(last, "manifest.json");
    let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    let listed = manifest.to_string();
    for (name, _) in &files[..files.len() - 1] {
        assert!(listed.contains(name.as_str()), "{name} in {listed}");
    }
    assert!(
        files.iter().any(|(_, b)| b.starts_with(b"\x89PNG")),
        "the screenshot's picture, byte for byte"
    );

    let mut owner = Browser::new(app);
    owner.sign_in("", OWNER.0, OWNER.1).await;
    assert_eq!(
        owner.get("/me/archive.tar").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_held_person_is_erased_only_once_the_hold_is_released() {
    let (tracker, app, key) = platform(ConsoleConfig::default()).await;
    let (_, bob, _) = bobs_yesterday(&tracker, &key).await;
    let mut b = Browser::new(app.clone());
    b.sign_in(&key, "bob", "bob-password").await;
    let mut ada = Browser::new(app);
    ada.sign_in(&key, "ada", "ada-password").await;
    let at = format!("/company/employees/{bob}");
    let page = ada.get(&at).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Place a legal hold") && page.body.contains("Erase this person"));
    assert!(
        page.body
            .contains(r#"name="understood" value="yes" required"#)
    );
    let csrf = page.csrf();

    // The box, the CSRF token: each is needed.
    let unticked = ada.post(&format!("{at}/erase"), &[("csrf", &csrf)]).await;
    assert_eq!(unticked.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unticked.body.contains("Nothing was deleted."));
    let forged = ada
        .post(
            &format!("{at}/erase"),
            &[("csrf", "forged"), ("understood", "yes")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let forged = ada
        .post(
            &format!("{at}/legal-hold"),
            &[("csrf", "forged"), ("reason", "Case 42")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        ada.get(&at).await.body.contains("Place a legal hold"),
        "no hold"
    );

    let held = ada
        .post(
            &format!("{at}/legal-hold"),
            &[("csrf", &csrf), ("reason", "Case 42 <b>court</b>")],
        )
        .await;
    assert_eq!(held.location.as_deref(), Some(at.as_str()));
    let page = ada.get(&at).await;
    assert!(page.body.contains("on hold") && page.body.contains("placed by ada"));
    assert!(
        page.body
            .contains("Reason: Case 42 &lt;b&gt;court&lt;/b&gt;")
    );
    assert!(page.body.contains("Release the hold"));
    assert!(
        page.body
            .contains("Erasure is refused while the legal hold is in place")
    );
    assert!(!page.body.contains(r#"name="understood""#), "no erase form");
    let list = ada.get("/company/employees").await;
    assert!(list.body.contains("legal hold"));
    let refused = ada
        .post(
            &format!("{at}/erase"),
            &[("csrf", &csrf), ("understood", "yes")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.body.contains("under a legal hold"),
        "{}",
        refused.body
    );
    assert_eq!(
        b.get("/me/day").await.status,
        StatusCode::OK,
        "nothing erased"
    );

    let released = ada
        .post(&format!("{at}/release-hold"), &[("csrf", &csrf)])
        .await;
    assert_eq!(released.location.as_deref(), Some(at.as_str()));
    let page = ada.get(&at).await;
    assert!(page.body.contains("Place a legal hold") && !page.body.contains("on hold"));
    let again = ada
        .post(&format!("{at}/release-hold"), &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let erased = ada
        .post(
            &format!("{at}/erase"),
            &[("csrf", &csrf), ("understood", "yes")],
        )
        .await;
    assert_eq!(erased.location, Some(format!("{at}?erased=1")));
    let page = ada.get(&format!("{at}?erased=1")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("The person is erased."));
    assert!(page.body.contains("Kept in the audit log as event "));
    assert!(
        page.body.contains("<dt>Activity events</dt><dd>60</dd>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<dt>Screenshots</dt><dd>1 ("));
    let digest = {
        let at = page.body.find(r#"<code class="key">"#).unwrap() + 18;
        page.body[at..at + 64].to_owned()
    };
    assert!(digest.bytes().all(|c| c.is_ascii_hexdigit()), "{digest}");
    // A tombstone: no name, and nothing left to do with it.
    assert!(!page.body.contains("alert(1)"));
    for gone in [
        "Reset the password",
        "Place a legal hold",
        "Erase this person",
        "Save",
    ] {
        assert!(!page.body.contains(&format!(">{gone}<")), "{gone}");
    }
    let list = ada.get("/company/employees").await;
    assert!(list.body.contains("erased"));
    for action in ["role", "deactivate", "reactivate"] {
        assert!(!list.body.contains(&format!("{at}/{action}")), "{action}");
    }
    // Their session died with the erasure.
    assert_eq!(
        b.get("/me/day").await.location.as_deref(),
        Some("/sign-in?ended=revoked")
    );
    let twice = ada
        .post(
            &format!("{at}/erase"),
            &[("csrf", &csrf), ("understood", "yes")],
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    // Nobody erases themselves.
    let ada_id = principal(&tracker, &key, "ada").await.user_id();
    let own = ada.get(&format!("/company/employees/{ada_id}")).await;
    assert!(!own.body.contains("Erase this person"));
}

#[tokio::test]
async fn an_employee_cannot_hold_or_erase_anyone() {
    let (tracker, app, key) = platform(ConsoleConfig::default()).await;
    let ada = principal(&tracker, &key, "ada").await.user_id();
    let mut bob = Browser::new(app);
    bob.sign_in(&key, "bob", "bob-password").await;
    let csrf = bob.get("/me/policy").await.csrf();
    let page = bob.get(&format!("/company/employees/{ada}")).await;
    assert!(
        matches!(page.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{}",
        page.status
    );
    for (action, form) in [
        (
            "legal-hold",
            vec![("csrf", csrf.as_str()), ("reason", "mine")],
        ),
        ("release-hold", vec![("csrf", csrf.as_str())]),
        (
            "erase",
            vec![("csrf", csrf.as_str()), ("understood", "yes")],
        ),
    ] {
        let refused = bob
            .post(&format!("/company/employees/{ada}/{action}"), &form)
            .await;
        // Another person is not even found by an employee.
        assert!(
            matches!(
                refused.status,
                StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
            ),
            "{action}: {}",
            refused.status
        );
    }
    let admin = principal(&tracker, &key, "ada").await;
    let stored = tracker.get_user(&admin, ada).await.unwrap();
    assert_eq!(stored.privacy.legal_hold, None);
    assert_eq!(stored.privacy.erased_at, None);
    let unknown = bob
        .post(
            "/company/employees/not-an-id/erase",
            &[("csrf", &csrf), ("understood", "yes")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_policy_form_keeps_each_kind_for_its_days() {
    let (_, app, key) = platform(ConsoleConfig::default()).await;
    let mut ada = Browser::new(app.clone());
    ada.sign_in(&key, "ada", "ada-password").await;
    let page = ada.get("/company/policy").await;
    assert!(page.body.contains(r#"name="screenshots_days""#));
    let csrf = page.csrf();
    // Shorter screenshots, the rest as the company keeps them: at once.
    let shorter = policy_form(
        &csrf,
        &[
            ("screenshots_enabled", "on"),
            ("screenshots_days", "7"),
            ("details_days", ""),
            ("activity_days", ""),
            ("sessions_days", ""),
        ],
    );
    let saved = ada.post("/company/policy", &shorter).await;
    assert_eq!(saved.location.as_deref(), Some("/company/policy?saved=1"));
    let page = ada.get("/company/policy").await;
    assert!(
        page.body.contains(r#"name="screenshots_days" value="7""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("kept for 7 days"), "explained");
    // Longer than the company's retention, or not a number: refused, named.
    let over = policy_form(&csrf, &[("screenshots_days", "400")]);
    let refused = ada.post("/company/policy", &over).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("retention.screenshots_days"),
        "{}",
        refused.body
    );
    let word = policy_form(&csrf, &[("activity_days", "a week")]);
    let refused = ada.post("/company/policy", &word).await;
    assert!(
        refused.body.contains("is not a number of days"),
        "{}",
        refused.body
    );
    let page = ada.get("/company/policy").await;
    assert!(page.body.contains(r#"name="screenshots_days" value="7""#));
}
