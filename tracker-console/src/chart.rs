//! Charts as SVG drawn on the server: a day's timeline, horizontal bars,
//! and columns by day. Each mark has a `<title>`, which screen readers read
//! and browsers show on hover.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};
use tracker_core::ActivityKind;
use tracker_core::report::TimelineBlock;

use crate::format;

/// A day as one row of active and idle blocks between local midnights,
/// the work sessions as a thin row beneath (an open one runs to `now`),
/// and an hour scale.
pub(crate) fn timeline(
    tz: Tz,
    day: (DateTime<Utc>, DateTime<Utc>),
    blocks: &[TimelineBlock],
    sessions: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Markup {
    const W: f64 = 960.0;
    let span = (day.1 - day.0).num_seconds().max(1) as f64;
    let x = |t: DateTime<Utc>| ((t - day.0).num_seconds() as f64 / span * W).clamp(0.0, W);
    let label = format!("Timeline of {} blocks", blocks.len());
    html! {
        svg.timeline viewBox="0 0 960 76" role="img" aria-label=(label) preserveAspectRatio="none" {
            rect.track x="0" y="8" width="960" height="32" {}
            @for b in blocks {
                @let class = match b.kind { ActivityKind::Active => "active", ActivityKind::Idle => "idle" };
                @let (x0, x1) = (x(b.start), x(b.end));
                rect class=(class) x=(format!("{x0:.1}")) y="8"
                    width=(format!("{:.1}", (x1 - x0).max(1.0))) height="32" {
                    title {
                        (class) " " (format::time(tz, b.start)) "–" (format::time(tz, b.end))
                        " (" (format::duration(b.seconds)) ")"
                    }
                }
            }
            @for (start, end) in sessions {
                @let (x0, x1) = (x(*start), x(*end));
                rect.session x=(format!("{x0:.1}")) y="44" width=(format!("{:.1}", (x1 - x0).max(1.0))) height="6" {
                    title { "session " (format::time(tz, *start)) "–" (format::time(tz, *end)) }
                }
            }
            @for h in (0..=24).step_by(3) {
                @let px = f64::from(h) / 24.0 * W;
                text.tick x=(format!("{:.1}", px.min(W - 14.0))) y="70" { (format!("{h:02}")) }
            }
        }
    }
}

/// Horizontal bars: a name and a length in seconds each, longest first.
pub(crate) fn bars(label: &str, entries: &[(String, u64)]) -> Markup {
    let max = entries.iter().map(|e| e.1).max().unwrap_or(1).max(1) as f64;
    let height = 28 * entries.len().max(1);
    html! {
        svg.bars viewBox=(format!("0 0 640 {height}")) role="img" aria-label=(label) {
            @for (i, (name, seconds)) in entries.iter().enumerate() {
                @let y = 28 * i;
                @let w = (*seconds as f64 / max * 300.0).max(2.0);
                text.name x="0" y=(y + 18) { (short(name, 30)) }
                rect.bar x="240" y=(y + 6) width=(format!("{w:.1}")) height="16" {
                    title { (name) ": " (format::duration(*seconds)) }
                }
                text.value x=(format!("{:.1}", 248.0 + w)) y=(y + 18) { (format::duration(*seconds)) }
            }
        }
    }
}

/// Columns by day: one value per date, with the first and last date below.
pub(crate) fn columns(label: &str, unit: &str, days: &[(NaiveDate, f64)]) -> Markup {
    let max = days.iter().map(|d| d.1).fold(0.0_f64, f64::max).max(1.0);
    let n = days.len().max(1) as f64;
    let step = 640.0 / n;
    html! {
        svg.columns viewBox="0 0 640 180" role="img" aria-label=(label) {
            line.axis x1="0" y1="150" x2="640" y2="150" {}
            @for (i, (date, value)) in days.iter().enumerate() {
                @let h = value / max * 140.0;
                rect.column x=(format!("{:.1}", i as f64 * step + 1.0)) y=(format!("{:.1}", 150.0 - h))
                    width=(format!("{:.1}", (step - 2.0).max(1.0))) height=(format!("{h:.1}")) {
                    title { (date) ": " (format!("{value:.1}")) " " (unit) }
                }
            }
            @if let (Some(first), Some(last)) = (days.first(), days.last()) {
                text.tick x="0" y="170" { (first.0) }
                text.tick x="560" y="170" { (last.0) }
            }
        }
    }
}

/// One person's row of a [`heat_map`]: seconds per day of the month.
pub(crate) struct HeatRow {
    /// Who.
    pub(crate) name: String,
    /// Where the name leads (the person's day).
    pub(crate) link: String,
    /// Active seconds per day, in the order of the map's days.
    pub(crate) seconds: Vec<u64>,
}

/// Hours per person and day as a table whose cells darken with the hours,
/// so it reads as a heat map and as numbers (to screen readers too).
pub(crate) fn heat_map(caption: &str, days: &[NaiveDate], rows: &[HeatRow]) -> Markup {
    html! {
        div.table-wrap {
            table.heat {
                caption { (caption) }
                thead { tr {
                    th scope="col" { "Person" }
                    @for d in days { th scope="col" { (d.format("%d")) } }
                    th scope="col" { "Total" }
                } }
                tbody {
                    @for row in rows {
                        tr {
                            th scope="row" { a href=(row.link) { (row.name) } }
                            @for seconds in &row.seconds {
                                @if *seconds == 0 { td.h0 {} }
                                @else { td class=(heat_level(*seconds)) { (format::hours(*seconds)) } }
                            }
                            td.total { (format::hours(row.seconds.iter().sum())) }
                        }
                    }
                }
            }
        }
    }
}

/// The shade of a day's cell: under 2, 4, 6 hours, or more.
fn heat_level(seconds: u64) -> &'static str {
    match seconds / 3600 {
        0..2 => "h1",
        2..4 => "h2",
        4..6 => "h3",
        _ => "h4",
    }
}

/// At most `n` characters of `s`, with an ellipsis when cut.
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(n - 1).collect();
        format!("{cut}…")
    }
}
