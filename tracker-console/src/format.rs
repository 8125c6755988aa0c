//! Durations in hours and minutes, instants in the company's timezone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tracker_core::Principal;

/// `3 h 05 min`, `12 min`, `0 min`.
pub(crate) fn duration(seconds: u64) -> String {
    let minutes = seconds / 60;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, m) => format!("{h} h {m:02} min"),
    }
}

/// Hours with one decimal, for tables of many numbers.
pub(crate) fn hours(seconds: u64) -> String {
    format!("{:.1}", seconds as f64 / 3600.0)
}

/// The timezone pages of `p` are shown in: its company's (UTC for the OWNER).
pub(crate) fn tz_of(p: &Principal) -> Tz {
    p.company().map_or(Tz::UTC, |c| c.tz())
}

/// `14:05` in `tz`.
pub(crate) fn time(tz: Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&tz).format("%H:%M").to_string()
}

/// `2026-12-06 14:05` in `tz`.
pub(crate) fn date_time(tz: Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// What kind of a person's data was read, in words.
pub(crate) fn access_kind(kind: tracker_core::access::AccessKind) -> &'static str {
    use tracker_core::access::AccessKind;
    match kind {
        AccessKind::Activity => "activity, apps and websites",
        AccessKind::Sessions => "work sessions",
        AccessKind::DayReport => "a day report",
        AccessKind::Screenshots => "the list of screenshots",
        AccessKind::ScreenshotImages => "screenshot pictures",
        AccessKind::Timesheet => "timesheets",
    }
}

/// Bytes as `12.3 MB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Cents as `1,234.50`.
pub(crate) fn money(cents: u64) -> String {
    let units = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{:02}", cents % 100)
}

/// A JSON document of facts (an audit event's details, an alert's) as a
/// list a person reads: one row per value, named by its path
/// (`old.role`), strings without quotes, absent values as `–`.
pub(crate) fn facts(value: &serde_json::Value) -> maud::Markup {
    fn walk(prefix: &str, value: &serde_json::Value, rows: &mut Vec<(String, String)>) {
        use serde_json::Value;
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, v) in map {
                    let name = if prefix.is_empty() {
                        key.replace('_', " ")
                    } else {
                        format!("{prefix} · {}", key.replace('_', " "))
                    };
                    walk(&name, v, rows);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, v) in items.iter().enumerate() {
                    walk(&format!("{prefix} {}", i + 1), v, rows);
                }
            }
            Value::Null => rows.push((prefix.to_owned(), "–".to_owned())),
            Value::String(s) => rows.push((prefix.to_owned(), s.clone())),
            Value::Object(_) | Value::Array(_) => rows.push((prefix.to_owned(), "none".to_owned())),
            other => rows.push((prefix.to_owned(), other.to_string())),
        }
    }
    let mut rows = Vec::new();
    walk("", value, &mut rows);
    maud::html! {
        @if rows.is_empty() { p.hint { "No further details." } }
        @else {
            dl.facts { @for (name, v) in &rows { dt { (name) } dd { (v) } } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_read_as_named_rows() {
        let value = serde_json::json!({
            "user_id": "u-1",
            "old": { "role": "EMPLOYEE", "email": null },
            "password_changed": false,
            "webhooks": [],
        });
        let html = facts(&value).into_string();
        assert!(
            html.contains("<dt>old · role</dt><dd>EMPLOYEE</dd>"),
            "{html}"
        );
        assert!(html.contains("<dt>old · email</dt><dd>–</dd>"), "{html}");
        assert!(
            html.contains("<dt>password changed</dt><dd>false</dd>"),
            "{html}"
        );
        assert!(html.contains("<dt>webhooks</dt><dd>none</dd>"), "{html}");
        assert!(
            !html.contains('{') && !html.contains("&quot;"),
            "no JSON left: {html}"
        );
    }

    #[test]
    fn durations_read_as_hours_and_minutes() {
        assert_eq!(duration(0), "0 min");
        assert_eq!(duration(59), "0 min");
        assert_eq!(duration(12 * 60), "12 min");
        assert_eq!(duration(3 * 3600 + 5 * 60), "3 h 05 min");
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(money(123_456_789), "1,234,567.89");
        assert_eq!(money(5), "0.05");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(12_345_678), "12.3 MB");
    }
}
