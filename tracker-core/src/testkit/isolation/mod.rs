//! Tenant isolation as a property.
//!
//! Each case builds a small platform through the public [`Tracker`](crate::Tracker) API (an
//! OWNER, 2 or 3 companies with an ADMIN, two MANAGERs with a team each and
//! a few EMPLOYEEs), then applies 20 to 60 random operations by random
//! callers: agent ingest, policy changes, tasks, corrections, every read,
//! owner operations, and writes the matrix forbids. The test keeps its own
//! model of who belongs where and what was stored, and after every
//! operation checks:
//!
//! 1. the outcome (Ok, or the exact error code the rules in `authz.rs`
//!    give: another tenant's object or user is `not_found`, never
//!    `forbidden`);
//! 2. every item returned belongs to the caller's company and to a user the
//!    caller may see, and the set returned is exactly the model's (so a
//!    missing company or user filter, or an over-eager one, fails);
//! 3. the serialized answer names no user or company of another tenant (and
//!    for the OWNER, no company user at all);
//! 4. the store changed only where the operation may change it: a refused
//!    or read-only operation changes nothing, a write changes only the
//!    caller's company, and audit chains grow by exactly the audited writes.
//!
//! At the end of a case every audit chain verifies and the store holds
//! exactly the model's data, each item in its own company.
//!
//! Run it against your own store with proptest:
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
//! This crate runs it on the memory store; the workspace's `tests/isolation.rs`
//! runs it on a SQLite file and on PostgreSQL (a fresh schema per case).

use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::store::Store;
use crate::testkit::PNG;

mod admin;
mod checks;
mod input;
mod model;
mod ops;
mod privacy;
mod reads;

use input::{CompanySpec, Op, company_spec, op};
use model::World;

const TIMEZONES: [&str; 3] = ["UTC", "Europe/Berlin", "America/New_York"];
/// A well-formed company key that belongs to no company.
const UNKNOWN_KEY: &str = "company_00000000000000000000000000000000";

/// The answer as JSON, to search it for names it must not hold.
macro_rules! json {
    ($value:expr) => {
        serde_json::to_string($value).expect("serializes")
    };
}
use json;

/// One random case: the shape of 2 or 3 companies and 20 to 60 operations
/// by random callers. Shrinks to a smaller platform and fewer operations.
#[derive(Debug, Clone)]
pub struct Case {
    companies: Vec<CompanySpec>,
    ops: Vec<Op>,
}

/// The strategy of [`Case`]s.
pub fn case() -> impl Strategy<Value = Case> {
    (vec(company_spec(), 2..=3), vec(op(), 20..=60))
        .prop_map(|(companies, ops)| Case { companies, ops })
}

/// Proptest settings: `cases` cases unless `PROPTEST_CASES` says otherwise,
/// and no regression files written into the source tree.
pub fn config(cases: u32) -> ProptestConfig {
    // `ProptestConfig::default()` has already applied PROPTEST_CASES; an
    // explicit `cases` would override it, so only set ours when it is unset.
    let default = ProptestConfig::default();
    let cases = match std::env::var_os("PROPTEST_CASES") {
        Some(_) => default.cases,
        None => cases,
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..default
    }
}

/// Builds the case's platform on a fresh, empty `store`, applies its
/// operations and checks each (see the [module docs](self)). The error
/// names the step, the caller and the broken rule.
pub async fn run(store: Arc<dyn Store>, case: &Case) -> Result<(), TestCaseError> {
    let mut world = World::build(store, &case.companies).await;
    for (step, op) in case.ops.iter().enumerate() {
        Box::pin(world.apply(step, op)).await?;
    }
    world.finish().await
}
