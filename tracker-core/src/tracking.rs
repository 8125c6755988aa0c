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
    /// Whether it is blurred: by the server while the policy asks for
    /// blur, else as the agent reported.
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
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 14400))]
    pub duration_seconds: u32,
    /// Active or idle.
    pub kind: ActivityKind,
    /// Foreground application.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub app: Option<String>,
    /// Window title.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub window_title: Option<String>,
    /// Browser URL.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
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
        .map(|e| {
            let details =
                crate::minimise::event_details(policy, e.url.as_deref(), e.window_title.as_deref());
            ActivityEvent {
                id: e.id,
                company_id,
                user_id,
                session_id: e.session_id,
                started_at: crate::clock::normalize(e.started_at),
                duration_seconds: e.duration_seconds,
                kind: e.kind,
                app: e.app.clone().filter(|_| policy.app_tracking_enabled),
                window_title: details.1,
                url: details.0,
            }
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

/// The widest and tallest screenshot accepted, in pixels: three 8K screens
/// side by side fit; a header claiming more is not a screenshot.
pub const MAX_SCREENSHOT_SIDE: u32 = 32_768;

/// What an image's header says: its format and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    /// The format.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl ImageHeader {
    /// Decodes the header of a PNG (the `IHDR` chunk), a JPEG (the first
    /// start-of-frame segment) or a WebP (its `VP8 `, `VP8L` or `VP8X`
    /// chunk). `Err` says what is wrong; a header is not a whole image, but
    /// bytes that only start like one are refused here.
    pub fn read(bytes: &[u8]) -> std::result::Result<Self, &'static str> {
        let format = ImageFormat::detect(bytes).ok_or("is not a PNG, JPEG or WebP image")?;
        let (width, height) = match format {
            ImageFormat::Png => png_size(bytes),
            ImageFormat::Jpeg => jpeg_size(bytes),
            ImageFormat::Webp => webp_size(bytes),
        }
        .ok_or(match format {
            ImageFormat::Png => "is not a PNG: its IHDR header is missing or invalid",
            ImageFormat::Jpeg => "is not a JPEG: no valid frame header before the image data",
            ImageFormat::Webp => "is not a WebP: its image chunk is missing or invalid",
        })?;
        if width == 0 || height == 0 {
            return Err("has no pixels: its header says a width or height of 0");
        }
        if width > MAX_SCREENSHOT_SIDE || height > MAX_SCREENSHOT_SIDE {
            return Err("is larger than 32768 pixels on a side");
        }
        Ok(Self {
            format,
            width,
            height,
        })
    }
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le(b: &[u8], at: usize, len: usize) -> Option<u32> {
    let bytes = b.get(at..at + len)?;
    Some(
        bytes
            .iter()
            .rev()
            .fold(0u32, |acc, byte| (acc << 8) | u32::from(*byte)),
    )
}

/// The IHDR chunk comes first: length 13, type, width, height, then a
/// bit depth and colour type PNG allows.
fn png_size(b: &[u8]) -> Option<(u32, u32)> {
    if be32(b, 8)? != 13 || b.get(12..16)? != b"IHDR" {
        return None;
    }
    let (depth, colour) = (*b.get(24)?, *b.get(25)?);
    let valid = match colour {
        0 => matches!(depth, 1 | 2 | 4 | 8 | 16),
        3 => matches!(depth, 1 | 2 | 4 | 8),
        2 | 4 | 6 => matches!(depth, 8 | 16),
        _ => false,
    };
    valid.then_some((be32(b, 16)?, be32(b, 20)?))
}

/// Walks the segments after SOI to the first start of frame (SOF0 to
/// SOF15 but DHT, JPG and DAC), whose height and width it reads.
fn jpeg_size(b: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        if *b.get(at)? != 0xFF {
            return None;
        }
        let marker = *b.get(at + 1)?;
        match marker {
            // Fill bytes before a marker.
            0xFF => at += 1,
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                return Some((be16(b, at + 7)?, be16(b, at + 5)?));
            }
            // The image data starts, or the image ends, without a frame.
            0xD9 | 0xDA => return None,
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => at += 2,
            _ => {
                let length = be16(b, at + 2)? as usize;
                if length < 2 {
                    return None;
                }
                at += 2 + length;
            }
        }
    }
}

