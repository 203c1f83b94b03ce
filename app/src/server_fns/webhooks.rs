//! The Webhooks page's functions: the same core calls as `/v1/Webhooks`.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use tus_wire::model::{
    WebhookDeliveryView, WebhookInput, WebhookReplay, WebhookView, WebhookWithSecret,
};

/// Every webhook, newest first (never a secret).
///
/// ```sh
/// api webhooks '{}'
/// ```
#[server(prefix = "/api", endpoint = "webhooks", input = Json)]
pub async fn webhooks() -> Result<Vec<WebhookView>, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .webhooks(tus_core::Core::now(), a.principal())
        .await
        .map_err(fail)
}

/// A new webhook and its secret, shown this once.
///
/// ```sh
/// api create_webhook '{"input": {"Url": "https://crm.example.com/tus", "EventTypes": ["user.created"]}}'
/// ```
#[server(prefix = "/api", endpoint = "create_webhook", input = Json)]
pub async fn create_webhook(input: WebhookInput) -> Result<WebhookWithSecret, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .create_webhook(tus_core::Core::now(), a.principal(), &input, &a.meta)
        .await
        .map_err(fail)
}

/// Changes the fields given (`{"Enabled": false}` disables).
///
/// ```sh
/// api update_webhook '{"id": "wh_…", "input": {"Enabled": false}}'
/// ```
#[server(prefix = "/api", endpoint = "update_webhook", input = Json)]
pub async fn update_webhook(id: String, input: WebhookInput) -> Result<WebhookView, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .update_webhook(tus_core::Core::now(), a.principal(), &id, &input, &a.meta)
        .await
        .map_err(fail)
}

/// Deletes a webhook; its pending deliveries are cancelled.
///
/// ```sh
/// api delete_webhook '{"id": "wh_…"}'
/// ```
#[server(prefix = "/api", endpoint = "delete_webhook", input = Json)]
pub async fn delete_webhook(id: String) -> Result<(), AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .delete_webhook(tus_core::Core::now(), a.principal(), &id, &a.meta)
        .await
        .map_err(fail)
}

/// A new secret, shown once; the previous one signs too for `overlap_seconds`.
///
/// ```sh
/// api rotate_webhook_secret '{"id": "wh_…", "overlap_seconds": 86400}'
/// ```
#[server(prefix = "/api", endpoint = "rotate_webhook_secret", input = Json)]
pub async fn rotate_webhook_secret(
    id: String,
    overlap_seconds: i64,
) -> Result<WebhookWithSecret, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .rotate_webhook_secret(
            tus_core::Core::now(),
            a.principal(),
            &id,
            overlap_seconds,
            &a.meta,
        )
        .await
        .map_err(fail)
}

/// A `webhook.test` event to this webhook.
///
/// ```sh
/// api test_webhook '{"id": "wh_…"}'
/// ```
#[server(prefix = "/api", endpoint = "test_webhook", input = Json)]
pub async fn test_webhook(id: String) -> Result<WebhookDeliveryView, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .send_webhook_test(tus_core::Core::now(), a.principal(), &id, &a.meta)
        .await
        .map_err(fail)
}

/// One webhook and its newest deliveries (up to 200).
///
/// ```sh
/// api webhook_detail '{"id": "wh_…"}'
/// ```
#[server(prefix = "/api", endpoint = "webhook_detail", input = Json)]
pub async fn webhook_detail(
    id: String,
) -> Result<(WebhookView, Vec<WebhookDeliveryView>), AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    let now = tus_core::Core::now();
    let hook = a
        .core
        .webhook(now, a.principal(), &id)
        .await
        .map_err(fail)?;
    let deliveries = a
        .core
        .webhook_deliveries(a.principal(), &id, 200)
        .await
        .map_err(fail)?;
    Ok((hook, deliveries))
}

/// One delivery's event, sent again.
///
/// ```sh
/// api resend_webhook_delivery '{"id": "wh_…", "delivery": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "resend_webhook_delivery", input = Json)]
pub async fn resend_webhook_delivery(
    id: String,
    delivery: String,
) -> Result<WebhookDeliveryView, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .resend_webhook_delivery(
            tus_core::Core::now(),
            a.principal(),
            &id,
            &delivery,
            &a.meta,
        )
        .await
        .map_err(fail)
}

/// Every subscribed event of `[from, to)` sent again; answers how many.
///
/// ```sh
/// api replay_webhook '{"id": "wh_…", "range": {"From": "2026-12-01T00:00:00Z", "To": "2026-12-02T00:00:00Z"}}'
/// ```
#[server(prefix = "/api", endpoint = "replay_webhook", input = Json)]
pub async fn replay_webhook(id: String, range: WebhookReplay) -> Result<i64, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .replay_webhook(tus_core::Core::now(), a.principal(), &id, &range, &a.meta)
        .await
        .map_err(fail)
}
