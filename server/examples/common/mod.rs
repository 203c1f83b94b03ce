//! What the benchmarks share: starting the real server on a scratch database, percentiles,
//! and writing one section of server/BENCHMARKS.md (each benchmark owns its own section, so
//! running one leaves the other's figures in place).

#![allow(dead_code)] // each example uses its own part

use std::time::Duration;

use leptos::config::LeptosOptions;
use server::config::Config;
use server::startup::Application;
use tus_core::store::scratch::ScratchDatabase;

pub const ADMIN_PASSWORD: &str = "bench admin password";

/// The admin URL of the PostgreSQL server, or `sqlite-only`.
pub fn postgres_url() -> String {
    std::env::var("TUS_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://tus:tus@127.0.0.1:5432/postgres".into())
}

pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

/// This process's CPU time (user and system, every thread, ended ones included) and its
/// context switches (voluntary and involuntary) so far, from `getrusage`: a phase's cost that
/// the machine's speed of the moment moves much less than its throughput.
pub fn process_usage() -> (Duration, u64) {
    // SAFETY: getrusage only writes the struct it is given, which lives for the call.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        assert_eq!(
            libc::getrusage(libc::RUSAGE_SELF, &mut usage),
            0,
            "getrusage"
        );
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (
        time(usage.ru_utime) + time(usage.ru_stime),
        (usage.ru_nvcsw + usage.ru_nivcsw) as u64,
    )
}

/// CPU time so far of every process of this machine named `postgres` (from each one's
/// `/proc/<pid>/schedstat`, in nanoseconds): what a phase cost the local PostgreSQL server,
/// its backends and its background processes alike. A process that ends during the phase
/// takes its time with it; the pools keep their connections open for the whole of one.
pub fn postgres_cpu() -> Duration {
    let mut total = Duration::ZERO;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return total;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid {
            continue;
        }
        let named_postgres = std::fs::read_to_string(path.join("comm"))
            .is_ok_and(|comm| comm.trim_end() == "postgres");
        let on_cpu = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
        if let (true, Some(ns)) = (named_postgres, on_cpu) {
            total += Duration::from_nanos(ns);
        }
    }
    total
}

