//! A small HTTP/1.1 client over one kept-alive connection, shared by the
//! agent simulator and the load generator.

#![allow(dead_code)]

pub mod workload;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// A response, read whole.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// The body as JSON (`Null` if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// An error naming the status and the problem's detail.
    pub fn error(&self, what: &str) -> String {
        let body = self.json();
        let detail = body["detail"].as_str().unwrap_or("");
        format!("{what}: HTTP {} {detail}", self.status)
    }
}

/// One connection to the server, reopened when the server closes it.
pub struct Http {
    host: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

pub type Error = Box<dyn std::error::Error + Send + Sync>;

impl Http {
    /// A client of `server` (`http://host:port`).
    pub fn new(server: &str) -> Result<Self, Error> {
        let host = server
            .strip_prefix("http://")
            .ok_or("the server address must start with http://")?
            .trim_end_matches('/')
            .to_owned();
        Ok(Self { host, sender: None })
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, Error> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream =
                tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&self.host))
                    .await
                    .map_err(|_| "connection timed out")??;
            // Small requests must not wait for Nagle's algorithm.
            stream.set_nodelay(true)?;
            let (sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        self.sender.as_mut().ok_or_else(|| "not connected".into())
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Response, Error> {
        let host = self.host.clone();
        let sender = self.connect().await?;
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", host);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body))?;
        if let Err(e) = sender.ready().await {
            self.sender = None;
            return Err(e.into());
        }
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(e.into());
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// A JSON request with an optional bearer token and company key.
    pub async fn json(
        &mut self,
        method: &str,
        path: &str,
        auth: &Auth,
        body: Option<&Value>,
    ) -> Result<Response, Error> {
        let bearer = auth.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(b) = &bearer {
            headers.push(("authorization", b));
        }
        if let Some(k) = &auth.key {
            headers.push(("x-company-key", k));
        }
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        self.send(method, path, &headers, bytes).await
    }
}

/// Credentials of a caller.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub token: Option<String>,
    pub key: Option<String>,
}

/// Logs in; company users give their company key.
pub async fn login(
    http: &mut Http,
    key: Option<&str>,
    username: &str,
    password: &str,
) -> Result<Auth, Error> {
    let body =
        serde_json::json!({ "company_key": key, "username": username, "password": password });
    let reply = http
        .json("POST", "/api/v1/auth/login", &Auth::default(), Some(&body))
        .await?;
    if reply.status != 200 {
        return Err(reply.error(&format!("login of {username}")).into());
    }
    Ok(Auth {
        token: reply.json()["token"].as_str().map(str::to_owned),
        key: key.map(str::to_owned),
    })
}

/// The password of the companies' ADMIN `admin` that [`agents`] makes.
pub const ADMIN_PASSWORD: &str = "loadgen-admin-password";

/// One agent's credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentCreds {
    pub token: String,
    pub key: String,
}

/// Makes companies on the ENTERPRISE plan (an ADMIN `admin` with
/// [`ADMIN_PASSWORD`]) with `count` agents in all, each a user with a
/// token of its own, or reads them from `cache` when they still work.
pub async fn agents(
    server: &str,
    owner_username: &str,
    owner_password: &str,
    count: usize,
    cache: &std::path::Path,
) -> Result<Vec<AgentCreds>, Error> {
    if let Ok(bytes) = std::fs::read(cache) {
        let cached: Vec<AgentCreds> = serde_json::from_slice(&bytes)?;
        let mut http = Http::new(server)?;
        let probe = cached.first().map(|a| Auth {
            token: Some(a.token.clone()),
            key: Some(a.key.clone()),
        });
        if let Some(auth) = probe
            && cached.len() >= count
            && http
                .json("GET", "/api/v1/agent/sync-status", &auth, None)
                .await?
                .status
                == 200
        {
            println!("{} agents from {}", cached.len(), cache.display());
            return Ok(cached.into_iter().take(count).collect());
        }
    }
    let mut http = Http::new(server)?;
    let owner = login(&mut http, None, owner_username, owner_password).await?;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let mut all = Vec::new();
    // An ENTERPRISE company has 1,000 seats, its admin takes one.
    for (c, chunk) in (0..count).collect::<Vec<_>>().chunks(900).enumerate() {
        let created = http
            .json(
                "POST",
                "/api/v1/owner/companies",
                &owner,
                Some(&json!({
                    "name": format!("loadgen {run} #{c}"),
                    "plan": "ENTERPRISE",
                    "trial_days": 0,
                    "admin": { "username": "admin", "password": ADMIN_PASSWORD },
                })),
            )
            .await?;
        if created.status != 201 {
            return Err(created.error("company").into());
        }
        let key = created.json()["company_key"]
            .as_str()
            .ok_or("no company key")?
            .to_owned();
        let admin = login(&mut http, Some(&key), "admin", ADMIN_PASSWORD).await?;
        let admin = Auth { key: None, ..admin };
        // Password hashing dominates: many at once.
        let made: Vec<_> = chunk
            .chunks(chunk.len().div_ceil(8).max(1))
            .map(|part| {
                let (server, key, admin, part) =
                    (server.to_owned(), key.clone(), admin.clone(), part.to_vec());
                tokio::spawn(async move {
                    let mut http = Http::new(&server)?;
                    let mut creds = Vec::new();
                    for i in part {
                        let username = format!("agent{i}");
                        let body =
                            json!({ "username": username, "password": "loadgen-agent-password" });
                        let r = http
                            .json("POST", "/api/v1/company/employees", &admin, Some(&body))
                            .await?;
                        if r.status != 201 {
                            return Err::<_, Error>(r.error("employee").into());
                        }
                        let auth =
                            login(&mut http, Some(&key), &username, "loadgen-agent-password")
                                .await?;
                        creds.push(AgentCreds {
                            token: auth.token.unwrap_or_default(),
                            key: key.clone(),
                        });
                    }
                    Ok(creds)
                })
            })
            .collect();
        for m in made {
            all.extend(m.await??);
        }
        println!("company #{c}: {} agents", all.len());
    }
    std::fs::write(cache, serde_json::to_vec(&all)?)?;
    Ok(all)
}
