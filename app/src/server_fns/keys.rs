use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use tus_wire::views::SigningKeyView;

/// Every signing key, newest first (never a private part).
///
/// `POST /api/signing_keys`.
///
/// ```sh
/// api signing_keys '{}'
/// ```
#[server(prefix = "/api", endpoint = "signing_keys", input = Json)]
pub async fn signing_keys() -> Result<Vec<SigningKeyView>, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .signing_key_views(a.principal(), Core::now())
        .await
        .map_err(fail)
}

/// A new signing key of the configured algorithm: published now, signing after
/// `lead_minutes` (0: at once); the current key stays accepted while its tokens live.
///
/// `POST /api/rotate_signing_key`: answers the new kid.
///
/// ```sh
/// api rotate_signing_key '{"lead_minutes": 10}'
/// ```
#[server(prefix = "/api", endpoint = "rotate_signing_key", input = Json)]
pub async fn rotate_signing_key(lead_minutes: i64) -> Result<String, AppError> {
    use super::guard::{admin, fail};
    use tus_core::{Core, CoreError};
    let a = admin()?;
    if !(0..=7 * 24 * 60).contains(&lead_minutes) {
        return Err(fail(CoreError::validation(
            "lead_minutes",
            "must be between 0 and 10080 (a week)",
        )));
    }
    a.core
        .rotate_signing_key_as(
            Core::now(),
            a.principal(),
            chrono::Duration::minutes(lead_minutes),
            &a.meta,
        )
        .await
        .map_err(fail)
}

/// Every API key, newest first (never a key: it is shown once, when made).
///
/// `POST /api/api_keys`.
///
/// ```sh
/// api api_keys '{}'
/// ```
#[server(prefix = "/api", endpoint = "api_keys", input = Json)]
pub async fn api_keys() -> Result<Vec<tus_wire::views::ApiKeyView>, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .api_keys(Core::now(), a.principal())
        .await
        .map_err(fail)
}

/// A new API key for a back end: `(its row, the key)`; the key is shown this once.
///
/// `POST /api/create_api_key`: `scopes` of `tokens:introspect`, `users:read`, `users:write`,
/// `instances:read`; `instances` the InstanceIds it is limited to, or null (every instance);
/// `expires_in_days` 1–3650 or null (never).
///
/// ```sh
/// api create_api_key '{"key": {"name": "scoring", "scopes": ["tokens:introspect"], "instances": null, "expires_in_days": 90}}'
/// ```
#[server(prefix = "/api", endpoint = "create_api_key", input = Json)]
pub async fn create_api_key(
    key: tus_wire::views::NewApiKey,
) -> Result<(tus_wire::views::ApiKeyView, String), AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .create_api_key(Core::now(), a.principal(), &key, &a.meta)
        .await
        .map_err(fail)
}

/// An API key stops working at once.
///
/// `POST /api/revoke_api_key`.
///
/// ```sh
/// api revoke_api_key '{"id": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "revoke_api_key", input = Json)]
pub async fn revoke_api_key(id: String) -> Result<(), AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .revoke_api_key(Core::now(), a.principal(), &id, &a.meta)
        .await
        .map_err(fail)
}
