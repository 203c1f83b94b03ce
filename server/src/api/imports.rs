//! Importing users from a file: the REST routes (an admin token, or an API key with
//! `users:write`) and the dashboard's upload and report download (the session cookie).
//!
//! The body is streamed into the core's reader as it arrives, so a file is never held in
//! memory here either; a body over `TUS_IMPORT_MAX_BYTES` is refused with 413, at once
//! when its `Content-Length` says so, else when the limit is passed.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use app::error::AppError;
use app::ssr::session::{refuse, request_meta};
use app::ssr::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use tus_core::imports::{ImportRequest, REPORT_HEADER};
use tus_core::principal::Principal;
use tus_core::types::BatchId;
use tus_core::{Core, CoreError, RequestMeta};
use tus_wire::model::{ImportPage, ImportView};

use super::envelope::Data;
use super::error::{too_large, ApiError};
use super::extract::{Bearer, LowerQuery, Meta};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/management/imports",
            get(list).post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/management/imports/{id}", get(one))
        .route("/v1/management/imports/{id}/report", get(report))
        .route("/v1/management/imports/{id}/run", post(run))
        .route("/v1/management/imports/{id}/stop", post(stop))
        .route("/v1/management/imports/{id}/resume", post(resume))
        .route(
            "/export/imports",
            post(dashboard_upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/export/imports/{id}/report.csv", get(dashboard_report))
}

/// A request body as a blocking `Read`: filled by a task that pulls the body and stops
/// (with an error the reader sees) past `max` bytes.
struct BodyReader {
    receive: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receive.blocking_recv() {
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

fn body_reader(body: Body, max: u64, over: Arc<AtomicBool>) -> BodyReader {
    let (send, receive) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        let mut seen = 0u64;
        while let Some(frame) = stream.next().await {
            let item = match frame {
                Ok(bytes) => {
                    seen += bytes.len() as u64;
                    if seen > max {
                        over.store(true, Ordering::SeqCst);
                        let _ = send
                            .send(Err(std::io::Error::other("the file is too large")))
                            .await;
                        return;
                    }
                    Ok(bytes)
                }
                Err(e) => Err(std::io::Error::other(format!("the upload broke off: {e}"))),
            };
            let failed = item.is_err();
            if send.send(item).await.is_err() || failed {
                return;
            }
        }
    });
    BodyReader {
        receive,
        current: Bytes::new(),
    }
}

/// Why an upload is refused before its body is read: a `Content-Length` over the limit.
fn declared_too_large(headers: &HeaderMap, max: u64) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > max)
}

enum UploadError {
    TooLarge(u64),
    Core(CoreError),
}

impl From<CoreError> for UploadError {
    fn from(e: CoreError) -> Self {
        UploadError::Core(e)
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::TooLarge(max) => ApiError::FileTooLarge(max),
            UploadError::Core(e) => ApiError::Core(e),
        }
    }
}

/// Stages the body and starts its import; the caller answers the view.
async fn start(
    core: &Core,
    p: &Principal,
    q: HashMap<String, String>,
    parts: &Parts,
    body: Body,
    meta: &RequestMeta,
) -> Result<ImportView, UploadError> {
    let max = core.batch_runs().max_import_bytes;
    if declared_too_large(&parts.headers, max) {
        return Err(UploadError::TooLarge(max));
    }
    // A writer's file arrives as fast as its rows are stored: minutes for a large one.
    if let Some(pace) = parts.extensions.get::<crate::serve::BodyPace>() {
        pace.per_piece();
    }
    let q = LowerQuery::from(q);
    let request = ImportRequest::parse(
        q.text("instance")
            .or_else(|| q.text("instanceid"))
            .as_deref(),
        q.text("dryrun").as_deref(),
        q.text("onexisting").as_deref(),
        q.text("filename").as_deref(),
    )?;
    let over = Arc::new(AtomicBool::new(false));
    let reader = body_reader(body, max, over.clone());
    match core
        .start_import(Core::now(), p, request, reader, meta)
        .await
    {
        Ok(view) => {
            core.spawn_batch(view.id.clone());
            Ok(view)
        }
        Err(_) if over.load(Ordering::SeqCst) => Err(UploadError::TooLarge(max)),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(post, path = "/v1/Management/imports", tag = "Imports",
    summary = "Upload a file of users to import",
    description = "The body is the file: CSV with a header (the columns of the users export: DeviceToken, FirstName, LastName, Email, Phone, ClientId, InstanceId, Status, EnableTracking, EnableLogging, Enabled, EnableRealTimeLocation, DateCreated, and the other profile fields of Registration/Create) or NDJSON (one object per line with the same fields, UserFields nested or not). Query: `instance` (the InstanceId rows go to; absent: the first row's InstanceId), `dryRun` (true: check every row and write only the report), `onExisting` (skip, update or fail; default skip), `fileName`. Answers the import at once; it runs in the background: poll it. Admin token, or an API key with users:write.",
    params(("instance" = Option<tus_wire::formats::Id>, Query), ("dryRun" = Option<bool>, Query),
        ("onExisting" = Option<tus_wire::model::OnExisting>, Query), ("fileName" = Option<tus_wire::formats::Text>, Query)),
    security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "The import, running.", body = super::openapi::Envelope<ImportView>),
        (status = 413, description = "The file is over TUS_IMPORT_MAX_BYTES.", body = super::openapi::ErrorEnvelope),
        (status = 422, description = "The file is not CSV or NDJSON, or a parameter is invalid (each named).", body = super::openapi::ErrorEnvelope)))]
