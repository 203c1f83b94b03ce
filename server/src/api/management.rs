//! `/v1/Management/users`: bearer token; a user acts on itself, an admin on any user.

use app::ssr::AppState;
use std::collections::HashMap;
use tus_core::outbox::Channel;
use tus_core::types::{BatchId, DeviceToken};
use tus_core::users::search::FindQuery;
use tus_core::Core;
use tus_core::CoreError;
use tus_wire::model::{
    ChangeInstanceRequest, InstanceNameView, UpdateUserRequest, UserPageRequest, UserPageView,
    UserView,
};
use tus_wire::model::{InviteCountView, InviteRequest, SendPasswordRequest};
use tus_wire::views::DeliveryView;
use tus_wire::views::{BulkTarget, UserListQuery};

use axum::extract::{Path, Query, State};
use axum::routing::{delete, get, post};
use axum::Router;

use super::envelope::{Data, Done};
use super::error::ApiError;
use super::extract::{Bearer, LowerQuery, Meta, UserDeviceTokenHeader};
use super::json::CiJson;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/management/users", get(get_user).put(update_user))
        .route("/v1/management/users/find", get(find_users))
        .route("/v1/management/users/password", post(send_password))
        .route("/v1/management/users/invite", post(invite))
        .route("/v1/management/users/invite/count", post(invite_count))
        .route("/v1/management/users/getfilteredpage", post(filtered_page))
        .route("/v1/management/users/{device_token}", delete(delete_user))
        .route(
            "/v1/management/users/{device_token}/export",
            get(export_user),
        )
        .route(
            "/v1/management/users/{device_token}/erase",
            post(erase_user),
        )
        .route(
            "/v1/management/users/instances/change",
            post(change_instance),
        )
        .route(
            "/v1/management/users/instances/change/{invite_code}",
            post(join_instance),
        )
}

#[utoipa::path(get, path = "/v1/Management/users", tag = "Management",
    summary = "Read a user",
    description = "A user token reads its own user; an admin token the user named in UserDeviceToken.",
    params(("UserDeviceToken" = tus_wire::formats::Id, Header, description = "The user acted on. Required with an admin's token or an API key; a user's own token may leave it out (the original API's clients do) or name itself.")), security(("bearer" = [])),
    responses((status = 200, description = "The user.", body = super::openapi::Envelope<tus_wire::model::UserView>)))]
async fn get_user(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    UserDeviceTokenHeader(target): UserDeviceTokenHeader,
) -> Result<Data<UserView>, ApiError> {
    let target = core.target_user(&principal, target.as_deref())?;
    Ok(Data(core.user_view(&principal, target).await?))
}

#[utoipa::path(put, path = "/v1/Management/users", tag = "Management",
    summary = "Change a user (partial)",
    description = "Only the fields sent change. Status Deleted deletes the user. A user changing its password sends OldPassword too; an admin does not. Flags and ClientId show in the next token issued.",
    params(("UserDeviceToken" = tus_wire::formats::Id, Header, description = "The user acted on. Required with an admin's token or an API key; a user's own token may leave it out (the original API's clients do) or name itself.")), security(("bearer" = [])),
    request_body = Option<tus_wire::model::UpdateUserRequest>,
    responses((status = 200, description = "Changed.", body = super::openapi::DoneEnvelope),
        (status = 503, description = "Password checks are at capacity; nothing changed.", body = super::openapi::ErrorEnvelope, headers(("Retry-After" = u32, description = "Seconds to wait before trying again.")))))]
async fn update_user(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    UserDeviceTokenHeader(target): UserDeviceTokenHeader,
    Meta(meta): Meta,
    CiJson(body): CiJson<UpdateUserRequest>,
) -> Result<Done, ApiError> {
    let target = core.target_user(&principal, target.as_deref())?;
    core.update_user(Core::now(), &principal, target, body.try_into()?, &meta)
        .await?;
    Ok(Done)
}

