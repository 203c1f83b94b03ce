//! `Application::build` wires the whole service; `main` and the integration tests both use
//! it, so tests exercise exactly what production runs.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use app::app::{shell, App};
use app::ssr::AppState;
use axum::body::Body;
use axum::extract::{FromRef, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Extensions, HeaderMap, HeaderName, Response, StatusCode, Uri, Version};
use axum::response::IntoResponse;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::Predicate;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;
use tus_core::admins::FirstAdmin;
use tus_core::instances::CreatedInstance;
use tus_core::Core;

use crate::api::{self, error::internal_error_response, ApiError};
use crate::config::Config;
use crate::workers::{Heartbeats, Loop, Worker};

/// What a first start created; `main` prints it once.
#[derive(Debug, Default)]
pub struct Bootstrap {
    pub instance: Option<CreatedInstance>,
    pub admin: Option<FirstAdmin>,
}

pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    core: Core,
    address: SocketAddr,
    timeouts: crate::serve::Timeouts,
    channels: std::sync::Arc<crate::delivery::Channels>,
    webhook_sender: std::sync::Arc<crate::webhooks::Sender>,
    outbox_poll: Duration,
    beats: std::sync::Arc<Heartbeats>,
    /// The HTTP figures and the listener of `TUS_METRICS_ADDR`, when set.
    metrics: Option<(
        std::sync::Arc<crate::metrics::Metrics>,
        tokio::net::TcpListener,
    )>,
    pub bootstrap: Bootstrap,
}

/// Leptos settings: from cargo-leptos' build-time values and `LEPTOS_*` variables, else the
/// workspace defaults (a plain `cargo build` or `cargo test` has no build-time values).
pub fn leptos_options() -> LeptosOptions {
    match leptos::config::get_configuration(None) {
        Ok(conf) => conf.leptos_options,
        Err(_) => {
            let addr = std::env::var("LEPTOS_SITE_ADDR")
                .ok()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)));
            let root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into());
            LeptosOptions::builder()
                .output_name("tus")
                .site_root(root)
                .site_addr(addr)
                .build()
        }
    }
}

pub async fn open_core(config: &Config) -> Result<Core, StartupError> {
    let core_config = config.core_config().map_err(StartupError::msg)?;
    Core::open(core_config)
        .await
        .map_err(|e| StartupError::msg(format!("cannot open the database: {e}")))
}

