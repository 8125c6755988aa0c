//! What the tests that run the built examples as processes share.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An example the test build compiled beside this test.
pub fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let debug = deps.parent().and_then(|d| d.parent()).unwrap();
    let path = debug.join("examples").join(name);
    assert!(
        path.is_file(),
        "{} is missing: `cargo test --workspace` builds it, or `cargo build --example {name}`",
        path.display()
    );
    path
}

/// A process, killed when dropped.
pub struct Running(pub Child);

impl Running {
    /// Kills it now, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The reference server on `addr`, its files in `dir`, as an operator
/// starts it, with `extra` flags.
pub fn reference_server(dir: &Path, addr: SocketAddr, extra: &[&str]) -> Running {
    let child = Command::new(example("reference_server"))
        .current_dir(dir)
        .args([
            "--bind",
            &addr.to_string(),
            "--owner-password",
            "test-owner-password",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the reference server starts");
    Running(child)
}

/// One plain HTTP/1.1 request: the status and the body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    exchange(addr, method, path, headers, body).map(|(status, _, body)| (status, body))
}

/// One plain HTTP/1.1 request: the status, the head (status line and
/// headers) and the body.
pub fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: tracker\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    write!(stream, "{head}\r\n{body}")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    Ok((status, head.to_owned(), body.to_owned()))
}

/// The value of the cookie `name` that `head` sets.
pub fn set_cookie(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (header, value) = line.split_once(':')?;
        if !header.eq_ignore_ascii_case("set-cookie") {
            return None;
        }
        let (cookie, rest) = value.trim().split_once('=')?;
        (cookie == name).then(|| rest.split(';').next().unwrap_or("").to_owned())
    })
}

/// Waits until `addr` answers `/healthz`.
pub fn wait_healthy(addr: SocketAddr) {
    let started = Instant::now();
    while !matches!(http(addr, "GET", "/healthz", &[], ""), Ok((200, _))) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no server at {addr}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Alert settings with one webhook (to `hooks.example`, which tests
/// record rather than call).
pub fn one_webhook() -> tracker::notify::AlertSettingsUpdate {
    tracker::notify::AlertSettingsUpdate {
        webhooks: Some(vec![tracker::notify::WebhookInput {
            url: "https://hooks.example/alerts".into(),
            format: tracker::notify::WebhookFormat::Json,
            secret: Some("0123456789abcdef".into()),
        }]),
        ..Default::default()
    }
}
