//! Teams: a MANAGER sees the people of the teams it manages.

use async_trait::async_trait;

use crate::audit::NewAuditEvent;
use crate::error::Result;
use crate::identity::Team;
use crate::ids::{CompanyId, TeamId};

/// Teams of a company, with their managers and members.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait TeamStore: Send + Sync + 'static {
    /// Stores a team with its audit event, in one transaction: a team
    /// whose id its company has not stored is inserted, a stored one is
    /// replaced. MUST fail with `AlreadyExists` if another team of the
    /// company has the name, and MUST NOT change a team of another
    /// company.
    async fn save_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()>;
    /// Teams of a company ordered by name.
    async fn list_teams(&self, company: CompanyId) -> Result<Vec<Team>>;
    /// Deletes a team. MUST fail with `NotFound` if it is not of the company.
    async fn delete_team(&self, company: CompanyId, id: TeamId, audit: NewAuditEvent)
    -> Result<()>;

    /// A team of a company. Provided over [`list_teams`](Self::list_teams).
    async fn get_team(&self, company: CompanyId, id: TeamId) -> Result<Option<Team>> {
        Ok(self
            .list_teams(company)
            .await?
            .into_iter()
            .find(|t| t.id == id))
    }
}
