//! [`PgStore`]: the pool, connecting and migrating, closing.

use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::config::{PgConfig, check_role_name, check_schema_name, migrator};
use crate::contexts::ContextCache;
use crate::error::PgError;
use crate::zones::ZoneCache;

/// Every storage port of `tracker-core` on PostgreSQL. Cheap to share
/// behind an `Arc`; the pool inside is shared by every call.
pub struct PgStore {
    pub(crate) pool: PgPool,
    schema: String,
    /// Company timezones for cutting rollup days (see [`ZoneCache`]).
    pub(crate) zones: ZoneCache,
    /// Whether connections work as the row security role, so each call
    /// names its [`Scope`](crate::scope::Scope).
    pub(crate) row_security: bool,
    /// The queue of the heartbeat writer.
    pub(crate) beats: crate::beats::Heartbeats,
    /// Tokens' contexts, and the task that listens for their changes.
    pub(crate) contexts: Option<(Arc<ContextCache>, tokio::task::AbortHandle)>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some((_, listener)) = &self.contexts {
            listener.abort();
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (a `postgres://` URL) with
    /// `config`, and applies pending migrations unless told not to.
    pub async fn connect(url: &str, config: PgConfig) -> Result<Self, PgError> {
        let options: PgConnectOptions = url.parse().map_err(PgError::Connect)?;
        Self::connect_with(options, config).await
    }

    /// Like [`connect`](Self::connect), with connection options built by the
    /// caller (TLS files, a socket, a password from a secret store…).
    pub async fn connect_with(
        options: PgConnectOptions,
        config: PgConfig,
    ) -> Result<Self, PgError> {
        check_schema_name(&config.schema)?;
        let mut settings = vec![("search_path", format!("\"{}\"", config.schema))];
        if let Some(t) = config.statement_timeout {
            settings.push(("statement_timeout", t.as_millis().to_string()));
        }
        if let Some(t) = config.lock_timeout {
            settings.push(("lock_timeout", t.as_millis().to_string()));
        }
        let options = options
            .application_name(&config.application_name)
            .options(settings);
        let mut pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .acquire_timeout(config.acquire_timeout)
            .idle_timeout(config.idle_timeout)
            .max_lifetime(config.max_lifetime);
        if let Some(role) = &config.row_security_role {
            check_role_name(role)?;
            // Migrations and grants as the login user, before any
            // connection becomes the role.
            let mut owner = PgConnection::connect_with(&options)
                .await
                .map_err(PgError::Connect)?;
            if config.run_migrations {
                migrator(&config.schema)?
                    .run(&mut owner)
                    .await
                    .map_err(PgError::Migrate)?;
                grant(&mut owner, &config.schema, role).await?;
            }
            check_role(&mut owner, &config.schema, role).await?;
            let _ = owner.close().await;
            let set_role = format!("SET ROLE \"{role}\"");
            pool = pool.after_connect(move |conn, _| {
                let sql = AssertSqlSafe(set_role.clone());
                Box::pin(async move { sqlx::raw_sql(sql).execute(conn).await.map(drop) })
            });
        }
        let pool = pool.connect_with(options).await.map_err(PgError::Connect)?;
        if config.run_migrations && config.row_security_role.is_none() {
            migrator(&config.schema)?
                .run(&pool)
                .await
                .map_err(PgError::Migrate)?;
        }
        let contexts = config
            .token_cache
            .map(|ttl| crate::contexts::spawn(&pool, &config.schema, ttl));
        if let Some((cache, _)) = &contexts {
            // Listening before the first request, so that the store caches
            // from the start; a listener that takes longer catches up.
            cache.until_live(config.acquire_timeout).await;
        }
        let row_security = config.row_security_role.is_some();
        Ok(Self {
            beats: crate::beats::Heartbeats::spawn(
                pool.clone(),
                config.durable_heartbeats,
                row_security,
            ),
            row_security,
            pool,
            schema: config.schema,
            zones: ZoneCache::default(),
            contexts,
        })
    }

    /// The connection pool (every connection has the store's schema first
    /// on its `search_path`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema holding the store's tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Whether the database answers (for readiness probes).
    pub async fn ping(&self) -> Result<(), PgError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(PgError::Database)
    }

    /// Drops the store's schema with every table in it, then closes the
    /// pool. Irreversible: for tests and teardown scripts.
    pub async fn drop_schema(&self) -> Result<(), PgError> {
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .map_err(PgError::Database)?;
        self.close().await;
        Ok(())
    }

    /// Closes every connection, waiting for calls in flight.
    pub async fn close(&self) {
        if let Some((_, listener)) = &self.contexts {
            listener.abort();
        }
        self.beats.stop();
        self.pool.close().await;
    }

    /// The token context cache, when it is on.
    pub(crate) fn contexts(&self) -> Option<&ContextCache> {
        self.contexts.as_ref().map(|(cache, _)| cache.as_ref())
    }

    /// Passes on the outcome of a write to the rows of `company`'s
    /// contexts, having forgotten them on this node (whatever the outcome:
    /// a commit whose answer was lost may have happened). Other nodes
    /// hear of it from the triggers.
    pub(crate) fn forgetting<T>(
        &self,
        company: Option<tracker_core::CompanyId>,
        outcome: tracker_core::Result<T>,
    ) -> tracker_core::Result<T> {
        if let Some(cache) = self.contexts() {
            cache.forget_company(company);
        }
        outcome
    }
}

/// What the row security role may do in the schema: read and write the
/// tables (the policies and the audit triggers still apply) and draw from
/// the sequences. Idempotent.
async fn grant(owner: &mut PgConnection, schema: &str, role: &str) -> Result<(), PgError> {
    let sql = format!(
        "GRANT USAGE ON SCHEMA \"{schema}\" TO \"{role}\";
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"{schema}\" TO \"{role}\";
         GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA \"{schema}\" TO \"{role}\";"
    );
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(owner)
        .await
        .map(drop)
        .map_err(PgError::Database)
}

/// Refuses a row security role the policies would not hold, or one the
/// login user cannot become, with what to do about it: a misnamed role
/// must not leave a deployment believing it has a wall it has not.
async fn check_role(owner: &mut PgConnection, schema: &str, role: &str) -> Result<(), PgError> {
    let refuse = |reason: String| PgError::RowSecurity {
        role: role.to_owned(),
        reason,
    };
    let found: Option<(bool, bool, bool, bool)> = sqlx::query_as(
        "SELECT r.rolsuper, r.rolbypassrls, pg_has_role(current_user, r.oid, 'USAGE'),
                EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = $2 AND t.tableowner = r.rolname)
         FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(role)
    .bind(schema)
    .fetch_optional(&mut *owner)
    .await
    .map_err(PgError::Database)?;
    let Some((superuser, bypass, member, owns)) = found else {
        return Err(refuse(format!(
            "no such role: create it and let the login user become it \
             (CREATE ROLE {role} NOLOGIN; GRANT {role} TO current_user)"
        )));
    };
    if superuser || bypass || owns {
        return Err(refuse(
            "it passes row-level security (a superuser, BYPASSRLS, or the tables' owner): \
             name a role that owns nothing"
                .to_owned(),
        ));
    }
    if !member {
        return Err(refuse(format!(
            "the login user cannot become it: GRANT {role} TO the login user"
        )));
    }
    Ok(())
}
