use leptos::prelude::*;
use leptos::server_fn::codec::Json;
#[cfg(feature = "ssr")]
use tus_core::types::DeviceToken;

use crate::error::AppError;
use tus_wire::model::{RegisterRequest, UpdateUserRequest};
use tus_wire::views::*;

/// One page of the users list (keyset: `after`/`before` are cursors from a previous page).
///
/// `POST /api/list_users`: a page: `{rows, next, previous, total, total_exact}`; `query` fields
/// `q`, `instance`, `status` (active/deactivated/all), `tracking`/`logging`/`sdk`/`realtime`
/// (on/off), `batch` (a BatchId), `sort`, `size` (1–200, default 50), `after`/`before`
/// (cursors).
///
/// ```sh
/// api list_users '{"query": {"q": "ann", "tracking": "on", "size": 20}}'
/// ```
#[server(prefix = "/api", endpoint = "list_users", input = Json)]
pub async fn list_users(query: UserListQuery) -> Result<UserListPage, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core.user_list(a.principal(), &query).await.map_err(fail)
}

/// `POST /api/get_user`: a user (as `GET /v1/Management/users` answers it) and its last token
/// activity.
///
/// ```sh
/// api get_user '{"device_token": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "get_user", input = Json)]
pub async fn get_user(device_token: String) -> Result<UserDetail, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .user_detail(
            a.principal(),
            DeviceToken::named(&device_token).map_err(fail)?,
        )
        .await
        .map_err(fail)
}

/// A partial update, as `PUT /v1/Management/users` takes it (PascalCase fields).
///
/// `POST /api/update_user`: partial update, fields as `PUT /v1/Management/users` takes them.
///
/// ```sh
/// api update_user '{"device_token": "…", "changes": {"City": "Riga"}}'
/// ```
#[server(prefix = "/api", endpoint = "update_user", input = Json)]
pub async fn update_user(device_token: String, changes: UpdateUserRequest) -> Result<(), AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    let target = a.target(&device_token)?;
    let patch = changes.try_into().map_err(fail)?;
    a.core
        .update_user(Core::now(), a.principal(), target, patch, &a.meta)
        .await
        .map_err(fail)
}

/// Switches one flag; answers the user as stored afterwards.
///
/// `POST /api/set_flag`: one flag (`Tracking`, `Logging`, `Sdk`, `RealTime`); answers the user.
///
/// ```sh
/// api set_flag '{"device_token": "…", "flag": "Logging", "value": true, "minutes": 60}'
/// ```
///
/// `minutes`: the flag goes back to the other value after that long (absent: for good).
#[server(prefix = "/api", endpoint = "set_flag", input = Json)]
pub async fn set_flag(
    device_token: String,
    flag: Flag,
    value: bool,
    minutes: Option<i64>,
) -> Result<UserDetail, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    let target = a.target(&device_token)?;
    let now = Core::now();
    let until = match minutes {
        None => None,
        Some(m) if (1..=tus_core::bulk::MAX_HOLD_MINUTES).contains(&m) => {
            Some(tus_core::time::ms(now).saturating_add(m * 60_000))
        }
        Some(_) => {
            return Err(AppError::Validation(vec![(
                "minutes".into(),
                format!(
                    "must be between 1 and {} (a year)",
                    tus_core::bulk::MAX_HOLD_MINUTES
                ),
            )]))
        }
    };
    a.core
        .set_flag(now, a.principal(), target, flag, value, until, &a.meta)
        .await
        .map_err(fail)
}

/// Activates (`active: true`) or deactivates a user.
///
/// `POST /api/set_status`: activate (`true`) or deactivate.
///
/// ```sh
/// api set_status '{"device_token": "…", "active": false}'
/// ```
#[server(prefix = "/api", endpoint = "set_status", input = Json)]
pub async fn set_status(device_token: String, active: bool) -> Result<UserDetail, AppError> {
    use super::guard::{admin, fail};
    use tus_core::types::UserStatus;
    use tus_core::Core;
    let a = admin()?;
    let target = a.target(&device_token)?;
    let status = if active {
        UserStatus::Active
    } else {
        UserStatus::Deactivated
    };
    a.core
        .set_status(Core::now(), a.principal(), target, status, &a.meta)
        .await
        .map_err(fail)
}

/// Moves a user to another instance (its tokens must then be refreshed to say so).
///
/// `POST /api/move_user`: to another instance.
///
/// ```sh
/// api move_user '{"device_token": "…", "instance_id": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "move_user", input = Json)]
pub async fn move_user(device_token: String, instance_id: String) -> Result<UserDetail, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    let target = a.target(&device_token)?;
    a.core
        .move_user_to(Core::now(), a.principal(), target, &instance_id, &a.meta)
        .await
        .map_err(fail)?;
    get_user(device_token).await
}

/// Deletes a user and every token issued to it.
///
/// `POST /api/delete_user`: the user and all its tokens.
///
/// ```sh
/// api delete_user '{"device_token": "…"}'
/// ```
///
/// With `erase`, also erases what the audit trail, events and messages hold about it
/// (see `Core::erase_user`).
#[server(prefix = "/api", endpoint = "delete_user", input = Json)]
pub async fn delete_user(device_token: String, erase: Option<bool>) -> Result<(), AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    let target = a.target(&device_token)?;
    if erase == Some(true) {
        return a
            .core
            .erase_user(Core::now(), a.principal(), target, &a.meta)
            .await
            .map(|_| ())
            .map_err(fail);
    }
    a.core
        .delete_user(Core::now(), a.principal(), target, &a.meta)
        .await
        .map_err(fail)
}

