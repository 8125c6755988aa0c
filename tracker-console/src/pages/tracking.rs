//! What agents recorded, for ADMINs and MANAGERs: work sessions and
//! activity as filterable paged lists, and the screenshot gallery by person
//! and day with cached thumbnails. A MANAGER sees the people of its teams;
//! anyone else's screenshot is not found.

use axum::Router;
use axum::extract::{Path, Query, State as Extract};
use axum::http::header;
use axum::response::Response;
use axum::routing::get;
use chrono::NaiveDate;
use maud::{Markup, html};
use serde::Deserialize;
use tracker_core::protocol::TrackingQuery;
use tracker_core::report::{day_bounds, local_date};
use tracker_core::{Preview, ScreenshotId};

use super::company::{all, parse, staff_page};
use super::filter::{self, day_picker, name_of, next_page, people};
use crate::State;
use crate::format::{self, tz_of};
use crate::page::PageError;
use crate::session::Session;
use crate::thumbnail;

pub(super) fn routes() -> Router<State> {
    Router::new()
        .route("/company/sessions", get(sessions))
        .route("/company/activity", get(activity))
        .route("/company/screenshots", get(gallery))
        .route("/company/screenshots/{id}", get(image))
        .route("/company/screenshots/{id}/thumbnail", get(thumbnail))
}

/// The filters of the sessions and activity lists.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

