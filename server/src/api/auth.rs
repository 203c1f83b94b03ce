//! `/v1/Auth/*` and the old `/v1/RefreshToken` alias: anonymous.

use app::core::Core;
use app::model::{LoginRequest, RefreshRequest};
use app::ssr::AppState;
use axum::extract::State;
use axum::routing::post;
use axum::Router;

use super::dto::CredentialsDto;
use super::envelope::Data;
use super::error::ApiError;
use super::extract::{InstanceIdHeader, Meta};
use super::json::CiJson;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/refreshtoken", post(refresh))
        .route("/v1/refreshtoken", post(refresh))
}

async fn login(
    State(core): State<Core>,
    InstanceIdHeader(instance): InstanceIdHeader,
    Meta(meta): Meta,
    CiJson(body): CiJson<LoginRequest>,
) -> Result<Data<CredentialsDto>, ApiError> {
    let credentials = core
        .login(Core::now(), instance.as_deref(), body, &meta)
        .await?;
    Ok(Data(credentials.into()))
}

async fn refresh(
    State(core): State<Core>,
    Meta(meta): Meta,
    CiJson(body): CiJson<RefreshRequest>,
) -> Result<Data<CredentialsDto>, ApiError> {
    let credentials = core.refresh(Core::now(), body, &meta).await?;
    Ok(Data(credentials.into()))
}
