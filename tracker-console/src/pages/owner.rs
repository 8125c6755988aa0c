//! The OWNER's portal: companies by the numbers, never a person.

use std::collections::BTreeMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State as Extract};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{Duration, NaiveDate};
use maud::{Markup, html};
use serde::Deserialize;
use tracker_core::protocol::{ChangePlan, CreateCompany, NewUser};
use tracker_core::store::AuditFilter;
use tracker_core::{AuditAction, CompanyId, CompanyStatus, PageRequest, Role};

use super::{CsrfForm, csrf_field, see_other};
use crate::State;
use crate::chart;
use crate::format;
use crate::page::{PageError, page};
use crate::session::Session;

pub(super) fn routes() -> Router<State> {
    Router::new()
        .route("/owner", get(dashboard))
        .route("/owner/companies/new", get(new_company))
        .route("/owner/companies", post(create_company))
        .route("/owner/companies/{id}", get(company))
        .route("/owner/companies/{id}/plan", post(change_plan))
        .route("/owner/companies/{id}/suspend", post(suspend))
        .route("/owner/companies/{id}/reactivate", post(reactivate))
        .route("/owner/companies/{id}/rotate-key", post(rotate_key))
        .route("/owner/companies/{id}/retention", post(retention))
        .route("/owner/reports", get(reports))
        .route("/owner/audit", get(audit))
        .route("/owner/audit/export", get(audit_export))
        .route("/owner/no-sync", get(no_sync))
}

fn all() -> PageRequest {
    PageRequest::first(tracker_core::paging::MAX_LIMIT)
}

/// The OWNER is the only role of these pages; others get the API's 403.
fn refused_unless_owner(s: &Session) -> Option<Response> {
    (s.principal.role() != Role::Owner).then(|| {
        s.error(tracker_core::Error::Forbidden {
            action: "company_lifecycle",
        })
    })
}

fn status_class(status: CompanyStatus) -> &'static str {
    match status {
        CompanyStatus::Active => "status good",
        CompanyStatus::Trial => "status warn",
        _ => "status bad",
    }
}

#[derive(Debug, Default, Deserialize)]
struct DashboardQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    sort: Option<String>,
}

