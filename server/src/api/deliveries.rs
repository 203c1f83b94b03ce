//! `/v1/Deliveries`: the outbox for admins: list and follow messages, retry a failed one,
//! cancel one not yet sent, send a test message.

use std::collections::HashMap;

use app::ssr::AppState;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::Router;
use tus_core::outbox::{message_filter, Channel};
use tus_core::store::MessageFilter;
use tus_core::{Core, CoreError, FieldErrors};
use tus_wire::views::{DeliveryQuery, DeliveryView};

use super::envelope::Data;
use super::error::ApiError;
use super::extract::{Bearer, Meta};
use super::json::CiJson;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/deliveries", get(list))
        .route("/v1/deliveries/test", post(test_message))
        .route("/v1/deliveries/{id}", get(one))
        .route("/v1/deliveries/{id}/retry", post(retry))
        .route("/v1/deliveries/{id}/cancel", post(cancel))
}

/// The list's filter from the query (keys in any case); every bad value named at once.
fn filter_of(q: &HashMap<String, String>) -> Result<(MessageFilter, i64), CoreError> {
    let mut query = DeliveryQuery::default();
    let mut limit = Ok(50);
    for (key, value) in q {
        let value = Some(value.clone());
        match key.to_ascii_lowercase().as_str() {
            "devicetoken" => query.device_token = value,
            "kind" => query.kind = value,
            "state" => query.state = value,
            "before" => query.before = value,
            "limit" => {
                limit = match value.as_deref().map(str::parse::<i64>) {
                    Some(Ok(n)) if (1..=200).contains(&n) => Ok(n),
                    _ => Err(CoreError::validation(
                        "Limit",
                        "must be a number from 1 to 200",
                    )),
                }
            }
            _ => {}
        }
    }
    let filter = message_filter(&query)?;
    Ok((filter, limit?))
}

#[utoipa::path(get, path = "/v1/Deliveries", tag = "Deliveries",
    summary = "List outbox messages (admin)",
    description = "Newest first, without bodies; recipients masked. Filters: DeviceToken, Kind (Email, Sms), State (queued, sending, sent, failed, cancelled), Before (the Id of the last message of a page: the page after it), Limit (1–200, default 50).",
    params(("DeviceToken" = Option<tus_wire::formats::Id>, Query), ("Kind" = Option<String>, Query), ("State" = Option<String>, Query), ("Before" = Option<tus_wire::formats::Id>, Query), ("Limit" = Option<i64>, Query, minimum = 1, maximum = 200)),
    security(("bearer" = [])),
    responses((status = 200, description = "The messages.", body = super::openapi::Envelope<Vec<tus_wire::views::DeliveryView>>)))]
async fn list(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Data<Vec<DeliveryView>>, ApiError> {
    let (filter, limit) = filter_of(&q)?;
    Ok(Data(core.deliveries(&principal, &filter, limit).await?))
}

#[utoipa::path(get, path = "/v1/Deliveries/{Id}", tag = "Deliveries",
    summary = "One outbox message with every attempt (admin)",
    params(("Id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The message.", body = super::openapi::Envelope<tus_wire::views::DeliveryView>)))]
async fn one(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    Path(id): Path<String>,
) -> Result<Data<DeliveryView>, ApiError> {
    Ok(Data(core.delivery(&principal, &message_id(&id)?).await?))
}

#[utoipa::path(post, path = "/v1/Deliveries/{Id}/retry", tag = "Deliveries",
    summary = "Queue a failed message again (admin)",
    params(("Id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "Queued again.", body = super::openapi::Envelope<tus_wire::views::DeliveryView>),
        (status = 409, description = "The message is not failed.", body = super::openapi::ErrorEnvelope)))]
async fn retry(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Data<DeliveryView>, ApiError> {
    let id = message_id(&id)?;
    Ok(Data(
        core.retry_or_cancel_delivery(Core::now(), &principal, &id, false, &meta)
            .await?,
    ))
}

#[utoipa::path(post, path = "/v1/Deliveries/{Id}/cancel", tag = "Deliveries",
    summary = "Cancel a queued or failed message; its body is deleted (admin)",
    params(("Id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "Cancelled.", body = super::openapi::Envelope<tus_wire::views::DeliveryView>),
        (status = 409, description = "The message is being sent, sent, or cancelled.", body = super::openapi::ErrorEnvelope)))]
async fn cancel(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Data<DeliveryView>, ApiError> {
    let id = message_id(&id)?;
    Ok(Data(
        core.retry_or_cancel_delivery(Core::now(), &principal, &id, true, &meta)
            .await?,
    ))
}

/// Body of `POST /v1/Deliveries/test`.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct TestMessageRequest {
    /// `Email` or `Sms`.
    #[schema(required = true, value_type = tus_wire::model::Deliver)]
    pub deliver: Option<String>,
    /// An e-mail address, or an E.164 phone number.
    #[schema(required = true, value_type = String, min_length = 1)]
    pub to: Option<String>,
}

#[utoipa::path(post, path = "/v1/Deliveries/test", tag = "Deliveries",
    summary = "Send a test message (admin)",
    request_body = TestMessageRequest, security(("bearer" = [])),
    responses((status = 200, description = "Queued.", body = super::openapi::Envelope<tus_wire::views::DeliveryView>),
        (status = 422, description = "Deliver or To is missing or malformed, or the channel is not configured.", body = super::openapi::ErrorEnvelope)))]
async fn test_message(
    State(core): State<Core>,
    Bearer(principal): Bearer,
    Meta(meta): Meta,
    CiJson(body): CiJson<TestMessageRequest>,
) -> Result<Data<DeliveryView>, ApiError> {
    let mut errors = FieldErrors::default();
    let channel = errors.take("Deliver", Channel::deliver(body.deliver.as_deref()));
    let to = errors.take(
        "To",
        body.to
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| "is required".to_string()),
    );
    let (Some(channel), Some(to)) = (channel, to) else {
        return Err(CoreError::Validation(errors).into());
    };
    Ok(Data(
        core.send_test_message(Core::now(), &principal, channel, &to, &meta)
            .await?,
    ))
}

/// A message id is a UUID; anything else names no message.
fn message_id(id: &str) -> Result<String, CoreError> {
    uuid::Uuid::try_parse(id.trim())
        .map(|u| u.to_string())
        .map_err(|_| CoreError::NotFound("no message has this id".into()))
}
