//! Tracking data and the rules of ingest and liveness.

use std::borrow::Cow;

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Validator};
use crate::ids::{ActivityId, CompanyId, ScreenshotId, UserId, WorkSessionId};
use crate::policy::TrackingPolicy;

/// A period of work an agent opened and closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkSession {
    /// Client-chosen id (idempotency key).
    pub id: WorkSessionId,
    /// Company.
    pub company_id: CompanyId,
    /// User.
    pub user_id: UserId,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// Stop, once stopped.
    pub stopped_at: Option<DateTime<Utc>>,
}

/// Whether the user was working or idle during an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ActivityKind {
    /// Input was seen.
    Active,
    /// No input for the policy's idle threshold.
    Idle,
}

impl ActivityKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Active => "active",
            ActivityKind::Idle => "idle",
        }
    }

    /// Parses the stable name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ActivityKind::Active),
            "idle" => Some(ActivityKind::Idle),
            _ => None,
        }
    }
}

/// A span of activity reported by an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityEvent {
    /// Client-chosen id (idempotency key).
    pub id: ActivityId,
    /// Company.
    pub company_id: CompanyId,
    /// User.
    pub user_id: UserId,
    /// The session it belongs to, if any.
    pub session_id: Option<WorkSessionId>,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// Length in seconds.
    pub duration_seconds: u32,
    /// Active or idle.
    pub kind: ActivityKind,
    /// Foreground application (dropped when app tracking is off).
    pub app: Option<String>,
    /// Window title (dropped when app tracking is off).
    pub window_title: Option<String>,
    /// URL in the browser (dropped when website tracking is off).
    pub url: Option<String>,
}

impl ActivityEvent {
    /// End of the event.
    pub fn ended_at(&self) -> DateTime<Utc> {
        self.started_at + Duration::seconds(i64::from(self.duration_seconds))
    }
}

/// Metadata of an uploaded screenshot; the image is in the
/// [`BlobStore`](crate::BlobStore) under `blob_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Screenshot {
    /// Client-chosen id (idempotency key).
    pub id: ScreenshotId,
    /// Company.
    pub company_id: CompanyId,
    /// User.
    pub user_id: UserId,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// Size of the image in bytes (counts against the plan's storage).
    pub size_bytes: u64,
    /// Hex SHA-256 of the image.
    pub sha256: String,
    /// Media type detected from the bytes.
    pub content_type: String,
    /// Whether the agent blurred it (per policy).
    pub blurred: bool,
    /// Key in the blob store.
    pub blob_key: String,
}

impl Screenshot {
    /// Where the blob store keeps this screenshot's thumbnail, beside the
    /// image, so that retention deletes both.
    pub fn thumbnail_key(&self) -> String {
        format!("{}.thumb", self.blob_key)
    }
}

/// A small picture of a screenshot for galleries, or the image itself when
/// no thumbnail could be drawn from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preview {
    /// A thumbnail in the format its maker chose.
    Thumbnail(Vec<u8>),
    /// The stored image, in the screenshot's `content_type`.
    Original(Vec<u8>),
}

/// The last heartbeat of one user's agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentState {
    /// Company.
    pub company_id: CompanyId,
    /// User.
    pub user_id: UserId,
    /// Time of the last heartbeat.
    pub last_heartbeat_at: DateTime<Utc>,
    /// Policy version the agent said it applies.
    pub policy_version: Option<u64>,
    /// Agent software version.
    pub agent_version: Option<String>,
}

/// Whether an agent is alive, from its last heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Liveness {
    /// Heartbeat within 10 minutes.
    Online,
    /// Heartbeat 10 to 15 minutes ago.
    Stale,
    /// No heartbeat for 15 minutes or more.
    Offline,
    /// Never sent one.
    Never,
}

/// Agents heartbeat every 5 minutes; these are the liveness thresholds.
pub mod liveness {
    use chrono::Duration;
    /// Online while the last heartbeat is younger.
    pub fn online_within() -> Duration {
        Duration::minutes(10)
    }
    /// Offline from this age on.
    pub fn offline_after() -> Duration {
        Duration::minutes(15)
    }
}

