//! Benchmarks of the REST API through a real server on loopback, release build:
//!
//!     cargo run --release -p server --example bench            # or: bash .ci/bench
//!
//! Starts the application in-process (the same `Application::build` as `tus serve`) on a
//! fresh SQLite database, drives it over HTTP, and writes the figures to
//! server/BENCHMARKS.md. Bounded: a fixed number of requests, loopback only.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use leptos::config::LeptosOptions;
use serde_json::{json, Value};
use server::config::Config;
use server::startup::Application;

const CREATE_MANY_RUNS: usize = 5;
const CREATE_MANY_QUANTITY: usize = 10_000;
const SINGLE_REQUESTS: usize = 2_000;
const CONCURRENCY: usize = 16;

struct Target {
    base: String,
    id: String,
    key: String,
    client: reqwest::Client,
}

impl Target {
    async fn post(&self, path: &str, body: &Value, instance: bool) -> Value {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(body);
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

fn summary(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pct = |p: f64| ms(samples[((samples.len() as f64 - 1.0) * p).round() as usize]);
    (pct(0.5), pct(0.99), ms(*samples.last().unwrap()))
}

/// Runs `n` requests with `CONCURRENCY` in flight; returns (requests/s, latencies).
async fn throughput<F, Fut>(n: usize, make: F) -> (f64, Vec<Duration>)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = Instant::now();
    let latencies: Vec<Duration> = stream::iter(0..n)
        .map(|i| {
            let fut = make(i);
            async move {
                let t = Instant::now();
                fut.await;
                t.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    (n as f64 / start.elapsed().as_secs_f64(), latencies)
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("tus-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = Config::defaults();
    config.database_url = format!("sqlite://{}/tus.db", dir.display());
    config.admin_password = Some("bench admin password".into());
    let options = LeptosOptions::builder()
        .output_name("tus")
        .site_addr(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .build();
    let app = Application::build(&config, options).await.expect("app");
    let instance = app.bootstrap.instance.as_ref().unwrap().instance.clone();
    let target = Target {
        base: format!("http://{}", app.address()),
        id: instance.id.to_string(),
        key: instance.key.expose().to_string(),
        client: reqwest::Client::new(),
    };
    tokio::spawn(app.run_until(std::future::pending()));

    let mut report = String::new();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    report.push_str("# Benchmarks\n\nWritten by `bash .ci/bench` (`cargo run --release -p server --example bench`).\n");
    report.push_str(&format!(
        "Release build, SQLite, one `tus` process driven over loopback HTTP; {cores} cores; commit {commit}; {}.\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    ));

    // CreateMany(10,000) with tokens, one transaction each.
    let mut samples = Vec::new();
    for _ in 0..CREATE_MANY_RUNS {
        let t = Instant::now();
        let r = target
            .post(
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
    let (p50, _, max) = summary(samples.clone());
    let min = samples.iter().min().unwrap().as_secs_f64() * 1000.0;
    report.push_str("| what | figure |\n|---|---|\n");
    report.push_str(&format!(
        "| CreateMany, Quantity 10,000, with tokens ({CREATE_MANY_RUNS} runs) | median {p50:.0} ms, min {min:.0} ms, max {max:.0} ms ({:.0} users/s at the median) |\n",
        CREATE_MANY_QUANTITY as f64 / (p50 / 1000.0)
    ));

    // Single registrations.
    let (rps, lat) = throughput(SINGLE_REQUESTS, |_| async {
        target
            .post("/v1/Registration/Create", &json!({}), true)
            .await;
    })
    .await;
    let (p50, p99, _) = summary(lat);
    report.push_str(&format!(
        "| Registration/Create, {SINGLE_REQUESTS} requests, {CONCURRENCY} in flight | {rps:.0} req/s, p50 {p50:.1} ms, p99 {p99:.1} ms |\n"
    ));

    // Refreshes of distinct sessions.
    let batch = target
        .post(
            "/v1/Registration/CreateMany",
            &json!({"Quantity": SINGLE_REQUESTS}),
            true,
        )
        .await;
    let pairs: Vec<Value> = batch["Result"]["Results"].as_array().unwrap().clone();
    let (rps, lat) = throughput(SINGLE_REQUESTS, |i| {
        let body = json!({"AccessToken": pairs[i]["AccessToken"]["Token"], "RefreshToken": pairs[i]["RefreshToken"]});
        let target = &target;
        async move {
            target.post("/v1/Auth/RefreshToken", &body, false).await;
        }
    })
    .await;
    let (p50, p99, _) = summary(lat);
    report.push_str(&format!(
        "| Auth/RefreshToken, {SINGLE_REQUESTS} sessions, {CONCURRENCY} in flight | {rps:.0} req/s, p50 {p50:.1} ms, p99 {p99:.1} ms |\n"
    ));

    print!("{report}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    std::fs::write(&out, report).expect("write BENCHMARKS.md");
    println!("\nwritten to {}", out.display());
    let _ = std::fs::remove_dir_all(&dir);
}
