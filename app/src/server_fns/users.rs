use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use crate::model::{RegisterRequest, UpdateUserRequest};
use crate::views::*;

/// One page of the users list (keyset: `after`/`before` are cursors from a previous page).
#[server(prefix = "/api", endpoint = "list_users", input = Json)]
pub async fn list_users(query: UserListQuery) -> Result<UserListPage, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core.user_list(a.principal(), &query).await.map_err(fail)
}

#[server(prefix = "/api", endpoint = "get_user", input = Json)]
pub async fn get_user(device_token: String) -> Result<UserDetail, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .user_detail(a.principal(), &device_token)
        .await
        .map_err(fail)
}

/// A partial update, as `PUT /v1/Management/users` takes it (PascalCase fields).
#[server(prefix = "/api", endpoint = "update_user", input = Json)]
pub async fn update_user(device_token: String, changes: UpdateUserRequest) -> Result<(), AppError> {
    use super::guard::{admin, fail};
    use crate::core::Core;
    let a = admin()?;
    let target = a
        .core
        .target_user(a.principal(), Some(&device_token))
        .map_err(fail)?;
    a.core
        .update_user(Core::now(), a.principal(), target, changes, &a.meta)
        .await
        .map_err(fail)
}

/// Switches one flag; answers the user as stored afterwards.
#[server(prefix = "/api", endpoint = "set_flag", input = Json)]
pub async fn set_flag(
    device_token: String,
    flag: Flag,
    value: bool,
) -> Result<UserDetail, AppError> {
    use crate::model::UserFieldsInput;
    let mut fields = UserFieldsInput::default();
    *match flag {
        Flag::Tracking => &mut fields.enable_tracking,
        Flag::Logging => &mut fields.enable_logging,
        Flag::Sdk => &mut fields.enabled,
        Flag::RealTime => &mut fields.enable_real_time_location,
    } = Some(value);
    let changes = UpdateUserRequest {
        user_fields: Some(fields),
        ..Default::default()
    };
    update_user(device_token.clone(), changes).await?;
    get_user(device_token).await
}

/// Activates (`active: true`) or deactivates a user.
#[server(prefix = "/api", endpoint = "set_status", input = Json)]
pub async fn set_status(device_token: String, active: bool) -> Result<UserDetail, AppError> {
    let changes = UpdateUserRequest {
        status: Some(if active { "Active" } else { "Deactivated" }.into()),
        ..Default::default()
    };
    update_user(device_token.clone(), changes).await?;
    get_user(device_token).await
}

/// Moves a user to another instance (its tokens must then be refreshed to say so).
#[server(prefix = "/api", endpoint = "move_user", input = Json)]
pub async fn move_user(device_token: String, instance_id: String) -> Result<UserDetail, AppError> {
    use super::guard::{admin, fail};
    use crate::core::Core;
    let a = admin()?;
    let target = a
        .core
        .target_user(a.principal(), Some(&device_token))
        .map_err(fail)?;
    a.core
        .move_user_to(Core::now(), a.principal(), target, &instance_id, &a.meta)
        .await
        .map_err(fail)?;
    get_user(device_token).await
}

/// Deletes a user and every token issued to it.
#[server(prefix = "/api", endpoint = "delete_user", input = Json)]
pub async fn delete_user(device_token: String) -> Result<(), AppError> {
    use super::guard::{admin, fail};
    use crate::core::Core;
    let a = admin()?;
    let target = a
        .core
        .target_user(a.principal(), Some(&device_token))
        .map_err(fail)?;
    a.core
        .delete_user(Core::now(), a.principal(), target, &a.meta)
        .await
        .map_err(fail)
}

/// Registers a user into an instance, as `POST /v1/Registration/Create` takes it. The
/// answer holds the new tokens: the only time they are shown.
#[server(prefix = "/api", endpoint = "register_user", input = Json)]
pub async fn register_user(
    instance_id: String,
    user: RegisterRequest,
) -> Result<RegisteredUser, AppError> {
    use super::guard::{admin, fail};
    use crate::core::Core;
    let a = admin()?;
    a.core
        .register_from_dashboard(Core::now(), a.principal(), &instance_id, user, &a.meta)
        .await
        .map_err(fail)
}

/// The token lineage of a user: ids, times and states, never a token.
#[server(prefix = "/api", endpoint = "user_tokens", input = Json)]
pub async fn user_tokens(device_token: String) -> Result<TokenLineage, AppError> {
    use super::guard::{admin, fail};
    use crate::core::Core;
    let a = admin()?;
    a.core
        .token_lineage(Core::now(), a.principal(), &device_token)
        .await
        .map_err(fail)
}

/// Revokes one token family of a user, or every token of the user without `family_id`.
/// Answers how many families were revoked by this call.
#[server(prefix = "/api", endpoint = "revoke_tokens", input = Json)]
pub async fn revoke_tokens(
    device_token: String,
    family_id: Option<String>,
) -> Result<u64, AppError> {
    use super::guard::{admin, fail};
    use crate::core::Core;
    let a = admin()?;
    a.core
        .revoke_user_tokens(
            Core::now(),
            a.principal(),
            &device_token,
            family_id.as_deref(),
            &a.meta,
        )
        .await
        .map_err(fail)
}

/// Exactly how many users a bulk action would act on (shown before it runs).
#[server(prefix = "/api", endpoint = "bulk_count", input = Json)]
pub async fn bulk_count(target: BulkTarget) -> Result<i64, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .bulk_count(a.principal(), &target)
        .await
        .map_err(fail)
}

/// Applies one change to the target's users; answers `[matched, changed]`.
#[server(prefix = "/api", endpoint = "bulk_apply", input = Json)]
pub async fn bulk_apply(target: BulkTarget, action: BulkAction) -> Result<(i64, u64), AppError> {
    use super::guard::{admin, fail};
    use crate::core::Core;
    let a = admin()?;
    a.core
        .bulk_apply(Core::now(), a.principal(), &target, &action, &a.meta)
        .await
        .map(|o| (o.matched, o.changed))
        .map_err(fail)
}
