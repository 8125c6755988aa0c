//! What every operation and the end of a case are checked against.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::audit::AuditChain;
use crate::store::{TrackingFilter, UserFilter};
use crate::{CompanyId, Role, UserId};

use super::model::*;
use super::*;

impl World {
    pub(super) fn check_no_leak(
        &self,
        ctx: &str,
        who: Who,
        answer: &str,
    ) -> Result<(), TestCaseError> {
        for s in self.foreign_strings(who) {
            prop_assert!(
                !answer.contains(&s),
                "{}: the answer names {} which the caller must not see: {}",
                ctx,
                s,
                answer
            );
        }
        Ok(())
    }

    /// Every item's (company, user) is the caller's company and an expected
    /// user, and the ids are exactly the expected ones.
    pub(super) fn check_items<I: Ord + std::fmt::Debug>(
        &self,
        ctx: &str,
        who: Who,
        items: impl IntoIterator<Item = (I, CompanyId, UserId)>,
        expected_users: &BTreeSet<UserId>,
        expected_ids: BTreeSet<I>,
    ) -> Result<(), TestCaseError> {
        let Who::User(i) = who else {
            return Err(TestCaseError::fail(format!("{ctx}: OWNER got items")));
        };
        let own = self.companies[self.users[i].company].id;
        let mut ids = BTreeSet::new();
        for (id, company, user) in items {
            prop_assert_eq!(
                company,
                own,
                "{}: an item of another company: {:?}",
                ctx,
                id
            );
            prop_assert!(
                expected_users.contains(&user),
                "{}: an item of user {} the caller may not see (or did not ask for): {:?}",
                ctx,
                user,
                id
            );
            ids.insert(id);
        }
        prop_assert_eq!(ids, expected_ids, "{}: not exactly the expected items", ctx);
        Ok(())
    }

    // ---- the store, as a whole ---------------------------------------------------

    /// Everything the store holds, per scope, serialized.
    pub(super) async fn snapshot(&self) -> Snapshot {
        let s = self.tracker.store();
        let (t, u, tr, w) = (s.tenants(), s.users(), s.tracking(), s.tasks());
        let mut snap = Snapshot::default();
        let chain = s
            .audit()
            .read_chain(AuditChain::Platform, 0, 1_000_000)
            .await
            .expect("chain");
        snap.chains.insert(Scope::Platform, chain.len());
        let owner = u.get_user(None, self.owner.user_id()).await.expect("owner");
        let parts = BTreeMap::from([
            ("audit", json!(&chain)),
            ("plans", json!(&t.list_plans().await.expect("plans"))),
            ("owner", json!(&owner)),
        ]);
        snap.scopes.insert(Scope::Platform, parts);

        let f = TrackingFilter::default();
        let (from, to) = (NaiveDate::MIN, NaiveDate::MAX);
        for (ci, c) in self.companies.iter().enumerate() {
            let id = c.id;
            let chain = s
                .audit()
                .read_chain(AuditChain::Company(id), 0, 1_000_000)
                .await;
            let chain = chain.expect("chain");
            snap.chains.insert(Scope::Company(ci), chain.len());
            let users = u.list_users(Some(id), &UserFilter::default(), &all()).await;
            let tasks = w.list_tasks(id, &Default::default(), &all()).await;
            let corrections = s
                .corrections()
                .list_corrections(id, &Default::default(), &all())
                .await;
            let parts = BTreeMap::from([
                ("audit", json!(&chain)),
                ("company", json!(&t.get_company(id).await.expect("company"))),
                (
                    "subscriptions",
                    json!(&t.list_subscriptions(id).await.expect("subs")),
                ),
                ("users", json!(&users.expect("users"))),
                (
                    "teams",
                    json!(&s.teams().list_teams(id).await.expect("teams")),
                ),
                (
                    "agents",
                    json!(&s.agents().list_agent_states(id).await.expect("agents")),
                ),
                (
                    "policy",
                    json!(&s.policies().get_policy(id).await.expect("policy")),
                ),
                (
                    "sessions",
                    json!(&tr.list_sessions(id, &f, &all()).await.expect("sessions")),
                ),
                (
                    "activity",
                    json!(&tr.list_activity(id, &f, &all()).await.expect("activity")),
                ),
                (
                    "screenshots",
                    json!(&tr.list_screenshots(id, &f, &all()).await.expect("shots")),
                ),
                ("tasks", json!(&tasks.expect("tasks"))),
                ("corrections", json!(&corrections.expect("corrections"))),
                (
                    "usage",
                    json!(
                        &s.usage()
                            .list_usage(Some(id), from, to)
                            .await
                            .expect("usage")
                    ),
                ),
            ]);
            snap.scopes.insert(Scope::Company(ci), parts);
        }
        snap
    }

