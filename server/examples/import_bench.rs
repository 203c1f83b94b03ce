//! Import throughput and memory: a CSV file of `TUS_BENCH_IMPORT` drivers (default
//! 1,000,000; the users export's columns) uploaded to `POST /v1/Management/imports` as a
//! chunked stream read from disk (so the client holds 64 KiB of it at a time), first as a
//! dry run, then imported for real from the same upload, then uploaded again with
//! `onExisting=skip`. Each backend on a fresh database, over loopback HTTP, release build.
//! Peak memory is this process's (server and client), reset before each step.
//!
//! `bash .ci/bench import`; figures into server/BENCHMARKS.md.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tus_core::store::scratch::ScratchDatabase;

/// Writes the file: one driver per row, ~190 bytes each.
fn write_file(path: &Path, rows: usize, instance: &str) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("file"));
    writeln!(
        out,
        "DeviceToken,FirstName,LastName,Email,Phone,ClientId,InstanceId,Status,EnableTracking,EnableLogging,Enabled,EnableRealTimeLocation,DateCreated"
    )
    .unwrap();
    for n in 0..rows {
        writeln!(
            out,
            "{},Driver,\"Smith, {n}\",driver{n}@fleet.example,+4915{n:08},crm-{n},{instance},Active,True,{},True,False,2024-05-06T07:08:09.000Z",
            uuid::Uuid::new_v4(),
            if n % 7 == 0 { "True" } else { "False" }
        )
        .unwrap();
    }
    out.flush().unwrap();
}

/// Uploads the file with `Transfer-Encoding: chunked`, 64 KiB at a time; the import's id.
async fn upload(base: &str, admin: &str, query: &str, path: &Path) -> String {
    let host = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "POST /v1/Management/imports?{query} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {admin}\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut file = tokio::fs::File::open(path).await.expect("open");
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        s.write_all(format!("{n:x}\r\n").as_bytes()).await.unwrap();
        s.write_all(&buf[..n]).await.unwrap();
        s.write_all(b"\r\n").await.unwrap();
    }
    s.write_all(b"0\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    // The answer is small: one chunk (or a plain body).
    let json = body
        .find('{')
        .map(|i| &body[i..body.rfind('}').unwrap() + 1])
        .unwrap_or("");
    let v: Value = serde_json::from_str(json).unwrap_or_else(|_| panic!("upload answered {text}"));
    v["Result"]["Id"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string()
}

async fn wait(base: &str, admin: &str, id: &str) -> Value {
    loop {
        let v: Value = reqwest::Client::new()
            .get(format!("{base}/v1/Management/imports/{id}"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        match v["Result"]["State"].as_str() {
            Some("Running") => tokio::time::sleep(Duration::from_millis(100)).await,
            Some("Completed") => return v["Result"].clone(),
            other => panic!("the import ended {other:?}: {v}"),
        }
    }
}

#[tokio::main]
async fn main() {
    let rows = common::env_size("TUS_BENCH_IMPORT", 1_000_000);
    let dir: PathBuf =
        std::env::temp_dir().join(format!("tus-import-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fleet.csv");
    let mut section = String::new();
    for (name, backend) in common::backends() {
        let db = ScratchDatabase::create(&backend)
            .await
            .expect("scratch database");
        let server = common::start_with(&db, |c| c.import_max_bytes = 1 << 30).await;
        let admin = server.admin_token().await;
        let instance = server
            .instance
            .as_ref()
            .expect("first start")
            .id
            .to_string();
        write_file(&path, rows, &instance);
        let size = std::fs::metadata(&path).unwrap().len();
        if section.is_empty() {
            section = format!(
                "Written by `bash .ci/bench import` (`cargo run --release -p server --example import_bench`). \
                 A CSV file of {rows} drivers ({} MB, the users export's columns) uploaded to \
                 `POST /v1/Management/imports` as a chunked stream from disk; the upload answers \
                 once every row is staged in the database. Then the rows run in chunks of 1,000 \
                 (one transaction each): a dry run (checks and report only), the same upload \
                 imported for real, and the file uploaded again with `onExisting=skip`. Peak \
                 memory: the process's peak RSS (server, and a client holding 64 KiB of the \
                 file), reset before each step; growth is above the RSS at that moment.\n\n\
                 | backend | step | upload s | run s | rows/s (run) | rows/s (upload + run) | peak RSS MiB | growth MiB |\n|---|---|---|---|---|---|---|---|\n",
                size / 1_000_000
            );
        }
        let mut step = |what: &str, up: Duration, ran: Duration, base: f64, peak: f64| {
            eprintln!("{name}: {what}: upload {up:.1?}, run {ran:.1?}, peak {peak:.0} MiB");
            section.push_str(&format!(
                "| {name} | {what} | {:.1} | {:.1} | {:.0} | {:.0} | {peak:.0} | {:.0} |\n",
                up.as_secs_f64(),
                ran.as_secs_f64(),
                rows as f64 / ran.as_secs_f64(),
                rows as f64 / (up + ran).as_secs_f64(),
                peak - base
            ));
        };

        let (base, peak, (id, up, ran, v)) = common::peak_memory(async {
            let started = Instant::now();
            let id = upload(
                &server.base,
                &admin,
                "dryRun=true&fileName=fleet.csv",
                &path,
            )
            .await;
            let up = started.elapsed();
            let v = wait(&server.base, &admin, &id).await;
            (id, up, started.elapsed() - up, v)
        })
        .await;
        assert_eq!(v["Created"], rows, "{v}");
        step("dry run", up, ran, base, peak);

        let (base, peak, (ran, v)) = common::peak_memory(async {
            let started = Instant::now();
            let res = reqwest::Client::new()
                .post(format!("{}/v1/Management/imports/{id}/run", server.base))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success());
            let v = wait(&server.base, &admin, &id).await;
            (started.elapsed(), v)
        })
        .await;
        assert_eq!(v["Created"], rows, "{v}");
        step(
            "import (the dry run's upload)",
            Duration::ZERO,
            ran,
            base,
            peak,
        );

        let (base, peak, (up, ran, v)) = common::peak_memory(async {
            let started = Instant::now();
            let id = upload(
                &server.base,
                &admin,
                "onExisting=skip&fileName=again.csv",
                &path,
            )
            .await;
            let up = started.elapsed();
            let v = wait(&server.base, &admin, &id).await;
            (up, started.elapsed() - up, v)
        })
        .await;
        assert_eq!(v["Skipped"], rows, "{v}");
        step("again, every row skipped", up, ran, base, peak);

        let started = Instant::now();
        let res = reqwest::Client::new()
            .get(format!("{}/v1/Management/imports/{id}/report", server.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        let lines = common::count_lines(res).await;
        assert_eq!(lines, rows + 1);
        section.push_str(&format!(
            "| {name} | its report downloaded | | {:.1} | {:.0} | | | |\n",
            started.elapsed().as_secs_f64(),
            rows as f64 / started.elapsed().as_secs_f64()
        ));
    }
    std::fs::remove_dir_all(&dir).ok();
    common::write_section("import", "Imports: throughput and memory", &section);
}
