//! API keys: credentials of back ends (service accounts), not of people. An admin creates one
//! with a name and scopes; it is shown once and stored as a SHA-256 hash (it has 256 bits of
//! entropy, so a fast hash is enough, as for refresh tokens). It is presented as
//! `Authorization: Bearer tus_…` and acts only within its scopes (403 outside them), until it
//! expires or is revoked (401). Every write it makes is audited with `apikey:<name>` as actor.
//! Introspection (RFC 7662) answers whether an access token is live, for services that
//! verify signatures themselves but must also learn of revocations.

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tus_wire::views::Action;

use crate::audit::AuditAction;
use crate::error::{CoreError, CoreResult, CredentialKind, FieldErrors};
use crate::principal::Principal;
use crate::store::ApiKeyRow;
use crate::time::{iso, ms};
use crate::types::parse_text;
use crate::{Core, RequestMeta};
use tus_wire::views::{ApiKeyView, NewApiKey};

/// What every API key starts with (tokens of people are JWTs: they hold dots).
pub const API_KEY_PREFIX: &str = "tus_";

pub use tus_wire::views::Scope;

/// A live API key, as the principal of a request.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The instances it is limited to; `None`: every instance.
    pub instances: Option<Vec<String>>,
}

fn hash_key(secret: &str) -> String {
    crate::tokens::hex(&Sha256::digest(secret.as_bytes()))
}

fn scopes_of(stored: &str) -> Vec<Scope> {
    stored
        .split_whitespace()
        .filter_map(|s| Scope::parse(s).ok())
        .collect()
}

fn instances_of(stored: &str) -> Vec<String> {
    stored.split_whitespace().map(str::to_string).collect()
}

fn view(row: ApiKeyRow, now: DateTime<Utc>) -> ApiKeyView {
    let live = row.revoked_at.is_none() && row.expires_at.is_none_or(|t| t > ms(now));
    ApiKeyView {
        id: row.id,
        name: row.name,
        prefix: row.prefix,
        scopes: row.scopes.split_whitespace().map(str::to_string).collect(),
        created_at: iso(row.created_at),
        created_by: row.created_by,
        expires_at: row.expires_at.map(iso),
        last_used_at: row.last_used_at.map(iso),
        revoked_at: row.revoked_at.map(iso),
        live,
        instances: row.instances.as_deref().map(instances_of),
    }
}

