//! `/v1/Registration/*`: anonymous, with instance credentials.

use app::ssr::AppState;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use tus_core::Core;
use tus_wire::model::{CreateManyRequest, RegisterRequest};

use super::dto::{BatchDto, CredentialsDto};
use super::envelope::Data;
use super::error::ApiError;
use super::extract::{InstanceHeaders, Meta};
use super::json::CiJson;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/registration/create", post(create))
        .route("/v1/registration/createmany", post(create_many))
}

#[utoipa::path(post, path = "/v1/Registration/Create", tag = "Registration",
    summary = "Register one user",
    description = "Creates a user in the instance (or in the one named by InstanceInviteCode) and, unless CreateAccessToken is false, its first token pair. A Password (10 characters or more, with an Email or a Phone) lets the user log in by e-mail or phone; instead, `Deliver: Email` or `Sms` generates one and sends it to the user's Email or (E.164) Phone through the outbox, in the same transaction, shown to nobody (422 naming Deliver when the channel is not configured or the address is missing). A registration carrying a Password or Deliver is limited per client address (429 with Retry-After).",
    params(("InstanceId" = String, Header, description = "The instance's id (UUID)."), ("InstanceKey" = String, Header, description = "The instance's key.")),
    security(("InstanceId" = [], "InstanceKey" = [])),
    request_body = Option<tus_wire::model::RegisterRequest>,
    responses((status = 200, description = "The user's DeviceToken and tokens.", body = super::openapi::Envelope<super::dto::CredentialsDto>),
        (status = 503, description = "Password checks are at capacity; nothing changed.", body = super::openapi::ErrorEnvelope, headers(("Retry-After" = u32, description = "Seconds to wait before trying again.")))))]
async fn create(
    State(core): State<Core>,
    InstanceHeaders(creds): InstanceHeaders,
    Meta(meta): Meta,
    CiJson(body): CiJson<RegisterRequest>,
) -> Result<Data<CredentialsDto>, ApiError> {
    let credentials = core.register(Core::now(), &creds, body, &meta).await?;
    Ok(Data(credentials.into()))
}

#[utoipa::path(post, path = "/v1/Registration/CreateMany", tag = "Registration",
    summary = "Register many users at once",
    description = "Quantity users (at most TUS_MAX_BATCH) in one transaction: all or none.",
    params(("InstanceId" = String, Header, description = "The instance's id (UUID)."), ("InstanceKey" = String, Header, description = "The instance's key.")),
    security(("InstanceId" = [], "InstanceKey" = [])),
    request_body = tus_wire::model::CreateManyRequest,
    responses((status = 200, description = "Every user's DeviceToken and tokens, and the BatchId.", body = super::openapi::Envelope<super::dto::BatchDto>)))]
async fn create_many(
    State(core): State<Core>,
    InstanceHeaders(creds): InstanceHeaders,
    Meta(meta): Meta,
    CiJson(body): CiJson<CreateManyRequest>,
) -> Result<Data<BatchDto>, ApiError> {
    let batch = core.register_many(Core::now(), &creds, body, &meta).await?;
    Ok(Data(batch.into()))
}
