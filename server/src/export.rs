//! CSV downloads of what the dashboard shows, streamed page by page so an export never sits
//! in memory. Admin only (the session cookie or a bearer token, as the `/api` functions).

use app::error::AppError;
use app::ssr::session::{refuse, request_meta, Session};
use app::ssr::AppState;
use axum::body::Body;
use axum::extract::Path;
use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tus_core::audit::{parse_audit_query, EXPORT_CHUNK};
use tus_core::principal::Principal;
use tus_core::store::AuditFilter;
use tus_core::types::csv_field;
use tus_core::users::search::describe_list_query;
use tus_core::Core;
use tus_wire::views::{AuditQuery, UserListQuery, UserListRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/export/audit.csv", get(audit_csv))
        .route("/export/users.csv", get(users_csv))
        .route("/export/users/{device_token}/data.json", get(user_json))
        .route(
            "/export/batches/{batch_id}/credentials.csv",
            post(batch_credentials_csv),
        )
}

/// The admin calling, or why the call is refused.
pub(crate) fn admin_of(req: &Request) -> Result<Principal, (StatusCode, AppError)> {
    match req.extensions().get::<Session>().map(|s| s.0.clone()) {
        Some(Ok(caller)) if caller.principal.is_admin() => Ok(caller.principal),
        Some(Ok(_)) => Err((
            StatusCode::FORBIDDEN,
            AppError::Forbidden("exports need an admin".into()),
        )),
        _ => Err((StatusCode::UNAUTHORIZED, AppError::Unauthorized)),
    }
}

