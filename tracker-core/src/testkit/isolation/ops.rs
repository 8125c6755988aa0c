//! Agent, policy, task and correction operations.

use chrono::Duration;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

use crate::protocol::{
    ActivityBatch, CompleteTask, Decision, HeartbeatRequest, NewCorrection, NewTask,
    ScreenshotUpload, StartSession, StopSession,
};
use crate::tracking::ActivityInput;
use crate::{
    ActivityId, ActivityKind, AgentContext, CorrectionId, CorrectionStatus, PolicyUpdate, Role,
    ScreenshotId, TaskId, TaskStatus, UserId, WorkSessionId,
};

use super::input::*;
use super::model::*;
use super::*;

impl World {
    pub(super) async fn apply(&mut self, step: usize, op: &Op) -> Result<(), TestCaseError> {
        let before = self.snapshot().await;
        let sessions = || self.sessions.iter().map(|s| s.user);
        let shots = || self.shots.iter().map(|s| s.user);
        let who = match op {
            Op::StartSession { who, id: pick, .. } | Op::StopSession { who, session: pick } => {
                Some(self.resolve_for(*who, *pick, sessions()))
            }
            Op::Screenshot { who, id: pick, .. } | Op::ReadImage { who, shot: pick } => {
                Some(self.resolve_for(*who, *pick, shots()))
            }
            Op::CompleteTask { who, task } => {
                Some(self.resolve_for(*who, *task, self.tasks.iter().map(|t| t.assignee)))
            }
            Op::Decide {
                who, correction, ..
            } => Some(self.resolve_for(*who, *correction, self.corrections.iter().map(|c| c.user))),
            Op::Heartbeat { who, .. }
            | Op::Activity { who, .. }
            | Op::AgentRead { who, .. }
            | Op::AgentLogin { who, .. }
            | Op::UpdatePolicy { who, .. }
            | Op::CreateTask { who, .. }
            | Op::RequestCorrection { who, .. }
            | Op::Read { who, .. }
            | Op::Platform { who, .. }
            | Op::Lifecycle { who, .. }
            | Op::ManageUser { who, .. }
            | Op::Privacy { who, .. }
            | Op::Acknowledge { who }
            | Op::ForeignTeam { who, .. } => Some(self.resolve(*who)),
            Op::Aggregate { .. } | Op::Tick { .. } => None,
        };
        let ctx = match who {
            Some(w) => format!("step {step}: {op:?} by {} ({w:?})", self.role(w)),
            None => format!("step {step}: {op:?}"),
        };
        let allowed = match (op, who) {
            (Op::Heartbeat { version, .. }, Some(Who::User(i))) => {
                self.heartbeat(&ctx, i, *version).await?
            }
            (Op::StartSession { id, ago_min, .. }, Some(Who::User(i))) => {
                self.start_session(&ctx, i, *id, *ago_min).await?
            }
            (Op::StopSession { session, .. }, Some(Who::User(i))) => {
                self.stop_session(&ctx, i, *session).await?
            }
            (Op::Activity { events, replay, .. }, Some(Who::User(i))) => {
                self.upload_activity(&ctx, i, events, *replay).await?
            }
            (Op::Screenshot { id, ago_min, .. }, Some(Who::User(i))) => {
                self.upload_screenshot(&ctx, i, *id, *ago_min).await?
            }
            (Op::AgentRead { read, .. }, Some(Who::User(i))) => {
                self.agent_read(&ctx, i, *read).await?
            }
            (Op::AgentLogin { key_of, .. }, Some(w)) => self.agent_login(&ctx, w, *key_of).await?,
            (Op::UpdatePolicy { update, .. }, Some(w)) => {
                self.update_policy(&ctx, w, update).await?
            }
            (Op::CreateTask { assignee, .. }, Some(w)) => {
                let assignee = self.user_pick(w, *assignee);
                self.create_task(&ctx, w, assignee).await?
            }
            (Op::CompleteTask { task, .. }, Some(w)) => self.complete_task(&ctx, w, *task).await?,
            (
                Op::RequestCorrection {
                    ago_min, len_min, ..
                },
                Some(w),
            ) => self.request_correction(&ctx, w, *ago_min, *len_min).await?,
            (
                Op::Decide {
                    correction,
                    approve,
                    ..
                },
                Some(w),
            ) => self.decide(&ctx, w, *correction, *approve).await?,
            (Op::Read { read, about, .. }, Some(w)) => {
                let about = about.map(|a| self.user_pick(w, a));
                Box::pin(self.read(&ctx, w, *read, about)).await?
            }
            (Op::ReadImage { shot, .. }, Some(w)) => self.read_image(&ctx, w, *shot).await?,
            (Op::Platform { op, company, .. }, Some(w)) => {
                Box::pin(self.platform(&ctx, w, *op, *company)).await?
            }
            (Op::Lifecycle { op, company, .. }, Some(w)) => {
                self.lifecycle(&ctx, w, *op, *company).await?
            }
            (
                Op::ManageUser {
                    target, deactivate, ..
                },
                Some(w),
            ) => {
                let target = self.user_pick(w, *target);
                self.manage_user(&ctx, w, target, *deactivate).await?
            }
            (Op::Privacy { target, act, .. }, Some(w)) => {
                let target = self.user_pick(w, *target);
                self.privacy_act(&ctx, w, target, *act).await?
            }
            (Op::Acknowledge { .. }, Some(w)) => self.acknowledge(&ctx, w).await?,
            (Op::ForeignTeam { member, .. }, Some(w)) => {
                self.foreign_team(&ctx, w, *member).await?
            }
            (Op::Aggregate { company }, None) => {
                self.aggregate(&ctx, company.index(self.companies.len()))
                    .await?
            }
            (Op::Tick { minutes }, None) => {
                self.clock.advance(Duration::minutes(*minutes));
                Allowed::nothing()
            }
            _ => unreachable!("every operation has its caller"),
        };
        let after = self.snapshot().await;
        Self::check_changes(&ctx, &before, &after, &allowed)
    }