async fn dashboard(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<DashboardQuery>,
) -> Response {
    if let Some(refused) = refused_unless_owner(&s) {
        return refused;
    }
    let t = &shared.tracker;
    let today = t.now().date_naive();
    let report = match t
        .owner_report(&s.principal, today - Duration::days(29), today)
        .await
    {
        Ok(r) => r,
        Err(e) => return s.error(e),
    };
    let mut companies = Vec::new();
    let mut request = all();
    loop {
        match t.list_companies(&s.principal, &request).await {
            Ok(p) => {
                companies.extend(p.items);
                match p.next_cursor {
                    Some(c) => request = PageRequest::after(c, tracker_core::paging::MAX_LIMIT),
                    None => break,
                }
            }
            Err(e) => return s.error(e),
        }
    }
    let usage: BTreeMap<CompanyId, _> = report
        .companies_by_usage
        .iter()
        .map(|u| (u.company_id, u))
        .collect();
    let seats: u32 = companies.iter().map(|c| c.seats_used).sum();
    if let Some(status) = q.status.as_deref().filter(|s| !s.is_empty()) {
        companies.retain(|c| c.effective_status.as_str() == status);
    }
    let active = |id: &CompanyId| usage.get(id).map_or(0, |u| u.active_seconds);
    match q.sort.as_deref() {
        Some("seats") => companies.sort_by_key(|c| std::cmp::Reverse(c.seats_used)),
        Some("active") => companies.sort_by_key(|c| std::cmp::Reverse(active(&c.company.id))),
        Some("sync") => companies.sort_by_key(|c| c.company.last_sync_at),
        _ => companies.sort_by(|a, b| a.company.name.cmp(&b.company.name)),
    }
    let tz = chrono_tz::Tz::UTC;
    let count = |status: &str| report.status_counts.get(status).copied().unwrap_or(0);
    let body = html! {
        div.kpis {
            div.kpi { b { (count("ACTIVE")) } span { "active companies" } }
            div.kpi { b { (count("TRIAL")) } span { "in trial" } }
            div.kpi { b { (count("SUSPENDED") + count("EXPIRED")) } span { "suspended or expired" } }
            div.kpi { b { (seats) } span { "active seats" } }
            div.kpi { b { (format::money(report.mrr_cents)) } span { "monthly recurring revenue" } }
        }
        p { a href=(s.base.at("/owner/companies/new")) { "Create a company" } }
        form.inline method="get" action=(s.base.at("/owner")) {
            label { "Status"
                select name="status" {
                    option value="" { "all" }
                    @for st in ["TRIAL", "ACTIVE", "SUSPENDED", "EXPIRED"] {
                        option value=(st) selected[q.status.as_deref() == Some(st)] { (st) }
                    }
                }
            }
            label { "Sort by"
                select name="sort" {
                    @for (v, l) in [("name", "name"), ("seats", "seats used"), ("active", "active hours"), ("sync", "last sync")] {
                        option value=(v) selected[q.sort.as_deref() == Some(v)] { (l) }
                    }
                }
            }
            button.secondary type="submit" { "Apply" }
        }
        div.table-wrap { table {
            caption.hint { "Last 30 days of usage; times in UTC." }
            thead { tr {
                th { "Company" } th { "Status" } th { "Plan" } th { "Seats" }
                th { "Last sync" } th { "Active hours" } th { "Screenshots" } th { "Storage" }
            } }
            tbody {
                @for c in &companies {
                    tr {
                        td { a href=(s.base.at(&format!("/owner/companies/{}", c.company.id))) { (c.company.name) } }
                        td { span class=(status_class(c.effective_status)) { (c.effective_status.as_str()) } }
                        td { (c.plan_code) }
                        td { (c.seats_used) " / " (c.seats_limit) }
                        td {
                            (c.company.last_sync_at.map_or("never".to_owned(), |t| format::date_time(tz, t)))
                            @if c.no_sync { " " span.status.bad { "no sync" } }
                        }
                        td { (format::hours(active(&c.company.id))) }
                        td { (usage.get(&c.company.id).map_or(0, |u| u.screenshots)) }
                        td { (format::bytes(usage.get(&c.company.id).map_or(0, |u| u.storage_bytes))) }
                    }
                }
            }
        } }
    };
    page(&s.base, &s, "Companies", body)
}

/// The form of a new company.
fn company_form(s: &Session, plans: &[tracker_core::Plan]) -> Markup {
    html! {
        form.stack method="post" action=(s.base.at("/owner/companies")) {
            (csrf_field(&s.csrf))
            label { "Name" input type="text" name="name" required maxlength="200"; }
            label { "Plan"
                select name="plan" {
                    @for p in plans {
                        option value=(p.code) {
                            (p.code) " · " (p.max_employees) " seats · " (format::money(p.price_monthly_cents)) " a month"
                        }
                    }
                }
            }
            label { "Timezone" span.hint { "IANA name; days of reports are cut in it." }
                input type="text" name="timezone" value="UTC" required; }
            label { "Trial days" span.hint { "0 starts it ACTIVE." } input type="number" name="trial_days" value="14" min="0" max="365"; }
            h2 { "First ADMIN" }
            label { "Username" input type="text" name="admin_username" required autocomplete="off"; }
            label { "Password" input type="password" name="admin_password" required minlength="8" autocomplete="new-password"; }
            label { "Email" input type="email" name="admin_email"; }
            button type="submit" { "Create the company" }
        }
    }
}

async fn new_company(Extract(shared): Extract<State>, s: Session) -> Response {
    if let Some(refused) = refused_unless_owner(&s) {
        return refused;
    }
    let plans = match shared.tracker.list_plans(&s.principal).await {
        Ok(p) => p,
        Err(e) => return s.error(e),
    };
    page(&s.base, &s, "New company", company_form(&s, &plans))
}

