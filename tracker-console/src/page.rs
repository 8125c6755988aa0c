//! The page shell (head, navigation by role, footer), the console's base
//! path, and error pages in the API's words.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use tracker_core::{Principal, Role};

pub(crate) use crate::request::{Base, PageError};
use crate::session::Session;

/// One link of the navigation.
struct Link {
    path: &'static str,
    label: &'static str,
}

const fn link(path: &'static str, label: &'static str) -> Link {
    Link { path, label }
}

/// The pages a role may open, in the order of the navigation.
fn links(role: Role) -> &'static [Link] {
    const OWNER: &[Link] = &[
        link("/owner", "Dashboard"),
        link("/owner/companies/new", "New company"),
        link("/owner/reports", "Reports"),
        link("/owner/audit", "Audit log"),
        link("/owner/no-sync", "No sync"),
        link("/me/account", "My account"),
    ];
    const ADMIN: &[Link] = &[
        link("/company", "Company"),
        link("/company/employees", "Employees"),
        link("/company/teams", "Teams"),
        link("/company/reports", "Reports"),
        link("/company/screenshots", "Screenshots"),
        link("/company/sessions", "Sessions"),
        link("/company/activity", "Activity"),
        link("/company/tasks", "Tasks"),
        link("/company/corrections", "Corrections"),
        link("/company/policy", "Policy"),
        link("/company/agents", "Agents"),
        link("/company/alerts", "Alerts"),
        link("/company/audit", "Audit log"),
        link("/company/access-log", "Access log"),
        link("/me/day", "My day"),
        link("/me/tasks", "My tasks"),
        link("/me/account", "My data"),
    ];
    const MANAGER: &[Link] = &[
        link("/company", "Team"),
        link("/company/employees", "My team"),
        link("/company/reports", "Reports"),
        link("/company/screenshots", "Screenshots"),
        link("/company/sessions", "Sessions"),
        link("/company/activity", "Activity"),
        link("/company/tasks", "Tasks"),
        link("/company/agents", "Agents"),
        link("/company/corrections", "Corrections"),
        link("/me/day", "My day"),
        link("/me/tasks", "My tasks"),
        link("/me/corrections", "My corrections"),
        link("/me/policy", "What is tracked"),
        link("/me/account", "My data"),
    ];
    const COMPANY: &[Link] = &[
        link("/me/day", "My day"),
        link("/me/tasks", "My tasks"),
        link("/me/corrections", "My corrections"),
        link("/me/agent", "My agent"),
        link("/me/policy", "What is tracked"),
        link("/me/access-log", "Who looked at my data"),
        link("/me/account", "My data"),
    ];
    match role {
        Role::Owner => OWNER,
        Role::Admin => ADMIN,
        Role::Manager => MANAGER,
        _ => COMPANY,
    }
}

/// A whole page: the shell around `body`, with the navigation of the
/// signed-in user (none on the sign-in page).
pub(crate) fn shell(base: &Base, session: Option<&Session>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · tracker" }
                link rel="stylesheet" href=(base.at("/assets/console.css"));
                script src=(base.at("/assets/console.js")) defer {}
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    a.brand href=(base.home()) { "tracker" }
                    @if let Some(s) = session {
                        nav aria-label="Main" {
                            ul {
                                @for l in links(s.principal.role()) {
                                    li { a href=(base.at(l.path)) { (l.label) } }
                                }
                            }
                        }
                        (who(&s.principal))
                        form.sign-out method="post" action=(base.at("/sign-out")) {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// Who is signed in, and where.
fn who(p: &Principal) -> Markup {
    let user = p.user();
    let name = if user.display_name.is_empty() {
        &user.username
    } else {
        &user.display_name
    };
    html! {
        p.who {
            (name) " · " (p.role().to_string())
            @if let Some(c) = p.company() { " · " (c.name) }
        }
    }
}

/// A page as an answer.
pub(crate) fn page(base: &Base, session: &Session, title: &str, body: Markup) -> Response {
    session.respond(Html(shell(base, Some(session), title, body).into_string()))
}

/// What a person can do about a refusal whose cause is not a field.
fn advice(e: &tracker_core::Error) -> Option<&'static str> {
    match e {
        tracker_core::Error::Unavailable { .. } => {
            Some("The database cannot be reached just now: try again in a few seconds.")
        }
        tracker_core::Error::SeatLimitReached { .. } => Some(
            "Every active employee holds a seat of the plan. Deactivate someone who has \
             left, or ask the operator for a plan with more seats.",
        ),
        _ => None,
    }
}

impl PageError {
    /// Status, title and what to tell the user (the API's words for the
    /// service's errors).
    fn describe(self) -> (StatusCode, String, String, Vec<String>) {
        match self {
            PageError::Core(e) => {
                let advice = advice(&e);
                let p = tracker_axum::error::ApiError::Core(e).problem();
                let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
                let fields = p
                    .errors
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect();
                let detail = match advice {
                    Some(a) => format!("{}. {a}", p.detail.trim_end_matches('.')),
                    None => p.detail,
                };
                (status, p.title.to_owned(), detail, fields)
            }
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired".to_owned(),
                "The form was not sent from this page of this session. Go back, reload the page \
                 and send it again."
                    .to_owned(),
                Vec::new(),
            ),
            PageError::BadForm(what) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid form".to_owned(),
                what,
                Vec::new(),
            ),
        }
    }

    /// The error page, with the navigation of `session` when there is one.
    pub(crate) fn page(self, base: &Base, session: Option<&Session>) -> Response {
        // An expired form's detail already says what to do; its 403 is not
        // about the caller's role.
        let expired = matches!(self, PageError::Csrf);
        let (status, title, detail, fields) = self.describe();
        let next = match status {
            _ if expired => "",
            StatusCode::NOT_FOUND => "It does not exist, or it is not yours to see.",
            StatusCode::FORBIDDEN => "Your role or your company's state does not allow it.",
            StatusCode::UNAUTHORIZED => "Sign in again.",
            _ => "Go back, correct what is named above, and send it again.",
        };
        let body = html! {
            div.problem role="alert" {
                p { (detail) }
                @if !fields.is_empty() {
                    ul { @for f in &fields { li { (f) } } }
                }
                @if !next.is_empty() {
                    p { (next) }
                }
                p { a href=(base.home()) { "Back to the start page" } }
            }
        };
        let markup = shell(base, session, &title, body);
        match session {
            Some(s) => (status, s.respond(Html(markup.into_string()))).into_response(),
            None => (status, Html(markup.into_string())).into_response(),
        }
    }
}

impl Session {
    /// The error page of `e` for this session.
    pub(crate) fn error(&self, e: impl Into<PageError>) -> Response {
        e.into().page(&self.base, Some(self))
    }
}

/// A 404 page for a path the console does not have.
pub(crate) async fn not_found(base: Base) -> Response {
    PageError::Core(tracker_core::Error::not_found("page")).page(&base, None)
}
