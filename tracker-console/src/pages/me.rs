//! Every company user's own pages: My Day, tasks, corrections, the agent,
//! what is tracked, and the account with its data export. The OWNER has an
//! account page too.

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State as Extract};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{Duration, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;
use maud::{Markup, html};
use serde::Deserialize;
use tracker_core::protocol::{
    AcknowledgePolicy, CompleteTask, MyDay, NewCorrection, PolicyNotice, ProfileChanges,
    TrackingQuery,
};
use tracker_core::report::{day_bounds, local_date, timesheet_csv};
use tracker_core::{
    CorrectionStatus, Liveness, PageRequest, Role, ScreenshotId, TaskId, TaskStatus, UserId,
};

use super::{csrf_field, see_other};
use crate::State;
use crate::chart;
use crate::format::{self, tz_of};
use crate::page::{PageError, page};
use crate::session::Session;

pub(super) fn routes() -> Router<State> {
    Router::new()
        .route("/me/day", get(day))
        .route("/me/screenshots/{id}", get(screenshot))
        .route("/me/tasks", get(tasks))
        .route("/me/tasks/{id}/complete", post(complete_task))
        .route("/me/corrections", get(corrections).post(request_correction))
        .route("/me/agent", get(agent))
        .route("/me/policy", get(policy))
        .route("/me/policy/acknowledge", post(acknowledge))
        .route("/me/account", get(account).post(update_account))
        .route("/me/export.csv", get(export))
}

/// The largest page a console list shows.
fn all() -> PageRequest {
    PageRequest::first(tracker_core::paging::MAX_LIMIT)
}

#[derive(Debug, Default, Deserialize)]
struct DayQuery {
    #[serde(default)]
    date: Option<NaiveDate>,
}

async fn day(Extract(shared): Extract<State>, s: Session, Query(q): Query<DayQuery>) -> Response {
    let p = &s.principal;
    let my = match shared.tracker.my_day(p, q.date).await {
        Ok(day) => day,
        Err(e) => return s.error(e),
    };
    let pictures = |id: ScreenshotId| {
        let at = s.base.at(&format!("/me/screenshots/{id}"));
        (at.clone(), at)
    };
    let view = day_view(&shared, &s, p.user_id(), &my, &pictures).await;
    let body = view.map(|view| {
        html! {
            form.inline method="get" action=(s.base.at("/me/day")) {
                label { "Day" input type="date" name="date" value=(my.date) data-autosubmit; }
                button.secondary type="submit" { "Show" }
                a href=(s.base.at(&format!("/me/day?date={}", my.date - Duration::days(1)))) { "Previous day" }
                a href=(s.base.at(&format!("/me/day?date={}", my.date + Duration::days(1)))) { "Next day" }
            }
            (view)
        }
    });
    super::render(&s, &format!("My day, {}", my.date), body)
}

/// One person's day: totals, the timeline with the work sessions, top apps
/// and websites, and the day's screenshots (`pictures` gives the links of
/// one: the picture to show and the image to open). My Day and the staff's
/// day report show the same view.
pub(super) async fn day_view(
    shared: &State,
    s: &Session,
    user: UserId,
    my: &MyDay,
    pictures: &(dyn Fn(ScreenshotId) -> (String, String) + Sync),
) -> Result<Markup, PageError> {
    let t = &shared.tracker;
    let p = &s.principal;
    let tz = tz_of(p);
    let window = day_bounds(tz, my.date);
    let shots = if my.policy.screenshots_enabled || my.screenshots > 0 {
        let query = TrackingQuery {
            user_id: Some(user),
            from: Some(window.0),
            to: Some(window.1),
        };
        t.screenshots(p, &query, &all()).await?.items
    } else {
        Vec::new()
    };
    // Sessions that started that day or the day before (one may run past
    // midnight), cut to the day by the chart.
    let query = TrackingQuery {
        user_id: Some(user),
        from: Some(window.0 - Duration::days(1)),
        to: Some(window.1),
    };
    let now = t.now();
    let sessions: Vec<_> = t
        .sessions(p, &query, &all())
        .await?
        .items
        .iter()
        .map(|s| (s.started_at, s.stopped_at.unwrap_or(now).min(window.1)))
        .filter(|(_, end)| *end > window.0)
        .collect();
    let apps: Vec<(String, u64)> = my
        .top_apps
        .iter()
        .map(|e| (e.name.clone(), e.seconds))
        .collect();
    let sites: Vec<(String, u64)> = my
        .top_domains
        .iter()
        .map(|e| (e.name.clone(), e.seconds))
        .collect();
    Ok(html! {
        div.kpis {
            div.kpi { b { (format::duration(my.totals.active_seconds)) } span { "active" } }
            div.kpi { b { (format::duration(my.totals.idle_seconds)) } span { "idle" } }
            div.kpi {
                b { (my.totals.first_seen.map_or("–".to_owned(), |t| format::time(tz, t))) }
                span { "first seen" }
            }
            div.kpi {
                b { (my.totals.last_seen.map_or("–".to_owned(), |t| format::time(tz, t))) }
                span { "last seen" }
            }
            @if my.totals.corrected_seconds > 0 {
                div.kpi { b { (format::duration(my.totals.corrected_seconds)) } span { "added by approved corrections" } }
            }
        }
        section {
            h2 { "Timeline" }
            p.legend {
                span { i.active {} "active" } span { i.idle {} "idle" } span { i.session {} "work session" }
                span.hint { "Times in " (tz.name()) }
            }
            @if my.blocks.is_empty() {
                p { "Nothing was recorded on this day." }
            } @else {
                (chart::timeline(tz, window, &my.blocks, &sessions))
            }
        }
        section {
            h2 { "Top apps" }
            @if apps.is_empty() { p { "No app time on this day" (off_note(my.policy.app_tracking_enabled, "app")) } }
            @else { (chart::bars("Top apps by active time", &apps)) }
            h2 { "Top websites" }
            @if sites.is_empty() { p { "No website time on this day" (off_note(my.policy.website_tracking_enabled, "website")) } }
            @else { (chart::bars("Top websites by active time", &sites)) }
        }
        section {
            h2 { "Screenshots" }
            @if shots.is_empty() {
                p { "No screenshot on this day" (off_note(my.policy.screenshots_enabled, "screenshot")) }
            } @else {
                ul.gallery {
                    @for shot in &shots {
                        @let (picture, full) = pictures(shot.id);
                        li {
                            a href=(full) {
                                img src=(picture)
                                    alt=(format!("Screenshot at {}", format::time(tz, shot.taken_at)))
                                    width="240" loading="lazy";
                            }
                            br;
                            (format::time(tz, shot.taken_at))
                            @if shot.blurred { " · blurred" }
                        }
                    }
                }
            }
        }
    })
}

/// Why a list is empty when the policy does not collect it.
fn off_note(enabled: bool, what: &str) -> String {
    if enabled {
        ".".to_owned()
    } else {
        format!(": the policy does not record {what}s.")
    }
}

async fn screenshot(
    Extract(shared): Extract<State>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<ScreenshotId>() else {
        return s.error(tracker_core::Error::not_found("screenshot"));
    };
    // Only one's own: another user's id is not found here.
    match shared.tracker.screenshot_image(&s.principal, id).await {
        Ok((shot, bytes)) if shot.user_id == s.principal.user_id() => {
            s.respond(([(header::CONTENT_TYPE, shot.content_type)], bytes))
        }
        Ok(_) => s.error(tracker_core::Error::not_found("screenshot")),
        Err(e) => s.error(e),
    }
}

async fn tasks(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<super::filter::TasksQuery>,
) -> Response {
    let status = q.status();
    let list = match shared.tracker.my_tasks(&s.principal, status, &all()).await {
        Ok(page) => page.items,
        Err(e) => return s.error(e),
    };
    let tz = tz_of(&s.principal);
    let body = html! {
        (super::filter::task_tabs(&s, "/me/tasks"))
        @if list.is_empty() { p { "No task here." } }
        @for task in &list {
            section {
                h2 { (task.title) }
                @if let Some(d) = &task.description { p { (d) } }
                p.hint {
                    "Status: " (task.status.as_str())
                    @if let Some(due) = task.due_on { " · due " (due) }
                    @if let Some(done) = task.completed_at { " · completed " (format::date_time(tz, done)) }
                }
                @if let Some(note) = &task.completion_note { p { "Note: " (note) } }
                @if task.status == TaskStatus::Open {
                    form.stack method="post" action=(s.base.at(&format!("/me/tasks/{}/complete", task.id))) {
                        (csrf_field(&s.csrf))
                        label { "What was done (optional)" textarea name="note" rows="2" maxlength="2000" {} }
                        button type="submit" { "Mark as done" }
                    }
                }
            }
        }
    };
    page(&s.base, &s, "My tasks", body)
}

#[derive(Deserialize)]
struct CompleteForm {
    csrf: String,
    #[serde(default)]
    note: String,
}

async fn complete_task(
    Extract(shared): Extract<State>,
    s: Session,
    Path(id): Path<String>,
    Form(form): Form<CompleteForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let Ok(id) = id.parse::<TaskId>() else {
        return s.error(tracker_core::Error::not_found("task"));
    };
    let note = form.note.trim();
    let req = CompleteTask {
        note: (!note.is_empty()).then(|| note.to_owned()),
    };
    match shared.tracker.complete_task(&s.principal, id, req).await {
        Ok(_) => see_other(&s, "/me/tasks?status=DONE"),
        Err(e) => s.error(e),
    }
}

async fn corrections(Extract(shared): Extract<State>, s: Session) -> Response {
    let p = &s.principal;
    let list = match shared
        .tracker
        .corrections(p, None, Some(p.user_id()), &all())
        .await
    {
        Ok(page) => page.items,
        Err(e) => return s.error(e),
    };
    let tz = tz_of(p);
    let today = local_date(tz, shared.tracker.now());
    let body = html! {
        section {
            h2 { "Request a correction" }
            p.hint { "For time the agent missed or counted as idle: a meeting away from the computer, a call. Times in " (tz.name()) "." }
            form.stack method="post" action=(s.base.at("/me/corrections")) {
                (csrf_field(&s.csrf))
                label { "Day" input type="date" name="date" value=(today) required; }
                label { "From" input type="time" name="from" required; }
                label { "To" input type="time" name="to" required; }
                label { "Reason" textarea name="reason" rows="2" required maxlength="1000" {} }
                button type="submit" { "Send the request" }
            }
        }
        h2 { "My requests" }
        @if list.is_empty() { p { "No request yet." } }
        @else {
            div.table-wrap { table {
                thead { tr { th { "Span" } th { "Reason" } th { "Status" } th { "Decision" } } }
                tbody {
                    @for c in list.iter().rev() {
                        tr {
                            td { (format::date_time(tz, c.starts_at)) "–" (format::time(tz, c.ends_at)) }
                            td { (c.reason) }
                            td { span class=(status_class(c.status)) { (c.status.as_str()) } }
                            td { @if let Some(n) = &c.decision_note { (n) } }
                        }
                    }
                }
            } }
        }
    };
    page(&s.base, &s, "My corrections", body)
}

fn status_class(status: CorrectionStatus) -> &'static str {
    match status {
        CorrectionStatus::Approved => "status good",
        CorrectionStatus::Rejected => "status bad",
        _ => "status warn",
    }
}