    pub(super) fn check_changes(
        ctx: &str,
        before: &Snapshot,
        after: &Snapshot,
        allowed: &Allowed,
    ) -> Result<(), TestCaseError> {
        for (scope, parts) in &before.scopes {
            let grown = after.chains[scope] as i64 - before.chains[scope] as i64;
            let want = allowed.audit.get(scope).copied().unwrap_or(0) as i64;
            prop_assert_eq!(
                grown,
                want,
                "{}: the audit chain of {:?} grew by {}, expected {}",
                ctx,
                scope,
                grown,
                want
            );
            if !allowed.scopes.contains(scope) {
                let changed: Vec<&str> = parts
                    .iter()
                    .filter(|(k, v)| after.scopes[scope].get(*k) != Some(v))
                    .map(|(k, _)| *k)
                    .collect();
                prop_assert!(
                    changed.is_empty(),
                    "{}: {:?} changed ({:?}) though this operation must not change it",
                    ctx,
                    scope,
                    changed
                );
            }
        }
        Ok(())
    }

    // ---- one operation ------------------------------------------------------------

    /// A day of one user holds only that user's apps and domains, and no
    /// more time than its events and approved corrections.
    pub(super) fn check_day(
        &self,
        ctx: &str,
        user: UserId,
        totals: &crate::report::Totals,
        apps: &[crate::report::UsageEntry],
        domains: &[crate::report::UsageEntry],
    ) -> Result<(), TestCaseError> {
        for a in apps {
            prop_assert_eq!(&a.name, &app_of(user), "{}: an app of someone else", ctx);
        }
        for d in domains {
            prop_assert_eq!(
                &d.name,
                &domain_of(user),
                "{}: a domain of someone else",
                ctx
            );
        }
        let counted = totals.active_seconds + totals.idle_seconds;
        prop_assert!(
            counted <= self.bound(user),
            "{}: {} seconds counted for {}, at most {} are its own",
            ctx,
            counted,
            user,
            self.bound(user)
        );
        Ok(())
    }

    /// Cells of a grid count, per user, no more than that user's own time.
    pub(super) fn check_cells<'a>(
        &self,
        ctx: &str,
        cells: impl Iterator<Item = (UserId, &'a crate::report::Totals)>,
    ) -> Result<(), TestCaseError> {
        let mut per_user: BTreeMap<UserId, u64> = BTreeMap::new();
        for (user, t) in cells {
            *per_user.entry(user).or_default() += t.active_seconds + t.idle_seconds;
        }
        for (user, counted) in per_user {
            prop_assert!(
                counted <= self.bound(user),
                "{}: {} seconds counted for {}, at most {} are its own",
                ctx,
                counted,
                user,
                self.bound(user)
            );
        }
        Ok(())
    }

    pub(super) async fn chain_len(&self, chain: AuditChain) -> usize {
        self.tracker
            .store()
            .audit()
            .read_chain(chain, 0, 1_000_000)
            .await
            .expect("chain")
            .len()
    }