#[utoipa::path(post, path = "/v1/Management/users/password", tag = "Management",
    summary = "Send a user a new password (admin)",
    description = "Generates a password for the user named in UserDeviceToken and delivers it by e-mail (`Deliver: Email`) or SMS (`Sms`, to an E.164 phone). Nobody sees it: it is stored as argon2id and sealed in the outbox until sent. The user's sessions end. Answers the queued message (GET /v1/Deliveries/{Id} follows it). 422 when the user has no such address or the channel is not configured.",
    params(("UserDeviceToken" = tus_wire::formats::Id, Header, description = "The user.")), security(("bearer" = [])),
    request_body = tus_wire::model::SendPasswordRequest,
    responses((status = 200, description = "Queued.", body = super::openapi::Envelope<tus_wire::views::DeliveryView>),
        (status = 422, description = "Deliver is missing or unknown, the user has no such address, or the channel is not configured.", body = super::openapi::ErrorEnvelope)))]
async fn send_password(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    UserDeviceTokenHeader(target): UserDeviceTokenHeader,
    Meta(meta): Meta,
    CiJson(body): CiJson<SendPasswordRequest>,
) -> Result<Data<DeliveryView>, ApiError> {
    let target = core.target_user(&principal, target.as_deref())?;
    let channel = CoreError::validation_of("Deliver", Channel::deliver(body.deliver.as_deref()))?;
    let sent = core
        .send_new_password(Core::now(), &principal, target, channel, &meta)
        .await?;
    Ok(Data(sent))
}

/// Who an invite names, and on which channel: exactly one of UserDeviceToken, BatchId and
/// Filter.
fn invite_target(body: &InviteRequest) -> Result<(BulkTarget, Channel), ApiError> {
    let channel = CoreError::validation_of("Deliver", Channel::deliver(body.deliver.as_deref()))?;
    let target = match (&body.user_device_token, &body.batch_id, &body.filter) {
        (Some(token), None, None) => {
            let token = CoreError::validation_of("UserDeviceToken", DeviceToken::parse(token))?;
            BulkTarget::Selected(vec![token.to_string()])
        }
        (None, Some(batch), None) => {
            let batch = CoreError::validation_of("BatchId", BatchId::parse(batch))?;
            BulkTarget::Matching(Box::new(UserListQuery::of_batch(&batch.to_string())))
        }
        (None, None, Some(f)) => BulkTarget::Matching(Box::new(UserListQuery {
            q: f.q.clone(),
            instance: f.instance.clone(),
            status: f.status.clone(),
            tracking: f.tracking.clone(),
            logging: f.logging.clone(),
            sdk: f.sdk.clone(),
            realtime: f.realtime.clone(),
            ..Default::default()
        })),
        _ => {
            return Err(CoreError::validation(
                "UserDeviceToken",
                "give exactly one of UserDeviceToken, BatchId and Filter",
            )
            .into())
        }
    };
    Ok((target, channel))
}

#[utoipa::path(post, path = "/v1/Management/users/invite/count", tag = "Management",
    summary = "Count who an invite would reach (admin)",
    description = "The same body as /v1/Management/users/invite, without Count. Matched: the users selected; Recipients: those an invite would reach (active, in an active instance, with an e-mail for `Email` or an E.164 phone for `Sms`). Send Recipients back as Count to invite them.",
    security(("bearer" = [])),
    request_body = tus_wire::model::InviteRequest,
    responses((status = 200, description = "The exact count.", body = super::openapi::Envelope<tus_wire::model::InviteCountView>),
        (status = 422, description = "No target or more than one, Deliver missing, the channel not configured, e-mail without TUS_PUBLIC_URL, or more than 10,000 users.", body = super::openapi::ErrorEnvelope)))]
async fn invite_count(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    CiJson(body): CiJson<InviteRequest>,
) -> Result<Data<InviteCountView>, ApiError> {
    let (target, channel) = invite_target(&body)?;
    let count = core.invite_count(&principal, &target, channel).await?;
    Ok(Data(InviteCountView {
        matched: count.matched,
        recipients: count.recipients,
    }))
}

