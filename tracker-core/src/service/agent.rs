//! The agent protocol, and the fleet of agents as ADMINs see it.

use std::collections::BTreeMap;

use super::*;
use crate::authz::{Action, Principal, Target, authorize};
use crate::error::{Error, Result, Validator};
use crate::paging::{Page, PageRequest};
use crate::policy::TrackingPolicy;
use crate::protocol::*;
use crate::store::*;
use crate::tenancy::*;
use crate::tracking::*;
use crate::work::*;

/// An authenticated agent: a company user's token together with its
/// company's key.
///
/// A context belongs to one request: it holds the user, the company and
/// the tracking policy as they were when [`Tracker::agent`] read them (in
/// one store read). Authenticate each request anew, as the HTTP adapter
/// does, so that a suspension, a key rotation or a policy change applies
/// to the next request.
#[derive(Debug, Clone)]
pub struct AgentContext {
    principal: Principal,
    company: Company,
    /// The company's policy record as read with the token.
    record: TrackingPolicy,
    /// Whether its pending change applies to the agent's user (else the
    /// policy in force does).
    pending_applies: bool,
}

impl AgentContext {
    /// The user the agent tracks.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    fn company(&self) -> &Company {
        &self.company
    }

    /// The policy that applies to the agent's user: read once with the
    /// token, chosen without a copy on every agent call.
    fn policy(&self) -> &TrackingPolicy {
        match &self.record.pending {
            Some(p) if self.pending_applies => &p.policy,
            _ => &self.record,
        }
    }
}

impl<S: Store + ?Sized> Tracker<S> {
    /// Authenticates an agent: the token must be valid and the key must be
    /// the current key of the token's company (`InvalidCompanyKey` otherwise).
    pub async fn agent(&self, company_key: &str, token: &str) -> Result<AgentContext> {
        let (principal, policy) = self.token_principal(token).await?;
        if principal.company().is_none() {
            // An OWNER is known but never an agent.
            return Err(Error::Forbidden {
                action: Action::WriteTracking.name(),
            });
        }
        let company = principal.check_company_key(company_key)?.clone();
        authorize(
            &principal,
            Action::WriteTracking,
            Target::user(company.id, principal.user_id()),
        )?;
        let record = policy
            .filter(|p| p.company_id == company.id)
            .ok_or(Error::not_found("policy"))?;
        let pending_applies =
            record.pending_applies(principal.user().privacy.acknowledged_version, self.now());
        Ok(AgentContext {
            principal,
            company,
            record,
            pending_applies,
        })
    }

    /// Records a heartbeat and tells the agent whether its policy is current.
    pub async fn heartbeat(
        &self,
        a: &AgentContext,
        req: HeartbeatRequest,
    ) -> Result<HeartbeatResponse> {
        let mut val = Validator::new();
        if let Some(v) = &req.agent_version {
            val.text("agent_version", v, 1, 64);
        }
        // Versions count from 1 and are stored as SQL BIGINT: the document
        // says int64, and the server holds to it.
        if let Some(v) = req.policy_version {
            val.check(
                i64::try_from(v).is_ok(),
                "policy_version",
                "must be at most 9223372036854775807",
            );
        }
        val.finish()?;
        let company = a.company();
        let now = self.now();
        let policy = a.policy();
        self.store
            .agents()
            .record_heartbeat(&AgentState {
                company_id: company.id,
                user_id: a.principal.user_id(),
                last_heartbeat_at: now,
                policy_version: req.policy_version,
                agent_version: req.agent_version,
            })
            .await?;
        Ok(HeartbeatResponse {
            server_time: now,
            tracking_allowed: company.check_access(now).is_ok(),
            policy_version: policy.version,
            policy_changed: req.policy_version != Some(policy.version),
            company_status: company.effective_status(now),
        })
    }

    /// The policy for the agent, with whether it may track now.
    pub async fn agent_policy(&self, a: &AgentContext) -> Result<PolicyResponse> {
        // The policy was read with the token; agents poll this route.
        authorize(
            &a.principal,
            Action::ReadPolicy,
            Target::Company(a.company.id),
        )?;
        Ok(self.policy_response(&a.principal, &a.company, &a.record))
    }

    /// Opens a work session; replaying the same id returns the stored
    /// session, and an id another user of the company stored is a conflict
    /// (`AlreadyExists`).
    pub async fn start_session(
        &self,
        a: &AgentContext,
        req: StartSession,
    ) -> Result<Ingested<WorkSession>> {
        let company = a.company().id;
        let now = self.now();
        let mut v = Validator::new();
        self.config
            .ingest
            .check_time(&mut v, "started_at", req.started_at, now);
        v.finish()?;
        let session = WorkSession {
            id: req.id,
            company_id: company,
            user_id: a.principal.user_id(),
            started_at: crate::clock::normalize(req.started_at),
            stopped_at: None,
        };
        let stored = self.store.tracking().insert_session(&session).await?;
        if stored.stored.user_id != a.principal.user_id() {
            // Another user's id: a conflict, never their session.
            return Err(Error::AlreadyExists {
                entity: "work session",
                value: req.id.to_string(),
            });
        }
        Ok(stored)
    }

