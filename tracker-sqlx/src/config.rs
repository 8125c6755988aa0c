//! Settings of the store, the schema name rule, and the migrations.

use std::time::Duration;

use sqlx::migrate::Migrator;

use crate::error::PgError;

/// The migrations of this crate, as written in `migrations/`. Runs in the
/// current schema with sqlx's default history table; [`migrator`] places
/// both in a schema of their own, as the store does.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The migrations with their history table in `schema`, creating the schema
/// first if it is missing. Run it on connections whose `search_path` starts
/// with `schema` (as the store's own are), so the tables land there too.
pub fn migrator(schema: &str) -> Result<Migrator, PgError> {
    check_schema_name(schema)?;
    let mut m = Migrator::with_migrations(MIGRATOR.iter().cloned().collect());
    m.create_schema(schema.to_owned());
    m.dangerous_set_table_name(format!("\"{schema}\"._sqlx_migrations"));
    Ok(m)
}

/// Settings of the store and its connection pool.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// The schema holding every table of the store and its migration
    /// history: lowercase ASCII letters, digits and `_`, starting with a
    /// letter, at most 63 bytes. Default `tracker`.
    pub schema: String,
    /// Apply pending migrations on connect. Default true.
    pub run_migrations: bool,
    /// Most connections the pool opens. Default 16.
    pub max_connections: u32,
    /// Connections the pool keeps open when idle. Default 0.
    pub min_connections: u32,
    /// How long a call waits for a free connection before failing.
    /// Default 5 s.
    pub acquire_timeout: Duration,
    /// Idle connections are closed after this long. Default 10 min.
    pub idle_timeout: Option<Duration>,
    /// Connections are replaced after this long. Default 30 min.
    pub max_lifetime: Option<Duration>,
    /// The server cancels a statement running longer than this
    /// (`statement_timeout`). Default 30 s.
    pub statement_timeout: Option<Duration>,
    /// The server fails a statement waiting longer than this for a lock
    /// (`lock_timeout`). Default 10 s.
    pub lock_timeout: Option<Duration>,
    /// `application_name` shown in `pg_stat_activity`. Default `tracker`.
    pub application_name: String,
    /// Keep tokens' contexts in memory for at most this long, forgotten
    /// on every node as soon as a change of their rows is announced (see
    /// the crate docs, "Several nodes"); `None` reads every context from
    /// the database. Default 60 s.
    pub token_cache: Option<Duration>,
    /// Commit each heartbeat's WAL to disk before answering it. Off, a
    /// heartbeat is answered once committed but before its WAL is flushed
    /// (`synchronous_commit` off for heartbeats alone): a crash of the
    /// database server may lose the last few hundred milliseconds of
    /// heartbeats, which agents send again. Default true.
    pub durable_heartbeats: bool,
    /// Row-level security as a second wall (migration 8): the role every
    /// connection switches to (`SET ROLE`), which must neither own the
    /// tables nor bypass row security, and which the login user must be a
    /// member of. Its policies then admit only the rows of the company
    /// each call names; the store grants the role what it needs when it
    /// applies the migrations. One more round trip per read outside a
    /// transaction (BENCHMARKS.md measures it). Default `None`: the login
    /// user works as itself and the policies stay dormant.
    pub row_security_role: Option<String>,
}

impl Default for PgConfig {
    fn default() -> Self {
        Self {
            schema: "tracker".to_owned(),
            run_migrations: true,
            max_connections: 16,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            statement_timeout: Some(Duration::from_secs(30)),
            lock_timeout: Some(Duration::from_secs(10)),
            application_name: "tracker".to_owned(),
            token_cache: Some(Duration::from_secs(60)),
            durable_heartbeats: true,
            row_security_role: None,
        }
    }
}

/// The schema name is spliced into SQL (`search_path`, `DROP SCHEMA`), so
/// only plain lowercase identifiers pass.
pub(crate) fn check_schema_name(schema: &str) -> Result<(), PgError> {
    if plain_identifier(schema) {
        Ok(())
    } else {
        Err(PgError::InvalidSchema {
            schema: schema.to_owned(),
        })
    }
}

/// The role name is spliced into SQL (`SET ROLE`, `GRANT`) too.
pub(crate) fn check_role_name(role: &str) -> Result<(), PgError> {
    if plain_identifier(role) {
        Ok(())
    } else {
        Err(PgError::InvalidRole {
            role: role.to_owned(),
        })
    }
}

fn plain_identifier(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked() {
        for ok in ["tracker", "t", "tracker_2", &"a".repeat(63)] {
            assert!(check_schema_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Tracker",
            "1tracker",
            "_t",
            "tr-acker",
            "t\"; DROP",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(check_schema_name(bad), Err(PgError::InvalidSchema { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_migrator_keeps_its_history_in_the_schema() {
        let m = migrator("tenant_data").unwrap();
        assert_eq!(m.table_name, "\"tenant_data\"._sqlx_migrations");
        assert_eq!(m.create_schemas.as_ref(), ["tenant_data"]);
        assert_eq!(m.iter().count(), MIGRATOR.iter().count());
        assert!(migrator("Bad").is_err());
    }
}
