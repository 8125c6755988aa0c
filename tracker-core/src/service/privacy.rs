//! Who looked at whose data: every read of one person's tracking data by
//! someone else is recorded before the data is answered, and read back by
//! the person (and their company's ADMINs).

use std::collections::BTreeMap;

use super::*;
use crate::access::{AccessFilter, AccessKind, AccessRecord};
use crate::authz::{Action, Principal};
use crate::error::{Error, Result};
use crate::identity::User;
use crate::paging::{Page, PageRequest};
use crate::protocol::AccessEntry;
use crate::store::*;

impl<S: Store + ?Sized> Tracker<S> {
    /// Records that `p` read `items` of `kind`, each naming its subject;
    /// the caller's own data is not recorded. Fails (and the read with it)
    /// when the record cannot be written: data is answered only once its
    /// reading is on record.
    pub(super) async fn record_reads(
        &self,
        p: &Principal,
        kind: AccessKind,
        subjects: impl IntoIterator<Item = UserId>,
    ) -> Result<()> {
        let Some(company) = p.company() else {
            return Ok(());
        };
        let mut counts: BTreeMap<UserId, u64> = BTreeMap::new();
        for subject in subjects.into_iter().filter(|s| *s != p.user_id()) {
            *counts.entry(subject).or_default() += 1;
        }
        if counts.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let records: Vec<AccessRecord> = counts
            .into_iter()
            .map(|(subject, n)| AccessRecord::new(company.id, p.user_id(), subject, kind, n, now))
            .collect();
        self.store
            .access()
            .record_access(company.id, &records)
            .await
    }

    /// Who read the caller's tracking data, oldest first (every company
    /// user).
    pub async fn my_access_log(
        &self,
        p: &Principal,
        page: &PageRequest,
    ) -> Result<Page<AccessEntry>> {
        let company = Self::company_of(p, Action::ReadPolicy)?.id;
        let filter = AccessFilter {
            subject: Some(p.user_id()),
            actor: None,
        };
        self.access_entries(company, &filter, page).await
    }

    /// Who read whose tracking data in the caller's company (ADMIN),
    /// narrowed to one subject or one reader.
    pub async fn company_access_log(
        &self,
        p: &Principal,
        filter: &AccessFilter,
        page: &PageRequest,
    ) -> Result<Page<AccessEntry>> {
        let company = Self::company_for(p, Action::ReadAudit)?.id;
        for user in [filter.subject, filter.actor].into_iter().flatten() {
            self.store
                .users()
                .get_user(Some(company), user)
                .await?
                .ok_or(Error::not_found("user"))?;
        }
        self.access_entries(company, filter, page).await
    }

    async fn access_entries(
        &self,
        company: CompanyId,
        filter: &AccessFilter,
        page: &PageRequest,
    ) -> Result<Page<AccessEntry>> {
        let records = self
            .store
            .access()
            .list_access(company, filter, page)
            .await?;
        let mut names: BTreeMap<UserId, (String, String)> = BTreeMap::new();
        for r in &records.items {
            for id in [r.actor_id, r.subject_id] {
                if names.contains_key(&id) {
                    continue;
                }
                let user = self.store.users().get_user(Some(company), id).await?;
                names.insert(
                    id,
                    user.map_or_else(
                        || ("unknown".to_owned(), "unknown".to_owned()),
                        |u| (u.username, u.display_name),
                    ),
                );
            }
        }
        let name = |id: &UserId| names.get(id).cloned().unwrap_or_default();
        Ok(Page {
            next_cursor: records.next_cursor,
            items: records
                .items
                .into_iter()
                .map(|r| {
                    let (actor_username, actor_name) = name(&r.actor_id);
                    let (subject_username, subject_name) = name(&r.subject_id);
                    AccessEntry {
                        actor_id: r.actor_id,
                        actor_username,
                        actor_name,
                        subject_id: r.subject_id,
                        subject_username,
                        subject_name,
                        kind: r.kind,
                        day: r.day,
                        count: r.count,
                        first_at: r.first_at,
                        last_at: r.last_at,
                    }
                })
                .collect(),
        })
    }
}