/// The liveness rule.
pub fn liveness_at(last_heartbeat: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Liveness {
    match last_heartbeat {
        None => Liveness::Never,
        Some(at) => {
            let age = now - at;
            if age < liveness::online_within() {
                Liveness::Online
            } else if age < liveness::offline_after() {
                Liveness::Stale
            } else {
                Liveness::Offline
            }
        }
    }
}

/// No event may be longer than this, whatever the [`IngestLimits`]: stores
/// rely on it to find overlapping events with a bounded index scan.
pub const MAX_EVENT_SECONDS: u32 = 86_400;

/// Limits of ingest. The defaults suit desktop agents with an offline queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestLimits {
    /// Most events in one batch.
    pub max_batch: usize,
    /// How far in the future an event may end (agent clock skew).
    pub max_clock_skew: Duration,
    /// How old an event may be (offline queue replay window).
    pub max_age: Duration,
    /// Longest single event, in seconds.
    pub max_duration_seconds: u32,
    /// Longest app name.
    pub max_app_len: usize,
    /// Longest window title.
    pub max_title_len: usize,
    /// Longest URL.
    pub max_url_len: usize,
    /// Largest screenshot, in bytes.
    pub max_screenshot_bytes: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_batch: 1_000,
            max_clock_skew: Duration::minutes(5),
            max_age: Duration::days(14),
            max_duration_seconds: 4 * 3_600,
            max_app_len: 256,
            max_title_len: 1_024,
            max_url_len: 2_048,
            max_screenshot_bytes: 10 * 1024 * 1024,
        }
    }
}

impl IngestLimits {
    /// Checks that `at` is inside the accepted window at `now`.
    pub fn check_time(
        &self,
        v: &mut Validator,
        field: &str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        if at > now + self.max_clock_skew {
            v.push(field, "is in the future beyond the allowed clock skew");
        } else if at < now - self.max_age {
            v.push(
                field,
                format!(
                    "is older than the {} days accepted",
                    self.max_age.num_days()
                ),
            );
        }
    }
}

/// One activity event as an agent sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityInput {
    /// Client-generated UUID; a replayed event with the same id is counted
    /// once. Agents should use time-ordered UUIDv7: stores index events by
    /// id, and random ids scatter inserts over the whole index of a large
    /// database (several times slower to ingest, see BENCHMARKS.md).
    pub id: ActivityId,
    /// The session it belongs to, if any.
    #[serde(default)]
    pub session_id: Option<WorkSessionId>,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// Length in seconds, 1 to the limit (4 hours by default).
    pub duration_seconds: u32,
    /// Active or idle.
    pub kind: ActivityKind,
    /// Foreground application.
    #[serde(default)]
    pub app: Option<String>,
    /// Window title.
    #[serde(default)]
    pub window_title: Option<String>,
    /// Browser URL.
    #[serde(default)]
    pub url: Option<String>,
}

/// Activity events ready to store: of one company and one user, no id
/// twice, none longer than [`MAX_EVENT_SECONDS`]. Only the ingest rule
/// builds one ([`prepare_batch`] from an
/// agent's upload, or [`EventBatch::new`] from events), so a store never
/// checks these again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBatch {
    company: CompanyId,
    user: UserId,
    events: Vec<ActivityEvent>,
    repeated: u64,
}

impl EventBatch {
    /// A batch of `user`'s events in `company`: refused with `Validation`
    /// if an event belongs to another company or user or is longer than
    /// [`MAX_EVENT_SECONDS`]; an id repeated in the batch is kept once and
    /// counted in [`repeated`](Self::repeated).
    pub fn new(company: CompanyId, user: UserId, events: Vec<ActivityEvent>) -> Result<Self> {
        if events
            .iter()
            .any(|e| e.company_id != company || e.user_id != user)
        {
            return Err(Error::invalid(
                "events",
                "every event must belong to the batch's company and user",
            ));
        }
        if events
            .iter()
            .any(|e| e.duration_seconds > MAX_EVENT_SECONDS)
        {
            return Err(Error::invalid(
                "events",
                format!("no event may be longer than {MAX_EVENT_SECONDS} seconds"),
            ));
        }
        let received = events.len();
        let mut seen = HashSet::with_capacity(received);
        let events: Vec<_> = events.into_iter().filter(|e| seen.insert(e.id)).collect();
        let repeated = (received - events.len()) as u64;
        Ok(Self {
            company,
            user,
            events,
            repeated,
        })
    }

    /// The company every event belongs to.
    pub fn company(&self) -> CompanyId {
        self.company
    }

    /// The user every event belongs to.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// The events, each id once, in the order received.
    pub fn events(&self) -> &[ActivityEvent] {
        &self.events
    }

    /// Events dropped because their id came earlier in the same batch.
    pub fn repeated(&self) -> u64 {
        self.repeated
    }
}

