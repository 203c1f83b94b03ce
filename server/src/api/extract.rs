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

/// Where the request came from, for the audit trail.
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let client_addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        Ok(Meta(RequestMeta { client_addr }))
    }
}
