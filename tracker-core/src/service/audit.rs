//! The audit logs of a company and of the platform, their verification,
//! signed checkpoints and exports.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::audit::export::ExportWriter;
use crate::audit::*;
use crate::authz::{Action, Principal, Target, authorize};
use crate::error::{Error, Result, Validator};
use crate::paging::{Page, PageRequest};
use crate::store::*;

impl<S: Store + ?Sized> Tracker<S> {
    /// The company's audit log (ADMIN), filtered, ordered by seq. An actor
    /// filter naming no user of the company is "not found", as every id
    /// filter is.
    pub async fn company_audit(
        &self,
        p: &Principal,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let company = Self::company_for(p, Action::ReadAudit)?.id;
        if let Some(actor) = filter.actor {
            self.store
                .users()
                .get_user(Some(company), actor)
                .await?
                .ok_or(crate::error::Error::not_found("user"))?;
        }
        self.store
            .audit()
            .list_audit(AuditChain::Company(company), filter, page)
            .await
    }

    /// Verifies the company's audit chain (ADMIN).
    pub async fn verify_company_audit(&self, p: &Principal) -> Result<ChainVerification> {
        let company = Self::company_for(p, Action::ReadAudit)?.id;
        self.verify_chain(AuditChain::Company(company)).await
    }

    /// The platform audit chain (OWNER), filtered, ordered by seq.
    pub async fn platform_audit(
        &self,
        p: &Principal,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        authorize(p, Action::ReadAudit, Target::Platform)?;
        self.store
            .audit()
            .list_audit(AuditChain::Platform, filter, page)
            .await
    }

    /// Verifies the platform audit chain (OWNER).
    pub async fn verify_platform_audit(&self, p: &Principal) -> Result<ChainVerification> {
        authorize(p, Action::ReadAudit, Target::Platform)?;
        self.verify_chain(AuditChain::Platform).await
    }

    pub(super) async fn verify_chain(&self, chain: AuditChain) -> Result<ChainVerification> {
        const BATCH: usize = 1_000;
        let mut verifier = ChainVerifier::new(chain);
        let mut after = 0;
        loop {
            let events = self.store.audit().read_chain(chain, after, BATCH).await?;
            for e in &events {
                if let Err(broken) = verifier.push(e) {
                    return Ok(ChainVerification {
                        events: verifier.checked(),
                        broken: Some(broken),
                    });
                }
            }
            match events.last() {
                Some(last) if events.len() == BATCH => after = last.seq,
                _ => {
                    return Ok(ChainVerification {
                        events: verifier.checked(),
                        broken: None,
                    });
                }
            }
        }
    }
}

/// What a run of [`Tracker::sign_audit_checkpoints`] or
/// [`Tracker::rotate_audit_key`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRun {
    /// Checkpoints signed and stored.
    pub signed: u32,
    /// Chains another node signed first (their checkpoint stands).
    pub raced: u32,
}

impl<S: Store + ?Sized> Tracker<S> {
    /// Signs the head of every chain (the platform's and each company's)
    /// that moved since its last checkpoint, once
    /// [`TrackerConfig::checkpoint_every_events`](super::TrackerConfig::checkpoint_every_events)
    /// events follow it or
    /// [`checkpoint_interval`](super::TrackerConfig::checkpoint_interval)
    /// has passed; a chain never signed is signed at once. Does nothing
    /// without an audit key. Safe on many nodes at once: a checkpoint
    /// number is stored once, and the node that loses the race skips the
    /// chain.
    pub async fn sign_audit_checkpoints(&self) -> Result<CheckpointRun> {
        let Some(key) = self.audit_key.clone() else {
            return Ok(CheckpointRun::default());
        };
        let now = self.now();
        let mut run = CheckpointRun::default();
        for chain in self.chains().await? {
            let audit = self.store.audit();
            let Some(head) = audit.audit_head(chain).await? else {
                continue;
            };
            let last = audit.last_checkpoint(chain).await?;
            if let Some(last) = &last {
                let behind = head.seq.saturating_sub(last.event_seq);
                let due = behind >= self.config.checkpoint_every_events
                    || now - last.at >= self.config.checkpoint_interval;
                if behind == 0 || !due {
                    continue;
                }
            }
            let checkpoint = Checkpoint::sign(chain, &head, last.as_ref(), now, &key);
            self.store_checkpoint(&checkpoint, &mut run).await?;
        }
        Ok(run)
    }