#[derive(Deserialize)]
struct CompanyForm {
    csrf: String,
    name: String,
    plan: String,
    timezone: String,
    #[serde(default)]
    trial_days: Option<u32>,
    admin_username: String,
    admin_password: String,
    #[serde(default)]
    admin_email: String,
}

/// The page that shows a company key, this once.
fn key_page(s: &Session, company: CompanyId, name: &str, key: &str, title: &str) -> Response {
    let body = html! {
        div.notice role="status" {
            p { "The company key of " strong { (name) } " is shown this once; only its digest is stored. Give it to the company's ADMIN: agents and sign-ins need it." }
        }
        p.secret #company-key { (key) }
        button.secondary type="button" data-copy="company-key" hidden { "Copy the key" }
        p { a href=(s.base.at(&format!("/owner/companies/{company}"))) { "Go to the company" } }
    };
    page(&s.base, s, title, body)
}

async fn create_company(
    Extract(shared): Extract<State>,
    s: Session,
    Form(form): Form<CompanyForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let email = form.admin_email.trim();
    let req = CreateCompany {
        name: form.name,
        plan: Some(form.plan),
        timezone: Some(form.timezone),
        trial_days: form.trial_days,
        retention_days: None,
        admin: NewUser {
            username: form.admin_username,
            password: form.admin_password,
            email: (!email.is_empty()).then(|| email.to_owned()),
            display_name: None,
            role: None,
        },
    };
    match shared.tracker.create_company(&s.principal, req).await {
        Ok(created) => key_page(
            &s,
            created.company.id,
            &created.company.name,
            created.company_key.expose(),
            "Company created",
        ),
        Err(e) => s.error(e),
    }
}

/// A company id of the path; anything else is a company not found.
fn company_id(id: &str) -> Result<CompanyId, PageError> {
    id.parse()
        .map_err(|_| PageError::Core(tracker_core::Error::not_found("company")))
}

async fn company(Extract(shared): Extract<State>, s: Session, Path(id): Path<String>) -> Response {
    let id = match company_id(&id) {
        Ok(id) => id,
        Err(e) => return s.error(e),
    };
    let t = &shared.tracker;
    let detail = match t.company_detail(&s.principal, id).await {
        Ok(d) => d,
        Err(e) => return s.error(e),
    };
    let plans = t.list_plans(&s.principal).await.unwrap_or_default();
    let plan_code = |plan| {
        plans
            .iter()
            .find(|p| p.id == plan)
            .map_or("?".to_owned(), |p| p.code.clone())
    };
    let c = &detail.summary.company;
    let tz = chrono_tz::Tz::UTC;
    let days: Vec<(NaiveDate, f64)> = detail
        .usage
        .iter()
        .map(|u| (u.date, u.active_seconds as f64 / 3600.0))
        .collect();
    let suspended = detail.summary.effective_status == CompanyStatus::Suspended;
    let base = format!("/owner/companies/{}", c.id);
    let body = html! {
        div.kpis {
            div.kpi { b { span class=(status_class(detail.summary.effective_status)) { (detail.summary.effective_status.as_str()) } } span { "status" } }
            div.kpi { b { (detail.plan.code) } span { (format::money(detail.plan.price_monthly_cents)) " list price" } }
            div.kpi { b { (detail.summary.seats_used) " / " (detail.summary.seats_limit) } span { "seats" } }
            div.kpi { b { (format::bytes(detail.storage_used_bytes)) } span { "of " (format::bytes(detail.plan.max_storage_bytes)) " storage" } }
            div.kpi { b { (c.retention_days) } span { "days of retention" } }
        }
        section {
            h2 { "Active hours, last 30 days" }
            @if days.is_empty() { p { "No usage computed for this range yet." } }
            @else { (chart::columns("Active hours by day", "hours", &days)) }
        }
        section {
            h2 { "Plan" }
            form.inline method="post" action=(s.base.at(&format!("{base}/plan"))) {
                (csrf_field(&s.csrf))
                label { "Plan" select name="plan" { @for p in &plans { option value=(p.code) selected[p.id == c.plan_id] { (p.code) } } } }
                label { "Amount a month (cents)" span.hint { "Empty: the list price." } input type="number" name="amount_cents" min="0"; }
                button type="submit" { "Change the plan" }
            }
            h2 { "Retention" }
            form.inline method="post" action=(s.base.at(&format!("{base}/retention"))) {
                (csrf_field(&s.csrf))
                label { "Days" input type="number" name="retention_days" min="1" max="3650" value=(c.retention_days) required; }
                button type="submit" { "Save" }
            }
            h2 { "Access" }
            @if suspended {
                form.inline method="post" action=(s.base.at(&format!("{base}/reactivate"))) data-confirm="Reactivate this company?" {
                    (csrf_field(&s.csrf))
                    button type="submit" { "Reactivate" }
                }
            } @else {
                form.inline method="post" action=(s.base.at(&format!("{base}/suspend"))) data-confirm="Suspend this company? Its users and agents are refused until it is reactivated." {
                    (csrf_field(&s.csrf))
                    label { "Reason" input type="text" name="reason" maxlength="500"; }
                    button.danger type="submit" { "Suspend" }
                }
            }
            form.inline method="post" action=(s.base.at(&format!("{base}/rotate-key"))) data-confirm="Rotate the key? The old one stops working at once: agents and sign-ins need the new one." {
                (csrf_field(&s.csrf))
                button.danger type="submit" { "Rotate the company key" }
            }
        }
        section {
            h2 { "Billing history" }
            div.table-wrap { table {
                thead { tr { th { "From" } th { "Until" } th { "Plan" } th { "Amount a month" } } }
                tbody {
                    @for sub in detail.subscriptions.iter().rev() {
                        tr {
                            td { (format::date_time(tz, sub.starts_at)) }
                            td { (sub.ends_at.map_or("–".to_owned(), |t| format::date_time(tz, t))) }
                            td { (plan_code(sub.plan_id)) }
                            td { (format::money(sub.amount_cents)) }
                        }
                    }
                }
            } }
        }
    };
    page(&s.base, &s, &c.name, body)
}

