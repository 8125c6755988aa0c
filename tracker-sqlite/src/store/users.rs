//! [`UserStore`]: users of companies, and the platform's owners.

use async_trait::async_trait;
use rusqlite::params;
use tracker_core::audit::NewAuditEvent;
use tracker_core::error::{Error, Result};
use tracker_core::paging::{Page, PageRequest};
use tracker_core::store::{UserFilter, UserStore, UserUpdate};
use tracker_core::tenancy::check_seat_available;
use tracker_core::{CompanyId, User, UserId};

use crate::SqliteStore;
use crate::codec::{self, company_key};
use crate::rows::{append, seats, user_company, user_row, username_taken, write_user};
use crate::sql::{Query, count, exec, one};

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(
        &self,
        user: &User,
        seat_limit: Option<u32>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let user = user.clone();
        self.engine
            .write(move |c| {
                if let Some(company) = user.company_id
                    && count(
                        c,
                        "SELECT count(*) FROM companies WHERE id = ?1",
                        params![company.0],
                    )? == 0
                {
                    return Err(Error::not_found("company"));
                }
                if username_taken(c, &user)? {
                    return Err(Error::UsernameTaken {
                        username: user.username,
                    });
                }
                if let (Some(limit), Some(company)) = (seat_limit, user.company_id)
                    && user.active
                {
                    check_seat_available(limit, seats(c, company)?)?;
                }
                write_user(c, &user)?;
                append(c, audit).map(drop)
            })
            .await
    }

    async fn list_users(
        &self,
        company: Option<CompanyId>,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<User>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.engine
            .read(move |c| {
                // Owners are the users of the platform's key.
                let q = Query::scoped("SELECT * FROM user_rows", company_key(company))
                    .in_set("id", filter.ids.as_ref())
                    .and_opt("active = ?", filter.active)
                    .and_opt("username = ?", filter.username);
                let (q, limit) = q.page_id(&page)?;
                Ok(Page::from_overfetch(q.run(c, codec::user)?, limit, |u| {
                    u.id.to_string()
                }))
            })
            .await
    }

    async fn update_user(
        &self,
        user: &User,
        update: &UserUpdate,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let (user, update) = (user.clone(), update.clone());
        self.engine
            .write(move |c| {
                let old = user_row(c, user.company_id, user.id)?.ok_or(Error::not_found("user"))?;
                update.check_active(old.active)?;
                if username_taken(c, &user)? {
                    return Err(Error::UsernameTaken {
                        username: user.username,
                    });
                }
                if let (Some(limit), Some(company)) = (update.seat_limit, user.company_id)
                    && user.active
                    && !old.active
                {
                    check_seat_available(limit, seats(c, company)?)?;
                }
                write_user(c, &user)?;
                if update.revoke_tokens {
                    exec(
                        c,
                        "DELETE FROM tokens WHERE company_id = ?1 AND user_id = ?2",
                        params![user_company(&user), user.id.0],
                    )?;
                }
                append(c, audit).map(drop)
            })
            .await
    }

    // Provided methods, overridden with one key lookup or one count.

    async fn get_user(&self, company: Option<CompanyId>, id: UserId) -> Result<Option<User>> {
        self.engine.point(move |c| user_row(c, company, id)).await
    }

    async fn user_by_username(
        &self,
        company: Option<CompanyId>,
        username: &str,
    ) -> Result<Option<User>> {
        let key = company_key(company);
        let username = username.to_owned();
        self.engine
            .read(move |c| {
                one(
                    c,
                    "SELECT * FROM user_rows WHERE company_id = ?1 AND username = ?2",
                    params![key, username],
                    codec::user,
                )
            })
            .await
    }

    async fn count_seats(&self, company: CompanyId) -> Result<u32> {
        self.engine.read(move |c| seats(c, company)).await
    }

    async fn has_owner(&self) -> Result<bool> {
        self.engine
            .read(|c| {
                Ok(count(
                    c,
                    "SELECT count(*) FROM users WHERE company_id = ?1",
                    params![codec::PLATFORM],
                )? > 0)
            })
            .await
    }
}