#[derive(Deserialize)]
struct CorrectionForm {
    csrf: String,
    date: String,
    from: String,
    to: String,
    reason: String,
}

/// An instant of a local date and time in `tz` (the earlier of two when a
/// clock change repeats it).
fn local_instant(
    tz: Tz,
    date: NaiveDate,
    time: NaiveTime,
) -> Option<chrono::DateTime<chrono::Utc>> {
    tz.from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
}

async fn request_correction(
    Extract(shared): Extract<State>,
    s: Session,
    Form(form): Form<CorrectionForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let tz = tz_of(&s.principal);
    let parsed = (|| {
        let date = form.date.parse::<NaiveDate>().ok()?;
        let from = NaiveTime::parse_from_str(&form.from, "%H:%M").ok()?;
        let to = NaiveTime::parse_from_str(&form.to, "%H:%M").ok()?;
        Some((local_instant(tz, date, from)?, local_instant(tz, date, to)?))
    })();
    let Some((starts_at, ends_at)) = parsed else {
        return s.error(PageError::BadForm(
            "The day or a time is not a date (YYYY-MM-DD) or a time (HH:MM) of this timezone."
                .into(),
        ));
    };
    let req = NewCorrection {
        starts_at,
        ends_at,
        reason: form.reason,
    };
    match shared.tracker.request_correction(&s.principal, req).await {
        Ok(_) => see_other(&s, "/me/corrections"),
        Err(e) => s.error(e),
    }
}

