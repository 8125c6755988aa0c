//! Tasks and time corrections, from assignment to decision.

use chrono::Datelike;

use super::*;
use crate::audit::*;
use crate::authz::{Action, Principal, Target, authorize};
use crate::error::{Error, Result, Validator};
use crate::paging::{Page, PageRequest};
use crate::protocol::*;
use crate::store::*;
use crate::work::*;

impl<S: Store + ?Sized> Tracker<S> {
    /// Tasks the caller may see (ADMIN all, MANAGER its teams', EMPLOYEE its own).
    pub async fn tasks(
        &self,
        p: &Principal,
        q: &TaskQuery,
        page: &PageRequest,
    ) -> Result<Page<Task>> {
        let (company, ids) = self.scope(p, Action::ReadTasks, q.assignee_id).await?;
        let filter = TaskFilter {
            assignees: ids,
            status: q.status,
            ..TaskFilter::default()
        };
        self.store.tasks().list_tasks(company, &filter, page).await
    }

    /// Creates and assigns a task (ADMIN to anyone, MANAGER to its team members).
    pub async fn create_task(&self, p: &Principal, new: NewTask) -> Result<Task> {
        let company = Self::company_of(p, Action::AssignTask)?.id;
        authorize(
            p,
            Action::AssignTask,
            Target::user(company, new.assignee_id),
        )?;
        let mut v = Validator::new();
        v.text("title", &new.title, 1, 200);
        if let Some(d) = &new.description {
            v.max_len("description", d, 5_000);
        }
        if let Some(due) = new.due_on {
            v.check(
                (2000..=2200).contains(&due.year()),
                "due_on",
                "must be a date between 2000 and 2200",
            );
        }
        v.finish()?;
        let assignee = self
            .store
            .users()
            .get_user(Some(company), new.assignee_id)
            .await?
            .ok_or(Error::not_found("user"))?;
        if !assignee.active {
            return Err(Error::invalid("assignee_id", "is an inactive user"));
        }
        let task = Task {
            id: TaskId::new(),
            company_id: company,
            title: new.title.trim().to_owned(),
            description: new.description,
            assignee_id: assignee.id,
            created_by: p.user_id(),
            status: TaskStatus::Open,
            due_on: new.due_on,
            completion_note: None,
            completed_at: None,
            created_at: self.now(),
        };
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::TaskAssigned,
            format!("task {:?} assigned to {}", task.title, assignee.username),
            serde_json::json!({ "task_id": task.id, "assignee_id": assignee.id }),
        );
        self.store.tasks().save_task(&task, audit).await?;
        Ok(task)
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
            .tasks()
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
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::TaskCompleted,
            format!("task {:?} completed", done.title),
            serde_json::json!({ "task_id": done.id }),
        );
        self.store.tasks().save_task(&done, audit).await?;
        Ok(done)
    }

    /// Correction requests the caller may see.
    pub async fn corrections(
        &self,
        p: &Principal,
        status: Option<CorrectionStatus>,
        user: Option<UserId>,
        page: &PageRequest,
    ) -> Result<Page<CorrectionRequest>> {
        let (company, ids) = self.scope(p, Action::ReadCorrections, user).await?;
        let filter = CorrectionFilter {
            users: ids,
            status,
            ..CorrectionFilter::default()
        };
        self.store
            .corrections()
            .list_corrections(company, &filter, page)
            .await
    }

    /// Approves a pending correction (ADMIN, or MANAGER for its team; never one's own).
    pub async fn approve_correction(
        &self,
        p: &Principal,
        id: CorrectionId,
        d: Decision,
    ) -> Result<CorrectionRequest> {
        self.decide(p, id, d, CorrectionStatus::Approved).await
    }

    /// Rejects a pending correction.
    pub async fn reject_correction(
        &self,
        p: &Principal,
        id: CorrectionId,
        d: Decision,
    ) -> Result<CorrectionRequest> {
        self.decide(p, id, d, CorrectionStatus::Rejected).await
    }

    pub(super) async fn decide(
        &self,
        p: &Principal,
        id: CorrectionId,
        d: Decision,
        status: CorrectionStatus,
    ) -> Result<CorrectionRequest> {
        let company = Self::company_of(p, Action::DecideCorrection)?.id;
        let old = self
            .store
            .corrections()
            .get_correction(company, id)
            .await?
            .ok_or(Error::not_found("correction"))?;
        authorize(
            p,
            Action::DecideCorrection,
            Target::Owned {
                company,
                owner: old.user_id,
                entity: "correction",
            },
        )?;
        if old.status != CorrectionStatus::Pending {
            return Err(Error::invalid_state(format!(
                "the correction is already {}",
                old.status.as_str()
            )));
        }
        if let Some(n) = &d.note {
            let mut v = Validator::new();
            v.max_len("note", n, 2_000);
            v.finish()?;
        }
        let now = self.now();
        let decided = CorrectionRequest {
            status,
            decided_by: Some(p.user_id()),
            decided_at: Some(now),
            decision_note: d.note,
            ..old
        };
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::CorrectionDecided,
            format!("correction {} {}", id, status.as_str()),
            serde_json::json!({
                "correction_id": id,
                "user_id": decided.user_id,
                "status": status,
                "starts_at": decided.starts_at,
                "ends_at": decided.ends_at,
            }),
        );
        // An approval changes reported time: the store marks its days for
        // the usage job in the same transaction.
        self.store
            .corrections()
            .save_correction(&decided, audit)
            .await?;
        Ok(decided)
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
        validate_correction(
            req.starts_at,
            req.ends_at,
            &req.reason,
            now,
            self.config.ingest.max_age,
        )?;
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
        // The reason is the employee's own words: it stays with the request,
        // out of the immutable trail.
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::CorrectionRequested,
            format!(
                "correction of {} to {} requested",
                correction.starts_at.format("%Y-%m-%d %H:%M"),
                correction.ends_at.format("%Y-%m-%d %H:%M")
            ),
            serde_json::json!({
                "correction_id": correction.id,
                "starts_at": correction.starts_at,
                "ends_at": correction.ends_at,
            }),
        );
        self.store
            .corrections()
            .save_correction(&correction, audit)
            .await?;
        Ok(correction)
    }
}
