//! Several nodes on one PostgreSQL, each a service with its own pool.
//!
//! - Jobs: three nodes with the store's advisory-lock job leases run every
//!   job over and over while agents upload and heartbeat through all
//!   three and the clock runs four days. Afterwards each job's work was
//!   done once: usage rows equal a full recomputation, one open alert per
//!   subject, one delivery per alert event, one `data_purged` event per
//!   purge, one expiry.
//! - Revocation: what one node revokes (a sign-out, a deactivation, a new
//!   password, a rotated key, a suspension), the other node, which holds
//!   the contexts in memory, refuses within the bound the README states.
//! - Processes: three reference servers on one schema share console
//!   sessions, and one killed (SIGKILL) under the load generator and
//!   started again loses no event the deployment acknowledged, and stores
//!   none twice.
//!
//! Skipped without `DATABASE_URL`; failed without it under `CI=true`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use tracker::audit::AuditChain;
use tracker::notify::{AlertEvent, AlertKind};
use tracker::protocol::{
    ActivityBatch, CreateCompany, HeartbeatRequest, LoginRequest, NewUser, StartSession,
};
use tracker::store::{AgentStore, AuditFilter, Store};
use tracker::tracking::ActivityInput;
use tracker::{
    ActivityId, ActivityKind, AgentContext, Argon2Hasher, AuditAction, CompanyId, ManualClock,
    PageRequest, RecordingNotifier, Role, Tracker, WorkSessionId,
};
use tracker_sqlx::testing::TestStore;
use tracker_sqlx::{PgConfig, PgStore};

const NODES: usize = 3;

/// One test of this file at a time: each runs several nodes (or servers
/// and the load generator) on a machine of two cores, and the figures
/// they hold to (runs, the revocation bound) are not for a machine shared
/// with the others.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const COMPANIES: usize = 3;
const AGENTS: usize = 3;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 6, 0, 0).unwrap()
}

fn login(key: Option<&str>, name: &str) -> LoginRequest {
    LoginRequest {
        company_key: key.map(str::to_owned),
        username: name.into(),
        password: format!("{name}-password"),
    }
}

fn new_user(name: &str, role: Option<Role>) -> NewUser {
    NewUser {
        username: name.into(),
        password: format!("{name}-password"),
        email: None,
        display_name: None,
        role,
    }
}

/// A node: a service over a pool of its own on the test's schema, with
/// the store's advisory-lock leases. The clock and the webhook recorder
/// stand for the world the nodes share.
async fn node(db: &TestStore, clock: &ManualClock, notifier: &Arc<RecordingNotifier>) -> Tracker {
    let store = pool(db, PgConfig::default().token_cache).await;
    let leases = Arc::new(store.job_leases());
    Tracker::builder_shared(Arc::new(store) as Arc<dyn Store>)
        .job_leases(leases)
        .clock(clock.clone())
        .notifier(notifier.clone())
        .password_hasher(Argon2Hasher::insecure_fast())
        .build()
}

/// A store over a pool of its own on the test's schema.
async fn pool(db: &TestStore, token_cache: Option<StdDuration>) -> PgStore {
    let config = PgConfig {
        schema: db.schema().to_owned(),
        run_migrations: false,
        token_cache,
        ..PgConfig::default()
    };
    let url = std::env::var("DATABASE_URL").unwrap_or_default();
    PgStore::connect(&url, config)
        .await
        .expect("a node connects")
}

/// Creates the companies, each with a webhook and agents; company 0 is on
/// a one-day trial, so it expires while the jobs run.
async fn companies(t: &Tracker) -> Vec<(CompanyId, Vec<AgentContext>)> {
    t.ensure_default_plans().await.unwrap();
    t.bootstrap_owner("operator", "operator-password")
        .await
        .unwrap();
    let owner = t.login(login(None, "operator"), None).await.unwrap();
    let owner = t.authenticate(owner.token.expose()).await.unwrap();
    let mut out = Vec::new();
    for n in 0..COMPANIES {
        let created = t
            .create_company(
                &owner,
                CreateCompany {
                    name: format!("Company {n}"),
                    plan: Some("PRO".into()),
                    timezone: Some("Europe/Berlin".into()),
                    trial_days: Some(if n == 0 { 1 } else { 30 }),
                    retention_days: Some(1),
                    admin: new_user("admin", None),
                },
            )
            .await
            .unwrap();
        let key = created.company_key.expose().to_owned();
        let admin = t.login(login(Some(&key), "admin"), None).await.unwrap();
        let admin = t.authenticate(admin.token.expose()).await.unwrap();
        t.update_alert_settings(&admin, support::one_webhook())
            .await
            .unwrap();
        let mut agents = Vec::new();
        for a in 0..AGENTS {
            let name = format!("agent{a}");
            t.create_user(&admin, new_user(&name, Some(Role::Employee)))
                .await
                .unwrap();
            let token = t.login(login(Some(&key), &name), None).await.unwrap();
            let agent = t.agent(&key, token.token.expose()).await.unwrap();
            // An open session is what makes a silent agent an alert.
            let session = StartSession {
                id: WorkSessionId::new(),
                started_at: t.now(),
            };
            t.start_session(&agent, session).await.unwrap();
            agents.push(agent);
        }
        out.push((created.company.id, agents));
    }
    out
}

