//! The Accounts-service routes (admin token): applications and instances.

use std::collections::HashMap;

use app::core::accounts::instance_view;
use app::core::Core;
use app::model::{ApplicationInput, ApplicationView, InstanceInput, InstanceView};
use app::ssr::AppState;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::Router;

use super::envelope::{Data, Done};
use super::error::ApiError;
use super::extract::{Bearer, Meta};
use super::json::CiJson;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/companies/{company_id}/applications",
            get(list_applications).post(create_application),
        )
        .route("/v1/applications/{app_id}", get(get_application))
        .route(
            "/v1/applications/{app_id}/instances",
            get(list_instances).post(create_instance),
        )
        .route(
            "/v1/applications/{app_id}/instances/{invite_code}",
            get(instance_by_invite),
        )
        .route(
            "/v1/instances/{instance_id}",
            get(get_instance)
                .patch(update_instance)
                .delete(delete_instance),
        )
        .route("/v1/instances/{instance_id}/rotatekey", post(rotate_key))
        .route(
            "/v1/instances/{instance_id}/regenerateinvitecode",
            post(regenerate_invite_code),
        )
}

/// Query parameters with lower-cased keys (clients send `includeInstances`, `Name`...).
struct LowerQuery(HashMap<String, String>);

impl LowerQuery {
    fn from(q: HashMap<String, String>) -> Self {
        LowerQuery(
            q.into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        )
    }
    fn flag(&self, key: &str, default: bool) -> bool {
        self.0
            .get(key)
            .map_or(default, |v| v.eq_ignore_ascii_case("true") || v == "1")
    }
    fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
}

async fn list_applications(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Path(company_id): Path<String>,
) -> Result<Data<Vec<ApplicationView>>, ApiError> {
    Ok(Data(core.applications(&p, &company_id).await?))
}

async fn create_application(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(company_id): Path<String>,
    CiJson(body): CiJson<ApplicationInput>,
) -> Result<Data<ApplicationView>, ApiError> {
    Ok(Data(
        core.create_application_as(Core::now(), &p, &company_id, body, &meta)
            .await?,
    ))
}

async fn get_application(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Path(app_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Data<ApplicationView>, ApiError> {
    let include = LowerQuery::from(q).flag("includeinstances", false);
    Ok(Data(core.application(&p, &app_id, include).await?))
}

async fn list_instances(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Path(app_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Data<Vec<InstanceView>>, ApiError> {
    let include = LowerQuery::from(q).flag("includedeactivated", false);
    Ok(Data(core.instances(&p, &app_id, include).await?))
}

async fn create_instance(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(app_id): Path<String>,
    CiJson(body): CiJson<InstanceInput>,
) -> Result<Data<InstanceView>, ApiError> {
    let instance = core
        .create_instance_as(Core::now(), &p, &app_id, body, &meta)
        .await?;
    Ok(Data(instance_view(&instance)))
}

async fn instance_by_invite(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Path((app_id, code)): Path<(String, String)>,
) -> Result<Data<InstanceView>, ApiError> {
    Ok(Data(instance_view(
        &core.instance_by_invite(&p, &app_id, &code).await?,
    )))
}

async fn get_instance(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Path(id): Path<String>,
) -> Result<Data<InstanceView>, ApiError> {
    Ok(Data(instance_view(&core.instance(&p, &id).await?)))
}

/// The Accounts API takes `Name`, `Description` and `Status` as query parameters; a JSON
/// body works too (the body wins where both are given).
async fn update_instance(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    CiJson(body): CiJson<InstanceInput>,
) -> Result<Data<InstanceView>, ApiError> {
    let q = LowerQuery::from(q);
    let input = InstanceInput {
        name: body.name.or_else(|| q.text("name")),
        description: body.description.or_else(|| q.text("description")),
        status: body
            .status
            .or_else(|| q.text("status").map(serde_json::Value::String)),
    };
    Ok(Data(instance_view(
        &core
            .update_instance_as(Core::now(), &p, &id, input, &meta)
            .await?,
    )))
}

async fn delete_instance(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Done, ApiError> {
    core.delete_instance_as(Core::now(), &p, &id, &meta).await?;
    Ok(Done)
}

async fn rotate_key(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Data<InstanceView>, ApiError> {
    Ok(Data(instance_view(
        &core
            .rotate_instance_key(Core::now(), &p, &id, &meta)
            .await?,
    )))
}

async fn regenerate_invite_code(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Data<InstanceView>, ApiError> {
    Ok(Data(instance_view(
        &core
            .regenerate_invite_code(Core::now(), &p, &id, &meta)
            .await?,
    )))
}
