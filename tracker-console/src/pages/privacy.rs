//! A person's privacy, on both sides: who looked at my data and the
//! archive of all of it for everyone; the company's access log, and the
//! legal hold and erasure parts of an employee's page for ADMINs (their
//! forms post to the employee's actions).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State as Extract};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono_tz::Tz;
use maud::{Markup, html};
use serde::Deserialize;
use tracker_core::access::AccessFilter;
use tracker_core::protocol::AccessEntry;
use tracker_core::store::AuditFilter;
use tracker_core::{ErasureReceipt, User, UserId};

use super::company::{all, staff_page};
use super::{csrf_field, filter};
use crate::State;
use crate::format::{self, tz_of};
use crate::page::PageError;
use crate::session::Session;

pub(super) fn routes() -> Router<State> {
    Router::new()
        .route("/me/access-log", get(my_access_log))
        .route("/me/archive.tar", get(archive))
        .route("/company/access-log", get(company_access_log))
}

/// The links to a person's own data, on "What is tracked" and the account.
pub(super) fn my_data_links(s: &Session) -> Markup {
    html! {
        ul {
            li {
                a href=(s.base.at("/me/access-log")) { "Who looked at my data" }
                ": every read of your activity, sessions, screenshots or reports by someone else."
            }
            li {
                a href=(s.base.at("/me/archive.tar")) download { "Download all my data" }
                ": one tar file with your profile, the policy, your sessions, activity, screenshots, \
                 tasks and corrections, the audit events that name you and who read your data; \
                 its last file, manifest.json, lists every file with its SHA-256."
            }
        }
    }
}

/// A person as a table shows them: the name, and the login name when it
/// differs.
pub(super) fn person(username: &str, name: &str) -> String {
    if name.is_empty() || name == username {
        username.to_owned()
    } else {
        format!("{name} ({username})")
    }
}

/// The first and last read of a row, in `tz`.
fn reads_between(tz: Tz, e: &AccessEntry) -> String {
    let (first, last) = (
        format::date_time(tz, e.first_at),
        format::date_time(tz, e.last_at),
    );
    if first == last {
        first
    } else if first[..10] == last[..10] {
        format!("{first}–{}", format::time(tz, e.last_at))
    } else {
        format!("{first} – {last}")
    }
}

/// Rows of an access log; `subjects` adds whose data was read.
fn access_table(tz: Tz, entries: &[AccessEntry], subjects: bool) -> Markup {
    html! {
        div.table-wrap { table {
            thead { tr {
                th { "Reader" }
                @if subjects { th { "Whose data" } }
                th { "What" } th { "Day (UTC)" } th { "Items read" } th { "First and last read" }
            } }
            tbody {
                @for e in entries {
                    tr {
                        td { (person(&e.actor_username, &e.actor_name)) }
                        @if subjects { td { (person(&e.subject_username, &e.subject_name)) } }
                        td { (format::access_kind(e.kind)) }
                        td { (e.day) }
                        td { (e.count) }
                        td { (reads_between(tz, e)) }
                    }
                }
            }
        } }
    }
}

#[derive(Debug, Default, Deserialize)]
struct MyAccessQuery {
    #[serde(default)]
    after: Option<String>,
}

async fn my_access_log(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<MyAccessQuery>,
) -> Response {
    let body = async {
        let log = shared
            .tracker
            .my_access_log(&s.principal, &filter::page_of(&q.after))
            .await?;
        let tz = tz_of(&s.principal);
        Ok(html! {
            p.hint {
                "Each time someone else reads your activity, work sessions, screenshots or reports, it is recorded "
                "before they see it: one row per reader, kind of data and day. Your own reads are not recorded. "
                "Oldest first, " (filter::PAGE_ROWS) " a page; times in " (tz.name()) "."
            }
            @if log.items.is_empty() {
                p { "Nobody else's read of your data is on record." }
            } @else {
                (access_table(tz, &log.items, false))
            }
            (filter::next_page(&s, "/me/access-log", &[], log.next_cursor.as_deref()))
        })
    }
    .await;
    super::render(&s, "Who looked at my data", body)
}

