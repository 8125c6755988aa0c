//! Everything kept about a person, in one archive they download: written
//! file by file to an [`ArchiveSink`], a month of a kind at a time, so a
//! year of data never sits in memory whole.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::*;
use crate::access::AccessFilter;
use crate::authz::{Action, Principal, Target, authorize};
use crate::error::{Error, Result};
use crate::secret::SecretHash;
use crate::store::*;

/// Where an archive goes, file by file (a tar stream, a directory).
#[async_trait]
pub trait ArchiveSink: Send {
    /// Writes the file `name` (a relative path with `/`) whole.
    async fn file(&mut self, name: &str, bytes: Vec<u8>) -> Result<()>;
}

/// What an archive holds: every file with its number of items, size and
/// SHA-256. The archive's last file, `manifest.json`, is this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchiveManifest {
    /// Whose data.
    pub user_id: UserId,
    /// Their company.
    pub company_id: CompanyId,
    /// When the archive was made.
    pub generated_at: DateTime<Utc>,
    /// Every file before the manifest, in the order written.
    pub files: Vec<ArchiveFile>,
}

/// One file of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchiveFile {
    /// Path in the archive.
    pub name: String,
    /// Items it holds (lines of a `.jsonl` file; 1 for others).
    pub items: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
}

/// Writes files to the sink and keeps the manifest.
struct Writer<'a> {
    sink: &'a mut dyn ArchiveSink,
    files: Vec<ArchiveFile>,
}

impl Writer<'_> {
    async fn file(&mut self, name: String, items: u64, bytes: Vec<u8>) -> Result<()> {
        self.files.push(ArchiveFile {
            items,
            bytes: bytes.len() as u64,
            sha256: SecretHash::of_bytes(&bytes),
            name: name.clone(),
        });
        self.sink.file(&name, bytes).await
    }

    async fn json(&mut self, name: &str, value: &impl Serialize) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(value)
            .map_err(|e| Error::storage("archive", e.to_string()))?;
        self.file(name.to_owned(), 1, bytes).await
    }
}

/// JSON lines of one kind, cut into a file per month (`{prefix}/2026-11.jsonl`)
/// as items arrive in time order.
struct Monthly {
    prefix: &'static str,
    month: Option<String>,
    lines: Vec<u8>,
    items: u64,
}

impl Monthly {
    fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            month: None,
            lines: Vec::new(),
            items: 0,
        }
    }

    async fn push(
        &mut self,
        w: &mut Writer<'_>,
        at: DateTime<Utc>,
        item: &impl Serialize,
    ) -> Result<()> {
        let month = at.format("%Y-%m").to_string();
        if self.month.as_ref().is_some_and(|m| *m != month) {
            self.flush(w).await?;
        }
        self.month = Some(month);
        serde_json::to_writer(&mut self.lines, item)
            .map_err(|e| Error::storage("archive", e.to_string()))?;
        self.lines.push(b'\n');
        self.items += 1;
        Ok(())
    }

    async fn flush(&mut self, w: &mut Writer<'_>) -> Result<()> {
        if let Some(month) = self.month.take() {
            let name = format!("{}/{month}.jsonl", self.prefix);
            w.file(name, self.items, std::mem::take(&mut self.lines))
                .await?;
            self.items = 0;
        }
        Ok(())
    }
}

