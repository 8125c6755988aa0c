//! The audit logs of a company and of the platform, and their verification.

use super::*;
use crate::audit::*;
use crate::authz::{Action, Principal, Target, authorize};
use crate::error::Result;
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
