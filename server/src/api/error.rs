//! `ApiError`: the REST adapter of `CoreError` plus the errors of the HTTP edge itself.
//! Internal causes are logged once (inside the request's span, so with its request id)
//! and never sent: the client gets the request id to quote instead.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tus_core::{CoreError, CredentialKind, FieldErrors};

use super::envelope::{error_response, ErrorItem};

pub const VALIDATION_TITLE: &str = "One or more validation errors occurred.";

#[derive(Debug)]
pub enum ApiError {
    Core(CoreError),
    /// Malformed JSON or another request the client must fix.
    BadRequest(String),
    UnsupportedMediaType,
    PayloadTooLarge,
    /// An import file over the configured size (in bytes).
    FileTooLarge(u64),
    NotFound,
    MethodNotAllowed,
}

impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> Self {
        ApiError::Core(err)
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        ApiError::Core(CoreError::Validation(errors))
    }
}

fn one(key: &str, message: impl Into<String>) -> Vec<ErrorItem> {
    vec![ErrorItem {
        key: key.to_string(),
        message: message.into(),
    }]
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(m) => {
                error_response(StatusCode::BAD_REQUEST, "Bad request", one("", m))
            }
            ApiError::UnsupportedMediaType => error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
                one(
                    "",
                    "the body must be JSON: send Content-Type application/json",
                ),
            ),
            ApiError::PayloadTooLarge => error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload too large",
                one("", "the request body is larger than 1 MiB"),
            ),
            ApiError::FileTooLarge(max) => error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload too large",
                one("file", too_large(max)),
            ),
            ApiError::NotFound => {
                error_response(StatusCode::NOT_FOUND, "Not found", one("", "no such route"))
            }
            ApiError::MethodNotAllowed => error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                one("", "this route does not accept that method"),
            ),
            ApiError::Core(err) => core_error_response(err),
        }
    }
}

/// What a refused import file is told: the limit in MiB, and where it is set.
pub fn too_large(max: u64) -> String {
    format!(
        "the file is larger than {} MiB (TUS_IMPORT_MAX_BYTES); split it, or raise the limit",
        max >> 20
    )
}

fn core_error_response(err: CoreError) -> Response {
    match err {
        CoreError::Validation(fields) => error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            VALIDATION_TITLE,
            fields
                .0
                .into_iter()
                .map(|f| ErrorItem {
                    key: f.key,
                    message: f.message,
                })
                .collect(),
        ),
        CoreError::Unauthorized { kind, message } => {
            let key = if kind == CredentialKind::Totp {
                "TotpCode"
            } else {
                ""
            };
            let mut response =
                error_response(StatusCode::UNAUTHORIZED, "Unauthorized", one(key, message));
            if kind == CredentialKind::AccessToken {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            response
        }
        CoreError::Forbidden(m) => error_response(StatusCode::FORBIDDEN, "Forbidden", one("", m)),
        CoreError::NotFound(m) => error_response(StatusCode::NOT_FOUND, "Not found", one("", m)),
        CoreError::Conflict { key, message } => {
            error_response(StatusCode::CONFLICT, "Conflict", one(&key, message))
        }
        CoreError::RateLimited {
            retry_after_seconds,
        } => retry_after(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            format!("too many failed attempts; try again in {retry_after_seconds} seconds"),
            retry_after_seconds,
        ),
        CoreError::Busy {
            retry_after_seconds,
        } => retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service busy",
            format!(
                "the server is busy checking passwords; try again in {retry_after_seconds} seconds"
            ),
            retry_after_seconds,
        ),
        CoreError::Internal(cause) => {
            tracing::error!(%cause, "internal error");
            internal_error_response()
        }
    }
}

/// A refusal the client may retry after `seconds` (429, 503), saying so in `Retry-After`.
fn retry_after(status: StatusCode, title: &str, message: String, seconds: i64) -> Response {
    let mut response = error_response(status, title, one("", message));
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

pub fn internal_error_response() -> Response {
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal server error",
        one(
            "",
            "an internal error occurred; quote the x-request-id response header to the operator",
        ),
    )
}