async fn upload(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Result<Data<ImportView>, ApiError> {
    let (parts, body) = req.into_parts();
    Ok(Data(start(&core, &p, q, &parts, body, &meta).await?))
}

#[utoipa::path(get, path = "/v1/Management/imports", tag = "Imports",
    summary = "List imports",
    description = "Newest first, 50 at a time; `before` is the previous answer's `Next`.",
    params(("before" = Option<String>, Query, pattern = r"^[\t\n\x0B\x0C\r ]*$|^[0-9]{1,15}\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")), security(("bearer" = [])),
    responses((status = 200, description = "The imports.", body = super::openapi::Envelope<ImportPage>)))]
async fn list(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Data<ImportPage>, ApiError> {
    let before = LowerQuery::from(q).text("before");
    Ok(Data(
        core.import_list(Core::now(), &p, before.as_deref()).await?,
    ))
}

#[utoipa::path(get, path = "/v1/Management/imports/{id}", tag = "Imports",
    summary = "An import's progress and counts",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The import.", body = super::openapi::Envelope<ImportView>),
        (status = 404, description = "No import has this id (or it is outside the caller's instances).", body = super::openapi::ErrorEnvelope)))]
async fn one(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Path(id): Path<String>,
) -> Result<Data<ImportView>, ApiError> {
    Ok(Data(core.import_view(Core::now(), &p, &id).await?))
}

#[utoipa::path(post, path = "/v1/Management/imports/{id}/run", tag = "Imports",
    summary = "Import a completed dry run's rows for real",
    description = "From the first row, with the same file and policy; the report is replaced.",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The import, running.", body = super::openapi::Envelope<ImportView>),
        (status = 409, description = "Not a completed dry run, or its file is no longer kept.", body = super::openapi::ErrorEnvelope)))]
async fn run(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Data<ImportView>, ApiError> {
    let view = core.run_dry_import(Core::now(), &p, &id, &meta).await?;
    core.spawn_batch(view.id.clone());
    Ok(Data(view))
}

#[utoipa::path(post, path = "/v1/Management/imports/{id}/stop", tag = "Imports",
    summary = "Stop a running import after its current chunk",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The import, stopped (resumable).", body = super::openapi::Envelope<ImportView>),
        (status = 409, description = "It is not running.", body = super::openapi::ErrorEnvelope)))]
async fn stop(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Data<ImportView>, ApiError> {
    core.import_view(Core::now(), &p, &id).await?;
    core.stop_batch(Core::now(), &p, BatchId::named(&id)?, &meta)
        .await?;
    Ok(Data(core.import_view(Core::now(), &p, &id).await?))
}

#[utoipa::path(post, path = "/v1/Management/imports/{id}/resume", tag = "Imports",
    summary = "Resume a stopped or interrupted import where it stopped",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The import, running again.", body = super::openapi::Envelope<ImportView>),
        (status = 409, description = "It is neither stopped nor interrupted.", body = super::openapi::ErrorEnvelope)))]
async fn resume(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> Result<Data<ImportView>, ApiError> {
    core.import_view(Core::now(), &p, &id).await?;
    let id = core
        .resume_batch(Core::now(), &p, BatchId::named(&id)?, &meta)
        .await?;
    core.spawn_batch(id.clone());
    Ok(Data(core.import_view(Core::now(), &p, &id).await?))
}

/// The report as a CSV download, streamed chunk by chunk.
async fn report_response(core: Core, p: &Principal, id: &str) -> Result<Response, CoreError> {
    let download = core.take_import_report(p, id).await?;
    let file_name = download.file_name.clone();
    let start =
        futures_util::stream::once(async { Ok::<_, std::io::Error>(REPORT_HEADER.to_string()) });
    let chunks = futures_util::stream::unfold(Some((core, download)), |next| async move {
        let (core, mut download) = next?;
        match core.next_report_chunk(&mut download).await {
            Ok(Some(text)) => Some((Ok(text), Some((core, download)))),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "import report download failed");
                Some((
                    Ok("# download failed; see the server log\n".to_string()),
                    None,
                ))
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        Body::from_stream(start.chain(chunks)),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/Management/imports/{id}/report", tag = "Imports",
    summary = "The per-row report of an import's latest run (CSV)",
    description = "`Row,DeviceToken,Result,Field,Reason`: Row as a spreadsheet numbers it (the header is row 1) or the NDJSON line; Result `created`, `updated`, `skipped: exists`, `skipped: unchanged` or `error` (a dry run says `would create`...). Rows handled so far while it runs.",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The report.", content_type = "text/csv", body = String),
        (status = 404, description = "No import has this id.", body = super::openapi::ErrorEnvelope)))]
async fn report(
    State(core): State<Core>,
    Bearer(p): Bearer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(report_response(core, &p, &id).await?)
}

/// `POST /export/imports?instance=&dryRun=&onExisting=&fileName=`: the Import page's upload
/// (the file as the body); answers the import as JSON.
async fn dashboard_upload(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let p = match crate::export::admin_of(&req) {
        Ok(p) => p,
        Err((status, error)) => return refuse(status, error),
    };
    let meta = request_meta(req.headers(), req.extensions());
    let (parts, body) = req.into_parts();
    match start(&state.core, &p, q, &parts, body, &meta).await {
        Ok(view) => axum::Json(view).into_response(),
        Err(UploadError::TooLarge(max)) => refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            CoreError::validation("file", too_large(max)).into(),
        ),
        Err(UploadError::Core(e)) => {
            let e = AppError::from(e);
            refuse(e.status(), e)
        }
    }
}

/// `GET /export/imports/{id}/report.csv`: the report, for the dashboard.
async fn dashboard_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let p = match crate::export::admin_of(&req) {
        Ok(p) => p,
        Err((status, error)) => return refuse(status, error),
    };
    match report_response(state.core, &p, &id).await {
        Ok(r) => r,
        Err(e) => {
            let e = AppError::from(e);
            refuse(e.status(), e)
        }
    }
}
