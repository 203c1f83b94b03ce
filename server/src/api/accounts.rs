//! The Accounts-service routes (admin token): applications and instances.

use std::collections::HashMap;

use app::ssr::AppState;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::Router;
use tus_core::types::InstanceId;
use tus_core::Core;
use tus_wire::model::{
    ApplicationInput, ApplicationView, InactivityCountView, InstanceInput, InstanceSettingsView,
    InstanceView,
};

use super::envelope::{Data, Done};
use super::error::ApiError;
use super::extract::{Bearer, LowerQuery, Meta};
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
        .route(
            "/v1/instances/{instance_id}/settings",
            get(get_settings).put(put_settings),
        )
        .route(
            "/v1/instances/{instance_id}/settings/inactivitycount",
            get(inactivity_count),
        )
}

#[utoipa::path(get, path = "/v1/Instances/{instanceId}/Settings", tag = "Accounts",
    summary = "Read an instance's settings",
    description = "The active window, the longest debug logging, the flags of new users, the inactivity rule.",
    params(("instanceId" = String, Path, description = "The instance.")), security(("bearer" = [])),
    responses((status = 200, description = "The settings.", body = super::openapi::Envelope<InstanceSettingsView>)))]
async fn get_settings(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Path(id): Path<String>,
) -> Result<Data<InstanceSettingsView>, ApiError> {
    Ok(Data(
        core.instance_settings(&p, InstanceId::named(&id)?).await?,
    ))
}

#[utoipa::path(put, path = "/v1/Instances/{instanceId}/Settings", tag = "Accounts",
    summary = "Replace an instance's settings",
    description = "Every setting at once: an absent or null one goes back to its default (no limit, the API's default flags, no inactivity rule). Audited with what changed. Count an inactivity rule's users first with InactivityCount.",
    params(("instanceId" = String, Path, description = "The instance.")), security(("bearer" = [])),
    request_body = Option<InstanceSettingsView>,
    responses((status = 200, description = "The settings as stored.", body = super::openapi::Envelope<InstanceSettingsView>)))]