/// Every job once, as the scheduler runs them.
async fn run_jobs(t: &Tracker) -> Result<(), String> {
    let named = |job: &'static str| move |e: tracker::Error| format!("{job}: {e}");
    t.expire_companies().await.map_err(named("expiry"))?;
    t.aggregate_pending_usage().await.map_err(named("usage"))?;
    t.purge_expired_data(50).await.map_err(named("retention"))?;
    t.check_alerts().await.map_err(named("alerts"))?;
    Ok(())
}

/// An agent's life: a batch of activity, and a heartbeat in every other
/// six-hour stretch (per agent), so offline alerts open and resolve.
async fn agent_loop(
    nodes: Arc<Vec<Tracker>>,
    agent: AgentContext,
    n: usize,
    stop: Arc<AtomicBool>,
) {
    let mut round = n;
    while !stop.load(Ordering::Relaxed) {
        let t = &nodes[round % NODES];
        round += 1;
        let now = t.now();
        let batch = ActivityBatch {
            events: (0..5)
                .map(|i| ActivityInput {
                    id: ActivityId::new(),
                    session_id: None,
                    started_at: now - Duration::minutes(30) + Duration::minutes(5 * i),
                    duration_seconds: 240,
                    kind: if i == 4 {
                        ActivityKind::Idle
                    } else {
                        ActivityKind::Active
                    },
                    app: Some(format!("app{}", i % 2)),
                    window_title: None,
                    url: None,
                })
                .collect(),
        };
        // A company that expired refuses its agents: that is the rule, not
        // a failure of the test.
        match t.upload_activity(&agent, batch).await {
            Ok(_) | Err(tracker::Error::CompanyExpired) => {}
            Err(e) => panic!("upload on node {}: {e}", round % NODES),
        }
        let stretch = (now - start()).num_hours() / 6;
        if (stretch + n as i64) % 2 == 0 {
            let beat = HeartbeatRequest {
                policy_version: None,
                agent_version: None,
            };
            match t.heartbeat(&agent, beat).await {
                Ok(_) | Err(tracker::Error::CompanyExpired) => {}
                Err(e) => panic!("heartbeat: {e}"),
            }
        }
        tokio::time::sleep(StdDuration::from_millis(15)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_run_every_job_at_once_and_each_share_once() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let Some(db) = TestStore::new().await else {
        return;
    };
    let clock = ManualClock::new(start());
    let notifier = Arc::new(RecordingNotifier::default());
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(node(&db, &clock, &notifier).await);
    }
    let nodes = Arc::new(nodes);
    let companies = companies(&nodes[0]).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (c, (_, agents)) in companies.iter().enumerate() {
        for (a, agent) in agents.iter().enumerate() {
            let n = c * AGENTS + a;
            tasks.push(tokio::spawn(agent_loop(
                nodes.clone(),
                agent.clone(),
                n,
                stop.clone(),
            )));
        }
    }
    let mut runners = Vec::new();
    for n in 0..NODES {
        let (nodes, stop) = (nodes.clone(), stop.clone());
        runners.push(tokio::spawn(async move {
            let mut runs = 0u32;
            while !stop.load(Ordering::Relaxed) {
                run_jobs(&nodes[n]).await?;
                runs += 1;
                tokio::time::sleep(StdDuration::from_millis(10)).await;
            }
            Ok::<u32, String>(runs)
        }));
    }
    // Four days in 96 steps: days end, the trial ends, data ages out, and
    // agents fall silent and come back.
    for _ in 0..96 {
        tokio::time::sleep(StdDuration::from_millis(50)).await;
        clock.advance(Duration::hours(1));
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("an agent loop failed");
    }
    for r in runners {
        let runs = r
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("a job failed: {e}"));
        assert!(runs >= 5, "each node ran its jobs often: {runs}");
    }
    // The uploads after the last run leave marks; one more run takes them.
    nodes[0].aggregate_pending_usage().await.unwrap();

    let t = &nodes[0];
    let store = t.store();
    for (company, _) in &companies {
        usage_equals_a_recomputation(t, *company).await;
        for kind in [
            AlertKind::NoSync,
            AlertKind::AgentOffline,
            AlertKind::HighIdle,
        ] {
            let open = store
                .alerts()
                .open_alerts(Some(*company), kind)
                .await
                .unwrap();
            let subjects: BTreeSet<_> = open.iter().map(|a| a.user_id).collect();
            assert_eq!(
                subjects.len(),
                open.len(),
                "one open alert per subject: {open:?}"
            );
        }
        let purges = audit(t, AuditChain::Company(*company), AuditAction::DataPurged).await;
        let cutoffs: BTreeSet<_> = purges
            .iter()
            .map(|e| e.details["before"].to_string())
            .collect();
        assert!(!purges.is_empty(), "data aged out and was purged");
        assert_eq!(
            cutoffs.len(),
            purges.len(),
            "one data_purged event per purge"
        );
    }
    let mut deliveries: BTreeMap<_, u32> = BTreeMap::new();
    for (alert, event, url) in notifier.sent() {
        *deliveries
            .entry((alert.id, event.as_str(), url))
            .or_default() += 1;
    }
    let raised = deliveries
        .keys()
        .filter(|(_, e, _)| *e == AlertEvent::Raised.as_str())
        .count();
    assert!(raised >= COMPANIES, "alerts were raised: {raised}");
    assert!(
        deliveries
            .iter()
            .any(|((_, e, _), _)| *e == AlertEvent::Resolved.as_str()),
        "and resolved"
    );
    assert!(
        deliveries.values().all(|n| *n == 1),
        "one delivery per alert event: {:?}",
        deliveries.values().filter(|n| **n > 1).count()
    );
    let expired = audit(t, AuditChain::Platform, AuditAction::CompanyExpired).await;
    assert_eq!(expired.len(), 1, "the trial expired once");
}

