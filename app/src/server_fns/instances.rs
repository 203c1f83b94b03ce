use leptos::prelude::*;
use leptos::server_fn::codec::Json;
#[cfg(feature = "ssr")]
use tus_core::types::InstanceId;

use crate::error::AppError;
use tus_wire::model::{InstanceSettingsView, InstanceSummary};
use tus_wire::views::InstanceChoice;

/// Lists the instances with their user counts and invite codes (never their keys).
///
/// `POST /api/list_instances`: instances with user counts and invite codes (no keys).
///
/// ```sh
/// api list_instances '{}'
/// ```
#[server(prefix = "/api", endpoint = "list_instances", input = Json)]
pub async fn list_instances() -> Result<Vec<InstanceSummary>, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core.list_instances(a.principal()).await.map_err(fail)
}

/// The instances to choose from in a form.
///
/// `POST /api/instance_choices`: instance ids and names for forms.
///
/// ```sh
/// api instance_choices '{}'
/// ```
#[server(prefix = "/api", endpoint = "instance_choices", input = Json)]
pub async fn instance_choices() -> Result<Vec<InstanceChoice>, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core.instance_choices(a.principal()).await.map_err(fail)
}

/// The applications to create instances in: `[id, name]` pairs.
///
/// `POST /api/list_applications`: `[id, name]` of each application.
///
/// ```sh
/// api list_applications '{}'
/// ```
#[server(prefix = "/api", endpoint = "list_applications", input = Json)]
pub async fn list_applications() -> Result<Vec<(String, String)>, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .application_choices(a.principal())
        .await
        .map_err(fail)
}

/// Creates an instance in an application; answers its id.
///
/// `POST /api/create_instance`: in an application; answers its id.
///
/// ```sh
/// api create_instance '{"application_id": "…", "name": "Trucks", "description": ""}'
/// ```
///
/// `instance_id` and `instance_key` (optional) keep the identity the instance has on the
/// hosted service, so its installed apps keep working.
#[server(prefix = "/api", endpoint = "create_instance", input = Json)]
pub async fn create_instance(
    application_id: String,
    name: String,
    description: String,
    instance_id: Option<String>,
    instance_key: Option<String>,
) -> Result<String, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    let input = tus_wire::model::InstanceInput {
        name: Some(name),
        description: Some(description),
        status: None,
        id: instance_id,
        key: instance_key,
    };
    let i = a
        .core
        .create_instance_as(Core::now(), a.principal(), &application_id, input, &a.meta)
        .await
        .map_err(fail)?;
    Ok(i.id.to_string())
}

/// Renames, describes, activates or deactivates an instance (fields left `null` stay).
///
/// `POST /api/update_instance`: `name`, `description`, `active` (null: unchanged).
///
/// ```sh
/// api update_instance '{"instance_id": "…", "name": null, "description": null, "active": false}'
/// ```
#[server(prefix = "/api", endpoint = "update_instance", input = Json)]
pub async fn update_instance(
    instance_id: String,
    name: Option<String>,
    description: Option<String>,
    active: Option<bool>,
) -> Result<(), AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    let input = tus_wire::model::InstanceInput {
        name,
        description,
        status: active
            .map(|on| serde_json::Value::String(if on { "Active" } else { "Deactivated" }.into())),
        id: None,
        key: None,
    };
    a.core
        .update_instance_as(
            Core::now(),
            a.principal(),
            InstanceId::named(&instance_id).map_err(fail)?,
            input,
            &a.meta,
        )
        .await
        .map(|_| ())
        .map_err(fail)
}

/// The InstanceKey, for an admin who asked for it (recorded in the audit trail).
///
/// `POST /api/reveal_instance_key`: the InstanceKey (audited).
///
/// ```sh
/// api reveal_instance_key '{"instance_id": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "reveal_instance_key", input = Json)]
pub async fn reveal_instance_key(instance_id: String) -> Result<String, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .reveal_instance_key(
            Core::now(),
            a.principal(),
            InstanceId::named(&instance_id).map_err(fail)?,
            &a.meta,
        )
        .await
        .map_err(fail)
}

/// A new InstanceKey (answered); the old one stops working for registration and login.
///
/// `POST /api/rotate_instance_key`: a new key, answered; the old one stops working.
///
/// ```sh
/// api rotate_instance_key '{"instance_id": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "rotate_instance_key", input = Json)]
pub async fn rotate_instance_key(instance_id: String) -> Result<String, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .rotate_instance_key(
            Core::now(),
            a.principal(),
            InstanceId::named(&instance_id).map_err(fail)?,
            &a.meta,
        )
        .await
        .map(|i| i.key.expose().to_string())
        .map_err(fail)
}

/// A new invite code (answered); the old one stops working.
///
/// `POST /api/regenerate_invite_code`: a new invite code, answered.
///
/// ```sh
/// api regenerate_invite_code '{"instance_id": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "regenerate_invite_code", input = Json)]
pub async fn regenerate_invite_code(instance_id: String) -> Result<String, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .regenerate_invite_code(
            Core::now(),
            a.principal(),
            InstanceId::named(&instance_id).map_err(fail)?,
            &a.meta,
        )
        .await
        .map(|i| i.invite_code)
        .map_err(fail)
}

/// An instance's settings: active window, longest debug logging, flags of new users,
/// inactivity rule.
///
/// `POST /api/instance_settings`
///
/// ```sh
/// api instance_settings '{"instance_id": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "instance_settings", input = Json)]
pub async fn instance_settings(instance_id: String) -> Result<InstanceSettingsView, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .instance_settings(
            a.principal(),
            InstanceId::named(&instance_id).map_err(fail)?,
        )
        .await
        .map_err(fail)
}

/// Replaces an instance's settings (audited); answers them as stored.
///
/// `POST /api/save_instance_settings`
///
/// ```sh
/// api save_instance_settings '{"instance_id": "…", "settings": {"ActiveWindowDays": 7}}'
/// ```
#[server(prefix = "/api", endpoint = "save_instance_settings", input = Json)]
pub async fn save_instance_settings(
    instance_id: String,
    settings: InstanceSettingsView,
) -> Result<InstanceSettingsView, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .update_instance_settings(
            Core::now(),
            a.principal(),
            InstanceId::named(&instance_id).map_err(fail)?,
            &settings,
            &a.meta,
        )
        .await
        .map_err(fail)
}

/// How many users an inactivity rule of `days` would act on in an instance now.
///
/// `POST /api/count_inactive`
///
/// ```sh
/// api count_inactive '{"instance_id": "…", "days": 90}'
/// ```
#[server(prefix = "/api", endpoint = "count_inactive", input = Json)]
pub async fn count_inactive(instance_id: String, days: i64) -> Result<i64, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .inactivity_count(
            Core::now(),
            a.principal(),
            InstanceId::named(&instance_id).map_err(fail)?,
            Some(days),
        )
        .await
        .map(|c| c.count)
        .map_err(fail)
}
