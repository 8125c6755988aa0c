//! Signing in and out, tokens, and the owner accounts.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::audit::*;
use crate::authz::{Action, Principal, Target, authorize};
use crate::error::{Error, Result, Validator};
use crate::identity::*;
use crate::policy::TrackingPolicy;
use crate::protocol::*;
use crate::secret::*;
use crate::store::*;
use crate::tenancy::*;

impl<S: Store + ?Sized> Tracker<S> {
    /// Logs in with username and password (and the company key for company
    /// users) and issues a token. A wrong key is `InvalidCompanyKey`; a
    /// wrong username or password, or an inactive user, is
    /// `InvalidCredentials` (and is audited); after
    /// [`TrackerConfig::login_failures`] of those for one account within
    /// [`TrackerConfig::login_window`], its attempts are refused unchecked
    /// with `TooManyAttempts` until the window ends; a suspended or expired
    /// company is refused once the credentials are right.
    pub async fn login(
        &self,
        req: LoginRequest,
        client_ip: Option<String>,
    ) -> Result<LoginResponse> {
        let now = self.now();
        let company = match req.company_key.as_deref() {
            Some(key) => {
                let key = CompanyKey::parse(key.trim()).ok_or(Error::InvalidCompanyKey)?;
                let company = self
                    .store
                    .tenants()
                    .company_by_key_hash(&key.hash())
                    .await?
                    .ok_or(Error::InvalidCompanyKey)?;
                Some(company)
            }
            None => None,
        };
        let company_id = company.as_ref().map(|c| c.id);
        let username = normalize_username(&req.username);
        let account = (company_id, username.clone());
        let window = self.config.login_window;
        if let Some((wait, first)) =
            self.logins
                .refused(&account, now, self.config.login_failures, window)
        {
            // Refused before the password is checked, so a guess costs
            // nothing to try and learns nothing. The first refusal of a
            // window is on the record; the rest would only flood it.
            if first {
                let named = company_id.is_some();
                self.failed_login(company_id, &username, named, true, client_ip, now)
                    .await?;
            }
            return Err(Error::TooManyAttempts {
                retry_after_secs: wait,
            });
        }
        let user = self
            .store
            .users()
            .user_by_username(company_id, &username)
            .await?;
        let verified = match &user {
            Some(u) => self.hasher.verify(&req.password, &u.password_hash),
            None => {
                // Same work as a real check, so timing does not tell which usernames exist.
                self.hasher.verify(&req.password, self.dummy_hash());
                false
            }
        };
        let user = match user {
            Some(u) if verified && u.active => u,
            known => {
                self.logins.failed(account, now, window);
                // Without a company key the name is looked up among the
                // operators. One that is not theirs may be a person's who
                // forgot the key: the platform's log, which the OWNER
                // reads, does not name them.
                let named = company_id.is_some() || known.is_some();
                self.failed_login(company_id, &username, named, false, client_ip, now)
                    .await?;
                return Err(Error::InvalidCredentials);
            }
        };
        self.logins.succeeded(&account);
        // Only the right credentials learn that their company is suspended
        // or expired: a guess gets the same 401 as anywhere else.
        if let Some(c) = &company {
            c.check_access(now)?;
        }
        let token = ApiToken::generate()?;
        let expires_at = now + self.config.token_ttl;
        let audit = session_event(
            &user,
            AuditAction::LoginSucceeded,
            "signed in",
            serde_json::json!({ "expires_at": expires_at }),
            client_ip,
            now,
        );
        self.store
            .agents()
            .insert_token(
                &TokenRecord {
                    hash: token.hash(),
                    user_id: user.id,
                    company_id: user.company_id,
                    created_at: now,
                    expires_at,
                },
                audit,
            )
            .await?;
        Ok(LoginResponse {
            token,
            expires_at,
            user,
            company,
        })
    }

    /// Revokes a token, audited as a sign-out of its user. Revoking an
    /// unknown token is not an error.
    pub async fn logout(&self, token: &str, client_ip: Option<String>) -> Result<()> {
        let hash = ApiToken::from_client(token).hash();
        let Some(context) = self.store.agents().token_context(&hash).await? else {
            return Ok(());
        };
        let now = self.now();
        let audit = context.user.map(|user| {
            let details = serde_json::json!({});
            session_event(
                &user,
                AuditAction::LoggedOut,
                "signed out",
                details,
                client_ip,
                now,
            )
        });
        self.store.agents().delete_token(&hash, audit).await
    }

