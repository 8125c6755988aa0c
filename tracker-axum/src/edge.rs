//! What every request passes through: its id, its span, its deadline and
//! its count in the metrics, in one layer. An answer given before the
//! request's body was read to its end (401, 413) says `Connection: close`:
//! the server will not read the rest, and a keep-alive client must not
//! send its next request down that connection.
//!
//! One layer rather than a stack of tower-http's (request id, propagation,
//! trace, timeout) and a metrics middleware: each layer of a stack wraps
//! the request's future again and repeats work (clock reads, clones,
//! allocated labels), which measured about a fifth of a heartbeat's server
//! time. Here each is done once.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// The header carrying the request id, kept from the client or made here.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The layer (see the module docs). Applied with `Router::layer`, so that
/// the route's template is known.
#[derive(Clone)]
pub(crate) struct Edge {
    metrics: Arc<Metrics>,
    timeout: Duration,
    trusted: Arc<[IpNet]>,
}

impl Edge {
    pub(crate) fn new(metrics: Arc<Metrics>, timeout: Duration, trusted: Vec<IpNet>) -> Self {
        Self {
            metrics,
            timeout,
            trusted: trusted.into(),
        }
    }
}

impl<S> Layer<S> for Edge {
    type Service = EdgeService<S>;

    fn layer(&self, inner: S) -> EdgeService<S> {
        EdgeService {
            inner,
            edge: self.clone(),
        }
    }
}

/// The service of [`Edge`].
#[derive(Clone)]
pub(crate) struct EdgeService<S> {
    inner: S,
    edge: Edge,
}

/// A new request id: a random UUID.
fn new_request_id() -> HeaderValue {
    let mut buf = uuid::Uuid::encode_buffer();
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    // A UUID's text is always a valid header value.
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("-"))
}

/// Whether a client's request id is kept: at most 64 characters of
/// letters, digits, `-`, `_`, `.` and `:`. It is echoed in the answer and
/// written to logs, so anything else (control or quote characters, a
/// kilobyte of text) is replaced by a new id.
fn acceptable_request_id(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl<S> Service<Request> for EdgeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        if !self.edge.trusted.is_empty() {
            forwarded_client(&mut req, &self.edge.trusted);
        }
        let id = match req.headers().get(&REQUEST_ID) {
            Some(id) if acceptable_request_id(id) => id.clone(),
            _ => {
                let id = new_request_id();
                req.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        let span = tracing::debug_span!(
            "request",
            method = %req.method(),
            uri = %req.uri(),
            version = ?req.version(),
            request_id = ?id,
        );
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = req.method().clone();
        let body_read = has_body(req.headers()).then(|| {
            let flag = Arc::new(AtomicBool::new(false));
            let done = Arc::clone(&flag);
            req = std::mem::take(&mut req).map(|inner| Body::new(Tracked { inner, done }));
            flag
        });
        let inner = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        EdgeFuture {
            inner,
            deadline: tokio::time::sleep(self.edge.timeout),
            timeout: self.edge.timeout,
            metrics: Arc::clone(&self.edge.metrics),
            span,
            id,
            route,
            method,
            body_read,
            started: Instant::now(),
        }
    }
}

/// Behind trusted proxies: puts the forwarded client's address in place
/// of the peer's, where the rate limits and the audit log read it.
fn forwarded_client(req: &mut Request, trusted: &[IpNet]) {
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() else {
        return;
    };
    if !trusted.iter().any(|net| net.contains(&peer.ip())) {
        return;
    }
    let headers = req.headers();
    let hops = if headers.contains_key(header::FORWARDED) {
        forwarded_for(headers)
    } else {
        x_forwarded_for(headers)
    };
    // From the nearest hop back: the first address not of a trusted proxy.
    // Past an entry that is not an address (`unknown`, a hidden name),
    // the hop before it is the best known.
    let mut client = peer.ip();
    for hop in hops.iter().rev() {
        let Some(ip) = hop else { break };
        client = *ip;
        if !trusted.iter().any(|net| net.contains(ip)) {
            break;
        }
    }
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(client, peer.port())));
}

/// The `for=` addresses of every `Forwarded` header, nearest last.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.eq_ignore_ascii_case("for").then(|| node_ip(value))
            })?
        })
        .collect()
}

/// The addresses of every `X-Forwarded-For` header, nearest last.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(node_ip)
        .collect()
}

