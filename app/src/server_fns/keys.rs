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
        .rotate_signing_key(
            Core::now(),
            None,
            chrono::Duration::minutes(lead_minutes),
            &a.principal().actor(),
            &a.meta,
        )
        .await
        .map_err(fail)
}
