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

/// Who presents a valid access token (or API key).
#[derive(Debug, Clone)]
pub enum Principal {
    User(Box<User>),
    Admin {
        id: String,
        email: String,
    },
    /// A back end's API key: only what its scopes allow.
    Service(Box<crate::apikeys::ApiKey>),
}

impl Principal {
    pub fn actor(&self) -> String {
        match self {
            Principal::User(u) => format!("user:{}", u.device_token),
            Principal::Admin { email, .. } => format!("admin:{email}"),
            Principal::Service(key) => format!("apikey:{}", key.name),
        }
    }

    /// An admin, or an API key with `scope`; a user token never (403).
    pub fn require(&self, scope: crate::apikeys::Scope) -> CoreResult<()> {
        match self {
            Principal::Admin { .. } => Ok(()),
            Principal::Service(key) if key.scopes.contains(&scope) => Ok(()),
            Principal::Service(_) => Err(CoreError::Forbidden(format!(
                "this API key lacks the {} scope",
                scope.as_str()
            ))),
            Principal::User(_) => Err(CoreError::Forbidden(
                "this route needs an admin token".into(),
            )),
        }
    }

    /// A user token acts on itself (`target_user` sees to that); anyone else needs `scope`.
    pub fn require_unless_self(&self, scope: crate::apikeys::Scope) -> CoreResult<()> {
        match self {
            Principal::User(_) => Ok(()),
            _ => self.require(scope),
        }
    }

    /// Acts on any user (an admin, or an API key with `users:write`), not only on itself.
    pub fn manages_users(&self) -> bool {
        self.require(crate::apikeys::Scope::UsersWrite).is_ok()
    }

    /// The instances this caller is limited to; `None`: every instance.
    pub fn instance_limit(&self) -> Option<&[String]> {
        match self {
            Principal::Service(key) => key.instances.as_deref(),
            Principal::Admin { .. } | Principal::User(_) => None,
        }
    }

    /// Whether this caller may see anything of `instance_id` (outside: as if it did not
    /// exist, 404). A user token is held to itself by `Core::target_user`.
    pub fn sees_instance(&self, instance_id: &str) -> bool {
        self.instance_limit()
            .is_none_or(|ids| ids.iter().any(|id| id == instance_id))
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
        matches!(self, Principal::Admin { .. })
    }

    pub fn require_admin(&self) -> CoreResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(CoreError::Forbidden(
                "this route needs an admin token".into(),
            ))
        }
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
                Ok(Principal::Admin {
                    id: admin.id,
                    email: admin.email,
                })
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