/// An address of a forwarding header: `192.0.2.1`, `"192.0.2.1:4711"`,
/// `"[2001:db8::1]:4711"` or `2001:db8::1`.
fn node_ip(value: &str) -> Option<IpAddr> {
    let v = value.trim().trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    v.parse()
        .ok()
        .or_else(|| v.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok()))
}

/// Whether a request says it has a body.
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// A request body that records when it has been read to its end.
struct Tracked {
    inner: Body,
    done: Arc<AtomicBool>,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, axum::Error>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.done.store(true, Ordering::Relaxed);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// The future of [`EdgeService`].
    pub(crate) struct EdgeFuture<F> {
        #[pin]
        inner: F,
        // Registered with the timer only if the first poll does not answer.
        #[pin]
        deadline: tokio::time::Sleep,
        timeout: Duration,
        metrics: Arc<Metrics>,
        span: tracing::Span,
        id: HeaderValue,
        route: Option<MatchedPath>,
        method: Method,
        // Set when the request has a body: whether it was read whole.
        body_read: Option<Arc<AtomicBool>>,
        started: Instant,
    }
}

impl<F> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let mut response = match this.inner.poll(cx) {
            Poll::Ready(Ok(response)) => response,
            Poll::Pending => match this.deadline.poll(cx) {
                Poll::Ready(()) => ApiError::Timeout {
                    after_secs: this.timeout.as_secs_f64(),
                }
                .into_response(),
                Poll::Pending => return Poll::Pending,
            },
        };
        let elapsed = this.started.elapsed();
        let status = response.status();
        response
            .headers_mut()
            .entry(REQUEST_ID)
            .or_insert_with(|| this.id.clone());
        if this
            .body_read
            .as_ref()
            .is_some_and(|read| !read.load(Ordering::Relaxed))
        {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
        this.metrics
            .request(this.method, route, status.as_u16(), elapsed);
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), latency = ?elapsed, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), latency = ?elapsed, "answered");
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_of(peer: &str, headers: &[(&str, &str)], trusted: &[&str]) -> IpAddr {
        let mut req = Request::new(Body::empty());
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 40_000)));
        for (name, value) in headers {
            req.headers_mut().append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let trusted: Vec<IpNet> = trusted.iter().map(|n| n.parse().unwrap()).collect();
        forwarded_client(&mut req, &trusted);
        let ConnectInfo(addr) = req.extensions().get::<ConnectInfo<SocketAddr>>().unwrap();
        addr.ip()
    }

    #[test]
    fn the_client_is_read_from_trusted_proxies_only() {
        let lb = ["10.0.0.0/8"];
        let xff = [("x-forwarded-for", "198.51.100.7, 10.0.0.9")];
        assert_eq!(client_of("10.0.0.2", &xff, &lb).to_string(), "198.51.100.7");
        // From anyone else the header is a claim, not a fact.
        assert_eq!(
            client_of("203.0.113.5", &xff, &lb).to_string(),
            "203.0.113.5"
        );
        assert_eq!(client_of("10.0.0.2", &xff, &[]).to_string(), "10.0.0.2");
        // A client cannot hide behind an address it writes itself: the
        // nearest untrusted hop counts.
        let spoofed = [("x-forwarded-for", "1.2.3.4, 198.51.100.7")];
        assert_eq!(
            client_of("10.0.0.2", &spoofed, &lb).to_string(),
            "198.51.100.7"
        );
        let forwarded = [(
            "forwarded",
            r#"for="[2001:db8::7]:4711";proto=https, for=10.0.0.9"#,
        )];
        assert_eq!(
            client_of("10.0.0.2", &forwarded, &lb).to_string(),
            "2001:db8::7"
        );
        let unknown = [("forwarded", "for=unknown, for=10.0.0.9")];
        assert_eq!(client_of("10.0.0.2", &unknown, &lb).to_string(), "10.0.0.9");
        assert_eq!(client_of("10.0.0.2", &[], &lb).to_string(), "10.0.0.2");
    }

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        let ok = |v: &str| acceptable_request_id(&HeaderValue::from_str(v).unwrap());
        assert!(ok("3f1c2a9e-0b7d-4c55-9a1e-2d3f4a5b6c7d"));
        assert!(ok("trace:abc_1.2"));
        assert!(!ok(""));
        assert!(!ok(&"a".repeat(65)));
        assert!(!ok("abc def"));
        assert!(!ok("abc\"def"));
        assert!(!ok("<script>"));
        let raw = HeaderValue::from_bytes(b"id\xff").unwrap();
        assert!(!acceptable_request_id(&raw));
    }
}
