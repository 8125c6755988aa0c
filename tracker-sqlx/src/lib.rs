//! `tracker-sqlx` will hold the PostgreSQL store of `tracker`: every storage
//! trait of `tracker-core` on sqlx, with migrations in its own schema and a
//! layout that can be distributed by company id.
//!
//! It holds no code yet: use `tracker_core::MemoryStore` (feature `memory`)
//! or implement `tracker_core::Store` until it lands.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