    pub(super) async fn finish(&self) -> Result<(), TestCaseError> {
        let s = self.tracker.store();
        for (ci, c) in self.companies.iter().enumerate() {
            let admin = self
                .users
                .iter()
                .find(|u| u.company == ci && u.role == Role::Admin)
                .expect("an admin");
            let v = self
                .tracker
                .verify_company_audit(&admin.principal)
                .await
                .map_err(|e| TestCaseError::fail(format!("verify company {ci}: {e}")))?;
            prop_assert!(v.broken.is_none(), "company {}: {:?}", ci, v.broken);
            prop_assert_eq!(
                v.events as usize,
                self.chain_len(AuditChain::Company(c.id)).await,
                "company {}: every event checked",
                ci
            );

            // The store holds exactly the model's data: the same ids, each
            // of the same user, so each of a user of this company.
            let (f, tr, w) = (TrackingFilter::default(), s.tracking(), s.tasks());
            let sessions = tr.list_sessions(c.id, &f, &all()).await.expect("sessions");
            let activity = tr.list_activity(c.id, &f, &all()).await.expect("activity");
            let shots = tr.list_screenshots(c.id, &f, &all()).await.expect("shots");
            let tasks = w.list_tasks(c.id, &Default::default(), &all()).await;
            let corrections = s
                .corrections()
                .list_corrections(c.id, &Default::default(), &all())
                .await;
            let stored = [
                (
                    "sessions",
                    sessions.items.iter().map(|x| (x.id.0, x.user_id)).collect(),
                ),
                (
                    "activity",
                    activity.items.iter().map(|x| (x.id.0, x.user_id)).collect(),
                ),
                (
                    "screenshots",
                    shots.items.iter().map(|x| (x.id.0, x.user_id)).collect(),
                ),
                (
                    "tasks",
                    tasks
                        .expect("tasks")
                        .items
                        .iter()
                        .map(|x| (x.id.0, x.assignee_id))
                        .collect(),
                ),
                (
                    "corrections",
                    corrections
                        .expect("corrections")
                        .items
                        .iter()
                        .map(|x| (x.id.0, x.user_id))
                        .collect::<BTreeSet<_>>(),
                ),
            ];
            let of = |company: usize| company == ci;
            let modelled = [
                self.sessions
                    .iter()
                    .filter(|m| of(m.company))
                    .map(|m| (m.id.0, m.user))
                    .collect(),
                self.activity
                    .iter()
                    .filter(|m| of(m.company))
                    .map(|m| (m.id.0, m.user))
                    .collect(),
                self.shots
                    .iter()
                    .filter(|m| of(m.company))
                    .map(|m| (m.id.0, m.user))
                    .collect(),
                self.tasks
                    .iter()
                    .filter(|m| of(m.company))
                    .map(|m| (m.id.0, m.assignee))
                    .collect(),
                self.corrections
                    .iter()
                    .filter(|m| of(m.company))
                    .map(|m| (m.id.0, m.user))
                    .collect::<BTreeSet<_>>(),
            ];
            for ((what, stored), modelled) in stored.into_iter().zip(modelled) {
                prop_assert_eq!(stored, modelled, "end of case, company {}: {}", ci, what);
            }
        }
        let v = self
            .tracker
            .verify_platform_audit(&self.owner)
            .await
            .map_err(|e| TestCaseError::fail(format!("verify platform: {e}")))?;
        prop_assert!(v.broken.is_none(), "platform: {:?}", v.broken);
        prop_assert_eq!(
            v.events as usize,
            self.chain_len(AuditChain::Platform).await,
            "platform: every event checked"
        );
        Ok(())
    }
}

#[derive(Default)]
pub(super) struct Snapshot {
    /// Each scope's parts, serialized.
    pub(super) scopes: BTreeMap<Scope, BTreeMap<&'static str, String>>,
    /// Each scope's audit chain length.
    pub(super) chains: BTreeMap<Scope, usize>,
}
