//! The conformance kit: the contract of the [storage ports](crate::store)
//! as async checks that any [`Store`] must pass.
//!
//! Each check takes a fresh, empty store, builds its own data, and panics
//! with a message naming the broken rule. The memory store, the SQLite and
//! PostgreSQL adapters, and your own store run the same checks. The
//! [`conformance_tests!`](crate::conformance_tests) macro expands to one test
//! per check, so a failure names its case:
//!
//! ```
//! // In a test file of your store's crate:
//! tracker_core::conformance_tests!(
//!     block_on = futures::executor::block_on,
//!     store = tracker_core::MemoryStore::new(),
//! );
//! # fn main() {}
//! ```
//!
//! With tokio, `attr = #[tokio::test]` replaces `block_on = …`. The `store`
//! expression is evaluated inside the async test body, once per case, so it
//! may `.await`; it may also be a tuple `(store, guard)` whose guard (a temp
//! directory, a database handle) lives as long as the case.

mod agents;
mod alerts;
mod audit;
mod fixtures;
pub mod isolation;
mod lookups;
mod privacy;
mod retention;
mod tasks;
mod teams;
mod tenants;
mod tracking;
mod usage;
mod users;

pub use agents::*;
pub use alerts::*;
pub use audit::*;
pub use fixtures::{Fixture, PNG, UnchangedBlur, add_user, company, insert_events, new_user};
pub use lookups::*;
pub use privacy::*;
pub use retention::*;
pub use tasks::*;
pub use teams::*;
pub use tenants::*;
pub use tracking::*;
pub use usage::*;
pub use users::*;

use crate::store::Store;

/// Lets a case hold a store together with what must outlive it.
pub trait AsStore {
    /// The store.
    fn as_store(&self) -> &dyn Store;
}

impl<S: Store> AsStore for S {
    fn as_store(&self) -> &dyn Store {
        self
    }
}

impl<S: Store, G> AsStore for (S, G) {
    fn as_store(&self) -> &dyn Store {
        &self.0
    }
}

/// Expands to one test per conformance check. See the [module docs](crate::testkit).
#[macro_export]
macro_rules! conformance_tests {
    (attr = #[$attr:meta], store = $make:expr $(,)?) => {
        $crate::__conformance_cases!(__conformance_async_case, [$attr], $make);
    };
    (block_on = $run:path, store = $make:expr $(,)?) => {
        $crate::__conformance_cases!(__conformance_sync_case, [$run], $make);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_async_case {
    ([$attr:meta], $make:expr, $name:ident) => {
        #[$attr]
        async fn $name() {
            let store = $make;
            $crate::testkit::$name($crate::testkit::AsStore::as_store(&store)).await;
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_sync_case {
    ([$run:path], $make:expr, $name:ident) => {
        #[test]
        fn $name() {
            $run(async {
                let store = $make;
                $crate::testkit::$name($crate::testkit::AsStore::as_store(&store)).await;
            })
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($case:ident, $extra:tt, $make:expr) => {
        $crate::__conformance_cases!(@each $case, $extra, $make;
            plans_are_unique_by_code,
            companies_are_stored_whole,
            company_updates_check_limits,
            companies_page_by_id,
            users_are_scoped_to_their_company,
            seats_are_enforced_atomically,
            transitions_apply_to_the_state_they_expect,
            users_page_and_filter,
            tokens_are_stored_and_revoked,
            token_contexts_follow_every_write,
            heartbeats_update_sync_times,
            teams_are_scoped_and_named_uniquely,
            policy_updates_are_versioned,
            privacy_rules_and_consent_are_stored_whole,
            access_records_add_up_and_stay_in_their_company,
            erasure_and_holds_keep_to_their_people,
            kinds_are_purged_at_their_own_age,
            audit_chains_are_continuous_and_independent,
            audit_lists_filter_and_page,
            audited_mutations_append_exactly_one_event,
            checkpoints_append_in_order_per_chain,
            sessions_are_idempotent_and_scoped,
            activity_ingest_is_idempotent_and_scoped,
            event_ids_are_unique_per_user,
            activity_between_selects_overlaps,
            company_activity_spans_users,
            screenshots_respect_storage_limits,
            tasks_are_scoped_and_paged,
            corrections_are_decided_once,
            usage_rows_upsert_by_day,
            day_rollups_match_the_events,
            usage_sums_match_the_events,
            usage_marks_follow_ingest,
            open_sessions_are_listed_per_company,
            purges_delete_only_old_rows_of_their_company,
            alerts_stay_open_once_per_subject,
            alert_settings_and_deliveries_are_scoped,
            lookups_by_id_and_key_stay_in_their_company,
        );
    };
    (@each $case:ident, $extra:tt, $make:expr; $($name:ident,)*) => {
        $( $crate::$case!($extra, $make, $name); )*
    };
}
