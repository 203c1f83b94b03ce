//! Who is calling the dashboard: one middleware for its pages and its server functions.
//!
//! A caller is authenticated by `Authorization: Bearer <access token>` (API clients, the
//! same check as the REST management routes) or by the session cookies the sign-in sets:
//! the admin's access token and refresh token, `HttpOnly`, `SameSite=Strict`, `Secure`
//! over https. An expired access cookie is refreshed here, transparently, with the refresh
//! cookie (one rotation, new cookies on the response); a refused refresh clears both.
//!
//! The middleware also refuses state-changing `/api` and `/export` calls from another
//! origin, and sends
//! a page request without an admin session to the sign-in page.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::AppError;
use tus_core::auth::RefreshPair;
use tus_core::principal::Principal;
use tus_core::secret::RefreshTokenSecret;
use tus_core::{Core, CoreError, Credentials, RequestMeta};

pub const ACCESS_COOKIE: &str = "tus_access";
pub const REFRESH_COOKIE: &str = "tus_refresh";
pub const SIGN_IN_PATH: &str = "/sign-in";

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Bearer,
    Cookie,
}

/// The authenticated caller of a dashboard request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub access_token: String,
    pub via: Via,
}

/// Put into every dashboard request's extensions: the caller, or why there is none.
#[derive(Debug, Clone)]
pub struct Session(pub Result<Caller, AppError>);

