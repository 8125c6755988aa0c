//! Alerts: the detection job, and what ADMIN reads and configures.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditAction, AuditChain};
use crate::authz::{Action, Principal};
use crate::error::{Error, Result, Validator};
use crate::ids::{AlertId, CompanyId, DeliveryId, UserId};
use crate::notify::{
    Alert, AlertEvent, AlertFilter, AlertKind, AlertSettings, AlertSettingsUpdate,
    AlertSettingsView, DeliveryRecord,
};
use crate::paging::{Page, PageRequest};
use crate::protocol::AlertQuery;
use crate::report::local_date;
use crate::store::{Store, UserFilter};
use crate::tenancy::{Company, CompanyStatus};

use super::Tracker;
use super::jobs::AlertRun;

/// An alert with its webhook deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertDetail {
    /// The alert.
    pub alert: Alert,
    /// Every delivery attempt, oldest first.
    pub deliveries: Vec<DeliveryRecord>,
}

/// A condition that holds now: the alert it would raise.
struct Finding {
    user_id: Option<UserId>,
    message: String,
    details: serde_json::Value,
}

impl<S: Store + ?Sized> Tracker<S> {
    // ---- ADMIN ------------------------------------------------------------

    /// The company's alerts (ADMIN), filtered, ordered by id (oldest first).
    pub async fn alerts(
        &self,
        p: &Principal,
        q: &AlertQuery,
        page: &PageRequest,
    ) -> Result<Page<Alert>> {
        let company = self.alerts_company(p)?;
        let filter = AlertFilter {
            open: q.open,
            kind: q.kind,
            ..AlertFilter::default()
        };
        self.store
            .alerts()
            .list_alerts(Some(company), &filter, page)
            .await
    }

    /// One alert with its delivery attempts (ADMIN).
    pub async fn alert(&self, p: &Principal, id: AlertId) -> Result<AlertDetail> {
        let company = self.alerts_company(p)?;
        let alert = self
            .store
            .alerts()
            .get_alert(company, id)
            .await?
            .ok_or(Error::not_found("alert"))?;
        let deliveries = self.store.alerts().list_deliveries(company, id).await?;
        Ok(AlertDetail { alert, deliveries })
    }

    /// The company's alert settings (ADMIN), without webhook secrets.
    pub async fn alert_settings(&self, p: &Principal) -> Result<AlertSettingsView> {
        let company = self.alerts_company(p)?;
        Ok(self.settings_of(company).await?.view())
    }

