//! Traces: OpenTelemetry spans, exported over OTLP/HTTP when the standard variables ask for
//! it (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), and the W3C
//! trace context in and out.
//!
//! - Each request has a span (`request_span`) whose parent is the caller's `traceparent`,
//!   when it sent a valid one; the core's transactions are its children (`tus_core::store`).
//! - The request's trace goes with the changes it makes (`carry`, `tus_core::trace`), so
//!   the webhook deliveries of an event continue it (`delivery_span`) and send their own
//!   `traceparent` to the receiver.
//! - Only `traceparent` is read from a caller; `tracestate` is not taken in, so nothing a
//!   caller writes there reaches our spans, our collector or the receivers of webhooks.
//! - With export off, the request's log lines still carry the caller's trace id, and a
//!   webhook delivery passes the caller's `traceparent` on unchanged (checked and rewritten).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Whether spans are exported (set once, by `TraceSettings::exporter`).
static EXPORTING: AtomicBool = AtomicBool::new(false);

const TRACEPARENT: &str = "traceparent";

/// Where and how spans go, as the standard OpenTelemetry variables say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSettings {
    /// The URL spans are posted to (`…/v1/traces`).
    pub endpoint: String,
    /// `http/protobuf` or `http/json`.
    pub protocol: &'static str,
}

