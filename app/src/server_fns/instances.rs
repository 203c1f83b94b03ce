use leptos::prelude::*;

use crate::error::AppError;
use crate::model::InstanceSummary;

/// Lists the instances (no keys, no invite codes).
#[server(prefix = "/api", endpoint = "list_instances")]
pub async fn list_instances() -> Result<Vec<InstanceSummary>, AppError> {
    let state = expect_context::<crate::ssr::AppState>();
    Ok(state.core.list_instances().await?)
}
