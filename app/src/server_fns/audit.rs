use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use crate::views::AuditQuery;

/// A page of the audit trail, newest first (keyset: `before` is the previous `NextBefore`).
#[server(prefix = "/api", endpoint = "audit_log", input = Json)]
pub async fn audit_log(query: AuditQuery) -> Result<crate::model::AuditPageView, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .audit_page_for(a.principal(), &query)
        .await
        .map_err(fail)
}
