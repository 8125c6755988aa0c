//! The console in a real browser: headless Chromium driven over WebDriver
//! (chromedriver) against the API and the console on a real port, as the
//! reference server serves them. Each visited page is saved as a 1280x800
//! screenshot under `target/console-screenshots/`, and axe-core (when it is
//! installed, see `.ci/run`) checks each page for serious or critical
//! accessibility violations.
//!
//! Without Chromium and chromedriver the tests say they are skipped; with
//! `CI=true` that is a failure. The OWNER's and the employee's pages are
//! here, the ADMIN's and the MANAGER's in `company`.

mod company;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tracker_axum::testing::send;
use tracker_console::{Console, ConsoleConfig};
use tracker_core::protocol::{
    ActivityBatch, CreateCompany, LoginRequest, NewTask, NewUser, ScreenshotUpload, StartSession,
};
use tracker_core::store::Store;
use tracker_core::testkit::PNG;
use tracker_core::tracking::ActivityInput;
use tracker_core::{
    ActivityId, ActivityKind, Argon2Hasher, MemoryBlobStore, MemoryStore, PolicyUpdate, Principal,
    Role, ScreenshotId, Tracker, WorkSessionId,
};

const OWNER: (&str, &str) = ("operator", "operator-password");

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Where a program is on the PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

/// chromedriver and the browser, or why the test cannot run.
fn browser_programs() -> Option<(PathBuf, PathBuf)> {
    let driver = which("chromedriver");
    let browser = which("chromium").or_else(|| which("chromium-browser"));
    match (driver, browser) {
        (Some(d), Some(b)) => Some((d, b)),
        _ if in_ci() => {
            panic!("CI=true: chromium and chromedriver must be installed (see .ci/run)")
        }
        _ => {
            eprintln!("skipped: chromium and chromedriver are not installed");
            None
        }
    }
}

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver(driver: &PathBuf) -> Driver {
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: tempfile::tempdir().unwrap(),
    }
}

async fn open_browser(driver: &Driver, browser: &PathBuf) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": browser,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,800", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ],
        }),
    );
    let http = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(http)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

/// The API and the console on a real port, over `tracker`, as the
/// reference server mounts them.
async fn serve(tracker: Arc<Tracker>, config: ConsoleConfig) -> String {
    let console = Console::new(Arc::clone(&tracker)).config(config).router();
    let app = tracker_axum::Api::new(tracker)
        .router()
        .fallback_service(console);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

fn tracker() -> Arc<Tracker> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    Arc::new(
        Tracker::builder_shared(store)
            .blobs(Arc::new(MemoryBlobStore::default()))
            .password_hasher(Argon2Hasher::insecure_fast())
            .audit_key(tracker_core::audit::AuditKey::generate().expect("a key"))
            .build(),
    )
}

async fn sign_in_service(tracker: &Tracker, key: Option<&str>, user: &str, pw: &str) -> Principal {
    let login = LoginRequest {
        company_key: key.map(str::to_owned),
        username: user.into(),
        password: pw.into(),
    };
    let token = tracker.login(login, None).await.unwrap().token;
    tracker.authenticate(token.expose()).await.unwrap()
}

/// A company made through the service: its key.
async fn company(tracker: &Tracker, owner: &Principal, name: &str) -> String {
    let created = tracker
        .create_company(
            owner,
            CreateCompany {
                name: name.into(),
                plan: Some("PRO".into()),
                timezone: Some("UTC".into()),
                trial_days: Some(0),
                retention_days: None,
                admin: NewUser {
                    username: "ada".into(),
                    password: "ada-password".into(),
                    email: None,
                    display_name: None,
                    role: None,
                },
            },
        )
        .await
        .unwrap();
    created.company_key.expose().to_owned()
}

/// Saves the page as a screenshot and runs axe-core on it.
struct Camera {
    dir: PathBuf,
    axe: Option<String>,
    shots: usize,
}

impl Camera {
    fn new(test: &str) -> Self {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let dir = target.join("console-screenshots").join(test);
        // A run's pictures only: none of an earlier run's left beside them.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let axe_path = std::env::var_os("AXE_CORE_JS")
            .map(PathBuf::from)
            .unwrap_or_else(|| target.join("axe/node_modules/axe-core/axe.min.js"));
        let axe = std::fs::read_to_string(&axe_path).ok();
        if axe.is_none() {
            if in_ci() {
                panic!("CI=true: axe-core must be at {}", axe_path.display());
            }
            eprintln!(
                "axe-core not found at {}: accessibility not checked",
                axe_path.display()
            );
        }
        Self { dir, axe, shots: 0 }
    }