/// The company's stored usage rows of the days still within retention
/// equal what a full recomputation writes (a missing row counts as zero).
async fn usage_equals_a_recomputation(t: &Tracker, company: CompanyId) {
    let tenants = t.store().tenants();
    let tz = tenants.get_company(company).await.unwrap().unwrap().tz();
    // Retention is one day: the local day before today is the first kept.
    let today = t.now().with_timezone(&tz).date_naive();
    let first = today - Duration::days(1);
    let stored = t
        .store()
        .usage()
        .list_usage(Some(company), first, today)
        .await
        .unwrap();
    let stored: BTreeMap<NaiveDate, _> = stored.into_iter().map(|r| (r.date, r)).collect();
    let fresh = t.aggregate_usage(company, first, today).await.unwrap();
    for row in fresh {
        let numbers = |r: &tracker::CompanyUsageDaily| {
            (
                r.active_seconds,
                r.idle_seconds,
                r.screenshots,
                r.storage_bytes,
                r.active_users,
            )
        };
        let kept = stored.get(&row.date).map(numbers).unwrap_or_default();
        assert_eq!(
            kept,
            numbers(&row),
            "usage of {} as the jobs left it",
            row.date
        );
    }
}

async fn audit(t: &Tracker, chain: AuditChain, action: AuditAction) -> Vec<tracker::AuditEvent> {
    let filter = AuditFilter {
        action: Some(action),
        ..AuditFilter::default()
    };
    t.store()
        .audit()
        .list_audit(chain, &filter, &PageRequest::first(500))
        .await
        .unwrap()
        .items
}

/// How long another node may take to refuse what one node revoked. The
/// README states it; the figures this test prints are far below it.
const REVOCATION_BOUND: StdDuration = StdDuration::from_secs(1);

