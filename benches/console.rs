//! The console's heaviest pages, rendered in process on a SQLite database
//! of one company of 200 employees with 30 days of data: the OWNER's
//! dashboard, one employee's My Day, and, signed in as the company's ADMIN,
//! the month heat map of April and the screenshot gallery of one day
//! (everyone's, first page of 50). Each iteration is one request through
//! the router (session check, service calls, HTML), so the time is the
//! server's time for the page; the thumbnails' images are not fetched.

mod common;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use common::{build_users, events_per_day, now};
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;
use tracker_console::Console;
use tracker_core::protocol::{LoginRequest, ScreenshotUpload, TrackingQuery};
use tracker_core::store::Store;
use tracker_core::testkit::PNG;
use tracker_core::{
    Argon2Hasher, ManualClock, MemoryBlobStore, PageRequest, Principal, ScreenshotId, Tracker,
};
use tracker_sqlite::SqliteStore;

const EMPLOYEES: usize = 200;

/// The gallery's day: uploads older than 14 days are refused, so a day
/// near the bench's `now()` (April 30) rather than My Day's April 15.
const GALLERY_DAY: (i32, u32, u32) = (2026, 4, 29);

/// One screenshot every this many minutes of tracked time.
const SCREENSHOT_MINUTES: usize = 10;

