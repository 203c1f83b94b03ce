//! `/v1/Auth/*` and the old `/v1/RefreshToken` alias: anonymous.

use app::ssr::AppState;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use tus_core::auth::parse_login_fields;
use tus_core::secret::Password;
use tus_core::Core;
use tus_core::CoreError;
use tus_wire::model::{CodeRequest, LoginRequest, RefreshRequest, ResetRequest};

use super::dto::CredentialsDto;
use super::envelope::{Data, Done};
use super::error::ApiError;
use super::extract::{InstanceIdHeader, Meta};
use super::json::CiJson;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/code", post(request_code))
        .route("/v1/auth/reset", post(reset))
        .route("/v1/auth/introspect", post(introspect))
        .route("/v1/auth/refreshtoken", post(refresh))
        .route("/v1/refreshtoken", post(refresh_alias))
}

#[utoipa::path(post, path = "/v1/Auth/Login", tag = "Auth",
    summary = "Log in",
    description = "LoginFields (an object, or the same as a JSON string) holds DeviceToken (with the InstanceKey as Password), or Email or Phone with the user's password, or with `Code` (a one-time code from /v1/Auth/Code) instead: these need the InstanceId header. Without the header, Email and Password log an admin in and answer an admin token; an admin with TOTP on also sends `TotpCode` (the six digits of their authenticator app, or one of their recovery codes), without which a right password answers 401 with the error key `TotpCode`. A disabled admin's right password answers 403. Failed attempts (wrong codes included) are limited per login name and per client address (429 with Retry-After).",
    params(("InstanceId" = Option<String>, Header, description = "The user's instance; absent for an admin login.")),
    security(()),
    request_body = tus_wire::model::LoginRequest,
    responses((status = 200, description = "A new token pair.", body = super::openapi::Envelope<super::dto::CredentialsDto>),
        (status = 401, description = "Invalid credentials; or, for an admin with TOTP on, `TotpCode` missing or wrong (error key `TotpCode`).", body = super::openapi::ErrorEnvelope),
        (status = 403, description = "The user or the admin is deactivated or disabled.", body = super::openapi::ErrorEnvelope),
        (status = 429, description = "Too many failed attempts.", body = super::openapi::ErrorEnvelope, headers(("Retry-After" = u32, description = "Seconds until a new attempt is counted."))),
        (status = 503, description = "Password checks are at capacity; nothing changed.", body = super::openapi::ErrorEnvelope, headers(("Retry-After" = u32, description = "Seconds to wait before trying again.")))))]
async fn login(
    State(core): State<Core>,
    InstanceIdHeader(instance): InstanceIdHeader,
    Meta(meta): Meta,
    CiJson(body): CiJson<LoginRequest>,
) -> Result<Data<CredentialsDto>, ApiError> {
    let credentials = core
        .login(Core::now(), instance.as_deref(), body.try_into()?, &meta)
        .await?;
    Ok(Data(credentials.into()))
}

#[utoipa::path(post, path = "/v1/Auth/Code", tag = "Auth",
    summary = "Send a one-time login code",
    description = "LoginFields holds the Email (the code goes by e-mail) or the Phone (by SMS, to an E.164 number) of a user of the instance. The answer is the same whether such a user exists or not. The six-digit code works once, for TUS_LOGIN_CODE_TTL (10 minutes by default) and five tries; log in with it as `Code` instead of `Password` on /v1/Auth/Login. Requests are limited per login name and per client address (429). A channel this server has not configured answers 422 naming it.",
    params(("InstanceId" = String, Header, description = "The user's instance.")),
    security(()),
    request_body = tus_wire::model::CodeRequest,
    responses((status = 200, description = "Accepted (sent when such a user exists).", body = super::openapi::DoneEnvelope),
        (status = 422, description = "LoginFields or InstanceId is missing or malformed, or the channel is not configured.", body = super::openapi::ErrorEnvelope),
        (status = 429, description = "Too many codes asked for.", body = super::openapi::ErrorEnvelope, headers(("Retry-After" = u32, description = "Seconds until a new request is counted.")))))]
async fn request_code(
    State(core): State<Core>,
    InstanceIdHeader(instance): InstanceIdHeader,
    Meta(meta): Meta,
    CiJson(body): CiJson<CodeRequest>,
) -> Result<Done, ApiError> {
    let name = match &body.login_fields {
        Some(v) => parse_login_fields(v).map_err(|m| CoreError::validation("LoginFields", m))?,
        None => return Err(CoreError::validation("LoginFields", "is required").into()),
    };
    let instance =
        instance.ok_or_else(|| CoreError::validation("InstanceId", "the header is required"))?;
    // Answered before the code is written: the same answer, in about the same time,
    // whether such a user exists or not.
    if let Some(pending) = core
        .request_login_code(Core::now(), &instance, &name, &meta)
        .await?
    {
        tokio::spawn(async move {
            if let Err(e) = core.send_login_code(Core::now(), pending, &meta).await {
                tracing::error!(error = %e, "a login code could not be queued");
            }
        });
    }
    Ok(Done)
}

#[utoipa::path(post, path = "/v1/Auth/Reset", tag = "Auth",
    summary = "Set a new password with a one-time code",
    description = "LoginFields holds the Email or Phone of a user of the instance, Code the six digits /v1/Auth/Code (or an SMS invite) sent, NewPassword the new password (at least 10 characters). The user's sessions, codes and invite links end; log in again with the new password. A wrong code, a used one and an unknown user answer the same 401; attempts are limited like logins (429).",
    params(("InstanceId" = String, Header, description = "The user's instance.")),
    security(()),
    request_body = tus_wire::model::ResetRequest,
    responses((status = 200, description = "The password is set.", body = super::openapi::DoneEnvelope),
        (status = 401, description = "The code is wrong, used or expired, or no such user.", body = super::openapi::ErrorEnvelope),
        (status = 422, description = "A field is missing or malformed, or the new password is too short.", body = super::openapi::ErrorEnvelope),
        (status = 429, description = "Too many attempts.", body = super::openapi::ErrorEnvelope, headers(("Retry-After" = u32, description = "Seconds until a new attempt is counted.")))))]
