//! Prometheus metrics, on a listener of their own (`TUS_METRICS_ADDR`, unset by default: an
//! operator opens it where only the scraper reaches it; nothing here is served on the
//! public port).
//!
//! Invariants:
//! - Label values come from bounded sets only: a route's template (never the path a client
//!   sent: unknown paths are `unmatched`), a known method or `OTHER`, a status code, and
//!   names the core defines (sources, audit actions, flags, message kinds and states).
//!   Nothing a client sends can add a series.
//! - Nothing secret or personal is a label or a value: no DeviceToken, token, address or
//!   e-mail.
//! - A scrape reads the core's tallies (memory) and its readings (a few small queries), so
//!   its cost does not grow with the users; if the database does not answer, the scrape
//!   still answers, with `tus_database_up 0`.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tus_core::Core;

type Labels = Vec<(&'static str, String)>;

fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The HTTP figures the middleware keeps; everything else is read at each scrape.
#[derive(Debug)]
pub struct Metrics {
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        }
    }
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// A request's method as a label: a standard one, or `OTHER` (so no client adds a series).
pub fn method_label(method: &http::Method) -> &'static str {
    METHODS
        .into_iter()
        .find(|m| *m == method.as_str())
        .unwrap_or("OTHER")
}

/// Counts and times every request by route template, method and status.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = method_label(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics
        .latency
        .get_or_create(&labels([("route", &route), ("method", method)]))
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&labels([
            ("route", &route),
            ("method", method),
            ("status", &status),
        ]))
        .inc();
    response
}

/// The metrics listener's router: `GET /metrics`.
pub fn router(metrics: Arc<Metrics>, core: Core) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state((metrics, core))
}

async fn scrape(State((metrics, core)): State<(Arc<Metrics>, Core)>) -> Response {
    match metrics.render(&core).await {
        Ok(body) => (
            [(
                CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding the metrics failed");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A family of gauges set once per scrape.
fn gauges(
    registry: &mut Registry,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (Labels, i64)>,
) {
    let family = Family::<Labels, Gauge>::default();
    for (l, v) in values {
        family.get_or_create(&l).set(v);
    }
    registry.register(name, help, family);
}

/// A family of counters at the values the core tallied.
fn counters(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label: &'static str,
    values: Vec<(&'static str, u64)>,
) {
    let family = Family::<Labels, Counter>::default();
    for (l, v) in values {
        family.get_or_create(&labels([(label, l)])).inc_by(v);
    }
    registry.register(name, help, family);
}

impl Metrics {
    /// The OpenMetrics text of everything (see the module invariants).
    pub async fn render(&self, core: &Core) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::default();
        registry.register(
            "tus_http_requests",
            "HTTP requests answered, by route template, method and status",
            self.requests.clone(),
        );
        registry.register(
            "tus_http_request_duration_seconds",
            "Time to answer HTTP requests, by route template and method",
            self.latency.clone(),
        );
        counters(
            &mut registry,
            "tus_tokens_issued",
            "Token pairs issued by this process, by source",
            "source",
            core.tallies().issued_by_source(),
        );
        counters(
            &mut registry,
            "tus_security_events",
            "Refresh-token reuse, failed logins and throttled attempts seen by this process, \
             by audit action",
            "action",
            core.tallies().security_events(),
        );
        let version = env!("CARGO_PKG_VERSION");
        let backend = core.store().backend();
        gauges(
            &mut registry,
            "tus_build_info",
            "The running build: its version and database backend",
            [(labels([("version", version), ("backend", backend)]), 1)],
        );
        let pools = core.store().pool_usage();
        gauges(
            &mut registry,
            "tus_db_connections",
            "Open database connections of this process, by pool and state (in_use, idle)",
            pools.iter().flat_map(|p| {
                let idle = p.idle as i64;
                [
                    (
                        labels([("pool", p.pool), ("state", "in_use")]),
                        i64::from(p.open) - idle,
                    ),
                    (labels([("pool", p.pool), ("state", "idle")]), idle),
                ]
            }),
        );
        gauges(
            &mut registry,
            "tus_db_pool_waiting",
            "Tasks of this process waiting for a connection from each pool",
            pools
                .iter()
                .map(|p| (labels([("pool", p.pool)]), p.waiting as i64)),
        );
        let waited = Family::<Labels, Counter<f64, AtomicU64>>::default();
        for p in &pools {
            waited
                .get_or_create(&labels([("pool", p.pool)]))
                .inc_by(p.waited.as_secs_f64());
        }
        registry.register(
            "tus_db_pool_wait_seconds",
            "Time the tasks of this process have waited for a connection from each pool, \
             added up (its rate is the average number waiting)",
            waited,
        );
        gauges(
            &mut registry,
            "tus_db_connections_max",
            "The most connections each pool of this process opens",
            pools
                .iter()
                .map(|p| (labels([("pool", p.pool)]), i64::from(p.max))),
        );
        let readings = core.readings().await;
        let up = Gauge::<i64>::default();
        up.set(i64::from(readings.is_ok()));
        registry.register(
            "tus_database_up",
            "1 when the database answered this scrape's readings",
            up,
        );
        match readings {
            Ok(r) => self::readings(&mut registry, &r),
            Err(e) => tracing::warn!(error = %e, "metrics: reading the database failed"),
        }
        let mut out = String::new();
        encode(&mut out, &registry)?;
        Ok(out)
    }
}

/// The gauges of the database's state.
fn readings(registry: &mut Registry, r: &tus_core::metrics::Readings) {
    let now = tus_core::time::ms(Core::now());
    gauges(
        registry,
        "tus_users",
        "Users, by status (from the counters, every instance)",
        [
            (labels([("status", "Active")]), r.active_users),
            (labels([("status", "Deactivated")]), r.deactivated_users),
        ],
    );
    gauges(
        registry,
        "tus_users_flag_on",
        "Users with each telematics flag on, by its API name",
        r.flags_on.iter().map(|(f, n)| (labels([("flag", f)]), *n)),
    );
    let backlog =
        |b: &tus_core::metrics::OutboxBacklog| labels([("kind", &b.kind), ("state", &b.state)]);
    gauges(
        registry,
        "tus_outbox_messages",
        "Messages (email, sms, webhook) queued, being sent or failed, by kind and state",
        r.outbox.iter().map(|b| (backlog(b), b.messages)),
    );
    gauges(
        registry,
        "tus_outbox_oldest_age_seconds",
        "Age of the oldest message in each kind and state (0 when there is none)",
        r.outbox.iter().map(|b| {
            let age = match b.messages {
                0 => 0,
                _ => (now - b.oldest_created_at).max(0) / 1000,
            };
            (backlog(b), age)
        }),
    );
    let runs = [("create", &r.batches), ("import", &r.imports)];
    let per_kind = |pick: fn(&tus_core::metrics::Running) -> i64| {
        runs.map(|(kind, run)| (labels([("kind", kind)]), pick(run)))
    };
    gauges(
        registry,
        "tus_batches_running",
        "Dashboard batches (create) and imports (import) running",
        per_kind(|r| r.runs),
    );
    gauges(
        registry,
        "tus_batch_rows_done",
        "Users (rows) the running batches and imports have done",
        per_kind(|r| r.done),
    );
    gauges(
        registry,
        "tus_batch_rows",
        "Users (rows) the running batches and imports hold in all",
        per_kind(|r| r.total),
    );
}
