//! [`Scope`]: whose rows a call works on, for the row-level security of
//! migration 8.
//!
//! With [`PgConfig::row_security_role`](crate::PgConfig::row_security_role)
//! set, connections work as that role, which the tables' policies bind:
//! before each call the store names the company in the setting
//! `tracker.scope` (in the `BEGIN` of a transaction, or one statement
//! before a read), and a query, however written, sees and writes only that
//! company's rows. The few platform operations that read across companies
//! (company lists, token and key lookups by digest, the heartbeat writer,
//! the jobs' sweeps) say so with [`Scope::Platform`]. Without the role the
//! setting is never made and costs nothing.

use sqlx::{AssertSqlSafe, PgConnection};
use tracker_core::CompanyId;
use uuid::Uuid;

use crate::codec::{R, company_key};
use crate::error::db;

/// Whose rows a call works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// One company's rows (the all-zero id: the platform's own rows, its
    /// OWNER accounts and audit chain).
    Company(Uuid),
    /// Every company's rows.
    Platform,
}

impl Scope {
    /// One company's rows.
    pub(crate) fn of(company: CompanyId) -> Self {
        Self::Company(company.0)
    }

    /// A company's rows, or the platform's own for `None`.
    pub(crate) fn of_opt(company: Option<CompanyId>) -> Self {
        Self::Company(company_key(company))
    }

    /// The one company of `companies`, or every company's rows when they
    /// are several (a job's rows of many companies in one statement).
    pub(crate) fn of_all(mut companies: impl Iterator<Item = CompanyId>) -> Self {
        let Some(first) = companies.next() else {
            return Self::Platform;
        };
        if companies.all(|c| c == first) {
            Self::of(first)
        } else {
            Self::Platform
        }
    }

    /// The setting's value: a UUID's text or `platform`, never anything a
    /// client wrote, so it may be spliced into SQL.
    fn value(self) -> String {
        match self {
            Self::Company(id) => id.to_string(),
            Self::Platform => "platform".to_owned(),
        }
    }

    /// `BEGIN`, and the scope for the transaction.
    pub(crate) fn begin(self) -> AssertSqlSafe<String> {
        AssertSqlSafe(format!(
            "BEGIN; SELECT set_config('tracker.scope', '{}', true)",
            self.value()
        ))
    }

    /// Works within the scope on `conn` until the next call names another.
    pub(crate) async fn enter(self, conn: &mut PgConnection) -> R<()> {
        sqlx::query("SELECT set_config('tracker.scope', $1, false)")
            .bind(self.value())
            .execute(conn)
            .await
            .map(drop)
            .map_err(db)
    }
}
