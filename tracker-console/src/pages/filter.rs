//! What the company's lists and reports share: reading their filters from
//! the query string (a bad value is named, never ignored), the people
//! picker, date pickers in the company's timezone, and paging links.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};
use serde::Deserialize;
use tracker_core::report::day_bounds;
use tracker_core::{PageRequest, TaskStatus, User, UserId};

use crate::page::PageError;
use crate::session::Session;

/// The most rows a console list shows at once.
pub(crate) const PAGE_ROWS: u32 = 50;

/// A query string's value, `None` when absent or empty.
pub(crate) fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A `YYYY-MM-DD` date of the query string.
pub(crate) fn date(v: &Option<String>, field: &str) -> Result<Option<NaiveDate>, PageError> {
    given(v)
        .map(|d| {
            d.parse().map_err(|_| {
                PageError::BadForm(format!("The {field} {d:?} is not a date (YYYY-MM-DD)."))
            })
        })
        .transpose()
}

/// A person of the query string: an id, or nothing for everyone.
pub(crate) fn person(v: &Option<String>) -> Result<Option<UserId>, PageError> {
    given(v)
        .map(|id| {
            id.parse()
                .map_err(|_| PageError::Core(tracker_core::Error::not_found("user")))
        })
        .transpose()
}

/// The first and last day of a range, each a day of `tz`, as instants:
/// from the first day's local midnight to the end of the last day.
pub(crate) fn span(
    tz: Tz,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    (
        from.map(|d| day_bounds(tz, d).0),
        to.map(|d| day_bounds(tz, d).1),
    )
}

/// A checked range of at most `days` days, named in the error.
pub(crate) fn range(from: NaiveDate, to: NaiveDate, days: i64) -> Result<(), PageError> {
    if to < from {
        return Err(PageError::BadForm(format!(
            "The range ends ({to}) before it starts ({from})."
        )));
    }
    if (to - from).num_days() >= days {
        return Err(PageError::BadForm(format!(
            "The range from {from} to {to} is longer than {days} days."
        )));
    }
    Ok(())
}

/// The page a list shows: the first, or the one after `after`.
pub(crate) fn page_of(after: &Option<String>) -> PageRequest {
    match given(after) {
        Some(cursor) => PageRequest::after(cursor, PAGE_ROWS),
        None => PageRequest::first(PAGE_ROWS),
    }
}

/// A picker of the people a caller may see, with "everyone" first when
/// `everyone` names it.
pub(crate) fn people(users: &[User], chosen: Option<UserId>, everyone: Option<&str>) -> Markup {
    html! {
        label { "Person"
            select name="user" {
                @if let Some(all) = everyone { option value="" { (all) } }
                @for u in users {
                    option value=(u.id) selected[chosen == Some(u.id)] {
                        (u.username)
                        @if u.display_name != u.username { " (" (u.display_name) ")" }
                    }
                }
            }
        }
    }
}

/// A date picker.
pub(crate) fn day_picker(name: &str, label: &str, value: Option<NaiveDate>) -> Markup {
    html! {
        label { (label) input type="date" name=(name) value=[value]; }
    }
}

/// The link to the next page of a list, keeping its filters.
pub(crate) fn next_page(
    s: &Session,
    path: &str,
    filters: &[(&str, String)],
    next: Option<&str>,
) -> Markup {
    let Some(cursor) = next else {
        return html! {};
    };
    let mut pairs: Vec<(&str, &str)> = filters
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    pairs.push(("after", cursor));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    html! {
        p.pager {
            a href=(s.base.at(&format!("{path}?{query}"))) rel="next" { "Next page" }
            " · "
            a href=(s.base.at(&first_page(path, filters))) { "First page" }
        }
    }
}

/// The first page of a list with its filters.
fn first_page(path: &str, filters: &[(&str, String)]) -> String {
    let pairs: Vec<(&str, &str)> = filters
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    match serde_urlencoded::to_string(&pairs) {
        Ok(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_owned(),
    }
}

/// The status filter of a task list (`?status=`): open by default,
/// `DONE`, or `ALL` for no filter.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TasksQuery {
    #[serde(default)]
    status: Option<String>,
}

impl TasksQuery {
    /// The status to list, `None` for all.
    pub(crate) fn status(&self) -> Option<TaskStatus> {
        match self.status.as_deref() {
            Some("DONE") => Some(TaskStatus::Done),
            Some("ALL") => None,
            _ => Some(TaskStatus::Open),
        }
    }
}

/// The Open · Done · All links of the task list at `path`.
pub(crate) fn task_tabs(s: &Session, path: &str) -> Markup {
    html! {
        p {
            a href=(s.base.at(&format!("{path}?status=OPEN"))) { "Open" } " · "
            a href=(s.base.at(&format!("{path}?status=DONE"))) { "Done" } " · "
            a href=(s.base.at(&format!("{path}?status=ALL"))) { "All" }
        }
    }
}

/// The username of `id` among `users`, or its id.
pub(crate) fn name_of(users: &[User], id: UserId) -> String {
    users
        .iter()
        .find(|u| u.id == id)
        .map_or_else(|| id.to_string(), |u| u.username.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_filters_are_named() {
        let e = date(&Some("2026-13-01".into()), "first day").unwrap_err();
        assert!(matches!(e, PageError::BadForm(m) if m.contains("first day")));
        assert_eq!(date(&Some(" ".into()), "day").unwrap(), None);
        let d = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        assert!(range(d, d, 1).is_ok());
        assert!(range(d, d - chrono::Duration::days(1), 31).is_err());
        assert!(range(d, d + chrono::Duration::days(31), 31).is_err());
        assert!(matches!(
            person(&Some("nope".into())),
            Err(PageError::Core(e)) if e.code() == "not_found"
        ));
    }
}
