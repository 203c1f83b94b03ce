//! Benchmarks of the REST API through real servers on loopback, release build:
//!
//!     bash .ci/bench api  # = .ci/postgres, then cargo run --release -p server --example bench
//!
//! Each beside the lean reference of `reference/` (the same SQL work and signing, nothing
//! else), with the ratio. Three set-ups measured side by side in one run: SQLite with one process, PostgreSQL with
//! one replica, PostgreSQL with two replicas (requests alternate between them). Each starts
//! on a fresh scratch database with the same `Application::build` as `tus serve`, driven
//! over HTTP from this process. Figures go to the `api` section of server/BENCHMARKS.md. Bounded: a fixed
//! number of requests, loopback only. `TUS_BENCH_POSTGRES` is the admin URL of the
//! PostgreSQL server (default: the one .ci/postgres starts); `sqlite-only` skips it.
//! `TUS_BENCH_ONLY` keeps the set-ups whose name contains it (e.g. `PostgreSQL, 1`).

mod common;
mod reference;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use common::{percentile, throughput};
use serde_json::{json, Value};
use tus_core::store::scratch::ScratchDatabase;

const CREATE_MANY_RUNS: usize = 3;
const CREATE_MANY_QUANTITY: usize = 10_000;
/// Requests per token-path phase (`TUS_BENCH_REQUESTS` changes it, e.g. to profile longer).
fn single_requests() -> usize {
    common::env_size("TUS_BENCH_REQUESTS", 2_000)
}
/// Rounds of ours beside the reference per set-up (`TUS_BENCH_ROUNDS` changes it): one
/// phase lasts well under a second, so a single pair moves with the machine's moment.
fn rounds() -> usize {
    common::env_size("TUS_BENCH_ROUNDS", 5).max(1)
}
/// As in issue 19's measurement: 32 clients in a closed loop (`TUS_BENCH_CLIENTS` changes it).
fn concurrency() -> usize {
    common::env_size("TUS_BENCH_CLIENTS", 32)
}

struct Target {
    bases: Vec<String>,
    id: String,
    key: String,
    client: reqwest::Client,
    /// The release binaries serving `bases`, when they are processes of their own.
    _processes: Vec<common::Binary>,
    /// The servers in this process serving `bases`: they stop with the target.
    _servers: Vec<common::Server>,
}

impl Target {
    /// Request `i` goes to replica `i % n`, as a round-robin load balancer would send it.
    async fn post(&self, i: usize, path: &str, body: &Value, instance: bool) -> Value {
        self.send(i, path, body, instance)
            .await
            .json()
            .await
            .expect("json")
    }

    /// Sends request `i` and checks that it succeeded; the body is still to be read.
    async fn send(&self, i: usize, path: &str, body: &Value, instance: bool) -> reqwest::Response {
        let base = &self.bases[i % self.bases.len()];
        let mut req = self.client.post(format!("{base}{path}")).json(body);
        if instance {
            req = req
                .header("InstanceId", &self.id)
                .header("InstanceKey", &self.key);
        }
        let res = req.send().await.expect("request");
        assert_eq!(res.status(), 200, "{path}");
        res
    }
}

/// `replicas` servers on `db`; with `metrics`, each serves Prometheus metrics (and so
/// counts and times every request).
async fn start_replicas(db: &ScratchDatabase, replicas: usize, metrics: bool) -> Target {
    let mut bases = Vec::new();
    let mut instance = None;
    let mut servers = Vec::new();
    for _ in 0..replicas {
        let server = common::start_with(db, |c| {
            if metrics {
                c.metrics_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
            }
        })
        .await;
        instance = instance.or(server.instance.clone());
        bases.push(server.base.clone());
        servers.push(server);
    }
    let instance = instance.expect("the first replica created the instance");
    Target {
        bases,
        id: instance.id.to_string(),
        key: instance.key.expose().to_string(),
        client: reqwest::Client::new(),
        _processes: Vec::new(),
        _servers: servers,
    }
}

