//! `/v1/Webhooks`: subscriptions of other systems to events (admins, and API keys with
//! `webhooks:write`): create (the secret shown once), list, change, enable or disable,
//! delete, rotate the secret, send a test event, read the delivery log, resend one delivery,
//! replay a time range.

use std::collections::HashMap;

use app::ssr::AppState;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tus_core::{Core, CoreError};
use tus_wire::model::{
    WebhookDeliveryView, WebhookInput, WebhookReplay, WebhookView, WebhookWithSecret,
};

use super::envelope::{Data, Done};
use super::error::ApiError;
use super::extract::{Bearer, Meta};
use super::json::CiJson;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks", get(list).post(create))
        .route("/v1/webhooks/{id}", get(one).patch(update).delete(delete))
        .route("/v1/webhooks/{id}/rotatesecret", post(rotate_secret))
        .route("/v1/webhooks/{id}/test", post(test))
        .route("/v1/webhooks/{id}/replay", post(replay))
        .route("/v1/webhooks/{id}/deliveries", get(deliveries))
        .route(
            "/v1/webhooks/{id}/deliveries/{delivery}/resend",
            post(resend),
        )
}

#[utoipa::path(get, path = "/v1/Webhooks", tag = "Webhooks",
    summary = "List webhook subscriptions",
    description = "Newest first, never a secret. Admin token, or an API key with webhooks:write.",
    security(("bearer" = [])),
    responses((status = 200, description = "The webhooks.", body = super::openapi::Envelope<Vec<WebhookView>>)))]
async fn list(
    State(core): State<Core>,
    Bearer(p): Bearer,
) -> Result<Data<Vec<WebhookView>>, ApiError> {
    Ok(Data(core.webhooks(Core::now(), &p).await?))
}

#[utoipa::path(post, path = "/v1/Webhooks", tag = "Webhooks",
    summary = "Subscribe a URL to events",
    description = "Url (https; http only to a loopback or private address with AllowPrivate; never link-local or metadata addresses), EventTypes (absent: every type), Instances or Applications (absent: every one). Answers the webhook and its signing secret, shown this once.",
    security(("bearer" = [])),
    request_body = WebhookInput,
    responses((status = 200, description = "The new webhook and its secret.", body = super::openapi::Envelope<WebhookWithSecret>),
        (status = 422, description = "A field is missing or invalid (each named).", body = super::openapi::ErrorEnvelope)))]
async fn create(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    CiJson(body): CiJson<WebhookInput>,
) -> Result<Data<WebhookWithSecret>, ApiError> {
    Ok(Data(
        core.create_webhook(Core::now(), &p, &body, &meta).await?,
    ))
}

#[utoipa::path(get, path = "/v1/Webhooks/{Id}", tag = "Webhooks",
    summary = "One webhook subscription",
    params(("Id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The webhook.", body = super::openapi::Envelope<WebhookView>),
        (status = 404, description = "No webhook has this id.", body = super::openapi::ErrorEnvelope)))]
async fn one(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Path(id): Path<String>,
) -> Result<Data<WebhookView>, ApiError> {
    Ok(Data(core.webhook(Core::now(), &p, &id).await?))
}

#[utoipa::path(patch, path = "/v1/Webhooks/{Id}", tag = "Webhooks",
    summary = "Change, enable or disable a webhook",
    description = "Only the fields given change. Enabled: true also clears an automatic disable.",
    params(("Id" = String, Path)), security(("bearer" = [])),
    request_body = Option<WebhookInput>,
    responses((status = 200, description = "The webhook as changed.", body = super::openapi::Envelope<WebhookView>),
        (status = 404, description = "No webhook has this id.", body = super::openapi::ErrorEnvelope),
        (status = 422, description = "A field is invalid (each named); nothing changed.", body = super::openapi::ErrorEnvelope)))]
