//! The reference server killed (SIGKILL) and started again on the same
//! SQLite database. Under a running agent simulator: every event the agent
//! recorded is stored once, its work session is opened and closed, and
//! nothing is left in its queue. Under a stream of uploads: every batch
//! the server acknowledged before it died is stored, once.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;

use support::{free_port, http, reference_server, wait_healthy};

/// A JSON call; its status and answer.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(b) = &bearer {
        headers.push(("authorization", b));
    }
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let (status, text) = http(addr, method, path, &headers, &body).expect("the server answers");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn token(addr: SocketAddr, key: Option<&str>, user: &str, password: &str) -> String {
    let (status, login) = call(
        addr,
        "POST",
        "/api/v1/auth/login",
        None,
        json!({ "company_key": key, "username": user, "password": password }),
    );
    assert_eq!(status, 200, "{login}");
    login["token"].as_str().unwrap().to_owned()
}

/// Every item of a list route, page by page.
fn all(addr: SocketAddr, token: &str, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match &cursor {
            Some(c) => format!("{path}?limit=500&cursor={c}"),
            None => format!("{path}?limit=500"),
        };
        let (status, body) = call(addr, "GET", &page, Some(token), Value::Null);
        assert_eq!(status, 200, "{body}");
        items.extend(body["items"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

/// The OWNER makes company Acme with its admin `ada`; its company key.
fn acme(addr: SocketAddr) -> String {
    let owner = token(addr, None, "owner", "test-owner-password");
    let (status, created) = call(
        addr,
        "POST",
        "/api/v1/owner/companies",
        Some(&owner),
        json!({ "name": "Acme", "admin": { "username": "ada", "password": "ada-password" } }),
    );
    assert_eq!(status, 201, "{created}");
    created["company_key"].as_str().unwrap().to_owned()
}

#[test]
fn an_agent_outlives_a_server_outage_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut server = reference_server(dir.path(), addr, &[]);
    wait_healthy(addr);
    let key = acme(addr);
    let admin = token(addr, Some(&key), "ada", "ada-password");
    let (status, _) = call(
        addr,
        "POST",
        "/api/v1/company/employees",
        Some(&admin),
        json!({ "username": "erin", "password": "erin-password" }),
    );
    assert_eq!(status, 201);

    let log = dir.path().join("agent.log");
    let mut agent = Command::new(support::example("agent_sim"))
        .current_dir(dir.path())
        .args(["--server", &format!("http://{addr}"), "--company-key", &key])
        .args(["--username", "erin", "--password", "erin-password"])
        .args(["--tick-secs", "1", "--ticks", "9", "--queue-dir", "queue"])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("the agent starts");

    // The server dies under the running agent and comes back on its data.
    std::thread::sleep(Duration::from_millis(2_500));
    server.kill();
    std::thread::sleep(Duration::from_millis(3_000));
    let _server = reference_server(dir.path(), addr, &[]);
    wait_healthy(addr);

    let started = Instant::now();
    let status = loop {
        if let Some(status) = agent.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the agent ran on"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "the agent failed:\n{output}");
    assert!(
        output.contains("server unreachable"),
        "the outage was seen:\n{output}"
    );
    let recorded: usize = output
        .lines()
        .filter_map(|l| {
            l.strip_prefix("recorded ")?
                .strip_suffix(" events")?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert!(recorded > 0, "{output}");

    let admin = token(addr, Some(&key), "ada", "ada-password");
    let events = all(addr, &admin, "/api/v1/company/activity");
    assert_eq!(
        events.len(),
        recorded,
        "every recorded event, once:\n{output}"
    );
    let mut ids: Vec<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), recorded);
    let sessions = all(addr, &admin, "/api/v1/company/sessions");
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert!(
        sessions[0]["stopped_at"].is_string(),
        "the session was closed"
    );

    let left: Vec<String> = std::fs::read_dir(dir.path().join("queue"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "cursor.json")
        .collect();
    assert!(left.is_empty(), "left in the queue: {left:?}\n{output}");
}

/// A batch of `n` back-to-back events from `start`, and their ids.
fn batch(start: chrono::DateTime<chrono::Utc>, n: usize) -> (Value, Vec<String>) {
    let ids: Vec<String> = (0..n).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let events: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({
                "id": id,
                "started_at": start + chrono::Duration::seconds(10 * i as i64),
                "duration_seconds": 10,
                "kind": "active",
                "app": "editor",
            })
        })
        .collect();
    (json!({ "events": events }), ids)
}

#[test]
fn a_server_killed_mid_upload_keeps_every_batch_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    // Unlimited: the uploads come from one address as fast as it answers.
    let unlimited = ["--rate-per-ip", "0", "--rate-per-company-key", "0"];
    let mut server = reference_server(dir.path(), addr, &unlimited);
    wait_healthy(addr);
    let key = acme(addr);
    let agent = token(addr, Some(&key), "ada", "ada-password");

    // Batches go up one after another until the server dies under them;
    // each one answered 200 is acknowledged.
    let uploader = {
        let (key, agent) = (key.clone(), agent.clone());
        std::thread::spawn(move || {
            let bearer = format!("Bearer {agent}");
            let headers = [
                ("content-type", "application/json"),
                ("authorization", bearer.as_str()),
                ("x-company-key", key.as_str()),
            ];
            let mut start = chrono::Utc::now() - chrono::Duration::days(13);
            let mut acknowledged = Vec::new();
            loop {
                let (body, ids) = batch(start, 50);
                start += chrono::Duration::seconds(500);
                match http(
                    addr,
                    "POST",
                    "/api/v1/agent/activity",
                    &headers,
                    &body.to_string(),
                ) {
                    Ok((200, _)) => acknowledged.extend(ids),
                    Ok((status, text)) if status != 0 => panic!("{status}: {text}"),
                    // The connection died with the server.
                    _ => return acknowledged,
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(1_500));
    server.kill();
    let acknowledged = uploader.join().unwrap();
    assert!(
        acknowledged.len() >= 500,
        "only {} acknowledged",
        acknowledged.len()
    );

    let _server = reference_server(dir.path(), addr, &unlimited);
    wait_healthy(addr);
    let admin = token(addr, Some(&key), "ada", "ada-password");
    let stored = all(addr, &admin, "/api/v1/company/activity");
    let mut ids: Vec<&str> = stored.iter().filter_map(|e| e["id"].as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "an event stored twice");
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| ids.binary_search(&id.as_str()).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events lost, e.g. {:?}",
        missing.len(),
        acknowledged.len(),
        missing.first()
    );
}