/// Runs `n` requests with `concurrency` in flight; returns (requests/s, p50 ms, p99 ms).
pub async fn throughput<F, Fut>(n: usize, concurrency: usize, make: F) -> (f64, f64, f64)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures::StreamExt;
    let start = std::time::Instant::now();
    let mut latencies: Vec<std::time::Duration> = futures::stream::iter(0..n)
        .map(|i| {
            let fut = make(i);
            async move {
                let t = std::time::Instant::now();
                fut.await;
                t.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    latencies.sort();
    (
        n as f64 / start.elapsed().as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    )
}

pub struct Server {
    pub base: String,
    pub core: tus_core::Core,
    /// The first-start instance, or `None` when another replica created it.
    pub instance: Option<tus_core::instances::Instance>,
    /// Dropped with the server: the application shuts down (its workers stop polling a
    /// database that may be gone, and stop taking this process's cores from what follows).
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The real application (`Application::build`, as `tus serve`) on a free loopback port.
pub async fn start(db: &ScratchDatabase) -> Server {
    start_with(db, |_| {}).await
}

/// `start`, with more settings.
pub async fn start_with(db: &ScratchDatabase, configure: impl FnOnce(&mut Config)) -> Server {
    let mut config = Config::defaults();
    config.database_url = db.url.clone();
    config.admin_password = Some(ADMIN_PASSWORD.into());
    config.db_max_connections = 16;
    configure(&mut config);
    let options = LeptosOptions::builder()
        .output_name("tus")
        .site_addr(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .build();
    let app = Application::build(&config, options).await.expect("app");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Server {
        base: format!("http://{}", app.address()),
        core: app.core().clone(),
        instance: app.bootstrap.instance.as_ref().map(|c| c.instance.clone()),
        _stop: stop,
    };
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    server
}

/// `target/release/tus serve` as an operator starts it (build it first:
/// `cargo build --release -p server --bin tus`), killed when dropped.
pub struct Binary {
    pub child: std::process::Child,
    pub base: String,
    /// The instance's id and key from the first start's banner (nothing on a restart).
    pub instance: std::sync::mpsc::Receiver<(String, String)>,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Binary {
    /// Starts it on the database `url` with `env` besides, and waits until it is ready.
    pub async fn start(url: &str, env: &[(&str, &str)]) -> Binary {
        use std::process::{Command, Stdio};
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new("target/release/tus")
            .arg("serve")
            .env("TUS_DATABASE_URL", url)
            .env("TUS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("target/release/tus starts (cargo build --release --bin tus first)");
        let (found, instance) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("the server's stdout");
        // Reads the banner, then drains the rest so the server never blocks on its output.
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut id = String::new();
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let field =
                    |name: &str| line.trim().strip_prefix(name).map(|v| v.trim().to_string());
                if let Some(v) = field("InstanceId ") {
                    id = v;
                } else if let Some(key) = field("InstanceKey ") {
                    let _ = found.send((id.clone(), key));
                }
            }
        });
        let binary = Binary {
            child,
            base: format!("http://127.0.0.1:{port}"),
            instance,
        };
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(res) = client.get(format!("{}/readyz", binary.base)).send().await {
                if res.status() == 200 {
                    return binary;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the release server never became ready");
    }
}

impl Server {
    pub async fn admin_token(&self) -> String {
        login(&self.base, "admin@localhost", ADMIN_PASSWORD).await
    }
}

/// An admin's access token from `Auth/Login` on the server at `base`.
pub async fn login(base: &str, email: &str, password: &str) -> String {
    let body = serde_json::json!({"LoginFields": {"Email": email}, "Password": password});
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/Auth/Login"))
        .json(&body)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    answer["Result"]["AccessToken"]["Token"]
        .as_str()
        .expect("an admin token")
        .to_string()
}

/// Replaces (or appends) the section `key` of server/BENCHMARKS.md, stamped with the
/// commit, the machine and the time.
pub fn write_section(key: &str, title: &str, body: &str) {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let start = format!("<!-- bench:{key} -->");
    let end = format!("<!-- /bench:{key} -->");
    let section = format!(
        "{start}\n## {title}\n\nRelease build; {cores} cores; commit {commit}; {}.\n\n{body}{end}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!("{section}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let mut new = match (old.find(&start), old.find(&end)) {
        (Some(a), Some(b)) if a < b => format!("{}{section}{}", &old[..a], &old[b + end.len()..]),
        _ if old.trim().is_empty() => format!(
            "# Benchmarks\n\nOn demand, never in the tests: `bash .ci/bench` runs them all, \
             `bash .ci/bench api` or `bash .ci/bench page` one.\n\n{section}\n"
        ),
        _ => format!("{}\n\n{section}\n", old.trim_end()),
    };
    if !new.ends_with('\n') {
        new.push('\n');
    }
    std::fs::write(&path, new).expect("write BENCHMARKS.md");
    eprintln!("written to {}", path.display());
}

/// Peak memory of this process (server and client together) while `work` runs: the peak
/// is reset first (`/proc/self/clear_refs`, Linux 4.0+). Returns (baseline RSS, peak RSS)
/// in MiB, and what `work` returned.
pub async fn peak_memory<T>(work: impl std::future::Future<Output = T>) -> (f64, f64, T) {
    fn kib(field: &str) -> f64 {
        std::fs::read_to_string("/proc/self/status")
            .expect("/proc/self/status")
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .expect("a memory figure")
    }
    let baseline = kib("VmRSS:");
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak");
    let out = work.await;
    (baseline / 1024.0, kib("VmHWM:") / 1024.0, out)
}

/// POSTs a dashboard server function with an admin token; its JSON answer.
pub async fn call(
    base: &str,
    admin: &str,
    name: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/{name}"))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .expect("call");
    assert!(res.status().is_success(), "{name}: {}", res.status());
    res.json().await.expect("json")
}

/// Reads a streamed response to its end, keeping nothing; returns its lines.
pub async fn count_lines(mut res: reqwest::Response) -> usize {
    assert!(res.status().is_success(), "{}", res.status());
    let mut lines = 0;
    while let Some(bytes) = res.chunk().await.expect("body") {
        lines += bytes.iter().filter(|b| **b == b'\n').count();
    }
    lines
}

/// The backends a bench runs on: SQLite, and PostgreSQL unless `TUS_BENCH_POSTGRES` is
/// `sqlite-only`.
pub fn backends() -> Vec<(&'static str, String)> {
    let mut backends = vec![("SQLite", "sqlite".to_string())];
    let pg = postgres_url();
    if pg != "sqlite-only" {
        backends.push(("PostgreSQL", pg));
    }
    backends
}

/// A size from the environment variable `name`, else `default`.
pub fn env_size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
