//! Batch throughput and memory: a dashboard batch of `TUS_BENCH_BATCH` users (default
//! 100,000) with tokens, run in chunks by the server, then its credentials downloaded; and
//! `Registration/CreateMany` of 10,000 (one transaction) for comparison. Each backend on a
//! fresh database, over loopback HTTP, release build. Peak memory is this process's (the
//! server and the client reading the download), reset before each measurement.
//!
//! `bash .ci/bench batch`; figures into server/BENCHMARKS.md.

mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use tus_core::store::scratch::ScratchDatabase;

async fn dashboard_batch(
    server: &common::Server,
    admin: &str,
    quantity: i64,
) -> (Duration, Duration, usize) {
    let instance = server
        .instance
        .as_ref()
        .expect("first start")
        .id
        .to_string();
    let started = Instant::now();
    let request = json!({ "request": {
        "instance_id": instance, "quantity": quantity.to_string(), "label": "bench",
        "tracking": true, "sdk": true, "create_access_token": true,
    }});
    let id = common::call(&server.base, admin, "start_batch", request).await;
    let id = id.as_str().expect("an id").to_string();
    loop {
        let v = common::call(&server.base, admin, "get_batch", json!({ "batch_id": id })).await;
        match v["state"].as_str() {
            Some("Running") => tokio::time::sleep(Duration::from_millis(50)).await,
            Some("Completed") => break,
            other => panic!("the batch ended {other:?}: {v}"),
        }
    }
    let ran = started.elapsed();
    let started = Instant::now();
    let res = reqwest::Client::new()
        .post(format!(
            "{}/export/batches/{id}/credentials.csv",
            server.base
        ))
        .bearer_auth(admin)
        .send()
        .await
        .expect("download");
    let lines = common::count_lines(res).await;
    (ran, started.elapsed(), lines)
}

#[tokio::main]
async fn main() {
    let quantity = common::env_size("TUS_BENCH_BATCH", 100_000) as i64;
    let mut section = format!(
        "Written by `bash .ci/bench batch` (`cargo run --release -p server --example batch_bench`). \
         A dashboard batch of {quantity} users with tokens (`/api/start_batch`, chunks of 1,000 \
         (`TUS_BATCH_CHUNK`), each one transaction with its sealed credentials), polled until complete, then its \
         credentials CSV streamed to the client; `CreateMany` of 10,000 users with tokens (one \
         transaction) for comparison. Peak memory: the process's peak RSS (server and client \
         together) during the run, reset just before it; growth is above the RSS at that \
         moment.\n\n| backend | what | time s | users/s | peak RSS MiB | growth MiB |\n|---|---|---|---|---|---|\n"
    );
    for (name, backend) in common::backends() {
        let db = ScratchDatabase::create(&backend)
            .await
            .expect("scratch database");
        let server = common::start(&db).await;
        let admin = server.admin_token().await;
        // Warm-up: every path once, so the baseline holds pools and caches.
        dashboard_batch(&server, &admin, 1000).await;

        let (base, peak, (ran, downloaded, lines)) =
            common::peak_memory(dashboard_batch(&server, &admin, quantity)).await;
        assert_eq!(lines as i64, quantity + 1, "header and one line per user");
        eprintln!("{name}: batch {ran:.1?}, download {downloaded:.1?}, peak {peak:.0} MiB");
        section.push_str(&format!(
            "| {name} | dashboard batch, {quantity} users | {:.1} | {:.0} | {peak:.0} | {:.0} |\n",
            ran.as_secs_f64(),
            quantity as f64 / ran.as_secs_f64(),
            peak - base
        ));
        section.push_str(&format!(
            "| {name} | its credentials CSV download | {:.1} | {:.0} | | |\n",
            downloaded.as_secs_f64(),
            quantity as f64 / downloaded.as_secs_f64()
        ));

        let instance = server.instance.as_ref().expect("first start");
        let (base, peak, took) = common::peak_memory(async {
            let started = Instant::now();
            let res = reqwest::Client::new()
                .post(format!("{}/v1/Registration/CreateMany", server.base))
                .header("InstanceId", instance.id.to_string())
                .header("InstanceKey", instance.key.expose())
                .json(&json!({ "Quantity": 10_000 }))
                .send()
                .await
                .expect("CreateMany");
            assert!(res.status().is_success());
            let body = res.bytes().await.expect("body");
            assert!(body.len() > 10_000 * 500);
            started.elapsed()
        })
        .await;
        section.push_str(&format!(
            "| {name} | CreateMany, 10000 users (one response) | {:.1} | {:.0} | {peak:.0} | {:.0} |\n",
            took.as_secs_f64(),
            10_000.0 / took.as_secs_f64(),
            peak - base
        ));
    }
    common::write_section("batch", "Batches: throughput and memory", &section);
}
