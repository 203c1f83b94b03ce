//! The Admins page's functions (an Owner's), an admin's own password and sessions, and the
//! public `/join` page where an invited admin sets a password.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use tus_wire::views::{AdminGrant, AdminLinkView, AdminSessionView, AdminView};

/// Every admin with their role, scope, state, last sign-in and open sessions (Owner).
///
/// ```sh
/// api admins '{}'
/// ```
#[server(prefix = "/api", endpoint = "admins", input = Json)]
pub async fn admins() -> Result<Vec<AdminView>, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .admins(a.principal(), tus_core::Core::now())
        .await
        .map_err(fail)
}

/// Invites an admin by e-mail (Owner): the e-mail's link sets their password. `grant.role`
/// is Owner, Admin, Operator or Viewer; `applications` or `instances` (ids) limit the
/// scope, both null for everything.
///
/// ```sh
/// api invite_admin '{"email": "ops@example.com", "grant": {"role": "Operator", "applications": null, "instances": ["…"]}}'
/// ```
#[server(prefix = "/api", endpoint = "invite_admin", input = Json)]
pub async fn invite_admin(email: String, grant: AdminGrant) -> Result<AdminView, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .invite_admin(
            tus_core::Core::now(),
            a.principal(),
            &email,
            &grant,
            &a.meta,
        )
        .await
        .map_err(fail)
}

/// Sets an admin's role and scope (Owner; the last Owner stays one).
///
/// ```sh
/// api set_admin_grant '{"id": "…", "grant": {"role": "Viewer", "applications": null, "instances": null}}'
/// ```
#[server(prefix = "/api", endpoint = "set_admin_grant", input = Json)]
pub async fn set_admin_grant(id: String, grant: AdminGrant) -> Result<AdminView, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .set_admin_grant(tus_core::Core::now(), a.principal(), &id, &grant, &a.meta)
        .await
        .map_err(fail)
}

/// Disables (every session ends at once) or enables an admin (Owner).
///
/// ```sh
/// api set_admin_enabled '{"id": "…", "enabled": false}'
/// ```
#[server(prefix = "/api", endpoint = "set_admin_enabled", input = Json)]
pub async fn set_admin_enabled(id: String, enabled: bool) -> Result<AdminView, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .set_admin_enabled(tus_core::Core::now(), a.principal(), &id, enabled, &a.meta)
        .await
        .map_err(fail)
}

/// E-mails an admin a link to set a new password (Owner).
///
/// ```sh
/// api send_admin_reset '{"id": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "send_admin_reset", input = Json)]
pub async fn send_admin_reset(id: String) -> Result<(), AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .send_admin_reset(tus_core::Core::now(), a.principal(), &id, &a.meta)
        .await
        .map_err(fail)
}

/// The signed-in admin's open sessions.
///
/// ```sh
/// api my_sessions '{}'
/// ```
#[server(prefix = "/api", endpoint = "my_sessions", input = Json)]
pub async fn my_sessions() -> Result<Vec<AdminSessionView>, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    let id = a.caller_admin_id()?;
    a.core
        .admin_sessions(a.principal(), &id, tus_core::Core::now())
        .await
        .map_err(fail)
}

/// Ends one session of admin `id`: one's own, or anyone's for an Owner.
///
/// ```sh
/// api end_admin_session '{"id": "…", "session": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "end_admin_session", input = Json)]
pub async fn end_admin_session(id: String, session: String) -> Result<(), AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .end_admin_session(tus_core::Core::now(), a.principal(), &id, &session, &a.meta)
        .await
        .map_err(fail)
}

/// The signed-in admin's new password (the current one required); their other sessions end.
///
/// ```sh
/// api change_password '{"current": "…", "new": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "change_password", input = Json)]
pub async fn change_password(current: String, new: String) -> Result<(), AppError> {
    use super::guard::{admin, fail};
    use tus_core::secret::Password;
    let a = admin()?;
    a.core
        .change_own_password(
            tus_core::Core::now(),
            a.principal(),
            &Password::new(current),
            &Password::new(new),
            &a.meta,
        )
        .await
        .map_err(fail)
}

