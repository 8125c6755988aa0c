//! Tasks and time corrections.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::collect_pages;
use crate::audit::NewAuditEvent;
use crate::error::Result;
use crate::ids::{CompanyId, CorrectionId, TaskId, UserId};
use crate::paging::{Page, PageRequest};
use crate::work::{CorrectionRequest, CorrectionStatus, Task, TaskStatus};

/// Filter of task lists. Every field narrows the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only these tasks.
    pub ids: Option<BTreeSet<TaskId>>,
    /// Only tasks assigned to these users.
    pub assignees: Option<BTreeSet<UserId>>,
    /// Only tasks in this status.
    pub status: Option<TaskStatus>,
}

impl TaskFilter {
    /// Whether `task` passes the filter.
    pub fn matches(&self, task: &Task) -> bool {
        self.ids.as_ref().is_none_or(|ids| ids.contains(&task.id))
            && self
                .assignees
                .as_ref()
                .is_none_or(|a| a.contains(&task.assignee_id))
            && self.status.is_none_or(|s| task.status == s)
    }
}

/// Filter of correction lists. Every field narrows the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorrectionFilter {
    /// Only these requests.
    pub ids: Option<BTreeSet<CorrectionId>>,
    /// Only requests of these users.
    pub users: Option<BTreeSet<UserId>>,
    /// Only requests in this status.
    pub status: Option<CorrectionStatus>,
}

impl CorrectionFilter {
    /// Whether `correction` passes the filter.
    pub fn matches(&self, correction: &CorrectionRequest) -> bool {
        self.ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&correction.id))
            && self
                .users
                .as_ref()
                .is_none_or(|u| u.contains(&correction.user_id))
            && self.status.is_none_or(|s| correction.status == s)
    }
}

/// Tasks that ADMINs and MANAGERs assign and employees complete.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
    /// Stores a task with its audit event, in one transaction: a task
    /// whose id its company has not stored is inserted, a stored one is
    /// replaced. MUST fail with `InvalidState`, writing nothing (not the
    /// event either), if the stored task is DONE: a completion happens once
    /// however many callers race.
    async fn save_task(&self, task: &Task, audit: NewAuditEvent) -> Result<()>;
    /// Tasks passing `filter`, ordered by id.
    async fn list_tasks(
        &self,
        company: CompanyId,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> Result<Page<Task>>;

    /// A task of a company. Provided over [`list_tasks`](Self::list_tasks).
    async fn get_task(&self, company: CompanyId, id: TaskId) -> Result<Option<Task>> {
        let filter = TaskFilter {
            ids: Some(BTreeSet::from([id])),
            ..TaskFilter::default()
        };
        let page = self
            .list_tasks(company, &filter, &PageRequest::first(1))
            .await?;
        Ok(page.items.into_iter().next())
    }
}

/// Requests to correct recorded time, and their decisions.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait CorrectionStore: Send + Sync + 'static {
    /// Stores a correction with its audit event, in one transaction: a
    /// pending correction whose id its company has not stored is inserted
    /// (a request); a stored pending one is replaced (its decision), and
    /// for an approval the UTC dates its span covers are marked as pending
    /// usage ([`utc_dates`](super::utc_dates)). MUST fail with
    /// `InvalidState`, writing nothing, if the stored one is no longer
    /// pending (a decision happens once however many callers race), and
    /// with `NotFound` for a decision on a correction its company has not
    /// stored.
    async fn save_correction(
        &self,
        correction: &CorrectionRequest,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Corrections passing `filter`, ordered by id.
    async fn list_corrections(
        &self,
        company: CompanyId,
        filter: &CorrectionFilter,
        page: &PageRequest,
    ) -> Result<Page<CorrectionRequest>>;

    /// A correction of a company. Provided over
    /// [`list_corrections`](Self::list_corrections).
    async fn get_correction(
        &self,
        company: CompanyId,
        id: CorrectionId,
    ) -> Result<Option<CorrectionRequest>> {
        let filter = CorrectionFilter {
            ids: Some(BTreeSet::from([id])),
            ..CorrectionFilter::default()
        };
        let page = self
            .list_corrections(company, &filter, &PageRequest::first(1))
            .await?;
        Ok(page.items.into_iter().next())
    }
    /// Approved corrections of the users overlapping `[from, to)`, ordered
    /// by id. Provided over [`list_corrections`](Self::list_corrections).
    async fn approved_corrections<'a>(
        &self,
        company: CompanyId,
        users: Option<&'a BTreeSet<UserId>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CorrectionRequest>> {
        let filter = &CorrectionFilter {
            users: users.cloned(),
            status: Some(CorrectionStatus::Approved),
            ..CorrectionFilter::default()
        };
        let mut approved =
            collect_pages(
                |page| async move { self.list_corrections(company, filter, &page).await },
            )
            .await?;
        approved.retain(|c| c.starts_at < to && c.ends_at > from);
        Ok(approved)
    }
}
