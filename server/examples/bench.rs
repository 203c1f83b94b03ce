//! Benchmarks of the REST API through real servers on loopback, release build:
//!
//!     bash .ci/bench api  # = .ci/postgres, then cargo run --release -p server --example bench
//!
//! Three set-ups measured side by side in one run: SQLite with one process, PostgreSQL with
//! one replica, PostgreSQL with two replicas (requests alternate between them). Each starts
//! on a fresh scratch database with the same `Application::build` as `tus serve`, driven
//! over HTTP from this process. Figures go to the `api` section of server/BENCHMARKS.md. Bounded: a fixed
//! number of requests, loopback only. `TUS_BENCH_POSTGRES` is the admin URL of the
//! PostgreSQL server (default: the one .ci/postgres starts); `sqlite-only` skips it.

mod common;

use std::time::Instant;

use common::{percentile, throughput};
use serde_json::{json, Value};
use tus_core::store::scratch::ScratchDatabase;

const CREATE_MANY_RUNS: usize = 3;
const CREATE_MANY_QUANTITY: usize = 10_000;
const SINGLE_REQUESTS: usize = 2_000;
const CONCURRENCY: usize = 16;

struct Target {
    bases: Vec<String>,
    id: String,
    key: String,
    client: reqwest::Client,
}

impl Target {
    /// Request `i` goes to replica `i % n`, as a round-robin load balancer would send it.
    async fn post(&self, i: usize, path: &str, body: &Value, instance: bool) -> Value {
        let base = &self.bases[i % self.bases.len()];
        let mut req = self.client.post(format!("{base}{path}")).json(body);
        if instance {
            req = req
                .header("InstanceId", &self.id)
                .header("InstanceKey", &self.key);
        }
        let res = req.send().await.expect("request");
        assert_eq!(res.status(), 200, "{path}");
        res.json().await.expect("json")
    }
}

struct Figures {
    create_many_ms: f64,
    create_many_min_ms: f64,
    create_rps: f64,
    create_p50: f64,
    create_p99: f64,
    refresh_rps: f64,
    refresh_p50: f64,
    refresh_p99: f64,
}

async fn start_replicas(db: &ScratchDatabase, replicas: usize) -> Target {
    let mut bases = Vec::new();
    let mut instance = None;
    for _ in 0..replicas {
        let server = common::start(db).await;
        instance = instance.or(server.instance);
        bases.push(server.base);
    }
    let instance = instance.expect("the first replica created the instance");
    Target {
        bases,
        id: instance.id.to_string(),
        key: instance.key.expose().to_string(),
        client: reqwest::Client::new(),
    }
}

async fn measure(target: &Target) -> Figures {
    let mut samples = Vec::new();
    for run in 0..CREATE_MANY_RUNS {
        let t = Instant::now();
        let r = target
            .post(
                run,
                "/v1/Registration/CreateMany",
                &json!({"Quantity": CREATE_MANY_QUANTITY}),
                true,
            )
            .await;
        samples.push(t.elapsed());
        assert_eq!(
            r["Result"]["Results"].as_array().unwrap().len(),
            CREATE_MANY_QUANTITY
        );
    }
    samples.sort();
    let (create_rps, create_p50, create_p99) =
        throughput(SINGLE_REQUESTS, CONCURRENCY, |i| async move {
            target
                .post(i, "/v1/Registration/Create", &json!({}), true)
                .await;
        })
        .await;
    let batch = target
        .post(
            0,
            "/v1/Registration/CreateMany",
            &json!({"Quantity": SINGLE_REQUESTS}),
            true,
        )
        .await;
    let pairs: Vec<Value> = batch["Result"]["Results"].as_array().unwrap().clone();
    let (refresh_rps, refresh_p50, refresh_p99) = throughput(SINGLE_REQUESTS, CONCURRENCY, |i| {
        let body = json!({"AccessToken": pairs[i]["AccessToken"]["Token"], "RefreshToken": pairs[i]["RefreshToken"]});
        async move {
            target.post(i, "/v1/Auth/RefreshToken", &body, false).await;
        }
    })
    .await;
    Figures {
        create_many_ms: percentile(&samples, 0.5),
        create_many_min_ms: percentile(&samples, 0.0),
        create_rps,
        create_p50,
        create_p99,
        refresh_rps,
        refresh_p50,
        refresh_p99,
    }
}

#[tokio::main]
async fn main() {
    let pg = common::postgres_url();
    let mut setups: Vec<(&str, String, usize)> = vec![("SQLite, 1 process", "sqlite".into(), 1)];
    if pg != "sqlite-only" {
        setups.push(("PostgreSQL, 1 replica", pg.clone(), 1));
        setups.push(("PostgreSQL, 2 replicas", pg, 2));
    }
    let mut columns = Vec::new();
    for (name, backend, replicas) in setups {
        eprintln!("measuring: {name}");
        let db = ScratchDatabase::create(&backend)
            .await
            .expect("scratch database");
        let target = start_replicas(&db, replicas).await;
        columns.push((name, measure(&target).await));
    }

    let mut r = format!(
        "Written by `bash .ci/bench api` (`cargo run --release -p server --example bench`). \
         The replicas run in the benchmark's own process and share its cores with the client \
         and PostgreSQL, so these figures compare set-ups on one small machine; they are not a \
         capacity plan. {SINGLE_REQUESTS} requests per row, {CONCURRENCY} in flight; with two \
         replicas requests alternate between them.\n\n"
    );
    r.push_str("| measure |");
    for (name, _) in &columns {
        r.push_str(&format!(" {name} |"));
    }
    r.push_str("\n|---|");
    for _ in &columns {
        r.push_str("---|");
    }
    r.push('\n');
    let mut row = |label: &str, cell: &dyn Fn(&Figures) -> String| {
        r.push_str(&format!("| {label} |"));
        for (_, f) in &columns {
            r.push_str(&format!(" {} |", cell(f)));
        }
        r.push('\n');
    };
    row(&format!("CreateMany, Quantity {CREATE_MANY_QUANTITY} with tokens (median of {CREATE_MANY_RUNS}; min)"), &|f| {
        format!("{:.0} ms; {:.0} ms", f.create_many_ms, f.create_many_min_ms)
    });
    row("CreateMany throughput at the median", &|f| {
        format!(
            "{:.0} users/s",
            CREATE_MANY_QUANTITY as f64 / (f.create_many_ms / 1000.0)
        )
    });
    row("Registration/Create", &|f| {
        format!(
            "{:.0} req/s (p50 {:.1} ms, p99 {:.1} ms)",
            f.create_rps, f.create_p50, f.create_p99
        )
    });
    row("Auth/RefreshToken", &|f| {
        format!(
            "{:.0} req/s (p50 {:.1} ms, p99 {:.1} ms)",
            f.refresh_rps, f.refresh_p50, f.refresh_p99
        )
    });

    common::write_section("api", "Registration and refresh", &r);
}