    // ---- agent operations ---------------------------------------------------------

    pub(super) async fn heartbeat(
        &self,
        ctx: &str,
        i: usize,
        version: SentVersion,
    ) -> Result<Allowed, TestCaseError> {
        let u = &self.users[i];
        let current = self.companies[u.company].policy.version;
        let sent = match version {
            SentVersion::Current => Some(current),
            SentVersion::Stale => Some(current.saturating_sub(1)),
            SentVersion::Missing => None,
        };
        let r = self
            .tracker
            .heartbeat(
                &self.agent(i).await,
                HeartbeatRequest {
                    policy_version: sent,
                    agent_version: Some("1.0.0".into()),
                },
            )
            .await;
        let Some(beat) = outcome(ctx, r, Ok(()))? else {
            return Ok(Allowed::nothing());
        };
        prop_assert_eq!(beat.policy_version, current, "{}: policy version", ctx);
        prop_assert_eq!(beat.policy_changed, sent != Some(current), "{}", ctx);
        prop_assert!(beat.tracking_allowed, "{}: tracking must be allowed", ctx);
        Ok(Allowed::company(u.company))
    }

    pub(super) async fn start_session(
        &mut self,
        ctx: &str,
        i: usize,
        id: Pick,
        ago_min: i64,
    ) -> Result<Allowed, TestCaseError> {
        let (me, c) = (self.users[i].id, self.users[i].company);
        let id = self
            .pick_object(
                Who::User(i),
                id,
                self.sessions.iter().map(|s| (s.company, s.user)),
            )
            .map_or_else(WorkSessionId::new, |k| self.sessions[k].id);
        let existing = self
            .sessions
            .iter()
            .find(|s| s.company == c && s.id == id)
            .map(|s| s.user);
        // Another user's id of the same company: a conflict, never their
        // session. Another company's id: a session of our own with the
        // same client id.
        let exp = match existing {
            Some(owner) if owner != me => Err("already_exists"),
            _ => Ok(()),
        };
        let started_at = self.now() - Duration::minutes(ago_min);
        let r = self
            .tracker
            .start_session(&self.agent(i).await, StartSession { id, started_at })
            .await;
        let Some(ingested) = outcome(ctx, r, exp)? else {
            return Ok(Allowed::nothing());
        };
        let s = &ingested.stored;
        prop_assert_eq!(s.company_id, self.companies[c].id, "{}", ctx);
        prop_assert_eq!(s.user_id, me, "{}", ctx);
        prop_assert_eq!(s.id, id, "{}", ctx);
        prop_assert_eq!(ingested.inserted, existing.is_none(), "{}: inserted", ctx);
        if !ingested.inserted {
            return Ok(Allowed::nothing());
        }
        self.sessions.push(SessionModel {
            company: c,
            id,
            user: me,
            stopped: false,
        });
        Ok(Allowed::company(c))
    }

