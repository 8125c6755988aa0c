//! Company timezones, cached for cutting activity into local days.
//!
//! A cached name is checked by the ingest statement itself (see
//! [`ingest`](crate::ingest)), so a stale entry is never used: a company
//! moved by another node is read again and the batch cut again.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono_tz::Tz;
use sqlx::Row;
use tracker_core::CompanyId;
use tracker_core::tenancy::parse_timezone;

use crate::PgStore;
use crate::codec::R;
use crate::error::db;
use crate::scope::Scope;

/// The company's timezone as stored (`None` for an unknown company) and
/// as used (UTC when it is unknown or unreadable).
#[derive(Clone)]
pub(crate) struct CompanyZone {
    pub(crate) name: Option<String>,
    pub(crate) tz: Tz,
}

/// Timezones of the companies this node ingested for.
#[derive(Default)]
pub(crate) struct ZoneCache(Mutex<HashMap<CompanyId, CompanyZone>>);

impl ZoneCache {
    /// The company's zone, from the cache or else from `companies`.
    pub(crate) async fn zone(&self, store: &PgStore, company: CompanyId) -> R<CompanyZone> {
        if let Some(z) = self.cached(company) {
            return Ok(z);
        }
        let name: Option<String> = sqlx::query("SELECT timezone FROM companies WHERE id = $1")
            .bind(company.0)
            .fetch_optional(&mut *store.conn(Scope::of(company)).await?)
            .await
            .map_err(db)?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(db)?;
        let zone = CompanyZone {
            tz: name.as_deref().and_then(parse_timezone).unwrap_or(Tz::UTC),
            name,
        };
        if zone.name.is_some()
            && let Ok(mut map) = self.0.lock()
        {
            map.insert(company, zone.clone());
        }
        Ok(zone)
    }

    fn cached(&self, company: CompanyId) -> Option<CompanyZone> {
        self.0.lock().ok()?.get(&company).cloned()
    }

    /// Drops a cached timezone (after a company update, or when the ingest
    /// statement found it stale).
    pub(crate) fn forget(&self, company: CompanyId) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(&company);
        }
    }
}
