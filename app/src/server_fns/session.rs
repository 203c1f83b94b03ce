use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use tus_wire::views::SessionView;

/// Signs an admin in: sets the session cookies and redirects to `next` (a local path).
/// Takes a form (`email`, `password`, `code`, `next`), so it also works before the page
/// hydrates. An admin with TOTP on sends `code` too (or a recovery code); without it the
/// answer is 401 `TotpNeeded`, and the page asks for it.
///
/// `POST /api/sign_in`: form `email`, `password`, `code`, `next`: sets the session cookies.
///
/// ```sh
/// curl -si $B/api/sign_in -H "Origin: $B" -d 'email=admin@localhost&password=…&next=/'
/// ```
#[server(prefix = "/api", endpoint = "sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    code: Option<String>,
    next: Option<String>,
) -> Result<(), AppError> {
    use super::guard::{fail, request};
    use crate::ssr::session::{is_https, request_meta, safe_next, session_cookies};
    use tus_core::Core;
    let (core, parts) = request()?;
    let meta = request_meta(&parts.headers, &parts.extensions);
    let credentials = core
        .admin_sign_in(Core::now(), &email, &password, code.as_deref(), &meta)
        .await
        .map_err(|e| match e {
            tus_core::CoreError::Unauthorized {
                kind: tus_core::error::CredentialKind::Totp,
                ..
            } => fail(AppError::TotpNeeded(
                code.as_deref().is_some_and(|c| !c.trim().is_empty()),
            )),
            tus_core::CoreError::Unauthorized { .. } => fail(AppError::BadCredentials),
            other => fail(other),
        })?;
    let response = expect_context::<leptos_axum::ResponseOptions>();
    for c in session_cookies(&core, &credentials, is_https(&parts.headers, &parts.uri)) {
        response.append_header(http::header::SET_COOKIE, c);
    }
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Ends the session: its tokens are revoked and the cookies cleared. With a bearer token,
/// that token's session ends.
///
/// `POST /api/sign_out`: revokes the caller's session (cookie or bearer), clears the cookies.
///
/// ```sh
/// curl -s -X POST $B/api/sign_out -H "Authorization: Bearer $TOKEN"
/// ```
#[server(prefix = "/api", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use super::guard::{fail, request};
    use crate::ssr::session::{clearing_cookies, is_https, request_meta, Session};
    use tus_core::Core;
    let (core, parts) = request()?;
    let response = expect_context::<leptos_axum::ResponseOptions>();
    for c in clearing_cookies(is_https(&parts.headers, &parts.uri)) {
        response.append_header(http::header::SET_COOKIE, c);
    }
    let session = parts.extensions.get::<Session>().cloned();
    let caller = session
        .and_then(|s| s.0.ok())
        .ok_or_else(|| fail(AppError::Unauthorized))?;
    let meta = request_meta(&parts.headers, &parts.extensions);
    core.sign_out(Core::now(), &caller.access_token, &meta)
        .await
        .map_err(fail)?;
    leptos_axum::redirect(crate::ssr::session::SIGN_IN_PATH);
    Ok(())
}

/// The signed-in admin.
///
/// `POST /api/current_admin`: `{email}` of the caller.
///
/// ```sh
/// api current_admin '{}'
/// ```
#[server(prefix = "/api", endpoint = "current_admin", input = Json)]
pub async fn current_admin() -> Result<SessionView, AppError> {
    use super::guard::admin;
    let a = admin()?;
    a.core
        .session_view(a.principal())
        .map_err(super::guard::fail)
}
