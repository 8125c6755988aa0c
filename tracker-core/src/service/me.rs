//! Every company user's own data: My Day, sessions, tasks, corrections.

use chrono::NaiveDate;

use super::Tracker;
use crate::authz::{Action, Principal, Target, authorize};
use crate::error::{Error, Result, Validator};
use crate::ids::{CorrectionId, TaskId};
use crate::paging::{Page, PageRequest};
use crate::protocol::*;
use crate::report::{self, TimesheetRow, day_bounds, local_date};
use crate::store::Store;
use crate::tracking::WorkSession;
use crate::work::{CorrectionRequest, CorrectionStatus, Task, TaskStatus, validate_correction};

impl<S: Store + ?Sized> Tracker<S> {
    /// The caller's own day (today in the company's timezone by default):
    /// totals, the merged timeline, top apps and sites, and what is tracked.
    pub async fn my_day(&self, p: &Principal, date: Option<NaiveDate>) -> Result<MyDay> {
        let company = Self::company_of(p, Action::ReadTracking)?;
        authorize(
            p,
            Action::ReadTracking,
            Target::user(company.id, p.user_id()),
        )?;
        let tz = company.tz();
        let date = date.unwrap_or_else(|| local_date(tz, self.now()));
        let (events, corrections, screenshots) = self.day_data(company, p.user_id(), date).await?;
        let window = day_bounds(tz, date);
        let daily = report::daily_report(p.user_id(), date, tz, &events, &corrections, screenshots);
        Ok(MyDay {
            date,
            totals: daily.totals,
            blocks: report::timeline(&events, &corrections, window),
            top_apps: daily.top_apps,
            top_domains: daily.top_domains,
            screenshots,
            policy: self.load_policy(company.id).await?,
        })
    }

    /// The caller's own work sessions.
    pub async fn my_sessions(
        &self,
        p: &Principal,
        page: &PageRequest,
    ) -> Result<Page<WorkSession>> {
        let q = TrackingQuery {
            user_id: Some(p.user_id()),
            ..Default::default()
        };
        self.sessions(p, &q, page).await
    }

    /// The caller's own tasks.
    pub async fn my_tasks(
        &self,
        p: &Principal,
        status: Option<TaskStatus>,
        page: &PageRequest,
    ) -> Result<Page<Task>> {
        let q = TaskQuery {
            assignee_id: Some(p.user_id()),
            status,
        };
        self.tasks(p, &q, page).await
    }

    /// Completes one of the caller's own open tasks.
    pub async fn complete_task(
        &self,
        p: &Principal,
        id: TaskId,
        req: CompleteTask,
    ) -> Result<Task> {
        let company = Self::company_of(p, Action::CompleteTask)?.id;
        let task = self
            .store
            .work()
            .get_task(company, id)
            .await?
            .ok_or(Error::not_found("task"))?;
        authorize(
            p,
            Action::CompleteTask,
            Target::Owned {
                company,
                owner: task.assignee_id,
                entity: "task",
            },
        )?;
        if task.status == TaskStatus::Done {
            return Err(Error::invalid_state("the task is already done"));
        }
        if let Some(note) = &req.note {
            let mut v = Validator::new();
            v.max_len("note", note, 5_000);
            v.finish()?;
        }
        let done = Task {
            status: TaskStatus::Done,
            completion_note: req.note,
            completed_at: Some(self.now()),
            ..task
        };
        self.store.work().update_task(&done).await?;
        Ok(done)
    }

    /// Asks for a span of the caller's own time to count as worked.
    pub async fn request_correction(
        &self,
        p: &Principal,
        req: NewCorrection,
    ) -> Result<CorrectionRequest> {
        let company = Self::company_of(p, Action::RequestCorrection)?.id;
        authorize(
            p,
            Action::RequestCorrection,
            Target::user(company, p.user_id()),
        )?;
        let now = self.now();
        validate_correction(req.starts_at, req.ends_at, &req.reason, now)?;
        let correction = CorrectionRequest {
            id: CorrectionId::new(),
            company_id: company,
            user_id: p.user_id(),
            starts_at: crate::clock::normalize(req.starts_at),
            ends_at: crate::clock::normalize(req.ends_at),
            reason: req.reason.trim().to_owned(),
            status: CorrectionStatus::Pending,
            decided_by: None,
            decided_at: None,
            decision_note: None,
            created_at: now,
        };
        self.store.work().insert_correction(&correction).await?;
        Ok(correction)
    }

    /// The caller's own timesheet rows.
    pub async fn my_export(
        &self,
        p: &Principal,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TimesheetRow>> {
        self.timesheet(p, from, to, Some(p.user_id())).await
    }
}