    pub(super) async fn stop_session(
        &mut self,
        ctx: &str,
        i: usize,
        session: Pick,
    ) -> Result<Allowed, TestCaseError> {
        let (me, c) = (self.users[i].id, self.users[i].company);
        let id = self
            .pick_object(
                Who::User(i),
                session,
                self.sessions.iter().map(|s| (s.company, s.user)),
            )
            .map_or_else(WorkSessionId::new, |k| self.sessions[k].id);
        let own = self
            .sessions
            .iter()
            .position(|s| s.company == c && s.id == id && s.user == me);
        let exp = if own.is_some() {
            Ok(())
        } else {
            Err("not_found")
        };
        let stopped_at = self.now();
        let r = self
            .tracker
            .stop_session(&self.agent(i).await, id, StopSession { stopped_at })
            .await;
        let Some(s) = outcome(ctx, r, exp)? else {
            return Ok(Allowed::nothing());
        };
        prop_assert_eq!(s.company_id, self.companies[c].id, "{}", ctx);
        prop_assert_eq!(s.user_id, me, "{}", ctx);
        prop_assert!(s.stopped_at.is_some(), "{}: still open", ctx);
        let model = &mut self.sessions[own.expect("expected Ok")];
        if model.stopped {
            return Ok(Allowed::nothing());
        }
        model.stopped = true;
        Ok(Allowed::company(c))
    }

    pub(super) async fn upload_activity(
        &mut self,
        ctx: &str,
        i: usize,
        events: &[EventSpec],
        replay: Option<Index>,
    ) -> Result<Allowed, TestCaseError> {
        let (me, c) = (self.users[i].id, self.users[i].company);
        let now = self.now();
        let input = |id: ActivityId, e: &EventSpec| ActivityInput {
            id,
            session_id: None,
            started_at: now - Duration::minutes(e.ago_min),
            duration_seconds: e.seconds,
            kind: if e.active {
                ActivityKind::Active
            } else {
                ActivityKind::Idle
            },
            app: Some(app_of(me)),
            window_title: Some(format!("window of {me}")),
            url: Some(format!("https://{}/page", domain_of(me))),
        };
        let mut batch: Vec<ActivityInput> =
            events.iter().map(|e| input(ActivityId::new(), e)).collect();
        if let Some(ix) = replay
            && !self.activity.is_empty()
        {
            // The id of a stored event, possibly of another user or company.
            let id = self.activity[ix.index(self.activity.len())].id;
            batch.push(input(id, &events[0]));
        }
        // Ids are unique per user: a stored id of another user or company
        // is an event of our own.
        let new: Vec<&ActivityInput> = batch
            .iter()
            .filter(|e| {
                !self
                    .activity
                    .iter()
                    .any(|a| a.company == c && a.user == me && a.id == e.id)
            })
            .collect();
        let received = batch.len() as u64;
        let r = self
            .tracker
            .upload_activity(
                &self.agent(i).await,
                ActivityBatch {
                    events: batch.clone(),
                },
            )
            .await;
        // Always stored: no id of anyone else can conflict with ours.
        let Some(report) = outcome(ctx, r, Ok(()))? else {
            return Ok(Allowed::nothing());
        };
        prop_assert_eq!(report.received, received, "{}", ctx);
        prop_assert_eq!(
            report.inserted,
            new.len() as u64,
            "{}: new events counted",
            ctx
        );
        if new.is_empty() {
            return Ok(Allowed::nothing());
        }
        let policy = &self.companies[c].policy;
        let models: Vec<ActivityModel> = new
            .iter()
            .map(|e| ActivityModel {
                company: c,
                id: e.id,
                user: me,
                seconds: u64::from(e.duration_seconds),
                app_kept: policy.app_tracking_enabled,
                url_kept: policy.website_tracking_enabled,
            })
            .collect();
        self.activity.extend(models);
        Ok(Allowed::company(c))
    }