async fn put_settings(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
    CiJson(body): CiJson<InstanceSettingsView>,
) -> Result<Data<InstanceSettingsView>, ApiError> {
    Ok(Data(
        core.update_instance_settings(Core::now(), &p, InstanceId::named(&id)?, &body, &meta)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/Instances/{instanceId}/Settings/InactivityCount", tag = "Accounts",
    summary = "Count the users an inactivity rule would act on now",
    description = "Active users of the instance without a login or refresh (or, never active, since registration) for Days days: what a rule of that many days would deactivate or delete at its next run.",
    params(("instanceId" = String, Path, description = "The instance."), ("Days" = i64, Query, minimum = 1, maximum = 3650, description = "1 to 3650.")),
    security(("bearer" = [])),
    responses((status = 200, description = "The count.", body = super::openapi::Envelope<InactivityCountView>)))]
async fn inactivity_count(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Data<InactivityCountView>, ApiError> {
    let q = LowerQuery::from(q);
    let days = match q.text("days") {
        None => None,
        Some(d) => Some(d.trim().parse::<i64>().map_err(|_| {
            tus_core::CoreError::validation("Days", "must be a whole number of days")
        })?),
    };
    Ok(Data(
        core.inactivity_count(Core::now(), &p, InstanceId::named(&id)?, days)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/companies/{companyId}/applications", tag = "Accounts",
    summary = "List a company's applications",
    params(("companyId" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The applications.", body = super::openapi::Envelope<Vec<ApplicationView>>)))]
async fn list_applications(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Path(company_id): Path<String>,
) -> Result<Data<Vec<ApplicationView>>, ApiError> {
    Ok(Data(core.applications(&p, &company_id).await?))
}

#[utoipa::path(post, path = "/v1/companies/{companyId}/applications", tag = "Accounts",
    summary = "Create an application",
    params(("companyId" = String, Path)), security(("bearer" = [])),
    request_body = ApplicationInput,
    responses((status = 200, description = "The new application.", body = super::openapi::Envelope<ApplicationView>)))]
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

#[utoipa::path(get, path = "/v1/Applications/{appId}", tag = "Accounts",
    summary = "Read an application",
    params(("appId" = String, Path, description = "The application."), ("includeInstances" = Option<bool>, Query, description = "Include its instances.")), security(("bearer" = [])),
    responses((status = 200, description = "The application.", body = super::openapi::Envelope<ApplicationView>)))]
async fn get_application(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(app_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Data<ApplicationView>, ApiError> {
    let include = LowerQuery::from(q).flag("includeInstances", false)?;
    let app = core.application(Core::now(), &p, &app_id, include, &meta);
    Ok(Data(app.await?))
}

#[utoipa::path(get, path = "/v1/applications/{appId}/instances", tag = "Accounts",
    summary = "List an application's instances",
    params(("appId" = String, Path, description = "The application."), ("includeDeactivated" = Option<bool>, Query)), security(("bearer" = [])),
    responses((status = 200, description = "The instances, keys included.", body = super::openapi::Envelope<Vec<InstanceView>>)))]
async fn list_instances(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(app_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Data<Vec<InstanceView>>, ApiError> {
    let include = LowerQuery::from(q).flag("includeDeactivated", false)?;
    let list = core.instances(&p, &app_id, include).await?;
    Ok(Data(
        core.disclose_instances(Core::now(), &p, list, &meta)
            .await?,
    ))
}

#[utoipa::path(post, path = "/v1/applications/{appId}/instances", tag = "Accounts",
    summary = "Create an instance",
    params(("appId" = String, Path, description = "The application.")), security(("bearer" = [])),
    request_body = InstanceInput,
    responses((status = 200, description = "The new instance with its key and invite code.", body = super::openapi::Envelope<InstanceView>)))]
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
    Ok(Data(
        core.disclose_instance(Core::now(), &p, instance, &meta)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/applications/{appId}/instances/{inviteCode}", tag = "Accounts",
    summary = "Find an instance by invite code",
    params(("appId" = String, Path, description = "The application."), ("inviteCode" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The instance.", body = super::openapi::Envelope<InstanceView>)))]
async fn instance_by_invite(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path((app_id, code)): Path<(String, String)>,
) -> Result<Data<InstanceView>, ApiError> {
    let instance = core.instance_by_invite(&p, &app_id, &code).await?;
    Ok(Data(
        core.disclose_instance(Core::now(), &p, instance, &meta)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/Instances/{instanceId}", tag = "Accounts",
    summary = "Read an instance",
    params(("instanceId" = String, Path, description = "The instance.")), security(("bearer" = [])),
    responses((status = 200, description = "The instance.", body = super::openapi::Envelope<InstanceView>)))]
async fn get_instance(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Data<InstanceView>, ApiError> {
    let instance = core.instance(&p, InstanceId::named(&id)?).await?;
    Ok(Data(
        core.disclose_instance(Core::now(), &p, instance, &meta)
            .await?,
    ))
}

#[utoipa::path(patch, path = "/v1/Instances/{instanceId}", tag = "Accounts",
    summary = "Change an instance",
    description = "Name, Description and Status as query parameters or in a JSON body (the body wins).",
    params(("instanceId" = String, Path, description = "The instance."), ("Name" = Option<tus_wire::formats::NonBlankText>, Query), ("Description" = Option<tus_wire::formats::Text>, Query), ("Status" = Option<String>, Query, description = "Active or Deactivated (or 1 or 2).")),
    security(("bearer" = [])),
    request_body = Option<InstanceInput>,
    responses((status = 200, description = "The changed instance.", body = super::openapi::Envelope<InstanceView>)))]
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
        id: body.id,
        key: body.key,
    };
    let instance = core
        .update_instance_as(Core::now(), &p, InstanceId::named(&id)?, input, &meta)
        .await?;
    Ok(Data(
        core.disclose_instance(Core::now(), &p, instance, &meta)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/v1/Instances/{instanceId}", tag = "Accounts",
    summary = "Delete an instance without users",
    description = "An instance that still has users is kept: 422 with Key InstanceId.",
    params(("instanceId" = String, Path, description = "The instance.")), security(("bearer" = [])),
    responses((status = 200, description = "Deleted.", body = super::openapi::DoneEnvelope)))]
async fn delete_instance(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Done, ApiError> {
    core.delete_instance_as(Core::now(), &p, InstanceId::named(&id)?, &meta)
        .await?;
    Ok(Done)
}

#[utoipa::path(post, path = "/v1/Instances/{instanceId}/RotateKey", tag = "Accounts",
    summary = "Give an instance a new key",
    description = "The old key stops working at once.",
    params(("instanceId" = String, Path, description = "The instance.")), security(("bearer" = [])),
    responses((status = 200, description = "The instance with its new key.", body = super::openapi::Envelope<InstanceView>)))]
async fn rotate_key(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Data<InstanceView>, ApiError> {
    let instance = core
        .rotate_instance_key(Core::now(), &p, InstanceId::named(&id)?, &meta)
        .await?;
    Ok(Data(
        core.disclose_instance(Core::now(), &p, instance, &meta)
            .await?,
    ))
}

#[utoipa::path(post, path = "/v1/Instances/{instanceId}/RegenerateInviteCode", tag = "Accounts",
    summary = "Give an instance a new invite code",
    params(("instanceId" = String, Path, description = "The instance.")), security(("bearer" = [])),
    responses((status = 200, description = "The instance with its new invite code.", body = super::openapi::Envelope<InstanceView>)))]
async fn regenerate_invite_code(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Data<InstanceView>, ApiError> {
    let instance = core
        .regenerate_invite_code(Core::now(), &p, InstanceId::named(&id)?, &meta)
        .await?;
    Ok(Data(
        core.disclose_instance(Core::now(), &p, instance, &meta)
            .await?,
    ))
}