/// Everything kept about the caller, as the API's tar download.
async fn archive(Extract(shared): Extract<State>, s: Session) -> Response {
    let tracker = Arc::clone(&shared.tracker);
    match tracker_axum::archive_response(tracker, s.principal.clone(), "my-data.tar").await {
        Ok(download) => s.respond(download),
        Err(tracker_axum::ApiError::Core(e)) => s.error(e),
        Err(other) => s.respond(other.into_response()),
    }
}

#[derive(Debug, Default, Deserialize)]
struct AccessQuery {
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    reader: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

async fn company_access_log(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<AccessQuery>,
) -> Response {
    staff_page(&s, "Access log", access_body(&shared, &s, &q)).await
}

/// A picker of one person of `users`, "anyone" first.
fn picker(name: &str, label: &str, users: &[User], chosen: Option<UserId>) -> Markup {
    html! {
        label { (label)
            select name=(name) {
                option value="" { "anyone" }
                @for u in users { option value=(u.id) selected[chosen == Some(u.id)] { (u.username) } }
            }
        }
    }
}

async fn access_body(shared: &State, s: &Session, q: &AccessQuery) -> Result<Markup, PageError> {
    let t = &shared.tracker;
    let p = &s.principal;
    let tz = tz_of(p);
    let access = AccessFilter {
        subject: filter::person(&q.subject)?,
        actor: filter::person(&q.reader)?,
    };
    let log = t
        .company_access_log(p, &access, &filter::page_of(&q.after))
        .await?;
    let users = t.list_users(p, None, &all()).await?.items;
    let keep = [
        (
            "subject",
            access.subject.map(|u| u.to_string()).unwrap_or_default(),
        ),
        (
            "reader",
            access.actor.map(|u| u.to_string()).unwrap_or_default(),
        ),
    ];
    Ok(html! {
        p.hint {
            "Every read of one person's tracking data by someone else, recorded before it was answered: "
            "one row per reader, person, kind of data and day. Each person sees the rows about them under "
            "“Who looked at my data”. Oldest first, " (filter::PAGE_ROWS) " a page; times in " (tz.name()) "."
        }
        form.inline method="get" action=(s.base.at("/company/access-log")) {
            (picker("subject", "Whose data", &users, access.subject))
            (picker("reader", "Reader", &users, access.actor))
            button.secondary type="submit" { "Filter" }
        }
        @if log.items.is_empty() { p { "No read matches." } }
        @else { (access_table(tz, &log.items, true)) }
        (filter::next_page(s, "/company/access-log", &keep, log.next_cursor.as_deref()))
    })
}

/// The receipt of `u`'s erasure, from the audit chain: its event's number
/// and the receipt.
async fn receipt_of(
    shared: &State,
    s: &Session,
    u: &User,
) -> Result<Option<(u64, ErasureReceipt)>, PageError> {
    let Some(at) = u.privacy.erased_at else {
        return Ok(None);
    };
    let filter = AuditFilter {
        action: Some(tracker_core::AuditAction::PersonErased),
        from: Some(at - chrono::Duration::minutes(1)),
        ..AuditFilter::default()
    };
    let events = shared
        .tracker
        .company_audit(&s.principal, &filter, &all())
        .await?
        .items;
    Ok(events.into_iter().find_map(|e| {
        serde_json::from_value::<ErasureReceipt>(e.details)
            .ok()
            .filter(|r| r.user_id == u.id)
            .map(|r| (e.seq, r))
    }))
}

/// What an erasure deleted, as its receipt says.
fn receipt_view(tz: Tz, seq: u64, r: &ErasureReceipt) -> Markup {
    let c = &r.counts;
    html! {
        h3 { "Receipt" }
        p { "Kept in the audit log as event " (seq) ". It holds counts and a digest, never the erased data." }
        dl {
            dt { "Erased at" } dd { (format::date_time(tz, r.erased_at)) " (" (tz.name()) ")" }
            dt { "Work sessions" } dd { (c.sessions) }
            dt { "Activity events" } dd { (c.events) }
            dt { "Screenshots" } dd { (c.screenshots) " (" (format::bytes(c.screenshot_bytes)) ")" }
            dt { "Daily rows" } dd { (c.daily_rows) }
            dt { "Access records" } dd { (c.access_records) }
            dt { "Corrections" } dd { (c.corrections) }
            dt { "Task notes blanked" } dd { (c.task_notes) }
            dt { "Digest (SHA-256)" } dd { code.key { (r.digest) } }
        }
        p.hint { "The digest is over every deleted item, one line of JSON each: whoever kept a copy can show it was what went." }
    }
}

/// An employee page's privacy parts (ADMIN): the legal hold and erasure
/// of a person, or the receipt of a person erased.
pub(super) async fn employee_sections(
    shared: &State,
    s: &Session,
    u: &User,
    just_erased: bool,
) -> Result<Markup, PageError> {
    let tz = tz_of(&s.principal);
    let at = |what: &str| s.base.at(&format!("/company/employees/{}/{what}", u.id));
    if let Some(erased_at) = u.privacy.erased_at {
        let receipt = receipt_of(shared, s, u).await?;
        return Ok(html! {
            @if just_erased {
                p.notice role="status" { "The person is erased. Their receipt is below." }
            }
            section {
                h2 { "Erased" }
                p {
                    "Erased on " (format::date_time(tz, erased_at)) ": their work sessions, activity, screenshots, "
                    "corrections and task notes are deleted, and this record keeps no name, email or password. "
                    "Nothing more can be done with it."
                }
                @match &receipt {
                    Some((seq, r)) => (receipt_view(tz, *seq, r)),
                    None => p.hint { "The receipt is in the audit log, as a person_erased event." },
                }
            }
        });
    }
    let placed_by = match &u.privacy.legal_hold {
        Some(hold) => shared
            .tracker
            .get_user(&s.principal, hold.placed_by)
            .await
            .map_or_else(|_| "someone".to_owned(), |p| p.username),
        None => String::new(),
    };
    let myself = u.id == s.principal.user_id();
    Ok(html! {
        section {
            h2 { "Legal hold" }
            @if let Some(hold) = &u.privacy.legal_hold {
                p {
                    span.status.warn { "on hold" } " Since " (format::date_time(tz, hold.placed_at))
                    ", placed by " (placed_by) ". Reason: " (hold.reason)
                }
                p.hint { "While the hold is in place, the retention purge keeps all of this person's data and erasure is refused." }
                form.inline method="post" action=(at("release-hold"))
                    data-confirm="Release the hold? The retention purge then deletes this person's old data as usual." {
                    (csrf_field(&s.csrf))
                    button.secondary type="submit" { "Release the hold" }
                }
            } @else {
                p.hint {
                    "For a case or a request that needs this person's data kept: until the hold is released, "
                    "nothing of theirs is purged or erased. The reason is kept in the audit log."
                }
                form.stack method="post" action=(at("legal-hold")) {
                    (csrf_field(&s.csrf))
                    label { "Reason" textarea name="reason" rows="2" required maxlength="500" {} }
                    button.secondary type="submit" { "Place a legal hold" }
                }
            }
        }
        @if !myself {
            section {
                h2 { "Erase this person" }
                @if u.privacy.legal_hold.is_some() {
                    p { "Erasure is refused while the legal hold is in place: release the hold first." }
                } @else {
                    p {
                        "For a request to erase: deletes their work sessions, activity, screenshots and pictures, "
                        "corrections and task notes, and the record of who read their data; the record of the person "
                        "stays as a tombstone without name, email or password. The company's usage numbers stay. "
                        "The audit log keeps a receipt with counts and a digest, never the data."
                    }
                    form.stack method="post" action=(at("erase"))
                        data-confirm=(format!("Erase {}? This cannot be undone.", u.username)) {
                        (csrf_field(&s.csrf))
                        label.check {
                            input type="checkbox" name="understood" value="yes" required;
                            "I understand this deletes the data of " (u.username) " and cannot be undone"
                        }
                        button.danger type="submit" { "Erase this person" }
                    }
                }
            }
        }
    })
}