impl Session {
    pub fn admin(&self) -> Option<&Caller> {
        self.0.as_ref().ok().filter(|c| c.principal.is_admin())
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The token of an `Authorization: Bearer` header (REST and server functions alike).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = header_str(headers, header::AUTHORIZATION)?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether the last `X-Forwarded-For` entry names the client (`TUS_TRUST_FORWARDED_FOR`);
/// put into every request's extensions by the router.
#[derive(Debug, Clone, Copy)]
pub struct TrustForwardedFor(pub bool);

/// Where a request came from, for the audit trail and the per-address login limit.
pub fn request_meta(headers: &HeaderMap, extensions: &http::Extensions) -> RequestMeta {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    let trusted = extensions.get::<TrustForwardedFor>().is_some_and(|t| t.0);
    let forwarded = trusted
        .then(|| header_str(headers, header::HeaderName::from_static("x-forwarded-for")))
        .flatten()
        .and_then(|v| v.rsplit(',').next().map(|s| s.trim().to_string()))
        .filter(|v| v.parse::<std::net::IpAddr>().is_ok());
    RequestMeta {
        client_addr: forwarded.or(peer),
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Served over https (directly, or behind a proxy that says so).
pub fn is_https(headers: &HeaderMap, uri: &http::Uri) -> bool {
    uri.scheme_str() == Some("https")
        || header_str(
            headers,
            header::HeaderName::from_static("x-forwarded-proto"),
        )
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    // Tokens are base64/JWT text: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The two `Set-Cookie` values of a new session. Both live as long as the refresh token:
/// an expired access token is still needed to refresh.
pub fn session_cookies(core: &Core, credentials: &Credentials, secure: bool) -> Vec<HeaderValue> {
    let max_age = core.tokens().settings().refresh_ttl.num_seconds();
    let mut out = Vec::new();
    if let Some(a) = &credentials.access_token {
        out.push(set_cookie(ACCESS_COOKIE, &a.token, max_age, secure));
    }
    if let Some(r) = &credentials.refresh_token {
        out.push(set_cookie(REFRESH_COOKIE, r.expose(), max_age, secure));
    }
    out
}

pub fn clearing_cookies(secure: bool) -> Vec<HeaderValue> {
    vec![
        set_cookie(ACCESS_COOKIE, "", 0, secure),
        set_cookie(REFRESH_COOKIE, "", 0, secure),
    ]
}

/// The dashboard's public origin (`TUS_PUBLIC_URL`), when it is configured; put into
/// every request's extensions by the router. Behind a proxy this is what browsers see.
#[derive(Debug, Clone)]
pub struct PublicOrigin(pub Option<url::Origin>);

/// Parses `TUS_PUBLIC_URL`: an http(s) URL whose origin (scheme, host, port) is kept.
pub fn parse_public_url(value: &str) -> Result<url::Origin, String> {
    let parsed = url::Url::parse(value.trim())
        .map_err(|e| format!("TUS_PUBLIC_URL `{value}` is not a URL: {e}"))?;
    match parsed.scheme() {
        "http" | "https" if parsed.host().is_some() => Ok(parsed.origin()),
        _ => Err(format!(
            "TUS_PUBLIC_URL `{value}` must be an http:// or https:// URL with a host"
        )),
    }
}

/// The origin this request was addressed to: the configured public origin, else the
/// scheme (https when served over it) and the `Host` header, default ports made explicit.
pub fn own_origin(
    headers: &HeaderMap,
    uri: &http::Uri,
    public: Option<&url::Origin>,
) -> Option<url::Origin> {
    if let Some(origin) = public {
        return Some(origin.clone());
    }
    let host = header_str(headers, header::HOST)?;
    let scheme = if is_https(headers, uri) {
        "https"
    } else {
        "http"
    };
    let own = url::Url::parse(&format!("{scheme}://{host}/")).ok()?;
    // `Host` must be a bare authority: no user, path or query smuggled in.
    (own.username().is_empty() && own.path() == "/" && own.query().is_none()).then(|| own.origin())
}

/// `Origin` (or, without it, `Referer`) names exactly this origin: scheme, host and port.
/// Absent both: true only for a request with a bearer token, which a browser never
/// attaches on its own (and it always sends `Origin` on a cross-site POST).
fn same_origin(headers: &HeaderMap, uri: &http::Uri, public: Option<&url::Origin>) -> bool {
    let claimed = header_str(headers, header::ORIGIN)
        .filter(|o| *o != "null")
        .or_else(|| header_str(headers, header::REFERER));
    let Some(claimed) = claimed else {
        return bearer_token(headers).is_some();
    };
    let Ok(claimed) = url::Url::parse(claimed) else {
        return false;
    };
    let claimed = claimed.origin();
    claimed.is_tuple() && own_origin(headers, uri, public).is_some_and(|own| own == claimed)
}

/// Paths that never use the dashboard session: REST, static files, probes, the reference.
fn is_sessionless(path: &str) -> bool {
    path.starts_with("/v1/")
        || path.starts_with("/pkg/")
        || path.starts_with("/.well-known/")
        || matches!(
            path,
            "/favicon.ico" | "/healthz" | "/readyz" | "/docs" | "/openapi.json"
        )
}

/// Paths a visitor without a session may load.
fn is_public(path: &str) -> bool {
    // `/api` and `/export` answer 401 themselves; sessionless paths never get here.
    path == SIGN_IN_PATH
        || path == crate::pages::invite_page::INVITE_PATH
        || path == crate::pages::join_page::JOIN_PATH
        || path.starts_with("/api/")
        || path.starts_with("/export/")
}

/// A server function's arguments that do not decode are the caller's error: the framework
/// answers them 500 with `AppError::Transport`; this makes that 400 (bodies of 500s only
/// are read, and they are small).
async fn request_errors_are_4xx(response: Response) -> Response {
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Internal("the answer could not be read".into()),
        );
    };
    if let Ok(AppError::Transport(_)) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Authenticates a dashboard request (see the module doc); new cookies go on the response.
async fn authenticate(
    core: &Core,
    headers: &HeaderMap,
    meta: &RequestMeta,
    set_cookies: &mut Vec<HeaderValue>,
    secure: bool,
) -> Result<Caller, CoreError> {
    let now = Core::now();
    if let Some(token) = bearer_token(headers) {
        let principal = core.authenticate_bearer(now, Some(token)).await?;
        return Ok(Caller {
            principal,
            access_token: token.to_string(),
            via: Via::Bearer,
        });
    }
    let access = cookie(headers, ACCESS_COOKIE);
    let first = core.authenticate_bearer(now, access).await;
    let refusal = match first {
        Ok(principal) => {
            return Ok(Caller {
                principal,
                access_token: access.unwrap_or_default().to_string(),
                via: Via::Cookie,
            })
        }
        Err(e) => e,
    };
    let (Some(access), Some(refresh), CoreError::Unauthorized { .. }) =
        (access, cookie(headers, REFRESH_COOKIE), &refusal)
    else {
        if access.is_some() {
            set_cookies.extend(clearing_cookies(secure));
        }
        return Err(refusal);
    };
    let pair = RefreshPair {
        access: access.to_string(),
        refresh: RefreshTokenSecret::new(refresh),
        device: None,
    };
    let renewed = match core.refresh(now, pair, meta).await {
        Ok(c) => c,
        Err(e) => {
            set_cookies.extend(clearing_cookies(secure));
            return Err(e);
        }
    };
    let token = renewed
        .access_token
        .as_ref()
        .map(|a| a.token.clone())
        .unwrap_or_default();
    let principal = core.authenticate_bearer(now, Some(&token)).await?;
    set_cookies.extend(session_cookies(core, &renewed, secure));
    Ok(Caller {
        principal,
        access_token: token,
        via: Via::Cookie,
    })
}

/// An error answer outside a server function: the same JSON body and status.
pub fn refuse(status: StatusCode, error: AppError) -> Response {
    let body = serde_json::to_string(&error).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn redirect(location: &str) -> Response {
    let value = HeaderValue::from_str(location).unwrap_or_else(|_| HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response()
}

/// The `next` of the sign-in page, parsed as browsers parse it (WHATWG: tabs and newlines
/// dropped, `\` read as `/`) relative to our own origin: a path of this site, or `/` for
/// anything that would leave it. The result is percent-encoded, so safe in a `Location`.
pub fn safe_next(next: Option<&str>) -> String {
    const HOME: &str = "http://dashboard.invalid/";
    let (Some(next), Ok(home)) = (next, url::Url::parse(HOME)) else {
        return "/".into();
    };
    match home.join(next) {
        Ok(target) if target.origin() == home.origin() && next.starts_with('/') => {
            target[url::Position::BeforePath..].to_string()
        }
        _ => "/".into(),
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn next_param(uri: &http::Uri) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "next").then(|| percent_decode(v))
    })
}

/// Largest body a server function or an export accepts, as for `/v1`.
pub const MAX_BODY: usize = 1024 * 1024;

/// Reads the body, at most `MAX_BODY` bytes (413 beyond, whatever `Content-Length` says),
/// and puts it back for the handler.
async fn limit_body(req: &mut Request) -> Result<(), Response> {
    use http_body_util::{BodyExt, LengthLimitError, Limited};
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Transport("the request body is larger than 1 MiB".into()),
        )
    };
    let declared = header_str(req.headers(), header::CONTENT_LENGTH)
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let body = std::mem::take(req.body_mut());
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => {
            *req.body_mut() = axum::body::Body::from(collected.to_bytes());
            Ok(())
        }
        Err(e) if e.is::<LengthLimitError>() => Err(too_large()),
        Err(_) => Err(refuse(
            StatusCode::BAD_REQUEST,
            AppError::Transport("the request body could not be read".into()),
        )),
    }
}

/// The middleware (see the module doc). REST (`/v1`) and static files pass untouched.
pub async fn session_layer(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    // REST, static files, probes and the API reference never use the dashboard session:
    // no token check (and no database read) for them, nor a copy of their path.
    if is_sessionless(req.uri().path()) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    // Decided before any await: the registry's service is not Send.
    let known_function = path.starts_with("/api/")
        && leptos::server_fn::axum::get_server_fn_service(&path, req.method().clone()).is_some();
    let headers = req.headers().clone();
    let public = req
        .extensions()
        .get::<PublicOrigin>()
        .cloned()
        .unwrap_or(PublicOrigin(None));
    let secure = is_https(&headers, req.uri());
    let meta = request_meta(&headers, req.extensions());
    let mut set_cookies = Vec::new();
    let session = Session(
        authenticate(&state.core, &headers, &meta, &mut set_cookies, secure)
            .await
            .map_err(AppError::from),
    );
    let is_read = matches!(*req.method(), Method::GET | Method::HEAD);

    let early = if path.starts_with("/api/") && !known_function {
        Some(refuse(
            StatusCode::NOT_FOUND,
            AppError::NotFound(format!(
                "no server function at {path} (they are called with POST; see the README)"
            )),
        ))
    } else if (path.starts_with("/api/") || path.starts_with("/export/"))
        && !is_read
        && !same_origin(&headers, req.uri(), public.0.as_ref())
    {
        Some(refuse(
            StatusCode::FORBIDDEN,
            AppError::Forbidden("this call must come from the dashboard's own origin".into()),
        ))
    } else if is_read && path == SIGN_IN_PATH && session.admin().is_some() {
        Some(redirect(&safe_next(next_param(req.uri()).as_deref())))
    } else if is_read && !is_public(&path) && session.admin().is_none() {
        let here = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        Some(redirect(&format!(
            "{SIGN_IN_PATH}?next={}",
            percent_encode(&here)
        )))
    } else {
        None
    };
    // Server function arguments are small: like `/v1`, at most 1 MiB is read.
    let early = match early {
        None if !is_read => limit_body(&mut req).await.err(),
        other => other,
    };
    let mut response = match early {
        Some(r) => r,
        None => {
            req.extensions_mut().insert(session);
            let response = next.run(req).await;
            if known_function {
                request_errors_are_4xx(response).await
            } else {
                response
            }
        }
    };
    for c in set_cookies {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    // Pages show personal data: never cached, never framed (clickjacking), never sniffed,
    // and their addresses (which carry searches) never sent to other sites.
    let h = response.headers_mut();
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