    /// Changes the alert settings (ADMIN), audited with the old and new
    /// values (secrets never written). A webhook URL the notifier would not
    /// deliver to is refused, named.
    pub async fn update_alert_settings(
        &self,
        p: &Principal,
        update: AlertSettingsUpdate,
    ) -> Result<AlertSettingsView> {
        let company = self.alerts_company(p)?;
        update.validate()?;
        if let Some(hooks) = &update.webhooks {
            let mut v = Validator::new();
            for (i, h) in hooks.iter().enumerate() {
                if let Err(why) = self.notifier.check_target(&h.url) {
                    v.push(format!("webhooks[{i}].url"), why);
                }
            }
            v.finish()?;
        }
        let old = self.settings_of(company).await?;
        let new = old.apply(&update, self.now())?;
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::AlertSettingsUpdated,
            "alert settings updated".into(),
            serde_json::json!({ "old": old.view(), "new": new.view() }),
        );
        self.store.alerts().put_alert_settings(&new, audit).await?;
        Ok(new.view())
    }

    fn alerts_company(&self, p: &Principal) -> Result<CompanyId> {
        let company = Self::company_for(p, Action::ManageAlerts)?.id;
        Ok(company)
    }

    async fn settings_of(&self, company: CompanyId) -> Result<AlertSettings> {
        Ok(self
            .store
            .alerts()
            .get_alert_settings(company)
            .await?
            .unwrap_or_else(|| AlertSettings::default_for(company, self.now())))
    }

    // ---- the job ----------------------------------------------------------

    /// Checks every company's alert conditions: raises an alert for each
    /// condition that holds and has no open alert (no-sync: an ACTIVE
    /// company without sync for the configured hours; agent offline: an
    /// employee with an open session and no heartbeat for the configured
    /// minutes; high idle: an employee whose idle share of yesterday's
    /// tracked time passed the threshold), resolves each open alert whose
    /// condition cleared (or whose kind was turned off), and sends both
    /// through the notifier to every webhook, keeping each attempt.
    pub async fn check_alerts(&self) -> Result<AlertRun> {
        let now = self.now();
        let mut run = AlertRun::default();
        for company in self.store.tenants().all_companies().await? {
            let mut share = AlertRun::default();
            let checked = self.leased("alerts", company.id, async {
                self.check_company(&company, now, &mut share).await
            });
            match checked.await? {
                Some(()) => run.add(&share),
                None => run.skipped += 1,
            }
        }
        Ok(run)
    }

    async fn check_company(
        &self,
        company: &Company,
        now: DateTime<Utc>,
        run: &mut AlertRun,
    ) -> Result<()> {
        let settings = self.settings_of(company.id).await?;
        let no_sync = self.no_sync_findings(company, &settings, now);
        self.reconcile(company, &settings, AlertKind::NoSync, no_sync, run)
            .await?;
        // Suspended and expired companies' agents are told to stop:
        // their silence is not news.
        let tracking = company.check_access(now).is_ok();
        let offline = if tracking && settings.agent_offline_enabled {
            self.offline_findings(company, &settings, now).await?
        } else {
            Vec::new()
        };
        self.reconcile(company, &settings, AlertKind::AgentOffline, offline, run)
            .await?;
        let idle = if tracking && settings.high_idle_enabled {
            self.idle_findings(company, &settings, now).await?
        } else {
            Vec::new()
        };
        self.reconcile(company, &settings, AlertKind::HighIdle, idle, run)
            .await
    }

    fn no_sync_findings(
        &self,
        company: &Company,
        settings: &AlertSettings,
        now: DateTime<Utc>,
    ) -> Vec<Finding> {
        let since = company.last_sync_at.unwrap_or(company.created_at);
        let hours = now - since;
        if !settings.no_sync_enabled
            || company.effective_status(now) != CompanyStatus::Active
            || hours < Duration::hours(i64::from(settings.no_sync_hours))
        {
            return Vec::new();
        }
        vec![Finding {
            user_id: None,
            message: format!(
                "no agent of {:?} has synced for {} hours",
                company.name,
                hours.num_hours()
            ),
            details: serde_json::json!({
                "last_sync_at": company.last_sync_at,
                "hours_without_sync": hours.num_hours(),
            }),
        }]
    }

    async fn offline_findings(
        &self,
        company: &Company,
        settings: &AlertSettings,
        now: DateTime<Utc>,
    ) -> Result<Vec<Finding>> {
        let limit = Duration::minutes(i64::from(settings.offline_minutes));
        let sessions = self.store.tracking().open_sessions(company.id).await?;
        let beats: BTreeMap<UserId, DateTime<Utc>> = self
            .store
            .agents()
            .list_agent_states(company.id)
            .await?
            .into_iter()
            .map(|s| (s.user_id, s.last_heartbeat_at))
            .collect();
        let users = self.user_names(company.id).await?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for s in sessions {
            // A session is a promise of heartbeats from its start on.
            let last = beats
                .get(&s.user_id)
                .copied()
                .unwrap_or(s.started_at)
                .max(s.started_at);
            let Some(name) = users.get(&s.user_id) else {
                continue;
            };
            if now - last < limit || !seen.insert(s.user_id) {
                continue;
            }
            out.push(Finding {
                user_id: Some(s.user_id),
                message: format!(
                    "{name}'s agent has not sent a heartbeat for {} minutes during an open session",
                    (now - last).num_minutes()
                ),
                details: serde_json::json!({
                    "session_id": s.id,
                    "last_heartbeat_at": beats.get(&s.user_id),
                    "minutes_without_heartbeat": (now - last).num_minutes(),
                }),
            });
        }
        Ok(out)
    }

    async fn idle_findings(
        &self,
        company: &Company,
        settings: &AlertSettings,
        now: DateTime<Utc>,
    ) -> Result<Vec<Finding>> {
        let day = local_date(company.tz(), now) - Duration::days(1);
        let users = self
            .all_users(
                company.id,
                &UserFilter {
                    ids: None,
                    active: Some(true),
                    ..UserFilter::default()
                },
            )
            .await?;
        let cells = self.grid(company, &users, day, day).await?;
        let min = u64::from(settings.high_idle_min_minutes) * 60;
        let mut out = Vec::new();
        for c in cells {
            let t = &c.totals;
            let tracked = t.active_seconds + t.idle_seconds;
            if tracked == 0 || tracked < min {
                continue;
            }
            let percent = t.idle_seconds * 100 / tracked;
            if percent <= u64::from(settings.high_idle_percent) {
                continue;
            }
            let name = users
                .iter()
                .find(|u| u.id == c.user_id)
                .map_or_else(String::new, |u| u.username.clone());
            out.push(Finding {
                user_id: Some(c.user_id),
                message: format!(
                    "{name} was idle {percent}% of {} tracked minutes on {day}",
                    tracked / 60
                ),
                details: serde_json::json!({
                    "date": day,
                    "idle_percent": percent,
                    "active_seconds": t.active_seconds,
                    "idle_seconds": t.idle_seconds,
                }),
            });
        }
        Ok(out)
    }

    async fn user_names(&self, company: CompanyId) -> Result<BTreeMap<UserId, String>> {
        Ok(self
            .all_users(company, &UserFilter::default())
            .await?
            .into_iter()
            .map(|u| (u.id, u.username))
            .collect())
    }

    /// Opens an alert per finding without one, resolves open alerts of
    /// `kind` without a finding, and notifies both.
    async fn reconcile(
        &self,
        company: &Company,
        settings: &AlertSettings,
        kind: AlertKind,
        findings: Vec<Finding>,
        run: &mut AlertRun,
    ) -> Result<()> {
        let now = self.now();
        let store = self.store.alerts();
        let open = store.open_alerts(Some(company.id), kind).await?;
        let subjects: BTreeSet<Option<UserId>> = findings.iter().map(|f| f.user_id).collect();
        for alert in open.iter().filter(|a| !subjects.contains(&a.user_id)) {
            if let Some(resolved) = store.resolve_alert(company.id, alert.id, now).await? {
                run.resolved += 1;
                self.deliver(settings, &resolved, AlertEvent::Resolved, run)
                    .await?;
            }
        }
        for f in findings {
            if open.iter().any(|a| a.user_id == f.user_id) {
                continue;
            }
            let alert = Alert {
                id: AlertId::new(),
                kind,
                company_id: company.id,
                user_id: f.user_id,
                message: f.message,
                details: f.details,
                raised_at: now,
                resolved_at: None,
            };
            let stored = store.open_alert(&alert).await?;
            if stored.inserted {
                run.raised += 1;
                self.deliver(settings, &stored.stored, AlertEvent::Raised, run)
                    .await?;
            }
        }
        Ok(())
    }

    async fn deliver(
        &self,
        settings: &AlertSettings,
        alert: &Alert,
        event: AlertEvent,
        run: &mut AlertRun,
    ) -> Result<()> {
        for target in &settings.webhooks {
            let attempts = self.notifier.notify(alert, event, target).await;
            if attempts.iter().any(|a| a.delivered) {
                run.delivered += 1;
            } else {
                run.failed += 1;
            }
            let records: Vec<DeliveryRecord> = attempts
                .into_iter()
                .map(|a| DeliveryRecord {
                    id: DeliveryId::new(),
                    company_id: alert.company_id,
                    alert_id: alert.id,
                    event,
                    url: target.url.clone(),
                    attempt: a.attempt,
                    at: a.at,
                    status: a.status,
                    error: a.error,
                    delivered: a.delivered,
                })
                .collect();
            self.store.alerts().insert_deliveries(&records).await?;
        }
        Ok(())
    }

    /// Open no-sync alerts by company, for the OWNER's numbers.
    pub(super) async fn open_no_sync_alerts(&self) -> Result<BTreeMap<CompanyId, DateTime<Utc>>> {
        Ok(self
            .store
            .alerts()
            .open_alerts(None, AlertKind::NoSync)
            .await?
            .into_iter()
            .map(|a| (a.company_id, a.raised_at))
            .collect())
    }
}
