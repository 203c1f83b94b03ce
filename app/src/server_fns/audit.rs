use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use tus_wire::views::AuditQuery;

/// A page of the audit trail, newest first (keyset: `before` is the previous `NextBefore`).
///
/// `POST /api/audit_log`: a page, newest first: `{Entries, NextBefore}`; `query` fields
/// `actor`, `action`, `target`, `from`, `to`, `before`, `size`.
///
/// ```sh
/// api audit_log '{"query": {"action": "user.updated", "size": 20}}'
/// ```
#[server(prefix = "/api", endpoint = "audit_log", input = Json)]
pub async fn audit_log(query: AuditQuery) -> Result<tus_wire::model::AuditPageView, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .audit_page_for(a.principal(), &query)
        .await
        .map_err(fail)
}
