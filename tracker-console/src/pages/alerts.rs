//! Alerts for ADMINs: open and resolved alerts with their webhook
//! deliveries, and the settings (kinds, thresholds, webhooks). A webhook's
//! secret is written, never shown: an empty secret field keeps the stored
//! one.

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State as Extract};
use axum::response::Response;
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use tracker_core::notify::{
    AlertKind, AlertSettingsUpdate, MAX_WEBHOOKS, WebhookFormat, WebhookInput,
};
use tracker_core::protocol::AlertQuery;
use tracker_core::{AlertId, Role};

use super::company::{all, parse};
use super::filter::{self, name_of};
use super::{csrf_field, render, see_other};
use crate::State;
use crate::format::{self, tz_of};
use crate::page::PageError;
use crate::session::Session;

pub(super) fn routes() -> Router<State> {
    Router::new()
        .route("/company/alerts", get(alerts))
        .route(
            "/company/alerts/settings",
            get(settings).post(update_settings),
        )
        .route("/company/alerts/{id}", get(alert))
}

/// Alerts are the ADMIN's: anyone else is refused before anything is read.
fn refused_unless_admin(s: &Session) -> Option<Response> {
    (s.principal.role() != Role::Admin).then(|| {
        s.error(tracker_core::Error::Forbidden {
            action: "manage_alerts",
        })
    })
}

#[derive(Debug, Default, Deserialize)]
struct AlertsQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

async fn alerts(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<AlertsQuery>,
) -> Response {
    if let Some(refused) = refused_unless_admin(&s) {
        return refused;
    }
    render(&s, "Alerts", alerts_body(&shared, &s, &q).await)
}

async fn alerts_body(shared: &State, s: &Session, q: &AlertsQuery) -> Result<Markup, PageError> {
    let t = &shared.tracker;
    let state = filter::given(&q.state).unwrap_or("open");
    let open = match state {
        "open" => Some(true),
        "resolved" => Some(false),
        "all" => None,
        other => {
            return Err(PageError::BadForm(format!(
                "The state {other:?} is not open, resolved or all."
            )));
        }
    };
    let kind = match filter::given(&q.kind) {
        None => None,
        Some(k) => Some(AlertKind::parse(k).ok_or_else(|| {
            PageError::BadForm(format!(
                "The kind {k:?} is not no_sync, agent_offline or high_idle."
            ))
        })?),
    };
    let list = t
        .alerts(
            &s.principal,
            &AlertQuery { open, kind },
            &filter::page_of(&q.after),
        )
        .await?;
    let users = t.list_users(&s.principal, None, &all()).await?.items;
    let tz = tz_of(&s.principal);
    let keep = [
        ("state", state.to_owned()),
        (
            "kind",
            kind.map(|k| k.as_str().to_owned()).unwrap_or_default(),
        ),
    ];
    Ok(html! {
        p { a href=(s.base.at("/company/alerts/settings")) { "Alert settings and webhooks" } }
        form.inline method="get" action=(s.base.at("/company/alerts")) {
            label { "State"
                select name="state" {
                    @for (value, label) in [("open", "open"), ("resolved", "resolved"), ("all", "all")] {
                        option value=(value) selected[state == value] { (label) }
                    }
                }
            }
            label { "Kind"
                select name="kind" {
                    option value="" { "any" }
                    @for k in AlertKind::ALL {
                        option value=(k.as_str()) selected[kind == Some(k)] { (k.as_str()) }
                    }
                }
            }
            button.secondary type="submit" { "Filter" }
        }
        @if list.items.is_empty() { p { "No alert matches." } }
        @else {
            div.table-wrap { table {
                thead { tr { th { "Raised" } th { "Kind" } th { "Who" } th { "What" } th { "State" } } }
                tbody {
                    @for a in &list.items {
                        tr {
                            td { a href=(s.base.at(&format!("/company/alerts/{}", a.id))) { (format::date_time(tz, a.raised_at)) } }
                            td { (a.kind.as_str()) }
                            td { (a.user_id.map_or("the company".to_owned(), |u| name_of(&users, u))) }
                            td { (a.message) }
                            td { @match a.resolved_at {
                                None => span.status.bad { "open" },
                                Some(at) => { "resolved " (format::date_time(tz, at)) },
                            } }
                        }
                    }
                }
            } }
        }
        (filter::next_page(s, "/company/alerts", &keep, list.next_cursor.as_deref()))
    })
}