    pub(super) async fn upload_screenshot(
        &mut self,
        ctx: &str,
        i: usize,
        id: Pick,
        ago_min: i64,
    ) -> Result<Allowed, TestCaseError> {
        let (me, c) = (self.users[i].id, self.users[i].company);
        let id = self
            .pick_object(
                Who::User(i),
                id,
                self.shots.iter().map(|s| (s.company, s.user)),
            )
            .map_or_else(ScreenshotId::new, |k| self.shots[k].id);
        let existing = self
            .shots
            .iter()
            .find(|s| s.company == c && s.id == id)
            .map(|s| s.user);
        let exp = if !self.companies[c].policy.screenshots_enabled {
            Err("policy_disabled")
        } else {
            match existing {
                // Another user's id: a conflict, never their screenshot.
                Some(owner) if owner != me => Err("already_exists"),
                _ => Ok(()),
            }
        };
        let mut bytes = PNG.to_vec();
        bytes.extend_from_slice(format!("screen of {me} in {}", self.companies[c].id).as_bytes());
        let meta = ScreenshotUpload {
            id,
            taken_at: self.now() - Duration::minutes(ago_min),
            blurred: false,
        };
        let r = self
            .tracker
            .upload_screenshot(&self.agent(i).await, meta, bytes.clone())
            .await;
        let Some(ingested) = outcome(ctx, r, exp)? else {
            return Ok(Allowed::nothing());
        };
        let s = &ingested.stored;
        prop_assert_eq!(s.company_id, self.companies[c].id, "{}", ctx);
        prop_assert_eq!(s.user_id, me, "{}", ctx);
        prop_assert_eq!(s.id, id, "{}", ctx);
        prop_assert_eq!(ingested.inserted, existing.is_none(), "{}: inserted", ctx);
        if !ingested.inserted {
            return Ok(Allowed::nothing());
        }
        prop_assert_eq!(s.size_bytes, bytes.len() as u64, "{}", ctx);
        self.shots.push(ShotModel {
            company: c,
            id,
            user: me,
            bytes,
        });
        Ok(Allowed::company(c))
    }

    /// User `i`'s agent, authenticated anew as the HTTP adapter does for
    /// each request (a context holds the policy it was read with).
    pub(super) async fn agent(&self, i: usize) -> AgentContext {
        let u = &self.users[i];
        self.tracker
            .agent(&self.companies[u.company].key, &u.token)
            .await
            .expect("the agent of a company that stays open")
    }

    pub(super) async fn agent_login(
        &self,
        ctx: &str,
        who: Who,
        key_of: Index,
    ) -> Result<Allowed, TestCaseError> {
        let target = self.company_pick(key_of);
        let key = target.map_or(UNKNOWN_KEY, |c| self.companies[c].key.as_str());
        let (token, exp) = match who {
            Who::Owner => (self.owner_token.as_str(), Err("forbidden")),
            Who::User(i) => {
                let u = &self.users[i];
                let exp = if target == Some(u.company) {
                    Ok(())
                } else {
                    Err("invalid_company_key")
                };
                (u.token.as_str(), exp)
            }
        };
        let r = self.tracker.agent(key, token).await;
        if let (Some(a), Who::User(i)) = (outcome(ctx, r, exp)?, who) {
            prop_assert_eq!(a.principal().user_id(), self.users[i].id, "{}", ctx);
            prop_assert_eq!(
                a.principal().company_id(),
                Some(self.companies[self.users[i].company].id),
                "{}",
                ctx
            );
        }
        Ok(Allowed::nothing())
    }

