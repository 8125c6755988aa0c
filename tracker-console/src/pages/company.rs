//! The company's pages for ADMINs and MANAGERs: the dashboard, tasks, the
//! agents, corrections to decide, and the audit log,
//! with the helpers every company page shares. A MANAGER sees the people
//! of its teams: the service scopes every list.

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State as Extract};
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use tracker_core::protocol::{AlertQuery, Decision, NewTask, TaskQuery};
use tracker_core::store::AuditFilter;
use tracker_core::{CorrectionId, CorrectionStatus, Liveness, PageRequest, Role, UserId};

use super::filter;
use super::{csrf_field, see_other};
use crate::State;
use crate::format::{self, tz_of};
use crate::page::{PageError, page};
use crate::session::Session;

pub(super) fn routes() -> Router<State> {
    Router::new()
        .route("/company", get(dashboard))
        .route("/company/tasks", get(tasks).post(create_task))
        .route("/company/agents", get(agents))
        .route("/company/corrections", get(corrections))
        .route("/company/corrections/{id}/{decision}", post(decide))
        .route("/company/audit", get(audit))
        .route("/company/audit/export", get(audit_export))
}

pub(super) fn all() -> PageRequest {
    PageRequest::first(tracker_core::paging::MAX_LIMIT)
}

pub(super) fn parse<T: std::str::FromStr>(id: &str, what: &'static str) -> Result<T, PageError> {
    id.parse()
        .map_err(|_| PageError::Core(tracker_core::Error::not_found(what)))
}

/// These pages are the ADMINs' and MANAGERs'; an employee has its own.
pub(super) fn refused_unless_staff(s: &Session) -> Option<Response> {
    (!matches!(s.principal.role(), Role::Admin | Role::Manager)).then(|| {
        s.error(tracker_core::Error::Forbidden {
            action: "read_users",
        })
    })
}

/// A staff page: refused to anyone else before `body` runs (a future does
/// nothing until awaited), else `body` rendered under `title`.
pub(super) async fn staff_page(
    s: &Session,
    title: &str,
    body: impl std::future::Future<Output = Result<Markup, PageError>>,
) -> Response {
    match refused_unless_staff(s) {
        Some(refused) => refused,
        None => super::render(s, title, body.await),
    }
}

async fn agents(Extract(shared): Extract<State>, s: Session) -> Response {
    if let Some(refused) = refused_unless_staff(&s) {
        return refused;
    }
    let list = match shared.tracker.agents(&s.principal, &all()).await {
        Ok(p) => p.items,
        Err(e) => return s.error(e),
    };
    let tz = tz_of(&s.principal);
    let count = |l: Liveness| list.iter().filter(|a| a.liveness == l).count();
    let outdated = list.iter().filter(|a| a.policy_outdated).count();
    let body = html! {
        div.kpis {
            div.kpi { b { (count(Liveness::Online)) } span { "online" } }
            div.kpi { b { (count(Liveness::Stale)) } span { "stale" } }
            div.kpi { b { (count(Liveness::Offline)) } span { "offline" } }
            div.kpi { b { (count(Liveness::Never)) } span { "never connected" } }
            div.kpi { b { (outdated) } span { "on an outdated policy" } }
        }
        div.table-wrap { table {
            thead { tr { th { "Employee" } th { "Liveness" } th { "Last heartbeat" } th { "Agent" } th { "Policy version" } } }
            tbody {
                @for a in &list {
                    tr {
                        td { (a.username) }
                        td { (format!("{:?}", a.liveness).to_lowercase()) }
                        td { (a.last_heartbeat_at.map_or("never".to_owned(), |t| format::date_time(tz, t))) }
                        td { (a.agent_version.as_deref().unwrap_or("–")) }
                        td {
                            (a.policy_version.map_or("–".to_owned(), |v| v.to_string()))
                            @if a.policy_outdated { " " span.status.warn { "outdated" } }
                        }
                    }
                }
            }
        } }
    };
    page(&s.base, &s, "Agents", body)
}

