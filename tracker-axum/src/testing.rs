//! A test harness for the router (feature `testing`): the app in process,
//! called with `tower::ServiceExt::oneshot`, or on a real TCP port, and a
//! small client that can also send what a well-behaved client never would.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use tracker_axum::testing::Server;
//!
//! let server = Server::in_process(Arc::new(tracker_core::MemoryStore::new())).await;
//! let reply = server.anonymous().get("/api/v1/company/policy").await;
//! assert_eq!((reply.status, reply.code()), (401, "unauthenticated"));
//! # }
//! ```
//!
//! The in-process app answers as the served one does, without a socket;
//! use [`Server::start`] where the wire itself is under test.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;
use tracker_core::store::Store;
use tracker_core::{Argon2Hasher, MemoryBlobStore, Tracker};

/// The OWNER account every [`Server`] makes: username and password.
pub const OWNER: (&str, &str) = ("operator", "operator-password");

/// The ADMIN of a [`Server::company`]: username and password.
pub const ADMIN: (&str, &str) = ("ada", "ada-password-1");

/// The password of every [`Server::agent`].
pub const AGENT_PASSWORD: &str = "employee-password";

/// A response as the tests read it.
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Every header, in order.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
    /// The body's bytes.
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
    /// A header's value, by case-insensitive name.
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

/// Where a [`Client`] sends its requests.
#[derive(Clone)]
enum Target {
    /// The router on a real port.
    Socket(SocketAddr),
    /// The router itself, called in process.
    InProcess(Router),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Socket(addr) => write!(f, "Socket({addr})"),
            Target::InProcess(_) => f.write_str("InProcess"),
        }
    }
}

/// The address in-process requests come from, for rate limits by address.
const IN_PROCESS_PEER: ([u8; 4], u16) = ([127, 0, 0, 1], 40_000);

/// One request to the router in process.
async fn call_router(
    router: &Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut request = axum::http::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut request = request
        .header("content-length", body.len())
        .body(Body::from(body.to_vec()))
        .expect("a request");
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(IN_PROCESS_PEER)));
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let raw = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
        raw,
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
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked { dechunk(&body) } else { body };
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: body,
    }
}

/// The data of a chunked body (streamed answers such as audit exports).
/// A body cut short yields what arrived whole.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size.filter(|&n| n > 0) else {
            break;
        };
        let Some(data) = raw.get(end + 2..end + 2 + size) else {
            break;
        };
        out.extend_from_slice(data);
        raw = raw.get(end + 4 + size..).unwrap_or_default();
    }
    out
}

/// The router over a store, with the default plans and an OWNER account,
/// on a real port or in process.
pub struct Server {
    target: Target,
    /// The service behind the router.
    pub tracker: Arc<Tracker>,
}

impl Server {
    /// The router on a real port, without rate limits: tests send hundreds
    /// of requests a second from one address.
    pub async fn start(store: Arc<dyn Store>) -> Self {
        Self::start_with(store, unlimited()).await
    }

    /// The router in process, without rate limits.
    pub async fn in_process(store: Arc<dyn Store>) -> Self {
        Self::in_process_with(store, unlimited()).await
    }

    /// The router in process with `config`.
    pub async fn in_process_with(store: Arc<dyn Store>, config: crate::HttpConfig) -> Self {
        let tracker = test_tracker(store);
        Self::prepare(&tracker).await;
        let router = crate::Api::new(Arc::clone(&tracker))
            .config(config)
            .router();
        Server {
            target: Target::InProcess(router),
            tracker,
        }
    }

    /// The router on a real port with `config`.
    pub async fn start_with(store: Arc<dyn Store>, config: crate::HttpConfig) -> Self {
        Self::serve(test_tracker(store), |t| crate::Api::new(t).config(config)).await
    }

    async fn prepare(tracker: &Tracker) {
        tracker.ensure_default_plans().await.expect("plans");
        tracker
            .bootstrap_owner(OWNER.0, OWNER.1)
            .await
            .expect("owner");
    }

    /// The port the router listens on.
    ///
    /// # Panics
    ///
    /// For a server [in process](Self::in_process), which has none.
    pub fn addr(&self) -> SocketAddr {
        match &self.target {
            Target::Socket(addr) => *addr,
            Target::InProcess(_) => panic!("an in-process server has no address"),
        }
    }