async fn alert(Extract(shared): Extract<State>, s: Session, Path(id): Path<String>) -> Response {
    if let Some(refused) = refused_unless_admin(&s) {
        return refused;
    }
    let body = async {
        let id = parse::<AlertId>(&id, "alert")?;
        let d = shared.tracker.alert(&s.principal, id).await?;
        let tz = tz_of(&s.principal);
        Ok(html! {
            p { (d.alert.message) }
            dl {
                dt { "Kind" } dd { (d.alert.kind.as_str()) }
                dt { "Raised" } dd { (format::date_time(tz, d.alert.raised_at)) }
                dt { "Resolved" } dd { (d.alert.resolved_at.map_or("not yet".to_owned(), |t| format::date_time(tz, t))) }
            }
            details { summary { "Facts" } (format::facts(&d.alert.details)) }
            h2 { "Deliveries" }
            @if d.deliveries.is_empty() { p { "No webhook was called for it." } }
            @else {
                div.table-wrap { table {
                    thead { tr { th { "When" } th { "Event" } th { "Webhook" } th { "Attempt" } th { "Result" } } }
                    tbody {
                        @for r in &d.deliveries {
                            tr {
                                td { (format::date_time(tz, r.at)) }
                                td { (format!("{:?}", r.event).to_lowercase()) }
                                td { (r.url) }
                                td { (r.attempt) }
                                td {
                                    @if r.delivered { span.status.good { "delivered" } }
                                    @else { span.status.bad { "failed" } }
                                    @if let Some(code) = r.status { " HTTP " (code) }
                                    @if let Some(e) = &r.error { " · " (e) }
                                }
                            }
                        }
                    }
                } }
            }
            p { a href=(s.base.at("/company/alerts")) { "All alerts" } }
        })
    }
    .await;
    render(&s, "Alert", body)
}

async fn settings(Extract(shared): Extract<State>, s: Session) -> Response {
    if let Some(refused) = refused_unless_admin(&s) {
        return refused;
    }
    let body = async {
        let v = shared.tracker.alert_settings(&s.principal).await?;
        let tz = tz_of(&s.principal);
        let empty = MAX_WEBHOOKS.saturating_sub(v.webhooks.len());
        Ok(html! {
            form.stack method="post" action=(s.base.at("/company/alerts/settings")) {
                (csrf_field(&s.csrf))
                fieldset {
                    legend { "No sync" }
                    label.check { input type="checkbox" name="no_sync_enabled" value="on" checked[v.no_sync_enabled]; "Alert when no agent of the company synced" }
                    label { "for hours" span.hint { "1 to 720" }
                        input type="number" name="no_sync_hours" min="1" max="720" value=(v.no_sync_hours) required; }
                }
                fieldset {
                    legend { "Agent offline" }
                    label.check { input type="checkbox" name="agent_offline_enabled" value="on" checked[v.agent_offline_enabled]; "Alert when an agent with an open work session stops its heartbeats" }
                    label { "for minutes" span.hint { "5 to 1440" }
                        input type="number" name="offline_minutes" min="5" max="1440" value=(v.offline_minutes) required; }
                }
                fieldset {
                    legend { "High idle" }
                    label.check { input type="checkbox" name="high_idle_enabled" value="on" checked[v.high_idle_enabled]; "Alert when a day's idle share is high" }
                    label { "Idle share above, percent" span.hint { "1 to 100" }
                        input type="number" name="high_idle_percent" min="1" max="100" value=(v.high_idle_percent) required; }
                    label { "Counted from tracked minutes a day" span.hint { "1 to 1440" }
                        input type="number" name="high_idle_min_minutes" min="1" max="1440" value=(v.high_idle_min_minutes) required; }
                }
                fieldset {
                    legend { "Webhooks" }
                    p.hint { "At most " (MAX_WEBHOOKS) ". Each alert raised or resolved is sent to every webhook. "
                        "A secret (16 to 256 characters) signs the bodies; it is never shown again: leave it empty to keep the one stored, "
                        "or empty the URL to remove a webhook." }
                    @for (i, w) in v.webhooks.iter().enumerate() {
                        (webhook_row(i, &w.url, w.format, w.signed))
                    }
                    @for i in v.webhooks.len()..v.webhooks.len() + empty {
                        (webhook_row(i, "", WebhookFormat::Json, false))
                    }
                }
                button type="submit" { "Save the alert settings" }
            }
            p.hint { "Last changed " (format::date_time(tz, v.updated_at)) "; every change is in the audit log." }
        })
    }
    .await;
    render(&s, "Alert settings", body)
}