impl<S: Store + ?Sized> Tracker<S> {
    /// Writes everything kept about the caller to `sink`: their profile
    /// and consent, the policy that applies to them, their work sessions,
    /// activity and screenshots (metadata and images) a month per file,
    /// their tasks and corrections, the audit events that name them, who
    /// read their data, and last `manifest.json` with each file's item
    /// count, size and SHA-256 (also returned). Every company user, own
    /// data only.
    pub async fn my_archive(
        &self,
        p: &Principal,
        sink: &mut dyn ArchiveSink,
    ) -> Result<ArchiveManifest> {
        let company = Self::company_of(p, Action::ReadTracking)?;
        authorize(
            p,
            Action::ReadTracking,
            Target::user(company.id, p.user_id()),
        )?;
        let (company_id, me) = (company.id, p.user_id());
        let mine = Some(BTreeSet::from([me]));
        let generated_at = self.now();
        let mut w = Writer {
            sink,
            files: Vec::new(),
        };
        let user = self
            .store
            .users()
            .get_user(Some(company_id), me)
            .await?
            .ok_or(Error::not_found("user"))?;
        w.json(
            "profile.json",
            &serde_json::json!({
                "user": user,
                "company": { "id": company.id, "name": company.name, "timezone": company.timezone },
            }),
        )
        .await?;
        w.json("policy.json", &self.policy(p).await?).await?;

        let tracking = self.store.tracking();
        let filter = TrackingFilter {
            users: mine.clone(),
            ..TrackingFilter::default()
        };
        // A page at a time, a month per file: the bulk never sits whole.
        let mut out = Monthly::new("sessions");
        let mut pages = Pages::default();
        while let Some(page) = pages.next_page() {
            for x in pages.take(tracking.list_sessions(company_id, &filter, &page).await?) {
                out.push(&mut w, x.started_at, &x).await?;
            }
        }
        out.flush(&mut w).await?;
        let mut out = Monthly::new("activity");
        let mut pages = Pages::default();
        while let Some(page) = pages.next_page() {
            for e in pages.take(tracking.list_activity(company_id, &filter, &page).await?) {
                out.push(&mut w, e.started_at, &e).await?;
            }
        }
        out.flush(&mut w).await?;
        let mut out = Monthly::new("screenshots");
        let mut pages = Pages::default();
        while let Some(page) = pages.next_page() {
            for s in pages.take(
                tracking
                    .list_screenshots(company_id, &filter, &page)
                    .await?,
            ) {
                out.push(&mut w, s.taken_at, &s).await?;
                if let Some(image) = self.blobs.get(&s.blob_key).await? {
                    let ext = s.content_type.rsplit('/').next().unwrap_or("bin");
                    w.file(format!("screenshots/images/{}.{ext}", s.id), 1, image)
                        .await?;
                }
            }
        }
        out.flush(&mut w).await?;

        let tasks = collect_pages(|page| {
            let filter = TaskFilter {
                assignees: mine.clone(),
                ..TaskFilter::default()
            };
            async move {
                self.store
                    .tasks()
                    .list_tasks(company_id, &filter, &page)
                    .await
            }
        })
        .await?;
        self.lines(&mut w, "tasks.jsonl", &tasks).await?;
        let corrections = collect_pages(|page| {
            let filter = CorrectionFilter {
                users: mine.clone(),
                ..CorrectionFilter::default()
            };
            async move {
                self.store
                    .corrections()
                    .list_corrections(company_id, &filter, &page)
                    .await
            }
        })
        .await?;
        self.lines(&mut w, "corrections.jsonl", &corrections)
            .await?;

        // The company's chain, kept where it names the person.
        let id = me.to_string();
        let mut naming = Vec::new();
        let (chain, all) = (AuditChain::Company(company_id), AuditFilter::default());
        let mut pages = Pages::default();
        while let Some(page) = pages.next_page() {
            let found = self.store.audit().list_audit(chain, &all, &page).await?;
            naming.extend(
                pages.take(found).into_iter().filter(|e| {
                    e.actor.user_id() == Some(me) || e.details.to_string().contains(&id)
                }),
            );
        }
        self.lines(&mut w, "audit.jsonl", &naming).await?;
        let looked = collect_pages(|page| {
            let filter = AccessFilter {
                subject: Some(me),
                actor: None,
            };
            async move {
                self.store
                    .access()
                    .list_access(company_id, &filter, &page)
                    .await
            }
        })
        .await?;
        self.lines(&mut w, "access_log.jsonl", &looked).await?;

        let manifest = ArchiveManifest {
            user_id: me,
            company_id,
            generated_at,
            files: w.files.clone(),
        };
        w.json("manifest.json", &manifest).await?;
        Ok(manifest)
    }

    async fn lines(&self, w: &mut Writer<'_>, name: &str, items: &[impl Serialize]) -> Result<()> {
        let mut bytes = Vec::new();
        for item in items {
            serde_json::to_writer(&mut bytes, item)
                .map_err(|e| Error::storage("archive", e.to_string()))?;
            bytes.push(b'\n');
        }
        w.file(name.to_owned(), items.len() as u64, bytes).await
    }
}