/// Waits until node B sees `what` (`seen` holds), at most the bound, and
/// says how long it took.
async fn until_seen<F, Fut>(what: &str, seen: F) -> StdDuration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !seen().await {
        assert!(
            start.elapsed() < REVOCATION_BOUND,
            "{what}: not seen by the other node after {REVOCATION_BOUND:?}"
        );
        tokio::time::sleep(StdDuration::from_micros(200)).await;
    }
    let took = start.elapsed();
    eprintln!("{what}: seen by the other node after {took:?}");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_node_revokes_the_other_refuses_within_the_bound() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let Some(db) = TestStore::new().await else {
        return;
    };
    let clock = ManualClock::new(start());
    let notifier = Arc::new(RecordingNotifier::default());
    let a = node(&db, &clock, &notifier).await;
    let b = node(&db, &clock, &notifier).await;
    a.ensure_default_plans().await.unwrap();
    a.bootstrap_owner("operator", "operator-password")
        .await
        .unwrap();
    let owner = a.login(login(None, "operator"), None).await.unwrap();
    let owner = a.authenticate(owner.token.expose()).await.unwrap();
    let created = a
        .create_company(
            &owner,
            CreateCompany {
                name: "Acme".into(),
                plan: Some("PRO".into()),
                timezone: Some("UTC".into()),
                trial_days: Some(30),
                retention_days: None,
                admin: new_user("admin", None),
            },
        )
        .await
        .unwrap();
    let key = created.company_key.expose().to_owned();
    let admin_token = a
        .login(login(Some(&key), "admin"), None)
        .await
        .unwrap()
        .token;
    let admin = a.authenticate(admin_token.expose()).await.unwrap();
    let mut people = Vec::new();
    for name in [
        "logs-out",
        "deactivated",
        "new-password",
        "agent",
        "by-hand",
    ] {
        let user = a
            .create_user(&admin, new_user(name, Some(Role::Employee)))
            .await
            .unwrap();
        let token = a.login(login(Some(&key), name), None).await.unwrap().token;
        people.push((user, token.expose().to_owned()));
    }
    // Node B has read every context once, and answers the next from memory.
    let accepted_on_b = |token: &str| {
        let (b, token) = (&b, token.to_owned());
        async move { b.authenticate(&token).await.is_ok() }
    };
    for (_, token) in &people {
        assert!(accepted_on_b(token).await && accepted_on_b(token).await);
    }
    assert!(b.agent(&key, &people[3].1).await.is_ok());
    let mut took = Vec::new();

    a.logout(&people[0].1, None).await.unwrap();
    let token = people[0].1.clone();
    took.push(
        until_seen("a signed-out token", || async {
            !accepted_on_b(&token).await
        })
        .await,
    );

    a.deactivate_user(&admin, people[1].0.id).await.unwrap();
    let token = people[1].1.clone();
    took.push(
        until_seen("a deactivated user", || async {
            !accepted_on_b(&token).await
        })
        .await,
    );

    let own = a.authenticate(&people[2].1).await.unwrap();
    let changes = tracker::protocol::ProfileChanges {
        current_password: Some("new-password-password".into()),
        new_password: Some("a-fresh-password".into()),
        ..Default::default()
    };
    a.update_profile(&own, changes).await.unwrap();
    let token = people[2].1.clone();
    took.push(
        until_seen("a changed password", || async {
            !accepted_on_b(&token).await
        })
        .await,
    );

    a.rotate_company_key(&owner, created.company.id)
        .await
        .unwrap();
    let token = people[3].1.clone();
    let old_key = key.clone();
    took.push(
        until_seen("a rotated company key", || async {
            b.agent(&old_key, &token).await.is_err()
        })
        .await,
    );

    a.suspend_company(&owner, created.company.id, None)
        .await
        .unwrap();
    let token = admin_token.expose().to_owned();
    took.push(
        until_seen("a suspended company", || async {
            !accepted_on_b(&token).await
        })
        .await,
    );
    eprintln!("slowest: {:?}", took.iter().max());

    // The cache is real: a token deleted behind the triggers' back stays
    // accepted on node B, which holds its context, while a node without a
    // cache refuses it at once.
    a.reactivate_company(&owner, created.company.id)
        .await
        .unwrap();
    let token = people[4].1.clone();
    until_seen("a reactivated company", || async {
        accepted_on_b(&token).await
    })
    .await;
    // Node B may have read the context before the reactivation's
    // announcement reached it, and forgotten it since: let the
    // announcement land, then read it once more.
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert!(accepted_on_b(&token).await);
    let uncached = pool(&db, None).await;
    let mut raw = uncached.pool().acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *raw)
        .await
        .unwrap();
    let hash = tracker::secret::SecretHash::of(&token);
    sqlx::query("DELETE FROM tokens WHERE hash = $1")
        .bind(hash.as_str())
        .execute(&mut *raw)
        .await
        .unwrap();
    drop(raw);
    assert!(accepted_on_b(&token).await, "served from node B's memory");
    let ctx = uncached.token_context(&hash).await.unwrap();
    assert!(ctx.is_none(), "read from the database");
    uncached.close().await;
}

