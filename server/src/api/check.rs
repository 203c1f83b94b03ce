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

#[utoipa::path(get, path = "/v1/Check/UserExists", tag = "Check",
    summary = "Is a login name taken in this instance?",
    params(("InstanceId" = String, Header, description = "The instance's id (UUID)."), ("InstanceKey" = String, Header, description = "The instance's key."),
        ("Email" = Option<String>, Query, description = "An e-mail to look up."),
        ("Phone" = Option<String>, Query, description = "A phone number to look up."),
        ("ClientId" = Option<String>, Query, description = "A ClientId to look up.")),
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
