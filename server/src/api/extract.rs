//! Extractors for what the core needs from a request's head.

use std::net::SocketAddr;

use app::core::instances::InstanceCredentials;
use app::core::secret::InstanceKey;
use app::core::RequestMeta;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

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

/// Whether the last `X-Forwarded-For` entry names the client (`TUS_TRUST_FORWARDED_FOR`);
/// put into every request's extensions by the router.
#[derive(Debug, Clone, Copy)]
pub struct TrustForwardedFor(pub bool);

/// Where the request came from, for the audit trail and the per-address login limit.
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        let trusted = parts
            .extensions
            .get::<TrustForwardedFor>()
            .is_some_and(|t| t.0);
        let forwarded = trusted
            .then(|| header(&parts.headers, "x-forwarded-for"))
            .flatten()
            .and_then(|v| v.rsplit(',').next().map(|s| s.trim().to_string()))
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok());
        Ok(Meta(RequestMeta {
            client_addr: forwarded.or(peer),
        }))
    }
}

/// The caller of a management route, from `Authorization: Bearer <jwt>`: 401 without a
/// valid token (with `WWW-Authenticate: Bearer`), 403 for a deactivated user.
pub struct Bearer(pub app::core::management::Principal);

impl FromRequestParts<app::ssr::AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &app::ssr::AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.trim()
                    .strip_prefix("Bearer ")
                    .or_else(|| v.trim().strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let principal = state
            .core
            .authenticate_bearer(app::core::Core::now(), token)
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
