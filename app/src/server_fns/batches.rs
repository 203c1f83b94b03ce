use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use crate::views::{BatchPage, BatchRequest, BatchView};

/// Records a batch and starts writing it in chunks on the server; answers its id at once.
#[server(prefix = "/api", endpoint = "start_batch", input = Json)]
pub async fn start_batch(request: BatchRequest) -> Result<String, AppError> {
    use super::guard::{admin, fail};
    use crate::core::Core;
    let a = admin()?;
    let id = a
        .core
        .start_batch(Core::now(), a.principal(), &request, &a.meta)
        .await
        .map_err(fail)?;
    a.core.spawn_batch(id.clone());
    Ok(id)
}

/// One batch and its progress (never its credentials).
#[server(prefix = "/api", endpoint = "get_batch", input = Json)]
pub async fn get_batch(batch_id: String) -> Result<BatchView, AppError> {
    use super::guard::{admin, fail};
    use crate::core::Core;
    let a = admin()?;
    a.core
        .batch_view(Core::now(), a.principal(), &batch_id)
        .await
        .map_err(fail)
}

/// Batches newest first, 50 at a time; `before` is the previous page's `next`.
#[server(prefix = "/api", endpoint = "list_batches", input = Json)]
pub async fn list_batches(before: Option<String>) -> Result<BatchPage, AppError> {
    use super::guard::{admin, fail};
    use crate::core::Core;
    let a = admin()?;
    a.core
        .batch_list(Core::now(), a.principal(), before.as_deref())
        .await
        .map_err(fail)
}

/// Stops a running batch after its current chunk; the users written so far stay.
#[server(prefix = "/api", endpoint = "stop_batch", input = Json)]
pub async fn stop_batch(batch_id: String) -> Result<BatchView, AppError> {
    use super::guard::{admin, fail};
    use crate::core::Core;
    let a = admin()?;
    a.core
        .stop_batch(Core::now(), a.principal(), &batch_id, &a.meta)
        .await
        .map_err(fail)
}

/// Runs a failed or interrupted batch on from where it stopped.
#[server(prefix = "/api", endpoint = "resume_batch", input = Json)]
pub async fn resume_batch(batch_id: String) -> Result<BatchView, AppError> {
    use super::guard::{admin, fail};
    use crate::core::Core;
    let a = admin()?;
    let id = a
        .core
        .resume_batch(Core::now(), a.principal(), &batch_id, &a.meta)
        .await
        .map_err(fail)?;
    a.core.spawn_batch(id.clone());
    a.core
        .batch_view(Core::now(), a.principal(), &id)
        .await
        .map_err(fail)
}
