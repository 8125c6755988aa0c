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

#[cfg(test)]
mod tests {
    use super::*;

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
