//! Extractors: the caller from its bearer token (and company key), and
//! JSON bodies whose faults are named precisely.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use tracker_core::{AgentContext, PageRequest, Principal};

use crate::AppState;
use crate::error::ApiError;
use crate::strict::{Strict, plain};

/// The header carrying the company key on agent routes.
pub const COMPANY_KEY_HEADER: &str = "x-company-key";

/// The token of `Authorization: Bearer <token>` (or the `Token` scheme).
pub(crate) fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(tracker_core::Error::Unauthenticated)?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(tracker_core::Error::Unauthenticated)?;
    let token = token.trim();
    if !(scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        || token.is_empty()
    {
        return Err(tracker_core::Error::Unauthenticated.into());
    }
    Ok(token)
}

/// The client's address, when the server passes it along.
pub(crate) fn client_ip(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}

/// A signed-in user: OWNER or a company user.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)?;
        let principal = match &state.authenticator {
            Some(authenticator) => {
                let identity = authenticator.identify(token).await?;
                state.tracker.resolve(identity).await?
            }
            None => state.tracker.authenticate(token).await?,
        };
        // A company key is not needed here, but one sent must be the
        // caller's: a token of one company with another's key is refused.
        if let Some(key) = parts.headers.get(COMPANY_KEY_HEADER) {
            let key = key
                .to_str()
                .map_err(|_| tracker_core::Error::InvalidCompanyKey)?;
            principal.check_company_key(key)?;
        }
        // The audit log records where a change came from.
        Ok(Caller(match client_ip(parts) {
            Some(ip) => principal.with_client_ip(ip),
            None => principal,
        }))
    }
}

/// A desktop agent: a company user's token with its company's key.
#[derive(Debug, Clone)]
pub struct Agent(pub AgentContext);

impl FromRequestParts<AppState> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)?;
        let key = parts
            .headers
            .get(COMPANY_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(tracker_core::Error::InvalidCompanyKey)?;
        Ok(Agent(state.tracker.agent(key.trim(), token).await?))
    }
}

/// The client address of a request, if known.
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}

/// Query-string parameters, parsed strictly: a malformed value, a missing
/// parameter or one the route does not know is 400, naming it.
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

/// A list request: the page (`cursor`, `limit`) and the list's own
/// parameters, parsed as [`Params`].
#[derive(Debug, Clone)]
pub struct Listing<T> {
    /// Which page.
    pub page: PageRequest,
    /// The list's filter.
    pub filter: T,
}

/// Deserializes `T` from query pairs, naming the parameter at fault.
fn from_pairs<T: DeserializeOwned>(pairs: &[(String, String)]) -> Result<T, ApiError> {
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        ApiError::InvalidQuery {
            field: field_name(&path, &message),
            message: plain(&message),
        }
    })
}

fn query_pairs(parts: &Parts) -> Vec<(String, String)> {
    form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        from_pairs(&query_pairs(parts)).map(Params)
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Listing<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let (paging, rest): (Vec<_>, Vec<_>) = query_pairs(parts)
            .into_iter()
            .partition(|(k, _)| k == "cursor" || k == "limit");
        Ok(Listing {
            page: from_pairs(&paging)?,
            filter: from_pairs(&rest)?,
        })
    }
}

/// A JSON body. Refuses another media type (415), a body over the limit
/// (413), malformed JSON (400), and JSON of the wrong shape (422, naming
/// the field).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Parses JSON, classifying what is wrong with it.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Most bodies are right: parse them at full speed, and only a refused
    // one again with the path tracking that names the field at fault.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match T::deserialize(Strict(&mut de)).and_then(|value| de.end().map(|()| value)) {
        Ok(value) => Ok(value),
        Err(_) => explain_json(bytes),
    }
}

/// Parses a body again with path tracking, for the error that names the
/// field (or says the document is malformed).
#[cold]
fn explain_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(Strict(&mut de)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // A document that is both of the wrong shape and cut short is
        // malformed first: checked only on this error path.
        let well_formed = || serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        match inner.classify() {
            serde_json::error::Category::Data if !well_formed() => ApiError::MalformedJson {
                detail: serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
            },
            serde_json::error::Category::Data => ApiError::InvalidBody {
                field: field_name(&path, &inner.to_string()),
                message: plain(&strip_position(&inner.to_string())),
            },
            _ => ApiError::MalformedJson {
                detail: inner.to_string(),
            },
        }
    })?;
    de.end().map_err(|e| ApiError::MalformedJson {
        detail: e.to_string(),
    })?;
    Ok(value)
}

/// The field a data error is about: its path, completed with the name of a
/// missing field, or at the top level the name in the message.
fn field_name(path: &str, message: &str) -> String {
    if path != "." && !path.is_empty() {
        // The path of a missing field stops at its parent; an unknown
        // field's path already ends with it.
        let named = message
            .split('`')
            .nth(1)
            .filter(|_| message.starts_with("missing field"));
        return match named {
            Some(name) => format!("{path}.{name}"),
            None => path.to_owned(),
        };
    }
    message
        .split('`')
        .nth(1)
        .map(str::to_owned)
        .unwrap_or_else(|| "body".to_owned())
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Reads the whole body within `limit` bytes.
pub(crate) async fn read_body(
    req: Request,
    state: &AppState,
    limit: usize,
) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            // The body could not be read whole (the client went away, a
            // broken chunked encoding).
            ApiError::MalformedJson {
                detail: rejection.body_text(),
            }
        }
    })
}

