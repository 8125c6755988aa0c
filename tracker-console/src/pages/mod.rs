//! The pages, one module per portal, and signing in and out.

mod alerts;
mod company;
mod employees;
mod filter;
mod me;
mod owner;
mod policy;
mod privacy;
mod reports;
mod teams;
mod tracking;

use axum::Router;
use axum::extract::{Query, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, http::HeaderValue};
use maud::{Markup, html};
use serde::Deserialize;
use tracker_core::Role;
use tracker_core::protocol::LoginRequest;

use crate::State;
use crate::page::{Base, PageError, not_found, page, shell};
use crate::session::{
    REMEMBERED_KEY, SESSION, SIGN_IN, Session, check_csrf, cookie, csrf_for, session_value,
    set_cookie,
};

pub(crate) fn routes() -> Router<State> {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .merge(company::routes())
        .merge(policy::routes())
        .merge(employees::routes())
        .merge(teams::routes())
        .merge(tracking::routes())
        .merge(reports::routes())
        .merge(alerts::routes())
        .merge(me::routes())
        .merge(owner::routes())
        .merge(privacy::routes())
        .fallback(not_found)
}

/// The start page of a role.
async fn home(session: Session) -> Response {
    let to = match session.principal.role() {
        Role::Owner => "/owner",
        Role::Admin | Role::Manager => "/company",
        _ => "/me/day",
    };
    session.respond(Redirect::to(&session.base.at(to)))
}

/// A form's CSRF field.
pub(crate) fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// A page, or the error page of what failed while its body was built.
pub(crate) fn render(s: &Session, title: &str, body: Result<Markup, PageError>) -> Response {
    match body {
        Ok(body) => page(&s.base, s, title, body),
        Err(e) => s.error(e),
    }
}

/// A redirect after a successful POST (303: the browser GETs the target).
pub(crate) fn see_other(session: &Session, path: &str) -> Response {
    session.respond(Redirect::to(&session.base.at(path)))
}

#[derive(Debug, Default, Deserialize)]
struct SignInQuery {
    #[serde(default)]
    ended: Option<String>,
}

/// The sign-in form, with the message of why a session ended.
fn sign_in_form(
    base: &Base,
    csrf: &str,
    key: &str,
    username: &str,
    message: Option<Markup>,
) -> Markup {
    let body = html! {
        div.sign-in {
            @if let Some(m) = message { (m) }
            section {
                form.stack method="post" action=(base.at("/sign-in")) {
                    (csrf_field(csrf))
                    label {
                        "Company key"
                        span.hint { "Leave empty to sign in as the operator (OWNER)." }
                        input type="password" name="company_key" value=(key)
                            autocomplete="off" spellcheck="false";
                    }
                    label.check {
                        input type="checkbox" name="remember" value="yes" checked[!key.is_empty()];
                        "Remember the company key on this browser"
                    }
                    label { "Username" input type="text" name="username" value=(username) required autocomplete="username"; }
                    label { "Password" input type="password" name="password" required autocomplete="current-password"; }
                    button type="submit" { "Sign in" }
                }
            }
        }
    };
    shell(base, None, "Sign in", body)
}

/// The sign-in form's own CSRF secret: the cookie's, or a new one.
fn sign_in_secret(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, SIGN_IN).filter(|v| v.len() == 32) {
        Some(v) => (v.to_owned(), false),
        None => {
            let mut bytes = [0u8; 16];
            getrandom::fill(&mut bytes).expect("the OS random source");
            (hex::encode(bytes), true)
        }
    }
}

async fn sign_in_page(
    Extract(shared): Extract<State>,
    base: Base,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Response {
    let (secret, fresh) = sign_in_secret(&headers);
    let key = cookie(&headers, REMEMBERED_KEY).unwrap_or("");
    let message = q.ended.as_deref().map(|why| {
        let text = match why {
            "idle" => "Your session ended after a while without activity. Sign in again.",
            "signed-out" => "You are signed out.",
            "password" => "Your password changed. Sign in with the new one.",
            _ => "Your session ended: it was signed out, or your account or company changed. Sign in again.",
        };
        html! { p.notice role="status" { (text) } }
    });
    let page = sign_in_form(&base, &csrf_for(&shared, &secret), key, "", message);
    let mut response = Html(page.into_string()).into_response();
    if fresh {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(&shared, &base, SIGN_IN, &secret, None),
        );
    }
    response
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    company_key: String,
    #[serde(default)]
    remember: Option<String>,
    username: String,
    password: String,
    csrf: String,
}

async fn sign_in(
    Extract(shared): Extract<State>,
    base: Base,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let Some(secret) = cookie(&headers, SIGN_IN) else {
        return PageError::Csrf.page(&base, None);
    };
    if let Err(e) = check_csrf(&shared, secret, &form.csrf) {
        return e.page(&base, None);
    }
    let key = form.company_key.trim().to_owned();
    let request = LoginRequest {
        company_key: (!key.is_empty()).then(|| key.clone()),
        username: form.username.clone(),
        password: form.password,
    };
    match shared.tracker.login(request, None).await {
        Ok(login) => {
            let value = session_value(&shared, login.token.expose());
            let remembered = match (&form.remember, key.is_empty()) {
                (Some(_), false) => {
                    set_cookie(&shared, &base, REMEMBERED_KEY, &key, Some(31_536_000))
                }
                _ => set_cookie(&shared, &base, REMEMBERED_KEY, "", Some(0)),
            };
            let mut response = Redirect::to(&base.home()).into_response();
            let h = response.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(&shared, &base, SESSION, &value, None),
            );
            h.append(header::SET_COOKIE, remembered);
            response
        }
        Err(e) => {
            let problem = tracker_axum::error::ApiError::Core(e).problem();
            let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNAUTHORIZED);
            let message = html! {
                div.problem role="alert" {
                    p { (problem.detail) }
                    p { "Check the company key, the username and the password, and try again." }
                }
            };
            let page = sign_in_form(&base, &form.csrf, &key, &form.username, Some(message));
            (status, Html(page.into_string())).into_response()
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    pub(crate) csrf: String,
}

async fn sign_out(
    Extract(shared): Extract<State>,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(e) = session.check(&shared, &form.csrf) {
        return session.error(e);
    }
    let ip = session.principal.client_ip().map(str::to_owned);
    let _ = shared.tracker.logout(&session.token, ip).await;
    let mut response = Redirect::to(&session.base.at("/sign-in?ended=signed-out")).into_response();
    let clear: HeaderValue = set_cookie(&shared, &session.base, SESSION, "", Some(0));
    response.headers_mut().append(header::SET_COOKIE, clear);
    response
}