/// `replicas` release binaries (`target/release/tus serve`) on `db`, with `env` besides.
async fn start_binaries(db: &ScratchDatabase, replicas: usize, env: &[(&str, &str)]) -> Target {
    // The pool the in-process servers have (`common::start_with`).
    let env = [&[("TUS_DB_MAX_CONNECTIONS", "16")], env].concat();
    let mut processes = Vec::new();
    for _ in 0..replicas {
        processes.push(common::Binary::start(&db.url, &env).await);
    }
    let (id, key) = processes[0]
        .instance
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the first replica's banner names the instance");
    Target {
        bases: processes.iter().map(|p| p.base.clone()).collect(),
        id,
        key,
        client: reqwest::Client::new(),
        _processes: processes,
        _servers: Vec::new(),
    }
}

/// A local OTLP/HTTP receiver (`POST /v1/traces`, protobuf): counts the spans it is sent.
async fn span_sink() -> (Arc<AtomicUsize>, String) {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    let spans = Arc::new(AtomicUsize::new(0));
    let counted = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let counted = counted.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let n: usize = request
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum();
                counted.fetch_add(n, Ordering::Relaxed);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (spans, url)
}

/// The token path on the release binaries with traces off, then on (exported to a local
/// receiver), each on a fresh database: (off, on, spans received per request).
async fn traces_off_and_on(backend: &str, replicas: usize) -> (Figures, Figures, f64) {
    let db = ScratchDatabase::create(backend)
        .await
        .expect("scratch database");
    let (create, refresh) = token_path(&start_binaries(&db, replicas, &[]).await).await;
    let off = Figures::of(create, refresh);
    let (spans, sink) = span_sink().await;
    let db = ScratchDatabase::create(backend)
        .await
        .expect("scratch database");
    let target = start_binaries(&db, replicas, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &sink)]).await;
    let (create, refresh) = token_path(&target).await;
    // The exporter sends what is batched every 5 s.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    let on = Figures::of(create, refresh);
    let requests = 2 * single_requests();
    (
        off,
        on,
        spans.load(Ordering::Relaxed) as f64 / requests as f64,
    )
}

/// The token path's figures: requests/s, p50 and p99 (ms), and what each request cost this
/// process (the client and, unless the servers are binaries of their own, the servers): CPU
/// µs and context switches.
#[derive(Clone, Copy)]
struct Rate {
    rps: f64,
    p50: f64,
    p99: f64,
    cpu_us: f64,
    switches: f64,
    /// What each request cost the local PostgreSQL server's processes, CPU µs (next to
    /// nothing on SQLite).
    postgres_cpu_us: f64,
}

/// Runs one token-path phase of `n` requests and measures it.
async fn phase<F, Fut>(n: usize, make: F) -> Rate
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (cpu, switches) = common::process_usage();
    let postgres = common::postgres_cpu();
    let (rps, p50, p99) = throughput(n, concurrency(), make).await;
    let (cpu_after, switches_after) = common::process_usage();
    let postgres_after = common::postgres_cpu();
    let per_request = |d: std::time::Duration| d.as_secs_f64() * 1e6 / n as f64;
    Rate {
        rps,
        p50,
        p99,
        cpu_us: per_request(cpu_after - cpu),
        switches: (switches_after - switches) as f64 / n as f64,
        postgres_cpu_us: per_request(postgres_after.saturating_sub(postgres)),
    }
}

struct Figures {
    /// `CreateMany` (ours only): median and minimum ms.
    create_many: Option<(f64, f64)>,
    create: Rate,
    refresh: Rate,
    /// Ours with metrics on (`TUS_METRICS_ADDR`): the token path.
    with_metrics: Option<Box<Figures>>,
    /// The release binary's token path with traces off, on, and the spans it exported per
    /// request.
    traces: Option<Box<(Figures, Figures, f64)>>,
}

impl Figures {
    /// The token path's figures alone.
    fn of(create: Rate, refresh: Rate) -> Figures {
        Figures {
            create_many: None,
            create,
            refresh,
            with_metrics: None,
            traces: None,
        }
    }
}

