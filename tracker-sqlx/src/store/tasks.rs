//! [`TaskStore`] and [`CorrectionStore`]: tasks, and requests to correct
//! recorded time with their decisions.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracker_core::audit::NewAuditEvent;
use tracker_core::paging::{Page, PageRequest};
use tracker_core::rows::Columns;
use tracker_core::store::{CorrectionFilter, CorrectionStore, TaskFilter, TaskStore, utc_dates};
use tracker_core::{
    CompanyId, CorrectionId, CorrectionRequest, CorrectionStatus, Error, Result, Task, TaskId,
    TaskStatus, UserId,
};

use crate::PgStore;
use crate::chain::append;
use crate::codec::{self, bound_time};
use crate::scope::Scope;
use crate::shared::mark_days;
use crate::sql::{Q, Select, exec, one, q};

/// A task statement with the task's columns bound as `$1`…`$11`.
fn task_query(sql: &'static str, t: &Task) -> Q {
    q(sql)
        .bind(t.company_id.0)
        .bind(t.id.0)
        .bind(t.title.clone())
        .bind(t.description.clone())
        .bind(t.assignee_id.0)
        .bind(t.created_by.0)
        .bind(t.status.as_str())
        .bind(t.due_on)
        .bind(t.completion_note.clone())
        .bind(t.completed_at)
        .bind(t.created_at)
}

#[async_trait]
impl TaskStore for PgStore {
    async fn save_task(&self, task: &Task, audit: NewAuditEvent) -> Result<()> {
        self.in_tx(Scope::of(task.company_id), async |tx| {
            // A done task is final: the update applies only to an open one,
            // so of completions racing each other one applies.
            let saved = exec(
                tx,
                task_query(
                    "INSERT INTO tasks (company_id, id, title, description, assignee_id, created_by, status, due_on,
                       completion_note, completed_at, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (company_id, id) DO UPDATE SET title = $3, description = $4, assignee_id = $5,
                       created_by = $6, status = $7, due_on = $8, completion_note = $9, completed_at = $10,
                       created_at = $11
                     WHERE tasks.status <> $12",
                    task,
                )
                .bind(TaskStatus::Done.as_str()),
            )
            .await?;
            if saved == 0 {
                return Err(Error::invalid_state("the task is already done"));
            }
            append(tx, audit).await.map(drop)
        })
        .await
    }

    async fn list_tasks(
        &self,
        company: CompanyId,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> Result<Page<Task>> {
        let (s, limit) = Select::new("SELECT * FROM tasks", company.0)
            .any("id", filter.ids.as_ref())
            .any("assignee_id", filter.assignees.as_ref())
            .and_opt("status = ", filter.status.map(|s| s.as_str()))
            .page_id(page)?;
        Ok(Page::from_overfetch(
            s.run(self, codec::task).await?,
            limit,
            |t| t.id.to_string(),
        ))
    }

    async fn get_task(&self, company: CompanyId, id: TaskId) -> Result<Option<Task>> {
        self.by_key("tasks", company, id.0, codec::task).await
    }
}

#[async_trait]
impl CorrectionStore for PgStore {
    async fn list_corrections(
        &self,
        company: CompanyId,
        filter: &CorrectionFilter,
        page: &PageRequest,
    ) -> Result<Page<CorrectionRequest>> {
        let (s, limit) = Select::new("SELECT * FROM corrections", company.0)
            .any("id", filter.ids.as_ref())
            .any("user_id", filter.users.as_ref())
            .and_opt("status = ", filter.status.map(|s| s.as_str()))
            .page_id(page)?;
        Ok(Page::from_overfetch(
            s.run(self, codec::correction).await?,
            limit,
            |r| r.id.to_string(),
        ))
    }

    async fn save_correction(
        &self,
        correction: &CorrectionRequest,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let r = correction;
        self.in_tx(Scope::of(r.company_id), async |tx| {
            // Compare and set: a request is inserted, or replaces a pending
            // one; a decision is written only over a pending request.
            let written = if r.status == CorrectionStatus::Pending {
                exec(
                    tx,
                    q("INSERT INTO corrections (company_id, id, user_id, starts_at, ends_at, reason, status, decided_by,
                         decided_at, decision_note, created_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                       ON CONFLICT (company_id, id) DO UPDATE SET reason = excluded.reason
                       WHERE corrections.status = 'pending'")
                    .bind(r.company_id.0)
                    .bind(r.id.0)
                    .bind(r.user_id.0)
                    .bind(r.starts_at)
                    .bind(r.ends_at)
                    .bind(r.reason.clone())
                    .bind(r.status.as_str())
                    .bind(r.decided_by.map(|u| u.0))
                    .bind(r.decided_at)
                    .bind(r.decision_note.clone())
                    .bind(r.created_at),
                )
                .await?
            } else {
                exec(
                    tx,
                    q("UPDATE corrections SET status = $3, decided_by = $4, decided_at = $5, decision_note = $6
                       WHERE company_id = $1 AND id = $2 AND status = 'pending'")
                    .bind(r.company_id.0)
                    .bind(r.id.0)
                    .bind(r.status.as_str())
                    .bind(r.decided_by.map(|u| u.0))
                    .bind(r.decided_at)
                    .bind(r.decision_note.clone()),
                )
                .await?
            };
            if written == 0 {
                let current = one(
                    tx,
                    q("SELECT status FROM corrections WHERE company_id = $1 AND id = $2")
                        .bind(r.company_id.0)
                        .bind(r.id.0),
                    |row| codec::Cols(row).text("status"),
                )
                .await?;
                return Err(match current {
                    None => Error::not_found("correction"),
                    Some(status) => {
                        Error::invalid_state(format!("the correction is already {status}"))
                    }
                });
            }
            // An approval changes the recorded time of its span: the usage
            // job recomputes those dates.
            if r.status == CorrectionStatus::Approved {
                mark_days(tx, r.company_id, utc_dates(r.starts_at, r.ends_at)).await?;
            }
            append(tx, audit).await?;
            Ok(())
        })
        .await
    }

    async fn get_correction(
        &self,
        company: CompanyId,
        id: CorrectionId,
    ) -> Result<Option<CorrectionRequest>> {
        self.by_key("corrections", company, id.0, codec::correction)
            .await
    }

    async fn approved_corrections<'a>(
        &self,
        company: CompanyId,
        users: Option<&'a BTreeSet<UserId>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CorrectionRequest>> {
        Select::new("SELECT * FROM corrections", company.0)
            .any("user_id", users)
            .and("status = ", "approved")
            .and("starts_at < ", bound_time(to))
            .and("ends_at > ", bound_time(from))
            .tail(" ORDER BY id")
            .run(self, codec::correction)
            .await
    }
}
