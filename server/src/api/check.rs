//! `/v1/Check/UserExists`: instance credentials; query keys in any case.

use std::collections::HashMap;

use app::ssr::AppState;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::Router;
use tus_core::Core;
use tus_wire::model::UserExistsView;

use super::envelope::Data;
use super::error::ApiError;
use super::extract::InstanceHeaders;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/check/userexists", get(user_exists))
}

/// The query of `UserExists`, for the API document: at least one key.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct LookUp {
    #[schema(value_type = Option<tus_wire::formats::EmailAddress>, nullable = false)]
    email: Option<String>,
    #[schema(value_type = Option<tus_wire::formats::PhoneNumber>, nullable = false)]
    phone: Option<String>,
    #[schema(value_type = Option<tus_wire::formats::NonBlankText>, nullable = false)]
    client_id: Option<String>,
}

#[utoipa::path(get, path = "/v1/Check/UserExists", tag = "Check",
    summary = "Is a login name taken in this instance?",
    params(("InstanceId" = String, Header, description = "The instance's id (UUID)."), ("InstanceKey" = String, Header, description = "The instance's key."),
        ("lookup" = inline(LookUp), Query, style = Form, explode, description = "At least one of Email, Phone and ClientId, as query parameters; every one given must name the same user.")),
    security(("InstanceId" = [], "InstanceKey" = [])),
    responses((status = 200, description = "Whether it exists, with the public part of the profile.", body = super::openapi::Envelope<tus_wire::model::UserExistsView>)))]
async fn user_exists(
    State(core): State<Core>,
    InstanceHeaders(creds): InstanceHeaders,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Data<UserExistsView>, ApiError> {
    let q: HashMap<String, String> = query
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let get = |k: &str| q.get(k).map(String::as_str);
    Ok(Data(
        core.user_exists(&creds, get("email"), get("phone"), get("clientid"))
            .await?,
    ))
}
