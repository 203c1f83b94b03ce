//! Who is calling: the `Principal` a valid access token names, and what it may do.
//!
//! Invariants: a bearer token counts only if it is ours, unexpired, still on record for its
//! subject (a deleted user's token stays dead), of a family not revoked and not past its
//! longest lifetime, and of the kind (admin or user) its family was opened for; a user token
//! acts only on its own user.

use chrono::{DateTime, Utc};

use crate::audit::AuditAction;
use crate::error::{CoreError, CoreResult, CredentialKind};
use crate::store::NewAuditRow;
use crate::tokens::SubjectKind;
use crate::types::DeviceToken;
use crate::users::User;
use crate::{Core, RequestMeta};
use tus_wire::views::{Action, Role};

/// Who presents a valid access token (or API key).
#[derive(Debug, Clone)]
pub enum Principal {
    User(Box<User>),
    Admin(Box<AdminCaller>),
    /// A back end's API key: only what its scopes allow.
    Service(Box<crate::apikeys::ApiKey>),
}

/// A signed-in admin: their role, and the scope it applies in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCaller {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// The applications of an admin scoped to applications (`None`: not so scoped).
    pub applications: Option<Vec<String>>,
    /// Every instance the admin's scope reaches, now (`None`: every instance).
    pub instances: Option<Vec<String>>,
    /// The session (token family) this request comes from.
    pub session: Option<String>,
    /// Signs in with a TOTP code.
    pub totp: bool,
    /// TOTP is required of their role and not set up: they may do nothing but enrol.
    pub must_enrol: bool,
}

impl Principal {
    /// An admin of every instance with `role` (the first admin, tests, the command line).
    pub fn unscoped_admin(id: &str, email: &str, role: Role) -> Principal {
        Principal::Admin(Box::new(AdminCaller {
            id: id.into(),
            email: email.into(),
            role,
            applications: None,
            instances: None,
            session: None,
            totp: false,
            must_enrol: false,
        }))
    }

    pub fn actor(&self) -> String {
        match self {
            Principal::User(u) => format!("user:{}", u.device_token),
            Principal::Admin(a) => format!("admin:{}", a.email),
            Principal::Service(key) => format!("apikey:{}", key.name),
        }
    }

    /// The signed-in admin, if this is one.
    pub fn admin(&self) -> Option<&AdminCaller> {
        match self {
            Principal::Admin(a) => Some(a),
            _ => None,
        }
    }

    /// The signed-in admin acting on their own account (password, sessions, TOTP), or 403.
    pub fn signed_in_admin(&self) -> CoreResult<&AdminCaller> {
        self.admin().ok_or_else(|| {
            CoreError::Forbidden(
                "this is an admin's own account: it needs an admin's session".into(),
            )
        })
    }

    /// Whether this caller may do `action` at all (within its scope: objects outside it are
    /// still not found). The one place roles and API-key scopes are decided.
    pub fn may(&self, action: Action) -> bool {
        let scoped = self.instance_limit().is_some();
        match self {
            Principal::Admin(a) => !a.must_enrol && action.allows(a.role, scoped),
            Principal::Service(key) => {
                !(scoped && action.everywhere())
                    && action.api_scope().is_some_and(|s| key.scopes.contains(&s))
            }
            Principal::User(_) => false,
        }
    }

    /// `may(action)`, or 403 saying why.
    pub fn allow(&self, action: Action) -> CoreResult<()> {
        if self.may(action) {
            return Ok(());
        }
        let why = match self {
            Principal::User(_) => "this route needs an admin token".to_string(),
            Principal::Admin(a) if a.must_enrol => {
                "set up TOTP first (your account page): it is required of your role".to_string()
            }
            Principal::Admin(a) if a.role < action.role() => format!(
                "the {} role may not {}: it takes {}",
                a.role.as_str(),
                action.what(),
                action.role().as_str()
            ),
            Principal::Admin(_) => format!(
                "an admin limited to some applications or instances may not {}",
                action.what()
            ),
            Principal::Service(key) => match action.api_scope() {
                Some(scope) if !key.scopes.contains(&scope) => {
                    format!("this API key lacks the {} scope", scope.as_str())
                }
                Some(_) => format!("an API key limited to instances may not {}", action.what()),
                None => format!("an API key may not {}: it takes an admin", action.what()),
            },
        };
        Err(CoreError::Forbidden(why))
    }

    /// A user token acts on itself (`target_user` sees to that); anyone else needs `action`.
    pub fn allow_unless_self(&self, action: Action) -> CoreResult<()> {
        match self {
            Principal::User(_) => Ok(()),
            _ => self.allow(action),
        }
    }

    /// The instances this caller is limited to; `None`: every instance.
    pub fn instance_limit(&self) -> Option<&[String]> {
        match self {
            Principal::Service(key) => key.instances.as_deref(),
            Principal::Admin(a) => a.instances.as_deref(),
            Principal::User(_) => None,
        }
    }

    /// Whether this caller may make an instance in `application` (an admin scoped to
    /// instances may not; one scoped to applications only in them).
    pub fn may_add_instance_to(&self, application: &str) -> bool {
        if !self.may(Action::ManageInstances) {
            return false;
        }
        match self {
            Principal::Admin(a) => match (&a.applications, &a.instances) {
                (Some(apps), _) => apps.iter().any(|id| id == application),
                (None, limit) => limit.is_none(),
            },
            _ => false,
        }
    }