/// Registers a user into an instance, as `POST /v1/Registration/Create` takes it. The
/// answer holds the new tokens: the only time they are shown.
///
/// `POST /api/register_user`: `user` as `Registration/Create` takes it; answers the tokens
/// (once) and the claims.
///
/// ```sh
/// api register_user '{"instance_id": "…", "user": {"FirstName": "Ann"}}'
/// ```
#[server(prefix = "/api", endpoint = "register_user", input = Json)]
pub async fn register_user(
    instance_id: String,
    user: RegisterRequest,
) -> Result<RegisteredUser, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .register_from_dashboard(Core::now(), a.principal(), &instance_id, user, &a.meta)
        .await
        .map_err(fail)
}

/// The token lineage of a user: ids, times and states, never a token.
///
/// `POST /api/user_tokens`: the token lineage (ids, times, states).
///
/// ```sh
/// api user_tokens '{"device_token": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "user_tokens", input = Json)]
pub async fn user_tokens(device_token: String) -> Result<TokenLineage, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .token_lineage(
            Core::now(),
            a.principal(),
            DeviceToken::named(&device_token).map_err(fail)?,
        )
        .await
        .map_err(fail)
}

/// Revokes one token family of a user, or every token of the user without `family_id`.
/// Answers how many families were revoked by this call.
///
/// `POST /api/revoke_tokens`: one family (`family_id`) or, without it, every token; answers how
/// many families.
///
/// ```sh
/// api revoke_tokens '{"device_token": "…", "family_id": null}'
/// ```
#[server(prefix = "/api", endpoint = "revoke_tokens", input = Json)]
pub async fn revoke_tokens(
    device_token: String,
    family_id: Option<String>,
) -> Result<u64, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .revoke_user_tokens(
            Core::now(),
            a.principal(),
            DeviceToken::named(&device_token).map_err(fail)?,
            family_id.as_deref(),
            &a.meta,
        )
        .await
        .map_err(fail)
}

/// Exactly how many users a bulk action would act on (shown before it runs).
///
/// `POST /api/bulk_count`: the exact number of users a bulk action would act on; `target` is
/// `{"Selected": [DeviceToken, …]}` (≤ 1,000) or `{"Matching": <list query>}`.
///
/// ```sh
/// api bulk_count '{"target": {"Matching": {"tracking": "on"}}}'
/// ```
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
///
/// `POST /api/bulk_apply`: applies `action` (`{"SetFlag": {"flag": "Tracking", "value":
/// false}}`, `{"SetActive": false}`, `{"Move": "<InstanceId>"}`, `"Delete"`); answers
/// `[matched, changed]`.
///
/// ```sh
/// api bulk_apply '{"target": {"Matching": {"tracking": "on"}}, "action": {"SetFlag": {"flag": "Tracking", "value": false}}}'
/// ```
#[server(prefix = "/api", endpoint = "bulk_apply", input = Json)]
pub async fn bulk_apply(target: BulkTarget, action: BulkAction) -> Result<(i64, u64), AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .bulk_apply(Core::now(), a.principal(), &target, &action, &a.meta)
        .await
        .map(|o| (o.matched, o.changed))
        .map_err(fail)
}

/// Which channels this server can send on: `(email, sms)`.
///
/// `POST /api/delivery_channels`: `[true, false]` when e-mail is configured and SMS is not.
#[server(prefix = "/api", endpoint = "delivery_channels", input = Json)]
pub async fn delivery_channels() -> Result<(bool, bool), AppError> {
    use super::guard::admin;
    let a = admin()?;
    let d = a.core.delivery_settings();
    Ok((d.email, d.sms))
}

/// A new password generated for the user and sent by `deliver` (`Email` or `Sms`); nobody
/// sees it, and the user's sessions end.
///
/// `POST /api/send_password`: answers the queued message.
///
/// ```sh
/// api send_password '{"device_token": "…", "deliver": "Email"}'
/// ```
#[server(prefix = "/api", endpoint = "send_password", input = Json)]
pub async fn send_password(
    device_token: String,
    deliver: String,
) -> Result<DeliveryView, AppError> {
    use super::guard::{admin, fail};
    use tus_core::outbox::Channel;
    use tus_core::{Core, CoreError};
    let a = admin()?;
    let target = a.target(&device_token)?;
    let channel =
        CoreError::validation_of("Deliver", Channel::deliver(Some(&deliver))).map_err(fail)?;
    a.core
        .send_new_password(Core::now(), a.principal(), target, channel, &a.meta)
        .await
        .map_err(fail)
}

/// The user's latest messages (newest first, at most 20; no bodies, recipients masked).
///
/// `POST /api/user_deliveries`.
///
/// ```sh
/// api user_deliveries '{"device_token": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "user_deliveries", input = Json)]
pub async fn user_deliveries(device_token: String) -> Result<Vec<DeliveryView>, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    let target = a.target(&device_token)?;
    a.core
        .user_deliveries(a.principal(), target, 20)
        .await
        .map_err(fail)
}