async fn corrections(Extract(shared): Extract<State>, s: Session) -> Response {
    if let Some(refused) = refused_unless_staff(&s) {
        return refused;
    }
    let p = &s.principal;
    let list = match shared.tracker.corrections(p, None, None, &all()).await {
        Ok(page) => page.items,
        Err(e) => return s.error(e),
    };
    let names = match shared.tracker.list_users(p, None, &all()).await {
        Ok(page) => page.items,
        Err(e) => return s.error(e),
    };
    let name = |id: UserId| {
        names
            .iter()
            .find(|u| u.id == id)
            .map_or_else(|| id.to_string(), |u| u.username.clone())
    };
    let tz = tz_of(p);
    let body = html! {
        @if list.is_empty() { p { "No correction requested." } }
        @else {
            div.table-wrap { table {
                thead { tr { th { "Employee" } th { "Span" } th { "Reason" } th { "Status" } th { "Decision" } th { "Effect" } } }
                tbody {
                    @for c in list.iter().rev() {
                        tr {
                            td { (name(c.user_id)) }
                            td { (format::date_time(tz, c.starts_at)) "–" (format::time(tz, c.ends_at)) }
                            td { (c.reason) }
                            td { (c.status.as_str()) }
                            td {
                                @if c.status == CorrectionStatus::Pending && c.user_id != p.user_id() {
                                    @for (decision, label) in [("approve", "Approve"), ("reject", "Reject")] {
                                        form.inline method="post" action=(s.base.at(&format!("/company/corrections/{}/{decision}", c.id))) {
                                            (csrf_field(&s.csrf))
                                            label { span.hint { "Note" } input type="text" name="note" maxlength="1000"; }
                                            button.secondary type="submit" { (label) }
                                        }
                                    }
                                } @else if let Some(n) = &c.decision_note { (n) }
                            }
                            td {
                                @let date = tracker_core::report::local_date(tz, c.starts_at);
                                @if c.status == CorrectionStatus::Pending { "Adds up to " (format::duration((c.ends_at - c.starts_at).num_seconds().max(0) as u64)) " of active time. " }
                                a href=(s.base.at(&format!("/company/reports/day?user={}&date={date}", c.user_id))) { "See the day" }
                            }
                        }
                    }
                }
            } }
        }
    };
    page(&s.base, &s, "Corrections", body)
}

#[derive(Deserialize)]
struct DecisionForm {
    csrf: String,
    #[serde(default)]
    note: String,
}

async fn decide(
    Extract(shared): Extract<State>,
    s: Session,
    Path((id, decision)): Path<(String, String)>,
    Form(form): Form<DecisionForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let id = match parse::<CorrectionId>(&id, "correction") {
        Ok(id) => id,
        Err(e) => return s.error(e),
    };
    let note = form.note.trim();
    let d = Decision {
        note: (!note.is_empty()).then(|| note.to_owned()),
    };
    let t = &shared.tracker;
    let result = match decision.as_str() {
        "approve" => t.approve_correction(&s.principal, id, d).await,
        "reject" => t.reject_correction(&s.principal, id, d).await,
        _ => return s.error(tracker_core::Error::not_found("page")),
    };
    match result {
        Ok(_) => see_other(&s, "/company/corrections"),
        Err(e) => s.error(e),
    }
}

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

async fn audit(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<AuditQuery>,
) -> Response {
    staff_page(&s, "Audit log", audit_body(&shared, &s, &q)).await
}

/// The company's chain as a signed export, for an auditor.
async fn audit_export(Extract(shared): Extract<State>, s: Session) -> Response {
    match shared
        .tracker
        .company_audit_export(&s.principal, None, None)
        .await
    {
        Ok(export) => s.respond(tracker_axum::audit_export_response("audit.ndjson", export)),
        Err(e) => s.error(e),
    }
}

