use leptos::prelude::*;
use leptos::server_fn::codec::Json;
#[cfg(feature = "ssr")]
use tus_core::types::BatchId;

use crate::error::AppError;
use tus_wire::views::{BatchPage, BatchRequest, BatchView};

/// Records a batch and starts writing it in chunks on the server; answers its id at once.
///
/// `POST /api/start_batch`: records a batch and starts it; answers its BatchId at once;
/// `request`: `instance_id`, `quantity` (text, as typed), `label`, `tracking`, `logging`,
/// `sdk`, `realtime`, `create_access_token`.
///
/// ```sh
/// api start_batch '{"request": {"instance_id": "…", "quantity": "500", "label": "Depot 7", "tracking": true, "logging": false, "sdk": true, "realtime": false, "create_access_token": true}}'
/// ```
#[server(prefix = "/api", endpoint = "start_batch", input = Json)]
pub async fn start_batch(request: BatchRequest) -> Result<String, AppError> {
    use super::guard::{admin, fail};
    use tus_core::batches::NewBatchRun;
    use tus_core::Core;
    let a = admin()?;
    let run = NewBatchRun::parse(&request, a.core.batch_runs().max_quantity).map_err(fail)?;
    let id = a
        .core
        .start_batch(Core::now(), a.principal(), run, &a.meta)
        .await
        .map_err(fail)?;
    a.core.spawn_batch(id.clone());
    Ok(id)
}

/// One batch and its progress (never its credentials).
///
/// `POST /api/get_batch`: one batch: `quantity`, `done`, `state` (`Running`, `Completed`,
/// `Failed`, `Interrupted`), `error`, `credentials` (`"Api"`, `"NoTokens"`, `{"Held":
/// {expires_at}}`, `{"Taken": {by, at}}`, `"Expired"`), `users_now`; never a secret.
///
/// ```sh
/// api get_batch '{"batch_id": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "get_batch", input = Json)]
pub async fn get_batch(batch_id: String) -> Result<BatchView, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .batch_view(
            Core::now(),
            a.principal(),
            BatchId::named(&batch_id).map_err(fail)?,
        )
        .await
        .map_err(fail)
}

/// Batches newest first, 50 at a time; `before` is the previous page's `next`.
///
/// `POST /api/list_batches`: 50 batches, newest first: `{rows, next}`; `before` = a page's
/// `next`.
///
/// ```sh
/// api list_batches '{"before": null}'
/// ```
#[server(prefix = "/api", endpoint = "list_batches", input = Json)]
pub async fn list_batches(before: Option<String>) -> Result<BatchPage, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .batch_list(Core::now(), a.principal(), before.as_deref())
        .await
        .map_err(fail)
}

/// Stops a running batch after its current chunk; the users written so far stay.
///
/// `POST /api/stop_batch`: stops a running batch after its current chunk.
///
/// ```sh
/// api stop_batch '{"batch_id": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "stop_batch", input = Json)]
pub async fn stop_batch(batch_id: String) -> Result<BatchView, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .stop_batch(
            Core::now(),
            a.principal(),
            BatchId::named(&batch_id).map_err(fail)?,
            &a.meta,
        )
        .await
        .map_err(fail)
}

/// Runs a failed or interrupted batch on from where it stopped.
///
/// `POST /api/resume_batch`: runs a failed or interrupted batch on from where it stopped (not
/// once its credentials were downloaded).
///
/// ```sh
/// api resume_batch '{"batch_id": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "resume_batch", input = Json)]
pub async fn resume_batch(batch_id: String) -> Result<BatchView, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    let id = a
        .core
        .resume_batch(
            Core::now(),
            a.principal(),
            BatchId::named(&batch_id).map_err(fail)?,
            &a.meta,
        )
        .await
        .map_err(fail)?;
    a.core.spawn_batch(id.clone());
    a.core
        .batch_view(
            Core::now(),
            a.principal(),
            BatchId::named(&id).map_err(fail)?,
        )
        .await
        .map_err(fail)
}
