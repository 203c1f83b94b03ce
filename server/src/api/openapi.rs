//! The OpenAPI 3.1 document of every `/v1` route, generated from the handlers'
//! `#[utoipa::path]` attributes and the wire types' `ToSchema` derives, served at
//! `GET /openapi.json`; and `/docs`, the API reference rendered from it on the server (one
//! HTML page, its styles inline: it works offline and without JavaScript).
//!
//! The conventions every route shares are added here once rather than on each handler: the
//! envelope of error answers (`4XX`, `500`) and the security schemes.

use std::sync::LazyLock;

use app::ssr::AppState;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{accounts, auth, check, deliveries, imports, management, registration, webhooks};

/// One bad field (or, with an empty `Key`, the request as a whole).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct FieldErrorDoc {
    #[schema(example = "Email")]
    pub key: String,
    #[schema(example = "must be an e-mail address")]
    pub message: String,
}

/// Every error answer: `Result` is null, `Status` repeats the HTTP status, `Title` names it,
/// `Errors` lists each problem. Nothing internal is ever in it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorEnvelope {
    pub result: Option<()>,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "Validation failed")]
    pub title: String,
    pub errors: Vec<FieldErrorDoc>,
}

/// A successful answer: `Result` holds the payload, `Status` is 200, `Errors` is empty.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope<T> {
    pub result: T,
    #[schema(example = 200)]
    pub status: u16,
    #[schema(example = "")]
    pub title: String,
    pub errors: Vec<FieldErrorDoc>,
}

/// A successful answer without a payload (updates and deletes): no `Result` key at all.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DoneEnvelope {
    #[schema(example = 200)]
    pub status: u16,
    #[schema(example = "")]
    pub title: String,
    pub errors: Vec<FieldErrorDoc>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Telematics User Service",
        description = "Registration, tokens and user management for telematics apps, compatible \
with the Damoov / Telematics SDK User Service: point a client's base URL here. Paths and JSON keys \
are case-insensitive. Every answer under /v1 is the envelope \
{Result, Status, Title, Errors}. Request bodies are at most 1 MiB; strings at most 256 characters."
    ),
    paths(
        registration::create,
        registration::create_many,
        auth::login,
        auth::request_code,
        auth::reset,
        auth::introspect,
        auth::refresh,
        auth::refresh_alias,
        check::user_exists,
        management::get_user,
        management::update_user,
        management::send_password,
        management::invite_count,
        management::invite,
        deliveries::list,
        deliveries::one,
        deliveries::retry,
        deliveries::cancel,
        deliveries::test_message,
        management::delete_user,
        management::export_user,
        management::erase_user,
        management::find_users,
        management::filtered_page,
        management::change_instance,
        management::join_instance,
        accounts::list_applications,
        accounts::create_application,
        accounts::get_application,
        accounts::list_instances,
        accounts::create_instance,
        accounts::instance_by_invite,
        accounts::get_instance,
        accounts::update_instance,
        accounts::delete_instance,
        accounts::rotate_key,
        accounts::regenerate_invite_code,
        accounts::get_settings,
        accounts::put_settings,
        accounts::inactivity_count,
        webhooks::list,
        webhooks::create,
        webhooks::one,
        webhooks::update,
        webhooks::delete,
        webhooks::rotate_secret,
        webhooks::test,
        webhooks::replay,
        webhooks::deliveries,
        webhooks::resend,
        imports::upload,
        imports::list,
        imports::one,
        imports::report,
        imports::run,
        imports::stop,
        imports::resume,
    ),
    components(schemas(ErrorEnvelope, FieldErrorDoc, DoneEnvelope)),
    modifiers(&Conventions),
    tags(
        (name = "Registration", description = "New users of an instance (instance credentials)."),
        (name = "Auth", description = "Logins and token refresh."),
        (name = "Check", description = "Whether a login name is taken (instance credentials)."),
        (name = "Management", description = "Users: a user token acts on its own user, an admin token on any."),
        (name = "Accounts", description = "Applications and instances (admin token; an API key with instances:read reads them without InstanceKey)."),
        (name = "Deliveries", description = "The outbox of e-mail and SMS messages (admin token)."),
        (name = "Imports", description = "Users moved in from a file with their existing DeviceTokens (admin token, or an API key with users:write)."),
        (name = "Webhooks", description = "Subscriptions of other systems to events, signed the Standard Webhooks way (admin token, or an API key with webhooks:write)."),
    )
)]
pub struct ApiDoc;

struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from registration, login or refresh (a user's, or an admin's), or an API key of a back end (`tus_…`), which acts within its scopes (tokens:introspect, users:read, users:write, instances:read) and its instances.",
                    ))
                    .build(),
            ),
        );
        for (name, what) in [
            ("InstanceId", "The instance's id (a UUID)."),
            ("InstanceKey", "The instance's secret key."),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(name, what))),
            );
        }
        let error = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                        .build(),
                )
                .build()
        };
        for item in doc.paths.paths.values_mut() {
            let operations: [&mut Option<Operation>; 5] = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                let responses = &mut op.responses.responses;
                responses.entry("4XX".into()).or_insert_with(|| {
                    error(
                        "The request was refused; nothing changed. 401: no or a bad credential; \
                         403: not allowed (or the user or instance is deactivated); 404: not found; \
                         413: body over 1 MiB; 415: not JSON; 422: invalid fields, each named in \
                         Errors; 429: too many attempts (see Retry-After).",
                    )
                    .into()
                });
                responses.entry("500".into()).or_insert_with(|| {
                    error("An internal error; details are only in the server log.").into()
                });
            }
        }
    }
}

/// The `webhooks` section (OpenAPI 3.1): one POST per event type, with the Standard
/// Webhooks headers and the event's schema, made from `tus_core::events::data_fields`.
fn webhooks_section() -> serde_json::Value {
    use serde_json::json;
    use tus_core::events::{data_fields, EventType};
    let header = |name: &str, about: &str| {
        json!({ "name": name, "in": "header", "required": true, "description": about,
                "schema": { "type": "string" } })
    };
    let mut section = serde_json::Map::new();
    for kind in EventType::ALL {
        let fields = data_fields(kind);
        let properties: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(name, ty, about)| {
                let schema = if *ty == "object" {
                    json!({ "type": ["object", "null"], "description": about })
                } else {
                    json!({ "type": [ty, "null"], "description": about })
                };
                (name.to_string(), schema)
            })
            .collect();
        let event = json!({
            "type": "object",
            "required": ["id", "type", "timestamp", "data"],
            "properties": {
                "id": { "type": "string", "description": "The event's id, also in webhook-id: the same on every attempt; deduplicate on it." },
                "type": { "type": "string", "const": kind.as_str() },
                "timestamp": { "type": "string", "format": "date-time" },
                "data": { "type": "object", "properties": properties },
            },
        });
        section.insert(
            kind.as_str().to_string(),
            json!({ "post": {
                "tags": ["Webhooks"],
                "summary": format!("{}: {}", kind.as_str(), kind.label()),
                "description": "POSTed to each enabled webhook subscribed to this type, signed the Standard Webhooks way. 2xx acknowledges; 5xx, 408, 429 and timeouts are retried with back-off; other 4xx are final.",
                "parameters": [
                    header("webhook-id", "The event's id."),
                    header("webhook-timestamp", "When this attempt was signed (Unix seconds)."),
                    header("webhook-signature", "`v1,<base64 HMAC-SHA256 of id.timestamp.body>` under the webhook's secret; two, space-separated, during a rotation."),
                ],
                "requestBody": { "required": true, "content": { "application/json": { "schema": event } } },
                "responses": { "2XX": { "description": "Acknowledged." } },
            }}),
        );
    }
    serde_json::Value::Object(section)
}

/// The document (with its `webhooks`) and the two renderings of it, each made once.
static SPEC: LazyLock<serde_json::Value> = LazyLock::new(|| {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    doc["webhooks"] = webhooks_section();
    doc
});
pub static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string_pretty(&*SPEC).expect("the OpenAPI document serialises")
});
static DOCS_PAGE: LazyLock<String> = LazyLock::new(|| super::docs_page::render(&SPEC));

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
}

async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

/// The reference runs no script and loads nothing: its policy allows its one inline
/// stylesheet and nothing else.
const DOCS_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; \
                           form-action 'none'; frame-ancestors 'none'";

async fn docs() -> impl IntoResponse {
    (
        [(header::CONTENT_SECURITY_POLICY, DOCS_POLICY)],
        Html(DOCS_PAGE.as_str()),
    )
}