    // ---- company writes -----------------------------------------------------------

    pub(super) async fn update_policy(
        &mut self,
        ctx: &str,
        who: Who,
        update: &PolicyUpdate,
    ) -> Result<Allowed, TestCaseError> {
        let valid = update
            .screenshot_interval_seconds
            .is_none_or(|s| (30..=3600).contains(&s))
            && update
                .idle_threshold_seconds
                .is_none_or(|s| (60..=3600).contains(&s));
        let exp = match self.role(who) {
            Role::Admin if valid => Ok(()),
            Role::Admin => Err("validation"),
            _ => Err("forbidden"),
        };
        let r = self
            .tracker
            .update_policy(self.principal(who), update.clone())
            .await;
        let (Some(new), Who::User(i)) = (outcome(ctx, r, exp)?, who) else {
            return Ok(Allowed::nothing());
        };
        let c = self.users[i].company;
        prop_assert_eq!(new.company_id, self.companies[c].id, "{}", ctx);
        prop_assert_eq!(new.version, self.companies[c].policy.version + 1, "{}", ctx);
        self.companies[c].policy = new;
        Ok(Allowed::nothing().audited(Scope::Company(c)))
    }

    pub(super) async fn create_task(
        &mut self,
        ctx: &str,
        who: Who,
        assignee: UserId,
    ) -> Result<Allowed, TestCaseError> {
        let exp = match who {
            Who::Owner => Err("forbidden"),
            Who::User(i) => {
                let u = &self.users[i];
                let visible = u.visible.contains(&assignee);
                match u.role {
                    Role::Admin if visible => Ok(()),
                    Role::Manager if visible && assignee == u.id => Err("forbidden"),
                    Role::Manager if visible => Ok(()),
                    Role::Employee if assignee == u.id => Err("forbidden"),
                    _ => Err("not_found"),
                }
            }
        };
        let r = self
            .tracker
            .create_task(
                self.principal(who),
                NewTask {
                    title: "Write the report".into(),
                    description: None,
                    assignee_id: assignee,
                    due_on: None,
                },
            )
            .await;
        let (Some(task), Who::User(i)) = (outcome(ctx, r, exp)?, who) else {
            return Ok(Allowed::nothing());
        };
        let c = self.users[i].company;
        prop_assert_eq!(task.company_id, self.companies[c].id, "{}", ctx);
        prop_assert_eq!(task.assignee_id, assignee, "{}", ctx);
        prop_assert_eq!(task.status, TaskStatus::Open, "{}", ctx);
        self.tasks.push(TaskModel {
            company: c,
            id: task.id,
            assignee,
            done: false,
        });
        Ok(Allowed::nothing().audited(Scope::Company(c)))
    }

    pub(super) async fn complete_task(
        &mut self,
        ctx: &str,
        who: Who,
        task: Pick,
    ) -> Result<Allowed, TestCaseError> {
        let id = self
            .pick_object(
                who,
                task,
                self.tasks.iter().map(|t| (t.company, t.assignee)),
            )
            .map_or_else(TaskId::new, |k| self.tasks[k].id);
        let mut own = None;
        let exp = match who {
            Who::Owner => Err("forbidden"),
            Who::User(i) => {
                let u = &self.users[i];
                own = self
                    .tasks
                    .iter()
                    .position(|t| t.company == u.company && t.id == id);
                match own.map(|k| &self.tasks[k]) {
                    None => Err("not_found"),
                    Some(t) if !u.visible.contains(&t.assignee) => Err("not_found"),
                    Some(t) if t.assignee != u.id => Err("forbidden"),
                    Some(t) if t.done => Err("invalid_state"),
                    Some(_) => Ok(()),
                }
            }
        };
        let r = self
            .tracker
            .complete_task(
                self.principal(who),
                id,
                CompleteTask {
                    note: Some("done".into()),
                },
            )
            .await;
        let (Some(done), Some(k)) = (outcome(ctx, r, exp)?, own) else {
            return Ok(Allowed::nothing());
        };
        prop_assert_eq!(done.id, id, "{}", ctx);
        prop_assert_eq!(done.status, TaskStatus::Done, "{}", ctx);
        prop_assert_eq!(
            done.company_id,
            self.companies[self.tasks[k].company].id,
            "{}",
            ctx
        );
        self.tasks[k].done = true;
        let c = self.tasks[k].company;
        Ok(Allowed::company(c).audited(Scope::Company(c)))
    }

