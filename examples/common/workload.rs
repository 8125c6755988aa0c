//! The workload of real agents, shared by the load generator and the
//! side-by-side driver: a skewed mix of apps, window titles and URLs,
//! event ids that are UUIDv7s of each event's start (so one upload's ids
//! interleave with every other agent's), and now and then a batch that
//! resends the tail of the one before.

use bytes::Bytes;
use chrono::{DateTime, Utc};

/// A small deterministic generator (splitmix64): the same events for both
/// servers, without a dependency.
pub struct Mix(pub u64);

impl Mix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Skewed towards 0: a few values are most of them, as apps are.
    pub fn skewed(&mut self, n: u64) -> u64 {
        let a = self.next() % n;
        let b = self.next() % n;
        a.min(b)
    }
}

const APPS: [&str; 24] = [
    "firefox",
    "chrome",
    "code",
    "slack",
    "outlook",
    "teams",
    "terminal",
    "excel",
    "word",
    "zoom",
    "explorer",
    "notion",
    "figma",
    "intellij",
    "postman",
    "spotify",
    "acrobat",
    "powerpnt",
    "onenote",
    "whatsapp",
    "calculator",
    "finder",
    "preview",
    "mail",
];
const BROWSERS: usize = 2;
const SITES: [&str; 12] = [
    "github.com",
    "docs.google.com",
    "mail.google.com",
    "stackoverflow.com",
    "jira.example.com",
    "confluence.example.com",
    "www.youtube.com",
    "news.ycombinator.com",
    "en.wikipedia.org",
    "docs.rs",
    "crates.io",
    "calendar.google.com",
];

/// One recorded event, as both servers get it.
#[derive(Clone)]
pub struct Event {
    pub id: uuid::Uuid,
    pub at: DateTime<Utc>,
    pub seconds: u32,
    pub app: &'static str,
    pub title: String,
    pub url: Option<String>,
}

impl Event {
    /// An event at `at` of an app, title and URL drawn from `mix`, its id
    /// a UUIDv7 of its start.
    pub fn new(mix: &mut Mix, at: DateTime<Utc>, seconds: u32) -> Self {
        let app_index = mix.skewed(APPS.len() as u64) as usize;
        let app = APPS[app_index];
        let (title, url) = if app_index < BROWSERS {
            let site = SITES[mix.skewed(SITES.len() as u64) as usize];
            let page = mix.skewed(400);
            (
                format!("{site} page {page} - {app}"),
                Some(format!("https://{site}/p/{page}")),
            )
        } else {
            (format!("document {} - {app}", mix.skewed(200)), None)
        };
        let micros = at.timestamp_micros() as u64;
        let ts = uuid::Timestamp::from_unix(
            uuid::NoContext,
            micros / 1_000_000,
            (micros % 1_000_000) as u32 * 1_000,
        );
        Event {
            id: uuid::Uuid::new_v7(ts),
            at,
            seconds,
            app,
            title,
            url,
        }
    }

    /// The event as our agent protocol sends it.
    pub fn tracker_json(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(
            out,
            r#"{{"id":"{}","started_at":"{}","duration_seconds":{},"kind":"active","app":"{}","window_title":{}"#,
            self.id,
            self.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            self.seconds,
            self.app,
            serde_json::Value::from(self.title.as_str()),
        );
        if let Some(url) = &self.url {
            let _ = write!(out, r#","url":"{url}""#);
        }
        out.push('}');
    }

    /// The event as aw-server-rust takes it.
    pub fn aw_json(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(
            out,
            r#"{{"timestamp":"{}","duration":{},"data":{{"app":"{}","title":{}"#,
            self.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            self.seconds,
            self.app,
            serde_json::Value::from(self.title.as_str()),
        );
        if let Some(url) = &self.url {
            let _ = write!(out, r#","url":"{url}""#);
        }
        out.push_str("}}");
    }
}

/// One agent's recording: its clock moves on event by event, and it
/// remembers the tail of its last batch to resend now and then.
pub struct Recorder {
    pub mix: Mix,
    pub clock: DateTime<Utc>,
    pub last: Vec<Event>,
}

impl Recorder {
    /// The next `n` events; one batch in ten starts with the last quarter
    /// of the one before, sent again.
    pub fn batch(&mut self, n: usize) -> Vec<Event> {
        let resend = if !self.last.is_empty() && self.mix.next().is_multiple_of(10) {
            let keep = self.last.len() / 4;
            self.last.split_off(self.last.len() - keep)
        } else {
            Vec::new()
        };
        let mut fresh = Vec::with_capacity(n);
        while fresh.len() + resend.len() < n {
            let seconds = 1 + (self.mix.next() % 5) as u32;
            fresh.push(Event::new(&mut self.mix, self.clock, seconds));
            self.clock += chrono::Duration::seconds(i64::from(seconds));
        }
        self.last = fresh.clone();
        resend.into_iter().chain(fresh).collect()
    }
}

/// A batch as our agent protocol uploads it: `{"events":[…]}`.
pub fn tracker_body(events: &[Event]) -> Bytes {
    json_list(events, r#"{"events":["#, "]}", Event::tracker_json)
}

/// A batch as aw-server-rust takes it: an array of events.
pub fn aw_body(events: &[Event]) -> Bytes {
    json_list(events, "[", "]", Event::aw_json)
}

fn json_list(events: &[Event], open: &str, close: &str, write: fn(&Event, &mut String)) -> Bytes {
    let mut out = String::with_capacity(events.len() * 220);
    out.push_str(open);
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(e, &mut out);
    }
    out.push_str(close);
    Bytes::from(out)
}
