use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use tus_wire::views::{BulkTarget, DeliveryQuery, DeliveryView, InviteLinkView};

/// What an invite link is for (the public invite page; no session needed). A used, expired
/// or mistyped link is a 404.
///
/// `POST /api/invite_status`: `{app, instance, to}` (the e-mail masked).
///
/// ```sh
/// curl -s $B/api/invite_status -H 'Content-Type: application/json' -H "Origin: $B" -d '{"token": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "invite_status", input = Json)]
pub async fn invite_status(token: String) -> Result<InviteLinkView, AppError> {
    use super::guard::{fail, request};
    use tus_core::Core;
    let (core, _) = request()?;
    let link = core.invite_link(Core::now(), &token).await.map_err(fail)?;
    Ok(InviteLinkView {
        app: link.app,
        instance: link.instance,
        to: link.to,
    })
}

/// The invite page's form: the driver's password, set once through the link. Takes a form
/// (`token`, `password`, `confirm`), so it works without the WASM: a browser's plain form
/// post is redirected to `/invite?done=1`, or back to the page with `error=<code>` (see
/// `InviteProblem`); other callers get the error as JSON with its status.
///
/// `POST /api/accept_invite`: form `token`, `password`, `confirm`.
///
/// ```sh
/// curl -si $B/api/accept_invite -H "Origin: $B" -d 'token=…&password=…&confirm=…'
/// ```
#[server(prefix = "/api", endpoint = "accept_invite")]
pub async fn accept_invite(
    token: String,
    password: String,
    confirm: String,
) -> Result<(), AppError> {
    use super::guard::request;
    use crate::pages::invite_page::INVITE_PATH;
    use crate::ssr::session::request_meta;
    use tus_core::secret::Password;
    use tus_core::Core;
    let (core, parts) = request()?;
    let meta = request_meta(&parts.headers, &parts.extensions);
    let result = core
        .accept_invite(
            Core::now(),
            &token,
            &Password::new(password),
            &Password::new(confirm),
            &meta,
        )
        .await;
    super::guard::link_form_answer(&parts, result, INVITE_PATH, &token)
}

/// The outbox, newest first (100 at a time; `query.before` pages on).
///
/// `POST /api/list_deliveries`: messages without bodies, recipients masked; `query` fields
/// `device_token`, `kind` (Email/Sms), `state` (queued/sending/sent/failed/cancelled),
/// `before` (a `created_at`).
///
/// ```sh
/// api list_deliveries '{"query": {"state": "failed"}}'
/// ```
#[server(prefix = "/api", endpoint = "list_deliveries", input = Json)]
pub async fn list_deliveries(query: DeliveryQuery) -> Result<Vec<DeliveryView>, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    let filter = tus_core::outbox::message_filter(&query).map_err(fail)?;
    a.core
        .deliveries(a.principal(), &filter, 100)
        .await
        .map_err(fail)
}

/// A failed message queued again (`cancel: false`), or a queued or failed one cancelled.
///
/// `POST /api/settle_delivery`: answers the message.
///
/// ```sh
/// api settle_delivery '{"id": "…", "cancel": true}'
/// ```
#[server(prefix = "/api", endpoint = "settle_delivery", input = Json)]
pub async fn settle_delivery(id: String, cancel: bool) -> Result<DeliveryView, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .retry_or_cancel_delivery(Core::now(), a.principal(), &id, cancel, &a.meta)
        .await
        .map_err(fail)
}

/// A test message to `to` by `deliver` (`Email` or `Sms`).
///
/// `POST /api/send_test_message`: answers the queued message.
///
/// ```sh
/// api send_test_message '{"deliver": "Email", "to": "ops@example.com"}'
/// ```
#[server(prefix = "/api", endpoint = "send_test_message", input = Json)]
pub async fn send_test_message(deliver: String, to: String) -> Result<DeliveryView, AppError> {
    use super::guard::{admin, fail};
    use tus_core::outbox::Channel;
    use tus_core::{Core, CoreError};
    let a = admin()?;
    let channel =
        CoreError::validation_of("Deliver", Channel::deliver(Some(&deliver))).map_err(fail)?;
    a.core
        .send_test_message(Core::now(), a.principal(), channel, &to, &a.meta)
        .await
        .map_err(fail)
}

/// Who an invite by `deliver` would reach: `(matched, recipients)`.
///
/// `POST /api/invite_count`: `target` as `bulk_count` takes it.
///
/// ```sh
/// api invite_count '{"target": {"Matching": {"batch": "…"}}, "deliver": "Sms"}'
/// ```
#[server(prefix = "/api", endpoint = "invite_count", input = Json)]
pub async fn invite_count(target: BulkTarget, deliver: String) -> Result<(i64, i64), AppError> {
    use super::guard::{admin, fail};
    use tus_core::outbox::Channel;
    use tus_core::CoreError;
    let a = admin()?;
    let channel =
        CoreError::validation_of("Deliver", Channel::deliver(Some(&deliver))).map_err(fail)?;
    a.core
        .invite_count(a.principal(), &target, channel)
        .await
        .map(|c| (c.matched, c.recipients))
        .map_err(fail)
}

/// Invites the target's users by `deliver`; `count` is the recipients `invite_count`
/// answered (the invite goes out only while it holds; not needed for one user).
///
/// `POST /api/invite_users`: `(matched, recipients)`.
///
/// ```sh
/// api invite_users '{"target": {"Selected": ["…"]}, "deliver": "Email", "count": 1}'
/// ```
#[server(prefix = "/api", endpoint = "invite_users", input = Json)]
pub async fn invite_users(
    target: BulkTarget,
    deliver: String,
    count: Option<i64>,
) -> Result<(i64, i64), AppError> {
    use super::guard::{admin, fail};
    use tus_core::outbox::Channel;
    use tus_core::{Core, CoreError};
    let a = admin()?;
    let channel =
        CoreError::validation_of("Deliver", Channel::deliver(Some(&deliver))).map_err(fail)?;
    a.core
        .invite(Core::now(), a.principal(), &target, channel, count, &a.meta)
        .await
        .map(|c| (c.matched, c.recipients))
        .map_err(fail)
}
