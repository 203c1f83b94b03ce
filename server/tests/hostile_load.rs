//! Floods against the password checks, each in this process of its own (so the memory
//! figure is this test's alone), one after the other:
//! - finding 2: 300 concurrent registrations carrying a password and 150 concurrent failed
//!   logins must not take the server's memory: hashing runs a few at a time, the rest is
//!   told to come back (503 + Retry-After). The bound asserted is generous for a noisy
//!   machine; the figure is printed and kept for `bash .ci/test` to show.
//! - finding 3: 150 concurrent guesses at one login from one address check at most the
//!   limit's worth of passwords.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::collections::BTreeMap;

use helpers::*;
use serde_json::json;

/// The floods must not overlap: one would inflate the other's memory figure.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn status_kib(field: &str) -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

fn tally(statuses: &[u16]) -> BTreeMap<u16, usize> {
    let mut t = BTreeMap::new();
    for s in statuses {
        *t.entry(*s).or_default() += 1;
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_password_requests_holds_bounded_memory() {
    let _alone = ONE_AT_A_TIME.lock().await;
    // Throttles out of the way: this measures the hashing gate alone.
    let app = spawn_app_with(|c| {
        c.password_registrations_per_address = 1_000_000;
        c.login_max_failures_per_name = 1_000_000;
        c.login_max_failures_per_address = 1_000_000;
        c.login_lockout = 1_000_000;
    })
    .await;
    // Warm every path once, so the baseline holds pools, caches and one hash's memory.
    app.register(json!({"Email": "warm@example.com", "Password": "warm up password"}))
        .await;
    app.post(
        "/v1/Auth/Login",
        &json!({"LoginFields": {"Email": "admin@localhost"}, "Password": "wrong password"}),
        &[],
    )
    .await;

    let baseline = status_kib("VmRSS:");
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let started = std::time::Instant::now();
    let registrations = (0..300).map(|n| {
        let body = json!({"Email": format!("driver{n}@example.com"), "Password": "a long enough password"});
        let app = &app;
        async move { app.post_instance("/v1/Registration/Create", &body).await }
    });
    let logins = (0..150).map(|n| {
        let body =
            json!({"LoginFields": {"Email": "admin@localhost"}, "Password": format!("guess {n}")});
        let app = &app;
        async move { app.post("/v1/Auth/Login", &body, &[]).await }
    });
    let (registered, logged) = tokio::join!(
        futures::future::join_all(registrations),
        futures::future::join_all(logins)
    );
    let seconds = started.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:");
    let growth_mib = (peak - baseline) as f64 / 1024.0;

    for busy in registered.iter().chain(&logged).filter(|a| a.status == 503) {
        assert_eq!(busy.headers["retry-after"], "1", "{}", busy.body);
        busy.envelope();
    }
    let registered: Vec<u16> = registered.iter().map(|a| a.status).collect();
    let logged: Vec<u16> = logged.iter().map(|a| a.status).collect();
    let figure = format!(
        "300 concurrent password registrations + 150 concurrent failed logins: peak RSS \
         {:.1} MiB (baseline {:.1} MiB, growth {growth_mib:.1} MiB), {seconds:.1} s; \
         registrations {:?}, logins {:?} ({} backend, debug build)\n",
        peak as f64 / 1024.0,
        baseline as f64 / 1024.0,
        tally(&registered),
        tally(&logged),
        app.core.store().backend(),
    );
    print!("{figure}");
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hostile_load-{}.txt", app.core.store().backend()));
    std::fs::write(file, &figure).unwrap();

    assert!(
        registered
            .iter()
            .chain(&logged)
            .all(|s| matches!(s, 200 | 401 | 503)),
        "{figure}"
    );
    assert!(
        registered.contains(&200),
        "some registrations get through: {figure}"
    );
    // Hashes run one per core (2 here), each in 19 MiB its thread keeps: about 30 MiB of
    // growth here; 300 at once took 7.9 GB before.
    assert!(growth_mib < 128.0, "{figure}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_at_one_login_check_at_most_its_limit() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    let guesses = (0..150).map(|n| {
        let body =
            json!({"LoginFields": {"Email": "admin@localhost"}, "Password": format!("guess {n}")});
        let app = &app;
        async move { app.post("/v1/Auth/Login", &body, &[]).await.status }
    });
    let statuses = futures::future::join_all(guesses).await;
    let t = tally(&statuses);
    // Every password checked and wrong is one `login.failed` entry.
    let checked = app
        .core
        .store()
        .audit_entries("login.failed")
        .await
        .unwrap()
        .len();
    assert!(
        checked <= 10,
        "{checked} passwords checked against a limit of 10: {t:?}"
    );
    assert_eq!(t.get(&401).copied().unwrap_or(0), checked, "{t:?}");
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 429 | 503)),
        "{t:?}"
    );
    assert!(
        t.get(&429).copied().unwrap_or(0) >= 140 - t.get(&503).copied().unwrap_or(0),
        "{t:?}"
    );
}
