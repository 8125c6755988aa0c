//! [`UserStore`]: company users and the platform's owners (stored under
//! the all-zero company id, see [`company_key`]).

use async_trait::async_trait;
use tracker_core::audit::NewAuditEvent;
use tracker_core::paging::{Page, PageRequest};
use tracker_core::store::{UserFilter, UserStore, UserUpdate};
use tracker_core::tenancy::check_seat_available;
use tracker_core::{CompanyId, Error, Result, User, UserId};

use crate::PgStore;
use crate::chain::append;
use crate::codec::{self, company_key};
use crate::scope::Scope;
use crate::shared::{company_exists, seats, username_taken, write_user};
use crate::sql::{Select, exec, exists, one, q};
use crate::tx::{Lock, lock};

#[async_trait]
impl UserStore for PgStore {
    async fn insert_user(
        &self,
        user: &User,
        seat_limit: Option<u32>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.in_tx(Scope::of_opt(user.company_id), async |tx| {
            if let Some(company) = user.company_id
                && !company_exists(tx, company).await?
            {
                return Err(Error::not_found("company"));
            }
            if username_taken(tx, user).await? {
                return Err(Error::UsernameTaken {
                    username: user.username.clone(),
                });
            }
            if let (Some(limit), Some(company)) = (seat_limit, user.company_id)
                && user.active
            {
                lock(tx, Lock::Limits, company).await?;
                check_seat_available(limit, seats(tx, company).await?)?;
            }
            write_user(tx, user).await?;
            append(tx, audit).await?;
            Ok(())
        })
        .await
    }

    async fn list_users(
        &self,
        company: Option<CompanyId>,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<User>> {
        let (s, limit) = Select::new("SELECT * FROM users", company_key(company))
            .any("id", filter.ids.as_ref())
            .and_opt("active = ", filter.active)
            .and_opt("username = ", filter.username.clone())
            .page_id(page)?;
        Ok(Page::from_overfetch(
            s.run(self, codec::user).await?,
            limit,
            |u| u.id.to_string(),
        ))
    }

    async fn update_user(
        &self,
        user: &User,
        update: &UserUpdate,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let key = company_key(user.company_id);
        let written = self
            .in_tx(Scope::of_opt(user.company_id), async |tx| {
                let old = one(
                    tx,
                    q("SELECT * FROM users WHERE company_id = $1 AND id = $2 FOR UPDATE")
                        .bind(key)
                        .bind(user.id.0),
                    codec::user,
                )
                .await?
                .ok_or(Error::not_found("user"))?;
                update.check_active(old.active)?;
                if username_taken(tx, user).await? {
                    return Err(Error::UsernameTaken {
                        username: user.username.clone(),
                    });
                }
                if let (Some(limit), Some(company)) = (update.seat_limit, user.company_id)
                    && user.active
                    && !old.active
                {
                    lock(tx, Lock::Limits, company).await?;
                    check_seat_available(limit, seats(tx, company).await?)?;
                }
                write_user(tx, user).await?;
                if update.revoke_tokens {
                    exec(
                        tx,
                        q("DELETE FROM tokens WHERE company_id = $1 AND user_id = $2")
                            .bind(key)
                            .bind(user.id.0),
                    )
                    .await?;
                }
                append(tx, audit).await?;
                Ok(())
            })
            .await;
        self.forgetting(user.company_id, written)
    }

    async fn get_user(&self, company: Option<CompanyId>, id: UserId) -> Result<Option<User>> {
        self.read_one(
            Scope::of_opt(company),
            q("SELECT * FROM users WHERE company_id = $1 AND id = $2")
                .bind(company_key(company))
                .bind(id.0),
            codec::user,
        )
        .await
    }

    async fn user_by_username(
        &self,
        company: Option<CompanyId>,
        username: &str,
    ) -> Result<Option<User>> {
        self.read_one(
            Scope::of_opt(company),
            q("SELECT * FROM users WHERE company_id = $1 AND username = $2")
                .bind(company_key(company))
                .bind(username.to_owned()),
            codec::user,
        )
        .await
    }

    async fn count_seats(&self, company: CompanyId) -> Result<u32> {
        seats(&mut *self.conn(Scope::of(company)).await?, company).await
    }

    async fn has_owner(&self) -> Result<bool> {
        exists(
            &mut *self.conn(Scope::of_opt(None)).await?,
            q("SELECT 1 FROM users WHERE company_id = $1 LIMIT 1").bind(codec::PLATFORM),
        )
        .await
    }
}
