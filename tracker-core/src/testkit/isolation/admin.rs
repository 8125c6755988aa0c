//! Platform, lifecycle, user and team management operations.

use std::collections::BTreeSet;

use chrono::Duration;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

use crate::audit::AuditChain;
use crate::protocol::{ChangePlan, NewTeam, UserChanges};
use crate::store::AuditFilter;
use crate::{CompanyId, Role, UserId};

use super::input::*;
use super::model::*;
use super::*;

impl World {
    pub(super) async fn platform(
        &self,
        ctx: &str,
        who: Who,
        op: PlatformOp,
        company: Index,
    ) -> Result<Allowed, TestCaseError> {
        let p = self.principal(who);
        let t = &self.tracker;
        let owner_only = match who {
            Who::Owner => Ok(()),
            Who::User(_) => Err("forbidden"),
        };
        let all_ids: BTreeSet<CompanyId> = self.companies.iter().map(|c| c.id).collect();
        let today = self.today();
        match op {
            PlatformOp::ListCompanies => {
                let r = t.list_companies(p, &all()).await;
                if let Some(page) = outcome(ctx, r, owner_only)? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    let got: BTreeSet<CompanyId> =
                        page.items.iter().map(|s| s.company.id).collect();
                    prop_assert_eq!(got, all_ids, "{}", ctx);
                    for s in &page.items {
                        let c = self.companies.iter().find(|c| c.id == s.company.id);
                        let seats = c.map_or(0, |c| c.users.len()) as u32;
                        prop_assert_eq!(s.seats_used, seats, "{}: seats", ctx);
                    }
                }
            }
            PlatformOp::CompanyDetail => {
                let target = self.company_pick(company);
                let id = target.map_or_else(CompanyId::new, |c| self.companies[c].id);
                let exp = match who {
                    Who::Owner if target.is_some() => Ok(()),
                    Who::Owner => Err("not_found"),
                    // A company user: its own company is refused, another
                    // one does not exist for it.
                    Who::User(i) if target == Some(self.users[i].company) => Err("forbidden"),
                    Who::User(_) => Err("not_found"),
                };
                let r = t.company_detail(p, id).await;
                if let (Some(d), Some(c)) = (outcome(ctx, r, exp)?, target) {
                    self.check_no_leak(ctx, who, &json!(&d))?;
                    prop_assert_eq!(d.summary.company.id, id, "{}", ctx);
                    for row in &d.usage {
                        prop_assert_eq!(row.company_id, id, "{}", ctx);
                    }
                    for s in &d.subscriptions {
                        prop_assert_eq!(s.company_id, id, "{}", ctx);
                    }
                    let stored: u64 = self
                        .shots
                        .iter()
                        .filter(|s| s.company == c)
                        .map(|s| s.bytes.len() as u64)
                        .sum();
                    prop_assert_eq!(d.storage_used_bytes, stored, "{}: storage used", ctx);
                }
            }
            PlatformOp::OwnerReport => {
                let r = t.owner_report(p, today - Duration::days(30), today).await;
                if let Some(report) = outcome(ctx, r, owner_only)? {
                    self.check_no_leak(ctx, who, &json!(&report))?;
                    let got: BTreeSet<CompanyId> = report
                        .companies_by_usage
                        .iter()
                        .map(|c| c.company_id)
                        .collect();
                    prop_assert_eq!(got, all_ids, "{}", ctx);
                    for row in &report.companies_by_usage {
                        let c = self
                            .companies
                            .iter()
                            .find(|c| c.id == row.company_id)
                            .expect("checked");
                        let bound: u64 = c.users.iter().map(|u| self.bound(*u)).sum();
                        prop_assert!(
                            row.active_seconds <= bound,
                            "{}: {} active seconds for company {}, at most {} are its own",
                            ctx,
                            row.active_seconds,
                            row.company_id,
                            bound
                        );
                    }
                }
            }
            PlatformOp::NoSync => {
                let r = t.no_sync_companies(p, &all()).await.map(|p| p.items);
                if let Some(list) = outcome(ctx, r, owner_only)? {
                    self.check_no_leak(ctx, who, &json!(&list))?;
                    for c in &list {
                        prop_assert!(all_ids.contains(&c.company_id), "{}", ctx);
                    }
                }
            }
            PlatformOp::PlatformAudit => {
                let r = t.platform_audit(p, &AuditFilter::default(), &all()).await;
                if let Some(page) = outcome(ctx, r, owner_only)? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    let chain = self.chain_len(AuditChain::Platform).await;
                    prop_assert_eq!(page.items.len(), chain, "{}: the whole chain", ctx);
                    for e in &page.items {
                        prop_assert_eq!(e.chain, AuditChain::Platform, "{}", ctx);
                    }
                }
            }
            PlatformOp::VerifyPlatformAudit => {
                let r = t.verify_platform_audit(p).await;
                if let Some(v) = outcome(ctx, r, owner_only)? {
                    prop_assert!(v.broken.is_none(), "{}: {:?}", ctx, v.broken);
                }
            }
            PlatformOp::ListPlans => {
                let r = t.list_plans(p).await;
                outcome(ctx, r, owner_only)?;
            }
        }
        Ok(Allowed::nothing())
    }

    pub(super) async fn lifecycle(
        &self,
        ctx: &str,
        who: Who,
        op: LifecycleOp,
        company: Index,
    ) -> Result<Allowed, TestCaseError> {
        let target = self.company_pick(company);
        let id = target.map_or_else(CompanyId::new, |c| self.companies[c].id);
        let p = self.principal(who);
        let t = &self.tracker;
        let Who::User(i) = who else {
            let days = 30 + company.index(300) as u32;
            let exp = if target.is_some() {
                Ok(())
            } else {
                Err("not_found")
            };
            let r = t.set_retention(p, id, days).await;
            let (Some(updated), Some(c)) = (outcome(ctx, r, exp)?, target) else {
                return Ok(Allowed::nothing());
            };
            prop_assert_eq!(updated.id, id, "{}", ctx);
            prop_assert_eq!(updated.retention_days, days, "{}", ctx);
            return Ok(Allowed::company(c).audited(Scope::Platform));
        };
        // Company users may not touch any company's lifecycle: their own
        // is refused, another does not exist for them.
        let exp = if target == Some(self.users[i].company) {
            Err("forbidden")
        } else {
            Err("not_found")
        };
        match op {
            LifecycleOp::Suspend => {
                outcome(ctx, t.suspend_company(p, id, None).await, exp)?;
            }
            LifecycleOp::RotateKey => {
                outcome(ctx, t.rotate_company_key(p, id).await, exp)?;
            }
            LifecycleOp::Retention => {
                outcome(ctx, t.set_retention(p, id, 30).await, exp)?;
            }
            LifecycleOp::ChangePlan => {
                let req = ChangePlan {
                    plan: "ENTERPRISE".into(),
                    expires_at: None,
                    amount_cents: None,
                };
                outcome(ctx, t.change_plan(p, id, req).await, exp)?;
            }
        }
        Ok(Allowed::nothing())
    }

    /// What an ADMIN's action on `target` answers `who`: refused with
    /// `invalid_state` on itself when `refuses_self`.
    pub(super) fn exp_manage(&self, who: Who, target: UserId, refuses_self: bool) -> Exp {
        match who {
            Who::Owner => Err("forbidden"),
            Who::User(i) => {
                let u = &self.users[i];
                let same_company = self.company_of_user(target) == Some(u.company);
                match u.role {
                    Role::Admin if !same_company => Err("not_found"),
                    Role::Admin if refuses_self && target == u.id => Err("invalid_state"),
                    Role::Admin => Ok(()),
                    _ if u.visible.contains(&target) => Err("forbidden"),
                    _ => Err("not_found"),
                }
            }
        }
    }

    pub(super) async fn manage_user(
        &self,
        ctx: &str,
        who: Who,
        target: UserId,
        deactivate: bool,
    ) -> Result<Allowed, TestCaseError> {
        let exp = self.exp_manage(who, target, deactivate);
        if deactivate && exp.is_ok() {
            // It would succeed; see `Op::ManageUser`.
            return Ok(Allowed::nothing());
        }
        let p = self.principal(who);
        if deactivate {
            outcome(ctx, self.tracker.deactivate_user(p, target).await, exp)?;
            return Ok(Allowed::nothing());
        }
        let changes = UserChanges {
            display_name: Some(format!("Renamed by {me}", me = p.user_id())),
            ..Default::default()
        };
        let r = self.tracker.update_user(p, target, changes).await;
        let (Some(user), Who::User(i)) = (outcome(ctx, r, exp)?, who) else {
            return Ok(Allowed::nothing());
        };
        prop_assert_eq!(user.id, target, "{}", ctx);
        Ok(Allowed::nothing().audited(Scope::Company(self.users[i].company)))
    }

    pub(super) async fn foreign_team(
        &self,
        ctx: &str,
        who: Who,
        member: Index,
    ) -> Result<Allowed, TestCaseError> {
        // A user outside the caller's company (another tenant's user, the
        // OWNER, or an unknown id).
        let own = match who {
            Who::Owner => None,
            Who::User(i) => Some(self.users[i].company),
        };
        let mut outside: Vec<UserId> = self
            .users
            .iter()
            .filter(|u| Some(u.company) != own)
            .map(|u| u.id)
            .collect();
        outside.push(self.owner.user_id());
        outside.push(UserId::new());
        let member = outside[member.index(outside.len())];
        // Team members are fields of the request, not targets: an ADMIN
        // gets a validation error naming the field ("is not a user of this
        // company", the same for an unknown id, so nothing leaks).
        let exp = match self.role(who) {
            Role::Admin => Err("validation"),
            _ => Err("forbidden"),
        };
        let r = self
            .tracker
            .create_team(
                self.principal(who),
                NewTeam {
                    name: "Borrowed people".into(),
                    managers: Vec::new(),
                    members: vec![member],
                },
            )
            .await;
        outcome(ctx, r, exp)?;
        Ok(Allowed::nothing())
    }

    pub(super) async fn aggregate(&self, ctx: &str, c: usize) -> Result<Allowed, TestCaseError> {
        let today = self.today();
        let id = self.companies[c].id;
        let r = self
            .tracker
            .aggregate_usage(id, today - Duration::days(14), today)
            .await;
        let Some(rows) = outcome(ctx, r, Ok(()))? else {
            return Ok(Allowed::nothing());
        };
        let bound: u64 = self.companies[c].users.iter().map(|u| self.bound(*u)).sum();
        let counted: u64 = rows.iter().map(|r| r.active_seconds + r.idle_seconds).sum();
        prop_assert!(
            counted <= bound,
            "{}: {} seconds counted for company {}, at most {} are its own",
            ctx,
            counted,
            c,
            bound
        );
        for row in &rows {
            prop_assert_eq!(row.company_id, id, "{}", ctx);
        }
        Ok(Allowed::company(c))
    }

    // ---- the end of a case ---------------------------------------------------------------
}
