//! Signing in and out, tokens, and the owner accounts.

use std::collections::BTreeSet;

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
    /// `InvalidCredentials` (and is audited); a suspended or expired
    /// company is refused.
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
                let chain = company_id.map_or(AuditChain::Platform, AuditChain::Company);
                // Without a company key the name is looked up among the
                // operators. One that is not theirs may be a person's who
                // forgot the key: the platform's log, which the OWNER
                // reads, does not name them.
                let (description, details) = match (company_id, known) {
                    (None, None) => (
                        "failed login for a name that is no operator's".to_owned(),
                        serde_json::json!({}),
                    ),
                    _ => (
                        format!("failed login for {username:?}"),
                        serde_json::json!({ "username": username }),
                    ),
                };
                let event = NewAuditEvent {
                    chain,
                    actor: Actor::Anonymous,
                    action: AuditAction::LoginFailed,
                    description,
                    details,
                    client_ip,
                    at: now,
                };
                self.store.audit().append_audit(event).await?;
                return Err(Error::InvalidCredentials);
            }
        };
        // Only the right credentials learn that their company is suspended
        // or expired: a guess gets the same 401 as anywhere else.
        if let Some(c) = &company {
            c.check_access(now)?;
        }
        let token = ApiToken::generate()?;
        let expires_at = now + self.config.token_ttl;
        self.store
            .agents()
            .insert_token(&TokenRecord {
                hash: token.hash(),
                user_id: user.id,
                company_id: user.company_id,
                created_at: now,
                expires_at,
            })
            .await?;
        Ok(LoginResponse {
            token,
            expires_at,
            user,
            company,
        })
    }

    /// Revokes a token. Revoking an unknown token is not an error.
    pub async fn logout(&self, token: &str) -> Result<()> {
        self.store
            .agents()
            .delete_token(&ApiToken::from_client(token).hash())
            .await
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
            self.store.agents().delete_token(&hash).await?;
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
}