impl Application {
    /// Opens the database, runs migrations and the first-start set-up, and binds the
    /// listener (port 0 picks a free port).
    pub async fn build(
        config: &Config,
        leptos_options: LeptosOptions,
    ) -> Result<Application, StartupError> {
        let channels = crate::delivery::Channels::from_config(config).map_err(StartupError::msg)?;
        let webhook_sender = crate::webhooks::Sender::new().map_err(StartupError::msg)?;
        let core = open_core(config).await?;
        let now = Core::now();
        let bootstrap = Bootstrap {
            instance: core
                .ensure_default_instance(now)
                .await
                .map_err(StartupError::core)?,
            admin: core
                .ensure_first_admin(now, &config.admin_email, config.admin_password())
                .await
                .map_err(StartupError::core)?,
        };
        let listener = tokio::net::TcpListener::bind(leptos_options.site_addr)
            .await
            .map_err(|e| {
                StartupError::msg(format!(
                    "cannot listen on {}: {e}",
                    leptos_options.site_addr
                ))
            })?;
        let address = listener
            .local_addr()
            .map_err(|e| StartupError::msg(e.to_string()))?;
        // Without TUS_METRICS_ADDR nothing is counted: requests pay nothing for metrics.
        let metrics = match config.metrics_addr {
            Some(addr) => Some((
                std::sync::Arc::new(crate::metrics::Metrics::default()),
                tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                    StartupError::msg(format!("cannot listen on {addr} (TUS_METRICS_ADDR): {e}"))
                })?,
            )),
            None => None,
        };
        let outbox_poll = Duration::from_secs(config.outbox_poll.max(1) as u64);
        // Without a channel nothing can be queued: no e-mail and SMS worker runs.
        let beats = std::sync::Arc::new(Heartbeats::new(outbox_poll, channels.any()));
        let public_origin = config.public_origin().map_err(StartupError::msg)?;
        let router = build_router(
            AppState {
                core: core.clone(),
                leptos_options: std::sync::Arc::new(leptos_options),
            },
            metrics.as_ref().map(|(m, _)| m.clone()),
        )
        .layer(axum::Extension(api::extract::TrustForwardedFor(
            config.trust_forwarded_for,
        )))
        .layer(axum::Extension(app::ssr::session::PublicOrigin(
            public_origin,
        )))
        .layer(axum::Extension(beats.clone()));
        Ok(Application {
            listener,
            router,
            core,
            address,
            timeouts: config.timeouts(),
            channels: std::sync::Arc::new(channels),
            webhook_sender: std::sync::Arc::new(webhook_sender),
            outbox_poll,
            beats,
            metrics,
            bootstrap,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Where `/metrics` is served (`TUS_METRICS_ADDR`), if anywhere.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|(_, l)| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = tower::util::MapRequestLayer::new(api::normalize_path).layer(self.router);
        let housekeeping = tokio::spawn(housekeeping(self.core.clone()));
        let keys = tokio::spawn(follow_keys(self.core.clone()));
        // SQLite keeps no counter shards (one writer).
        let counters = (self.core.store().backend() == "postgres")
            .then(|| tokio::spawn(fold_counters(self.core.clone())));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = |which| Worker::new(stopped.clone(), self.beats.clone(), which);
        let scheduler = tokio::spawn(scheduler(
            self.core.clone(),
            self.outbox_poll,
            worker(Loop::Scheduler),
        ));
        let delivery = self.channels.any().then(|| {
            tokio::spawn(crate::delivery::run_worker(
                self.core.clone(),
                self.channels.clone(),
                self.outbox_poll,
                worker(Loop::Outbox),
            ))
        });
        let webhooks = tokio::spawn(crate::webhooks::run_worker(
            self.core.clone(),
            self.webhook_sender.clone(),
            self.outbox_poll,
            worker(Loop::Webhooks),
        ));
        let metrics = self.metrics.map(|(metrics, listener)| {
            let router = crate::metrics::router(metrics, self.core.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            })
        });
        let result = crate::serve::serve(self.listener, app, self.timeouts, shutdown).await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        housekeeping.abort();
        keys.abort();
        if let Some(counters) = counters {
            counters.abort();
        }
        scheduler.abort();
        // The delivery workers claim nothing more and finish what they hold, so a message
        // or event in flight is settled once instead of sent again after its lease.
        let _ = stop.send(true);
        let workers: Vec<_> = delivery.into_iter().chain([webhooks]).collect();
        let aborts: Vec<_> = workers.iter().map(|w| w.abort_handle()).collect();
        if tokio::time::timeout(DRAIN, futures_util::future::join_all(workers))
            .await
            .is_err()
        {
            tracing::warn!("deliveries still in flight after {DRAIN:?}: stopped; they go again after their lease");
            aborts.iter().for_each(|a| a.abort());
        }
        self.core.store().close().await;
        result
    }
}

/// How long a shutdown waits for the deliveries in flight (each attempt has its own, shorter
/// timeout). What is still unsettled then is leased, and sent again by any replica once its
/// lease runs out.
const DRAIN: Duration = Duration::from_secs(30);

/// At the outbox's poll interval: flags set for a while whose end is due go back, and each
/// instance's inactivity rule runs (at most hourly). Idle, it costs one read of the
/// `flag_ends` index and one of the instances with a rule due per tick (no write, no lock):
/// only a due end or rule opens a writing transaction.
async fn scheduler(core: Core, every: Duration, worker: Worker) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        worker.beat();
        let now = Core::now();
        match core.store().next_flag_end().await {
            Ok(Some(at)) if at <= tus_core::time::ms(now) => match core.end_due_flags(now).await {
                Ok(n) => tracing::info!(flags = n, "flags went back at their end"),
                Err(e) => tracing::warn!(error = %e, "ending due flags failed"),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading the next flag end failed"),
        }
        match core.run_inactivity_rules(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(users = n, "inactivity rules deactivated or deleted users"),
            Err(e) => tracing::warn!(error = %e, "running the inactivity rules failed"),
        }
    }
}

/// Every few seconds on PostgreSQL: the counter rows connections keep in shards of their own
/// are added into the shared one, so the users page and the overview sum one row per counter.
async fn fold_counters(core: Core) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = core.store().fold_counter_shards().await {
            tracing::warn!(error = %e, "folding the counter shards failed");
        }
    }
}

/// Every few seconds: a scheduled rotation when it is due, then the stored signing keys, so a
/// key rotated by another replica (or the CLI) is used here too, and a next key that is due
/// becomes current.
async fn follow_keys(core: Core) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        every.tick().await;
        match core.rotate_if_due(Core::now()).await {
            Ok(Some(kid)) => {
                tracing::info!(kid = %kid, "scheduled rotation: a new signing key is published")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "the scheduled key rotation failed"),
        }
        if let Err(e) = core.reload_keys(Core::now()).await {
            tracing::warn!(error = %e, "reading the signing keys failed");
        }
    }
}