/// Validates a whole upload and turns it into a batch to store: all of its
/// events, or an error naming every bad item. Fields the policy disables
/// are dropped. An id repeated inside the upload is kept once and counted
/// in [`EventBatch::repeated`].
pub fn prepare_batch(
    inputs: &[ActivityInput],
    company_id: CompanyId,
    user_id: UserId,
    policy: &TrackingPolicy,
    limits: &IngestLimits,
    now: DateTime<Utc>,
) -> Result<EventBatch> {
    let mut v = Validator::new();
    if inputs.is_empty() {
        v.push("events", "must hold at least one event");
    }
    if inputs.len() > limits.max_batch {
        v.push(
            "events",
            format!(
                "holds {} events, at most {} are accepted",
                inputs.len(),
                limits.max_batch
            ),
        );
        return Err(v.finish().unwrap_err());
    }
    for (i, e) in inputs.iter().enumerate() {
        // Checked under bare field names first, which costs no allocation;
        // only an event at fault is checked again to name `events[i].…`.
        let mut probe = Validator::new();
        check_event(&mut probe, e, limits, now, &Cow::Borrowed);
        if !probe.is_empty() {
            check_event(&mut v, e, limits, now, &|name| {
                Cow::Owned(format!("events[{i}].{name}"))
            });
        }
    }
    v.finish()?;
    let events = inputs
        .iter()
        .map(|e| ActivityEvent {
            id: e.id,
            company_id,
            user_id,
            session_id: e.session_id,
            started_at: crate::clock::normalize(e.started_at),
            duration_seconds: e.duration_seconds,
            kind: e.kind,
            app: e.app.clone().filter(|_| policy.app_tracking_enabled),
            window_title: e
                .window_title
                .clone()
                .filter(|_| policy.app_tracking_enabled),
            url: e.url.clone().filter(|_| policy.website_tracking_enabled),
        })
        .collect();
    EventBatch::new(company_id, user_id, events)
}

/// The checks of one event of a batch; `field` makes a field's name.
fn check_event(
    v: &mut Validator,
    e: &ActivityInput,
    limits: &IngestLimits,
    now: DateTime<Utc>,
    field: &dyn Fn(&'static str) -> Cow<'static, str>,
) {
    v.range(
        &field("duration_seconds"),
        e.duration_seconds,
        1,
        limits.max_duration_seconds.min(MAX_EVENT_SECONDS),
    );
    limits.check_time(v, &field("started_at"), e.started_at, now);
    // Checked: a client may send an instant at the end of chrono's range.
    let end = e
        .started_at
        .checked_add_signed(Duration::seconds(i64::from(e.duration_seconds)));
    if end.is_none_or(|end| end > now + limits.max_clock_skew)
        && e.started_at <= now + limits.max_clock_skew
    {
        v.push(
            field("duration_seconds"),
            "makes the event end in the future",
        );
    }
    for (name, value, max) in [
        ("app", &e.app, limits.max_app_len),
        ("window_title", &e.window_title, limits.max_title_len),
        ("url", &e.url, limits.max_url_len),
    ] {
        if let Some(value) = value {
            v.max_len(&field(name), value, max);
        }
    }
}

/// Image formats accepted for screenshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// WebP.
    Webp,
}

impl ImageFormat {
    /// Detects the format from the first bytes; `None` if not an accepted image.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageFormat::Webp)
        } else {
            None
        }
    }

    /// The media type.
    pub fn media_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Webp => "image/webp",
        }
    }
}