    /// Serves `tracker` through `api` (which names no tracker yet), after
    /// making the default plans and the OWNER.
    pub async fn serve(
        tracker: Arc<Tracker>,
        api: impl FnOnce(Arc<Tracker>) -> crate::Api,
    ) -> Self {
        Self::prepare(&tracker).await;
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
        Server {
            target: Target::Socket(addr),
            tracker,
        }
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> Client {
        Client {
            target: self.target.clone(),
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
            target: self.target.clone(),
            token: reply.body["token"].as_str().map(str::to_owned),
            key: key.map(str::to_owned),
        }
    }

    /// The OWNER, logged in.
    pub async fn owner(&self) -> Client {
        self.login(None, OWNER.0, OWNER.1).await
    }

    /// The OWNER makes company `Acme` on the FREE plan over HTTP, with
    /// its [`ADMIN`], who is then logged in.
    pub async fn company(&self) -> Company {
        let body = serde_json::json!({
            "name": "Acme",
            "plan": "FREE",
            "admin": { "username": ADMIN.0, "password": ADMIN.1 },
        });
        let created = self
            .owner()
            .await
            .post("/api/v1/owner/companies", &body)
            .await
            .expect(201)
            .body;
        let key = created["company_key"].as_str().expect("a key").to_owned();
        let id = created["company"]["id"].as_str().expect("an id").to_owned();
        let admin = self.login(Some(&key), ADMIN.0, ADMIN.1).await;
        Company { key, id, admin }
    }

    /// A new employee of `company` (made by its ADMIN), logged in as its
    /// agent is, with its company key.
    pub async fn agent(&self, company: &Company, username: &str) -> Client {
        let body = serde_json::json!({ "username": username, "password": AGENT_PASSWORD });
        company
            .admin
            .post("/api/v1/company/employees", &body)
            .await
            .expect(201);
        self.login(Some(&company.key), username, AGENT_PASSWORD)
            .await
    }
}

/// A company a [`Server`] made: its key, its id and its ADMIN, logged in.
#[derive(Debug, Clone)]
pub struct Company {
    /// The company key.
    pub key: String,
    /// The company's id.
    pub id: String,
    /// Its ADMIN.
    pub admin: Client,
}

/// Default limits but no rate limits.
pub fn unlimited() -> crate::HttpConfig {
    crate::HttpConfig {
        rate_per_ip: None,
        rate_per_company_key: None,
        ..Default::default()
    }
}

/// The service the servers run: screenshots in memory, fast password
/// hashing.
fn test_tracker(store: Arc<dyn Store>) -> Arc<Tracker> {
    Arc::new(
        Tracker::builder_shared(store)
            .blobs(Arc::new(MemoryBlobStore::default()))
            .password_hasher(Argon2Hasher::insecure_fast())
            .build(),
    )
}

/// A caller: a bearer token and, for agents, a company key.
#[derive(Debug, Clone)]
pub struct Client {
    target: Target,
    /// The bearer token, if signed in.
    pub token: Option<String>,
    /// The company key sent as `X-Company-Key`, if any.
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

    /// The same token without a company key.
    pub fn without_key(&self) -> Client {
        Client {
            key: None,
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
        match &self.target {
            Target::Socket(addr) => send(*addr, method, path, &all, body).await,
            Target::InProcess(router) => call_router(router, method, path, &all, body).await,
        }
    }

    /// A request with a JSON body, or none.
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

    /// A GET.
    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    /// A POST of JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }

    /// A PUT of JSON.
    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.call("PUT", path, Some(body)).await
    }

    /// A PATCH of JSON.
    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.call("PATCH", path, Some(body)).await
    }

    /// A POST without a body (actions such as `/suspend`).
    pub async fn act(&self, path: &str) -> Reply {
        self.call("POST", path, None).await
    }

    /// An agent's screenshot upload as `multipart/form-data`: `metadata`
    /// (`id`, `taken_at`, `blurred`) as JSON, then the image.
    pub async fn upload_screenshot(&self, metadata: &Value, image: &[u8]) -> Reply {
        let media_type = tracker_core::tracking::ImageFormat::detect(image)
            .map_or("application/octet-stream", |f| f.media_type());
        let metadata = metadata.to_string();
        let (content_type, body) = multipart(&[
            ("metadata", "application/json", metadata.as_bytes()),
            ("image", media_type, image),
        ]);
        self.raw(
            "POST",
            "/api/v1/agent/screenshots",
            &[("content-type", &content_type)],
            &body,
        )
        .await
    }
}

pub use tracker_core::testkit::PNG;

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