/// `single_requests()` registrations, then one refresh of each pair they gave.
async fn token_path(target: &Target) -> (Rate, Rate) {
    let pairs: Vec<std::sync::OnceLock<Value>> =
        (0..single_requests()).map(|_| Default::default()).collect();
    let create = phase(single_requests(), |i| {
        let slot = &pairs[i];
        async move {
            let r = target
                .post(i, "/v1/Registration/Create", &json!({}), true)
                .await;
            let _ = slot.set(r["Result"].clone());
        }
    })
    .await;
    let pairs: Vec<Value> = pairs.into_iter().map(|p| p.into_inner().unwrap()).collect();
    let refresh = phase(single_requests(), |i| {
        let body = json!({"AccessToken": pairs[i]["AccessToken"]["Token"], "RefreshToken": pairs[i]["RefreshToken"]});
        async move {
            target.post(i, "/v1/Auth/RefreshToken", &body, false).await;
        }
    })
    .await;
    (create, refresh)
}

/// `CreateMany` of `CREATE_MANY_QUANTITY` users, `CREATE_MANY_RUNS` times: median and
/// minimum ms.
async fn create_many(target: &Target) -> (f64, f64) {
    let mut samples = Vec::new();
    for run in 0..CREATE_MANY_RUNS {
        // Timed until the answer's last byte has arrived, as `curl`'s total time is; the
        // client's parsing of its 10 MB (in this process, on the server's cores) is not.
        let t = Instant::now();
        let body = target
            .send(
                run,
                "/v1/Registration/CreateMany",
                &json!({"Quantity": CREATE_MANY_QUANTITY}),
                true,
            )
            .await
            .bytes()
            .await
            .expect("the answer");
        samples.push(t.elapsed());
        let r: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            r["Result"]["Results"].as_array().unwrap().len(),
            CREATE_MANY_QUANTITY
        );
    }
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.0))
}

/// The token path of the lean reference (server/examples/reference) on its own scratch
/// database of the same backend, with as many replicas.
async fn reference_token_path(backend: &str, replicas: usize) -> (Rate, Rate) {
    let db = ScratchDatabase::create(backend)
        .await
        .expect("scratch database");
    let (id, key) = (uuid_text(), uuid_text());
    let mut bases = Vec::new();
    for _ in 0..replicas {
        bases.push(reference::start(&db.url, &id, &key).await);
    }
    let target = Target {
        bases,
        id,
        key,
        client: reqwest::Client::new(),
        _processes: Vec::new(),
        _servers: Vec::new(),
    };
    token_path(&target).await
}

/// Ours and the reference, `rounds()` times each, every phase on a fresh database, in turn
/// and in alternating order (the reference first in the first, third, … round) so neither always runs on a
/// machine the other warmed up or slowed down. Ours also measures `CreateMany` once, after
/// its first round's token path. Answers ours and the reference, each with the round whose
/// ours ÷ reference is the median, per request kind, and every round's ratios.
async fn rounds_side_by_side(backend: &str, replicas: usize) -> (Figures, Figures, Ratios) {
    let mut ours: Vec<(Rate, Rate)> = Vec::new();
    let mut lean: Vec<(Rate, Rate)> = Vec::new();
    let mut many = None;
    for round in 0..rounds() {
        for reference_turn in [round % 2 == 0, round % 2 == 1] {
            if reference_turn {
                eprintln!("  round {}: the lean reference", round + 1);
                lean.push(reference_token_path(backend, replicas).await);
            } else {
                eprintln!("  round {}: ours", round + 1);
                let db = ScratchDatabase::create(backend)
                    .await
                    .expect("scratch database");
                let target = start_replicas(&db, replicas, false).await;
                ours.push(token_path(&target).await);
                if many.is_none() {
                    many = Some(create_many(&target).await);
                }
            }
        }
    }
    let ratios = |pick: fn(&(Rate, Rate)) -> Rate| -> Vec<f64> {
        ours.iter()
            .zip(&lean)
            .map(|(o, l)| pick(o).rps / pick(l).rps)
            .collect()
    };
    let creates = ratios(|p| p.0);
    let refreshes = ratios(|p| p.1);
    let (c, r) = (median_index(&creates), median_index(&refreshes));
    let ours_figures = Figures {
        create_many: many,
        ..Figures::of(ours[c].0, ours[r].1)
    };
    let lean_figures = Figures::of(lean[c].0, lean[r].1);
    (ours_figures, lean_figures, Ratios { creates, refreshes })
}