    /// Revokes a token without a sign-out on the record: for a session that
    /// its transport ended, such as an idle console session.
    pub async fn revoke_token(&self, token: &str) -> Result<()> {
        let hash = ApiToken::from_client(token).hash();
        self.store.agents().delete_token(&hash, None).await
    }

    /// The caller behind a bearer token: unknown, expired or revoked
    /// tokens and inactive users are `Unauthenticated`; users of a
    /// suspended or expired company are refused.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        self.token_principal(token).await.map(|(p, _)| p)
    }

    /// [`authenticate`](Self::authenticate), with the policy of the
    /// caller's company that the same store read returned.
    pub(crate) async fn token_principal(
        &self,
        token: &str,
    ) -> Result<(Principal, Option<TrackingPolicy>)> {
        let hash = ApiToken::from_client(token).hash();
        let context = self
            .store
            .agents()
            .token_context(&hash)
            .await?
            .ok_or(Error::Unauthenticated)?;
        if context.token.expires_at <= self.now() {
            self.store.agents().delete_token(&hash, None).await?;
            return Err(Error::Unauthenticated);
        }
        let user = context
            .user
            .filter(|u| u.active && u.id == context.token.user_id)
            .ok_or(Error::Unauthenticated)?;
        let principal = self.principal_of(user, context.company).await?;
        Ok((principal, context.policy))
    }

    /// Makes a [`Principal`] of an identity established elsewhere (see
    /// [`Authenticator`]), with the same checks as [`authenticate`](Self::authenticate).
    pub async fn resolve(&self, identity: Identity) -> Result<Principal> {
        let user = self
            .store
            .users()
            .get_user(identity.company_id, identity.user_id)
            .await?
            .filter(|u| u.active)
            .ok_or(Error::Unauthenticated)?;
        let company = match user.company_id {
            Some(id) => self.store.tenants().get_company(id).await?,
            None => None,
        };
        self.principal_of(user, company).await
    }

    /// The principal of an active user and the company the store holds for
    /// it: the company must be the user's and open to its users.
    pub(super) async fn principal_of(
        &self,
        user: User,
        company: Option<Company>,
    ) -> Result<Principal> {
        let Some(company_id) = user.company_id else {
            return Ok(Principal::new(user, None, BTreeSet::new()));
        };
        let company = company
            .filter(|c| c.id == company_id)
            .ok_or(Error::Unauthenticated)?;
        company.check_access(self.now())?;
        let managed = if user.role == Role::Manager {
            self.store
                .teams()
                .list_teams(company_id)
                .await?
                .into_iter()
                .filter(|t| t.managers.contains(&user.id))
                .flat_map(|t| t.members)
                .collect()
        } else {
            BTreeSet::new()
        };
        Ok(Principal::new(user, Some(company), managed))
    }

    pub(super) fn dummy_hash(&self) -> &str {
        self.dummy_hash.get_or_init(|| {
            self.hasher
                .hash("dummy password for timing")
                .unwrap_or_default()
        })
    }

    /// Creates the first OWNER account of an empty installation. Refused
    /// with `InvalidState` once any owner exists: further owners are made
    /// by an owner with [`create_owner`](Self::create_owner).
    pub async fn bootstrap_owner(&self, username: &str, password: &str) -> Result<User> {
        if self.store.users().has_owner().await? {
            return Err(Error::invalid_state("an owner account exists already"));
        }
        self.insert_owner(Actor::System, None, username, password)
            .await
    }

    /// An OWNER creates another OWNER account.
    pub async fn create_owner(&self, p: &Principal, new: &NewUser) -> Result<User> {
        authorize(p, Action::CompanyLifecycle, Target::Platform)?;
        let actor = Self::actor(p);
        self.insert_owner(
            actor,
            p.client_ip().map(str::to_owned),
            &new.username,
            &new.password,
        )
        .await
    }

    pub(super) async fn insert_owner(
        &self,
        actor: Actor,
        ip: Option<String>,
        username: &str,
        password: &str,
    ) -> Result<User> {
        let mut v = Validator::new();
        validate_username(&mut v, "username", username);
        validate_password(&mut v, "password", password);
        v.finish()?;
        let now = self.now();
        let username = normalize_username(username);
        let user = User {
            id: UserId::new(),
            company_id: None,
            role: Role::Owner,
            username: username.clone(),
            email: None,
            display_name: username.clone(),
            active: true,
            last_agent_sync_at: None,
            password_hash: self.hasher.hash(password)?,
            created_at: now,
            privacy: Default::default(),
        };
        let event = NewAuditEvent {
            chain: AuditChain::Platform,
            actor,
            action: AuditAction::OwnerCreated,
            description: format!("owner {username} created"),
            details: serde_json::json!({ "user_id": user.id }),
            client_ip: ip,
            at: now,
        };
        self.store.users().insert_user(&user, None, event).await?;
        Ok(user)
    }

    /// Records a failed sign-in in its company's audit chain, or in the
    /// platform's; the name only when `named`. `throttled`: refused
    /// unchecked, the account having used up its attempts.
    async fn failed_login(
        &self,
        company: Option<CompanyId>,
        username: &str,
        named: bool,
        throttled: bool,
        client_ip: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let why = if throttled {
            " (too many attempts: not checked)"
        } else {
            ""
        };
        let (description, details) = if named {
            (
                format!("failed login for {username:?}{why}"),
                serde_json::json!({ "username": username, "throttled": throttled }),
            )
        } else {
            (
                format!("failed login for a name that is no operator's{why}"),
                serde_json::json!({ "throttled": throttled }),
            )
        };
        let event = NewAuditEvent {
            chain: company.map_or(AuditChain::Platform, AuditChain::Company),
            actor: Actor::Anonymous,
            action: AuditAction::LoginFailed,
            description,
            details,
            client_ip,
            at: now,
        };
        self.store.audit().append_audit(event).await.map(drop)
    }
}