    async fn take(&mut self, c: &Client, name: &str) {
        self.shots += 1;
        let png = c.screenshot().await.unwrap();
        std::fs::write(self.dir.join(format!("{:02}-{name}.png", self.shots)), png).unwrap();
        let Some(axe) = &self.axe else { return };
        c.execute(axe, vec![]).await.unwrap();
        let result = c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(r => done(r.violations
                        .filter(v => v.impact === 'serious' || v.impact === 'critical')
                        .map(v => v.id + ': ' + v.help + ' (' + v.nodes.length + ')')))
                    .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .unwrap();
        let violations: Vec<String> = serde_json::from_value(result).unwrap();
        assert!(violations.is_empty(), "{name}: {violations:?}");
    }
}

async fn fill(c: &Client, name: &str, value: &str) {
    let field = c
        .find(Locator::Css(&format!("[name=\"{name}\"]")))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Clicks `element` and waits for the page it loads.
async fn click_and_wait(c: &Client, element: fantoccini::elements::Element) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    element.click().await.unwrap();
    for _ in 0..100 {
        // The old document's root goes stale once the next page is in.
        if old.tag_name().await.is_err() {
            let ready = c
                .execute("return document.readyState;", vec![])
                .await
                .unwrap();
            if ready == "complete" {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no page loaded after the click");
}

async fn submit(c: &Client, form: &str) {
    let button = c
        .find(Locator::Css(&format!("{form} button[type=submit]")))
        .await
        .unwrap();
    click_and_wait(c, button).await;
}

/// Sets a field's value as a picker would (date and time inputs take
/// typed keys by the browser's locale).
async fn set_value(c: &Client, name: &str, value: &str) {
    c.execute(
        "document.querySelector(`[name=\"${arguments[0]}\"]`).value = arguments[1];",
        vec![json!(name), json!(value)],
    )
    .await
    .unwrap();
}

async fn text(c: &Client) -> String {
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn sign_in(c: &Client, base: &str, key: &str, user: &str, pw: &str) {
    c.goto(&format!("{base}/sign-in")).await.unwrap();
    fill(c, "company_key", key).await;
    fill(c, "username", user).await;
    fill(c, "password", pw).await;
    submit(c, "form[action$='/sign-in']").await;
}

async fn sign_out(c: &Client) {
    submit(c, "form.sign-out").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_creates_a_company_reads_its_key_once_and_suspends_it() {
    let Some((driver, browser)) = browser_programs() else {
        return;
    };
    let tracker = tracker();
    tracker.ensure_default_plans().await.unwrap();
    tracker.bootstrap_owner(OWNER.0, OWNER.1).await.unwrap();
    let base = serve(Arc::clone(&tracker), ConsoleConfig::default()).await;
    let driver = start_driver(&driver).await;
    let c = open_browser(&driver, &browser).await;
    let mut cam = Camera::new("owner");

    c.goto(&base).await.unwrap();
    cam.take(&c, "sign-in").await;
    sign_in(&c, &base, "", OWNER.0, "wrong-password").await;
    assert!(text(&c).await.contains("Check the company key"));
    cam.take(&c, "sign-in-refused").await;
    sign_in(&c, &base, "", OWNER.0, OWNER.1).await;
    assert!(c.current_url().await.unwrap().path().ends_with("/owner"));
    cam.take(&c, "dashboard").await;

    c.goto(&format!("{base}/owner/companies/new"))
        .await
        .unwrap();
    cam.take(&c, "new-company").await;
    fill(&c, "name", "Initech").await;
    fill(&c, "admin_username", "peter").await;
    fill(&c, "admin_password", "peter-password").await;
    submit(&c, "form[action$='/owner/companies']").await;
    let key = c
        .find(Locator::Id("company-key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(key.starts_with("company_") && key.len() == 40, "{key}");
    cam.take(&c, "key-shown-once").await;
    let link = c
        .find(Locator::LinkText("Go to the company"))
        .await
        .unwrap();
    click_and_wait(&c, link).await;
    assert!(!text(&c).await.contains(&key), "the key is shown once only");
    cam.take(&c, "company").await;

    // Suspending asks first; the browser accepts.
    c.execute("window.confirm = () => true;", vec![])
        .await
        .unwrap();
    submit(&c, "form[action$='/suspend']").await;
    assert!(text(&c).await.contains("SUSPENDED"));
    cam.take(&c, "suspended").await;
    c.execute("window.confirm = () => true;", vec![])
        .await
        .unwrap();
    submit(&c, "form[action$='/reactivate']").await;
    assert!(!text(&c).await.contains("SUSPENDED"));

    c.goto(&format!("{base}/owner")).await.unwrap();
    assert!(text(&c).await.contains("Initech"));
    cam.take(&c, "dashboard-with-a-company").await;

    for page in ["reports", "audit", "no-sync"] {
        c.goto(&format!("{base}/owner/{page}")).await.unwrap();
        cam.take(&c, page).await;
    }
    assert!(text(&c).await.contains("No sync"));
    sign_out(&c).await;
    assert!(text(&c).await.contains("You are signed out"));
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_employee_sees_its_day_completes_a_task_and_asks_for_a_correction() {
    let Some((driver, browser)) = browser_programs() else {
        return;
    };
    let tracker = tracker();
    tracker.ensure_default_plans().await.unwrap();
    tracker.bootstrap_owner(OWNER.0, OWNER.1).await.unwrap();
    let owner = sign_in_service(&tracker, None, OWNER.0, OWNER.1).await;
    let key = company(&tracker, &owner, "Acme").await;
    let other_key = company(&tracker, &owner, "Globex").await;
    let admin = sign_in_service(&tracker, Some(&key), "ada", "ada-password").await;
    let bob = tracker
        .create_user(
            &admin,
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
    tracker
        .create_task(
            &admin,
            NewTask {
                title: "Write the quarterly report".into(),
                description: None,
                assignee_id: bob.id,
                due_on: None,
            },
        )
        .await
        .unwrap();
    // Bob's agent uploads an hour of activity ending now, over HTTP, as
    // the agent simulator does.
    let base = serve(Arc::clone(&tracker), ConsoleConfig::default()).await;
    let addr: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let login = tracker
        .login(
            LoginRequest {
                company_key: Some(key.clone()),
                username: "bob".into(),
                password: "bob-password".into(),
            },
            None,
        )
        .await
        .unwrap();
    let bearer = format!("Bearer {}", login.token.expose());
    let agent_headers = [
        ("authorization", bearer.as_str()),
        ("x-company-key", key.as_str()),
        ("content-type", "application/json"),
    ];
    let now = Utc::now();
    let events: Vec<ActivityInput> = (0..12)
        .map(|i| ActivityInput {
            id: ActivityId::new(),
            session_id: None,
            started_at: now - chrono::Duration::minutes(60 - i * 5),
            duration_seconds: 290,
            kind: if i % 4 == 3 {
                ActivityKind::Idle
            } else {
                ActivityKind::Active
            },
            app: Some("editor".into()),
            window_title: None,
            url: Some("https://docs.example.com/report".into()),
        })
        .collect();
    let batch = serde_json::to_vec(&ActivityBatch { events }).unwrap();
    let stored = send(
        addr,
        "POST",
        "/api/v1/agent/activity",
        &agent_headers,
        &batch,
    )
    .await;
    assert_eq!(stored.status, 200, "{:?}", stored.body);
    let session = StartSession {
        id: WorkSessionId::new(),
        started_at: now - chrono::Duration::minutes(61),
    };
    let session = serde_json::to_vec(&session).unwrap();
    let opened = send(
        addr,
        "POST",
        "/api/v1/agent/sessions",
        &agent_headers,
        &session,
    )
    .await;
    assert!(
        opened.status == 200 || opened.status == 201,
        "{:?}",
        opened.body
    );
    // A screenshot of another company, which Bob must not reach.
    let their_login = tracker
        .login(
            LoginRequest {
                company_key: Some(other_key.clone()),
                username: "ada".into(),
                password: "ada-password".into(),
            },
            None,
        )
        .await
        .unwrap();
    let their_agent = tracker
        .agent(&other_key, their_login.token.expose())
        .await
        .unwrap();
    let theirs = tracker
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
        .stored;

    let driver = start_driver(&driver).await;
    let c = open_browser(&driver, &browser).await;
    let mut cam = Camera::new("employee");
    sign_in(&c, &base, &key, "bob", "bob-password").await;
    assert!(c.current_url().await.unwrap().path().ends_with("/me/day"));
    let blocks = c
        .find_all(Locator::Css("svg.timeline rect.active"))
        .await
        .unwrap();
    assert!(
        !blocks.is_empty(),
        "My Day shows the uploaded activity as blocks"
    );
    let page = text(&c).await;
    assert!(
        page.contains("<script>alert(1)</script>"),
        "the name is shown as text"
    );
    assert!(page.contains("editor") && page.contains("docs.example.com"));
    cam.take(&c, "my-day").await;

    c.goto(&format!("{base}/me/tasks")).await.unwrap();
    cam.take(&c, "tasks").await;
    fill(&c, "note", "Sent to the board").await;
    submit(&c, "form[action*='/complete']").await;
    assert!(text(&c).await.contains("Note: Sent to the board"));
    cam.take(&c, "task-done").await;

    c.goto(&format!("{base}/me/corrections")).await.unwrap();
    // Yesterday's morning: today's may still be ahead of the clock.
    let yesterday = Utc::now().date_naive() - chrono::Duration::days(1);
    set_value(&c, "date", &yesterday.to_string()).await;
    set_value(&c, "from", "09:00").await;
    set_value(&c, "to", "10:30").await;
    fill(&c, "reason", "Client meeting away from the desk").await;
    submit(&c, "form[action$='/me/corrections']").await;
    let page = text(&c).await;
    assert!(
        page.contains("Client meeting away from the desk") && page.contains("pending"),
        "{page}"
    );
    cam.take(&c, "corrections").await;

    for path in ["agent", "account", "access-log"] {
        c.goto(&format!("{base}/me/{path}")).await.unwrap();
        cam.take(&c, path).await;
    }

    // A change that collects more is announced: Bob reads what it adds and
    // from when, on a desk and on a phone, and acknowledges it.
    for update in [
        PolicyUpdate {
            screenshots_enabled: Some(false),
            notice_days: Some(2),
            require_acknowledgement: Some(true),
            ..PolicyUpdate::default()
        },
        PolicyUpdate {
            screenshots_enabled: Some(true),
            ..PolicyUpdate::default()
        },
    ] {
        tracker.update_policy(&admin, update).await.unwrap();
    }
    c.goto(&format!("{base}/me/policy")).await.unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("A change is announced") && page.contains("screenshots are taken"),
        "{page}"
    );
    assert!(
        page.contains("to you only once you acknowledge it") && page.contains("not acknowledged")
    );
    cam.take(&c, "policy-announced").await;
    c.set_window_size(390, 844).await.unwrap();
    assert!(
        !scrolls_sideways(&c).await,
        "the policy page scrolls sideways at 390 px"
    );
    cam.take(&c, "policy-announced-phone").await;
    submit(&c, "form[action$='/me/policy/acknowledge']").await;
    let page = text(&c).await;
    assert!(
        page.contains("Your acknowledgement of version 3 is recorded"),
        "{page}"
    );
    assert!(!page.contains("I have read this change"));
    cam.take(&c, "policy-acknowledged-phone").await;
    c.set_window_size(1280, 800).await.unwrap();
    let stored = tracker.get_user(&admin, bob.id).await.unwrap();
    assert_eq!(stored.privacy.acknowledged_version, Some(3));

    // Another company's object, another role's page.
    c.goto(&format!("{base}/me/screenshots/{}", theirs.id))
        .await
        .unwrap();
    assert!(
        text(&c).await.contains("Not Found"),
        "another company's screenshot"
    );
    cam.take(&c, "not-found").await;
    c.goto(&format!("{base}/owner")).await.unwrap();
    assert!(text(&c).await.contains("Forbidden"));
    cam.take(&c, "forbidden").await;

    // A form whose CSRF token is gone is refused and changes nothing.
    c.goto(&format!("{base}/me/account")).await.unwrap();
    c.execute(
        "document.querySelector('form[action$=\"/me/account\"] input[name=csrf]').value = 'forged';",
        vec![],
    )
    .await
    .unwrap();
    fill(&c, "display_name", "Mallory").await;
    submit(&c, "form[action$='/me/account']").await;
    assert!(text(&c).await.contains("Form expired"));
    cam.take(&c, "csrf-refused").await;
    let stored = tracker.get_user(&admin, bob.id).await.unwrap();
    assert_eq!(stored.display_name, "<script>alert(1)</script>");

    // A phone's width: the same day, one column, nothing cut off.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{base}/me/day")).await.unwrap();
    assert!(
        !scrolls_sideways(&c).await,
        "no sideways scrolling at 390 px"
    );
    cam.take(&c, "my-day-phone").await;
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_ends_in_the_browser() {
    let Some((driver, browser)) = browser_programs() else {
        return;
    };
    let tracker = tracker();
    tracker.ensure_default_plans().await.unwrap();
    tracker.bootstrap_owner(OWNER.0, OWNER.1).await.unwrap();
    let config = ConsoleConfig {
        idle_timeout: Duration::from_secs(2),
        ..ConsoleConfig::default()
    };
    let base = serve(Arc::clone(&tracker), config).await;
    let driver = start_driver(&driver).await;
    let c = open_browser(&driver, &browser).await;
    let mut cam = Camera::new("session");
    sign_in(&c, &base, "", OWNER.0, OWNER.1).await;
    assert!(c.current_url().await.unwrap().path().ends_with("/owner"));
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    c.goto(&format!("{base}/owner/reports")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/sign-in"));
    assert!(text(&c).await.contains("without activity"));
    cam.take(&c, "session-ended").await;
    c.close().await.unwrap();
}

/// Whether the page is wider than the window (cut off on a phone).
pub(crate) async fn scrolls_sideways(c: &Client) -> bool {
    c.execute(
        "return document.documentElement.scrollWidth > window.innerWidth;",
        vec![],
    )
    .await
    .unwrap()
        == json!(true)
}