    /// Closes one of the agent's sessions; closing it again is harmless.
    pub async fn stop_session(
        &self,
        a: &AgentContext,
        id: WorkSessionId,
        req: StopSession,
    ) -> Result<WorkSession> {
        let company = a.company().id;
        let session = self
            .store
            .tracking()
            .get_session(company, id)
            .await?
            .filter(|s| s.user_id == a.principal.user_id())
            .ok_or(Error::not_found("work session"))?;
        if session.stopped_at.is_some() {
            return Ok(session);
        }
        let mut v = Validator::new();
        self.config
            .ingest
            .check_time(&mut v, "stopped_at", req.stopped_at, self.now());
        v.check(
            req.stopped_at >= session.started_at,
            "stopped_at",
            "must not be before started_at",
        );
        v.finish()?;
        self.store
            .tracking()
            .stop_session(company, id, crate::clock::normalize(req.stopped_at))
            .await
    }

    /// Stores a batch of activity: validated whole, fields the policy
    /// disables dropped, replayed ids counted once. An event may name only
    /// a work session of the agent's own (422 otherwise). Event ids are
    /// unique per user: another user's id is an event of this user's own.
    pub async fn upload_activity(
        &self,
        a: &AgentContext,
        batch: ActivityBatch,
    ) -> Result<IngestReport> {
        let user = a.principal.user_id();
        let events = prepare_batch(
            &batch.events,
            a.company().id,
            user,
            a.policy(),
            &self.config.ingest,
            self.now(),
        )?;
        self.check_sessions(a, &batch).await?;
        let count = self.store.tracking().insert_activity(&events).await?;
        Ok(IngestReport {
            received: batch.events.len() as u64,
            inserted: count.inserted,
            duplicates: count.duplicates + events.repeated(),
        })
    }

    /// Refuses a batch whose events name a work session that is not the
    /// agent's: one lookup per session named (a batch names one or two).
    async fn check_sessions(&self, a: &AgentContext, batch: &ActivityBatch) -> Result<()> {
        let mut checked: BTreeMap<WorkSessionId, bool> = BTreeMap::new();
        let mut v = Validator::new();
        for (i, e) in batch.events.iter().enumerate() {
            let Some(id) = e.session_id else { continue };
            let own = match checked.get(&id) {
                Some(own) => *own,
                None => {
                    let stored = self
                        .store
                        .tracking()
                        .get_session(a.company().id, id)
                        .await?;
                    let own = stored.is_some_and(|s| s.user_id == a.principal.user_id());
                    checked.insert(id, own);
                    own
                }
            };
            if !own {
                v.push(
                    format!("events[{i}].session_id"),
                    "is not a work session this agent started",
                );
            }
        }
        v.finish()
    }

    /// Stores a screenshot: refused when the policy disables screenshots
    /// (`PolicyDisabled`) or the plan's storage is full
    /// (`StorageLimitReached`); checked by its header (format and
    /// dimensions) and size. Replaying the same id returns the stored one;
    /// an id another user of the company already stored is a conflict
    /// (`AlreadyExists`), never that user's screenshot.
    ///
    /// While the policy asks for blurred screenshots, the image is blurred
    /// by the service's [`ScreenshotBlur`](crate::ScreenshotBlur) before
    /// anything is written, and stored as `blurred`.
    ///
    /// Each upload writes its bytes under a key of its own, and only the
    /// upload whose row is stored keeps them: uploads of one id racing each
    /// other cannot overwrite the winner's image, and the losers' bytes are
    /// deleted.
    pub async fn upload_screenshot(
        &self,
        a: &AgentContext,
        meta: ScreenshotUpload,
        image: Vec<u8>,
    ) -> Result<Ingested<Screenshot>> {
        let company = a.company();
        let user = a.principal.user_id();
        let format = check_screenshot(
            &image,
            meta.taken_at,
            a.policy(),
            &self.config.ingest,
            self.now(),
        )?;
        if let Some(existing) = self
            .store
            .tracking()
            .get_screenshot(company.id, meta.id)
            .await?
        {
            return replayed(existing, user);
        }
        let plan = self
            .store
            .tenants()
            .get_plan(company.plan_id)
            .await?
            .ok_or(Error::not_found("plan"))?;
        // What the policy asks to blur is blurred here, whatever the agent
        // claims: only the blurred bytes are ever written.
        let (image, format, blurred) = if a.policy().blur_screenshots {
            let image = self.blur.blur(image, format).await?;
            let format = ImageFormat::detect(&image).ok_or_else(|| {
                Error::invalid_state("the blur returned bytes that are not an accepted image")
            })?;
            (image, format, true)
        } else {
            (image, format, meta.blurred)
        };
        let attempt = uuid::Uuid::new_v4().simple().to_string();
        let shot = Screenshot {
            id: meta.id,
            company_id: company.id,
            user_id: user,
            taken_at: crate::clock::normalize(meta.taken_at),
            size_bytes: image.len() as u64,
            sha256: crate::secret::SecretHash::of_bytes(&image),
            content_type: format.media_type().to_owned(),
            blurred,
            blob_key: format!("{}/{}/{}-{}", company.id, user, meta.id, &attempt[..16]),
        };
        self.blobs.put(&shot.blob_key, image).await?;
        let stored = self
            .store
            .tracking()
            .insert_screenshot(&shot, plan.max_storage_bytes)
            .await;
        match stored {
            Ok(ingested) if ingested.inserted => Ok(ingested),
            other => {
                // Refused, or another upload of the id was stored first:
                // these bytes are nobody's. Best effort; a leftover blob
                // is never served (no row names its key).
                let _ = self.blobs.delete(&shot.blob_key).await;
                replayed(other?.stored, user)
            }
        }
    }

