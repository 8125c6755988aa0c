//! The storage ports of `tracker-core` on [`PgStore`](crate::PgStore), one
//! module per trait. Each impl runs its statements through the helpers
//! below it ([`sql`](crate::sql), [`tx`](crate::tx),
//! [`chain`](crate::chain), [`shared`](crate::shared),
//! [`ingest`](crate::ingest)), which never call back up into these modules.
//!
//! Provided methods of the ports that one statement answers faster than
//! the default over the list (`get_*`, lookups by key, counts, report
//! reads) are overridden here.

mod access;
mod agents;
mod alerts;
mod audit;
mod policy;
mod retention;
mod tasks;
mod teams;
mod tenants;
mod tracking;
mod usage;
mod users;
