//! Extractors for what the core needs from a request's head.

use std::collections::HashMap;

use app::ssr::session::{bearer_token, request_meta};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use tus_core::instances::InstanceCredentials;
use tus_core::secret::InstanceKey;
use tus_core::RequestMeta;

use super::error::ApiError;

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap_or_default().trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The `InstanceId` / `InstanceKey` headers (checked by the core).
pub struct InstanceHeaders(pub InstanceCredentials);

impl<S: Send + Sync> FromRequestParts<S> for InstanceHeaders {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(InstanceHeaders(InstanceCredentials {
            id: header(&parts.headers, "instanceid"),
            key: header(&parts.headers, "instancekey").map(InstanceKey::new),
        }))
    }
}

/// The optional `InstanceId` header alone (login).
pub struct InstanceIdHeader(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for InstanceIdHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(InstanceIdHeader(header(&parts.headers, "instanceid")))
    }
}

pub use app::ssr::session::TrustForwardedFor;

/// Where the request came from, for the audit trail and the per-address login limit.
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Meta(request_meta(&parts.headers, &parts.extensions)))
    }
}

/// The caller of a management route, from `Authorization: Bearer <jwt>`: 401 without a
/// valid token (with `WWW-Authenticate: Bearer`), 403 for a deactivated user. The
/// dashboard's server functions read the same header the same way (`app::ssr::session`).
pub struct Bearer(pub tus_core::principal::Principal);

impl FromRequestParts<app::ssr::AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &app::ssr::AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = state
            .core
            .authenticate_bearer(tus_core::Core::now(), bearer_token(&parts.headers))
            .await?;
        Ok(Bearer(principal))
    }
}

/// The optional `UserDeviceToken` header (an admin's target).
pub struct UserDeviceTokenHeader(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for UserDeviceTokenHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(UserDeviceTokenHeader(header(
            &parts.headers,
            "userdevicetoken",
        )))
    }
}

/// Query parameters with lower-cased keys (clients send `includeInstances`, `Name`...).
pub struct LowerQuery(HashMap<String, String>);

impl LowerQuery {
    pub fn from(q: HashMap<String, String>) -> Self {
        LowerQuery(
            q.into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        )
    }
    /// A boolean parameter (`true`/`false`, any case, or `1`/`0`; empty or absent: `default`),
    /// named `name` in the error when it is anything else.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, tus_core::CoreError> {
        match self.0.get(&name.to_ascii_lowercase()).map(|v| v.trim()) {
            None | Some("") => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
            Some(_) => Err(tus_core::CoreError::validation(
                name,
                "must be true or false",
            )),
        }
    }
    pub fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
}