async fn audit_body(shared: &State, s: &Session, q: &AuditQuery) -> Result<Markup, PageError> {
    let t = &shared.tracker;
    let p = &s.principal;
    let tz = tz_of(p);
    let action = match filter::given(&q.action) {
        None => None,
        Some(a) => Some(tracker_core::AuditAction::parse(a).ok_or_else(|| {
            PageError::BadForm(format!("The action {a:?} is not an audit action."))
        })?),
    };
    let actor = filter::person(&q.user)?;
    let (from, to) = (
        filter::date(&q.from, "first day")?,
        filter::date(&q.to, "last day")?,
    );
    let (from_at, to_at) = filter::span(tz, from, to);
    let audit_filter = AuditFilter {
        action,
        actor,
        from: from_at,
        to: to_at,
    };
    let events = t
        .company_audit(p, &audit_filter, &filter::page_of(&q.after))
        .await?;
    let verified = t.verify_company_audit(p).await?;
    let users = t.list_users(p, None, &all()).await?.items;
    let keep = [
        (
            "action",
            action.map(|a| a.as_str().to_owned()).unwrap_or_default(),
        ),
        ("user", actor.map(|u| u.to_string()).unwrap_or_default()),
        ("from", from.map(|d| d.to_string()).unwrap_or_default()),
        ("to", to.map(|d| d.to_string()).unwrap_or_default()),
    ];
    Ok(html! {
        @match &verified.broken {
            None => p.notice role="status" { "The company's chain verifies: " (verified.events) " events, every link holds." },
            Some(b) => p.problem role="alert" { "The chain is broken at event " (b.seq) ": " (b.reason) },
        }
        form.inline method="get" action=(s.base.at("/company/audit")) {
            label { "Action"
                select name="action" {
                    option value="" { "any" }
                    @for a in tracker_core::AuditAction::ALL {
                        option value=(a.as_str()) selected[action == Some(*a)] { (a.as_str()) }
                    }
                }
            }
            label { "Actor"
                select name="user" {
                    option value="" { "anyone" }
                    @for u in &users { option value=(u.id) selected[actor == Some(u.id)] { (u.username) } }
                }
            }
            (filter::day_picker("from", "From", from))
            (filter::day_picker("to", "To", to))
            button.secondary type="submit" { "Filter" }
        }
        p.hint { "Oldest first, " (filter::PAGE_ROWS) " a page; times in " (tz.name()) "." }
        div.table-wrap { table {
            thead { tr { th { "#" } th { "When" } th { "Actor" } th { "Action" } th { "What" } } }
            tbody {
                @for e in &events.items {
                    tr {
                        td { (e.seq) }
                        td { (format::date_time(tz, e.at)) }
                        td { (super::owner::actor(&e.actor)) }
                        td { (e.action.as_str()) }
                        td {
                            (e.description)
                            details { summary { "Details" }
                                (format::facts(&e.details))
                                p.hint { "Hash " code { (e.hash) } @if let Some(ip) = &e.client_ip { " · from " (ip) } }
                            }
                        }
                    }
                }
            }
        } }
        (filter::next_page(s, "/company/audit", &keep, events.next_cursor.as_deref()))
        (super::owner::evidence(s, t, "/company/audit/export"))
    })
}

async fn dashboard(Extract(shared): Extract<State>, s: Session) -> Response {
    if let Some(refused) = refused_unless_staff(&s) {
        return refused;
    }
    let t = &shared.tracker;
    let p = &s.principal;
    let agents = match t.agents(p, &all()).await {
        Ok(page) => page.items,
        Err(e) => return s.error(e),
    };
    let count = |l: Liveness| agents.iter().filter(|a| a.liveness == l).count();
    let outdated = agents.iter().filter(|a| a.policy_outdated).count();
    let pending = match t
        .corrections(p, Some(CorrectionStatus::Pending), None, &all())
        .await
    {
        Ok(page) => page.items.len(),
        Err(e) => return s.error(e),
    };
    let today = tracker_core::report::local_date(tz_of(p), t.now());
    let active_today: u64 = match t.timesheet(p, today, today, None).await {
        Ok(rows) => rows.iter().map(|r| r.totals.active_seconds).sum(),
        Err(e) => return s.error(e),
    };
    let admin = p.role() == Role::Admin;
    // What only an ADMIN may read: seats, alerts, the policy's version.
    let (seats, open_alerts, policy_version) = if admin {
        let seats = match t.seat_usage(p).await {
            Ok(s) => s,
            Err(e) => return s.error(e),
        };
        let query = AlertQuery {
            open: Some(true),
            kind: None,
        };
        let alerts = match t.alerts(p, &query, &all()).await {
            Ok(page) => page.items.len(),
            Err(e) => return s.error(e),
        };
        let version = match t.policy(p).await {
            Ok(r) => r.policy.version,
            Err(e) => return s.error(e),
        };
        (Some(seats), Some(alerts), version)
    } else {
        (None, None, 0)
    };
    let connected = agents.iter().any(|a| a.liveness != Liveness::Never);
    let checklist = [
        (
            policy_version > 1,
            "Set the tracking policy",
            "/company/policy",
        ),
        (agents.len() > 1, "Add employees", "/company/employees"),
        (connected, "Connect an agent", "/company/agents"),
    ];
    let first_run = admin && checklist.iter().any(|(done, _, _)| !done);
    let body = html! {
        @if first_run {
            section {
                h2 { "Getting started" }
                ol {
                    @for (done, label, path) in checklist {
                        li {
                            @if done { s { (label) } " · done" }
                            @else { a href=(s.base.at(path)) { (label) } }
                        }
                    }
                }
                p.hint {
                    "Agents sign in with the company key, a username and a password, and send a heartbeat every 5 minutes; "
                    "the key was shown to the operator when the company was created."
                }
            }
        }
        div.kpis {
            div.kpi { b { (count(Liveness::Online)) } span { "agents online" } }
            div.kpi { b { (count(Liveness::Stale)) } span { "stale" } }
            div.kpi { b { (count(Liveness::Offline)) } span { "offline" } }
            div.kpi { b { (outdated) } span { "on an outdated policy" } }
            div.kpi { b { (format::duration(active_today)) } span { a href=(s.base.at("/company/reports")) { "active today" } } }
            div.kpi { b { (pending) } span { a href=(s.base.at("/company/corrections")) { "corrections to decide" } } }
            @if let Some((used, limit)) = seats {
                div.kpi { b { (used) " / " (limit) } span { "seats of the plan" } }
            }
            @if let Some(n) = open_alerts {
                div.kpi { b { (n) } span { a href=(s.base.at("/company/alerts")) { "open alerts" } } }
            }
        }
    };
    page(&s.base, &s, "Company", body)
}

