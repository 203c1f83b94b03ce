use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use tus_wire::views::Overview;

/// Totals, 30 days of registrations and refreshes, and the latest security events.
#[server(prefix = "/api", endpoint = "overview", input = Json)]
pub async fn get_overview() -> Result<Overview, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .overview(Core::now(), a.principal())
        .await
        .map_err(fail)
}