    /// Hands the signing of every chain whose last checkpoint `old` signed
    /// over to this service's key: a checkpoint of the chain's head, signed
    /// by `old` and countersigned by the new key, so an auditor holding
    /// either key verifies the whole chain. Refused without an audit key.
    pub async fn rotate_audit_key(&self, old: &AuditKey) -> Result<CheckpointRun> {
        let Some(key) = self.audit_key.clone() else {
            return Err(Error::invalid_state(
                "the service has no audit key to rotate to",
            ));
        };
        let (old_hex, now) = (old.public_key().to_string(), self.now());
        let mut run = CheckpointRun::default();
        if old.public_key() == key.public_key() {
            return Ok(run);
        }
        for chain in self.chains().await? {
            let audit = self.store.audit();
            let Some(last) = audit.last_checkpoint(chain).await? else {
                continue;
            };
            if last.key_after() != old_hex {
                continue;
            }
            let Some(head) = audit.audit_head(chain).await? else {
                continue;
            };
            let rotation = Checkpoint::rotation(chain, &head, Some(&last), now, old, &key);
            self.store_checkpoint(&rotation, &mut run).await?;
        }
        Ok(run)
    }

    /// Chains whose last checkpoint hands signing to a key other than this
    /// service's: after a key change without [`rotate_audit_key`](Self::rotate_audit_key),
    /// their next checkpoints will not verify from the old key.
    pub async fn chains_signed_by_other_keys(&self) -> Result<Vec<AuditChain>> {
        let Some(ours) = self.audit_public_key().map(|k| k.to_string()) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for chain in self.chains().await? {
            if let Some(last) = self.store.audit().last_checkpoint(chain).await?
                && last.key_after() != ours
            {
                out.push(chain);
            }
        }
        Ok(out)
    }