/// The first chunk after `WEBP` holds the size: a lossy frame (`VP8 `,
/// after its start code), a lossless one (`VP8L`, 14 bits each) or the
/// extended header (`VP8X`, 24 bits each).
fn webp_size(b: &[u8]) -> Option<(u32, u32)> {
    match b.get(12..16)? {
        b"VP8 " => {
            if b.get(23..26)? != [0x9D, 0x01, 0x2A] {
                return None;
            }
            Some((le(b, 26, 2)? & 0x3FFF, le(b, 28, 2)? & 0x3FFF))
        }
        b"VP8L" => {
            if *b.get(20)? != 0x2F {
                return None;
            }
            let bits = le(b, 21, 4)?;
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => Some((le(b, 24, 3)? + 1, le(b, 27, 3)? + 1)),
        _ => None,
    }
}

/// Checks a screenshot upload against the policy and the limits, and that
/// its bytes start with a PNG, JPEG or WebP header of a sensible size.
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
    let header = ImageHeader::read(bytes);
    if let Err(why) = header {
        v.push("image", why);
    }
    v.finish()?;
    header
        .map(|h| h.format)
        .map_err(|why| Error::invalid("image", why))
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

    /// A PNG's first 33 bytes: the signature and an IHDR of `w` x `h`.
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(w.to_be_bytes());
        b.extend(h.to_be_bytes());
        b.extend([8, 6, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    #[test]
    fn screenshots_are_checked_by_their_header_and_policy() {
        let now = Utc::now();
        let limits = IngestLimits::default();
        let png = png_header(1920, 1080);
        assert_eq!(
            check_screenshot(&png, now, &policy(), &limits, now).unwrap(),
            ImageFormat::Png
        );
        let refused = |bytes: &[u8]| {
            let e = check_screenshot(bytes, now, &policy(), &limits, now).unwrap_err();
            assert_eq!(e.field_errors()[0].field, "image");
            e.field_errors()[0].message.clone()
        };
        assert!(refused(b"GIF89a").contains("not a PNG, JPEG or WebP"));
        assert!(
            refused(b"\x89PNG\r\n\x1a\nrest").contains("IHDR"),
            "magic bytes alone"
        );
        assert!(refused(&png_header(0, 10)).contains("no pixels"));
        assert!(refused(&png_header(40_000, 10)).contains("larger"));
        let mut bad_depth = png_header(10, 10);
        bad_depth[24] = 7;
        assert!(refused(&bad_depth).contains("IHDR"));
        let mut off = policy();
        off.screenshots_enabled = false;
        let err = check_screenshot(&png, now, &off, &limits, now).unwrap_err();
        assert_eq!(err.code(), "policy_disabled");
    }

    #[test]
    fn jpeg_and_webp_headers_give_their_size() {
        // SOI, an APP0 segment, then SOF0: height 1080, width 1920.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x4A, 0x46];
        jpeg.extend([0xFF, 0xC0, 0x00, 0x11, 0x08, 0x04, 0x38, 0x07, 0x80, 0x03]);
        let h = ImageHeader::read(&jpeg).unwrap();
        assert_eq!(
            (h.format, h.width, h.height),
            (ImageFormat::Jpeg, 1920, 1080)
        );
        // Scan data before any frame header is not a JPEG.
        let sos = [0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02];
        assert!(ImageHeader::read(&sos).is_err());
        assert!(
            ImageHeader::read(&[0xFF, 0xD8, 0xFF, 0xE0]).is_err(),
            "cut short"
        );

        let webp = |chunk: &[u8], body: &[u8]| {
            let mut b = b"RIFF\0\0\0\0WEBP".to_vec();
            b.extend(chunk);
            b.extend([0, 0, 0, 0]);
            b.extend(body);
            b
        };
        // VP8L: 0x2F, then (w-1) and (h-1) in 14 bits each.
        let bits: u32 = (1279) | (719 << 14);
        let lossless = webp(b"VP8L", &[[0x2F].as_slice(), &bits.to_le_bytes()].concat());
        let h = ImageHeader::read(&lossless).unwrap();
        assert_eq!(
            (h.format, h.width, h.height),
            (ImageFormat::Webp, 1280, 720)
        );
        // VP8: a frame tag, the start code, 14-bit width and height.
        let lossy = webp(
            b"VP8 ",
            &[0, 0, 0, 0x9D, 0x01, 0x2A, 0x00, 0x05, 0xD0, 0x02],
        );
        let h = ImageHeader::read(&lossy).unwrap();
        assert_eq!((h.width, h.height), (1280, 720));
        // VP8X: flags, reserved, then (w-1) and (h-1) in 24 bits each.
        let extended = webp(b"VP8X", &[0, 0, 0, 0, 0xFF, 0x04, 0, 0xCF, 0x02, 0]);
        let h = ImageHeader::read(&extended).unwrap();
        assert_eq!((h.width, h.height), (1280, 720));
        assert!(ImageHeader::read(&webp(b"ALPH", &[0; 10])).is_err());
    }
}
