//! The company's pages for ADMINs and MANAGERs: the dashboard, tasks, the
//! tracking policy, the agents, corrections to decide, and the audit log,
//! with the helpers every company page shares. A MANAGER sees the people
//! of its teams: the service scopes every list.

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State as Extract};
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use tracker_core::policy::{MAX_NOTICE_DAYS, MAX_TITLE_PATTERN_CHARS, MAX_TITLE_PATTERNS, bounds};
use tracker_core::protocol::{AlertQuery, Decision, NewTask, TaskQuery};
use tracker_core::store::AuditFilter;
use tracker_core::{
    CorrectionId, CorrectionStatus, Liveness, PageRequest, PolicyUpdate, Role, TitleRule,
    UrlDetail, UserId,
};

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
        .route("/company/policy", get(policy).post(update_policy))
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

#[derive(Debug, Default, Deserialize)]
struct PolicyQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// How much of a URL is kept: the form's value and its words.
const URL_DETAILS: [(UrlDetail, &str, &str); 3] = [
    (
        UrlDetail::Domain,
        "domain",
        "The site name only (docs.example.com)",
    ),
    (
        UrlDetail::Path,
        "path",
        "The address without its query (docs.example.com/guide)",
    ),
    (UrlDetail::Full, "full", "The full address, query included"),
];

/// What is kept of window titles: the form's value and its words.
const TITLE_RULES: [(TitleRule, &str, &str); 3] = [
    (TitleRule::Drop, "drop", "None: titles are dropped"),
    (
        TitleRule::Redact,
        "redact",
        "Titles with the patterns below redacted",
    ),
    (TitleRule::Keep, "keep", "Titles as they are"),
];

/// The choice of `table` a form sent (`None` when absent).
fn choice<T: Copy>(
    table: &[(T, &str, &str)],
    sent: &Option<String>,
    field: &str,
) -> Result<Option<T>, PageError> {
    let Some(sent) = sent else { return Ok(None) };
    table
        .iter()
        .find(|(_, value, _)| value == sent)
        .map(|(v, _, _)| Some(*v))
        .ok_or_else(|| {
            PageError::BadForm(format!("The {field} {sent:?} is not one of the choices."))
        })
}

async fn policy(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<PolicyQuery>,
) -> Response {
    if let Some(refused) = refused_unless_staff(&s) {
        return refused;
    }
    let body = if s.principal.role() == Role::Admin {
        admin_policy(&shared, &s, q.saved.is_some()).await
    } else {
        // A MANAGER reads the policy as it applies to it.
        shared
            .tracker
            .policy(&s.principal)
            .await
            .map(|answer| {
                let words = "What is kept now";
                super::me::policy_words(words, &answer.policy, &answer.explanation, true)
            })
            .map_err(PageError::from)
    };
    super::render(&s, "Tracking policy", body)
}

/// The ADMIN's policy page: the policy in force, the change announced
/// and who acknowledged it, and the form, which starts from the newest
/// announced version.
async fn admin_policy(shared: &State, s: &Session, saved: bool) -> Result<Markup, PageError> {
    let t = &shared.tracker;
    let p = &s.principal;
    let tz = tz_of(p);
    let now = t.now();
    let record = t.policy_record(p).await?;
    // What applies to whoever has not acknowledged anything: a change due
    // without acknowledgement is in force for all.
    let in_force = record.effective(None, now);
    let pending = record
        .pending
        .as_deref()
        .filter(|_| !record.pending_applies(None, now));
    let latest = record.latest();
    let acknowledgements = match pending {
        Some(_) => Some(t.policy_acknowledgements(p).await?),
        None => None,
    };
    // After a save: the audit event it made (the newest of the last hour).
    let event = if saved {
        let filter = AuditFilter {
            action: Some(tracker_core::AuditAction::PolicyUpdated),
            from: Some(now - chrono::Duration::hours(1)),
            ..AuditFilter::default()
        };
        t.company_audit(p, &filter, &all())
            .await?
            .items
            .into_iter()
            .last()
    } else {
        None
    };
    let retention = p.company().map_or(0, |c| c.retention_days);
    Ok(html! {
        @if let Some(event) = &event {
            div.notice role="status" {
                @match pending {
                    Some(change) => p {
                        "Version " (change.policy.version) " is announced; " (applies(tz, change, now)) ". "
                        "Version " (in_force.version) " stays in force until then. "
                        "The audit log recorded event " (event.seq) ": " (event.description) "."
                    },
                    None => p { "Saved as version " (in_force.version) ". The audit log recorded event " (event.seq) ": " (event.description) "." },
                }
                details { summary { "Old and new values" }
                    (format::facts(&event.details)) }
            }
        }
        p.hint {
            "What employees see under “What is tracked” is below. Their agents pick up a new version at their next policy fetch (within the hour); "
            "the Agents page flags each agent still on an older version until then."
        }
        (super::me::policy_words(
            &format!("In force: version {}", in_force.version),
            &in_force,
            &in_force.explain(retention),
            true,
        ))
        @if let (Some(change), Some(acks)) = (pending, &acknowledgements) {
            section aria-labelledby="announced" {
                h2 #announced { "Announced: version " (change.policy.version) }
                p { "It collects more than version " (in_force.version) ", in force:" }
                ul { @for more in change.policy.more_than(&in_force) { li { (more) } } }
                p { "It " (applies(tz, change, now)) "." }
                (acknowledged(tz, change, acks))
            }
        }
        section {
            h2 { "Change the policy" }
            p.hint {
                "A change that collects less applies at once. One that collects more is announced first: it applies once the "
                "notice period of the policy in force has passed and, where that policy asks for it, to each employee only after "
                "they acknowledge it. Every change is recorded in the audit log with the old and new values."
                @if pending.is_some() { " The form starts from version " (latest.version) ", the newest announced." }
            }
            (policy_form(s, latest, record.revision() + 1))
        }
    })
}