/// Starts a reference server node of the deployment in `dir` on `addr`.
fn server_node(dir: &std::path::Path, addr: SocketAddr, schema: &str) -> support::Running {
    let url = std::env::var("DATABASE_URL").unwrap_or_default();
    let flags = [
        "--database-url",
        &url,
        "--database-schema",
        schema,
        "--rate-per-ip",
        "0",
        "--rate-per-company-key",
        "0",
    ];
    support::reference_server(dir, addr, &flags)
}

/// The load generator against every node, for `seconds` of `kind`.
fn loadgen(dir: &std::path::Path, nodes: &[SocketAddr], kind: &str, seconds: &str) -> Command {
    let servers: Vec<String> = nodes.iter().map(|a| format!("http://{a}")).collect();
    let mut command = Command::new(support::example("loadgen"));
    command
        .current_dir(dir)
        .args(["--server", &servers.join(",")])
        .args(["--owner-password", "test-owner-password"])
        .args([
            "--agents",
            "12",
            "--batch-size",
            "50",
            "--batch-connections",
            "6",
        ])
        .args(["--only", kind, "--seconds", seconds])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A console session begun on one node holds on the others: every node
/// signs with the same key file.
fn console_session_crosses_nodes(nodes: &[SocketAddr]) {
    let (status, head, page) = support::exchange(nodes[0], "GET", "/sign-in", &[], "").unwrap();
    assert_eq!(status, 200);
    let secret = support::set_cookie(&head, "tracker_sign_in").expect("the form's cookie");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's CSRF token");
    let form = format!("company_key=&username=owner&password=test-owner-password&csrf={csrf}");
    let cookie = format!("tracker_sign_in={secret}");
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("cookie", cookie.as_str()),
    ];
    let (status, head, _) =
        support::exchange(nodes[1], "POST", "/sign-in", &headers, &form).unwrap();
    assert_eq!(
        status, 303,
        "signed in on node 2 with node 1's form: {head}"
    );
    let session = support::set_cookie(&head, "tracker_session").expect("a session");
    let cookie = format!("tracker_session={session}");
    let (status, head, page) = support::exchange(
        nodes[2],
        "GET",
        "/owner",
        &[("cookie", cookie.as_str())],
        "",
    )
    .unwrap();
    assert_eq!(status, 200, "node 3 knows the session: {head}");
    assert!(page.contains("Companies"), "the OWNER's portal");
}

#[test]
fn a_node_killed_under_load_loses_nothing_the_deployment_acknowledged() {
    let _alone = ONE_AT_A_TIME.blocking_lock();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = runtime.block_on(TestStore::new()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<SocketAddr> = (0..NODES)
        .map(|_| SocketAddr::from(([127, 0, 0, 1], support::free_port())))
        .collect();
    // The first node makes the keys, the plans and the OWNER; the others
    // start together on the same files and database.
    let mut running = vec![server_node(dir.path(), nodes[0], db.schema())];
    support::wait_healthy(nodes[0]);
    for &addr in &nodes[1..] {
        running.push(server_node(dir.path(), addr, db.schema()));
    }
    for &addr in &nodes {
        support::wait_healthy(addr);
    }
    console_session_crosses_nodes(&nodes);

    // Agents made once (through node 1), then batches to all three nodes.
    let made = loadgen(dir.path(), &nodes, "heartbeat", "1")
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let acknowledged = dir.path().join("acknowledged.txt");
    let load = loadgen(dir.path(), &nodes, "batch", "6")
        .args(["--acknowledged", acknowledged.to_str().unwrap()])
        .spawn()
        .unwrap();
    std::thread::sleep(StdDuration::from_secs(2));
    running[1].kill();
    std::thread::sleep(StdDuration::from_secs(1));
    running[1] = server_node(dir.path(), nodes[1], db.schema());
    let out = load.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{report}");

    let ids: Vec<uuid::Uuid> = std::fs::read_to_string(&acknowledged)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(ids.len() >= 1_000, "only {} events acknowledged", ids.len());
    let counts: Vec<(uuid::Uuid, i64)> = runtime
        .block_on(
            sqlx::query_as(
                "SELECT id, count(*) FROM activity_events WHERE id = ANY($1) GROUP BY id",
            )
            .bind(&ids)
            .fetch_all(db.pool()),
        )
        .unwrap();
    let twice = counts.iter().filter(|(_, n)| *n > 1).count();
    assert_eq!(twice, 0, "events stored more than once");
    assert_eq!(
        counts.len(),
        ids.len(),
        "{} of {} acknowledged events lost",
        ids.len() - counts.len(),
        ids.len()
    );
    drop(running);
    runtime.block_on(async move { drop(db) });
}
