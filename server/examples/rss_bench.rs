//! Idle memory of the release binary (issue 19: under 40 MB idle), each backend on a fresh
//! database:
//!
//!     bash .ci/bench rss   # = cargo build --release --bin tus, then this
//!
//! `target/release/tus serve` as an operator starts it. Its resident memory (`VmRSS` of
//! /proc/PID/status, with the anonymous part beside it) is read after it has been idle for
//! `IDLE`: right after the first start (migrations run, the first admin's password hashed),
//! after an admin signed in, 100 drivers registered and refreshed their tokens, and after a
//! restart on the same database. Figures go to the `rss` section of server/BENCHMARKS.md.

mod common;

use std::time::Duration;

use serde_json::{json, Value};
use tus_core::store::scratch::ScratchDatabase;

/// How long the server is left alone before its memory is read.
const IDLE: Duration = Duration::from_secs(10);

/// The release server.
struct Tus(common::Binary);

impl std::ops::Deref for Tus {
    type Target = common::Binary;
    fn deref(&self) -> &common::Binary {
        &self.0
    }
}

impl Tus {
    async fn start(url: &str) -> Tus {
        Tus(common::Binary::start(url, &[]).await)
    }

    /// (VmRSS, RssAnon) in MiB after `IDLE` without requests.
    async fn idle_memory(&self) -> (f64, f64) {
        tokio::time::sleep(IDLE).await;
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server's /proc status");
        let mib = |field: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .expect("a memory figure")
                / 1024.0
        };
        (mib("VmRSS:"), mib("RssAnon:"))
    }

    /// An admin signs in (one password verification), creates an application's worth of
    /// drivers through the public API and refreshes each one's token once.
    async fn work(&self) {
        let client = reqwest::Client::new();
        let admin = common::login(&self.base, "admin@localhost", common::ADMIN_PASSWORD).await;
        assert!(!admin.is_empty());
        let (id, key) = self
            .instance
            .recv_timeout(Duration::from_secs(10))
            .expect("the first start's banner names the instance");
        for _ in 0..100 {
            let created: Value = client
                .post(format!("{}/v1/Registration/Create", self.base))
                .header("InstanceId", &id)
                .header("InstanceKey", &key)
                .json(&json!({}))
                .send()
                .await
                .expect("create")
                .json()
                .await
                .expect("json");
            let pair = &created["Result"];
            let res = client
                .post(format!("{}/v1/Auth/RefreshToken", self.base))
                .json(&json!({"AccessToken": pair["AccessToken"]["Token"], "RefreshToken": pair["RefreshToken"]}))
                .send()
                .await
                .expect("refresh");
            assert_eq!(res.status(), 200, "a refresh on the release server");
        }
    }
}

#[tokio::main]
async fn main() {
    let mut body = format!(
        "Written by `bash .ci/bench rss` (`cargo build --release -p server --bin tus`, then \
         `cargo run --release -p server --example rss_bench`). `target/release/tus serve` on a \
         fresh database; its resident memory (`VmRSS`, and the anonymous part of it: the rest \
         is the mapped binary and libraries) after {} s without requests. The issue's goal: \
         under 40 MB idle.\n\n\
         | backend | idle after | RSS MiB | anonymous MiB |\n|---|---|---|---|\n",
        IDLE.as_secs()
    );
    for (name, choice) in common::backends() {
        let db = ScratchDatabase::create(&choice).await.expect("a database");
        eprintln!("{name}: first start");
        let tus = Tus::start(&db.url).await;
        let mut rows = vec![(
            "the first start (migrations, first admin)",
            tus.idle_memory().await,
        )];
        tus.work().await;
        rows.push((
            "an admin's sign-in, 100 registrations and refreshes",
            tus.idle_memory().await,
        ));
        drop(tus);
        let tus = Tus::start(&db.url).await;
        rows.push(("a restart on the same database", tus.idle_memory().await));
        drop(tus);
        for (when, (rss, anon)) in rows {
            body.push_str(&format!("| {name} | {when} | **{rss:.1}** | {anon:.1} |\n"));
        }
    }
    common::write_section("rss", "Idle memory of the release binary", &body);
}