impl TraceSettings {
    /// The settings the standard variables ask for, or `None` when they ask for no
    /// export (no endpoint, `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`); an
    /// error in plain words for what this server cannot do.
    pub fn from_env() -> Result<Option<TraceSettings>, String> {
        TraceSettings::from_vars(&|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<TraceSettings>, String> {
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        match var("OTEL_TRACES_EXPORTER").as_deref().map(str::trim) {
            None | Some("otlp") => {}
            Some("none") => return Ok(None),
            Some(other) => {
                return Err(format!(
                    "OTEL_TRACES_EXPORTER={other}: traces go out over OTLP only (otlp, or none)"
                ))
            }
        }
        let endpoint = match (
            var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            var("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(traces), _) => traces.trim().to_string(),
            (None, Some(base)) => format!("{}/v1/traces", base.trim().trim_end_matches('/')),
            (None, None) => return Ok(None),
        };
        if url::Url::parse(&endpoint).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
            return Err(format!(
                "the OTLP endpoint {endpoint:?} is not an http:// or https:// URL"
            ));
        }
        let protocol = var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"));
        let protocol = match protocol.as_deref().map(str::trim) {
            None | Some("http/protobuf") => "http/protobuf",
            Some("http/json") => "http/json",
            Some(other) => {
                return Err(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL={other}: traces go out over OTLP/HTTP \
                     (http/protobuf or http/json, usually port 4318); gRPC is not built in"
                ))
            }
        };
        Ok(Some(TraceSettings { endpoint, protocol }))
    }

    /// The exporting provider. Besides the endpoint and protocol, the exporter reads
    /// `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`, `…_TIMEOUT` and `…_COMPRESSION`; the SDK reads
    /// `OTEL_SERVICE_NAME` (default `tus`), `OTEL_RESOURCE_ATTRIBUTES`,
    /// `OTEL_TRACES_SAMPLER[_ARG]` and `OTEL_BSP_*`.
    pub fn exporter(&self) -> Result<SdkTracerProvider, String> {
        let protocol = match self.protocol {
            "http/json" => Protocol::HttpJson,
            _ => Protocol::HttpBinary,
        };
        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(protocol)
            .with_endpoint(self.endpoint.clone())
            .build()
            .map_err(|e| format!("the OTLP trace exporter could not be set up: {e}"))?;
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let named = var("OTEL_SERVICE_NAME").is_some()
            || var("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.contains("service.name="));
        let mut resource = Resource::builder()
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
        if !named {
            resource = resource.with_service_name("tus");
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(spans)
            .with_resource(resource.build())
            .build();
        EXPORTING.store(true, Ordering::Relaxed);
        Ok(provider)
    }
}

/// A caller's `traceparent` value as the propagator's only input: it reads nothing else
/// (no `tracestate`).
struct Traceparent<'a>(Option<&'a str>);

impl Extractor for Traceparent<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.filter(|_| key == TRACEPARENT)
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

/// The trace a `traceparent` value continues (an empty context when it is not valid: wrong
/// version, length, characters, or an all-zero id).
fn parent_of(traceparent: Option<&str>) -> Context {
    TraceContextPropagator::new().extract(&Traceparent(traceparent))
}

/// The `traceparent` that continues `cx`, if it is in a valid trace.
fn traceparent_of(cx: &Context) -> Option<String> {
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut out = HashMap::new();
    TraceContextPropagator::new().inject_context(cx, &mut out);
    out.remove(TRACEPARENT)
}

/// Ties `span` to the trace `parent` continues, and answers the trace id it then has (the
/// parent's when exporting or not; a new one when exporting with no valid parent).
fn join(span: &Span, parent: Context) -> Option<TraceId> {
    let id = if EXPORTING.load(Ordering::Relaxed) {
        let _ = span.set_parent(parent);
        span.context().span().span_context().trace_id()
    } else {
        parent.span().span_context().trace_id()
    };
    (id != TraceId::INVALID).then_some(id)
}

/// The span of a request: named `METHOD route` after the matched route's template (the
/// method alone for what no route matched), a child of the caller's trace. Its `trace_id`
/// field puts that trace on every log line written while serving it.
pub fn request_span(req: &Request) -> Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let method = crate::metrics::method_label(req.method());
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    // The path only: queries can carry e-mails and phone numbers.
    let span = tracing::info_span!(
        "request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = Empty,
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        http.route = route,
        http.response.status_code = Empty,
        trace_id = Empty,
    );
    let parent = req.headers().get(TRACEPARENT).and_then(|v| v.to_str().ok());
    if let Some(trace) = join(&span, parent_of(parent)) {
        span.record("trace_id", tracing::field::display(trace));
    }
    span
}

/// Notes the answer's status on the request's span (a server error marks it failed).
pub fn record_status(span: &Span, status: http::StatusCode) {
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}

/// Runs the request with its trace as the one of the changes it makes (see
/// `tus_core::trace`): the request span's own context when exporting, else the caller's
/// `traceparent` as checked.
pub async fn carry(req: Request, next: Next) -> Response {
    let traceparent = if EXPORTING.load(Ordering::Relaxed) {
        traceparent_of(&Span::current().context())
    } else {
        let caller = req.headers().get(TRACEPARENT).and_then(|v| v.to_str().ok());
        traceparent_of(&parent_of(caller))
    };
    tus_core::trace::within(traceparent, next.run(req)).await
}

/// The span of one webhook delivery attempt, in the trace of the change that made its
/// event, and the `traceparent` to send with it.
pub fn delivery_span(
    webhook: &str,
    event: &str,
    attempt: i64,
    change: Option<&str>,
) -> (Span, Option<String>) {
    let span = tracing::info_span!(
        "webhook.delivery",
        otel.name = "POST webhook",
        otel.kind = "client",
        otel.status_code = Empty,
        webhook.id = %webhook,
        event.id = %event,
        attempt,
        http.response.status_code = Empty,
    );
    let parent = parent_of(change);
    let traceparent = if EXPORTING.load(Ordering::Relaxed) {
        join(&span, parent);
        traceparent_of(&span.context())
    } else {
        traceparent_of(&parent)
    };
    (span, traceparent)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_valid_traceparent_is_continued_as_it_came() {
        assert_eq!(
            traceparent_of(&parent_of(Some(VALID))).as_deref(),
            Some(VALID)
        );
        // A later version's extra fields are dropped: what goes on is version 00.
        let later = "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra";
        assert_eq!(
            traceparent_of(&parent_of(Some(later))).as_deref(),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        );
    }

    #[test]
    fn a_hostile_or_broken_traceparent_is_no_trace() {
        let long = format!("00-{}-b7ad6b7169203331-01", "a".repeat(10_000));
        let cases = [
            "",
            "garbage",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0af7651916cd43dd8448eb211c8031zz-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nx-evil: 1",
            long.as_str(),
        ];
        for case in cases {
            assert_eq!(traceparent_of(&parent_of(Some(case))), None, "{case:.80}");
        }
        assert_eq!(traceparent_of(&parent_of(None)), None);
    }

    #[test]
    fn only_traceparent_is_read_from_a_caller() {
        let caller = Traceparent(Some(VALID));
        assert_eq!(caller.get("tracestate"), None);
        let cx = TraceContextPropagator::new().extract(&caller);
        assert!(cx.span().span_context().is_valid());
        assert_eq!(cx.span().span_context().trace_state().header(), "");
    }

    #[test]
    fn the_standard_variables_choose_the_exporter() {
        let settings = |var: &dyn Fn(&str) -> Option<String>| TraceSettings::from_vars(var);
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(settings(&vars(&[])).unwrap().is_none());
        let off: &[(&str, &str)] = &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ];
        assert!(settings(&vars(off)).unwrap().is_none());
        let none: &[(&str, &str)] = &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ];
        assert!(settings(&vars(none)).unwrap().is_none());
        let grpc: &[(&str, &str)] = &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ];
        let error = settings(&vars(grpc)).unwrap_err();
        assert!(error.contains("gRPC is not built in"), "{error}");
        let zipkin: &[(&str, &str)] = &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_TRACES_EXPORTER", "zipkin"),
        ];
        assert!(settings(&vars(zipkin)).is_err());
        let base: &[(&str, &str)] = &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")];
        assert_eq!(
            settings(&vars(base)).unwrap(),
            Some(TraceSettings {
                endpoint: "http://collector:4318/v1/traces".into(),
                protocol: "http/protobuf"
            })
        );
        let own: &[(&str, &str)] = &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces.example/otlp",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ];
        assert_eq!(
            settings(&vars(own)).unwrap(),
            Some(TraceSettings {
                endpoint: "https://traces.example/otlp".into(),
                protocol: "http/json"
            })
        );
        let not_a_url: &[(&str, &str)] = &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")];
        assert!(settings(&vars(not_a_url)).is_err());
    }
}
