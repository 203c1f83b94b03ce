//! `/.well-known/jwks.json` and `/.well-known/openid-configuration`: what a back end needs to
//! verify our tokens without our secret. Public, outside the envelope (standard formats).

use app::ssr::session::{own_origin, PublicOrigin};
use app::ssr::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Extension;
use axum::{Json, Router};
use serde_json::json;
use tus_core::Core;

/// Verifiers may cache the documents this long (seconds); a token naming a key they do not
/// have tells them to fetch again. A next key is published longer than this before it signs.
pub const CACHE_SECONDS: u32 = 300;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
}

fn cached(body: serde_json::Value) -> impl IntoResponse {
    (
        [(
            header::CACHE_CONTROL,
            format!("public, max-age={CACHE_SECONDS}"),
        )],
        Json(body),
    )
}

/// The public keys of the next, current and still-accepted retired keys (RFC 7517). Empty
/// while tokens are HS256: their key is the secret and is never published.
async fn jwks(State(core): State<Core>) -> impl IntoResponse {
    cached(core.tokens().keyring().jwks(Core::now()))
}

/// What this service supports, truly: the issuer, where the keys are, the token endpoint
/// and the algorithms tokens are signed with.
/// Addresses are absolute: under `TUS_PUBLIC_URL`, else the origin the request came to.
async fn openid_configuration(
    State(core): State<Core>,
    headers: HeaderMap,
    uri: Uri,
    public: Option<Extension<PublicOrigin>>,
) -> impl IntoResponse {
    let settings = core.tokens().settings();
    let public = public.and_then(|Extension(p)| p.0);
    let base = own_origin(&headers, &uri, public.as_ref())
        .map(|o| o.ascii_serialization())
        .unwrap_or_default();
    cached(json!({
        "issuer": settings.issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "token_endpoint": format!("{base}/v1/Auth/Login"),
        "id_token_signing_alg_values_supported": core.tokens().keyring().algorithms(),
        "token_endpoint_auth_methods_supported": ["none"],
        "grant_types_supported": ["password", "refresh_token"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "jti", "role",
            "DeviceToken", "InstanceId", "ApplicationId", "CompanyId"],
    }))
}