/// The read filters of a list, and the form that shows them.
struct Filters {
    query: TrackingQuery,
    form: Markup,
    keep: Vec<(&'static str, String)>,
}

async fn filters(
    shared: &State,
    s: &Session,
    path: &str,
    q: &ListQuery,
) -> Result<Filters, PageError> {
    let tz = tz_of(&s.principal);
    let user = filter::person(&q.user)?;
    let from = filter::date(&q.from, "first day")?;
    let to = filter::date(&q.to, "last day")?;
    if let (Some(f), Some(t)) = (from, to) {
        filter::range(f, t, 3660)?;
    }
    let (from_at, to_at) = filter::span(tz, from, to);
    let users = shared
        .tracker
        .list_users(&s.principal, None, &all())
        .await?
        .items;
    let form = html! {
        form.inline method="get" action=(s.base.at(path)) {
            (people(&users, user, Some("everyone")))
            (day_picker("from", "From", from))
            (day_picker("to", "To", to))
            button.secondary type="submit" { "Filter" }
        }
        p.hint { "Days in " (tz.name()) "; oldest first, " (filter::PAGE_ROWS) " a page." }
    };
    let keep = vec![
        ("user", user.map(|u| u.to_string()).unwrap_or_default()),
        ("from", from.map(|d| d.to_string()).unwrap_or_default()),
        ("to", to.map(|d| d.to_string()).unwrap_or_default()),
    ];
    Ok(Filters {
        query: TrackingQuery {
            user_id: user,
            from: from_at,
            to: to_at,
        },
        form,
        keep,
    })
}

async fn sessions(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<ListQuery>,
) -> Response {
    staff_page(&s, "Work sessions", sessions_body(&shared, &s, &q)).await
}

async fn sessions_body(shared: &State, s: &Session, q: &ListQuery) -> Result<Markup, PageError> {
    let t = &shared.tracker;
    let f = filters(shared, s, "/company/sessions", q).await?;
    let list = t
        .sessions(&s.principal, &f.query, &filter::page_of(&q.after))
        .await?;
    let users = t.list_users(&s.principal, None, &all()).await?.items;
    let tz = tz_of(&s.principal);
    let now = t.now();
    Ok(html! {
        (f.form)
        @if list.items.is_empty() { p { "No work session matches." } }
        @else {
            div.table-wrap { table {
                thead { tr { th { "Employee" } th { "Started" } th { "Stopped" } th { "Length" } } }
                tbody {
                    @for w in &list.items {
                        tr {
                            td { (name_of(&users, w.user_id)) }
                            td { (format::date_time(tz, w.started_at)) }
                            td { @match w.stopped_at {
                                Some(at) => (format::date_time(tz, at)),
                                None => span.status.good { "running" },
                            } }
                            td { (format::duration((w.stopped_at.unwrap_or(now) - w.started_at).num_seconds().max(0) as u64)) }
                        }
                    }
                }
            } }
        }
        (next_page(s, "/company/sessions", &f.keep, list.next_cursor.as_deref()))
    })
}

async fn activity(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<ListQuery>,
) -> Response {
    staff_page(&s, "Activity", activity_body(&shared, &s, &q)).await
}

async fn activity_body(shared: &State, s: &Session, q: &ListQuery) -> Result<Markup, PageError> {
    let t = &shared.tracker;
    let f = filters(shared, s, "/company/activity", q).await?;
    let list = t
        .activity(&s.principal, &f.query, &filter::page_of(&q.after))
        .await?;
    let users = t.list_users(&s.principal, None, &all()).await?.items;
    let tz = tz_of(&s.principal);
    Ok(html! {
        (f.form)
        @if list.items.is_empty() { p { "No activity matches." } }
        @else {
            div.table-wrap { table {
                thead { tr { th { "Employee" } th { "Start" } th { "Length" } th { "State" } th { "App" } th { "Window or site" } } }
                tbody {
                    @for e in &list.items {
                        tr {
                            td { (name_of(&users, e.user_id)) }
                            td { (format::date_time(tz, e.started_at)) }
                            td { (format::duration(u64::from(e.duration_seconds))) }
                            td { (format!("{:?}", e.kind).to_lowercase()) }
                            td { (e.app.as_deref().unwrap_or("–")) }
                            td { (e.url.as_deref().or(e.window_title.as_deref()).unwrap_or("–")) }
                        }
                    }
                }
            } }
        }
        (next_page(s, "/company/activity", &f.keep, list.next_cursor.as_deref()))
    })
}

#[derive(Debug, Default, Deserialize)]
struct GalleryQuery {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

async fn gallery(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<GalleryQuery>,
) -> Response {
    staff_page(&s, "Screenshots", gallery_body(&shared, &s, &q)).await
}

/// One day's screenshots, of one person or of everyone the caller sees.
async fn gallery_body(shared: &State, s: &Session, q: &GalleryQuery) -> Result<Markup, PageError> {
    let t = &shared.tracker;
    let p = &s.principal;
    let tz = tz_of(p);
    let user = filter::person(&q.user)?;
    let date: NaiveDate = filter::date(&q.date, "day")?.unwrap_or_else(|| local_date(tz, t.now()));
    let window = day_bounds(tz, date);
    let query = TrackingQuery {
        user_id: user,
        from: Some(window.0),
        to: Some(window.1),
    };
    let shots = t.screenshots(p, &query, &filter::page_of(&q.after)).await?;
    let users = t.list_users(p, None, &all()).await?.items;
    let keep = [
        ("user", user.map(|u| u.to_string()).unwrap_or_default()),
        ("date", date.to_string()),
    ];
    Ok(html! {
        form.inline method="get" action=(s.base.at("/company/screenshots")) {
            (people(&users, user, Some("everyone")))
            (day_picker("date", "Day", Some(date)))
            button.secondary type="submit" { "Show" }
        }
        p.hint { "Times in " (tz.name()) ". Select a picture to open the full screenshot." }
        @if shots.items.is_empty() { p { "No screenshot on this day." } }
        @else {
            ul.gallery {
                @for shot in &shots.items {
                    @let who = name_of(&users, shot.user_id);
                    li {
                        a href=(s.base.at(&format!("/company/screenshots/{}", shot.id))) {
                            img src=(s.base.at(&format!("/company/screenshots/{}/thumbnail", shot.id)))
                                alt=(format!("Screenshot of {who} at {}", format::time(tz, shot.taken_at)))
                                width=(thumbnail::WIDTH) loading="lazy";
                        }
                        br;
                        (who) " · " (format::time(tz, shot.taken_at))
                        @if shot.blurred { " · " span.status.warn { "blurred" } }
                    }
                }
            }
        }
        (next_page(s, "/company/screenshots", &keep, shots.next_cursor.as_deref()))
    })
}

/// The full screenshot.
async fn image(Extract(shared): Extract<State>, s: Session, Path(id): Path<String>) -> Response {
    let id = match parse::<ScreenshotId>(&id, "screenshot") {
        Ok(id) => id,
        Err(e) => return s.error(e),
    };
    match shared.tracker.screenshot_image(&s.principal, id).await {
        Ok((shot, bytes)) => s.respond(([(header::CONTENT_TYPE, shot.content_type)], bytes)),
        Err(e) => s.error(e),
    }
}

/// A screenshot's thumbnail: drawn on the first view, then cached.
async fn thumbnail(
    Extract(shared): Extract<State>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    let id = match parse::<ScreenshotId>(&id, "screenshot") {
        Ok(id) => id,
        Err(e) => return s.error(e),
    };
    let t = &shared.tracker;
    match t
        .screenshot_thumbnail(&s.principal, id, thumbnail::draw_off_thread)
        .await
    {
        Ok((_, Preview::Thumbnail(bytes))) => {
            s.respond(([(header::CONTENT_TYPE, "image/jpeg")], bytes))
        }
        Ok((shot, Preview::Original(bytes))) => {
            s.respond(([(header::CONTENT_TYPE, shot.content_type)], bytes))
        }
        Err(e) => s.error(e),
    }
}