/// Every ten minutes: deletes batch credentials nobody downloaded in time, the files of
/// finished imports and abandoned uploads, throttle
/// counters nobody touched for a day, login codes past their time, and events and ended
/// webhook deliveries past the retention.
async fn housekeeping(core: Core) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        match core.purge_batch_credentials(Core::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(batches = n, "expired batch credentials deleted"),
            Err(e) => tracing::warn!(error = %e, "purging batch credentials failed"),
        }
        match core.purge_import_files(Core::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(imports = n, "staged import files deleted"),
            Err(e) => tracing::warn!(error = %e, "purging staged import files failed"),
        }
        if let Err(e) = core.purge_rate_limits(Core::now()).await {
            tracing::warn!(error = %e, "purging throttle counters failed");
        }
        if let Err(e) = core.purge_login_codes(Core::now()).await {
            tracing::warn!(error = %e, "purging expired login codes failed");
        }
        match core.purge_retained(Core::now()).await {
            Ok((0, 0)) => {}
            Ok((entries, messages)) => {
                tracing::info!(
                    entries,
                    messages,
                    "audit entries and messages past the retention deleted"
                )
            }
            Err(e) => tracing::warn!(error = %e, "purging old audit entries and messages failed"),
        }
        match core.purge_events(Core::now()).await {
            Ok((0, 0)) => {}
            Ok((events, deliveries)) => {
                tracing::info!(events, deliveries, "events past the retention deleted")
            }
            Err(e) => tracing::warn!(error = %e, "purging old events failed"),
        }
    }
}

fn build_router(
    state: AppState,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
) -> Router {
    let routes = generate_route_list(App);
    let options = LeptosOptions::from_ref(&state);
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(api::router())
        .merge(crate::export::router())
        .leptos_routes_with_context(&state, routes, || {}, move || shell(options.clone()))
        .fallback(fallback)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            app::ssr::session::session_layer,
        ))
        .layer(static_asset_compression())
        .with_state(state)
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                tracing::error!("a request handler panicked");
                internal_error_response()
            },
        ))
        .layer(axum::middleware::from_fn(crate::telemetry::carry))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(crate::telemetry::request_span)
                .on_request(())
                .on_response(
                    |res: &Response<Body>, latency: Duration, span: &tracing::Span| {
                        crate::telemetry::record_status(span, res.status());
                        tracing::info!(
                            status = res.status().as_u16(),
                            ms = latency.as_millis() as u64,
                            "served"
                        );
                    },
                )
                .on_failure(DefaultOnFailure::new().level(Level::ERROR)),
        )
        .layer(tower::util::option_layer(metrics.map(|m| {
            axum::middleware::from_fn_with_state(m, crate::metrics::track)
        })))
        .layer(axum::middleware::from_fn(
            app::ssr::headers::transport_security,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// The front end's WASM, JavaScript and CSS go out compressed (brotli or gzip, whichever
/// the browser takes): the release WASM is 1.5 MB as built and about a third of that on
/// the wire. Nothing else is compressed: pages and API answers carry tokens and CSRF
/// values next to what a client sent, which compression would let an observer of sizes
/// guess (BREACH). Quality 5 keeps a cold WASM response to tens of milliseconds; browsers
/// revalidate it (ETag) rather than fetch it again.
fn static_asset_compression() -> CompressionLayer<impl Predicate> {
    let static_asset = |_: StatusCode, _: Version, headers: &HeaderMap, _: &Extensions| {
        headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| {
                [
                    "application/wasm",
                    "text/javascript",
                    "application/javascript",
                    "text/css",
                ]
                .iter()
                .any(|kind| t.starts_with(kind))
            })
    };
    CompressionLayer::new()
        .quality(CompressionLevel::Precise(5))
        .compress_when(static_asset)
}

/// Unknown `/v1` paths get the envelope; everything else is a static file or the app's
/// not-found page.
async fn fallback(
    State(state): State<AppState>,
    uri: Uri,
    req: Request,
) -> axum::response::Response {
    if api::is_api_path(uri.path()) {
        return ApiError::NotFound.into_response();
    }
    leptos_axum::file_and_error_handler::<AppState, _>(shell)(uri, State(state), req).await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}

/// Why the service could not start: a message for the operator.
#[derive(Debug)]
pub struct StartupError(String);

impl StartupError {
    pub fn msg(m: impl Into<String>) -> Self {
        StartupError(m.into())
    }
    fn core(e: tus_core::CoreError) -> Self {
        StartupError(e.to_string())
    }
}

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartupError {}