impl Core {
    /// Admin: a new API key. Answers its row and the key itself, shown this once.
    pub async fn create_api_key(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        asked: &NewApiKey,
        meta: &RequestMeta,
    ) -> CoreResult<(ApiKeyView, String)> {
        principal.allow(Action::ManageApiKeys)?;
        let NewApiKey {
            name,
            scopes,
            instances,
            expires_in_days,
        } = asked;
        let expires_in_days = *expires_in_days;
        let mut errors = FieldErrors::default();
        let name = match parse_text(name) {
            Ok(Some(n)) => Some(n),
            Ok(None) => {
                errors.push("name", "is required");
                None
            }
            Err(m) => {
                errors.push("name", m);
                None
            }
        };
        let mut parsed: Vec<Scope> = Vec::new();
        for (i, s) in scopes.iter().enumerate() {
            if let Some(scope) = errors.take(&format!("scopes[{i}]"), Scope::parse(s)) {
                if !parsed.contains(&scope) {
                    parsed.push(scope);
                }
            }
        }
        if scopes.is_empty() {
            errors.push("scopes", "choose at least one");
        }
        if let Some(days) = expires_in_days {
            if !(1..=3650).contains(&days) {
                errors.push("expires_in_days", "must be between 1 and 3650");
            }
        }
        let mut limited: Option<Vec<String>> = None;
        if let Some(ids) = instances {
            let mut chosen = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                let field = format!("instances[{i}]");
                let Some(id) = errors.take(&field, crate::types::InstanceId::parse(id)) else {
                    continue;
                };
                if self.store().find_instance(&id.to_string()).await?.is_none() {
                    errors.push(&field, "names no instance");
                } else if !chosen.contains(&id.to_string()) {
                    chosen.push(id.to_string());
                }
            }
            if ids.is_empty() {
                errors.push(
                    "instances",
                    "choose at least one, or leave out for every instance",
                );
            }
            limited = Some(chosen);
        }
        errors.into_result()?;
        let name = name.unwrap_or_default();
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = format!(
            "{API_KEY_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let row = ApiKeyRow {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.clone(),
            prefix: secret[..API_KEY_PREFIX.len() + 6].to_string(),
            secret_hash: hash_key(&secret),
            scopes: parsed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            created_at: ms(now),
            created_by: principal.actor(),
            expires_at: expires_in_days.map(|d| ms(now + chrono::Duration::days(d))),
            last_used_at: None,
            revoked_at: None,
            instances: limited.map(|ids| ids.join(" ")),
        };
        let mut tx = self.store().begin().await?;
        tx.insert_api_key(&row).await?;
        tx.audit(&principal.audit(
            now,
            AuditAction::ApiKeyCreated,
            format!("apikey:{}", row.id),
            format!(
                "API key {name:?} created with {} for {}",
                row.scopes,
                row.instances
                    .as_deref()
                    .map_or("every instance".to_string(), |i| format!("instances {i}"))
            ),
            meta,
        ))
        .await?;
        tx.commit().await?;
        Ok((view(row, now), secret))
    }

    /// Admin: every API key, newest first (never a secret).
    pub async fn api_keys(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
    ) -> CoreResult<Vec<ApiKeyView>> {
        principal.allow(Action::ManageApiKeys)?;
        let rows = self.store().api_keys().await?;
        Ok(rows.into_iter().map(|r| view(r, now)).collect())
    }

    /// Admin: an API key stops working at once.
    pub async fn revoke_api_key(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        id: &str,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        principal.allow(Action::ManageApiKeys)?;
        let mut tx = self.store().begin().await?;
        if !tx.revoke_api_key(id, ms(now)).await? {
            return Err(CoreError::NotFound("no live API key has this id".into()));
        }
        tx.audit(&principal.audit(
            now,
            AuditAction::ApiKeyRevoked,
            format!("apikey:{id}"),
            "revoked",
            meta,
        ))
        .await?;
        tx.commit().await
    }

    /// The principal of a bearer API key, or 401 (unknown, revoked, expired).
    pub(crate) async fn authenticate_api_key(
        &self,
        now: DateTime<Utc>,
        secret: &str,
    ) -> CoreResult<Principal> {
        let refused = |m: &str| CoreError::unauthorized(CredentialKind::AccessToken, m);
        let row = self
            .store()
            .api_key_by_hash(&hash_key(secret.trim()))
            .await?
            .ok_or_else(|| refused("this API key is not valid"))?;
        if row.revoked_at.is_some() {
            return Err(refused("this API key has been revoked"));
        }
        if row.expires_at.is_some_and(|t| t <= ms(now)) {
            return Err(refused("this API key has expired"));
        }
        // Last use, to the minute: not a write per request.
        if row.last_used_at.is_none_or(|t| ms(now) - t >= 60_000) {
            let mut tx = self.store().begin().await?;
            tx.touch_api_key(&row.id, ms(now)).await?;
            tx.commit().await?;
        }
        Ok(Principal::Service(Box::new(ApiKey {
            scopes: scopes_of(&row.scopes),
            instances: row.instances.as_deref().map(instances_of),
            id: row.id,
            name: row.name,
        })))
    }

    /// RFC 7662: whether `token` is a live access token of ours, with its claims; `None`
    /// for anything else (expired, forged, of a revoked session, of a deleted or deactivated
    /// user). Needs an API key with `tokens:introspect` (or an admin).
    pub async fn introspect(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        token: &str,
    ) -> CoreResult<Option<crate::tokens::AccessClaims>> {
        principal.allow(Action::Introspect)?;
        if token.starts_with(API_KEY_PREFIX) {
            return Ok(None);
        }
        match self.authenticate_bearer(now, Some(token)).await {
            // A key limited to instances learns nothing of tokens outside them.
            Ok(Principal::User(user))
                if !principal.sees_instance(&user.instance_id.to_string()) =>
            {
                Ok(None)
            }
            Ok(Principal::Admin { .. }) if principal.instance_limit().is_some() => Ok(None),
            Ok(_) => Ok(self.tokens().verify_access(token, now).ok()),
            Err(CoreError::Unauthorized { .. } | CoreError::Forbidden(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{admin, at, test_core};

    #[tokio::test]
    async fn a_key_is_shown_once_works_within_its_scopes_and_stops_when_revoked_or_expired() {
        let t = test_core(|_| {}).await;
        let meta = RequestMeta::default();
        let (row, secret) = t
            .core
            .create_api_key(
                at(0),
                &admin(),
                &NewApiKey {
                    name: "scoring".into(),
                    scopes: vec!["tokens:introspect".into()],
                    instances: None,
                    expires_in_days: Some(1),
                },
                &meta,
            )
            .await
            .unwrap();
        assert!(secret.starts_with("tus_") && secret.len() > 40);
        assert!(secret.starts_with(&row.prefix));
        let listed = t.core.api_keys(at(1), &admin()).await.unwrap();
        assert!(
            !format!("{listed:?}").contains(&secret),
            "the secret is shown once"
        );
        let p = t.core.authenticate_api_key(at(1), &secret).await.unwrap();
        assert_eq!(p.actor(), "apikey:scoring");
        assert!(p.allow(Action::Introspect).is_ok());
        assert!(p.allow(Action::WriteUsers).is_err());
        assert!(p.allow(Action::ManageInstances).is_err());
        assert!(t
            .core
            .authenticate_api_key(at(1), "tus_nope")
            .await
            .is_err());
        assert!(
            t.core
                .authenticate_api_key(at(86_401), &secret)
                .await
                .is_err(),
            "expired after a day"
        );
        t.core
            .revoke_api_key(at(2), &admin(), &row.id, &meta)
            .await
            .unwrap();
        assert!(t.core.authenticate_api_key(at(3), &secret).await.is_err());
        // Bad requests name their fields and create nothing.
        let bad = t
            .core
            .create_api_key(
                at(4),
                &admin(),
                &NewApiKey {
                    name: " ".into(),
                    scopes: vec!["users:everything".into()],
                    instances: Some(vec!["nope".into()]),
                    expires_in_days: Some(0),
                },
                &meta,
            )
            .await
            .unwrap_err();
        let CoreError::Validation(fields) = bad else {
            panic!()
        };
        let keys: Vec<_> = fields.0.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            vec!["name", "scopes[0]", "expires_in_days", "instances[0]"]
        );
        assert_eq!(t.core.api_keys(at(5), &admin()).await.unwrap().len(), 1);
    }
}
