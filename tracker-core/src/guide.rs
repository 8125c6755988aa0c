//! Implementing your own store: the whole storage port in an afternoon.
//!
//! An integrator whose product already keeps its data somewhere (another
//! database, a service of its own) implements the [storage port](crate::store)
//! on one type and gets the whole product on it: the [`Tracker`](crate::Tracker)
//! service, the HTTP adapter, the console, the jobs.
//!
//! # The worked example
//!
//! [`MemoryStore`](crate::MemoryStore) is a complete store of a few hundred
//! lines: maps behind one lock, implementing only the required methods, one
//! file per group of ports (`src/memory/people.rs`, `tracking.rs`,
//! `work.rs`). Copy it and replace the maps with your storage.
//!
//! # The steps
//!
//! 1. Implement every trait below on one type, with
//!    `#[tracker_core::async_trait]` (re-exported: no dependency of your
//!    own). [`Store`](crate::store::Store) then comes for free.
//! 2. Write each audited change and its audit event in one transaction: the
//!    traits that take a [`NewAuditEvent`](crate::NewAuditEvent) and
//!    [`AuditStore`](crate::store::AuditStore) belong to one transactional
//!    store.
//! 3. Scope every query by the company it is given; what belongs to another
//!    company is absent. The filter structs' `matches` methods say what a
//!    list's filter means.
//! 4. Run the conformance kit (feature `testkit`) and the isolation attack
//!    on your store, as below; each failure names the broken sentence of a
//!    trait's contract.
//! 5. Override a provided method only when you can answer it faster (the
//!    SQL stores read one row where the default lists); the kit checks it
//!    either way.
//!
//! | trait | required | provided over them |
//! |---|---|---|
//! | [`TenantStore`](crate::store::TenantStore) | `insert_plan`, `list_plans`, `insert_company`, `list_companies`, `update_company`, `list_subscriptions` | `get_plan`, `plan_by_code`, `get_company`, `company_by_key_hash`, `all_companies` |
//! | [`UserStore`](crate::store::UserStore) | `insert_user`, `list_users`, `update_user` | `get_user`, `user_by_username`, `count_seats`, `has_owner` |
//! | [`TeamStore`](crate::store::TeamStore) | `save_team`, `list_teams`, `delete_team` | `get_team` |
//! | [`AgentStore`](crate::store::AgentStore) | `insert_token`, `token_context`, `delete_token`, `record_heartbeat`, `list_agent_states` | `agent_state` |
//! | [`PolicyStore`](crate::store::PolicyStore) | `get_policy`, `update_policy` | |
//! | [`AuditStore`](crate::store::AuditStore) | `append_audit`, `list_audit`, `append_checkpoint`, `list_checkpoints` | `read_chain`, `last_checkpoint`, `audit_head` |
//! | [`TrackingStore`](crate::store::TrackingStore) | `insert_session`, `stop_session`, `list_sessions`, `insert_activity`, `list_activity`, `insert_screenshot`, `list_screenshots` | `open_sessions`, `get_session`, `get_screenshot`, `activity_between`, `storage_used`, `day_rollups` |
//! | [`RetentionStore`](crate::store::RetentionStore) | `purge_tracking`, `purge_progress`, `finish_purge` | |
//! | [`UsageStore`](crate::store::UsageStore) | `upsert_usage`, `list_usage`, `pending_usage_days`, `clear_pending_usage` | |
//! | [`TaskStore`](crate::store::TaskStore) | `save_task`, `list_tasks` | `get_task` |
//! | [`CorrectionStore`](crate::store::CorrectionStore) | `save_correction`, `list_corrections` | `get_correction`, `approved_corrections` |
//! | [`AlertStore`](crate::store::AlertStore) | `open_alert`, `list_alerts`, `resolve_alert`, `get_alert_settings`, `put_alert_settings`, `insert_deliveries`, `list_deliveries` | `get_alert`, `open_alerts` |
//!
//! One glob import names everything the signatures use. A port of two
//! of the traits, on maps behind a lock:
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use tracker_core::store::*;
//!
//! #[derive(Default)]
//! struct Policies(Mutex<HashMap<CompanyId, TrackingPolicy>>);
//!
//! #[tracker_core::async_trait]
//! impl PolicyStore for Policies {
//!     async fn get_policy(&self, company: CompanyId) -> Result<Option<TrackingPolicy>> {
//!         Ok(self.0.lock().unwrap().get(&company).cloned())
//!     }
//!     async fn update_policy(&self, policy: &TrackingPolicy, _audit: NewAuditEvent) -> Result<()> {
//!         let mut map = self.0.lock().unwrap();
//!         let stored = map.get(&policy.company_id).ok_or(Error::not_found("policy"))?;
//!         if stored.revision() + 1 != policy.revision() {
//!             return Err(Error::invalid_state("the policy changed meanwhile"));
//!         }
//!         // A real store appends `_audit` in the same transaction.
//!         map.insert(policy.company_id, policy.clone());
//!         Ok(())
//!     }
//! }
//!
//! #[derive(Default)]
//! struct Teams(Mutex<Vec<Team>>);
//!
//! #[tracker_core::async_trait]
//! impl TeamStore for Teams {
//!     async fn save_team(&self, team: &Team, _audit: NewAuditEvent) -> Result<()> {
//!         let mut teams = self.0.lock().unwrap();
//!         let same = |t: &Team| t.company_id == team.company_id;
//!         if teams.iter().any(|t| same(t) && t.id != team.id && t.name == team.name) {
//!             return Err(Error::AlreadyExists { entity: "team", value: team.name.clone() });
//!         }
//!         match teams.iter_mut().find(|t| same(t) && t.id == team.id) {
//!             Some(slot) => *slot = team.clone(),
//!             None => teams.push(team.clone()),
//!         }
//!         Ok(())
//!     }
//!     async fn list_teams(&self, company: CompanyId) -> Result<Vec<Team>> {
//!         let mut teams: Vec<Team> =
//!             self.0.lock().unwrap().iter().filter(|t| t.company_id == company).cloned().collect();
//!         teams.sort_by(|a, b| a.name.cmp(&b.name));
//!         Ok(teams)
//!     }
//!     async fn delete_team(&self, company: CompanyId, id: TeamId, _audit: NewAuditEvent) -> Result<()> {
//!         let mut teams = self.0.lock().unwrap();
//!         let before = teams.len();
//!         teams.retain(|t| !(t.id == id && t.company_id == company));
//!         if teams.len() == before { Err(Error::not_found("team")) } else { Ok(()) }
//!     }
//! }
//! # let _ = (Policies::default(), Teams::default());
//! ```
//!
//! # Running the kit
//!
//! In a test file of your store's crate, with `tracker-core`'s `testkit`
//! feature as a dev-dependency (the `store` expression is evaluated once
//! per case, so each case gets a fresh store):
//!
//! ```
//! tracker_core::conformance_tests!(
//!     block_on = futures::executor::block_on,
//!     store = tracker_core::MemoryStore::new(),
//! );
//! # fn main() {}
//! ```
//!
//! and the model-based attack on tenant isolation, which drives the
//! service with random callers and checks every answer and every change of
//! the store against its own model:
//!
//! ```
//! use std::sync::Arc;
//! use proptest::test_runner::TestRunner;
//! use tracker_core::{MemoryStore, testkit::isolation};
//!
//! // In a test, `proptest! { #[test] fn …(case in isolation::case()) { … } }`
//! // does the same and prints the shrunk case on failure.
//! let mut runner = TestRunner::new(isolation::config(2));
//! runner
//!     .run(&isolation::case(), |case| {
//!         let store = Arc::new(MemoryStore::new());
//!         futures::executor::block_on(isolation::run(store, &case))
//!     })
//!     .expect("tenants stay isolated");
//! ```
//!
//! A single check can also be called directly, for instance while a store
//! is half written:
//!
//! ```
//! # futures::executor::block_on(async {
//! let store = tracker_core::MemoryStore::new();
//! tracker_core::testkit::lookups_by_id_and_key_stay_in_their_company(&store).await;
//! # });
//! ```