fn webhook_row(i: usize, url: &str, format: WebhookFormat, signed: bool) -> Markup {
    html! {
        div.webhook {
            label { "URL" input type="url" name=(format!("url{i}")) value=(url) maxlength="2048"; }
            label { "Body"
                select name=(format!("format{i}")) {
                    option value="json" selected[format == WebhookFormat::Json] { "JSON document" }
                    option value="slack" selected[format == WebhookFormat::Slack] { "Slack message" }
                }
            }
            label { "Secret"
                span.hint { @if signed { "A secret is stored; type a new one to replace it." } @else { "None stored." } }
                input type="password" name=(format!("secret{i}")) autocomplete="off" minlength="16" maxlength="256";
            }
        }
    }
}

async fn update_settings(
    Extract(shared): Extract<State>,
    s: Session,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
    };
    if let Err(e) = s.check(&shared, &field("csrf").unwrap_or_default()) {
        return s.error(e);
    }
    let update = match settings_update(&field) {
        Ok(u) => u,
        Err(e) => return s.error(e),
    };
    match shared
        .tracker
        .update_alert_settings(&s.principal, update)
        .await
    {
        Ok(_) => see_other(&s, "/company/alerts/settings"),
        Err(e) => s.error(e),
    }
}

/// The settings change a form sends: every field, all webhooks.
fn settings_update(
    field: &dyn Fn(&str) -> Option<String>,
) -> Result<AlertSettingsUpdate, PageError> {
    let number = |name: &str, label: &str| -> Result<u32, PageError> {
        let v = field(name).unwrap_or_default();
        v.parse()
            .map_err(|_| PageError::BadForm(format!("The {label} {v:?} is not a whole number.")))
    };
    let mut webhooks = Vec::new();
    for i in 0..MAX_WEBHOOKS {
        let Some(url) = field(&format!("url{i}")).filter(|u| !u.is_empty()) else {
            continue;
        };
        let format = match field(&format!("format{i}")).as_deref() {
            Some("slack") => WebhookFormat::Slack,
            _ => WebhookFormat::Json,
        };
        let secret = field(&format!("secret{i}")).filter(|s| !s.is_empty());
        webhooks.push(WebhookInput {
            url,
            format,
            secret,
        });
    }
    Ok(AlertSettingsUpdate {
        no_sync_enabled: Some(field("no_sync_enabled").is_some()),
        no_sync_hours: Some(number("no_sync_hours", "no-sync hours")?),
        agent_offline_enabled: Some(field("agent_offline_enabled").is_some()),
        offline_minutes: Some(number("offline_minutes", "offline minutes")?),
        high_idle_enabled: Some(field("high_idle_enabled").is_some()),
        high_idle_percent: Some(number("high_idle_percent", "idle percent")?),
        high_idle_min_minutes: Some(number("high_idle_min_minutes", "tracked minutes")?),
        webhooks: Some(webhooks),
    })
}
