//! The OpenAPI 3.1 document of every `/v1` route, generated from the handlers'
//! `#[utoipa::path]` attributes and the wire types' `ToSchema` derives, served at
//! `GET /openapi.json`; and `/docs`, the API reference rendered from it on the server (one
//! HTML page, its styles inline: it works offline and without JavaScript).
//!
//! The conventions every route shares are added here once rather than on each handler: the
//! envelope of error answers (`4XX`, `500`) and the security schemes. So are the enumerations
//! the core parses (each from the core's own list, so the document cannot drift from it) and
//! the limits this server was started with.

use std::sync::LazyLock;

use app::ssr::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use serde_json::{json, Value};
use tus_core::events::{data_fields, EventType};
use tus_core::instance_settings::InactivityAction;
use tus_core::outbox::{Channel, MessageState};
use tus_core::types::{ActivityStatus, Flag, Gender, InstanceStatus, UserSort, UserStatus};
use tus_core::users::search::MAX_PAGE_NUMBER;
use tus_core::Core;
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
    components(schemas(ErrorEnvelope, FieldErrorDoc, DoneEnvelope, tus_wire::formats::FullName, tus_wire::formats::SmsNumber)),
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

/// The document (with its `webhooks` and the core's rules), made once, and its
/// rendering.
static SPEC: LazyLock<Value> = LazyLock::new(|| {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    doc["webhooks"] = webhooks_section();
    core_rules(&mut doc);
    doc
});

/// What the wire types cannot say: the strings the core takes from a closed list (in its
/// own words), where "" means "not given", and bodies whose shape depends on a field.
fn core_rules(doc: &mut Value) {
    enumerations(doc);
    empty_means_not_given(doc);
    shapes(doc);
}

