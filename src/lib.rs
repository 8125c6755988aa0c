#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use tracker_core::*;

/// The embedded SQLite store.
#[cfg(feature = "sqlite")]
pub use tracker_sqlite as sqlite;

/// The PostgreSQL store.
#[cfg(feature = "postgres")]
pub use tracker_sqlx as postgres;

/// The HTTP adapter: the axum router.
#[cfg(feature = "axum")]
pub use tracker_axum as axum;

/// The background jobs on tokio and the webhook notifier.
#[cfg(feature = "jobs")]
pub use tracker_jobs as jobs;

/// The web console.
#[cfg(feature = "console")]
pub use tracker_console as console;
