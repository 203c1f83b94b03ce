//! Prometheus metrics on `TUS_METRICS_ADDR`: the exposition parses with a Prometheus parser,
//! its counters move by exactly the traffic that causes them, and an attacker gets nothing
//! from it: no series per path sent, nothing private, nothing on the public port.

use prometheus_parse::{Scrape, Value as Sample};
use serde_json::json;

use crate::helpers::*;

async fn metrics_app() -> TestApp {
    spawn_app_with(|c| {
        c.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
        c.refresh_reuse_grace = 0;
    })
    .await
}

/// The parsed exposition and its text.
async fn scrape(app: &TestApp) -> (Scrape, String) {
    let url = format!(
        "{}/metrics",
        app.metrics.as_ref().expect("a metrics listener")
    );
    let res = reqwest::get(url).await.unwrap();
    assert_eq!(res.status(), 200);
    let kind = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = res.text().await.unwrap();
    assert!(
        text.ends_with("# EOF\n"),
        "an OpenMetrics exposition ends with # EOF"
    );
    let parsed = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    (parsed, text)
}

/// The value of the sample `name` whose labels include `labels`; 0 when there is none.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Sample::Counter(v) | Sample::Gauge(v) | Sample::Untyped(v) => v,
            ref other => panic!("{name} is not a single value: {other:?}"),
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().copied().unwrap_or(0.0)
}

#[tokio::test]
async fn counters_and_gauges_follow_the_traffic_and_the_database() {
    let app = metrics_app().await;
    let (before, _) = scrape(&app).await;
    let backend = app.core.store().backend();
    assert_eq!(
        value(&before, "tus_build_info", &[("backend", backend)]),
        1.0
    );
    assert_eq!(value(&before, "tus_database_up", &[]), 1.0);
    let pool = if backend == "sqlite" { "write" } else { "main" };
    assert!(value(&before, "tus_db_connections_max", &[("pool", pool)]) >= 1.0);

    // A registration, its refresh, a reuse of the spent refresh token, a wrong password.
    let user = app
        .register(json!({"UserFields": {"EnableTracking": true}}))
        .await;
    let refreshed = app.refresh(&user).await;
    refreshed.result();
    assert_eq!(
        app.refresh(&user).await.status,
        401,
        "the spent token is refused"
    );
    let wrong =
        json!({"LoginFields": {"Email": "admin@localhost"}, "Password": "not the password"});
    assert_eq!(app.post("/v1/Auth/Login", &wrong, &[]).await.status, 401);

    let (after, text) = scrape(&app).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(
        delta("tus_tokens_issued_total", &[("source", "registration")]),
        1.0
    );
    assert_eq!(
        delta("tus_tokens_issued_total", &[("source", "refresh")]),
        1.0
    );
    assert_eq!(
        delta("tus_tokens_issued_total", &[("source", "login")]),
        0.0
    );
    assert_eq!(
        delta("tus_security_events_total", &[("action", "refresh.reuse")]),
        1.0
    );
    assert_eq!(
        delta("tus_security_events_total", &[("action", "login.failed")]),
        1.0
    );
    assert_eq!(delta("tus_users", &[("status", "Active")]), 1.0);
    assert_eq!(
        delta("tus_users_flag_on", &[("flag", "EnableTracking")]),
        1.0
    );
    assert_eq!(
        delta(
            "tus_http_requests_total",
            &[
                ("route", "/v1/registration/create"),
                ("method", "POST"),
                ("status", "200")
            ]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "tus_http_requests_total",
            &[
                ("route", "/v1/auth/refreshtoken"),
                ("method", "POST"),
                ("status", "401")
            ]
        ),
        1.0
    );
    // Every request took a connection, and the time it took to get one is added up.
    assert!(delta("tus_db_pool_wait_seconds_total", &[("pool", pool)]) > 0.0);
    assert!(text.contains("# TYPE tus_db_pool_wait_seconds counter"));
    assert!(text.contains(
        "tus_http_request_duration_seconds_count{route=\"/v1/registration/create\",method=\"POST\"} 1"
    ));
    // Every kind a deployment watches is there, even with nothing to report.
    for family in [
        "tus_outbox_messages",
        "tus_batches_running",
        "tus_batch_rows",
        "tus_db_connections",
        "tus_db_pool_waiting",
    ] {
        assert!(text.contains(&format!("# TYPE {family} gauge")), "{family}");
    }

    // Nothing private: no token, DeviceToken or key of what went through.
    for secret in [
        user["DeviceToken"].as_str().unwrap(),
        user["RefreshToken"].as_str().unwrap(),
        user["AccessToken"]["Token"].as_str().unwrap(),
        &app.instance_key,
        "not the password",
    ] {
        assert!(!text.contains(secret), "the exposition holds {secret}");
    }
}

/// An attacker who sends made-up paths and methods adds no series, and finds no metrics on
/// the public port.
#[tokio::test]
async fn made_up_paths_and_methods_add_no_series_and_the_public_port_has_no_metrics() {
    let app = metrics_app().await;
    let (before, _) = scrape(&app).await;
    let paths: Vec<String> = (0..20)
        .map(|_| format!("/v1/{}", uuid::Uuid::new_v4().simple()))
        .collect();
    for path in &paths {
        app.send(reqwest::Method::GET, path, None, &[]).await;
    }
    let odd = reqwest::Method::from_bytes(b"BREW").unwrap();
    app.send(odd, "/v1/Registration/Create", None, &[]).await;
    let (after, text) = scrape(&app).await;
    for path in &paths {
        assert!(!text.contains(&path[4..]), "a series names {path}");
    }
    assert!(!text.contains("BREW"));
    let unmatched = value(
        &after,
        "tus_http_requests_total",
        &[("route", "unmatched"), ("status", "404")],
    ) - value(
        &before,
        "tus_http_requests_total",
        &[("route", "unmatched"), ("status", "404")],
    );
    assert_eq!(unmatched, 20.0);
    assert_eq!(
        value(&after, "tus_http_requests_total", &[("method", "OTHER")]),
        1.0
    );

    let public = reqwest::get(format!("{}/metrics", app.base)).await.unwrap();
    let body = public.text().await.unwrap();
    assert!(
        !body.contains("tus_build_info"),
        "the public port serves metrics"
    );
}