fn words(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// The strings the core takes from a closed list, each from the core's own list.
fn enumerations(doc: &mut Value) {
    let gender: Vec<String> = Gender::ALL.iter().map(|g| g.to_string()).collect();
    let status: Vec<String> = UserStatus::ALL.iter().map(|s| s.to_string()).collect();
    let mut status_or_deleted = status.clone();
    status_or_deleted.push("Deleted".into());
    let sort: Vec<String> = UserSort::ALL.iter().map(|s| s.to_string()).collect();
    // The filter also takes `Inactive` for Deactivated, and `Error`, which matches no one.
    let mut activity: Vec<String> = ActivityStatus::ALL.iter().map(|s| s.to_string()).collect();
    activity.extend(words(&["Inactive", "Error"]));
    for (schema, property, values) in [
        ("RegisterRequest", "Gender", &gender),
        ("UpdateUserRequest", "Gender", &gender),
        ("RegisterRequest", "Status", &status),
        ("UpdateUserRequest", "Status", &status_or_deleted),
        ("UserPageRequest", "Sort", &sort),
    ] {
        set_enum(
            &mut doc["components"]["schemas"][schema]["properties"][property],
            values,
        );
    }
    set_enum(
        &mut doc["components"]["schemas"]["UserPageRequest"]["properties"]["ActivityStatuses"]
            ["items"],
        &activity,
    );
    let channels: Vec<String> = Channel::ALL.iter().map(|c| c.wire().to_string()).collect();
    let states: Vec<String> = MessageState::ALL
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    // Query filters: empty means not given.
    for (name, mut values) in [("Kind", channels), ("State", states)] {
        values.push(String::new());
        set_enum(parameter(doc, "get", "/v1/Deliveries", name), &values);
    }
    // The users filter of invites, as `parse_list_query` reads it (any case).
    let filter = &mut doc["components"]["schemas"]["UserFilter"]["properties"];
    set_enum(
        &mut filter["Status"],
        &words(&["", "active", "deactivated", "all", "any"]),
    );
    for flag in ["Tracking", "Logging", "Sdk", "Realtime"] {
        set_enum(
            &mut filter[flag],
            &words(&[
                "", "any", "on", "off", "true", "false", "yes", "no", "1", "0",
            ]),
        );
    }
    let kinds: Vec<String> = EventType::ALL
        .iter()
        .filter(|k| **k != EventType::WebhookTest)
        .map(|k| k.as_str().to_string())
        .collect();
    set_enum(
        &mut doc["components"]["schemas"]["WebhookInput"]["properties"]["EventTypes"]["items"],
        &kinds,
    );
}

/// Bodies and query parameters the core reads with "empty means not given" also take "".
fn empty_means_not_given(doc: &mut Value) {
    let strings: Vec<String> = doc["components"]["schemas"]
        .as_object()
        .map(|schemas| {
            schemas
                .iter()
                .filter(|(name, s)| s["type"] == "string" && !name.ends_with("Text"))
                .map(|(name, _)| format!("#/components/schemas/{name}"))
                .collect()
        })
        .unwrap_or_default();
    for schema in [
        "RegisterRequest",
        "UpdateUserRequest",
        "UserPageRequest",
        "UserFilter",
        "InstanceInput",
        "ApplicationInput",
    ] {
        if let Some(properties) = doc["components"]["schemas"][schema]["properties"].as_object_mut()
        {
            properties
                .values_mut()
                .for_each(|p| take_empty(p, &strings));
        }
    }
    for (path, name) in [
        ("/v1/Deliveries", "DeviceToken"),
        ("/v1/Deliveries", "Before"),
        ("/v1/Applications/{appId}", "includeInstances"),
        ("/v1/applications/{appId}/instances", "includeDeactivated"),
        ("/v1/Management/users/find", "ShowInactiveUsers"),
    ] {
        let schema = parameter(doc, "get", path, name);
        *schema = json!({"anyOf": [schema.take(), EMPTY.clone()]});
    }
}

/// Values of more than one form, and bodies whose shape depends on a field: one alternative
/// per shape.
fn shapes(doc: &mut Value) {
    // `MobileDevice.OsType`: a name, or the original's numbers (0 Android, 1 iOS).
    let os_type = &mut doc["components"]["schemas"]["MobileDeviceInput"]["properties"]["OsType"];
    *os_type = json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Text"}, {"enum": [0, 1]}]});
    let not_null = json!({"not": {"type": "null"}});
    let absent = json!({"type": "null"});
    let unset = json!({"enum": [null, ""]});
    let target = |key: &str, confirm: bool| {
        let mut properties = serde_json::Map::new();
        for other in ["UserDeviceToken", "BatchId", "Filter"] {
            properties.insert(
                other.into(),
                if other == key {
                    not_null.clone()
                } else {
                    absent.clone()
                },
            );
        }
        let mut required = vec![key];
        if confirm && key != "UserDeviceToken" {
            properties.insert("Count".into(), json!({"type": "integer", "minimum": 0}));
            required.push("Count");
        }
        json!({"required": required, "properties": properties})
    };
    for (path, confirm) in [
        ("/v1/Management/users/invite", true),
        ("/v1/Management/users/invite/count", false),
    ] {
        let shapes = ["UserDeviceToken", "BatchId", "Filter"].map(|key| target(key, confirm));
        one_of(doc, "post", path, &shapes);
    }
    one_of(
        doc,
        "post",
        "/v1/Deliveries/test",
        &[
            json!({"properties": {"Deliver": {"enum": ["Email"]}, "To": {"$ref": "#/components/schemas/EmailAddress"}}}),
            json!({"properties": {"Deliver": {"enum": ["Sms"]}, "To": {"$ref": "#/components/schemas/SmsNumber"}}}),
        ],
    );
    one_of(
        doc,
        "post",
        "/v1/Webhooks",
        &[json!({"required": ["Url"], "properties": {"Url": not_null}})],
    );
    // A login name: exactly one of its keys (others, which the server ignores, may be there).
    for (schema, keys) in [
        ("LoginFields", &["DeviceToken", "Email", "Phone"][..]),
        ("ContactLoginFields", &["Email", "Phone"][..]),
    ] {
        let fields = &mut doc["components"]["schemas"][schema];
        fields["oneOf"] = keys.iter().map(|k| json!({"required": [k]})).collect();
    }
    // A login proves itself with a Password, or (an Email or Phone) a Code.
    one_of(
        doc,
        "post",
        "/v1/Auth/Login",
        &[
            json!({"required": ["Password"], "properties": {"Password": not_null, "Code": absent}}),
            json!({"required": ["Code"], "properties": {
            "Code": not_null, "Password": absent,
            "LoginFields": {"$ref": "#/components/schemas/ContactLoginFields"}}}),
        ],
    );
    // An inactivity rule is both its days and its action, or neither.
    one_of(
        doc,
        "put",
        "/v1/Instances/{instanceId}/Settings",
        &[
            json!({"properties": {"InactivityDays": absent, "InactivityAction": {"enum": [null, ""]}}}),
            json!({"required": ["InactivityDays", "InactivityAction"], "properties": {
            "InactivityDays": not_null,
            "InactivityAction": {"enum": InactivityAction::ALL.map(|a| a.as_str())}}}),
        ],
    );
    // A new application or instance has a name.
    one_of(
        doc,
        "post",
        "/v1/companies/{companyId}/applications",
        &[json!({"required": ["Name"], "properties": {"Name": not_null}})],
    );
    one_of(
        doc,
        "post",
        "/v1/applications/{appId}/instances",
        &[json!({"required": ["Name"], "properties": {"Name": not_null}})],
    );
    // A new user's password needs a login name; a delivered one, its address.
    let email = json!({"$ref": "#/components/schemas/EmailAddress"});
    let phone = json!({"$ref": "#/components/schemas/PhoneNumber"});
    any_of(
        doc,
        "post",
        "/v1/Registration/Create",
        &[
            json!({"properties": {"Password": unset, "Deliver": unset}}),
            json!({"required": ["Password", "Email"], "properties": {"Password": not_null, "Email": email, "Deliver": unset}}),
            json!({"required": ["Password", "Phone"], "properties": {"Password": not_null, "Phone": phone, "Deliver": unset}}),
            json!({"required": ["Deliver", "Email"], "properties": {"Deliver": {"enum": ["Email"]}, "Email": email, "Password": unset}}),
            json!({"required": ["Deliver", "Phone"], "properties": {"Deliver": {"enum": ["Sms"]},
            "Phone": {"$ref": "#/components/schemas/SmsNumber"}, "Password": unset}}),
        ],
    );
    // A flag set for a while: each key a flag whose value UserFields gives too.
    let flag_names: Vec<&str> = Flag::ALL.iter().map(|f| f.api_name()).collect();
    doc["components"]["schemas"]["UpdateUserRequest"]["properties"]["FlagsUntil"] = json!({
        "type": ["object", "null"],
        "propertyNames": {"enum": flag_names},
        "additionalProperties": {"$ref": "#/components/schemas/Moment"},
        "description": "Flags set for a while: `{\"EnableLogging\": \"2026-12-02T18:00:00Z\"}` switches the flag given in `UserFields` back to the opposite value at that time. A flag set without an end loses any end it had. Debug logging is capped by the instance's maximum."
    });
    let each_flag: Vec<Value> = flag_names
        .iter()
        .map(|f| {
            json!({"anyOf": [
                {"properties": {"FlagsUntil": {"properties": {*f: false}}}},
                {"required": ["UserFields"], "properties": {"UserFields": {
                    "type": "object", "required": [f], "properties": {*f: {"type": "boolean"}}}}}
            ]})
        })
        .collect();
    one_of(
        doc,
        "put",
        "/v1/Management/users",
        &[json!({"allOf": each_flag})],
    );
    // An instance's status: a name, or the Accounts API's numbers (1 Active, 2 Deactivated).
    let mut statuses: Vec<Value> = InstanceStatus::ALL
        .iter()
        .map(|s| Value::from(s.as_str()))
        .collect();
    statuses.extend([json!("1"), json!("2")]);
    *parameter(doc, "patch", "/v1/Instances/{instanceId}", "Status") =
        json!({"enum": statuses.clone()});
    statuses.extend([json!(1), json!(2), Value::Null]);
    doc["components"]["schemas"]["InstanceInput"]["properties"]["Status"] =
        json!({"enum": statuses});
    // An instance's id and key never change.
    one_of(
        doc,
        "patch",
        "/v1/Instances/{instanceId}",
        &[json!({"properties": {"Id": unset, "Key": unset}})],
    );
    // An upload is CSV whose first line names columns, or NDJSON (a line starting with `{`);
    // each row is checked and reported on its own. The CSV the document shows: rows of a
    // DeviceToken and a first name.
    doc["paths"]["/v1/Management/imports"]["post"]["requestBody"]["content"]["text/csv"]
        ["schema"]["pattern"] = concat!(
        r"^(?:DeviceToken,FirstName(?:\r?\n[0-9a-f-]{1,36},[A-Za-z ]{0,20}){1,5}",
        r"|\{[\x20-\x7E]{0,60}(?:\n\{[\x20-\x7E]{0,60}){0,5})$"
    )
    .into();
    doc["components"]["schemas"]["UserPageRequest"]["properties"]["PageNumber"]["maximum"] =
        MAX_PAGE_NUMBER.into();
    parameter(doc, "get", "/v1/Check/UserExists", "lookup")["minProperties"] = 1.into();
    // `users/find`: every filter may be empty (not given), and at least one is not.
    let filters = parameter(doc, "get", "/v1/Management/users/find", "filters");
    let given: Vec<Value> = filters["properties"]
        .as_object()
        .map(|properties| {
            properties
                .iter()
                .map(|(name, schema)| json!({"required": [name], "properties": {name: schema}}))
                .collect()
        })
        .unwrap_or_default();
    if let Some(properties) = filters["properties"].as_object_mut() {
        for schema in properties.values_mut() {
            *schema = json!({"anyOf": [schema.take(), EMPTY.clone()]});
        }
    }
    filters["anyOf"] = Value::Array(given);
    // Taken for compatibility and ignored, whatever it says.
    *parameter(
        doc,
        "get",
        "/v1/Management/users/find",
        "IncludeAccountInfo",
    ) = json!({});
}

/// A query parameter's schema.
fn parameter<'a>(doc: &'a mut Value, method: &str, path: &str, name: &str) -> &'a mut Value {
    let parameters = doc["paths"][path][method]["parameters"]
        .as_array_mut()
        .unwrap_or_else(|| panic!("{method} {path} has parameters"));
    let parameter = parameters
        .iter_mut()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{method} {path} has the parameter {name}"));
    &mut parameter["schema"]
}

