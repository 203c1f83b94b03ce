//! `/v1/Management/users`: bearer token; a user acts on itself, an admin on any user.

use app::core::management::FindQuery;
use app::core::types::DeviceToken;
use app::core::Core;
use app::model::{
    ChangeInstanceRequest, InstanceNameView, UpdateUserRequest, UserPageRequest, UserPageView,
    UserView,
};
use app::ssr::AppState;
use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::routing::{delete, get, post};
use axum::Router;

use super::envelope::{Data, Done};
use super::error::ApiError;
use super::extract::{Bearer, Meta, UserDeviceTokenHeader};
use super::json::CiJson;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/management/users", get(get_user).put(update_user))
        .route("/v1/management/users/find", get(find_users))
        .route("/v1/management/users/getfilteredpage", post(filtered_page))
        .route("/v1/management/users/{device_token}", delete(delete_user))
        .route(
            "/v1/management/users/instances/change",
            post(change_instance),
        )
        .route(
            "/v1/management/users/instances/change/{invite_code}",
            post(join_instance),
        )
}

async fn get_user(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    UserDeviceTokenHeader(target): UserDeviceTokenHeader,
) -> Result<Data<UserView>, ApiError> {
    let target = core.target_user(&principal, target.as_deref())?;
    Ok(Data(core.user_view(target).await?))
}

async fn update_user(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    UserDeviceTokenHeader(target): UserDeviceTokenHeader,
    Meta(meta): Meta,
    CiJson(body): CiJson<UpdateUserRequest>,
) -> Result<Done, ApiError> {
    let target = core.target_user(&principal, target.as_deref())?;
    core.update_user(Core::now(), &principal, target, body, &meta)
        .await?;
    Ok(Done)
}

async fn delete_user(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    Meta(meta): Meta,
    Path(device_token): Path<String>,
) -> Result<Done, ApiError> {
    let target = DeviceToken::parse(&device_token).map_err(|_| ApiError::NotFound)?;
    core.delete_user(Core::now(), &principal, target, &meta)
        .await?;
    Ok(Done)
}

async fn change_instance(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    Meta(meta): Meta,
    CiJson(body): CiJson<ChangeInstanceRequest>,
) -> Result<Done, ApiError> {
    core.change_instance(Core::now(), &principal, body, &meta)
        .await?;
    Ok(Done)
}

/// The caller moves itself. A user naming someone else in `UserDeviceToken` is refused
/// (403), as on every other user route, rather than silently moving the caller.
async fn join_instance(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    UserDeviceTokenHeader(target): UserDeviceTokenHeader,
    Meta(meta): Meta,
    Path(code): Path<String>,
) -> Result<Data<InstanceNameView>, ApiError> {
    if !principal.is_admin() {
        core.target_user(&principal, target.as_deref())?;
    }
    Ok(Data(
        core.join_instance(Core::now(), &principal, &code, &meta)
            .await?,
    ))
}

async fn find_users(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Data<Vec<UserView>>, ApiError> {
    let q: HashMap<String, String> = query
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let text = |k: &str| q.get(k).cloned();
    let find = FindQuery {
        device_token: text("devicetoken"),
        email: text("email"),
        phone: text("phone"),
        client_id: text("clientid"),
        first_name: text("firstname"),
        last_name: text("lastname"),
        full_name: text("fullname"),
        country: text("country"),
        show_inactive_users: q
            .get("showinactiveusers")
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1"),
    };
    Ok(Data(core.find_users(&principal, find).await?))
}

async fn filtered_page(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    CiJson(body): CiJson<UserPageRequest>,
) -> Result<Data<UserPageView>, ApiError> {
    Ok(Data(core.user_page(&principal, body).await?))
}