/// What an admin link is for (the public `/join` page; no session). A used, expired or
/// mistyped link is a 404.
///
/// ```sh
/// curl -s $B/api/admin_link_status -H 'Content-Type: application/json' -H "Origin: $B" -d '{"token": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "admin_link_status", input = Json)]
pub async fn admin_link_status(token: String) -> Result<AdminLinkView, AppError> {
    use super::guard::{fail, request};
    let (core, _) = request()?;
    let link = core
        .admin_link(tus_core::Core::now(), &token)
        .await
        .map_err(fail)?;
    Ok(AdminLinkView {
        to: link.to,
        invite: link.invite,
    })
}

/// The `/join` page's form: the admin's password, set once through the link. Takes a form
/// (`token`, `password`, `confirm`), so it works without the WASM: a browser's plain form
/// post is redirected to `/join?done=1`, or back with `error=<code>`.
///
/// ```sh
/// curl -si $B/api/accept_admin_link -H "Origin: $B" -d 'token=…&password=…&confirm=…'
/// ```
#[server(prefix = "/api", endpoint = "accept_admin_link")]
pub async fn accept_admin_link(
    token: String,
    password: String,
    confirm: String,
) -> Result<(), AppError> {
    use super::guard::request;
    use crate::pages::join_page::JOIN_PATH;
    use crate::ssr::session::request_meta;
    use tus_core::secret::Password;
    let (core, parts) = request()?;
    let meta = request_meta(&parts.headers, &parts.extensions);
    let result = core
        .accept_admin_link(
            tus_core::Core::now(),
            &token,
            &Password::new(password),
            &Password::new(confirm),
            &meta,
        )
        .await;
    super::guard::link_form_answer(&parts, result, JOIN_PATH, &token)
}

/// The signed-in admin starts setting up TOTP: a new secret as text, `otpauth://` URI and QR
/// code (SVG). Confirmed by `confirm_totp`.
///
/// ```sh
/// api begin_totp '{}'
/// ```
#[server(prefix = "/api", endpoint = "begin_totp", input = Json)]
pub async fn begin_totp() -> Result<tus_wire::views::TotpSetupView, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core.begin_totp(a.principal()).await.map_err(fail)
}

/// Turns TOTP on with a code from the new secret; answers the ten recovery codes, this once.
///
/// ```sh
/// api confirm_totp '{"code": "123456"}'
/// ```
#[server(prefix = "/api", endpoint = "confirm_totp", input = Json)]
pub async fn confirm_totp(code: String) -> Result<Vec<String>, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .confirm_totp(tus_core::Core::now(), a.principal(), &code, &a.meta)
        .await
        .map_err(fail)
}

/// Unused recovery codes of the signed-in admin.
///
/// ```sh
/// api recovery_codes_left '{}'
/// ```
#[server(prefix = "/api", endpoint = "recovery_codes_left", input = Json)]
pub async fn recovery_codes_left() -> Result<i64, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .recovery_codes_left(a.principal())
        .await
        .map_err(fail)
}

/// Turns another admin's TOTP off (Owner; a lost phone): they set it up again.
///
/// ```sh
/// api reset_totp '{"id": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "reset_totp", input = Json)]
pub async fn reset_totp(id: String) -> Result<(), AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .reset_totp(tus_core::Core::now(), a.principal(), &id, &a.meta)
        .await
        .map_err(fail)
}

/// The roles TOTP is required of.
///
/// ```sh
/// api totp_policy '{}'
/// ```
#[server(prefix = "/api", endpoint = "totp_policy", input = Json)]
pub async fn totp_policy() -> Result<Vec<tus_wire::views::Role>, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core.totp_policy(a.principal()).await.map_err(fail)
}

/// Requires TOTP of these roles (Owner; `[]`: of none). Admins of them without TOTP may do
/// nothing but set it up.
///
/// ```sh
/// api set_totp_policy '{"roles": ["Owner", "Admin"]}'
/// ```
#[server(prefix = "/api", endpoint = "set_totp_policy", input = Json)]
pub async fn set_totp_policy(roles: Vec<String>) -> Result<Vec<tus_wire::views::Role>, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .set_totp_policy(tus_core::Core::now(), a.principal(), &roles, &a.meta)
        .await
        .map_err(fail)
}