async fn agent(Extract(shared): Extract<State>, s: Session) -> Response {
    let status = match shared.tracker.my_agent(&s.principal).await {
        Ok(status) => status,
        Err(e) => return s.error(e),
    };
    let policy = match shared.tracker.policy(&s.principal).await {
        Ok(p) => p.policy,
        Err(e) => return s.error(e),
    };
    let tz = tz_of(&s.principal);
    let (class, words) = match status.liveness {
        Liveness::Online => ("status good", "online: a heartbeat in the last 10 minutes"),
        Liveness::Stale => ("status warn", "stale: no heartbeat for 10 minutes"),
        Liveness::Offline => ("status bad", "offline: no heartbeat for 15 minutes"),
        _ => ("status bad", "never connected"),
    };
    let body = html! {
        section {
            p { "Your desktop agent is " span class=(class) { (words) } "." }
            dl {
                dt { "Last heartbeat" }
                dd { (status.last_heartbeat_at.map_or("never".to_owned(), |t| format::date_time(tz, t))) }
                dt { "Policy version it runs" }
                dd {
                    (status.policy_version.map_or("unknown".to_owned(), |v| v.to_string()))
                    " (current: " (policy.version) ")"
                    @if status.policy_outdated { " · it fetches the new one within the hour" }
                }
                dt { "Agent version" }
                dd { (status.agent_version.as_deref().unwrap_or("unknown")) }
            }
        }
    };
    page(&s.base, &s, "My agent", body)
}

