//! `/v1/Check/UserExists`: instance credentials; query keys in any case.

use std::collections::HashMap;

use app::core::Core;
use app::model::UserExistsView;
use app::ssr::AppState;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::Router;

use super::envelope::Data;
use super::error::ApiError;
use super::extract::InstanceHeaders;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/check/userexists", get(user_exists))
}

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
