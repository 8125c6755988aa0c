//! The session cookie, its idle stamp, and CSRF tokens.
//!
//! The session cookie is `<token>.<unix seconds of the last request>.<mac>`
//! where the mac is HMAC-SHA256 under the console's key of the first two:
//! the stamp cannot be moved forward by the browser, and a stolen cookie
//! dies with the token. CSRF tokens are MACs of the token, so they need no
//! storage and die with the session.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tracker_core::Principal;

use crate::request::{Base, PageError};
use crate::{Shared, State};

/// The session cookie's name.
pub(crate) const SESSION: &str = "tracker_session";
/// The sign-in form's CSRF cookie.
pub(crate) const SIGN_IN: &str = "tracker_sign_in";
/// The remembered company key.
pub(crate) const REMEMBERED_KEY: &str = "tracker_company_key";

fn mac(key: &[u8; 32], parts: &[&str]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part.as_bytes());
        mac.update(b"\n");
    }
    hex::encode(mac.finalize().into_bytes())
}

fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A cookie's value from the request headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, on the console's
/// path, `Secure` when configured; `max_age` zero removes the cookie.
pub(crate) fn set_cookie(
    shared: &Shared,
    base: &Base,
    name: &str,
    value: &str,
    max_age: Option<u64>,
) -> HeaderValue {
    // Every value the console sets is hex, ids and `_`; anything else (a
    // remembered key the user typed) is dropped rather than sent.
    let safe = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    let value = if safe { value } else { "" };
    let mut c = format!(
        "{name}={value}; Path={}; HttpOnly; SameSite=Strict",
        base.cookie_path()
    );
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if shared.config.secure_cookies {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("an ASCII value and a prefix axum routed")
}

/// The session cookie's value for `token`, stamped now.
pub(crate) fn session_value(shared: &Shared, token: &str) -> String {
    let now = Utc::now().timestamp().to_string();
    let m = mac(&shared.key, &["session", token, &now]);
    format!("{token}.{now}.{m}")
}

/// The token of a valid, fresh session cookie.
fn session_token<'a>(shared: &Shared, value: &'a str) -> Result<&'a str, Refusal> {
    let mut parts = value.rsplitn(3, '.');
    let (Some(m), Some(stamp), Some(token)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Refusal::NoSession);
    };
    if !equal(m, &mac(&shared.key, &["session", token, stamp])) {
        return Err(Refusal::NoSession);
    }
    let stamp: i64 = stamp.parse().map_err(|_| Refusal::NoSession)?;
    let idle = Utc::now().timestamp().saturating_sub(stamp);
    if idle < 0 || idle as u64 > shared.config.idle_timeout.as_secs() {
        return Err(Refusal::Idle);
    }
    Ok(token)
}

/// A CSRF token bound to `secret` (a session's token, or the sign-in
/// cookie).
pub(crate) fn csrf_for(shared: &Shared, secret: &str) -> String {
    mac(&shared.key, &["csrf", secret])[..32].to_owned()
}

/// Checks a form's CSRF token against `secret`.
pub(crate) fn check_csrf(shared: &Shared, secret: &str, sent: &str) -> Result<(), PageError> {
    if equal(sent, &csrf_for(shared, secret)) {
        Ok(())
    } else {
        Err(PageError::Csrf)
    }
}

/// Why a request has no session.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// No cookie, or one this console did not sign.
    NoSession,
    /// The session was idle too long.
    Idle,
    /// The token no longer authenticates (signed out elsewhere,
    /// deactivated, password changed, company suspended or expired).
    Ended,
}

/// A signed-in user: the principal of the session's token, the CSRF token
/// of its forms, and the session cookie stamped again.
pub(crate) struct Session {
    pub(crate) principal: Principal,
    pub(crate) csrf: String,
    pub(crate) token: String,
    pub(crate) base: Base,
    refreshed: HeaderValue,
}

impl Session {
    /// Checks a form's CSRF token.
    pub(crate) fn check(&self, shared: &Shared, sent: &str) -> Result<(), PageError> {
        check_csrf(shared, &self.token, sent)
    }

    /// An answer that also stamps the session again.
    pub(crate) fn respond(&self, body: impl IntoResponse) -> Response {
        ([(header::SET_COOKIE, self.refreshed.clone())], body).into_response()
    }
}

impl<S> FromRequestParts<S> for Session
where
    S: Send + Sync,
    State: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let shared = State::from_ref(state);
        let base = Base::of(parts);
        let refusal = match cookie(&parts.headers, SESSION).map(|v| session_token(&shared, v)) {
            None => Refusal::NoSession,
            Some(Err(r)) => r,
            Some(Ok(token)) => match shared.tracker.authenticate(token).await {
                Ok(principal) => {
                    let token = token.to_owned();
                    let value = session_value(&shared, &token);
                    return Ok(Session {
                        csrf: csrf_for(&shared, &token),
                        refreshed: set_cookie(&shared, &base, SESSION, &value, None),
                        principal,
                        token,
                        base,
                    });
                }
                Err(_) => Refusal::Ended,
            },
        };
        if let Refusal::Idle = refusal
            && let Some(Ok(token)) =
                cookie(&parts.headers, SESSION).map(|v| v.rsplitn(3, '.').nth(2).ok_or(()))
        {
            // An idle session's token dies with it.
            let _ = shared.tracker.revoke_token(token).await;
        }
        let reason = match refusal {
            Refusal::NoSession => "",
            Refusal::Idle => "?ended=idle",
            Refusal::Ended => "?ended=revoked",
        };
        let to = format!("{}/sign-in{reason}", base.prefix());
        let clear = set_cookie(&shared, &base, SESSION, "", Some(0));
        Err(([(header::SET_COOKIE, clear)], Redirect::to(&to)).into_response())
    }
}
