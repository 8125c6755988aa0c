//! Every read, by every caller.

use std::collections::BTreeSet;

use chrono::Duration;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::audit::AuditChain;
use crate::protocol::{TaskQuery, TrackingQuery};
use crate::store::AuditFilter;
use crate::{CompanyId, Role, ScreenshotId, TeamId, UserId};

use super::input::*;
use super::model::*;
use super::*;

impl World {
    pub(super) async fn read(
        &self,
        ctx: &str,
        who: Who,
        read: Read,
        about: Option<UserId>,
    ) -> Result<Allowed, TestCaseError> {
        let p = self.principal(who);
        let t = &self.tracker;
        let me = p.user_id();
        // The expected outcome of a read of `about` (or of a company-wide list).
        let exp_scope = |about: Option<UserId>| match about {
            Some(u) => self.exp_about(who, u),
            None => self.exp_list(who),
        };
        let users_of = |about: Option<UserId>| self.expected_users(who, about);
        let today = self.today();
        let own_company = p.company_id();
        match read {
            Read::Sessions | Read::MySessions => {
                let about = if matches!(read, Read::MySessions) {
                    Some(me)
                } else {
                    about
                };
                let r = if matches!(read, Read::MySessions) {
                    t.my_sessions(p, &all()).await
                } else {
                    let q = TrackingQuery {
                        user_id: about,
                        ..Default::default()
                    };
                    t.sessions(p, &q, &all()).await
                };
                if let Some(page) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    prop_assert!(page.next_cursor.is_none(), "{}: one page", ctx);
                    let users = users_of(about);
                    let expected = self
                        .sessions
                        .iter()
                        .filter(|s| users.contains(&s.user))
                        .map(|s| s.id)
                        .collect();
                    let items = page.items.iter().map(|s| (s.id, s.company_id, s.user_id));
                    self.check_items(ctx, who, items, &users, expected)?;
                }
            }
            Read::Activity => {
                let q = TrackingQuery {
                    user_id: about,
                    ..Default::default()
                };
                let r = t.activity(p, &q, &all()).await;
                if let Some(page) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    prop_assert!(page.next_cursor.is_none(), "{}: one page", ctx);
                    let users = users_of(about);
                    let expected = self
                        .activity
                        .iter()
                        .filter(|a| users.contains(&a.user))
                        .map(|a| a.id)
                        .collect();
                    let items = page.items.iter().map(|a| (a.id, a.company_id, a.user_id));
                    self.check_items(ctx, who, items, &users, expected)?;
                    // The policy at ingest decided what was kept; what was
                    // kept is the owner's own.
                    for e in &page.items {
                        let m = self
                            .activity
                            .iter()
                            .find(|a| a.user == e.user_id && a.id == e.id)
                            .expect("checked above");
                        let app = m.app_kept.then(|| app_of(e.user_id));
                        prop_assert_eq!(&e.app, &app, "{}: app of {}", ctx, e.id);
                        let url = m
                            .url_kept
                            .then(|| format!("https://{}/page", domain_of(e.user_id)));
                        prop_assert_eq!(&e.url, &url, "{}: url of {}", ctx, e.id);
                    }
                }
            }
            Read::Screenshots => {
                let q = TrackingQuery {
                    user_id: about,
                    ..Default::default()
                };
                let r = t.screenshots(p, &q, &all()).await;
                if let Some(page) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    prop_assert!(page.next_cursor.is_none(), "{}: one page", ctx);
                    let users = users_of(about);
                    let expected = self
                        .shots
                        .iter()
                        .filter(|s| users.contains(&s.user))
                        .map(|s| s.id)
                        .collect();
                    let items = page.items.iter().map(|s| (s.id, s.company_id, s.user_id));
                    self.check_items(ctx, who, items, &users, expected)?;
                }
            }
            Read::Users => match about {
                None => {
                    let r = t.list_users(p, None, &all()).await;
                    if let Some(page) = outcome(ctx, r, exp_scope(None))? {
                        self.check_no_leak(ctx, who, &json!(&page))?;
                        let users = users_of(None);
                        let items = page
                            .items
                            .iter()
                            .map(|u| (u.id, u.company_id.unwrap_or_else(CompanyId::nil), u.id));
                        self.check_items(ctx, who, items, &users, users.clone())?;
                    }
                }
                Some(u) => {
                    let r = t.get_user(p, u).await;
                    if let Some(user) = outcome(ctx, r, exp_scope(Some(u)))? {
                        self.check_no_leak(ctx, who, &json!(&user))?;
                        prop_assert_eq!(user.id, u, "{}", ctx);
                        prop_assert_eq!(user.company_id, own_company, "{}", ctx);
                    }
                }
            },
            Read::DailyReport { days_ago } => {
                let user = about.unwrap_or(me);
                let date = today - Duration::days(days_ago);
                let r = t.daily_report(p, user, date).await;
                if let Some(d) = outcome(ctx, r, self.exp_about(who, user))? {
                    self.check_no_leak(ctx, who, &json!(&d))?;
                    prop_assert_eq!(d.user_id, user, "{}", ctx);
                    prop_assert_eq!(d.date, date, "{}", ctx);
                    self.check_day(ctx, user, &d.totals, &d.top_apps, &d.top_domains)?;
                    let shots = self.shots.iter().filter(|s| s.user == user).count() as u64;
                    prop_assert!(d.screenshots <= shots, "{}: screenshots counted", ctx);
                }
            }
            Read::MyDay => {
                let r = t.my_day(p, None).await;
                let exp = match who {
                    Who::Owner => Err("forbidden"),
                    Who::User(_) => Ok(()),
                };
                if let Some(d) = outcome(ctx, r, exp)? {
                    self.check_no_leak(ctx, who, &json!(&d))?;
                    self.check_day(ctx, me, &d.totals, &d.top_apps, &d.top_domains)?;
                    prop_assert_eq!(Some(d.policy.company_id), own_company, "{}", ctx);
                }
            }
            Read::MonthlyReport => {
                use chrono::Datelike;
                let r = t
                    .monthly_report(p, today.year(), today.month(), about)
                    .await;
                if let Some(grid) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&grid))?;
                    let users = users_of(about);
                    let got: BTreeSet<UserId> = grid.cells.iter().map(|c| c.user_id).collect();
                    prop_assert_eq!(&got, &users, "{}: users of the grid", ctx);
                    let totals: BTreeSet<UserId> = grid.user_totals.keys().copied().collect();
                    prop_assert_eq!(&totals, &users, "{}: users of the totals", ctx);
                    self.check_cells(ctx, grid.cells.iter().map(|c| (c.user_id, &c.totals)))?;
                }
            }
            Read::Timesheet | Read::MyExport => {
                let from = today - Duration::days(13);
                let (about, r) = if matches!(read, Read::MyExport) {
                    (Some(me), t.my_export(p, from, today).await)
                } else {
                    (about, t.timesheet(p, from, today, about).await)
                };
                if let Some(rows) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&rows))?;
                    let users = users_of(about);
                    let got: BTreeSet<UserId> = rows.iter().map(|r| r.user_id).collect();
                    prop_assert_eq!(&got, &users, "{}: users of the timesheet", ctx);
                    for row in &rows {
                        let u = self.users.iter().find(|u| u.id == row.user_id);
                        prop_assert_eq!(
                            u.map(|u| u.username.as_str()),
                            Some(row.username.as_str()),
                            "{}: username of {}",
                            ctx,
                            row.user_id
                        );
                    }
                    self.check_cells(ctx, rows.iter().map(|r| (r.user_id, &r.totals)))?;
                }
            }
            Read::UsageApps | Read::UsageDomains => {
                let by_domain = matches!(read, Read::UsageDomains);
                let from = today - Duration::days(13);
                let r = t.usage_report(p, from, today, about, by_domain).await;
                if let Some(report) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&report))?;
                    let users = users_of(about);
                    let got: BTreeSet<UserId> = report.by_user.keys().copied().collect();
                    prop_assert_eq!(&got, &users, "{}: users of the usage report", ctx);
                    for (user, entries) in &report.by_user {
                        let name = if by_domain {
                            domain_of(*user)
                        } else {
                            app_of(*user)
                        };
                        for e in entries {
                            prop_assert_eq!(&e.name, &name, "{}: usage of {}", ctx, user);
                        }
                    }
                }
            }
            Read::Tasks | Read::MyTasks => {
                let (about, r) = if matches!(read, Read::MyTasks) {
                    (Some(me), t.my_tasks(p, None, &all()).await)
                } else {
                    let q = TaskQuery {
                        assignee_id: about,
                        status: None,
                    };
                    (about, t.tasks(p, &q, &all()).await)
                };
                if let Some(page) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    let users = users_of(about);
                    let expected = self
                        .tasks
                        .iter()
                        .filter(|k| users.contains(&k.assignee))
                        .map(|k| k.id)
                        .collect();
                    let items = page
                        .items
                        .iter()
                        .map(|k| (k.id, k.company_id, k.assignee_id));
                    self.check_items(ctx, who, items, &users, expected)?;
                }
            }
            Read::Corrections => {
                let r = t.corrections(p, None, about, &all()).await;
                if let Some(page) = outcome(ctx, r, exp_scope(about))? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    let users = users_of(about);
                    let expected = self
                        .corrections
                        .iter()
                        .filter(|k| users.contains(&k.user))
                        .map(|k| k.id)
                        .collect();
                    let items = page.items.iter().map(|k| (k.id, k.company_id, k.user_id));
                    self.check_items(ctx, who, items, &users, expected)?;
                }
            }
            Read::CompanyAudit => {
                let r = t.company_audit(p, &AuditFilter::default(), &all()).await;
                if let Some(page) = outcome(ctx, r, self.exp_admin(who))? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    let own = own_company.expect("an admin");
                    let chain = self.chain_len(AuditChain::Company(own)).await;
                    prop_assert_eq!(page.items.len(), chain, "{}: the whole chain", ctx);
                    for e in &page.items {
                        prop_assert_eq!(e.chain, AuditChain::Company(own), "{}", ctx);
                    }
                }
            }
            Read::VerifyCompanyAudit => {
                let r = t.verify_company_audit(p).await;
                if let Some(v) = outcome(ctx, r, self.exp_admin(who))? {
                    prop_assert!(v.broken.is_none(), "{}: {:?}", ctx, v.broken);
                }
            }
            Read::Agents => {
                let r = t.agents(p, &all()).await.map(|p| p.items);
                if let Some(agents) = outcome(ctx, r, exp_scope(None))? {
                    self.check_no_leak(ctx, who, &json!(&agents))?;
                    let got: BTreeSet<UserId> = agents.iter().map(|a| a.user_id).collect();
                    prop_assert_eq!(got, users_of(None), "{}: agents listed", ctx);
                }
            }
            Read::Teams => {
                let r = t.list_teams(p, &all()).await.map(|p| p.items);
                if let (Some(teams), Who::User(i)) = (outcome(ctx, r, exp_scope(None))?, who) {
                    self.check_no_leak(ctx, who, &json!(&teams))?;
                    let u = &self.users[i];
                    let expected: BTreeSet<TeamId> = self.companies[u.company]
                        .teams
                        .iter()
                        .filter(|(_, m)| u.role == Role::Admin || **m == u.id)
                        .map(|(id, _)| *id)
                        .collect();
                    let got: BTreeSet<TeamId> = teams.iter().map(|t| t.id).collect();
                    prop_assert_eq!(got, expected, "{}: teams listed", ctx);
                    for team in &teams {
                        prop_assert_eq!(Some(team.company_id), own_company, "{}", ctx);
                    }
                }
            }
            Read::Policy => {
                let r = t.policy(p).await;
                let exp = match who {
                    Who::Owner => Err("forbidden"),
                    Who::User(_) => Ok(()),
                };
                if let (Some(policy), Who::User(i)) = (outcome(ctx, r, exp)?, who) {
                    let c = &self.companies[self.users[i].company];
                    prop_assert_eq!(&policy.policy, &c.policy, "{}", ctx);
                }
            }
            Read::MyAccessLog => {
                let r = t.my_access_log(p, &all()).await;
                let exp = match who {
                    Who::Owner => Err("forbidden"),
                    Who::User(_) => Ok(()),
                };
                if let Some(page) = outcome(ctx, r, exp)? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    for entry in &page.items {
                        prop_assert_eq!(entry.subject_id, me, "{}: only reads of me", ctx);
                        prop_assert_ne!(entry.actor_id, me, "{}: never my own reads", ctx);
                    }
                }
            }
            Read::CompanyAccessLog => {
                let r = t
                    .company_access_log(p, &crate::access::AccessFilter::default(), &all())
                    .await;
                if let Some(page) = outcome(ctx, r, self.exp_admin(who))? {
                    self.check_no_leak(ctx, who, &json!(&page))?;
                    for entry in &page.items {
                        for id in [entry.actor_id, entry.subject_id] {
                            let company = self.company_of_user(id).map(|c| self.companies[c].id);
                            prop_assert_eq!(
                                company,
                                own_company,
                                "{}: {} is of the company",
                                ctx,
                                id
                            );
                        }
                    }
                }
            }
            Read::MyArchive => {
                let mut files = Files::default();
                let r = t.my_archive(p, &mut files).await;
                let exp = match who {
                    Who::Owner => Err("forbidden"),
                    Who::User(_) => Ok(()),
                };
                if let Some(manifest) = outcome(ctx, r, exp)? {
                    prop_assert_eq!(manifest.user_id, me, "{}", ctx);
                    prop_assert_eq!(manifest.files.len() + 1, files.0.len(), "{}", ctx);
                    for (name, bytes) in &files.0 {
                        let text = String::from_utf8_lossy(bytes);
                        self.check_no_leak(ctx, who, &text)?;
                        if name.ends_with(".jsonl") && !name.starts_with("audit") {
                            for line in text.lines() {
                                let item: serde_json::Value = serde_json::from_str(line)
                                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                                let owner = item
                                    .get("user_id")
                                    .or_else(|| item.get("assignee_id"))
                                    .or_else(|| item.get("subject_id"));
                                let mine = me.to_string();
                                prop_assert_eq!(
                                    owner.and_then(|v| v.as_str()),
                                    Some(mine.as_str()),
                                    "{}: {} holds another person's item",
                                    ctx,
                                    name
                                );
                            }
                        }
                    }
                }
            }
            Read::CompanyUsage => {
                let r = t.company_usage(p, today - Duration::days(30), today).await;
                if let Some(rows) = outcome(ctx, r, self.exp_admin(who))? {
                    self.check_no_leak(ctx, who, &json!(&rows))?;
                    for row in &rows {
                        prop_assert_eq!(Some(row.company_id), own_company, "{}", ctx);
                    }
                }
            }
        }
        Ok(Allowed::nothing())
    }

    pub(super) async fn read_image(
        &self,
        ctx: &str,
        who: Who,
        shot: Pick,
    ) -> Result<Allowed, TestCaseError> {
        let id = self
            .pick_object(who, shot, self.shots.iter().map(|s| (s.company, s.user)))
            .map_or_else(ScreenshotId::new, |k| self.shots[k].id);
        let mut own = None;
        let exp = match who {
            Who::Owner => Err("forbidden"),
            Who::User(i) => {
                let u = &self.users[i];
                own = self
                    .shots
                    .iter()
                    .find(|s| s.company == u.company && s.id == id);
                match own {
                    Some(s) if u.visible.contains(&s.user) => Ok(()),
                    _ => Err("not_found"),
                }
            }
        };
        let r = self.tracker.screenshot_image(self.principal(who), id).await;
        if let (Some((meta, bytes)), Some(model)) = (outcome(ctx, r, exp)?, own) {
            self.check_no_leak(ctx, who, &json!(&meta))?;
            prop_assert_eq!(meta.id, id, "{}", ctx);
            prop_assert_eq!(meta.company_id, self.companies[model.company].id, "{}", ctx);
            prop_assert_eq!(meta.user_id, model.user, "{}", ctx);
            prop_assert!(
                bytes == model.bytes,
                "{}: the image of another screenshot",
                ctx
            );
        }
        Ok(Allowed::nothing())
    }

    // ---- platform -------------------------------------------------------------------------

    pub(super) async fn agent_read(
        &self,
        ctx: &str,
        i: usize,
        read: AgentRead,
    ) -> Result<Allowed, TestCaseError> {
        let (me, c) = (self.users[i].id, self.users[i].company);
        let agent = &self.agent(i).await;
        let who = Who::User(i);
        match read {
            AgentRead::Tasks => {
                let r = self
                    .tracker
                    .agent_tasks(agent, &all())
                    .await
                    .map(|p| p.items);
                if let Some(tasks) = outcome(ctx, r, Ok(()))? {
                    self.check_no_leak(ctx, who, &json!(&tasks))?;
                    let expected = self
                        .tasks
                        .iter()
                        .filter(|t| t.assignee == me && !t.done)
                        .map(|t| t.id)
                        .collect();
                    let items = tasks.iter().map(|t| (t.id, t.company_id, t.assignee_id));
                    self.check_items(ctx, who, items, &BTreeSet::from([me]), expected)?;
                }
            }
            AgentRead::SyncStatus => {
                let r = self.tracker.sync_status(agent).await;
                if let Some(s) = outcome(ctx, r, Ok(()))? {
                    self.check_no_leak(ctx, who, &json!(&s))?;
                    prop_assert_eq!(
                        s.policy_version,
                        self.companies[c].policy.version,
                        "{}",
                        ctx
                    );
                }
            }
            AgentRead::Policy => {
                let r = self.tracker.agent_policy(agent).await;
                if let Some(p) = outcome(ctx, r, Ok(()))? {
                    prop_assert_eq!(&p.policy, &self.companies[c].policy, "{}", ctx);
                    prop_assert!(p.tracking_allowed, "{}", ctx);
                }
            }
        }
        Ok(Allowed::nothing())
    }
}

/// An archive's files, kept in order.
#[derive(Default)]
struct Files(Vec<(String, Vec<u8>)>);

#[async_trait::async_trait]
impl crate::ArchiveSink for Files {
    async fn file(&mut self, name: &str, bytes: Vec<u8>) -> crate::Result<()> {
        self.0.push((name.to_owned(), bytes));
        Ok(())
    }
}