    /// Whether this caller may see anything of `instance_id` (outside: as if it did not
    /// exist, 404). A user token is held to itself by `Core::target_user`.
    pub fn sees_instance(&self, instance_id: &str) -> bool {
        self.instance_limit()
            .is_none_or(|ids| ids.iter().any(|id| id == instance_id))
    }

    /// Whether this caller sees `instance` of `application`: as `sees_instance`, and also
    /// an instance made in one of an application-scoped admin's applications after this
    /// request began (such as one they just created).
    pub fn sees_instance_in(&self, instance_id: &str, application: &str) -> bool {
        self.sees_instance(instance_id)
            || self
                .admin()
                .and_then(|a| a.applications.as_ref())
                .is_some_and(|apps| apps.iter().any(|a| a == application))
    }

    /// An instance filter (`None`: every instance) narrowed to what this caller sees.
    pub fn narrow(&self, instances: Option<Vec<String>>) -> Option<Vec<String>> {
        match (self.instance_limit(), instances) {
            (None, asked) => asked,
            (Some(limit), None) => Some(limit.to_vec()),
            (Some(_), Some(asked)) => Some(
                asked
                    .into_iter()
                    .filter(|id| self.sees_instance(id))
                    .collect(),
            ),
        }
    }

    /// A stored user this caller may act on, or 404 (none, or outside its instances).
    pub fn visible_user(
        &self,
        row: Option<crate::store::UserRow>,
    ) -> CoreResult<crate::store::UserRow> {
        row.filter(|u| self.sees_instance(&u.instance_id))
            .ok_or_else(|| CoreError::NotFound("no user has this DeviceToken".into()))
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::Admin(_))
    }
}

impl Principal {
    /// The audit entry of something this caller did, from where the request came.
    pub fn audit(
        &self,
        now: DateTime<Utc>,
        action: AuditAction,
        target: impl Into<String>,
        detail: impl Into<String>,
        meta: &RequestMeta,
    ) -> NewAuditRow {
        NewAuditRow::new(now, self.actor(), action, target, detail).from(meta)
    }
}

fn bearer_error(message: &str) -> CoreError {
    CoreError::unauthorized(CredentialKind::AccessToken, message)
}

impl Core {
    /// Checks a bearer token for the management routes (see the module invariants).
    pub async fn authenticate_bearer(
        &self,
        now: DateTime<Utc>,
        token: Option<&str>,
    ) -> CoreResult<Principal> {
        let token = token
            .ok_or_else(|| bearer_error("an Authorization: Bearer access token is required"))?;
        if token.starts_with(crate::apikeys::API_KEY_PREFIX) {
            return self.authenticate_api_key(now, token).await;
        }
        self.learn_key_of(token, now).await;
        let claims = self.tokens().verify_access(token, now)?;
        // The token must be one we issued to this subject and still on record: a token of a
        // deleted user stays dead when its DeviceToken is registered again.
        let session = self
            .store()
            .access_session(&claims.jti)
            .await?
            .filter(|s| s.subject == claims.sub)
            .ok_or_else(|| bearer_error("this token is no longer valid; log in again"))?;
        // Signing out or revoking a family stops its access tokens at once, not at expiry.
        if session.family_revoked_at.is_some() {
            return Err(bearer_error("this token's session has been revoked"));
        }
        // Admin or user: the family says, and the token's claim must agree.
        let kind = SubjectKind::parse_stored(&session.subject_kind)?;
        if claims.role() != Some(kind.role()) {
            return Err(bearer_error("this token is no longer valid; log in again"));
        }
        if !self
            .tokens()
            .session_open(kind, session.family_created_at, now)
        {
            return Err(bearer_error(
                "this session has reached its longest lifetime; sign in again",
            ));
        }
        match kind {
            SubjectKind::Admin => {
                let admin = self
                    .store()
                    .find_admin(&session.subject)
                    .await?
                    .ok_or_else(|| bearer_error("the admin no longer exists"))?;
                if admin.disabled_at.is_some() {
                    return Err(bearer_error("this admin has been disabled"));
                }
                self.keep_admin_session(&session, now).await?;
                Ok(Principal::Admin(Box::new(
                    self.admin_caller(&admin, Some(&session.family_id)).await?,
                )))
            }
            SubjectKind::User => {
                let row = self
                    .store()
                    .find_user(&session.subject)
                    .await?
                    .ok_or_else(|| bearer_error("the user no longer exists"))?;
                let user = User::try_from(row)?;
                user.ensure_active()?;
                Ok(Principal::User(Box::new(user)))
            }
        }
    }

    /// The user a request acts on: a user token → itself; an admin token → the
    /// `UserDeviceToken` header, which is then required.
    pub fn target_user(
        &self,
        principal: &Principal,
        header: Option<&str>,
    ) -> CoreResult<DeviceToken> {
        match principal {
            Principal::User(user) => match header.map(DeviceToken::parse) {
                Some(Ok(other)) if other != user.device_token => Err(CoreError::Forbidden(
                    "a user token acts only on its own user".into(),
                )),
                _ => Ok(user.device_token),
            },
            Principal::Admin { .. } | Principal::Service(_) => {
                let header = header.ok_or_else(|| {
                    CoreError::validation(
                        "UserDeviceToken",
                        "is required with an admin token: name the user to act on",
                    )
                })?;
                DeviceToken::parse(header).map_err(|m| CoreError::validation("UserDeviceToken", m))
            }
        }
    }
}