    /// The agent's open tasks, a page at a time.
    pub async fn agent_tasks(&self, a: &AgentContext, page: &PageRequest) -> Result<Page<Task>> {
        self.my_tasks(&a.principal, Some(TaskStatus::Open), page)
            .await
    }

    /// What the server knows of this agent's sync.
    pub async fn sync_status(&self, a: &AgentContext) -> Result<SyncStatus> {
        let company = a.company();
        let now = self.now();
        let policy = a.policy();
        let state = self
            .store
            .agents()
            .agent_state(company.id, a.principal.user_id())
            .await?;
        let last = state.as_ref().map(|s| s.last_heartbeat_at);
        Ok(SyncStatus {
            server_time: now,
            last_heartbeat_at: last,
            liveness: liveness_at(last, now),
            policy_version: policy.version,
            agent_policy_version: state.and_then(|s| s.policy_version),
            company_status: company.effective_status(now),
        })
    }

    /// The agents of the users the caller may see, with liveness and
    /// whether they run an outdated policy, ordered by username.
    pub async fn agents(&self, p: &Principal, page: &PageRequest) -> Result<Page<AgentStatus>> {
        let (company, ids) = self.scope(p, Action::ReadTracking, None).await?;
        let now = self.now();
        let policy = self.load_policy(company).await?;
        let states: BTreeMap<UserId, _> = self
            .store
            .agents()
            .list_agent_states(company)
            .await?
            .into_iter()
            .map(|s| (s.user_id, s))
            .collect();
        let users = self
            .all_users(
                company,
                &UserFilter {
                    ids,
                    active: Some(true),
                    ..UserFilter::default()
                },
            )
            .await?;
        let agents = users
            .iter()
            .map(|u| agent_status(u, states.get(&u.id), &policy, now))
            .collect();
        Page::of_all(agents, page, |a| a.username.clone())
    }

    /// The caller's own agent: its liveness and the policy version it runs
    /// (every company user).
    pub async fn my_agent(&self, p: &Principal) -> Result<AgentStatus> {
        let company = Self::company_of(p, Action::ReadTracking)?.id;
        authorize(p, Action::ReadTracking, Target::user(company, p.user_id()))?;
        let policy = self.load_policy(company).await?;
        let state = self
            .store
            .agents()
            .agent_state(company, p.user_id())
            .await?;
        Ok(agent_status(p.user(), state.as_ref(), &policy, self.now()))
    }
}

/// One user's agent as the lists show it.
fn agent_status(
    user: &User,
    state: Option<&AgentState>,
    policy: &TrackingPolicy,
    now: DateTime<Utc>,
) -> AgentStatus {
    let last = state.map(|s| s.last_heartbeat_at);
    let version = state.and_then(|s| s.policy_version);
    AgentStatus {
        user_id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        last_heartbeat_at: last,
        liveness: liveness_at(last, now),
        policy_version: version,
        policy_outdated: state.is_some() && version.is_none_or(|v| v < policy.version),
        agent_version: state.and_then(|s| s.agent_version.clone()),
    }
}

/// The answer to an upload whose id is already stored: the stored
/// screenshot for its own user, a conflict for anyone else.
fn replayed(stored: Screenshot, user: UserId) -> Result<Ingested<Screenshot>> {
    if stored.user_id != user {
        return Err(Error::AlreadyExists {
            entity: "screenshot",
            value: stored.id.to_string(),
        });
    }
    Ok(Ingested {
        stored,
        inserted: false,
    })
}
