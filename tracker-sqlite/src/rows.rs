//! Reads and writes of single rows that several ports share: the audit
//! append every audited write ends with, the usage marks, the key lookups
//! that `token_context` joins, and the user, policy and count queries of
//! the writes that check limits. Each runs on the connection it is given,
//! inside the caller's transaction.

use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension, params};
use tracker_core::audit::{AuditEvent, ChainHead, NewAuditEvent};
use tracker_core::identity::TokenRecord;
use tracker_core::secret::SecretHash;
use tracker_core::{Company, CompanyId, TrackingPolicy, User, UserId};
use uuid::Uuid;

use crate::codec::{self, R, chain_key, company_key, int, ts};
use crate::error::db;
use crate::sql::{count, exec, one};

/// Appends an event after its chain's head. Runs on the writer thread,
/// inside the caller's transaction, so appends never fork a chain.
/// The last event of the chain stored under `key`.
pub(crate) fn head(conn: &Connection, key: uuid::Uuid) -> R<Option<ChainHead>> {
    conn.prepare_cached(
        "SELECT seq, hash FROM audit_events WHERE company_id = ?1 ORDER BY seq DESC LIMIT 1",
    )
    .and_then(|mut s| {
        s.query_row([key], |r| {
            Ok(ChainHead {
                seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                hash: r.get(1)?,
            })
        })
        .optional()
    })
    .map_err(db)
}

pub(crate) fn append(conn: &Connection, event: NewAuditEvent) -> R<AuditEvent> {
    let key = chain_key(event.chain);
    let head = head(conn, key)?;
    let e = event.link(head.as_ref());
    let actor =
        serde_json::to_string(&e.actor).map_err(|err| codec::corrupt("actor", err.to_string()))?;
    exec(
        conn,
        "INSERT INTO audit_events (company_id, seq, id, actor, action, description, details, client_ip, at, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            key,
            int(e.seq),
            e.id.0,
            actor,
            e.action.as_str(),
            e.description,
            e.details.to_string(),
            e.client_ip,
            ts(e.at),
            e.prev_hash,
            e.hash
        ],
    )?;
    Ok(e)
}

/// Marks UTC dates pending for the usage job with a version never used
/// before (a date cleared and marked again must not get back the version a
/// running job read). Runs inside the caller's transaction, so a mark
/// commits with the data that caused it.
pub(crate) fn mark_usage(
    conn: &Connection,
    company: CompanyId,
    dates: impl IntoIterator<Item = NaiveDate>,
) -> R<()> {
    let mut dates = dates.into_iter().peekable();
    if dates.peek().is_none() {
        return Ok(());
    }
    let version: i64 = conn
        .prepare_cached("UPDATE usage_mark_seq SET last = last + 1 RETURNING last")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(db)?;
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO usage_pending (company_id, date, version) VALUES (?1, ?2, ?3)
             ON CONFLICT (company_id, date) DO UPDATE SET version = excluded.version",
        )
        .map_err(db)?;
    for date in dates {
        stmt.execute(params![company.0, date.to_string(), version])
            .map_err(db)?;
    }
    Ok(())
}

// Key lookups of one row each, shared by the single lookups and
// `token_context`.

pub(crate) fn token_row(c: &Connection, hash: &SecretHash) -> R<Option<TokenRecord>> {
    one(
        c,
        "SELECT * FROM tokens WHERE hash = ?1",
        params![hash.as_str()],
        codec::token,
    )
}

pub(crate) fn user_row(c: &Connection, company: Option<CompanyId>, id: UserId) -> R<Option<User>> {
    one(
        c,
        "SELECT * FROM user_rows WHERE company_id = ?1 AND id = ?2",
        params![company_key(company), id.0],
        codec::user,
    )
}

pub(crate) fn company_row(c: &Connection, id: CompanyId) -> R<Option<Company>> {
    one(
        c,
        "SELECT * FROM companies WHERE id = ?1",
        params![id.0],
        codec::company,
    )
}

pub(crate) fn policy_row(c: &Connection, company: CompanyId) -> R<Option<TrackingPolicy>> {
    one(
        c,
        "SELECT * FROM policies WHERE company_id = ?1",
        params![company.0],
        codec::policy,
    )
}

