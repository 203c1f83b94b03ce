use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use crate::model::InstanceSummary;
use crate::views::InstanceChoice;

/// Lists the instances with their user counts (no keys, no invite codes).
#[server(prefix = "/api", endpoint = "list_instances", input = Json)]
pub async fn list_instances() -> Result<Vec<InstanceSummary>, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.principal().require_admin().map_err(fail)?;
    a.core.list_instances().await.map_err(fail)
}

/// The instances to choose from in a form.
#[server(prefix = "/api", endpoint = "instance_choices", input = Json)]
pub async fn instance_choices() -> Result<Vec<InstanceChoice>, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core.instance_choices(a.principal()).await.map_err(fail)
}
