//! [`TaskStore`] and [`CorrectionStore`]: tasks, and requests to correct
//! recorded time with their decisions.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tracker_core::audit::NewAuditEvent;
use tracker_core::error::{Error, Result};
use tracker_core::paging::{Page, PageRequest};
use tracker_core::store::{CorrectionFilter, CorrectionStore, TaskFilter, TaskStore, utc_dates};
use tracker_core::{
    CompanyId, CorrectionId, CorrectionRequest, CorrectionStatus, Task, TaskId, TaskStatus, UserId,
};

use crate::SqliteStore;
use crate::codec::{self, R, ts, ts_opt};
use crate::error::db;
use crate::rows::{append, mark_usage};
use crate::sql::{Query, exec};

/// Inserts a task, or replaces the stored one of its company unless that
/// one is DONE.
fn save_task(c: &Connection, t: &Task) -> R<()> {
    let stored: Option<String> = c
        .query_row(
            "SELECT status FROM tasks WHERE company_id = ?1 AND id = ?2",
            params![t.company_id.0, t.id.0],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    if stored.as_deref() == Some(TaskStatus::Done.as_str()) {
        return Err(Error::invalid_state("the task is already done"));
    }
    exec(
        c,
        "INSERT INTO tasks (company_id, id, title, description, assignee_id, created_by, status, due_on, completion_note, completed_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (company_id, id) DO UPDATE SET title = ?3, description = ?4, assignee_id = ?5,
           created_by = ?6, status = ?7, due_on = ?8, completion_note = ?9, completed_at = ?10, created_at = ?11",
        params![
            t.company_id.0,
            t.id.0,
            t.title,
            t.description,
            t.assignee_id.0,
            t.created_by.0,
            t.status.as_str(),
            t.due_on.map(|d| d.to_string()),
            t.completion_note,
            ts_opt(t.completed_at),
            ts(t.created_at)
        ],
    )
    .map(drop)
}

#[async_trait]
impl TaskStore for SqliteStore {
    async fn save_task(&self, task: &Task, audit: NewAuditEvent) -> Result<()> {
        let t = task.clone();
        self.engine
            .write(move |c| {
                save_task(c, &t)?;
                append(c, audit).map(drop)
            })
            .await
    }

    async fn list_tasks(
        &self,
        company: CompanyId,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> Result<Page<Task>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.engine
            .read(move |c| {
                let (q, limit) = Query::new("SELECT * FROM tasks", company)
                    .in_set("id", filter.ids.as_ref())
                    .in_set("assignee_id", filter.assignees.as_ref())
                    .and_opt("status = ?", filter.status.map(|s| s.as_str()))
                    .page_id(&page)?;
                Ok(Page::from_overfetch(q.run(c, codec::task)?, limit, |t| {
                    t.id.to_string()
                }))
            })
            .await
    }

    // Provided, overridden with one key lookup.

    async fn get_task(&self, company: CompanyId, id: TaskId) -> Result<Option<Task>> {
        self.by_key("tasks", company, id.0, codec::task).await
    }
}

#[async_trait]
impl CorrectionStore for SqliteStore {
    async fn save_correction(
        &self,
        correction: &CorrectionRequest,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let r = correction.clone();
        self.engine
            .write(move |c| {
                let current: Option<String> = c
                    .prepare_cached("SELECT status FROM corrections WHERE company_id = ?1 AND id = ?2")
                    .and_then(|mut s| s.query_row(params![r.company_id.0, r.id.0], |row| row.get(0)).optional())
                    .map_err(db)?;
                match current.as_deref() {
                    None if r.status != CorrectionStatus::Pending => {
                        return Err(Error::not_found("correction"));
                    }
                    None | Some("pending") => {}
                    Some(other) => {
                        return Err(Error::invalid_state(format!("the correction is already {other}")));
                    }
                }
                exec(
                    c,
                    "INSERT INTO corrections (company_id, id, user_id, starts_at, ends_at, reason, status, decided_by, decided_at, decision_note, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     ON CONFLICT (company_id, id) DO UPDATE SET
                       status = excluded.status, decided_by = excluded.decided_by,
                       decided_at = excluded.decided_at, decision_note = excluded.decision_note",
                    params![
                        r.company_id.0,
                        r.id.0,
                        r.user_id.0,
                        ts(r.starts_at),
                        ts(r.ends_at),
                        r.reason,
                        r.status.as_str(),
                        r.decided_by.map(|u| u.0),
                        ts_opt(r.decided_at),
                        r.decision_note,
                        ts(r.created_at)
                    ],
                )?;
                // The usage job recomputes the days an approval changes,
                // marked with the decision or not at all.
                if r.status == CorrectionStatus::Approved {
                    mark_usage(c, r.company_id, utc_dates(r.starts_at, r.ends_at))?;
                }
                append(c, audit).map(drop)
            })
            .await
    }

    async fn list_corrections(
        &self,
        company: CompanyId,
        filter: &CorrectionFilter,
        page: &PageRequest,
    ) -> Result<Page<CorrectionRequest>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.engine
            .read(move |c| {
                let (q, limit) = Query::new("SELECT * FROM corrections", company)
                    .in_set("id", filter.ids.as_ref())
                    .in_set("user_id", filter.users.as_ref())
                    .and_opt("status = ?", filter.status.map(|s| s.as_str()))
                    .page_id(&page)?;
                Ok(Page::from_overfetch(
                    q.run(c, codec::correction)?,
                    limit,
                    |r| r.id.to_string(),
                ))
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
        let users = users.cloned();
        self.engine
            .read(move |c| {
                Query::new("SELECT * FROM corrections", company)
                    .in_set("user_id", users.as_ref())
                    .and("status = ?", "approved")
                    .and("starts_at < ?", ts(to))
                    .and("ends_at > ?", ts(from))
                    .tail(" ORDER BY id")
                    .run(c, codec::correction)
            })
            .await
    }
}
