//! The agent simulator across a server outage: the reference server is
//! killed under a running agent and started again on the same database;
//! every event the agent recorded is stored once, its work session is
//! opened and closed, and nothing is left in its queue.

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

#[test]
fn an_agent_outlives_a_server_outage_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut server = reference_server(dir.path(), addr, &[]);
    wait_healthy(addr);
    let owner = token(addr, None, "owner", "test-owner-password");
    let (status, created) = call(
        addr,
        "POST",
        "/api/v1/owner/companies",
        Some(&owner),
        json!({ "name": "Acme", "admin": { "username": "ada", "password": "ada-password" } }),
    );
    assert_eq!(status, 201, "{created}");
    let key = created["company_key"].as_str().unwrap().to_owned();
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
