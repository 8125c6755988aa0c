//! Query plumbing every port uses: statement shortcuts over a connection,
//! the filtered and paged `SELECT` builder, and reads on the pool.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use tracker_core::paging::{Page, PageRequest, encode_time_id};
use tracker_core::store::TrackingFilter;
use tracker_core::{CompanyId, Error};
use uuid::Uuid;

use crate::PgStore;
use crate::codec::{R, bound_time, uuids};
use crate::error::{db, unique_violation};
use crate::scope::Scope;

/// A row decoder of [`codec`](crate::codec).
pub(crate) type Mapper<T> = fn(&PgRow) -> R<T>;
/// A statement with its bound values.
pub(crate) type Q = Query<'static, Postgres, PgArguments>;

pub(crate) fn q(sql: &'static str) -> Q {
    sqlx::query(sql)
}

pub(crate) fn decode_all<T>(rows: &[PgRow], map: Mapper<T>) -> R<Vec<T>> {
    rows.iter().map(map).collect()
}

pub(crate) async fn one<T>(conn: &mut PgConnection, query: Q, map: Mapper<T>) -> R<Option<T>> {
    let row = query.fetch_optional(conn).await.map_err(db)?;
    row.as_ref().map(map).transpose()
}

/// Runs a statement; the rows it changed.
pub(crate) async fn exec(conn: &mut PgConnection, query: Q) -> R<u64> {
    Ok(query.execute(conn).await.map_err(db)?.rows_affected())
}

pub(crate) async fn exists(conn: &mut PgConnection, query: Q) -> R<bool> {
    Ok(query.fetch_optional(conn).await.map_err(db)?.is_some())
}

pub(crate) async fn scalar_i64(conn: &mut PgConnection, query: Q) -> R<i64> {
    let row = query.fetch_one(conn).await.map_err(db)?;
    row.try_get(0).map_err(db)
}

pub(crate) async fn scalar_opt_i64(conn: &mut PgConnection, query: Q) -> R<Option<i64>> {
    match query.fetch_optional(conn).await.map_err(db)? {
        Some(row) => row.try_get(0).map(Some).map_err(db),
        None => Ok(None),
    }
}

/// Runs a statement, turning a violation of the named unique constraint
/// into `err` (a concurrent writer may pass a check made before it).
pub(crate) async fn exec_unique(
    conn: &mut PgConnection,
    query: Q,
    constraint: &str,
    err: impl FnOnce() -> Error,
) -> R<u64> {
    match query.execute(conn).await {
        Ok(done) => Ok(done.rows_affected()),
        Err(e) if unique_violation(&e).is_some_and(|c| c == constraint) => Err(err()),
        Err(e) => Err(db(e)),
    }
}

/// A `SELECT` under construction: conditions joined with `AND`, then
/// keyset paging.
pub(crate) struct Select {
    qb: QueryBuilder<Postgres>,
    filtered: bool,
    scope: Scope,
}

impl Select {
    /// Rows of one company: `{select} WHERE company_id = $1 …`.
    pub(crate) fn new(select: &str, company: Uuid) -> Self {
        let mut s = Self::all(select).and("company_id = ", company);
        s.scope = Scope::Company(company);
        s
    }

    /// Rows of every company (platform lists and sweeps).
    pub(crate) fn all(select: &str) -> Self {
        Self {
            qb: QueryBuilder::new(select),
            filtered: false,
            scope: Scope::Platform,
        }
    }

    /// Starts the next condition.
    fn cond(&mut self) -> &mut QueryBuilder<Postgres> {
        self.qb
            .push(if self.filtered { " AND " } else { " WHERE " });
        self.filtered = true;
        &mut self.qb
    }