#[utoipa::path(post, path = "/v1/Management/users/invite", tag = "Management",
    summary = "Invite drivers by e-mail or SMS (admin)",
    description = "Invites one user (UserDeviceToken), every user of a batch (BatchId) or every user a filter matches (Filter: Q, Instance, Status, Tracking, Logging, Sdk, Realtime as the users list takes them). `Deliver: Email` sends a one-time link to the dashboard's /invite page, where the driver sets a password (needs TUS_PUBLIC_URL); `Sms` sends a one-time code the app logs in with (as `Code` on /v1/Auth/Login) or resets the password with (/v1/Auth/Reset). Links and codes work once, for TUS_INVITE_TTL (7 days by default), and are stored only hashed. A batch or a filter needs Count, the Recipients that /invite/count answered: the invite is sent only while that still holds (409 otherwise), in one transaction, one message per user.",
    security(("bearer" = [])),
    request_body = tus_wire::model::InviteRequest,
    responses((status = 200, description = "Queued: one message per recipient.", body = super::openapi::Envelope<tus_wire::model::InviteCountView>),
        (status = 404, description = "No user has this UserDeviceToken.", body = super::openapi::ErrorEnvelope),
        (status = 409, description = "The selection no longer has Count recipients, or the user is deactivated.", body = super::openapi::ErrorEnvelope),
        (status = 422, description = "No target or more than one, Deliver or Count missing, the user has no such address, the channel is not configured, or e-mail without TUS_PUBLIC_URL.", body = super::openapi::ErrorEnvelope)))]
async fn invite(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    Meta(meta): Meta,
    CiJson(body): CiJson<InviteRequest>,
) -> Result<Data<InviteCountView>, ApiError> {
    let (target, channel) = invite_target(&body)?;
    let sent = core
        .invite(Core::now(), &principal, &target, channel, body.count, &meta)
        .await?;
    Ok(Data(InviteCountView {
        matched: sent.matched,
        recipients: sent.recipients,
    }))
}

#[utoipa::path(delete, path = "/v1/Management/users/{DeviceToken}", tag = "Management",
    summary = "Delete a user and all its tokens (admin)",
    params(("DeviceToken" = String, Path, description = "The user.")), security(("bearer" = [])),
    responses((status = 200, description = "Deleted.", body = super::openapi::DoneEnvelope)))]
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

#[utoipa::path(get, path = "/v1/Management/users/{DeviceToken}/Export", tag = "Management",
    summary = "Everything held about a user, as JSON (admin)",
    description = "Its profile, flags and their ends, device and activity, the lineage of its tokens (never a token), the audit entries about it or by it (the newest 10,000), and the messages sent to it (never a body). Audited as user.exported.",
    params(("DeviceToken" = String, Path, description = "The user.")), security(("bearer" = [])),
    responses((status = 200, description = "The user's data.", body = super::openapi::Envelope<Object>)))]
async fn export_user(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    Meta(meta): Meta,
    Path(device_token): Path<String>,
) -> Result<Data<serde_json::Value>, ApiError> {
    let target = DeviceToken::parse(&device_token).map_err(|_| ApiError::NotFound)?;
    Ok(Data(
        core.export_user(Core::now(), &principal, target, &meta)
            .await?,
    ))
}

#[utoipa::path(post, path = "/v1/Management/users/{DeviceToken}/Erase", tag = "Management",
    summary = "Delete a user and erase what is held about it (admin)",
    description = "Deletes the user with its tokens, as DELETE does, and erases its traces: in the audit trail its DeviceToken becomes a pseudonym and the details of those entries are removed (what happened and when stays); its events keep only their type; its messages lose address and body. The user.deleted event of the erasure still names the DeviceToken, for other systems to erase too. Answers the pseudonym.",
    params(("DeviceToken" = String, Path, description = "The user.")), security(("bearer" = [])),
    responses((status = 200, description = "Erased: the pseudonym now standing for the user in the audit trail.", body = super::openapi::Envelope<String>)))]
async fn erase_user(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    Meta(meta): Meta,
    Path(device_token): Path<String>,
) -> Result<Data<String>, ApiError> {
    let target = DeviceToken::parse(&device_token).map_err(|_| ApiError::NotFound)?;
    Ok(Data(
        core.erase_user(Core::now(), &principal, target, &meta)
            .await?,
    ))
}

