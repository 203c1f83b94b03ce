//! Traces: a real `tus serve` exporting over OTLP/HTTP to a local receiver, which decodes
//! what arrives the way a collector does; and the W3C trace context a caller sends, followed
//! to the webhook deliveries of its change, with forged values played against it.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::{json, Value};

use tus_core::store::scratch::ScratchDatabase;

use crate::helpers::*;
use crate::replicas::{admin_token, create_instance, doctor, ready, tus, Replica};
use crate::webhooks::{events_of, Receiver};

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

fn caller_traceparent() -> String {
    format!("00-{TRACE}-{CALLER_SPAN}-01")
}

/// One span as a collector sees it.
#[derive(Debug, Clone)]
struct Seen {
    name: String,
    trace: String,
    id: String,
    parent: String,
    service: String,
    attributes: HashMap<String, String>,
}

/// A local OTLP/HTTP receiver (`POST /v1/traces`, protobuf or JSON).
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Seen>>>,
    content_types: Arc<Mutex<Vec<String>>>,
    /// Bodies that did not decode (the exporter sent something a collector refuses).
    refused: Arc<Mutex<Vec<String>>>,
}

impl Collector {
    async fn start() -> (Collector, String) {
        let collector = Collector::default();
        let state = collector.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    let kind = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let request = if kind.starts_with("application/json") {
                        serde_json::from_slice::<ExportTraceServiceRequest>(&body)
                            .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&body)))
                    } else {
                        ExportTraceServiceRequest::decode(body).map_err(|e| e.to_string())
                    };
                    state.content_types.lock().unwrap().push(kind);
                    match request {
                        Ok(request) => {
                            state.spans.lock().unwrap().extend(flatten(request));
                            axum::http::StatusCode::OK
                        }
                        Err(e) => {
                            state.refused.lock().unwrap().push(e);
                            axum::http::StatusCode::BAD_REQUEST
                        }
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (collector, url)
    }

    /// Waits (up to 30 s) for spans that `done` accepts.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let spans = self.spans.lock().unwrap().clone();
            if done(&spans) {
                return spans;
            }
            let refused = self.refused.lock().unwrap().clone();
            assert!(
                Instant::now() < deadline,
                "{what}: got {spans:#?}, refused {refused:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn flatten(request: ExportTraceServiceRequest) -> Vec<Seen> {
    let mut out = Vec::new();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .map(|a| text(&a.value))
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                out.push(Seen {
                    name: span.name,
                    trace: hex(&span.trace_id),
                    id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    service: service.clone(),
                    attributes: span
                        .attributes
                        .iter()
                        .map(|a| (a.key.clone(), text(&a.value)))
                        .collect(),
                });
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `tus serve` exporting to `collector`, its JSON log lines into `log`.
fn start_traced(db: &str, collector: &str, protocol: &str, log: &std::path::Path) -> Replica {
    let port = free_port();
    let child = tus(db)
        .arg("serve")
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("TUS_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("tus starts");
    Replica {
        base: format!("http://127.0.0.1:{port}"),
        child,
    }
}

async fn register(base: &str, instance: &(String, String), traceparent: Option<&str>) -> Value {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/v1/Registration/Create"))
        .header("InstanceId", &instance.0)
        .header("InstanceKey", &instance.1)
        .json(&json!({}));
    if let Some(t) = traceparent {
        req = req
            .header("traceparent", t)
            .header("tracestate", "evil=forged");
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["Result"].clone()
}

#[tokio::test]
async fn an_exported_trace_runs_from_the_caller_through_the_transactions_to_the_webhook() {
    let db = ScratchDatabase::from_env().await.unwrap();
    let instance = create_instance(&db.url);
    let (collector, collector_url) = Collector::start().await;
    let log = std::env::temp_dir().join(format!("tus-traces-{}.log", uuid::Uuid::new_v4()));
    let node = start_traced(&db.url, &collector_url, "http/protobuf", &log);
    ready(&[&node]).await;
    let admin = admin_token(&node.base).await;
    let (receiver, hook) = Receiver::start().await;
    let created = reqwest::Client::new()
        .post(format!("{}/v1/Webhooks", node.base))
        .bearer_auth(&admin)
        .json(&json!({ "Url": hook, "AllowPrivate": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);

    let traced = register(&node.base, &instance, Some(&caller_traceparent())).await;
    let traced_user = traced["DeviceToken"].as_str().unwrap().to_string();
    // A forged traceparent is no parent: that request starts a trace of its own.
    let forged = format!("00-{}-{CALLER_SPAN}-01", "0".repeat(32));
    let orphan = register(&node.base, &instance, Some(&forged)).await;
    let orphan_user = orphan["DeviceToken"].as_str().unwrap().to_string();

    let got = receiver
        .wait_for("both users' created events", |g| {
            events_of(g, "user.created", &traced_user).len() == 1
                && events_of(g, "user.created", &orphan_user).len() == 1
        })
        .await;
    let delivered = events_of(&got, "user.created", &traced_user)[0]
        .traceparent
        .clone()
        .expect("the delivery carries a traceparent");
    let parts: Vec<&str> = delivered.split('-').collect();
    assert_eq!(
        (parts.len(), parts[0], parts[1], parts[3]),
        (4, "00", TRACE, "01")
    );
    let delivery_span = parts[2].to_string();

    let spans = collector
        .wait_for("the request, its transaction and the delivery", |s| {
            s.iter().any(|s| s.id == delivery_span)
                && s.iter()
                    .any(|s| s.name == "db.transaction" && s.trace == TRACE)
        })
        .await;
    let request = spans
        .iter()
        .find(|s| s.trace == TRACE && s.attributes.contains_key("http.route"))
        .expect("the request's span");
    assert_eq!(request.name, "POST /v1/registration/create");
    assert_eq!(
        request.parent, CALLER_SPAN,
        "the caller's span is its parent"
    );
    assert_eq!(request.service, "tus");
    assert_eq!(request.attributes["http.response.status_code"], "200");
    let transaction = spans
        .iter()
        .find(|s| s.name == "db.transaction" && s.trace == TRACE)
        .unwrap();
    assert_eq!(transaction.parent, request.id);
    assert_eq!(
        transaction.attributes["db.system.name"],
        if db.backend() == "postgres" {
            "postgresql"
        } else {
            "sqlite"
        }
    );
    assert_eq!(transaction.attributes["db.outcome"], "commit");
    let delivery = spans.iter().find(|s| s.id == delivery_span).unwrap();
    assert_eq!(delivery.name, "POST webhook");
    assert_eq!(delivery.trace, TRACE);
    assert_eq!(
        delivery.parent, request.id,
        "the change's request is its parent"
    );
    assert_eq!(delivery.attributes["http.response.status_code"], "200");
    // Transactions are traced inside requests only: the workers' polls are no traces.
    assert!(spans
        .iter()
        .filter(|s| s.name == "db.transaction")
        .all(|s| !s.parent.is_empty()));
    // What the caller wrote in tracestate reaches no span.
    assert!(spans
        .iter()
        .all(|s| s.attributes.values().all(|v| !v.contains("forged"))));

    // The forged request: a fresh trace, no parent; its delivery continues that trace.
    let orphan_trace = events_of(&got, "user.created", &orphan_user)[0]
        .traceparent
        .clone()
        .expect("a delivery of an untraced change starts from its request's trace")
        .split('-')
        .nth(1)
        .unwrap()
        .to_string();
    assert_ne!(orphan_trace, TRACE);
    assert_ne!(orphan_trace, "0".repeat(32));
    let spans = collector
        .wait_for("the forged request's span", |s| {
            s.iter()
                .any(|s| s.trace == orphan_trace && s.attributes.contains_key("http.route"))
        })
        .await;
    let orphan_request = spans
        .iter()
        .find(|s| s.trace == orphan_trace && s.attributes.contains_key("http.route"))
        .unwrap();
    assert_eq!(orphan_request.parent, "", "a forged parent is no parent");

    // The JSON log line of the traced request names its trace.
    let lines = std::fs::read_to_string(&log).unwrap();
    let served: Vec<Value> = lines
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "served")
        .collect();
    assert!(
        served
            .iter()
            .any(|l| l["span"]["trace_id"] == TRACE && l["span"]["request_id"].is_string()),
        "{lines}"
    );
    assert!(!lines.contains("forged"), "{lines}");
    drop(node);
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn spans_go_out_as_otlp_json_when_asked() {
    let db = ScratchDatabase::from_env().await.unwrap();
    let instance = create_instance(&db.url);
    let (collector, collector_url) = Collector::start().await;
    let log = std::env::temp_dir().join(format!("tus-traces-{}.log", uuid::Uuid::new_v4()));
    let node = start_traced(&db.url, &collector_url, "http/json", &log);
    ready(&[&node]).await;
    register(&node.base, &instance, Some(&caller_traceparent())).await;
    let spans = collector
        .wait_for("the request's span", |s| {
            s.iter()
                .any(|s| s.trace == TRACE && s.parent == CALLER_SPAN)
        })
        .await;
    assert!(spans.iter().all(|s| s.service == "tus"));
    assert!(collector
        .content_types
        .lock()
        .unwrap()
        .iter()
        .all(|t| t.starts_with("application/json")));
    drop(node);
    let _ = std::fs::remove_file(&log);
}

/// Export off (the in-process server): the caller's traceparent still reaches the webhook
/// deliveries of its change, checked and rewritten; a forged one and tracestate do not.
#[tokio::test]
async fn without_export_a_callers_trace_is_passed_on_to_webhooks_and_a_forged_one_is_not() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (receiver, hook) = Receiver::start().await;
    let created = app
        .post(
            "/v1/Webhooks",
            &json!({ "Url": hook, "AllowPrivate": true }),
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);

    let mut users = Vec::new();
    let long = format!("00-{}-{CALLER_SPAN}-01", "a".repeat(4000));
    for traceparent in [
        Some(caller_traceparent()),
        Some(format!("00-{TRACE}-0000000000000000-01")),
        Some("00-not-a-trace-01".to_string()),
        Some(long),
        None,
    ] {
        let mut headers = app.instance_headers();
        if let Some(t) = &traceparent {
            headers.push(("traceparent", t.clone()));
            headers.push(("tracestate", "evil=forged".to_string()));
        }
        let answer = app
            .post("/v1/Registration/Create", &json!({}), &headers)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        users.push(answer.result()["DeviceToken"].as_str().unwrap().to_string());
    }
    let got = receiver
        .wait_for("every user's created event", |g| {
            users
                .iter()
                .all(|u| events_of(g, "user.created", u).len() == 1)
        })
        .await;
    let sent: Vec<Option<String>> = users
        .iter()
        .map(|u| events_of(&got, "user.created", u)[0].traceparent.clone())
        .collect();
    assert_eq!(
        sent,
        vec![Some(caller_traceparent()), None, None, None, None]
    );
}

/// The doctor says whether traces are on and the collector reachable; a start refuses, in
/// plain words, what it cannot export over.
#[tokio::test]
async fn the_doctor_checks_the_collector_and_a_start_refuses_grpc() {
    let db = ScratchDatabase::from_env().await.unwrap();
    let (code, said) = doctor(&db.url, &[]);
    assert!(said.contains("note  traces: off"), "{said}");
    assert_eq!(code, 0, "{said}");

    let (_collector, url) = Collector::start().await;
    let (code, said) = doctor(&db.url, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &url)]);
    let port = url.rsplit(':').next().unwrap();
    assert!(
        said.contains(&format!(
            "ok    traces: spans go to 127.0.0.1:{port} over http/protobuf"
        )),
        "{said}"
    );
    assert_eq!(code, 0, "{said}");

    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let (code, said) = doctor(&db.url, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &nowhere)]);
    assert!(
        said.contains("FAIL  traces: cannot reach the collector at 127.0.0.1:"),
        "{said}"
    );
    assert_eq!(code, 1, "{said}");

    let grpc = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ];
    let (code, said) = doctor(&db.url, &grpc);
    assert!(
        said.contains("FAIL  traces: OTEL_EXPORTER_OTLP_PROTOCOL=grpc"),
        "{said}"
    );
    assert_eq!(code, 1, "{said}");
    let started = tus(&db.url)
        .arg("serve")
        .envs(grpc)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{}", free_port()))
        .output()
        .expect("tus runs");
    assert_eq!(started.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&started.stderr);
    assert!(stderr.contains("gRPC is not built in"), "{stderr}");
}