    /// Appends the condition `{cond}{value}`.
    pub(crate) fn and<T>(mut self, cond: &str, value: T) -> Self
    where
        T: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        self.cond().push(cond).push_bind(value);
        self
    }

    pub(crate) fn and_opt<T>(self, cond: &str, value: Option<T>) -> Self
    where
        T: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        match value {
            Some(v) => self.and(cond, v),
            None => self,
        }
    }

    /// Appends `{col} = ANY(ids)` when a set is given.
    pub(crate) fn any<T: Copy + Into<Uuid>>(
        mut self,
        col: &str,
        ids: Option<&BTreeSet<T>>,
    ) -> Self {
        if let Some(set) = ids {
            self.cond()
                .push(format!("{col} = ANY("))
                .push_bind(uuids(set.iter().copied()))
                .push(")");
        }
        self
    }

    /// Keyset paging on (time column, id) and the limit.
    pub(crate) fn page_time(mut self, col: &str, page: &PageRequest) -> R<(Self, usize)> {
        let limit = page.limit()?;
        if let Some((at, id)) = page.after_time_id()? {
            self.cond()
                .push(format!("({col}, id) > ("))
                .push_bind(at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        self.qb
            .push(format!(" ORDER BY {col}, id LIMIT {}", limit + 1));
        Ok((self, limit))
    }

    /// Keyset paging on id and the limit.
    pub(crate) fn page_id(self, page: &PageRequest) -> R<(Self, usize)> {
        let limit = page.limit()?;
        let mut s = self.and_opt("id > ", page.after_id()?);
        s.qb.push(format!(" ORDER BY id LIMIT {}", limit + 1));
        Ok((s, limit))
    }

    /// Appends raw SQL (an `ORDER BY`, a `LIMIT`).
    pub(crate) fn tail(mut self, s: &str) -> Self {
        self.qb.push(s);
        self
    }

    pub(crate) async fn run<T>(mut self, store: &PgStore, map: Mapper<T>) -> R<Vec<T>> {
        let rows = if store.row_security {
            let mut conn = store.conn(self.scope).await?;
            self.qb.build().fetch_all(&mut *conn).await
        } else {
            self.qb.build().fetch_all(&store.pool).await
        };
        decode_all(&rows.map_err(db)?, map)
    }
}

/// A page of rows keyed by (time, id).
pub(crate) fn time_page<T>(
    rows: Vec<T>,
    limit: usize,
    key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
) -> Page<T> {
    Page::from_overfetch(rows, limit, |t| {
        let (at, id) = key(t);
        encode_time_id(at, id)
    })
}

/// The rows of a tracking table passing `filter`, by their time column.
fn tracking_select(table: &str, company: CompanyId, filter: &TrackingFilter, col: &str) -> Select {
    Select::new(&format!("SELECT * FROM {table}"), company.0)
        .any("user_id", filter.users.as_ref())
        .any("id", filter.ids.as_ref())
        .and_opt(&format!("{col} >= "), filter.from.map(bound_time))
        .and_opt(&format!("{col} < "), filter.to.map(bound_time))
}

/// Reads on the pool, outside any transaction, within a scope (see
/// [`Scope`]).
impl PgStore {
    pub(crate) async fn read_all<T>(&self, scope: Scope, query: Q, map: Mapper<T>) -> R<Vec<T>> {
        let rows = if self.row_security {
            query.fetch_all(&mut *self.conn(scope).await?).await
        } else {
            query.fetch_all(&self.pool).await
        };
        decode_all(&rows.map_err(db)?, map)
    }

    pub(crate) async fn read_one<T>(&self, scope: Scope, query: Q, map: Mapper<T>) -> R<Option<T>> {
        let row = if self.row_security {
            query.fetch_optional(&mut *self.conn(scope).await?).await
        } else {
            query.fetch_optional(&self.pool).await
        };
        row.map_err(db)?.as_ref().map(map).transpose()
    }

    /// One row of a tenant table by (company, id).
    pub(crate) async fn by_key<T>(
        &self,
        table: &'static str,
        company: CompanyId,
        id: Uuid,
        map: Mapper<T>,
    ) -> R<Option<T>> {
        let sql = format!("SELECT * FROM {table} WHERE company_id = $1 AND id = $2");
        self.read_one(
            Scope::of(company),
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(company.0)
                .bind(id),
            map,
        )
        .await
    }

    /// A page of a tracking list ordered by (time, id).
    pub(crate) async fn by_time<T>(
        &self,
        table: &str,
        col: &str,
        (company, filter, page): (CompanyId, &TrackingFilter, &PageRequest),
        map: Mapper<T>,
        key: fn(&T) -> (DateTime<Utc>, Uuid),
    ) -> R<Page<T>> {
        let (s, limit) = tracking_select(table, company, filter, col).page_time(col, page)?;
        Ok(time_page(s.run(self, map).await?, limit, key))
    }

    /// A connection of the pool working within `scope`, for statements
    /// outside a transaction.
    pub(crate) async fn conn(&self, scope: Scope) -> R<PoolConnection<Postgres>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        if self.row_security {
            scope.enter(&mut conn).await?;
        }
        Ok(conn)
    }
}
