//! What the dashboard's front end costs a browser (issue 19), release build:
//!
//!     bash .ci/bench wasm   # = cargo leptos build --release --split, then this
//!
//! The release binary (`tus serve`) on a fresh SQLite file; end2end/bench/wasm.mjs loads the
//! sign-in page and the users page in Chromium with the cache off and the CPU slowed down 4x
//! and reports the bytes transferred per kind, the WASM files fetched (the shell and the
//! page's chunks) and the time to hydrated. Beside them, gzip -9 of exactly those files, and
//! the shell and the whole site's WASM as built. Figures go to the `wasm` section of
//! server/BENCHMARKS.md.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const PKG: &str = "target/site/pkg";
const WASM: &str = "target/site/pkg/tus.wasm";

fn kb(bytes: u64) -> String {
    format!("{:.0} KB", bytes as f64 / 1024.0)
}

fn gzip_size(path: &Path) -> u64 {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .expect("gzip runs");
    out.stdout.len() as u64
}

#[tokio::main]
async fn main() {
    let wasm = Path::new(WASM);
    let built = std::fs::metadata(wasm)
        .unwrap_or_else(|_| panic!("{WASM} is missing: run cargo leptos build --release first"))
        .len();
    let gzipped = gzip_size(wasm);
    // Every page's chunks and the chunks they share, beside the shell.
    let (site_files, site_bytes) = std::fs::read_dir(PKG)
        .expect("the site's pkg folder")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        .fold((0, 0), |(n, b), e| {
            (n + 1, b + e.metadata().map(|m| m.len()).unwrap_or(0))
        });

    // The release binary exactly as `.ci/serve` runs it (the site cargo-leptos built),
    // on a fresh SQLite file in a temporary folder.
    let dir = std::env::temp_dir().join(format!("tus-wasm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let server =
        common::Binary::start(&format!("sqlite://{}", dir.join("tus.db").display()), &[]).await;
    let server_base = server.base.clone();
    eprintln!("measuring the front end against {server_base}");
    let base = server_base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["end2end/bench/wasm.mjs", &base, common::ADMIN_PASSWORD])
            .output()
    })
    .await
    .expect("joined")
    .expect("node runs");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pages: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per page"))
        .collect();

    let mut body = format!(
        "Written by `bash .ci/bench wasm` (`cargo leptos build --release --split`, then `cargo \
         run --release -p server --example wasm_bench`, which drives end2end/bench/wasm.mjs). \
         Each page is a lazy route: a browser fetches the shell (`tus.wasm`, {} as built, {} \
         gzip -9) and the chunks of the page it opens; the site's {} WASM files hold {} in all. \
         Each page loaded {} times in a fresh Chromium context, cache off, CPU slowed down 4x \
         (DevTools throttling), and as many times again over a 10 Mbit/s network with 40 ms \
         latency; bytes as transferred (compressed where the server compresses) for the \
         requests sent before the page said it had hydrated, gzip -9 of the same WASM files, \
         time from navigation to hydrated (median; min). The issue's goal: ≤ 250 KB of gzip \
         WASM before a page is interactive.\n\n\
         | page | WASM files | WASM transferred | the same, gzip -9 | JS | CSS | HTML | WASM encoding | to hydrated, 4x slower CPU | the same at 10 Mbit/s |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        kb(built),
        kb(gzipped),
        site_files,
        kb(site_bytes),
        pages.first().map(|p| p["runs"].as_u64().unwrap_or(0)).unwrap_or(0),
    );
    for p in pages.iter().filter(|p| p["navigationOnly"] != true) {
        let b = &p["bytes"];
        let n = |k: &str| b[k].as_f64().unwrap_or(0.0) as u64;
        let (files, gzip) = wasm_files(&p["wasmFiles"]);
        let page = page_name(&p["page"]);
        body.push_str(&format!(
            "| {} | {} | **{}** | **{}** | {} | {} | {} | {} | {} ms; {} ms | {} ms; {} ms |\n",
            page,
            files.len(),
            kb(n("wasm")),
            kb(gzip),
            kb(n("js")),
            kb(n("css")),
            kb(n("html")),
            p["encodings"]["wasm"].as_str().unwrap_or("?"),
            p["hydratedMedianMs"],
            p["hydratedMinMs"],
            p["slowNetMedianMs"],
            p["slowNetMinMs"],
        ));
    }
    body.push_str(
        "\nThe next page, from a page loaded as above: the menu's link clicked as soon as the \
         page has hydrated, or 2 s later, and the time until the next page's content shows \
         (median; min), with the WASM files fetched after the first page hydrated (a page may \
         fetch the chunks of the pages it links to once it is idle; none when they came with \
         the first).\n\n\
         | from | to | clicked after hydration | WASM files fetched | WASM transferred | the same, gzip -9 | click to shown, 4x slower CPU | the same at 10 Mbit/s |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for p in pages.iter().filter(|p| p["next"].is_object()) {
        let next = &p["next"];
        let (files, gzip) = wasm_files(&next["wasmFiles"]);
        body.push_str(&format!(
            "| {} | {} | {} ms | {} | {} | {} | {} ms; {} ms | {} ms; {} ms |\n",
            page_name(&p["page"]),
            next["path"].as_str().unwrap_or("?"),
            next["idleMs"],
            files.len(),
            kb(next["wasmBytes"].as_f64().unwrap_or(0.0) as u64),
            kb(gzip),
            next["shownMedianMs"],
            next["shownMinMs"],
            next["slowNetShownMedianMs"],
            next["slowNetShownMinMs"],
        ));
    }
    body.push('\n');
    common::write_section("wasm", "The front end in the browser", &body);
}

/// The WASM files a page fetched, and gzip -9 of them all.
fn wasm_files(list: &Value) -> (Vec<&str>, u64) {
    let files: Vec<&str> = list
        .as_array()
        .map(|a| a.iter().filter_map(|f| f.as_str()).collect())
        .unwrap_or_default();
    let gzip = files
        .iter()
        .map(|f| gzip_size(&Path::new("target/site").join(f.trim_start_matches('/'))))
        .sum();
    (files, gzip)
}

fn page_name(path: &Value) -> &str {
    match path.as_str().unwrap_or("?") {
        "/" => "/ (users)",
        other => other,
    }
}
