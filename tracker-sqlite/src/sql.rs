//! Statement helpers: run a cached statement, map its rows, build a
//! filtered and paged `SELECT`. Everything here takes a [`Connection`] and
//! knows no table; the row helpers ([`crate::rows`]) and the ports
//! ([`crate::store`]) are written on top.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rusqlite::types::ToSql;
use rusqlite::{Connection, Row};
use tracker_core::CompanyId;
use tracker_core::paging::{Page, PageRequest, encode_time_id};
use uuid::Uuid;

use crate::codec::{R, id_array, ts};
use crate::error::db;

/// Reads one row into a value.
pub(crate) type Mapper<T> = fn(&Row<'_>) -> R<T>;

/// Every row of a query.
pub(crate) fn all<T>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    map: Mapper<T>,
) -> R<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let mut rows = stmt.query(params).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// The first row of a query, if any.
pub(crate) fn one<T>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    map: Mapper<T>,
) -> R<Option<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let mut rows = stmt.query(params).map_err(db)?;
    match rows.next().map_err(db)? {
        Some(row) => map(row).map(Some),
        None => Ok(None),
    }
}

/// Runs a statement; the rows it changed.
pub(crate) fn exec(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> R<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(db)
}

/// The integer of a one-row, one-column query (`count(*)`, `sum`, `EXISTS`).
pub(crate) fn count(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> R<i64> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_row(params, |r| r.get(0)))
        .map_err(db)
}

/// Runs `f` in one read transaction, so that its queries see one snapshot
/// and the connection takes its WAL read lock once.
pub(crate) fn read_together<T>(c: &Connection, f: impl FnOnce(&Connection) -> R<T>) -> R<T> {
    // A savepoint, not BEGIN: in memory this runs inside the writer's
    // transaction, where a savepoint nests.
    c.prepare_cached("SAVEPOINT read_together")
        .and_then(|mut s| s.execute([]))
        .map_err(db)?;
    let out = f(c);
    // Ends the transaction whatever `f` did: the connection goes back to
    // its pool after this.
    let end = c
        .prepare_cached("RELEASE read_together")
        .and_then(|mut s| s.execute([]));
    let out = out?;
    end.map_err(db)?;
    Ok(out)
}

/// A `SELECT` with its WHERE clause under construction and its parameters.
pub(crate) struct Query {
    sql: String,
    params: Vec<Box<dyn ToSql>>,
    /// Whether the WHERE keyword is written: later conditions take AND.
    filtered: bool,
}

impl Query {
    /// Rows of one company of a tenant table.
    pub(crate) fn new(select: &str, company: CompanyId) -> Self {
        Self::scoped(select, company.0)
    }

    /// Rows whose `company_id` is `key` (a company, or the platform's
    /// key for owners and the platform's audit chain).
    pub(crate) fn scoped(select: &str, key: Uuid) -> Self {
        Self {
            sql: format!("{select} WHERE company_id = ?1"),
            params: vec![Box::new(key)],
            filtered: true,
        }
    }

    /// Rows of every company (lists across tenants: companies, the jobs'
    /// views).
    pub(crate) fn unscoped(select: &str) -> Self {
        Self {
            sql: select.to_owned(),
            params: Vec::new(),
            filtered: false,
        }
    }

    /// Adds a condition with one `?` placeholder.
    pub(crate) fn and(self, cond: &str, value: impl ToSql + 'static) -> Self {
        self.and_all(cond, vec![Box::new(value)])
    }

    /// Appends the condition, numbering its `?` placeholders after the
    /// existing parameters, one value per placeholder in order.
    pub(crate) fn and_all(mut self, cond: &str, values: Vec<Box<dyn ToSql>>) -> Self {
        let mut values = values.into_iter();
        self.sql
            .push_str(if self.filtered { " AND " } else { " WHERE " });
        self.filtered = true;
        for ch in cond.chars() {
            if ch == '?'
                && let Some(v) = values.next()
            {
                self.params.push(v);
                self.sql.push_str(&format!("?{}", self.params.len()));
            } else {
                self.sql.push(ch);
            }
        }
        self
    }

    /// [`Query::and`] if there is a value.
    pub(crate) fn and_opt<V: ToSql + 'static>(self, cond: &str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.and(cond, v),
            None => self,
        }
    }

    /// `col IN (…)` if there is a set: ids passed as one array parameter.
    pub(crate) fn in_set<T: Copy + Into<Uuid>>(self, col: &str, set: Option<&BTreeSet<T>>) -> Self {
        match set {
            Some(set) => self.and(
                &format!("{col} IN rarray(?)"),
                id_array(set.iter().copied()),
            ),
            None => self,
        }
    }

    /// Keyset paging on (time column, id) and the limit.
    pub(crate) fn page_time(self, col: &str, page: &PageRequest) -> R<(Self, usize)> {
        let limit = page.limit()?;
        let q = match page.after_time_id()? {
            Some((at, id)) => self.and_all(
                &format!("({col}, id) > (?, ?)"),
                vec![Box::new(ts(at)), Box::new(id)],
            ),
            None => self,
        };
        Ok((
            q.tail(&format!(" ORDER BY {col}, id LIMIT {}", limit + 1)),
            limit,
        ))
    }

    /// Keyset paging on id and the limit.
    pub(crate) fn page_id(self, page: &PageRequest) -> R<(Self, usize)> {
        let limit = page.limit()?;
        let q = self.and_opt("id > ?", page.after_id()?);
        Ok((q.tail(&format!(" ORDER BY id LIMIT {}", limit + 1)), limit))
    }

    /// Appends SQL after the conditions (ORDER BY, LIMIT).
    pub(crate) fn tail(mut self, s: &str) -> Self {
        self.sql.push_str(s);
        self
    }

    /// Every row of the query.
    pub(crate) fn run<T>(&self, conn: &Connection, map: Mapper<T>) -> R<Vec<T>> {
        let params: Vec<&dyn ToSql> = self
            .params
            .iter()
            .map(|b| b.as_ref() as &dyn ToSql)
            .collect();
        all(conn, &self.sql, &params, map)
    }
}

/// A page of rows over-fetched by one, keyed by (time, id).
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