/// What an erasure deleted: the receipt kept in the audit chain. It holds
/// counts and a digest, never the erased data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErasureReceipt {
    /// The erased person (their record is a tombstone now).
    pub user_id: UserId,
    /// When.
    pub erased_at: DateTime<Utc>,
    /// Rows deleted, by kind.
    pub counts: PurgeCounts,
    /// Hex SHA-256 over every deleted item's JSON, one line each, in the
    /// order of the sessions, activity, screenshots (each with its image's
    /// SHA-256), corrections and task notes: whoever kept a copy can show
    /// it was what went, and nobody can read it back from this.
    pub digest: String,
}

/// A SHA-256 over JSON lines, fed as items are read.
struct Digest(sha2::Sha256);

impl Digest {
    fn add(&mut self, item: &impl serde::Serialize) -> Result<()> {
        use sha2::Digest as _;
        let line =
            serde_json::to_vec(item).map_err(|e| Error::storage("erasure", e.to_string()))?;
        self.0.update(&line);
        self.0.update(b"\n");
        Ok(())
    }

    fn hex(self) -> String {
        use sha2::Digest as _;
        hex::encode(self.0.finalize())
    }
}

impl<S: Store + ?Sized> Tracker<S> {
    /// Places a legal hold on a person (ADMIN): until it is released their
    /// data is neither purged nor erased. Audited with the reason.
    pub async fn place_legal_hold(&self, p: &Principal, id: UserId, reason: &str) -> Result<User> {
        let (company, mut user) = self.managed_user(p, id).await?;
        let mut v = crate::error::Validator::new();
        v.text("reason", reason, 1, 500);
        v.finish()?;
        if let Some(hold) = &user.privacy.legal_hold {
            return Err(Error::invalid_state(format!(
                "{} is under a legal hold since {}",
                user.username,
                hold.placed_at.format("%Y-%m-%d")
            )));
        }
        if user.privacy.erased_at.is_some() {
            return Err(Error::invalid_state("the person was erased"));
        }
        user.privacy.legal_hold = Some(crate::identity::LegalHold {
            reason: reason.trim().to_owned(),
            placed_by: p.user_id(),
            placed_at: self.now(),
        });
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::LegalHoldPlaced,
            format!("legal hold placed on {}", user.username),
            serde_json::json!({ "user_id": id, "reason": reason.trim() }),
        );
        self.store
            .users()
            .update_user(&user, &UserUpdate::default(), audit)
            .await?;
        Ok(user)
    }

    /// Places a legal hold on a whole company, with a reason: an ADMIN on
    /// its own (`company` `None`), the OWNER on any. While it holds, the
    /// company's data is neither purged nor erased. Audited in the
    /// company's chain (an ADMIN's) or the platform's (the OWNER's).
    pub async fn place_company_hold(
        &self,
        p: &Principal,
        company: Option<CompanyId>,
        reason: &str,
    ) -> Result<crate::tenancy::Company> {
        let (mut target, chain) = self.hold_target(p, company).await?;
        let mut v = crate::error::Validator::new();
        v.text("reason", reason, 1, 500);
        v.finish()?;
        if let Some(hold) = &target.legal_hold {
            return Err(Error::invalid_state(format!(
                "the company is under a legal hold since {}",
                hold.placed_at.format("%Y-%m-%d")
            )));
        }
        target.legal_hold = Some(crate::identity::LegalHold {
            reason: reason.trim().to_owned(),
            placed_by: p.user_id(),
            placed_at: self.now(),
        });
        let audit = self.event(
            p,
            chain,
            AuditAction::LegalHoldPlaced,
            format!("legal hold placed on company {:?}", target.name),
            serde_json::json!({ "company_id": target.id, "reason": reason.trim() }),
        );
        self.save_company(&target, audit).await?;
        Ok(target)
    }

    /// Releases a company's legal hold (its ADMIN, or the OWNER). Audited.
    pub async fn release_company_hold(
        &self,
        p: &Principal,
        company: Option<CompanyId>,
    ) -> Result<crate::tenancy::Company> {
        let (mut target, chain) = self.hold_target(p, company).await?;
        let Some(hold) = target.legal_hold.take() else {
            return Err(Error::invalid_state("the company is under no legal hold"));
        };
        let audit = self.event(
            p,
            chain,
            AuditAction::LegalHoldReleased,
            format!("legal hold on company {:?} released", target.name),
            serde_json::json!({ "company_id": target.id, "reason": hold.reason, "placed_at": hold.placed_at }),
        );
        self.save_company(&target, audit).await?;
        Ok(target)
    }

    /// The company a hold is placed on, read afresh, and the chain that
    /// records it: the caller's own (ADMIN) or any (OWNER).
    async fn hold_target(
        &self,
        p: &Principal,
        company: Option<CompanyId>,
    ) -> Result<(crate::tenancy::Company, AuditChain)> {
        match company {
            Some(id) => Ok((self.owned_company(p, id).await?, AuditChain::Platform)),
            None => {
                let id = Self::company_for(p, Action::ManageUsers)?.id;
                let company = self
                    .store
                    .tenants()
                    .get_company(id)
                    .await?
                    .ok_or(Error::not_found("company"))?;
                Ok((company, AuditChain::Company(id)))
            }
        }
    }

    /// Releases a person's legal hold (ADMIN). Audited.
    pub async fn release_legal_hold(&self, p: &Principal, id: UserId) -> Result<User> {
        let (company, mut user) = self.managed_user(p, id).await?;
        let Some(hold) = user.privacy.legal_hold.take() else {
            return Err(Error::invalid_state(format!(
                "{} is under no legal hold",
                user.username
            )));
        };
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::LegalHoldReleased,
            format!("legal hold on {} released", user.username),
            serde_json::json!({ "user_id": id, "reason": hold.reason, "placed_at": hold.placed_at }),
        );
        self.store
            .users()
            .update_user(&user, &UserUpdate::default(), audit)
            .await?;
        Ok(user)
    }

    /// Erases a person (ADMIN; a right-to-erasure request): their work
    /// sessions, activity, screenshots and images, corrections and task
    /// completion notes are deleted, their record becomes a tombstone
    /// (no name, email or password; inactive; tokens revoked), and the
    /// audit chain gets a receipt with counts and a digest. The company's
    /// usage numbers stay as they were. Refused while the person is under
    /// a legal hold, for the caller itself, and once erased.
    pub async fn erase_person(&self, p: &Principal, id: UserId) -> Result<ErasureReceipt> {
        let (company, user) = self.managed_user(p, id).await?;
        if id == p.user_id() {
            return Err(Error::invalid_state("an admin cannot erase itself"));
        }
        if user.privacy.erased_at.is_some() {
            return Err(Error::invalid_state(format!(
                "{} was erased",
                user.username
            )));
        }
        if user.privacy.legal_hold.is_some() {
            return Err(Error::invalid_state(format!(
                "{} is under a legal hold: release it before erasing",
                user.username
            )));
        }
        let held = self
            .store
            .tenants()
            .get_company(company)
            .await?
            .is_some_and(|c| c.legal_hold.is_some());
        if held {
            return Err(Error::invalid_state(
                "the company is under a legal hold: nobody's data is erased until it is released",
            ));
        }
        let now = self.now();
        let digest = self.erasure_digest(company, id).await?;
        // Everything of theirs, whatever its age: the end of the calendar
        // every store encodes.
        let end = chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(chrono::NaiveDate::MAX);
        let end_at = end.and_time(chrono::NaiveTime::MIN).and_utc();
        let mut counts = PurgeCounts::default();
        loop {
            // Images first: a crash in between leaves rows whose images are
            // gone, which the next attempt deletes; never an orphan image.
            let theirs = TrackingFilter {
                users: Some(std::collections::BTreeSet::from([id])),
                ..TrackingFilter::default()
            };
            let shots = self
                .store
                .tracking()
                .list_screenshots(company, &theirs, &PageRequest::first(MAX_LIMIT))
                .await?
                .items;
            for s in &shots {
                self.blobs.delete(&s.thumbnail_key()).await?;
                self.blobs.delete(&s.blob_key).await?;
            }
            let step = self
                .store
                .retention()
                .purge_tracking(
                    company,
                    &PurgeBatch {
                        before: end_at,
                        before_date: end,
                        screenshots: shots.iter().map(|s| s.id).collect(),
                        limit: crate::service::DEFAULT_PURGE_BATCH,
                        started_at: now,
                        user: Some(id),
                        keep: Default::default(),
                        personal: true,
                        screenshots_before: None,
                        sessions_before: None,
                        details_before: None,
                    },
                )
                .await?;
            if step.is_empty() {
                break;
            }
            counts.add(&step);
        }
        let receipt = ErasureReceipt {
            user_id: id,
            erased_at: now,
            counts,
            digest,
        };
        let tag = &id.0.simple().to_string()[..12];
        let tombstone = User {
            username: format!("erased-{tag}"),
            email: None,
            display_name: "Erased person".to_owned(),
            active: false,
            password_hash: String::new(),
            privacy: crate::identity::UserPrivacy {
                erased_at: Some(now),
                ..crate::identity::UserPrivacy::default()
            },
            ..user
        };
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::PersonErased,
            format!(
                "person erased: {} sessions, {} events, {} screenshots, {} corrections",
                counts.sessions, counts.events, counts.screenshots, counts.corrections
            ),
            serde_json::to_value(&receipt).unwrap_or_default(),
        );
        self.store
            .users()
            .update_user(
                &tombstone,
                &UserUpdate {
                    revoke_tokens: true,
                    ..UserUpdate::default()
                },
                audit,
            )
            .await?;
        Ok(receipt)
    }

    /// The digest of everything an erasure of `user` deletes, read before.
    async fn erasure_digest(&self, company: CompanyId, user: UserId) -> Result<String> {
        let mut d = Digest(<sha2::Sha256 as sha2::Digest>::new());
        let theirs = TrackingFilter {
            users: Some(std::collections::BTreeSet::from([user])),
            ..TrackingFilter::default()
        };
        let tracking = self.store.tracking();
        for x in collect_pages(|page| {
            let theirs = &theirs;
            async move { tracking.list_sessions(company, theirs, &page).await }
        })
        .await?
        {
            d.add(&x)?;
        }
        let mut pages = Pages::default();
        while let Some(page) = pages.next_page() {
            for e in pages.take(tracking.list_activity(company, &theirs, &page).await?) {
                d.add(&e)?;
            }
        }
        for s in collect_pages(|page| {
            let theirs = &theirs;
            async move { tracking.list_screenshots(company, theirs, &page).await }
        })
        .await?
        {
            d.add(&s)?;
        }
        let corrections = collect_pages(|page| {
            let filter = CorrectionFilter {
                users: Some(std::collections::BTreeSet::from([user])),
                ..CorrectionFilter::default()
            };
            async move {
                self.store
                    .corrections()
                    .list_corrections(company, &filter, &page)
                    .await
            }
        })
        .await?;
        for c in &corrections {
            d.add(c)?;
        }
        let tasks = collect_pages(|page| {
            let filter = TaskFilter {
                assignees: Some(std::collections::BTreeSet::from([user])),
                ..TaskFilter::default()
            };
            async move { self.store.tasks().list_tasks(company, &filter, &page).await }
        })
        .await?;
        for t in tasks.iter().filter(|t| t.completion_note.is_some()) {
            d.add(&(t.id, &t.completion_note))?;
        }
        Ok(d.hex())
    }

    /// The users of `company` under a legal hold (the retention purge
    /// keeps their rows), and, when there are any, every other user.
    pub(super) async fn held_users(
        &self,
        company: CompanyId,
    ) -> Result<(
        std::collections::BTreeSet<UserId>,
        Option<std::collections::BTreeSet<UserId>>,
    )> {
        let (held, others): (Vec<User>, Vec<User>) = self
            .all_users(company, &UserFilter::default())
            .await?
            .into_iter()
            .partition(|u| u.privacy.legal_hold.is_some());
        if held.is_empty() {
            return Ok((Default::default(), None));
        }
        Ok((
            held.into_iter().map(|u| u.id).collect(),
            Some(others.into_iter().map(|u| u.id).collect()),
        ))
    }
}