#[derive(Deserialize)]
struct PlanForm {
    csrf: String,
    plan: String,
    #[serde(default)]
    amount_cents: String,
}

async fn change_plan(
    Extract(shared): Extract<State>,
    s: Session,
    Path(id): Path<String>,
    Form(form): Form<PlanForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let id = match company_id(&id) {
        Ok(id) => id,
        Err(e) => return s.error(e),
    };
    let amount = form.amount_cents.trim();
    let amount_cents = match amount {
        "" => None,
        a => match a.parse() {
            Ok(n) => Some(n),
            Err(_) => {
                return s.error(PageError::BadForm(
                    "The amount is not a whole number of cents.".into(),
                ));
            }
        },
    };
    let req = ChangePlan {
        plan: form.plan,
        expires_at: None,
        amount_cents,
    };
    match shared.tracker.change_plan(&s.principal, id, req).await {
        Ok(_) => see_other(&s, &format!("/owner/companies/{id}")),
        Err(e) => s.error(e),
    }
}

#[derive(Deserialize)]
struct SuspendForm {
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn suspend(
    Extract(shared): Extract<State>,
    s: Session,
    Path(id): Path<String>,
    Form(form): Form<SuspendForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let id = match company_id(&id) {
        Ok(id) => id,
        Err(e) => return s.error(e),
    };
    let reason = form.reason.trim();
    let reason = (!reason.is_empty()).then(|| reason.to_owned());
    match shared
        .tracker
        .suspend_company(&s.principal, id, reason)
        .await
    {
        Ok(_) => see_other(&s, &format!("/owner/companies/{id}")),
        Err(e) => s.error(e),
    }
}

async fn reactivate(
    Extract(shared): Extract<State>,
    s: Session,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let id = match company_id(&id) {
        Ok(id) => id,
        Err(e) => return s.error(e),
    };
    match shared.tracker.reactivate_company(&s.principal, id).await {
        Ok(_) => see_other(&s, &format!("/owner/companies/{id}")),
        Err(e) => s.error(e),
    }
}

async fn rotate_key(
    Extract(shared): Extract<State>,
    s: Session,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let id = match company_id(&id) {
        Ok(id) => id,
        Err(e) => return s.error(e),
    };
    let t = &shared.tracker;
    match t.rotate_company_key(&s.principal, id).await {
        Ok(key) => {
            let name = match t.company_detail(&s.principal, id).await {
                Ok(d) => d.summary.company.name,
                Err(e) => return s.error(e),
            };
            key_page(&s, id, &name, key.expose(), "Company key rotated")
        }
        Err(e) => s.error(e),
    }
}

#[derive(Deserialize)]
struct RetentionForm {
    csrf: String,
    retention_days: u32,
}

async fn retention(
    Extract(shared): Extract<State>,
    s: Session,
    Path(id): Path<String>,
    Form(form): Form<RetentionForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let id = match company_id(&id) {
        Ok(id) => id,
        Err(e) => return s.error(e),
    };
    match shared
        .tracker
        .set_retention(&s.principal, id, form.retention_days)
        .await
    {
        Ok(_) => see_other(&s, &format!("/owner/companies/{id}")),
        Err(e) => s.error(e),
    }
}

#[derive(Debug, Default, Deserialize)]
struct RangeQuery {
    #[serde(default)]
    from: Option<NaiveDate>,
    #[serde(default)]
    to: Option<NaiveDate>,
    /// Only this action (audit log).
    #[serde(default)]
    action: Option<String>,
}

async fn reports(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<RangeQuery>,
) -> Response {
    let today = shared.tracker.now().date_naive();
    let to = q.to.unwrap_or(today);
    let from = q.from.unwrap_or(to - Duration::days(29));
    let report = match shared.tracker.owner_report(&s.principal, from, to).await {
        Ok(r) => r,
        Err(e) => return s.error(e),
    };
    let plans: Vec<(String, u64)> = report
        .plan_distribution
        .iter()
        .map(|(code, n)| (code.clone(), *n))
        .collect();
    let body = html! {
        form.inline method="get" action=(s.base.at("/owner/reports")) {
            label { "From" input type="date" name="from" value=(from); }
            label { "To" input type="date" name="to" value=(to); }
            button.secondary type="submit" { "Show" }
        }
        div.kpis {
            div.kpi { b { (format::money(report.mrr_cents)) } span { "monthly recurring revenue (active companies, amounts as agreed)" } }
        }
        section {
            h2 { "Companies by plan" }
            div.table-wrap { table {
                thead { tr { th { "Plan" } th { "Companies" } } }
                tbody { @for (code, n) in &plans { tr { td { (code) } td { (n) } } } }
            } }
        }
        section {
            h2 { "Companies by usage" }
            div.table-wrap { table {
                thead { tr { th { "Company" } th { "Active hours" } th { "Screenshots" } th { "Peak active users" } } }
                tbody {
                    @for u in &report.companies_by_usage {
                        tr {
                            td { a href=(s.base.at(&format!("/owner/companies/{}", u.company_id))) { (u.name) } }
                            td { (format::hours(u.active_seconds)) }
                            td { (u.screenshots) }
                            td { (u.peak_active_users) }
                        }
                    }
                }
            } }
        }
    };
    page(&s.base, &s, "Reports", body)
}

async fn audit(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<RangeQuery>,
) -> Response {
    let t = &shared.tracker;
    let action = q.action.as_deref().filter(|a| !a.is_empty());
    let filter = AuditFilter {
        action: action.and_then(AuditAction::parse),
        from: q.from.map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc()),
        to: q.to.map(|d| {
            (d + Duration::days(1))
                .and_time(chrono::NaiveTime::MIN)
                .and_utc()
        }),
        ..AuditFilter::default()
    };
    let events = match t.platform_audit(&s.principal, &filter, &all()).await {
        Ok(p) => p.items,
        Err(e) => return s.error(e),
    };
    let verified = match t.verify_platform_audit(&s.principal).await {
        Ok(v) => v,
        Err(e) => return s.error(e),
    };
    let tz = chrono_tz::Tz::UTC;
    let body = html! {
        @match &verified.broken {
            None => p.notice role="status" { "The platform chain verifies: " (verified.events) " events, every link holds." },
            Some(b) => p.problem role="alert" { "The chain is broken at event " (b.seq) ": " (b.reason) },
        }
        form.inline method="get" action=(s.base.at("/owner/audit")) {
            label { "From" input type="date" name="from" value=(q.from.map(|d| d.to_string()).unwrap_or_default()); }
            label { "To" input type="date" name="to" value=(q.to.map(|d| d.to_string()).unwrap_or_default()); }
            label { "Action"
                select name="action" {
                    option value="" { "any" }
                    @for a in AuditAction::ALL {
                        option value=(a.as_str()) selected[action == Some(a.as_str())] { (a.as_str()) }
                    }
                }
            }
            button.secondary type="submit" { "Filter" }
        }
        div.table-wrap { table {
            thead { tr { th { "#" } th { "When (UTC)" } th { "Actor" } th { "Action" } th { "What" } } }
            tbody {
                @for e in events.iter().rev() {
                    tr {
                        td { (e.seq) }
                        td { (format::date_time(tz, e.at)) }
                        td { (actor(&e.actor)) }
                        td { (e.action.as_str()) }
                        td { (e.description) }
                    }
                }
            }
        } }
        (evidence(&s, t, "/owner/audit/export"))
    };
    page(&s.base, &s, "Platform audit log", body)
}