/// When an announced change applies, in words.
fn applies(
    tz: chrono_tz::Tz,
    change: &tracker_core::PendingPolicy,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let at = format!(
        "{} ({})",
        format::date_time(tz, change.applies_at),
        tz.name()
    );
    match (change.applies_at > now, change.requires_acknowledgement) {
        (true, true) => format!("applies from {at}, after each employee acknowledges it"),
        (true, false) => format!("applies from {at}"),
        (false, _) => {
            format!("applies to each employee once they acknowledge it (its notice ended {at})")
        }
    }
}

/// Who acknowledged an announced change: every active user.
fn acknowledged(
    tz: chrono_tz::Tz,
    change: &tracker_core::PendingPolicy,
    acks: &tracker_core::protocol::Acknowledgements,
) -> Markup {
    // An acknowledgement of a version of the same run counts for it.
    let counts = |v: Option<u64>| v.is_some_and(|v| v >= change.acknowledged_from);
    let done = acks
        .users
        .iter()
        .filter(|u| counts(u.acknowledged_version))
        .count();
    html! {
        h3 { "Who acknowledged it" }
        p { (done) " of " (acks.users.len()) " active people." }
        div.table-wrap { table {
            thead { tr { th { "Person" } th { "Acknowledged" } th { "When" } } }
            tbody {
                @for u in &acks.users {
                    tr {
                        td { (super::privacy::person(&u.username, &u.display_name)) }
                        @if counts(u.acknowledged_version) {
                            td {
                                span.status.good { "yes" }
                                @if let (false, Some(v)) = (u.current, u.acknowledged_version) { " (version " (v) ", which counts for it)" }
                            }
                            td { (u.acknowledged_at.map(|at| format::date_time(tz, at)).unwrap_or_default()) }
                        } @else {
                            td { span.status.warn { "not yet" } }
                            td {}
                        }
                    }
                }
            }
        } }
    }
}

/// The policy's form, filled with `from`, saving as version `next`.
fn policy_form(s: &Session, from: &tracker_core::TrackingPolicy, next: u64) -> Markup {
    let company_days = s.principal.company().map_or(0, |c| c.retention_days);
    html! {
        form.stack method="post" action=(s.base.at("/company/policy")) {
            (csrf_field(&s.csrf))
            label.check { input type="checkbox" name="screenshots_enabled" value="on" checked[from.screenshots_enabled]; "Take screenshots" }
            label { "Screenshot interval, seconds"
                span.hint { (bounds::SCREENSHOT_INTERVAL_MIN) " to " (bounds::SCREENSHOT_INTERVAL_MAX) }
                input type="number" name="screenshot_interval_seconds" value=(from.screenshot_interval_seconds)
                    min=(bounds::SCREENSHOT_INTERVAL_MIN) max=(bounds::SCREENSHOT_INTERVAL_MAX) required; }
            label.check { input type="checkbox" name="blur_screenshots" value="on" checked[from.blur_screenshots]; "Blur screenshots before they are stored" }
            label.check { input type="checkbox" name="website_tracking_enabled" value="on" checked[from.website_tracking_enabled]; "Record websites" }
            label { "Of each web address, keep"
                select name="url_detail" {
                    @for (v, value, words) in URL_DETAILS { option value=(value) selected[v == from.url_detail] { (words) } }
                }
            }
            label.check { input type="checkbox" name="app_tracking_enabled" value="on" checked[from.app_tracking_enabled]; "Record apps and window titles" }
            label { "Of window titles, keep"
                select name="window_titles" {
                    @for (v, value, words) in TITLE_RULES { option value=(value) selected[v == from.window_titles] { (words) } }
                }
            }
            label { "Patterns to redact from window titles"
                span.hint { "One regular expression a line, at most " (MAX_TITLE_PATTERNS) " of at most " (MAX_TITLE_PATTERN_CHARS) " characters." }
                textarea name="title_patterns" rows="3" { (from.title_patterns.join("\n")) }
            }
            label { "Idle after, seconds without input"
                span.hint { (bounds::IDLE_THRESHOLD_MIN) " to " (bounds::IDLE_THRESHOLD_MAX) }
                input type="number" name="idle_threshold_seconds" value=(from.idle_threshold_seconds)
                    min=(bounds::IDLE_THRESHOLD_MIN) max=(bounds::IDLE_THRESHOLD_MAX) required; }
            label { "Notice, days"
                span.hint { "How long a change that collects more waits after it is announced: 0 to " (MAX_NOTICE_DAYS) "." }
                input type="number" name="notice_days" value=(from.notice_days) min="0" max=(MAX_NOTICE_DAYS) required; }
            label.check {
                input type="checkbox" name="require_acknowledgement" value="on" checked[from.require_acknowledgement];
                "A change that collects more applies to an employee only once they acknowledge it"
            }
            fieldset {
                legend { "Keep each kind of data, days" }
                p.hint { "Empty: as long as the company's retention of " (company_days) " days, which also bounds each." }
                @for (name, words, days) in [
                    ("screenshots_days", "Screenshots", from.retention.screenshots_days),
                    ("details_days", "Web addresses and window titles", from.retention.details_days),
                    ("activity_days", "Activity", from.retention.activity_days),
                    ("sessions_days", "Work sessions", from.retention.sessions_days),
                ] {
                    label { (words)
                        input type="number" name=(name) value=[days] min="1" max=(company_days); }
                }
            }
            button type="submit" { "Save as version " (next) }
        }
    }
}

