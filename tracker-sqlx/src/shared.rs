//! Statements that more than one port runs inside its transaction: the
//! limit counts, usage marks, and the user and policy rows a new company
//! writes too.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use sqlx::PgConnection;
use tracker_core::{CompanyId, Error, TrackingPolicy, User};

use crate::codec::{R, bound_date, company_key, int, int32};
use crate::sql::{Q, exec, exec_unique, exists, q, scalar_i64};

/// Active users of a company: the seats in use.
pub(crate) async fn seats(conn: &mut PgConnection, company: CompanyId) -> R<u32> {
    let n = scalar_i64(
        conn,
        q("SELECT count(*) FROM users WHERE company_id = $1 AND active").bind(company.0),
    )
    .await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Bytes of screenshots a company stores.
pub(crate) async fn storage(conn: &mut PgConnection, company: CompanyId) -> R<u64> {
    let n = scalar_i64(
        conn,
        q("SELECT coalesce(sum(size_bytes), 0)::bigint FROM screenshots WHERE company_id = $1")
            .bind(company.0),
    )
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Marks UTC dates of a company as pending for the usage job, bumping the
/// version of a date marked already.
pub(crate) async fn mark_days(
    conn: &mut PgConnection,
    company: CompanyId,
    dates: impl IntoIterator<Item = NaiveDate>,
) -> R<()> {
    // Sorted and distinct: an upsert cannot touch one row twice, and
    // concurrent markers lock the company's dates in one order, so they
    // never deadlock.
    let dates: Vec<NaiveDate> = dates
        .into_iter()
        .map(bound_date)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if dates.is_empty() {
        return Ok(());
    }
    exec(
        conn,
        q("INSERT INTO usage_pending (company_id, date, version)
           SELECT $1, d, nextval('usage_mark_seq') FROM UNNEST($2::date[]) AS d ORDER BY d
           ON CONFLICT (company_id, date) DO UPDATE SET version = excluded.version")
        .bind(company.0)
        .bind(dates),
    )
    .await
    .map(drop)
}

pub(crate) async fn company_exists(conn: &mut PgConnection, company: CompanyId) -> R<bool> {
    exists(
        conn,
        q("SELECT 1 FROM companies WHERE id = $1").bind(company.0),
    )
    .await
}

/// Whether another user of the same company (or another owner) has the
/// username.
pub(crate) async fn username_taken(conn: &mut PgConnection, u: &User) -> R<bool> {
    exists(
        conn,
        q("SELECT 1 FROM users WHERE company_id = $1 AND username = $2 AND id <> $3")
            .bind(company_key(u.company_id))
            .bind(u.username.clone())
            .bind(u.id.0),
    )
    .await
}

/// Inserts or replaces a user; `last_agent_sync_at` is only written on
/// insert, since heartbeats own it.
pub(crate) async fn write_user(conn: &mut PgConnection, u: &User) -> R<()> {
    let query = q("INSERT INTO users (company_id, id, role, username, email, display_name, active, last_agent_sync_at, password_hash, created_at, privacy)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (company_id, id) DO UPDATE SET
           role = excluded.role, username = excluded.username, email = excluded.email,
           display_name = excluded.display_name, active = excluded.active,
           password_hash = excluded.password_hash, privacy = excluded.privacy")
    .bind(company_key(u.company_id))
    .bind(u.id.0)
    .bind(u.role.as_str())
    .bind(u.username.clone())
    .bind(u.email.clone())
    .bind(u.display_name.clone())
    .bind(u.active)
    .bind(u.last_agent_sync_at)
    .bind(u.password_hash.clone())
    .bind(u.created_at)
    .bind(tracker_core::rows::user_privacy(u));
    let username = u.username.clone();
    exec_unique(conn, query, "users_username_key", || Error::UsernameTaken {
        username,
    })
    .await
    .map(drop)
}

/// A policy statement with the policy's columns bound as `$1`…`$11`
/// (`$10` the `privacy` document, `$11` the revision).
pub(crate) fn policy_query(sql: &'static str, p: &TrackingPolicy) -> Q {
    q(sql)
        .bind(p.company_id.0)
        .bind(p.screenshots_enabled)
        .bind(int32(p.screenshot_interval_seconds))
        .bind(p.website_tracking_enabled)
        .bind(p.app_tracking_enabled)
        .bind(int32(p.idle_threshold_seconds))
        .bind(p.blur_screenshots)
        .bind(int(p.version))
        .bind(p.updated_at)
        .bind(tracker_core::rows::policy_privacy(p))
        .bind(int(p.revision()))
}