/// Checks a screenshot upload against the policy and the limits.
pub fn check_screenshot(
    bytes: &[u8],
    taken_at: DateTime<Utc>,
    policy: &TrackingPolicy,
    limits: &IngestLimits,
    now: DateTime<Utc>,
) -> Result<ImageFormat> {
    if !policy.screenshots_enabled {
        return Err(Error::PolicyDisabled {
            what: "screenshots",
        });
    }
    let mut v = Validator::new();
    limits.check_time(&mut v, "taken_at", taken_at, now);
    if bytes.len() > limits.max_screenshot_bytes {
        v.push(
            "image",
            format!(
                "is {} bytes, at most {} are accepted",
                bytes.len(),
                limits.max_screenshot_bytes
            ),
        );
    }
    let format = ImageFormat::detect(bytes);
    if format.is_none() {
        v.push("image", "is not a PNG, JPEG or WebP image");
    }
    v.finish()?;
    format.ok_or_else(|| Error::invalid("image", "is not a PNG, JPEG or WebP image"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> TrackingPolicy {
        TrackingPolicy::default_for(CompanyId::new(), Utc::now())
    }

    fn input(started_at: DateTime<Utc>, duration: u32) -> ActivityInput {
        ActivityInput {
            id: ActivityId::from_uuid(uuid::Uuid::new_v4()),
            session_id: None,
            started_at,
            duration_seconds: duration,
            kind: ActivityKind::Active,
            app: Some("code".into()),
            window_title: Some("main.rs".into()),
            url: Some("https://docs.rs/".into()),
        }
    }

    #[test]
    fn liveness_thresholds() {
        let now = Utc::now();
        assert_eq!(liveness_at(None, now), Liveness::Never);
        assert_eq!(
            liveness_at(Some(now - Duration::minutes(9)), now),
            Liveness::Online
        );
        assert_eq!(
            liveness_at(Some(now - Duration::minutes(10)), now),
            Liveness::Stale
        );
        assert_eq!(
            liveness_at(Some(now - Duration::minutes(15)), now),
            Liveness::Offline
        );
    }

    #[test]
    fn a_bad_batch_names_every_bad_item_and_stores_nothing() {
        let now = Utc::now();
        let limits = IngestLimits::default();
        let mut long = input(now - Duration::hours(1), 60);
        long.app = Some("x".repeat(300));
        let batch = vec![
            input(now - Duration::hours(1), 60),
            input(now + Duration::hours(1), 60),
            input(now - Duration::days(30), 60),
            input(now - Duration::hours(1), 0),
            long,
        ];
        let err = prepare_batch(
            &batch,
            CompanyId::new(),
            UserId::new(),
            &policy(),
            &limits,
            now,
        )
        .unwrap_err();
        let fields: Vec<_> = err
            .field_errors()
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "events[1].started_at",
                "events[2].started_at",
                "events[3].duration_seconds",
                "events[4].app"
            ]
        );
    }

    #[test]
    fn policy_drops_disabled_fields_and_duplicates_count_once() {
        let now = Utc::now();
        let mut p = policy();
        p.website_tracking_enabled = false;
        p.app_tracking_enabled = false;
        let e = input(now - Duration::minutes(10), 60);
        let events = prepare_batch(
            &[e.clone(), e],
            CompanyId::new(),
            UserId::new(),
            &p,
            &IngestLimits::default(),
            now,
        )
        .unwrap();
        assert_eq!((events.events().len(), events.repeated()), (1, 1));
        let e = &events.events()[0];
        assert_eq!((e.app.as_deref(), e.url.as_deref()), (None, None));
        assert_eq!(e.window_title, None);
    }

    #[test]
    fn instants_at_the_end_of_time_are_refused_not_panicked_on() {
        let now = Utc::now();
        let mut e = input(now, 3_600);
        e.started_at = DateTime::<Utc>::MAX_UTC - Duration::seconds(1);
        let err = prepare_batch(
            &[e],
            CompanyId::new(),
            UserId::new(),
            &policy(),
            &IngestLimits::default(),
            now,
        )
        .unwrap_err();
        assert_eq!(err.field_errors()[0].field, "events[0].started_at");
    }

    #[test]
    fn oversize_and_empty_batches_are_refused() {
        let now = Utc::now();
        let limits = IngestLimits {
            max_batch: 2,
            ..Default::default()
        };
        let batch: Vec<_> = (0..3).map(|_| input(now - Duration::hours(1), 5)).collect();
        let err = prepare_batch(
            &batch,
            CompanyId::new(),
            UserId::new(),
            &policy(),
            &limits,
            now,
        );
        assert_eq!(err.unwrap_err().field_errors()[0].field, "events");
        let err = prepare_batch(
            &[],
            CompanyId::new(),
            UserId::new(),
            &policy(),
            &limits,
            now,
        );
        assert_eq!(err.unwrap_err().code(), "validation");
    }

    #[test]
    fn screenshots_are_checked_by_magic_bytes_and_policy() {
        let now = Utc::now();
        let limits = IngestLimits::default();
        let png = b"\x89PNG\r\n\x1a\nrest";
        assert_eq!(
            check_screenshot(png, now, &policy(), &limits, now).unwrap(),
            ImageFormat::Png
        );
        assert_eq!(
            ImageFormat::detect(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageFormat::Webp)
        );
        assert_eq!(
            ImageFormat::detect(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageFormat::Jpeg)
        );
        let err = check_screenshot(b"GIF89a", now, &policy(), &limits, now).unwrap_err();
        assert_eq!(err.field_errors()[0].field, "image");
        let mut off = policy();
        off.screenshots_enabled = false;
        let err = check_screenshot(png, now, &off, &limits, now).unwrap_err();
        assert_eq!(err.code(), "policy_disabled");
    }
}