#[derive(Deserialize)]
struct PolicyForm {
    csrf: String,
    #[serde(default)]
    screenshots_enabled: Option<String>,
    screenshot_interval_seconds: u32,
    #[serde(default)]
    blur_screenshots: Option<String>,
    #[serde(default)]
    website_tracking_enabled: Option<String>,
    #[serde(default)]
    app_tracking_enabled: Option<String>,
    idle_threshold_seconds: u32,
    #[serde(default)]
    url_detail: Option<String>,
    #[serde(default)]
    window_titles: Option<String>,
    /// One pattern a line.
    #[serde(default)]
    title_patterns: Option<String>,
    #[serde(default)]
    notice_days: Option<u32>,
    #[serde(default)]
    require_acknowledgement: Option<String>,
    /// Days of each kind; empty for the company's retention.
    #[serde(default)]
    screenshots_days: Option<String>,
    #[serde(default)]
    details_days: Option<String>,
    #[serde(default)]
    activity_days: Option<String>,
    #[serde(default)]
    sessions_days: Option<String>,
}

/// A number of days as the form sent it: empty is none.
fn days(sent: &Option<String>, field: &str) -> Result<Option<u32>, PageError> {
    match sent.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            PageError::BadForm(format!("The {field} {text:?} is not a number of days."))
        }),
    }
}

async fn update_policy(
    Extract(shared): Extract<State>,
    s: Session,
    Form(form): Form<PolicyForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let choices = choice(&URL_DETAILS, &form.url_detail, "web address detail").and_then(|url| {
        Ok((
            url,
            choice(&TITLE_RULES, &form.window_titles, "window title rule")?,
        ))
    });
    let (url_detail, window_titles) = match choices {
        Ok(c) => c,
        Err(e) => return s.error(e),
    };
    // A form without the kinds (an older page) keeps them as they are.
    let sent_kinds = [
        &form.screenshots_days,
        &form.details_days,
        &form.activity_days,
        &form.sessions_days,
    ];
    let retention = if sent_kinds.iter().all(|k| k.is_none()) {
        None
    } else {
        let kinds = (|| {
            Ok::<_, PageError>(tracker_core::RetentionByKind {
                screenshots_days: days(&form.screenshots_days, "screenshot retention")?,
                details_days: days(&form.details_days, "web address and title retention")?,
                activity_days: days(&form.activity_days, "activity retention")?,
                sessions_days: days(&form.sessions_days, "session retention")?,
            })
        })();
        match kinds {
            Ok(k) => Some(k),
            Err(e) => return s.error(e),
        }
    };
    let title_patterns = form.title_patterns.as_deref().map(|text| {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    });
    // An unchecked box is absent from the form: off. A field the form
    // did not send keeps its value.
    let update = PolicyUpdate {
        screenshots_enabled: Some(form.screenshots_enabled.is_some()),
        screenshot_interval_seconds: Some(form.screenshot_interval_seconds),
        blur_screenshots: Some(form.blur_screenshots.is_some()),
        website_tracking_enabled: Some(form.website_tracking_enabled.is_some()),
        app_tracking_enabled: Some(form.app_tracking_enabled.is_some()),
        idle_threshold_seconds: Some(form.idle_threshold_seconds),
        url_detail,
        window_titles,
        title_patterns,
        notice_days: form.notice_days,
        require_acknowledgement: Some(form.require_acknowledgement.is_some()),
        retention,
    };
    match shared.tracker.update_policy(&s.principal, update).await {
        Ok(_) => see_other(&s, "/company/policy?saved=1"),
        Err(e) => s.error(e),
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
