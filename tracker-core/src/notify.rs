//! The [`Notifier`] port: how alerts leave the system.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{CompanyId, UserId};

/// Kinds of alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// An ACTIVE company had no agent sync for 24 hours.
    NoSync,
    /// An employee with an open session stopped heartbeating.
    AgentOffline,
    /// An employee's idle share passed the threshold for a day.
    HighIdle,
}

/// An alert to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Kind.
    pub kind: AlertKind,
    /// Company concerned.
    pub company_id: CompanyId,
    /// User concerned, for per-user alerts.
    pub user_id: Option<UserId>,
    /// A sentence for people.
    pub message: String,
    /// When it was raised.
    pub raised_at: DateTime<Utc>,
}

/// Delivers alerts (webhooks, chat, email gateways).
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Delivers one alert; an error means it was not delivered.
    async fn notify(&self, alert: &Alert) -> Result<()>;
}

const _: Option<&dyn Notifier> = None;

/// A notifier that keeps what it is given: tests and demos.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    sent: std::sync::Mutex<Vec<Alert>>,
}

impl RecordingNotifier {
    /// The alerts delivered so far.
    pub fn sent(&self) -> Vec<Alert> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn notify(&self, alert: &Alert) -> Result<()> {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(alert.clone());
        Ok(())
    }
}
