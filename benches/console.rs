//! The console's heaviest pages, rendered in process on a SQLite database
//! of one company of 200 employees with 30 days of data: the OWNER's
//! dashboard and one employee's My Day. Each iteration is one request
//! through the router (session check, service calls, HTML), so the time is
//! the server's time for the page.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, header};
use common::{build_users, now};
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;
use tracker_console::Console;
use tracker_core::store::Store;
use tracker_core::{Argon2Hasher, ManualClock, Tracker};
use tracker_sqlite::SqliteStore;

const EMPLOYEES: usize = 200;

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
    // The same file behind the console, as the reference server holds it.
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let tracker = Arc::new(
        Tracker::builder_shared(store)
            .clock(ManualClock::new(now()))
            .password_hasher(Argon2Hasher::insecure_fast())
            .build(),
    );
    // The usage rows the dashboard reads, as the usage job leaves them.
    let run = rt.block_on(tracker.aggregate_pending_usage()).unwrap();
    assert!(run.days > 0, "usage computed");
    let app = Console::new(Arc::clone(&tracker)).router();
    let owner = rt.block_on(sign_in(&app, "", "operator", "operator-password"));
    let employee = rt.block_on(sign_in(&app, &key, "user000", "user-password"));

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
    let day = chrono::NaiveDate::from_ymd_opt(2026, 4, 15);
    let bob = rt.block_on(async {
        let login = tracker
            .login(
                tracker_core::protocol::LoginRequest {
                    company_key: Some(key.clone()),
                    username: "user000".into(),
                    password: "user-password".into(),
                },
                None,
            )
            .await
            .unwrap();
        tracker.authenticate(login.token.expose()).await.unwrap()
    });
    g.bench_function("my_day_service_call", |b| {
        b.iter(|| rt.block_on(tracker.my_day(&bob, day)).unwrap())
    });
    g.finish();
}

criterion_group!(console, benches);
criterion_main!(console);
