//! `tracker-sqlite` will hold the embedded default store of `tracker`: every
//! storage trait of `tracker-core` on rusqlite (bundled SQLite), with a
//! versioned schema, WAL, group commit and the conformance kit passing.
//!
//! It holds no code yet: use `tracker_core::MemoryStore` (feature `memory`)
//! or implement `tracker_core::Store` until it lands.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
