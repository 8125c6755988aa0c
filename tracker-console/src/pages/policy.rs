//! The tracking policy's page: what applies and is announced, who
//! acknowledged it, and the ADMIN's form under the privacy ratchet.

use axum::Form;
use axum::Router;
use axum::extract::{Query, State as Extract};
use axum::response::Response;
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use tracker_core::policy::{MAX_NOTICE_DAYS, MAX_TITLE_PATTERN_CHARS, MAX_TITLE_PATTERNS, bounds};
use tracker_core::store::AuditFilter;
use tracker_core::{PolicyUpdate, Role, TitleRule, UrlDetail};

use super::company::{all, refused_unless_staff};
use super::{csrf_field, see_other};
use crate::State;
use crate::format::{self, tz_of};
use crate::page::PageError;
use crate::session::Session;

pub(super) fn routes() -> Router<State> {
    Router::new().route("/company/policy", get(policy).post(update_policy))
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
