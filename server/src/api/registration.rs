//! `/v1/Registration/*`: anonymous, with instance credentials.

use app::core::Core;
use app::model::{CreateManyRequest, RegisterRequest};
use app::ssr::AppState;
use axum::extract::State;
use axum::routing::post;
use axum::Router;

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

async fn create(
    State(core): State<Core>,
    InstanceHeaders(creds): InstanceHeaders,
    CiJson(body): CiJson<RegisterRequest>,
) -> Result<Data<CredentialsDto>, ApiError> {
    let credentials = core.register(Core::now(), &creds, body).await?;
    Ok(Data(credentials.into()))
}

async fn create_many(
    State(core): State<Core>,
    InstanceHeaders(creds): InstanceHeaders,
    Meta(meta): Meta,
    CiJson(body): CiJson<CreateManyRequest>,
) -> Result<Data<BatchDto>, ApiError> {
    let batch = core.register_many(Core::now(), &creds, body, &meta).await?;
    Ok(Data(batch.into()))
}