/// Every round's ours ÷ reference, in round order.
struct Ratios {
    creates: Vec<f64>,
    refreshes: Vec<f64>,
}

/// The index of `values`' median (the lower one of an even count).
fn median_index(values: &[f64]) -> usize {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    order[(values.len() - 1) / 2]
}

fn uuid_text() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::main]
async fn main() {
    let pg = common::postgres_url();
    let mut setups: Vec<(&str, String, usize)> = vec![("SQLite, 1 process", "sqlite".into(), 1)];
    if pg != "sqlite-only" {
        setups.push(("PostgreSQL, 1 replica", pg.clone(), 1));
        setups.push(("PostgreSQL, 2 replicas", pg, 2));
    }
    // `TUS_BENCH_ONLY=PostgreSQL` (or any part of a set-up's name) measures only those.
    if let Ok(only) = std::env::var("TUS_BENCH_ONLY") {
        setups.retain(|(name, _, _)| name.contains(only.as_str()));
    }
    let mut columns = Vec::new();
    for (name, backend, replicas) in setups {
        eprintln!("measuring: {name}, ours and the lean reference in turn");
        let (mut ours, lean, ratios) = rounds_side_by_side(&backend, replicas).await;
        eprintln!("measuring: {name}, ours with metrics on");
        let db = ScratchDatabase::create(&backend)
            .await
            .expect("scratch database");
        let target = start_replicas(&db, replicas, true).await;
        let (create, refresh) = token_path(&target).await;
        ours.with_metrics = Some(Box::new(Figures::of(create, refresh)));
        eprintln!("measuring: {name}, the release binary with traces off, then on");
        ours.traces = Some(Box::new(traces_off_and_on(&backend, replicas).await));
        columns.push((name, ours, lean, ratios));
    }

    let mut r = format!(
        "Written by `bash .ci/bench api` (`cargo run --release -p server --example bench`). \
         Ours beside the lean reference of server/examples/reference (axum; rusqlite with \
         one WAL writer connection, or a sqlx PostgreSQL pool; the same rows and signing per \
         request and nothing else), each on a fresh database, measured in turn in one run by the \
         same closed-loop client: {} rounds per set-up, the reference first in odd rounds and \
         ours first in even ones. The rows \"ours\" and \"lean reference\" are the round whose \
         ours ÷ reference is the median, for each request kind; the ratio row lists every \
         round's too. `CreateMany` is measured on ours after its first round. The servers run in the benchmark's own process \
         and share its cores with the client and PostgreSQL, so these figures compare set-ups \
         on one small machine; they are not a capacity plan. {} requests per \
         row, {} in flight; with two replicas requests alternate between them. \
         \"With metrics on\": the token path again, on another fresh database, with \
         `TUS_METRICS_ADDR` set (every request counted and timed). \"Release binary, traces \
         off / on\": `target/release/tus serve` as processes of their own, each on a fresh \
         database, without and then with `OTEL_EXPORTER_OTLP_ENDPOINT` (a span per request and \
         per transaction, batched to a local OTLP/HTTP receiver in this process). \
         \"CPU time per request of the PostgreSQL server's processes\": every process of \
         this machine named `postgres` (backends and background alike, from \
         `/proc/<pid>/schedstat`) over the phase, divided by its requests: the work the \
         database did for each, which the machine's speed of the moment moves much less \
         than the throughput.\n\n",
        rounds(),
        single_requests(),
        concurrency()
    );
    r.push_str("| measure |");
    for (name, _, _, _) in &columns {
        r.push_str(&format!(" {name} |"));
    }
    r.push_str("\n|---|");
    for _ in &columns {
        r.push_str("---|");
    }
    r.push('\n');
    let mut row = |label: &str, cell: &dyn Fn(&Figures, &Figures, &Ratios) -> String| {
        r.push_str(&format!("| {label} |"));
        for (_, ours, lean, ratios) in &columns {
            r.push_str(&format!(" {} |", cell(ours, lean, ratios)));
        }
        r.push('\n');
    };
    let many = |f: &Figures| f.create_many.expect("ours measures CreateMany");
    row(&format!("CreateMany, Quantity {CREATE_MANY_QUANTITY} with tokens, to the last byte (median of {CREATE_MANY_RUNS}; min; goal ≤ 250 ms on SQLite)"), &|f, _, _| {
        let (median, min) = many(f);
        format!("{median:.0} ms; {min:.0} ms")
    });
    row("CreateMany throughput at the median", &|f, _, _| {
        format!(
            "{:.0} users/s",
            CREATE_MANY_QUANTITY as f64 / (many(f).0 / 1000.0)
        )
    });
    let rate = |r: &Rate| {
        format!(
            "{:.0} req/s (p50 {:.1} ms, p99 {:.1} ms)",
            r.rps, r.p50, r.p99
        )
    };
    type Pick = fn(&Figures) -> Rate;
    type PickRatios = fn(&Ratios) -> &Vec<f64>;
    for (label, pick, pick_ratios) in [
        (
            "Registration/Create",
            (|f: &Figures| f.create) as Pick,
            (|r: &Ratios| &r.creates) as PickRatios,
        ),
        (
            "Auth/RefreshToken",
            |f: &Figures| f.refresh,
            |r: &Ratios| &r.refreshes,
        ),
    ] {
        row(&format!("{label}: ours"), &|f, _, _| rate(&pick(f)));
        row(
            &format!("{label}: ours with metrics on (`TUS_METRICS_ADDR`)"),
            &|f, _, _| {
                let on = pick(f.with_metrics.as_deref().expect("ours with metrics"));
                format!(
                    "{} ({:+.0} %)",
                    rate(&on),
                    (on.rps / pick(f).rps - 1.0) * 100.0
                )
            },
        );
        let traces = |f: &Figures| -> (Rate, Rate) {
            let t = f.traces.as_deref().expect("the traces phase");
            (pick(&t.0), pick(&t.1))
        };
        row(
            &format!("{label}: release binary, traces off"),
            &|f, _, _| rate(&traces(f).0),
        );
        row(
            &format!("{label}: release binary, traces on (`OTEL_EXPORTER_OTLP_ENDPOINT`)"),
            &|f, _, _| {
                let (off, on) = traces(f);
                format!("{} ({:+.0} %)", rate(&on), (on.rps / off.rps - 1.0) * 100.0)
            },
        );
        row(&format!("{label}: lean reference"), &|_, l, _| {
            rate(&pick(l))
        });
        row(
            &format!(
                "{label}: ours ÷ reference (goal ≥ 0.9): the median round (every round, in \
                 order)"
            ),
            &|f, l, ratios| {
                let each: Vec<String> = pick_ratios(ratios)
                    .iter()
                    .map(|x| format!("{x:.2}"))
                    .collect();
                format!("**{:.2}** ({})", pick(f).rps / pick(l).rps, each.join(", "))
            },
        );
        row(
            &format!(
                "{label}: CPU time and context switches per request, this process \
                 (client included): ours; reference"
            ),
            &|f, l, _| {
                let (o, r) = (pick(f), pick(l));
                format!(
                    "{:.0} µs, {:.1}; {:.0} µs, {:.1}",
                    o.cpu_us, o.switches, r.cpu_us, r.switches
                )
            },
        );
        row(
            &format!(
                "{label}: CPU time per request of the PostgreSQL server's processes: ours; \
                 reference"
            ),
            &|f, l, _| {
                let (o, r) = (pick(f), pick(l));
                // On SQLite only an idle local PostgreSQL's background processes are seen.
                if o.postgres_cpu_us < 1.0 && r.postgres_cpu_us < 1.0 {
                    return "—".into();
                }
                format!("{:.0} µs; {:.0} µs", o.postgres_cpu_us, r.postgres_cpu_us)
            },
        );
    }

    row(
        "Spans the receiver got per request, traces on",
        &|f, _, _| format!("{:.2}", f.traces.as_deref().expect("the traces phase").2),
    );
    common::write_section("api", "Registration and refresh", &r);
}
