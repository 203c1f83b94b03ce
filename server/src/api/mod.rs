//! The REST API: one router per resource, the envelope, and the edge rules API.md sets
//! (case-insensitive paths and keys, body limits, envelope on every error).

pub mod accounts;
pub mod auth;
pub mod check;
pub mod deliveries;
pub mod docs_page;
pub mod dto;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod health;
pub mod imports;
pub mod json;
pub mod management;
pub mod openapi;
pub mod registration;
pub mod webhooks;
pub mod wellknown;

use app::ssr::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, Uri};
use axum::Router;

pub use error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(registration::router())
        .merge(auth::router())
        .merge(accounts::router())
        .merge(management::router())
        .merge(deliveries::router())
        .merge(check::router())
        .merge(health::router())
        .merge(openapi::router())
        .merge(wellknown::router())
        .merge(webhooks::router())
        .merge(imports::router())
        .layer(DefaultBodyLimit::max(json::MAX_BODY))
}

/// True for paths the REST API owns (so unknown ones get an envelope 404, not a page).
pub fn is_api_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower == "/v1" || lower.starts_with("/v1/")
}

/// Routes are matched case-insensitively: `/v1/...` paths are lower-cased (and a trailing
/// slash dropped) before routing. Only the path changes; the query is kept as sent.
pub fn normalize_path<B>(mut req: Request<B>) -> Request<B> {
    let path = req.uri().path();
    if !is_api_path(path) {
        return req;
    }
    let mut lower = path.to_ascii_lowercase();
    while lower.len() > 1 && lower.ends_with('/') {
        lower.pop();
    }
    if lower != path {
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{lower}?{q}"),
            None => lower,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = path_and_query.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}