#[utoipa::path(post, path = "/v1/Management/users/instances/change", tag = "Management",
    summary = "Move a user to another instance (admin)",
    description = "ToInstanceKey must be the target instance's key.",
    security(("bearer" = [])),
    request_body = tus_wire::model::ChangeInstanceRequest,
    responses((status = 200, description = "Moved.", body = super::openapi::DoneEnvelope)))]
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

#[utoipa::path(post, path = "/v1/Management/users/instances/change/{InviteCode}", tag = "Management",
    summary = "Move yourself to the instance of an invite code (user)",
    params(("InviteCode" = String, Path, description = "The target instance's invite code.")), security(("bearer" = [])),
    responses((status = 200, description = "Moved; the new instance's name.", body = super::openapi::Envelope<tus_wire::model::InstanceNameView>)))]
async fn join_instance(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    UserDeviceTokenHeader(target): UserDeviceTokenHeader,
    Meta(meta): Meta,
    Path(code): Path<String>,
) -> Result<Data<InstanceNameView>, ApiError> {
    Ok(Data(
        core.join_instance(Core::now(), &principal, target.as_deref(), &code, &meta)
            .await?,
    ))
}

/// The filters of `users/find`, for the API document: at least one.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct FindFilters {
    #[schema(value_type = Option<tus_wire::formats::Id>, nullable = false)]
    device_token: Option<String>,
    #[schema(value_type = Option<tus_wire::formats::EmailAddress>, nullable = false)]
    email: Option<String>,
    #[schema(value_type = Option<tus_wire::formats::PhoneNumber>, nullable = false)]
    phone: Option<String>,
    #[schema(value_type = Option<tus_wire::formats::NonBlankText>, nullable = false)]
    client_id: Option<String>,
    #[schema(value_type = Option<tus_wire::formats::NonBlankText>, nullable = false)]
    first_name: Option<String>,
    #[schema(value_type = Option<tus_wire::formats::NonBlankText>, nullable = false)]
    last_name: Option<String>,
    /// First and last name, split any way.
    #[schema(value_type = Option<tus_wire::formats::FullName>, nullable = false)]
    full_name: Option<String>,
    #[schema(value_type = Option<tus_wire::formats::NonBlankText>, nullable = false)]
    country: Option<String>,
}

#[utoipa::path(get, path = "/v1/Management/users/find", tag = "Management",
    summary = "Find users (admin)",
    description = "At least one filter; all given must match. Names and countries ignore ASCII case. Newest first, at most 500.",
    params(("filters" = inline(FindFilters), Query, style = Form, explode, description = "At least one of the filters, as query parameters."),
        ("IncludeAccountInfo" = Option<bool>, Query, description = "Accepted; account info is always included."),
        ("ShowInactiveUsers" = Option<bool>, Query, description = "Include deactivated users.")),
    security(("bearer" = [])),
    responses((status = 200, description = "The users found.", body = super::openapi::Envelope<Vec<tus_wire::model::UserView>>)))]
async fn find_users(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Data<Vec<UserView>>, ApiError> {
    let q = LowerQuery::from(query);
    let find = FindQuery {
        device_token: q.text("devicetoken"),
        email: q.text("email"),
        phone: q.text("phone"),
        client_id: q.text("clientid"),
        first_name: q.text("firstname"),
        last_name: q.text("lastname"),
        full_name: q.text("fullname"),
        country: q.text("country"),
        show_inactive_users: q.flag("ShowInactiveUsers", false)?,
    };
    Ok(Data(core.find_users(&principal, find).await?))
}

#[utoipa::path(post, path = "/v1/Management/users/GetFilteredPage", tag = "Management",
    summary = "One page of users (admin)",
    description = "Filters combine; totals come from counters kept with every change, so no page counts the table. A search counts at most 10,000 matches (TotalUsersExact false beyond).",
    security(("bearer" = [])),
    request_body = Option<tus_wire::model::UserPageRequest>,
    responses((status = 200, description = "The page.", body = super::openapi::Envelope<tus_wire::model::UserPageView>)))]
async fn filtered_page(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    CiJson(body): CiJson<UserPageRequest>,
) -> Result<Data<UserPageView>, ApiError> {
    Ok(Data(core.user_page(&principal, body).await?))
}