async fn tasks(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<super::filter::TasksQuery>,
) -> Response {
    if let Some(refused) = refused_unless_staff(&s) {
        return refused;
    }
    let t = &shared.tracker;
    let p = &s.principal;
    let status = q.status();
    let query = TaskQuery {
        assignee_id: None,
        status,
    };
    let list = match t.tasks(p, &query, &all()).await {
        Ok(page) => page.items,
        Err(e) => return s.error(e),
    };
    let people = match t.list_users(p, Some(true), &all()).await {
        Ok(page) => page.items,
        Err(e) => return s.error(e),
    };
    let name = |id: UserId| {
        people
            .iter()
            .find(|u| u.id == id)
            .map_or_else(|| id.to_string(), |u| u.username.clone())
    };
    let tz = tz_of(p);
    let body = html! {
        section {
            h2 { "Assign a task" }
            form.stack method="post" action=(s.base.at("/company/tasks")) {
                (csrf_field(&s.csrf))
                label { "Title" input type="text" name="title" required maxlength="200"; }
                label { "Description" textarea name="description" rows="2" maxlength="2000" {} }
                label { "Assignee"
                    select name="assignee" {
                        @for u in &people {
                            @if u.id != p.user_id() || p.role() == Role::Admin {
                                option value=(u.id) { (u.username) }
                            }
                        }
                    }
                }
                label { "Due (optional)" input type="date" name="due_on"; }
                button type="submit" { "Assign" }
            }
        }
        (super::filter::task_tabs(&s, "/company/tasks"))
        div.table-wrap { table {
            thead { tr { th { "Task" } th { "Assignee" } th { "Status" } th { "Due" } th { "Completion note" } } }
            tbody {
                @for task in &list {
                    tr {
                        td { (task.title) }
                        td { (name(task.assignee_id)) }
                        td { (task.status.as_str()) }
                        td { (task.due_on.map(|d| d.to_string()).unwrap_or_default()) }
                        td {
                            @if let Some(n) = &task.completion_note { (n) }
                            @if let Some(at) = task.completed_at { " (" (format::date_time(tz, at)) ")" }
                        }
                    }
                }
            }
        } }
    };
    page(&s.base, &s, "Tasks", body)
}

#[derive(Deserialize)]
struct TaskForm {
    csrf: String,
    title: String,
    #[serde(default)]
    description: String,
    assignee: String,
    #[serde(default)]
    due_on: String,
}

async fn create_task(
    Extract(shared): Extract<State>,
    s: Session,
    Form(form): Form<TaskForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let assignee = match parse::<UserId>(&form.assignee, "user") {
        Ok(id) => id,
        Err(e) => return s.error(e),
    };
    let due_on = match form.due_on.trim() {
        "" => None,
        d => match d.parse() {
            Ok(d) => Some(d),
            Err(_) => {
                return s.error(PageError::BadForm(
                    "The due date is not a date (YYYY-MM-DD).".into(),
                ));
            }
        },
    };
    let description = form.description.trim();
    let new = NewTask {
        title: form.title,
        description: (!description.is_empty()).then(|| description.to_owned()),
        assignee_id: assignee,
        due_on,
    };
    match shared.tracker.create_task(&s.principal, new).await {
        Ok(_) => see_other(&s, "/company/tasks"),
        Err(e) => s.error(e),
    }
}
