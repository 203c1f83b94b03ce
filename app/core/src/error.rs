//! The one domain error. It knows nothing of HTTP: each transport (REST, server functions)
//! maps it with its own adapter. `Internal` carries the cause for the log only; adapters
//! must never send its text to a client.

/// One invalid input field: `key` is the wire name (`FirstName`, `UserFields.ClientId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub key: String,
    pub message: String,
}

impl FieldError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Collects every field error of one input, so a 422 lists them all at once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(key, message));
    }
    /// Runs a parser, recording its error under `key`; returns the value when it parsed.
    pub fn take<T>(&mut self, key: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(message) => {
                self.push(key, message);
                None
            }
        }
    }
    /// An optional text field (a filter, a search): `parse_text`'s rules, errors under `key`.
    pub fn text(&mut self, key: &str, value: Option<&str>) -> Option<String> {
        self.take(key, super::types::parse_text(value?)).flatten()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// `Ok(())` when nothing was recorded, else the validation error.
    pub fn into_result(self) -> Result<(), CoreError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Validation(self))
        }
    }
}

/// Which credential a failure concerns; drives 401 vs 403 and the `WWW-Authenticate` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// `InstanceId` / `InstanceKey` headers.
    Instance,
    /// A bearer access token.
    AccessToken,
    /// Login name and password.
    Login,
    /// A refresh token (with its access token).
    RefreshToken,
    /// An admin's second factor (`TotpCode`): missing or wrong after a right password.
    Totp,
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("validation failed")]
    Validation(FieldErrors),
    /// Missing, malformed, unknown, expired or revoked credentials. The message is safe to show.
    #[error("unauthorized: {message}")]
    Unauthorized {
        kind: CredentialKind,
        message: String,
    },
    /// Authenticated, but the subject may not do this (deactivated user or instance, wrong role).
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// A unique value is taken, or the state refuses the request (an instance that still has
    /// users, a selection too large); `key` is the wire field.
    #[error("conflict on {key}: {message}")]
    Conflict { key: String, message: String },
    /// Too many attempts; the client may try again after this many seconds.
    #[error("rate limited for {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: i64 },
    /// The server is at capacity for this kind of work (password hashing); the client may
    /// try again after this many seconds.
    #[error("busy; retry in {retry_after_seconds} s")]
    Busy { retry_after_seconds: i64 },
    /// Anything the client cannot fix: database down, bug. Logged (with its source chain),
    /// never sent.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl CoreError {
    pub fn unauthorized(kind: CredentialKind, message: impl Into<String>) -> Self {
        CoreError::Unauthorized {
            kind,
            message: message.into(),
        }
    }
    pub fn validation(key: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.push(key, message);
        CoreError::Validation(errors)
    }
    /// A parser's result, its error filed under `key` as a validation error.
    pub fn validation_of<T>(key: &str, parsed: Result<T, String>) -> CoreResult<T> {
        parsed.map_err(|message| CoreError::validation(key, message))
    }
    /// The request is valid but the state it meets refuses it (409), `key` naming the field.
    pub fn conflict(key: impl Into<String>, message: impl Into<String>) -> Self {
        CoreError::Conflict {
            key: key.into(),
            message: message.into(),
        }
    }

    /// An internal failure, keeping its cause (an error, or a message saying what broke).
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        CoreError::Internal(cause.into())
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
