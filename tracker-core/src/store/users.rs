//! Users: company users and the platform's owners.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::collect_pages;
use crate::audit::NewAuditEvent;
use crate::error::Result;
use crate::identity::User;
use crate::ids::{CompanyId, UserId};
use crate::paging::{Page, PageRequest};

/// Filter of a user list. Every field narrows the list; the default lists
/// every user of the company.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Only these users (a manager's scope).
    pub ids: Option<BTreeSet<UserId>>,
    /// Only active (or inactive) users.
    pub active: Option<bool>,
    /// Only the user with this normalized username.
    pub username: Option<String>,
}

impl UserFilter {
    /// Whether `user` passes the filter.
    pub fn matches(&self, user: &User) -> bool {
        self.ids.as_ref().is_none_or(|ids| ids.contains(&user.id))
            && self.active.is_none_or(|a| user.active == a)
            && self.username.as_ref().is_none_or(|n| *n == user.username)
    }
}

/// Options of a user update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// When the update makes the user hold a seat again, refuse with
    /// `SeatLimitReached` if this many seats are already held.
    pub seat_limit: Option<u32>,
    /// Delete every token of the user in the same transaction.
    pub revoke_tokens: bool,
    /// The stored `active` flag the update was computed from: when given,
    /// a store whose user has the other MUST refuse with `InvalidState`
    /// and write nothing, so a deactivation or reactivation happens once
    /// however many callers race ([`check_active`](Self::check_active)).
    pub expect_active: Option<bool>,
}

impl UserUpdate {
    /// The `active` rule every store applies inside its transaction, given
    /// the stored flag.
    pub fn check_active(&self, stored: bool) -> Result<()> {
        match self.expect_active {
            Some(expected) if expected != stored => {
                Err(crate::error::Error::invalid_state(if stored {
                    "the user is active now: another request reactivated it first"
                } else {
                    "the user is inactive now: another request deactivated it first"
                }))
            }
            _ => Ok(()),
        }
    }
}

/// Users. A user of a company has `company_id: Some(company)`; an OWNER
/// has none, and `None` in place of a company names the owners.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Stores a user. MUST fail with `UsernameTaken` if the username exists
    /// in the same company (or among owners), and with `SeatLimitReached`
    /// if `seat_limit` is given and that many active company users exist.
    async fn insert_user(
        &self,
        user: &User,
        seat_limit: Option<u32>,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Users of `company` (`None`: the owners) passing `filter`, ordered
    /// by id.
    async fn list_users(
        &self,
        company: Option<CompanyId>,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<User>>;
    /// Replaces a user record (MUST fail with `NotFound` if it is not a
    /// user of its company), optionally revoking its tokens. The stored
    /// `last_agent_sync_at` is kept: only heartbeats move it, so an update
    /// made from an older read cannot take it back.
    async fn update_user(
        &self,
        user: &User,
        update: &UserUpdate,
        audit: NewAuditEvent,
    ) -> Result<()>;

    /// A user of `company` (`None`: an owner) by id. Provided over
    /// [`list_users`](Self::list_users).
    async fn get_user(&self, company: Option<CompanyId>, id: UserId) -> Result<Option<User>> {
        let filter = UserFilter {
            ids: Some(BTreeSet::from([id])),
            ..UserFilter::default()
        };
        let page = self
            .list_users(company, &filter, &PageRequest::first(1))
            .await?;
        Ok(page.items.into_iter().next())
    }
    /// A user of `company` (`None`: an owner) by normalized username.
    /// Provided over [`list_users`](Self::list_users).
    async fn user_by_username(
        &self,
        company: Option<CompanyId>,
        username: &str,
    ) -> Result<Option<User>> {
        let filter = UserFilter {
            username: Some(username.to_owned()),
            ..UserFilter::default()
        };
        let page = self
            .list_users(company, &filter, &PageRequest::first(1))
            .await?;
        Ok(page.items.into_iter().next())
    }
    /// Active users of a company: the seats in use. Provided over
    /// [`list_users`](Self::list_users).
    async fn count_seats(&self, company: CompanyId) -> Result<u32> {
        let filter = &UserFilter {
            active: Some(true),
            ..UserFilter::default()
        };
        let seats =
            collect_pages(
                |page| async move { self.list_users(Some(company), filter, &page).await },
            )
            .await?;
        Ok(u32::try_from(seats.len()).unwrap_or(u32::MAX))
    }
    /// Whether any owner account exists. Provided over
    /// [`list_users`](Self::list_users).
    async fn has_owner(&self) -> Result<bool> {
        let page = self
            .list_users(None, &UserFilter::default(), &PageRequest::first(1))
            .await?;
        Ok(!page.items.is_empty())
    }
}
