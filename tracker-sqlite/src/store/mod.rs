//! The storage ports on SQLite: one module per trait of
//! `tracker_core::store`, named as there.
//!
//! | Module | Port |
//! |---|---|
//! | `tenants` | `TenantStore`: plans, companies, subscriptions |
//! | `users` | `UserStore` |
//! | `teams` | `TeamStore` |
//! | `agents` | `AgentStore`: tokens and their context, heartbeats, agent states |
//! | `policy` | `PolicyStore` |
//! | `audit` | `AuditStore` |
//! | `tracking` | `TrackingStore`: sessions, activity, screenshots, rollups |
//! | `retention` | `RetentionStore`: the purge steps |
//! | `usage` | `UsageStore` |
//! | `tasks` | `TaskStore` and `CorrectionStore` |
//! | `alerts` | `AlertStore` |
//! | `access` | `AccessLogStore`: who read whose data |
//!
//! Each method picks how it runs on the [engine](crate::engine): a key
//! lookup with `point`, a scan with `read`, a write with `write` (or
//! `write_tracking` / `write_heavy` for writes of tracking rows only). The
//! SQL they share lives below them, in [`crate::sql`] and [`crate::rows`],
//! and the few helpers of this module read with the engine; none of those
//! imports a port module. Provided methods of the ports that have a faster
//! query here (a key lookup instead of a page of a list) are overridden.

use chrono::{DateTime, Utc};
use rusqlite::params;
use tracker_core::CompanyId;
use tracker_core::error::Result;
use tracker_core::paging::{Page, PageRequest};
use tracker_core::store::TrackingFilter;
use uuid::Uuid;

use crate::SqliteStore;
use crate::codec::ts;
use crate::sql::{Mapper, Query, all, one, time_page};

mod access;
mod agents;
mod alerts;
mod audit;
mod policy;
mod retention;
mod tasks;
mod teams;
mod tenants;
mod tracking;
mod usage;
mod users;

/// A (time, id) paged list of one tracking table.
struct TimeList {
    table: &'static str,
    col: &'static str,
    company: CompanyId,
    filter: TrackingFilter,
    page: PageRequest,
}

/// The rows of one company that pass a tracking filter, by `col` (the
/// table's time column).
fn tracking_query(select: &str, company: CompanyId, filter: &TrackingFilter, col: &str) -> Query {
    Query::new(select, company)
        .in_set("user_id", filter.users.as_ref())
        .in_set("id", filter.ids.as_ref())
        .and_opt(&format!("{col} >= ?"), filter.from.map(ts))
        .and_opt(&format!("{col} < ?"), filter.to.map(ts))
}

impl SqliteStore {
    /// Every row a query over one company returns (`?1` is the company).
    async fn in_company<T: Send + 'static>(
        &self,
        sql: &'static str,
        company: CompanyId,
        map: Mapper<T>,
    ) -> Result<Vec<T>> {
        self.engine
            .read(move |c| all(c, sql, params![company.0], map))
            .await
    }

    /// One row of a tenant table by (company, id).
    async fn by_key<T: Send + 'static>(
        &self,
        table: &'static str,
        company: CompanyId,
        id: Uuid,
        map: Mapper<T>,
    ) -> Result<Option<T>> {
        self.engine
            .read(move |c| {
                let sql = format!("SELECT * FROM {table} WHERE company_id = ?1 AND id = ?2");
                one(c, &sql, params![company.0, id], map)
            })
            .await
    }

    /// A page of a tracking list ordered by (time, id).
    async fn by_time<T: Send + 'static>(
        &self,
        list: TimeList,
        map: Mapper<T>,
        key: fn(&T) -> (DateTime<Utc>, Uuid),
    ) -> Result<Page<T>> {
        self.engine
            .read(move |c| {
                let select = format!("SELECT * FROM {}", list.table);
                let (q, limit) = tracking_query(&select, list.company, &list.filter, list.col)
                    .page_time(list.col, &list.page)?;
                Ok(time_page(q.run(c, map)?, limit, key))
            })
            .await
    }
}
