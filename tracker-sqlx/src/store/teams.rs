//! [`TeamStore`]: teams of a company, with their managers and members.

use async_trait::async_trait;
use sqlx::PgConnection;
use tracker_core::audit::NewAuditEvent;
use tracker_core::store::TeamStore;
use tracker_core::{CompanyId, Error, Result, Team, TeamId};

use crate::PgStore;
use crate::chain::append;
use crate::codec::{self, R, uuids};
use crate::scope::Scope;
use crate::sql::{exec, exec_unique, exists, q};

async fn name_taken(conn: &mut PgConnection, t: &Team) -> R<bool> {
    exists(
        conn,
        q("SELECT 1 FROM teams WHERE company_id = $1 AND name = $2 AND id <> $3")
            .bind(t.company_id.0)
            .bind(t.name.clone())
            .bind(t.id.0),
    )
    .await
}

fn name_in_use(t: &Team) -> Error {
    Error::AlreadyExists {
        entity: "team",
        value: t.name.clone(),
    }
}

/// Inserts or replaces a team; the unique index catches a name taken by a
/// concurrent writer after [`name_taken`] looked.
async fn write_team(conn: &mut PgConnection, t: &Team) -> R<()> {
    let query = q("INSERT INTO teams (company_id, id, name, managers, members, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (company_id, id) DO UPDATE SET name = excluded.name, managers = excluded.managers, members = excluded.members")
    .bind(t.company_id.0)
    .bind(t.id.0)
    .bind(t.name.clone())
    .bind(uuids(t.managers.iter().copied()))
    .bind(uuids(t.members.iter().copied()))
    .bind(t.created_at);
    exec_unique(conn, query, "teams_name_key", || name_in_use(t))
        .await
        .map(drop)
}

#[async_trait]
impl TeamStore for PgStore {
    async fn save_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()> {
        self.in_tx(Scope::of(team.company_id), async |tx| {
            if name_taken(tx, team).await? {
                return Err(name_in_use(team));
            }
            write_team(tx, team).await?;
            append(tx, audit).await?;
            Ok(())
        })
        .await
    }

    async fn list_teams(&self, company: CompanyId) -> Result<Vec<Team>> {
        self.read_all(
            Scope::of(company),
            q("SELECT * FROM teams WHERE company_id = $1 ORDER BY name COLLATE \"C\"")
                .bind(company.0),
            codec::team,
        )
        .await
    }

    async fn delete_team(
        &self,
        company: CompanyId,
        id: TeamId,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.in_tx(Scope::of(company), async |tx| {
            let deleted = exec(
                tx,
                q("DELETE FROM teams WHERE company_id = $1 AND id = $2")
                    .bind(company.0)
                    .bind(id.0),
            )
            .await?;
            if deleted == 0 {
                return Err(Error::not_found("team"));
            }
            append(tx, audit).await?;
            Ok(())
        })
        .await
    }

    async fn get_team(&self, company: CompanyId, id: TeamId) -> Result<Option<Team>> {
        self.by_key("teams", company, id.0, codec::team).await
    }
}