/// A sign-in or sign-out of `user`, in its company's chain or, for an
/// OWNER, the platform's.
fn session_event(
    user: &User,
    action: AuditAction,
    what: &str,
    details: serde_json::Value,
    client_ip: Option<String>,
    at: DateTime<Utc>,
) -> NewAuditEvent {
    NewAuditEvent {
        chain: user
            .company_id
            .map_or(AuditChain::Platform, AuditChain::Company),
        actor: Actor::User {
            id: user.id,
            username: user.username.clone(),
        },
        action,
        description: format!("{} {what}", user.username),
        details,
        client_ip,
        at,
    }
}

/// Failed sign-ins per account (company, username) in the current window.
/// Held per process: on several nodes, each counts its own.
#[derive(Debug, Default)]
pub(crate) struct LoginFailures {
    accounts: std::sync::Mutex<HashMap<Account, Failures>>,
}

type Account = (Option<CompanyId>, String);

#[derive(Debug)]
struct Failures {
    since: DateTime<Utc>,
    count: u32,
    /// Whether a refusal of this window was audited already.
    noted: bool,
}

impl LoginFailures {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Account, Failures>> {
        // The counts stay usable even if a holder panicked.
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seconds until `account` may try again, and whether this is the
    /// window's first refusal, if it has used up its failures in a window
    /// that is still open.
    fn refused(
        &self,
        account: &Account,
        now: DateTime<Utc>,
        limit: u32,
        window: Duration,
    ) -> Option<(u64, bool)> {
        let mut map = self.map();
        let f = map.get_mut(account)?;
        let ends = f.since + window;
        if f.count < limit.max(1) || now >= ends {
            return None;
        }
        let first = !std::mem::replace(&mut f.noted, true);
        let wait = u64::try_from((ends - now).num_seconds())
            .unwrap_or(0)
            .max(1);
        Some((wait, first))
    }

    fn failed(&self, account: Account, now: DateTime<Utc>, window: Duration) {
        let mut map = self.map();
        // Forget finished windows now and then, so guessed names do not
        // pile up.
        if map.len() >= 10_000 {
            map.retain(|_, f| f.since + window > now);
        }
        let f = map.entry(account).or_insert(Failures {
            since: now,
            count: 0,
            noted: false,
        });
        if f.since + window <= now {
            *f = Failures {
                since: now,
                count: 0,
                noted: false,
            };
        }
        f.count += 1;
    }

    fn succeeded(&self, account: &Account) {
        self.map().remove(account);
    }
}