/// The empty string.
static EMPTY: LazyLock<Value> = LazyLock::new(|| json!({"type": "string", "maxLength": 0}));

/// A property that is an optional reference to one of the `string_formats` (which "" does not
/// meet), or an enumeration, also takes "".
fn take_empty(property: &mut Value, string_formats: &[String]) {
    if let Some(one_of) = property.get_mut("oneOf").and_then(Value::as_array_mut) {
        let to_a_format = one_of.iter().any(|s| {
            s["$ref"]
                .as_str()
                .is_some_and(|r| string_formats.iter().any(|f| f == r))
        });
        if to_a_format {
            one_of.push(EMPTY.clone());
        }
    } else if let Some(values) = property.get_mut("enum").and_then(Value::as_array_mut) {
        values.push("".into());
    }
}

/// The JSON body of `method path` is its type and exactly one of `shapes` (each a schema that
/// narrows it: fields required, absent or of one form).
fn one_of(doc: &mut Value, method: &str, path: &str, shapes: &[Value]) {
    narrow(doc, method, path, "oneOf", shapes);
}

/// The JSON body of `method path` is its type and at least one of `shapes`.
fn any_of(doc: &mut Value, method: &str, path: &str, shapes: &[Value]) {
    narrow(doc, method, path, "anyOf", shapes);
}

