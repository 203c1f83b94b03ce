//! The error the UI sees. It crosses the wire as JSON from server functions, so it holds
//! only what is safe to show: never an internal cause.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in.")]
    Unauthorized,
    #[error("The e-mail or the password is wrong.")]
    BadCredentials,
    /// The password was right; the admin's TOTP code is missing (`false`) or wrong (`true`).
    #[error("A code from your authenticator app is needed.")]
    TotpNeeded(bool),
    #[error("You are not allowed to do this: {0}")]
    Forbidden(String),
    #[error("Not found: {0}")]
    NotFound(String),
    #[error("Please correct the highlighted fields.")]
    Validation(Vec<(String, String)>),
    #[error("{0}")]
    Conflict(String),
    #[error("Too many attempts. Try again in {0} seconds.")]
    RateLimited(i64),
    #[error("The server is busy. Try again in {0} seconds.")]
    Busy(i64),
    #[error("Something went wrong on the server. Try again; if it persists, check the server log (request {0}).")]
    Internal(String),
    #[error("Could not reach the server: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl From<tus_core::CoreError> for AppError {
    fn from(err: tus_core::CoreError) -> Self {
        use tus_core::CoreError;
        match err {
            CoreError::Validation(fields) => {
                AppError::Validation(fields.0.into_iter().map(|f| (f.key, f.message)).collect())
            }
            CoreError::Unauthorized { .. } => AppError::Unauthorized,
            CoreError::Forbidden(m) => AppError::Forbidden(m),
            CoreError::NotFound(m) => AppError::NotFound(m),
            CoreError::Conflict { key, message } => AppError::Conflict(format!("{key}: {message}")),
            CoreError::RateLimited {
                retry_after_seconds,
            } => AppError::RateLimited(retry_after_seconds),
            CoreError::Busy {
                retry_after_seconds,
            } => AppError::Busy(retry_after_seconds),
            CoreError::Internal(cause) => {
                let id = uuid::Uuid::new_v4().to_string();
                tracing::error!(error_id = %id, %cause, "internal error in a server function");
                AppError::Internal(id)
            }
        }
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            AppError::Unauthorized | AppError::BadCredentials | AppError::TotpNeeded(_) => {
                StatusCode::UNAUTHORIZED
            }
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Transport(_) => StatusCode::BAD_REQUEST,
        }
    }
}