#[derive(Debug, Default, Deserialize)]
struct PolicyQuery {
    #[serde(default)]
    acknowledged: Option<String>,
}

async fn policy(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<PolicyQuery>,
) -> Response {
    let answer = match shared.tracker.policy(&s.principal).await {
        Ok(p) => p,
        Err(e) => return s.error(e),
    };
    let tz = tz_of(&s.principal);
    let privacy = &s.principal.user().privacy;
    let body = html! {
        @if let (Some(_), Some(version)) = (&q.acknowledged, privacy.acknowledged_version) {
            p.notice role="status" {
                "Your acknowledgement of version " (version) " is recorded"
                @if let Some(at) = privacy.acknowledged_at { " (" (format::date_time(tz, at)) ")" }
                "."
            }
        }
        @if let Some(notice) = &answer.pending {
            (pending_notice(&s, tz, notice))
        }
        (policy_words(
            "What is kept about you now",
            &answer.policy,
            &answer.explanation,
            answer.tracking_allowed,
        ))
        section {
            h2 { "Your data" }
            (super::privacy::my_data_links(&s))
        }
    };
    page(&s.base, &s, "What is tracked", body)
}

/// An announced change as the employee reads it: what it collects more,
/// from when, and the form to acknowledge it.
fn pending_notice(s: &Session, tz: Tz, notice: &PolicyNotice) -> Markup {
    let retention = s.principal.company().map_or(0, |c| c.retention_days);
    let acknowledged_at = s.principal.user().privacy.acknowledged_at;
    html! {
        section aria-labelledby="announced" {
            h2 #announced { "A change is announced" }
            p { "Version " (notice.policy.version) " of the policy collects more than the one that applies to you now:" }
            ul { @for more in &notice.collects_more { li { (more) } } }
            p {
                "It may apply from " strong { (format::date_time(tz, notice.applies_at)) } " (" (tz.name()) ")"
                @if notice.acknowledgement_required { ", and to you only once you acknowledge it." }
                @else { ", whether or not you acknowledge it." }
            }
            @if notice.acknowledged {
                p {
                    span.status.good { "acknowledged" } " You acknowledged this change"
                    @if let Some(at) = acknowledged_at { " on " (format::date_time(tz, at)) }
                    "."
                }
            } @else {
                p {
                    span.status.warn { "not acknowledged" }
                    @if notice.acknowledgement_required { " It does not apply to you until you acknowledge it." }
                    @else { " Acknowledging it tells your company you read it." }
                }
                form.stack method="post" action=(s.base.at("/me/policy/acknowledge")) {
                    (csrf_field(&s.csrf))
                    input type="hidden" name="version" value=(notice.policy.version);
                    button type="submit" { "I have read this change" }
                }
            }
            details {
                summary { "What version " (notice.policy.version) " keeps" }
                ul { @for line in notice.policy.explain(retention) { li { (line) } } }
            }
        }
    }
}

