//! [`TeamStore`]: teams of a company, with their managers and members.

use async_trait::async_trait;
use rusqlite::{Connection, params};
use tracker_core::audit::NewAuditEvent;
use tracker_core::error::{Error, Result};
use tracker_core::store::TeamStore;
use tracker_core::{CompanyId, Team, TeamId};

use crate::SqliteStore;
use crate::codec::{self, R, ids_json, ts};
use crate::rows::append;
use crate::sql::{count, exec};

fn write_team(conn: &Connection, t: &Team) -> R<()> {
    exec(
        conn,
        "INSERT INTO teams (company_id, id, name, managers, members, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (company_id, id) DO UPDATE SET name = excluded.name, managers = excluded.managers, members = excluded.members",
        params![
            t.company_id.0,
            t.id.0,
            t.name,
            ids_json(&t.managers),
            ids_json(&t.members),
            ts(t.created_at)
        ],
    )?;
    Ok(())
}

fn team_name_taken(conn: &Connection, t: &Team) -> R<bool> {
    Ok(count(
        conn,
        "SELECT count(*) FROM teams WHERE company_id = ?1 AND name = ?2 AND id <> ?3",
        params![t.company_id.0, t.name, t.id.0],
    )? > 0)
}

#[async_trait]
impl TeamStore for SqliteStore {
    async fn save_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()> {
        let team = team.clone();
        self.engine
            .write(move |c| {
                if team_name_taken(c, &team)? {
                    return Err(Error::AlreadyExists {
                        entity: "team",
                        value: team.name,
                    });
                }
                write_team(c, &team)?;
                append(c, audit).map(drop)
            })
            .await
    }

    async fn list_teams(&self, company: CompanyId) -> Result<Vec<Team>> {
        self.in_company(
            "SELECT * FROM teams WHERE company_id = ?1 ORDER BY name",
            company,
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
        self.engine
            .write(move |c| {
                let n = exec(
                    c,
                    "DELETE FROM teams WHERE company_id = ?1 AND id = ?2",
                    params![company.0, id.0],
                )?;
                if n == 0 {
                    return Err(Error::not_found("team"));
                }
                append(c, audit).map(drop)
            })
            .await
    }

    // Provided, overridden with one key lookup.

    async fn get_team(&self, company: CompanyId, id: TeamId) -> Result<Option<Team>> {
        self.by_key("teams", company, id.0, codec::team).await
    }
}