fn narrow(doc: &mut Value, method: &str, path: &str, how: &str, shapes: &[Value]) {
    let schema =
        &mut doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {path} has a JSON body");
    let base = schema.take();
    *schema = if let [shape] = shapes {
        json!({"allOf": [base, shape]})
    } else {
        // The shapes narrow objects; a body the server takes as `{}` (none, or null) is
        // one alternative of its own, or it would meet every shape at once.
        let objects: Vec<Value> = shapes
            .iter()
            .map(|shape| {
                let mut shape = shape.clone();
                shape["type"] = "object".into();
                shape
            })
            .collect();
        let mut alternatives = vec![json!({"type": "null"})];
        alternatives.push(json!({how: objects}));
        json!({"allOf": [base, {"anyOf": alternatives}]})
    };
}

/// Closes a string schema to `values` (and null, where it is nullable).
fn set_enum(schema: &mut Value, values: &[String]) {
    assert!(
        schema.is_object(),
        "an enumerated property is missing from the document"
    );
    let nullable = schema["type"]
        .as_array()
        .is_some_and(|types| types.iter().any(|t| t == "null"));
    let mut values: Vec<Value> = values.iter().map(|v| Value::from(v.as_str())).collect();
    if nullable {
        values.push(Value::Null);
    }
    schema["enum"] = Value::Array(values);
}