/// Bodies from this size on are parsed on the blocking pool.
const PARSE_APART_BYTES: usize = 64 << 10;

impl<T: DeserializeOwned + Send + 'static> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType {
                expected: "application/json",
            });
        }
        let bytes = read_body(req, state, state.config.json_limit).await?;
        if bytes.len() < PARSE_APART_BYTES {
            return parse_json(&bytes).map(JsonBody);
        }
        // A batch of a thousand events takes the better part of a
        // millisecond to parse: not on the worker that also drives other
        // connections, whose small requests would wait behind it.
        let apart = bytes.clone();
        match tokio::task::spawn_blocking(move || parse_json(&apart)).await {
            Ok(parsed) => parsed.map(JsonBody),
            // The runtime is shutting down (the parser does not panic).
            Err(_) => parse_json(&bytes).map(JsonBody),
        }
    }
}

/// A JSON body that may be left out: no body at all, or `null`, is
/// `T::default()` (an approval without a note); any other body is read as
/// [`JsonBody`].
#[derive(Debug, Clone)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default + Send + 'static> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let declared_empty = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0");
        let has_type = req.headers().contains_key(header::CONTENT_TYPE);
        if declared_empty || !has_type {
            let bytes = read_body(req, state, state.config.json_limit).await?;
            if bytes.is_empty() {
                return Ok(OptionalJson(T::default()));
            }
            if !has_type {
                return Err(ApiError::UnsupportedMediaType {
                    expected: "application/json",
                });
            }
            return parse_json::<Option<T>>(&bytes).map(|v| OptionalJson(v.unwrap_or_default()));
        }
        JsonBody::<Option<T>>::from_request(req, state)
            .await
            .map(|JsonBody(v)| OptionalJson(v.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Batch {
        events: Vec<Event>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Event {
        duration_seconds: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Filter {
        user_id: Option<uuid::Uuid>,
        active: Option<bool>,
    }

    fn listing(query: &str) -> Result<Listing<Filter>, ApiError> {
        let req = axum::http::Request::get(format!("/x?{query}"))
            .body(())
            .unwrap();
        let (mut parts, ()) = req.into_parts();
        now_or_never(Listing::from_request_parts(&mut parts, &()))
    }

    /// The extractors here never wait: poll once.
    fn now_or_never<F: std::future::Future>(f: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => unreachable!("extractor waited"),
        }
    }

    #[test]
    fn query_strings_are_strict_and_name_the_parameter() {
        let ok = listing("limit=5&active=true&cursor=abc").unwrap();
        assert_eq!(ok.page, PageRequest::after("abc", 5));
        assert_eq!(
            ok.filter,
            Filter {
                user_id: None,
                active: Some(true)
            }
        );
        let field = |q: &str| match listing(q) {
            Err(ApiError::InvalidQuery { field, .. }) => field,
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(field("limit=ten"), "limit");
        assert_eq!(field("user_id=42"), "user_id");
        assert_eq!(field("active=maybe"), "active");
        assert_eq!(field("colour=blue"), "colour");
        assert_eq!(field("page=2"), "page");
    }

    fn err(body: &str) -> ApiError {
        parse_json::<Batch>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn json_faults_are_named() {
        assert!(matches!(
            err("{\"events\": ["),
            ApiError::MalformedJson { .. }
        ));
        assert!(matches!(err("not json"), ApiError::MalformedJson { .. }));
        assert!(matches!(err("{\"oops\": "), ApiError::MalformedJson { .. }));
        assert!(matches!(
            err("{\"events\": []} trailing"),
            ApiError::MalformedJson { .. }
        ));
        let field = |body: &str| match err(body) {
            ApiError::InvalidBody { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field("{}"), "events");
        assert_eq!(field("{\"events\": [], \"extra\": 1}"), "extra");
        assert_eq!(
            field("{\"events\": [{\"duration_seconds\": \"ten\"}]}"),
            "events[0].duration_seconds"
        );
        assert_eq!(field("{\"events\": [{}]}"), "events[0].duration_seconds");
        assert_eq!(field("{\"events\": 3}"), "events");
    }

    #[test]
    fn tokens_come_from_bearer_or_token_schemes() {
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            h
        };
        assert_eq!(bearer(&headers("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer(&headers("token abc")).unwrap(), "abc");
        for bad in ["Basic abc", "Bearer", "Bearer  ", "abc"] {
            assert_eq!(
                bearer(&headers(bad)).unwrap_err().code(),
                "unauthenticated",
                "{bad}"
            );
        }
        assert_eq!(
            bearer(&HeaderMap::new()).unwrap_err().code(),
            "unauthenticated"
        );
    }
}