async fn reset(
    State(core): State<Core>,
    InstanceIdHeader(instance): InstanceIdHeader,
    Meta(meta): Meta,
    CiJson(body): CiJson<ResetRequest>,
) -> Result<Done, ApiError> {
    let mut errors = tus_core::error::FieldErrors::default();
    let name = match &body.login_fields {
        Some(v) => errors.take("LoginFields", parse_login_fields(v)),
        None => {
            errors.push("LoginFields", "is required");
            None
        }
    };
    let code = errors.take(
        "Code",
        tus_core::auth::parse_code(body.code.as_deref().unwrap_or_default()),
    );
    let new_password = match body.new_password.as_deref() {
        Some(p) if !p.is_empty() => Some(Password::new(p)),
        _ => {
            errors.push("NewPassword", "is required");
            None
        }
    };
    if instance.is_none() {
        errors.push("InstanceId", "the header is required");
    }
    let (Some(name), Some(code), Some(new_password), Some(instance), true) =
        (name, code, new_password, instance, errors.is_empty())
    else {
        return Err(CoreError::Validation(errors).into());
    };
    core.reset_password(Core::now(), &instance, &name, &code, &new_password, &meta)
        .await?;
    Ok(Done)
}

/// RFC 7662's request: the token to look at, as a form (`token=…`, the standard) or JSON
/// (`{"token": "…"}`, any case).
fn introspected_token(headers: &axum::http::HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let token = if form {
        url::form_urlencoded::parse(body)
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    } else {
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body)
            .ok()
            .and_then(|m| {
                m.into_iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("token"))
                    .and_then(|(_, v)| v.as_str().map(str::to_string))
            })
    };
    token
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| CoreError::validation("token", "is required (a form or JSON field)").into())
}

/// The body of `/v1/Auth/Introspect`, for the API document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct IntrospectRequest {
    /// The access token in question (something other than white space).
    #[schema(
        pattern = r"[^\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    token: String,
}

#[utoipa::path(post, path = "/v1/Auth/Introspect", tag = "Auth",
    summary = "Is this access token live? (RFC 7662)",
    description = "For services that verify tokens themselves but must also learn of revocations. Authenticated with an API key that has the `tokens:introspect` scope (or an admin token). The body is a form (`token=…`, as RFC 7662) or JSON (`{\"token\": \"…\"}`). The answer is RFC 7662's JSON, not the envelope: `{\"active\": true, \"sub\", \"exp\", \"iat\", \"nbf\", \"jti\", \"iss\", \"aud\", \"scope\" (the role), \"token_type\": \"Bearer\", \"DeviceToken\", \"InstanceId\"}` for a live access token, `{\"active\": false}` for anything else: expired, forged, of a revoked session, of a deleted or deactivated user.",
    security(("bearer" = [])),
    request_body(description = "The token, as a form or as JSON.", content(
        (IntrospectRequest = "application/x-www-form-urlencoded"), (IntrospectRequest = "application/json"))),
    responses((status = 200, description = "The token's state (RFC 7662)."),
        (status = 401, description = "No API key, or a revoked or expired one.", body = super::openapi::ErrorEnvelope),
        (status = 403, description = "The API key lacks tokens:introspect.", body = super::openapi::ErrorEnvelope)))]
async fn introspect(
    State(core): State<Core>,
    super::extract::Bearer(principal): super::extract::Bearer,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let token = introspected_token(&headers, &body)?;
    let answer = match core.introspect(Core::now(), &principal, &token).await? {
        Some(c) => serde_json::json!({
            "active": true, "sub": c.sub, "exp": c.exp, "iat": c.iat, "nbf": c.nbf,
            "jti": c.jti, "iss": c.iss, "aud": c.aud, "scope": c.role,
            "token_type": "Bearer", "DeviceToken": c.device_token, "InstanceId": c.instance_id,
        }),
        None => serde_json::json!({ "active": false }),
    };
    Ok(axum::Json(answer))
}

#[utoipa::path(post, path = "/v1/Auth/RefreshToken", tag = "Auth",
    summary = "Swap a refresh token for a new pair",
    description = "The access token may have expired; it must be the one issued with this refresh token. A refresh token works once: reusing it after the grace window revokes every token of that login.",
    security(()),
    request_body = tus_wire::model::RefreshRequest,
    responses((status = 200, description = "The new token pair.", body = super::openapi::Envelope<super::dto::CredentialsDto>)))]
async fn refresh(
    State(core): State<Core>,
    Meta(meta): Meta,
    CiJson(body): CiJson<RefreshRequest>,
) -> Result<Data<CredentialsDto>, ApiError> {
    let credentials = core.refresh(Core::now(), body.try_into()?, &meta).await?;
    Ok(Data(credentials.into()))
}

#[utoipa::path(post, path = "/v1/RefreshToken", tag = "Auth",
    summary = "Swap a refresh token for a new pair (older path)",
    description = "The same as /v1/Auth/RefreshToken, at the path older clients call.",
    security(()),
    request_body = tus_wire::model::RefreshRequest,
    responses((status = 200, description = "The new token pair.", body = super::openapi::Envelope<super::dto::CredentialsDto>)))]
async fn refresh_alias(
    state: State<Core>,
    meta: Meta,
    body: CiJson<RefreshRequest>,
) -> Result<Data<CredentialsDto>, ApiError> {
    refresh(state, meta, body).await
}
