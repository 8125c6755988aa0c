//! What runs beside the requests, for any web framework or none: the
//! background jobs on tokio intervals ([`scheduler`]) and the signed
//! webhook notifier of alerts ([`webhook`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use tracker_core::{MemoryStore, Tracker, store::Store};
//! use tracker_jobs::scheduler::{JobBoard, JobSchedule, spawn_jobs};
//! use tracker_jobs::webhook::{WebhookConfig, WebhookNotifier};
//!
//! # #[tokio::main] async fn main() {
//! let notifier = WebhookNotifier::new(WebhookConfig::default()).expect("TLS roots load");
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let tracker = Arc::new(Tracker::builder_shared(store).notifier(Arc::new(notifier)).build());
//! let board = JobBoard::default();
//! let jobs = spawn_jobs(tracker, JobSchedule::default(), board.clone());
//! # drop(jobs);
//! # }
//! ```
//!
//! The jobs themselves are library functions of [`Tracker`](tracker_core::Tracker);
//! an integrator with a scheduler of its own calls them directly and needs
//! only the [`webhook`] module from here. `tracker-axum` shows a
//! [`JobBoard`](scheduler::JobBoard) in `/readyz` and `/metrics`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod scheduler;
pub mod webhook;