/// A user's personal data, as the REST export answers it, for the dashboard's download.
async fn user_json(
    State(state): State<AppState>,
    Path(device_token): Path<String>,
    req: Request,
) -> Response {
    let principal = match admin_of(&req) {
        Ok(p) => p,
        Err((status, error)) => return refuse(status, error),
    };
    let Ok(target) = tus_core::types::DeviceToken::parse(&device_token) else {
        return refuse(
            StatusCode::NOT_FOUND,
            AppError::NotFound("no such user".into()),
        );
    };
    let meta = request_meta(req.headers(), req.extensions());
    match state
        .core
        .export_user(Core::now(), &principal, target, &meta)
        .await
    {
        Ok(data) => (
            [
                (header::CONTENT_TYPE, "application/json".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"user-{target}.json\""),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            serde_json::to_string_pretty(&data).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => {
            let e = AppError::from(e);
            refuse(e.status(), e)
        }
    }
}

fn csv_response(filename: &str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /export/audit.csv?actor=&action=&target=&from=&to=`: every entry the audit page
/// shows for these filters, newest first.
async fn audit_csv(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
    req: Request,
) -> Response {
    let principal = match admin_of(&req) {
        Ok(p) => p,
        Err((status, error)) => return refuse(status, error),
    };
    let mut filter = match parse_audit_query(&AuditQuery {
        size: None,
        before: None,
        ..query
    }) {
        Ok(f) => f,
        Err(e) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, e.into()),
    };
    filter.limit = EXPORT_CHUNK;
    let meta = request_meta(req.headers(), req.extensions());
    let described = describe(&filter);
    if let Err(e) = state
        .core
        .record(
            Core::now(),
            &principal.actor(),
            tus_core::audit::AuditAction::AuditExported,
            "audit",
            &described,
            &meta,
        )
        .await
    {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, e.into());
    }
    let header_line = "Id,At,Actor,Action,Target,Detail,ClientAddress\n".to_string();
    let start = futures_util::stream::once(async move { Ok::<_, std::io::Error>(header_line) });
    let pages =
        futures_util::stream::unfold(Some((state.core, principal, filter)), |next| async move {
            let (core, principal, filter) = next?;
            let page = match core.audit_log(&principal, filter.clone()).await {
                Ok(p) => p,
                Err(e) => {
                    // The header is sent already: end the body with a line that says so.
                    tracing::error!(error = %e, "audit export failed");
                    return Some((
                        Ok("# export failed; see the server log\n".to_string()),
                        None,
                    ));
                }
            };
            let mut text = String::new();
            for e in &page.entries {
                let fields = [
                    e.id.to_string(),
                    e.at.clone(),
                    e.actor.clone(),
                    e.action.clone(),
                    e.target.clone(),
                    e.detail.clone(),
                    e.client_address.clone().unwrap_or_default(),
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                text.push_str(&line.join(","));
                text.push('\n');
            }
            let rest = page.next_before.map(|before| {
                let filter = AuditFilter {
                    before_id: Some(before),
                    ..filter
                };
                (core, principal, filter)
            });
            Some((Ok(text), rest))
        });
    use futures_util::StreamExt;
    csv_response("audit.csv", Body::from_stream(start.chain(pages)))
}

fn describe(f: &AuditFilter) -> String {
    let parts: Vec<String> = [
        ("actor", f.actor.clone()),
        ("action", f.action.clone()),
        ("target", f.target.clone()),
        ("from", f.from.map(|v| v.to_string())),
        ("to", f.to.map(|v| v.to_string())),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
    .collect();
    if parts.is_empty() {
        "audit log exported (no filter)".into()
    } else {
        format!("audit log exported ({})", parts.join(", "))
    }
}

/// Users per query while exporting.
const USER_CHUNK: i64 = 1000;

fn user_line(r: &UserListRow) -> String {
    let flag = |on: bool| if on { "True" } else { "False" }.to_string();
    let fields = [
        r.device_token.clone(),
        r.first_name.clone().unwrap_or_default(),
        r.last_name.clone().unwrap_or_default(),
        r.email.clone().unwrap_or_default(),
        r.phone.clone().unwrap_or_default(),
        r.client_id.clone().unwrap_or_default(),
        r.instance_id.clone(),
        r.instance_name.clone(),
        r.status.clone(),
        flag(r.enable_tracking),
        flag(r.enable_logging),
        flag(r.enabled),
        flag(r.enable_real_time_location),
        r.date_created.clone(),
        r.last_token_activity.clone().unwrap_or_default(),
    ];
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// `GET /export/users.csv?q=&instance=&status=&tracking=&logging=&sdk=&realtime=&sort=`:
/// every user the users page shows for this filter, in its order, read by keyset 1,000 at a
/// time (no secrets: no tokens, no hashes).
async fn users_csv(
    State(state): State<AppState>,
    Query(query): Query<UserListQuery>,
    req: Request,
) -> Response {
    let principal = match admin_of(&req) {
        Ok(p) => p,
        Err((status, error)) => return refuse(status, error),
    };
    let export = match state.core.start_user_export(&principal, &query).await {
        Ok(x) => x,
        Err(e) => {
            let e = AppError::from(e);
            return refuse(e.status(), e);
        }
    };
    let meta = request_meta(req.headers(), req.extensions());
    let described = format!("users exported ({})", describe_list_query(&query));
    if let Err(e) = state
        .core
        .record(
            Core::now(),
            &principal.actor(),
            tus_core::audit::AuditAction::UsersExported,
            "users",
            &described,
            &meta,
        )
        .await
    {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, e.into());
    }
    let header_line =
        "DeviceToken,FirstName,LastName,Email,Phone,ClientId,InstanceId,Instance,Status,\
EnableTracking,EnableLogging,Enabled,EnableRealTimeLocation,DateCreated,LastTokenActivity\n"
            .to_string();
    let start = futures_util::stream::once(async move { Ok::<_, std::io::Error>(header_line) });
    let rows = futures_util::stream::unfold(Some((state.core, export)), |next| async move {
        let (core, mut export) = next?;
        match core.next_export_rows(&mut export, USER_CHUNK).await {
            Ok(rows) if rows.is_empty() => None,
            Ok(rows) => Some((
                Ok(rows.iter().map(user_line).collect::<String>()),
                Some((core, export)),
            )),
            Err(e) => {
                tracing::error!(error = %e, "users export failed");
                Some((
                    Ok("# export failed; see the server log\n".to_string()),
                    None,
                ))
            }
        }
    });
    use futures_util::StreamExt;
    csv_response("users.csv", Body::from_stream(start.chain(rows)))
}

/// `POST /export/batches/{id}/credentials.csv`: a finished dashboard batch's credentials,
/// once. The claim is atomic and audited; each sealed chunk is deleted as it is sent, so a
/// second request gets 409 saying who downloaded them and when.
async fn batch_credentials_csv(
    State(state): State<AppState>,
    Path(batch_id): Path<String>,
    req: Request,
) -> Response {
    let principal = match admin_of(&req) {
        Ok(p) => p,
        Err((status, error)) => return refuse(status, error),
    };
    let meta = request_meta(req.headers(), req.extensions());
    let taken = match tus_core::types::BatchId::named(&batch_id) {
        Ok(id) => {
            state
                .core
                .take_batch_credentials(Core::now(), &principal, id, &meta)
                .await
        }
        Err(e) => Err(e),
    };
    let download = match taken {
        Ok(d) => d,
        Err(e) => {
            let e = AppError::from(e);
            return refuse(e.status(), e);
        }
    };
    let file_name = download.file_name.clone();
    let start = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(tus_core::batches::CREDENTIALS_HEADER.to_string())
    });
    let chunks = futures_util::stream::unfold(Some((state.core, download)), |next| async move {
        let (core, mut download) = next?;
        match core.next_credentials_chunk(&mut download).await {
            Ok(Some(text)) => Some((Ok(text), Some((core, download)))),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "credentials download failed");
                Some((
                    Ok("# download failed; see the server log\n".to_string()),
                    None,
                ))
            }
        }
    });
    use futures_util::StreamExt;
    csv_response(&file_name, Body::from_stream(start.chain(chunks)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(csv_field("a;b"), "\"a;b\"");
    }
}