#[derive(Deserialize)]
struct AcknowledgeForm {
    csrf: String,
    version: u64,
}

async fn acknowledge(
    Extract(shared): Extract<State>,
    s: Session,
    Form(form): Form<AcknowledgeForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let req = AcknowledgePolicy {
        version: form.version,
    };
    match shared.tracker.acknowledge_policy(&s.principal, req).await {
        Ok(_) => see_other(&s, "/me/policy?acknowledged=1"),
        Err(e) => s.error(e),
    }
}

/// The policy in plain words under `heading`: what is stored (the
/// service's `explanation` of `p`) and how idle time is counted.
pub(crate) fn policy_words(
    heading: &str,
    p: &tracker_core::TrackingPolicy,
    explanation: &[String],
    allowed: bool,
) -> Markup {
    html! {
        section {
            h2 { (heading) }
            @if !allowed {
                p.problem { "Tracking is stopped now: your account or your company is not active." }
            }
            ul {
                @for line in explanation { li { (line) } }
                li {
                    "Idle after " (format::duration(u64::from(p.idle_threshold_seconds)))
                    " without keyboard or mouse: that time counts as idle, not active."
                }
            }
            p.hint { "Policy version " (p.version) ". What the policy turns off is dropped by the server before anything is stored." }
        }
    }
}

async fn account(Extract(shared): Extract<State>, s: Session) -> Response {
    let user = s.principal.user();
    let today = local_date(tz_of(&s.principal), shared.tracker.now());
    let body = html! {
        section {
            h2 { "Profile" }
            form.stack method="post" action=(s.base.at("/me/account")) {
                (csrf_field(&s.csrf))
                label { "Display name" input type="text" name="display_name" value=(user.display_name) maxlength="200" required; }
                label { "Email" input type="email" name="email" value=(user.email.as_deref().unwrap_or("")) autocomplete="email"; }
                label {
                    "New password"
                    span.hint { "Leave empty to keep it. At least 8 characters. You then sign in again." }
                    input type="password" name="new_password" autocomplete="new-password";
                }
                label { "Current password" span.hint { "Needed for a new password." } input type="password" name="current_password" autocomplete="current-password"; }
                button type="submit" { "Save" }
            }
        }
        @if s.principal.role() != Role::Owner {
            section {
                h2 { "My data" }
                p { a href=(s.base.at("/me/policy")) { "What is tracked about you" } ", and any announced change of the policy to read." }
                (super::privacy::my_data_links(&s))
                p { "Your recorded time per day, corrections applied, as CSV." }
                form.inline method="get" action=(s.base.at("/me/export.csv")) {
                    label { "From" input type="date" name="from" value=(today - Duration::days(30)) required; }
                    label { "To" input type="date" name="to" value=(today) required; }
                    button type="submit" { "Download" }
                }
            }
        }
    };
    page(&s.base, &s, "My account", body)
}

#[derive(Deserialize)]
struct AccountForm {
    csrf: String,
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    current_password: String,
}

async fn update_account(
    Extract(shared): Extract<State>,
    s: Session,
    Form(form): Form<AccountForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let new_password = (!form.new_password.is_empty()).then_some(form.new_password);
    let changes = ProfileChanges {
        display_name: Some(form.display_name),
        email: Some(form.email),
        current_password: (!form.current_password.is_empty()).then_some(form.current_password),
        new_password: new_password.clone(),
    };
    match shared.tracker.update_profile(&s.principal, changes).await {
        Ok(_) if new_password.is_some() => {
            // The tokens died with the password; the session with them.
            axum::response::Redirect::to(&s.base.at("/sign-in?ended=password")).into_response()
        }
        Ok(_) => see_other(&s, "/me/account"),
        Err(e) => s.error(e),
    }
}

#[derive(Deserialize)]
struct ExportQuery {
    from: NaiveDate,
    to: NaiveDate,
}

async fn export(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<ExportQuery>,
) -> Response {
    match shared.tracker.my_export(&s.principal, q.from, q.to).await {
        Ok(rows) => s.respond((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"my-time-{}-{}.csv\"", q.from, q.to),
                ),
            ],
            timesheet_csv(&rows),
        )),
        Err(e) => s.error(e),
    }
}
