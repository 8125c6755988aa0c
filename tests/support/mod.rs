//! The reference router on a real TCP port, and a small HTTP/1.1 client
//! that can also send what a well-behaved client never would.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracker_core::store::Store;
use tracker_core::{Argon2Hasher, Tracker};

pub const OWNER: (&str, &str) = ("operator", "operator-password");

/// A response as the tests read it.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .field("bytes", &self.raw.len())
            .finish()
    }
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The problem document's `code`.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The fields a problem document names.
    pub fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts the status, printing the reply when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "{self:?}");
        self
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    // The server may answer (413) and close before the whole body is sent.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: body,
    }
}

/// The router over a store on a real port, with an OWNER account.
pub struct Server {
    pub addr: SocketAddr,
    pub tracker: Arc<Tracker>,
}

impl Server {
    /// The router without rate limits: tests send hundreds of requests a
    /// second from one address.
    pub async fn start(store: Arc<dyn Store>) -> Self {
        Self::start_with(store, unlimited()).await
    }

    pub async fn start_with(store: Arc<dyn Store>, config: tracker_axum::HttpConfig) -> Self {
        let tracker = Arc::new(
            Tracker::builder_shared(store)
                .password_hasher(Argon2Hasher::insecure_fast())
                .build(),
        );
        Self::serve(tracker, |t| tracker_axum::Api::new(t).config(config)).await
    }

    /// Serves `tracker` through `api` (which names no tracker yet), after
    /// making the default plans and the OWNER.
    pub async fn serve(
        tracker: Arc<Tracker>,
        api: impl FnOnce(Arc<Tracker>) -> tracker_axum::Api,
    ) -> Self {
        tracker.ensure_default_plans().await.expect("plans");
        tracker
            .bootstrap_owner(OWNER.0, OWNER.1)
            .await
            .expect("owner");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = api(Arc::clone(&tracker)).router();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .expect("serve");
        });
        Server { addr, tracker }
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> Client {
        Client {
            addr: self.addr,
            token: None,
            key: None,
        }
    }

    /// Logs in over HTTP; company users give their company key.
    pub async fn login(&self, key: Option<&str>, username: &str, password: &str) -> Client {
        let body = serde_json::json!({
            "company_key": key,
            "username": username,
            "password": password,
        });
        let reply = self
            .anonymous()
            .post("/api/v1/auth/login", &body)
            .await
            .expect(200);
        Client {
            addr: self.addr,
            token: reply.body["token"].as_str().map(str::to_owned),
            key: key.map(str::to_owned),
        }
    }

    pub async fn owner(&self) -> Client {
        self.login(None, OWNER.0, OWNER.1).await
    }
}

/// Default limits but no rate limits.
pub fn unlimited() -> tracker_axum::HttpConfig {
    tracker_axum::HttpConfig {
        rate_per_ip: None,
        rate_per_company_key: None,
        ..Default::default()
    }
}

/// A caller: a bearer token and, for agents, a company key.
#[derive(Debug, Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub token: Option<String>,
    pub key: Option<String>,
}

impl Client {
    /// The same token with another company key.
    pub fn with_key(&self, key: &str) -> Client {
        Client {
            key: Some(key.to_owned()),
            ..self.clone()
        }
    }

    /// A request with this client's credentials and the given extra
    /// headers.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> = Vec::new();
        if let Some(auth) = &auth {
            all.push(("authorization", auth));
        }
        if let Some(key) = &self.key {
            all.push(("x-company-key", key));
        }
        all.extend_from_slice(headers);
        send(self.addr, method, path, &all, body).await
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        match body {
            Some(body) => {
                let bytes = body.to_string();
                self.raw(
                    method,
                    path,
                    &[("content-type", "application/json")],
                    bytes.as_bytes(),
                )
                .await
            }
            None => self.raw(method, path, &[], b"").await,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.call("PUT", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.call("PATCH", path, Some(body)).await
    }

    /// A POST without a body (actions such as `/suspend`).
    pub async fn act(&self, path: &str) -> Reply {
        self.call("POST", path, None).await
    }
}

/// The smallest PNG: a 1x1 transparent pixel.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// A `multipart/form-data` body of the given parts (name, content type,
/// bytes) and its content type header.
pub fn multipart(parts: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "tracker-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, content_type, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\ncontent-type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