/// The platform's chain as a signed export, for an auditor.
async fn audit_export(Extract(shared): Extract<State>, s: Session) -> Response {
    match shared
        .tracker
        .platform_audit_export(&s.principal, None, None)
        .await
    {
        Ok(export) => s.respond(tracker_axum::audit_export_response(
            "audit-platform.ndjson",
            export,
        )),
        Err(e) => s.error(e),
    }
}

/// Below an audit log: the signed export and the key that verifies it.
pub(super) fn evidence(s: &Session, t: &tracker_core::Tracker, export: &str) -> Markup {
    html! {
        section {
            h2 { "Evidence for an auditor" }
            @match t.audit_public_key() {
                Some(key) => {
                    p { "The export holds the whole chain with the checkpoints this deployment signed. An auditor checks it offline with "
                        code { "tracker-audit-verify" } " and the public key " code.key { (key) } "." }
                    p { a href=(s.base.at(export)) download { "Download the signed export (NDJSON)" } }
                }
                None => p.hint { "This deployment has no audit signing key: exports carry no signature, and no verifier accepts them." }
            }
        }
    }
}

/// Who did it, as the audit logs show it.
pub(super) fn actor(a: &tracker_core::Actor) -> String {
    match a {
        tracker_core::Actor::User { username, .. } => username.clone(),
        tracker_core::Actor::System => "system".to_owned(),
        tracker_core::Actor::Anonymous => "anonymous".to_owned(),
    }
}

async fn no_sync(Extract(shared): Extract<State>, s: Session) -> Response {
    let list = match shared.tracker.no_sync_companies(&s.principal, &all()).await {
        Ok(p) => p.items,
        Err(e) => return s.error(e),
    };
    let tz = chrono_tz::Tz::UTC;
    let body = html! {
        p.hint { "ACTIVE companies whose agents have not synced for 24 hours." }
        @if list.is_empty() { p { "Every active company synced in the last 24 hours." } }
        @else {
            div.table-wrap { table {
                thead { tr { th { "Company" } th { "Last sync (UTC)" } th { "Hours without sync" } } }
                tbody {
                    @for c in &list {
                        tr {
                            td { a href=(s.base.at(&format!("/owner/companies/{}", c.company_id))) { (c.name) } }
                            td { (c.last_sync_at.map_or("never".to_owned(), |t| format::date_time(tz, t))) }
                            td { (c.hours_without_sync) }
                        }
                    }
                }
            } }
        }
    };
    page(&s.base, &s, "No sync", body)
}