/// Active users of a company: the seats in use.
pub(crate) fn seats(conn: &Connection, company: CompanyId) -> R<u32> {
    let n = count(
        conn,
        "SELECT count(*) FROM users WHERE company_id = ?1 AND active = 1",
        params![company.0],
    )?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Bytes of the company's screenshots.
pub(crate) fn storage(conn: &Connection, company: CompanyId) -> R<u64> {
    let n = count(
        conn,
        "SELECT coalesce(sum(size_bytes), 0) FROM screenshots WHERE company_id = ?1",
        params![company.0],
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The users that have had activity events in a company, in id order,
/// each with its owner key (see [`crate::rollup`]).
pub(crate) fn owners(c: &Connection, company: CompanyId) -> R<Vec<(i64, UserId)>> {
    c.prepare_cached(
        "SELECT key, user_id FROM activity_owners WHERE company_id = ?1 ORDER BY user_id",
    )
    .and_then(|mut s| {
        s.query_map(params![company.0], |r| Ok((r.get(0)?, UserId(r.get(1)?))))?
            .collect()
    })
    .map_err(db)
}

/// [`owners`] without their keys.
pub(crate) fn event_users(c: &Connection, company: CompanyId) -> R<Vec<UserId>> {
    Ok(owners(c, company)?.into_iter().map(|(_, u)| u).collect())
}

/// The `company_id` key of a user's rows (the platform's for an owner).
pub(crate) fn user_company(u: &User) -> Uuid {
    company_key(u.company_id)
}

/// Whether another user of the same company (or another owner) has the
/// username.
pub(crate) fn username_taken(conn: &Connection, u: &User) -> R<bool> {
    Ok(count(
        conn,
        "SELECT count(*) FROM users WHERE company_id = ?1 AND username = ?2 AND id <> ?3",
        params![user_company(u), u.username, u.id.0],
    )? > 0)
}

/// Inserts or replaces a user.
pub(crate) fn write_user(conn: &Connection, u: &User) -> R<()> {
    exec(
        conn,
        // The last agent sync is the agent state's (migration 4).
        "INSERT INTO users (company_id, id, role, username, email, display_name, active, password_hash, created_at, privacy)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (company_id, id) DO UPDATE SET
           role = excluded.role, username = excluded.username, email = excluded.email,
           display_name = excluded.display_name, active = excluded.active,
           password_hash = excluded.password_hash, privacy = excluded.privacy",
        params![
            user_company(u),
            u.id.0,
            u.role.as_str(),
            u.username,
            u.email,
            u.display_name,
            u.active,
            u.password_hash,
            ts(u.created_at),
            tracker_core::rows::user_privacy(u).to_string()
        ],
    )?;
    Ok(())
}

/// Inserts or replaces a company's policy.
pub(crate) fn write_policy(conn: &Connection, p: &TrackingPolicy) -> R<()> {
    exec(
        conn,
        "INSERT INTO policies (company_id, screenshots_enabled, screenshot_interval_seconds, website_tracking_enabled,
           app_tracking_enabled, idle_threshold_seconds, blur_screenshots, version, updated_at,
           privacy, revision)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (company_id) DO UPDATE SET
           screenshots_enabled = excluded.screenshots_enabled,
           screenshot_interval_seconds = excluded.screenshot_interval_seconds,
           website_tracking_enabled = excluded.website_tracking_enabled,
           app_tracking_enabled = excluded.app_tracking_enabled,
           idle_threshold_seconds = excluded.idle_threshold_seconds,
           blur_screenshots = excluded.blur_screenshots,
           version = excluded.version, updated_at = excluded.updated_at,
           privacy = excluded.privacy, revision = excluded.revision",
        params![
            p.company_id.0,
            p.screenshots_enabled,
            p.screenshot_interval_seconds,
            p.website_tracking_enabled,
            p.app_tracking_enabled,
            p.idle_threshold_seconds,
            p.blur_screenshots,
            int(p.version),
            ts(p.updated_at),
            tracker_core::rows::policy_privacy(p).to_string(),
            int(p.revision())
        ],
    )?;
    Ok(())
}
