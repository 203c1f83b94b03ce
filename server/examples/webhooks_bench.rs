//! Webhooks, release build, on SQLite with the real server and a real receiver on loopback
//! (axum, answering 204 to everything, counting):
//!
//!     bash .ci/bench webhooks  # = cargo run --release -p server --example webhooks_bench
//!
//! 1. `Registration/Create` with no webhook, then with one subscribed to every event (each
//!    on a fresh database): what a subscription adds to the request (the event row is
//!    written either way; the subscription adds the dispatcher and sender's work).
//! 2. Events delivered per second: `CreateMany` of `EVENTS` users with one webhook
//!    subscribed to `user.created`, timed until the receiver has every event.
//!
//! Figures go to the `webhooks` section of server/BENCHMARKS.md.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tus_core::store::scratch::ScratchDatabase;

const CREATES: usize = 2_000;
const CONCURRENCY: usize = 16;
const EVENTS: usize = 10_000;

/// A receiver that acknowledges everything; answers its URL and its count.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let app = axum::Router::new().route(
        "/in",
        axum::routing::post(move |_body: String| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}/in", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, count)
}

async fn subscribe(server: &common::Server, url: &str, types: Option<&[&str]>) {
    let admin = server.admin_token().await;
    let res = reqwest::Client::new()
        .post(format!("{}/v1/Webhooks", server.base))
        .bearer_auth(admin)
        .json(&json!({ "Url": url, "AllowPrivate": true, "EventTypes": types }))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(res.status(), 200);
}

/// `CREATES` registrations, `CONCURRENCY` in flight: (req/s, p50 ms, p99 ms).
async fn creates(server: &common::Server) -> (f64, f64, f64) {
    let instance = server.instance.as_ref().expect("first start");
    let (id, key) = (instance.id.to_string(), instance.key.expose().to_string());
    let client = reqwest::Client::new();
    common::throughput(CREATES, CONCURRENCY, |_| {
        let (client, base, id, key) = (&client, &server.base, &id, &key);
        async move {
            let res = client
                .post(format!("{base}/v1/Registration/Create"))
                .header("InstanceId", id)
                .header("InstanceKey", key)
                .json(&json!({}))
                .send()
                .await
                .expect("create");
            assert_eq!(res.status(), 200);
        }
    })
    .await
}

#[tokio::main]
async fn main() {
    let mut rows = Vec::new();
    for with_webhook in [false, true] {
        let db = ScratchDatabase::create("sqlite").await.expect("scratch");
        let server = common::start(&db).await;
        let (url, count) = receiver().await;
        if with_webhook {
            subscribe(&server, &url, None).await;
        }
        let (rps, p50, p99) = creates(&server).await;
        eprintln!("Registration/Create, webhook {with_webhook}: {rps:.0}/s");
        if with_webhook {
            // Every registration's event reaches the receiver.
            let deadline = Instant::now() + Duration::from_secs(120);
            while count.load(Ordering::Relaxed) < CREATES && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(count.load(Ordering::Relaxed), CREATES);
        }
        rows.push((with_webhook, rps, p50, p99));
    }

    let db = ScratchDatabase::create("sqlite").await.expect("scratch");
    let server = common::start(&db).await;
    let (url, count) = receiver().await;
    subscribe(&server, &url, Some(&["user.created"])).await;
    let instance = server.instance.as_ref().expect("first start");
    let started = Instant::now();
    let made: Value = reqwest::Client::new()
        .post(format!("{}/v1/Registration/CreateMany", server.base))
        .header("InstanceId", instance.id.to_string())
        .header("InstanceKey", instance.key.expose())
        .json(&json!({ "Quantity": EVENTS, "CreateAccessToken": false }))
        .send()
        .await
        .expect("CreateMany")
        .json()
        .await
        .expect("json");
    let written = started.elapsed();
    assert_eq!(made["Status"], 200, "{made}");
    let deadline = Instant::now() + Duration::from_secs(300);
    while count.load(Ordering::Relaxed) < EVENTS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = started.elapsed();
    assert_eq!(count.load(Ordering::Relaxed), EVENTS);
    let rate = EVENTS as f64 / delivered.as_secs_f64();
    eprintln!("{EVENTS} events delivered in {delivered:.1?} ({rate:.0}/s)");

    let mut body = format!(
        "Written by `bash .ci/bench webhooks` (`cargo run --release -p server --example \
         webhooks_bench`). SQLite, the real server and an in-process receiver on loopback \
         answering 204; client, server and receiver share the machine's cores.\n\n\
         | Registration/Create ({CREATES} requests, {CONCURRENCY} in flight) | req/s | p50 ms | p99 ms |\n|---|---|---|---|\n"
    );
    for (with_webhook, rps, p50, p99) in rows {
        let label = if with_webhook {
            "one webhook subscribed to every event (each event delivered)"
        } else {
            "no webhook (the event row is written all the same)"
        };
        body.push_str(&format!("| {label} | {rps:.0} | {p50:.1} | {p99:.1} |\n"));
    }
    body.push_str(&format!(
        "\nEvents delivered: `CreateMany` of {EVENTS} users (written in {:.1} s) with one webhook \
         subscribed to `user.created`; every event at the receiver {:.1} s after the request \
         started: **{rate:.0} events/s** (signed, one HTTP request each, a user's events in \
         order).\n",
        written.as_secs_f64(),
        delivered.as_secs_f64()
    ));
    common::write_section("webhooks", "Webhooks", &body);
}