    pub(super) async fn request_correction(
        &mut self,
        ctx: &str,
        who: Who,
        ago_min: i64,
        len_min: i64,
    ) -> Result<Allowed, TestCaseError> {
        let len_min = len_min.min(ago_min);
        let starts_at = self.now() - Duration::minutes(ago_min);
        let exp = match who {
            Who::Owner => Err("forbidden"),
            Who::User(_) => Ok(()),
        };
        let r = self
            .tracker
            .request_correction(
                self.principal(who),
                NewCorrection {
                    starts_at,
                    ends_at: starts_at + Duration::minutes(len_min),
                    reason: "the agent was not running".into(),
                },
            )
            .await;
        let (Some(corr), Who::User(i)) = (outcome(ctx, r, exp)?, who) else {
            return Ok(Allowed::nothing());
        };
        let c = self.users[i].company;
        prop_assert_eq!(corr.company_id, self.companies[c].id, "{}", ctx);
        prop_assert_eq!(corr.user_id, self.users[i].id, "{}", ctx);
        prop_assert_eq!(corr.status, CorrectionStatus::Pending, "{}", ctx);
        self.corrections.push(CorrectionModel {
            company: c,
            id: corr.id,
            user: self.users[i].id,
            status: CorrectionStatus::Pending,
            seconds: len_min as u64 * 60,
        });
        Ok(Allowed::company(c).audited(Scope::Company(c)))
    }

    pub(super) async fn decide(
        &mut self,
        ctx: &str,
        who: Who,
        correction: Pick,
        approve: bool,
    ) -> Result<Allowed, TestCaseError> {
        let id = self
            .pick_object(
                who,
                correction,
                self.corrections.iter().map(|c| (c.company, c.user)),
            )
            .map_or_else(CorrectionId::new, |k| self.corrections[k].id);
        let mut own = None;
        let exp = match who {
            Who::Owner => Err("forbidden"),
            Who::User(i) => {
                let u = &self.users[i];
                own = self
                    .corrections
                    .iter()
                    .position(|k| k.company == u.company && k.id == id);
                match (u.role, own.map(|k| &self.corrections[k])) {
                    (_, None) => Err("not_found"),
                    (Role::Employee, Some(k)) if k.user == u.id => Err("forbidden"),
                    (Role::Employee, Some(_)) => Err("not_found"),
                    (_, Some(k)) if !u.visible.contains(&k.user) => Err("not_found"),
                    (_, Some(k)) if k.user == u.id => Err("forbidden"),
                    (_, Some(k)) if k.status != CorrectionStatus::Pending => Err("invalid_state"),
                    (_, Some(_)) => Ok(()),
                }
            }
        };
        let p = self.principal(who);
        let d = Decision {
            note: Some("ok".into()),
        };
        let r = if approve {
            self.tracker.approve_correction(p, id, d).await
        } else {
            self.tracker.reject_correction(p, id, d).await
        };
        let (Some(decided), Some(k), Who::User(i)) = (outcome(ctx, r, exp)?, own, who) else {
            return Ok(Allowed::nothing());
        };
        let status = if approve {
            CorrectionStatus::Approved
        } else {
            CorrectionStatus::Rejected
        };
        let c = self.corrections[k].company;
        prop_assert_eq!(decided.id, id, "{}", ctx);
        prop_assert_eq!(decided.company_id, self.companies[c].id, "{}", ctx);
        prop_assert_eq!(decided.status, status, "{}", ctx);
        prop_assert_eq!(decided.decided_by, Some(self.users[i].id), "{}", ctx);
        self.corrections[k].status = status;
        Ok(Allowed::nothing().audited(Scope::Company(c)))
    }

    // ---- reads ------------------------------------------------------------------------
}