    async fn store_checkpoint(&self, c: &Checkpoint, run: &mut CheckpointRun) -> Result<()> {
        match self.store.audit().append_checkpoint(c).await {
            Ok(()) => run.signed += 1,
            Err(Error::AlreadyExists { .. }) => run.raced += 1,
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// The platform's chain and every company's.
    async fn chains(&self) -> Result<Vec<AuditChain>> {
        let companies = self.store.tenants().all_companies().await?;
        Ok(std::iter::once(AuditChain::Platform)
            .chain(companies.into_iter().map(|c| AuditChain::Company(c.id)))
            .collect())
    }

    /// The company's audit chain as an export (ADMIN): newline-delimited
    /// JSON of the events from the first at or after `from` up to the first
    /// at or after `to`, with every checkpoint of the chain up to them and
    /// an end signed now (see [`crate::audit::export`]). Read page by page
    /// with [`AuditExport::next_chunk`].
    pub async fn company_audit_export(
        &self,
        p: &Principal,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<AuditExport<S>> {
        let company = Self::company_for(p, Action::ReadAudit)?.id;
        self.export(AuditChain::Company(company), from, to)
    }

    /// The platform's audit chain as an export (OWNER); see
    /// [`company_audit_export`](Self::company_audit_export).
    pub async fn platform_audit_export(
        &self,
        p: &Principal,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<AuditExport<S>> {
        authorize(p, Action::ReadAudit, Target::Platform)?;
        self.export(AuditChain::Platform, from, to)
    }

    fn export(
        &self,
        chain: AuditChain,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<AuditExport<S>> {
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            let mut v = Validator::new();
            v.push("to", "must not be before from");
            v.finish()?;
        }
        Ok(AuditExport {
            tracker: self.clone(),
            writer: ExportWriter::new(chain, from, to),
            chain,
            from,
            to,
            phase: Phase::Header,
            last_seq: 0,
            next_event: 0,
            checkpoints: VecDeque::new(),
            checkpoints_read: 0,
            checkpoints_done: false,
        })
    }
}

/// An audit export being written: call [`next_chunk`](Self::next_chunk)
/// until it returns `None`. Events appended after the export began are not
/// in it; its end is signed when the last chunk is made.
pub struct AuditExport<S: ?Sized = dyn Store> {
    tracker: Tracker<S>,
    writer: ExportWriter,
    chain: AuditChain,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    phase: Phase,
    /// The chain's head when the export began: nothing after it goes out.
    last_seq: u64,
    /// The seq of the next event to write.
    next_event: u64,
    checkpoints: VecDeque<Checkpoint>,
    checkpoints_read: u64,
    checkpoints_done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Header,
    History,
    Events,
    /// The checkpoints of heads after the last exported event, up to the
    /// head at the start: the key history an auditor follows to today's key.
    Later,
    End,
    Done,
}

const EXPORT_PAGE: usize = 500;

impl<S: Store + ?Sized> AuditExport<S> {
    /// The next lines of the export, `None` once it is complete.
    pub async fn next_chunk(&mut self) -> Result<Option<String>> {
        let audit = self.tracker.store.audit();
        match self.phase {
            Phase::Header => {
                self.last_seq = audit.audit_head(self.chain).await?.map_or(0, |h| h.seq);
                let filter = AuditFilter {
                    from: self.from,
                    ..AuditFilter::default()
                };
                let first = audit
                    .list_audit(self.chain, &filter, &PageRequest::first(1))
                    .await?
                    .items
                    .into_iter()
                    .next()
                    .filter(|e| e.seq <= self.last_seq && self.to.is_none_or(|t| e.at < t));
                self.phase = match first {
                    Some(e) => {
                        self.next_event = e.seq;
                        Phase::History
                    }
                    None => Phase::Later,
                };
                Ok(Some(self.writer.header()))
            }
            Phase::History => {
                self.checkpoints_up_to(self.next_event - 1, Phase::Events)
                    .await
            }
            Phase::Events => {
                let events = audit
                    .read_chain(self.chain, self.next_event - 1, EXPORT_PAGE)
                    .await?;
                let mut out = String::new();
                for e in &events {
                    if e.seq > self.last_seq || self.to.is_some_and(|t| e.at >= t) {
                        self.phase = Phase::Later;
                        return Ok(Some(out));
                    }
                    out += &self.writer.event(e);
                    self.next_event = e.seq + 1;
                    while let Some(c) = self.checkpoint_through(e.seq).await? {
                        out += &self.writer.checkpoint(&c);
                    }
                }
                if events.len() < EXPORT_PAGE {
                    self.phase = Phase::Later;
                }
                Ok(Some(out))
            }
            Phase::Later => self.checkpoints_up_to(self.last_seq, Phase::End).await,
            Phase::End => {
                self.phase = Phase::Done;
                let key = self.tracker.audit_key.as_deref();
                Ok(Some(self.writer.end(self.tracker.now(), key)))
            }
            Phase::Done => Ok(None),
        }
    }

    /// At most a page of the checkpoints not yet written that sign event
    /// `seq` or an earlier one; once they are all written, `next` comes.
    async fn checkpoints_up_to(&mut self, seq: u64, next: Phase) -> Result<Option<String>> {
        let mut out = String::new();
        for _ in 0..EXPORT_PAGE {
            match self.checkpoint_through(seq).await? {
                Some(c) => out += &self.writer.checkpoint(&c),
                None => {
                    self.phase = next;
                    break;
                }
            }
        }
        Ok(Some(out))
    }

    /// The next checkpoint not yet written if it signs event `seq` or an
    /// earlier one; checkpoints are read a page at a time.
    async fn checkpoint_through(&mut self, seq: u64) -> Result<Option<Checkpoint>> {
        if self.checkpoints.is_empty() && !self.checkpoints_done {
            let page = self
                .tracker
                .store
                .audit()
                .list_checkpoints(self.chain, self.checkpoints_read, EXPORT_PAGE)
                .await?;
            self.checkpoints_done = page.len() < EXPORT_PAGE;
            self.checkpoints_read = page.last().map_or(self.checkpoints_read, |c| c.number);
            self.checkpoints.extend(page);
        }
        if self.checkpoints.front().is_some_and(|c| c.event_seq <= seq) {
            Ok(self.checkpoints.pop_front())
        } else {
            Ok(None)
        }
    }
}