async fn update(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
    CiJson(body): CiJson<WebhookInput>,
) -> Result<Data<WebhookView>, ApiError> {
    Ok(Data(
        core.update_webhook(Core::now(), &p, &id, &body, &meta)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/v1/Webhooks/{Id}", tag = "Webhooks",
    summary = "Delete a webhook (its pending deliveries are cancelled)",
    params(("Id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "Deleted.", body = super::openapi::DoneEnvelope),
        (status = 404, description = "No webhook has this id.", body = super::openapi::ErrorEnvelope)))]
async fn delete(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Done, ApiError> {
    core.delete_webhook(Core::now(), &p, &id, &meta).await?;
    Ok(Done)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
struct RotateSecret {
    /// How long the previous secret keeps signing too (seconds, 0 to 604800; default 86400).
    #[schema(minimum = 0, maximum = 604800)]
    overlap_seconds: Option<i64>,
}

#[utoipa::path(post, path = "/v1/Webhooks/{Id}/RotateSecret", tag = "Webhooks",
    summary = "Give a webhook a new signing secret",
    description = "Answers the new secret, shown this once. Until the overlap ends every request carries both signatures, so the receiver can switch without missing an event.",
    params(("Id" = String, Path)), security(("bearer" = [])),
    request_body = Option<RotateSecret>,
    responses((status = 200, description = "The webhook and its new secret.", body = super::openapi::Envelope<WebhookWithSecret>),
        (status = 404, description = "No webhook has this id.", body = super::openapi::ErrorEnvelope)))]
async fn rotate_secret(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
    CiJson(body): CiJson<RotateSecret>,
) -> Result<Data<WebhookWithSecret>, ApiError> {
    let overlap = body.overlap_seconds.unwrap_or(86_400);
    Ok(Data(
        core.rotate_webhook_secret(Core::now(), &p, &id, overlap, &meta)
            .await?,
    ))
}

#[utoipa::path(post, path = "/v1/Webhooks/{Id}/Test", tag = "Webhooks",
    summary = "Send a webhook.test event to this webhook",
    params(("Id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The queued delivery.", body = super::openapi::Envelope<WebhookDeliveryView>),
        (status = 404, description = "No webhook has this id.", body = super::openapi::ErrorEnvelope)))]
async fn test(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Data<WebhookDeliveryView>, ApiError> {
    Ok(Data(
        core.send_webhook_test(Core::now(), &p, &id, &meta).await?,
    ))
}

#[utoipa::path(post, path = "/v1/Webhooks/{Id}/Replay", tag = "Webhooks",
    summary = "Send every event of a time range to this webhook again",
    description = "From and To (ISO 8601; To exclusive). Only the events the webhook subscribes to; at most 100,000.",
    params(("Id" = String, Path)), security(("bearer" = [])),
    request_body = WebhookReplay,
    responses((status = 200, description = "How many events were queued.", body = super::openapi::Envelope<i64>),
        (status = 404, description = "No webhook has this id.", body = super::openapi::ErrorEnvelope),
        (status = 422, description = "From or To missing or invalid, or the range holds too many events.", body = super::openapi::ErrorEnvelope)))]
async fn replay(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
    CiJson(body): CiJson<WebhookReplay>,
) -> Result<Data<i64>, ApiError> {
    Ok(Data(
        core.replay_webhook(Core::now(), &p, &id, &body, &meta)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/Webhooks/{Id}/Deliveries", tag = "Webhooks",
    summary = "A webhook's delivery log",
    description = "Newest first: each event sent, its state, attempts, and the receiver's last answer (status, time taken). Limit 1–500 (default 100).",
    params(("Id" = String, Path), ("Limit" = Option<i64>, Query, minimum = 1, maximum = 500)), security(("bearer" = [])),
    responses((status = 200, description = "The deliveries.", body = super::openapi::Envelope<Vec<WebhookDeliveryView>>),
        (status = 404, description = "No webhook has this id.", body = super::openapi::ErrorEnvelope)))]
async fn deliveries(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Data<Vec<WebhookDeliveryView>>, ApiError> {
    let limit = match q.iter().find(|(k, _)| k.eq_ignore_ascii_case("limit")) {
        None => 100,
        Some((_, v)) => match v.parse::<i64>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => {
                return Err(CoreError::validation("Limit", "must be a number from 1 to 500").into())
            }
        },
    };
    Ok(Data(core.webhook_deliveries(&p, &id, limit).await?))
}

#[utoipa::path(post, path = "/v1/Webhooks/{Id}/Deliveries/{DeliveryId}/Resend", tag = "Webhooks",
    summary = "Send one delivery's event again",
    params(("Id" = String, Path), ("DeliveryId" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The new delivery.", body = super::openapi::Envelope<WebhookDeliveryView>),
        (status = 404, description = "No delivery of this webhook has this id.", body = super::openapi::ErrorEnvelope)))]
async fn resend(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Data<WebhookDeliveryView>, ApiError> {
    Ok(Data(
        core.resend_webhook_delivery(Core::now(), &p, &id, &delivery, &meta)
            .await?,
    ))
}