/// The document as this server enforces it: with the limits it was started with.
pub fn document(core: &Core) -> String {
    let mut doc = SPEC.clone();
    let schemas = &mut doc["components"]["schemas"];
    schemas["CreateManyRequest"]["properties"]["Quantity"]["maximum"] = core.max_batch().into();
    let (access_minutes, refresh_hours) =
        tus_core::instance_settings::service_lifetimes(core.tokens());
    let lifetimes = &mut schemas["InstanceSettingsView"]["properties"];
    lifetimes["AccessTokenMinutes"]["maximum"] = access_minutes.into();
    lifetimes["RefreshTokenHours"]["maximum"] = refresh_hours.into();
    // A flag's end is in the future and at most a year ahead, which a fixed schema cannot
    // say: the document shows times of the month after next (always within the window).
    let month = (Core::now() + chrono::Months::new(2))
        .format("%Y-%m")
        .to_string();
    schemas["UpdateUserRequest"]["properties"]["FlagsUntil"]["additionalProperties"] = json!({
        "type": "string",
        "format": "date-time",
        "pattern": format!(r"^{month}-(?:0[1-9]|1[0-9]|2[0-8])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$"),
        "description": "A time in the future, at most a year ahead (any ISO-8601 datetime is taken; the pattern shows a safe month)."
    });
    serde_json::to_string_pretty(&doc).expect("the OpenAPI document serialises")
}

static DOCS_PAGE: LazyLock<String> = LazyLock::new(|| super::docs_page::render(&SPEC));

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
}

async fn openapi_json(State(core): State<Core>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document(&core),
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

#[cfg(test)]
mod tests {
    use super::SPEC;

    fn pattern(name: &str) -> regex::Regex {
        let pattern = SPEC["components"]["schemas"][name]["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has a pattern"));
        regex::Regex::new(pattern).expect("the pattern compiles")
    }

    #[test]
    fn the_text_patterns_say_exactly_what_parse_text_takes() {
        let text = pattern("Text");
        let non_blank = pattern("NonBlankText");
        let long = "a".repeat(256);
        let cases = [
            String::new(),
            "  ".into(),
            "Ann".into(),
            " Ann Lee ".into(),
            "a\nb".into(),
            "\nAnn\t".into(),
            "a\u{85}b".into(),
            "\u{85}a\u{3000}".into(),
            "a\u{2028}b".into(),
            "\u{1c}a".into(),
            "a\u{7f}".into(),
            "a\u{9f}b".into(),
            "é 東京".into(),
            long.clone(),
            format!("{long}a"),
            format!("  {long}\n"),
            format!("b{long}"),
        ];
        for case in cases {
            let parsed = tus_core::types::parse_text(&case);
            assert_eq!(text.is_match(&case), parsed.is_ok(), "Text: {case:?}");
            let said = matches!(parsed, Ok(Some(_)));
            assert_eq!(non_blank.is_match(&case), said, "NonBlankText: {case:?}");
        }
    }
}
