//! Outbox throughput: `TUS_BENCH_MESSAGES` (default 2,000) e-mails queued at once and
//! delivered by the server's worker to a real local SMTP sink (maildev, from
//! `end2end/node_modules`), release build, each backend on a fresh database. Measured from
//! the first message queued to the last one marked sent.
//!
//! `bash .ci/bench outbox`; figures into server/BENCHMARKS.md.

mod common;

use std::time::{Duration, Instant};

use tus_core::outbox::Channel;
use tus_core::principal::Principal;
use tus_core::store::scratch::ScratchDatabase;
use tus_core::{Core, RequestMeta};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a port")
        .local_addr()
        .expect("its address")
        .port()
}

/// maildev on `smtp`, killed when dropped.
struct Sink(std::process::Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn sink(smtp: u16) -> Sink {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../end2end/node_modules/.bin/maildev");
    let dir = std::env::temp_dir().join(format!("tus-bench-mail-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a mail folder");
    let child = std::process::Command::new(bin)
        .args([
            "--smtp",
            &smtp.to_string(),
            "--web",
            &free_port().to_string(),
        ])
        .args(["--ip", "127.0.0.1", "--web-ip", "127.0.0.1", "--silent"])
        .arg("--mail-directory")
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("maildev starts (run bash .ci/setup)");
    let sink = Sink(child);
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", smtp))
            .await
            .is_ok()
        {
            return sink;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("maildev did not start");
}

async fn sent(core: &Core) -> i64 {
    core.store()
        .outbox_counts()
        .await
        .expect("counts")
        .into_iter()
        .find(|(state, _)| state == "sent")
        .map(|(_, n)| n)
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let n: i64 = std::env::var("TUS_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let mut backends = vec![("SQLite", "sqlite".to_string())];
    let pg = common::postgres_url();
    if pg != "sqlite-only" {
        backends.push(("PostgreSQL", pg));
    }
    let mut section = format!(
        "Written by `bash .ci/bench outbox` (`cargo run --release -p server --example outbox_bench`). \
         {n} e-mails (`POST /v1/Deliveries/test`'s core call) queued at once, each in its own \
         transaction, and delivered by the server's worker (claims of 16, sent concurrently over \
         lettre's pooled SMTP connections, each attempt settled in its own transaction) to a local \
         maildev; timed from the first queued to the last marked sent.\n\n\
         | backend | queued in s | all sent in s | messages/s |\n|---|---|---|---|\n"
    );
    for (name, backend) in backends {
        let smtp = free_port();
        let _sink = sink(smtp).await;
        let db = ScratchDatabase::create(&backend)
            .await
            .expect("scratch database");
        let server = common::start_with(&db, |c| {
            c.smtp_url = Some(format!("smtp://127.0.0.1:{smtp}"));
        })
        .await;
        let admin =
            Principal::unscoped_admin("bench", "bench@localhost", tus_wire::views::Role::Owner);
        let meta = RequestMeta::default();
        let started = Instant::now();
        for i in 0..n {
            server
                .core
                .send_test_message(
                    Core::now(),
                    &admin,
                    Channel::Email,
                    &format!("driver{i}@example.com"),
                    &meta,
                )
                .await
                .expect("queued");
        }
        let queued = started.elapsed();
        while sent(&server.core).await < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let all = started.elapsed();
        eprintln!("{name}: queued in {queued:.1?}, all sent in {all:.1?}");
        section.push_str(&format!(
            "| {name} | {:.1} | {:.1} | {:.0} |\n",
            queued.as_secs_f64(),
            all.as_secs_f64(),
            n as f64 / all.as_secs_f64()
        ));
    }
    common::write_section(
        "outbox",
        "Outbox: e-mail throughput to a local SMTP sink",
        &section,
    );
}