/// The session cookie a sign-in through the form answers with.
async fn sign_in(app: &axum::Router, key: &str, username: &str, password: &str) -> String {
    let form = app
        .clone()
        .oneshot(Request::get("/sign-in").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let cookie = form.headers()[header::SET_COOKIE].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let body = axum::body::to_bytes(form.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();
    let at = body.find(r#"name="csrf" value=""#).unwrap() + 19;
    let csrf = &body[at..at + 32];
    let fields = format!("company_key={key}&username={username}&password={password}&csrf={csrf}");
    let signed = app
        .clone()
        .oneshot(
            Request::post("/sign-in")
                .header(header::COOKIE, &cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(fields))
                .unwrap(),
        )
        .await
        .unwrap();
    let session = signed
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("tracker_session="))
        .expect("signed in");
    session.split(';').next().unwrap().to_owned()
}

/// The status and HTML of a page.
async fn page(app: &axum::Router, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = app
        .clone()
        .oneshot(
            Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn get(app: &axum::Router, cookie: &str, path: &str) -> usize {
    let response = app
        .clone()
        .oneshot(
            Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .len()
}

/// The principal of a login, for the service-call baselines.
async fn principal<S: Store + ?Sized>(
    tracker: &Tracker<S>,
    key: &str,
    username: &str,
    password: &str,
) -> Principal {
    let login = tracker
        .login(
            LoginRequest {
                company_key: Some(key.to_owned()),
                username: username.into(),
                password: password.into(),
            },
            None,
        )
        .await
        .unwrap();
    tracker.authenticate(login.token.expose()).await.unwrap()
}

/// Each employee's agent uploads a screenshot every [`SCREENSHOT_MINUTES`]
/// of its tracked time on `day` (events run back to back from 08:00, one a
/// minute), as the agents would through the API. Returns how many.
async fn upload_screenshots<S: Store + ?Sized>(
    tracker: &Tracker<S>,
    key: &str,
    day: NaiveDate,
) -> usize {
    let started = Instant::now();
    let first = Utc.from_utc_datetime(&day.and_hms_opt(8, 0, 0).unwrap());
    let minutes: Vec<usize> = (0..events_per_day()).step_by(SCREENSHOT_MINUTES).collect();
    let mut count = 0;
    for i in 0..EMPLOYEES {
        let username = format!("user{i:03}");
        let login = tracker
            .login(
                LoginRequest {
                    company_key: Some(key.to_owned()),
                    username,
                    password: "user-password".into(),
                },
                None,
            )
            .await
            .unwrap();
        let agent = tracker.agent(key, login.token.expose()).await.unwrap();
        for &m in &minutes {
            let meta = ScreenshotUpload {
                id: ScreenshotId::new(),
                taken_at: first + Duration::minutes(m as i64),
                blurred: false,
            };
            let shot = tracker
                .upload_screenshot(&agent, meta, PNG.to_vec())
                .await
                .unwrap();
            assert!(shot.inserted);
            count += 1;
        }
    }
    eprintln!(
        "uploaded {count} screenshots ({EMPLOYEES} users x {}) in {:.1?}",
        minutes.len(),
        started.elapsed()
    );
    count
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("console.db");
    let key = {
        let world = rt.block_on(build_users(SqliteStore::open(&path).unwrap(), EMPLOYEES));
        world.key
    };
    // The same file behind the console, as the reference server holds it;
    // a blob store, since without one screenshots are refused.
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let tracker = Arc::new(
        Tracker::builder_shared(store)
            .clock(ManualClock::new(now()))
            .password_hasher(Argon2Hasher::insecure_fast())
            .blobs(Arc::new(MemoryBlobStore::default()))
            .build(),
    );
    let (y, m, d) = GALLERY_DAY;
    let gallery_day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let shots = rt.block_on(upload_screenshots(&tracker, &key, gallery_day));
    assert!(shots >= 50, "a full first page");
    // The usage rows the dashboard reads, as the usage job leaves them.
    let run = rt.block_on(tracker.aggregate_pending_usage()).unwrap();
    assert!(run.days > 0, "usage computed");
    let app = Console::new(Arc::clone(&tracker)).router();
    let owner = rt.block_on(sign_in(&app, "", "operator", "operator-password"));
    let employee = rt.block_on(sign_in(&app, &key, "user000", "user-password"));
    let admin = rt.block_on(sign_in(&app, &key, "admin", "admin-password"));

    // The 30 days are April's 1st to 30th: the heat map shows all of them.
    let month = "/company/reports?month=2026-04";
    let gallery = format!("/company/screenshots?date={gallery_day}");
    // Checked once so that no timing is of an error page or an empty one.
    let (status, html) = rt.block_on(page(&app, &admin, month));
    assert_eq!(status, StatusCode::OK, "{month}");
    assert!(html.contains(r#"class="heat""#), "{month}: a heat map");
    assert!(html.contains(">user199<"), "{month}: every employee");
    let (status, html) = rt.block_on(page(&app, &admin, &gallery));
    assert_eq!(status, StatusCode::OK, "{gallery}");
    assert_eq!(
        html.matches(r#"/thumbnail""#).count(),
        50,
        "{gallery}: a full first page"
    );

    let mut g = c.benchmark_group("console");
    g.sample_size(20);
    g.bench_function("owner_dashboard", |b| {
        b.iter(|| rt.block_on(get(&app, &owner, "/owner")))
    });
    g.bench_function("my_day", |b| {
        b.iter(|| rt.block_on(get(&app, &employee, "/me/day?date=2026-04-15")))
    });
    // The baseline of the same run: the service call My Day is made of,
    // without the session check, the other reads and the HTML.
    let day = NaiveDate::from_ymd_opt(2026, 4, 15);
    let bob = rt.block_on(principal(&tracker, &key, "user000", "user-password"));
    g.bench_function("my_day_service_call", |b| {
        b.iter(|| rt.block_on(tracker.my_day(&bob, day)).unwrap())
    });
    // The ADMIN's pages, each with the service call it is built on.
    let boss = rt.block_on(principal(&tracker, &key, "admin", "admin-password"));
    g.bench_function("month_heat_map", |b| {
        b.iter(|| rt.block_on(get(&app, &admin, month)))
    });
    g.bench_function("monthly_report_service_call", |b| {
        b.iter(|| {
            rt.block_on(tracker.monthly_report(&boss, 2026, 4, None))
                .unwrap()
        })
    });
    g.bench_function("screenshot_gallery", |b| {
        b.iter(|| rt.block_on(get(&app, &admin, &gallery)))
    });
    // The page's window: the company's day, and its timezone is UTC.
    let from = Utc.from_utc_datetime(&gallery_day.and_hms_opt(0, 0, 0).unwrap());
    let to = from + Duration::days(1);
    let everyone = TrackingQuery {
        user_id: None,
        from: Some(from),
        to: Some(to),
    };
    g.bench_function("screenshots_service_call", |b| {
        b.iter(|| {
            rt.block_on(tracker.screenshots(&boss, &everyone, &PageRequest::first(50)))
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(console, benches);
criterion_main!(console);
