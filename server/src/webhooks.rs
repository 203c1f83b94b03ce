//! The webhook worker every replica runs: fans new events out (one dispatcher at a time),
//! claims due deliveries and POSTs each, signed the Standard Webhooks way, then settles it.
//!
//! Safety of the request: no redirect is followed; the answer is read up to `ANSWER_LIMIT`
//! bytes; a name is resolved by our own resolver, which drops link-local, unspecified and
//! multicast addresses always and loopback or private ones unless the webhook allows them,
//! so the address checked is the address connected to (no rebinding between the two).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;
use tus_core::webhooks::{address_allowed, SendOutcome, WebhookOutgoing};
use tus_core::Core;

/// Longest one delivery may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of the receiver's answer read at most.
const ANSWER_LIMIT: usize = 4096;

/// Deliveries claimed per round.
const CLAIM: i64 = 32;

/// Resolves names to the addresses a webhook may reach.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| address_allowed(a.ip(), allow_private).is_ok())
                .collect();
            if allowed.is_empty() {
                let why = found
                    .first()
                    .map(|a| address_allowed(a.ip(), allow_private).unwrap_err())
                    .unwrap_or_else(|| "the name has no address".into());
                return Err(why.into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP clients of webhook deliveries: one for public receivers only, one that may
/// also reach loopback and private networks.
pub struct Sender {
    public: reqwest::Client,
    private: reqwest::Client,
}

fn client(allow_private: bool) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(SEND_TIMEOUT)
        .user_agent(concat!("tus-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .build()
        .map_err(|e| format!("the webhook client could not be built: {e}"))
}

impl Sender {
    pub fn new() -> Result<Sender, String> {
        Ok(Sender {
            public: client(false)?,
            private: client(true)?,
        })
    }

    /// One attempt: the receiver's status, how long it took, and what went wrong.
    /// It runs in a span of its own in the trace of the change that made the event, and
    /// tells the receiver so (`traceparent`).
    pub async fn send(&self, d: &WebhookOutgoing) -> SendOutcome {
        let (span, traceparent) = crate::telemetry::delivery_span(
            &d.webhook_id,
            &d.event_id,
            d.attempt,
            d.trace_parent.as_deref(),
        );
        let started = Instant::now();
        let outcome = self
            .post(d, traceparent.as_deref())
            .instrument(span.clone())
            .await;
        let took_ms = started.elapsed().as_millis() as i64;
        if let Ok(status) = &outcome {
            span.record("http.response.status_code", status);
        }
        if !matches!(outcome, Ok(status) if (200..300).contains(&status)) {
            span.record("otel.status_code", "ERROR");
        }
        match outcome {
            Ok(status) if (200..300).contains(&status) => SendOutcome {
                status: Some(status),
                took_ms,
                error: None,
            },
            Ok(status) => SendOutcome {
                status: Some(status),
                took_ms,
                error: Some(format!("the receiver answered {status}")),
            },
            Err(error) => SendOutcome {
                status: None,
                took_ms,
                error: Some(error),
            },
        }
    }

    async fn post(&self, d: &WebhookOutgoing, traceparent: Option<&str>) -> Result<u16, String> {
        let url =
            url::Url::parse(&d.url).map_err(|_| "the webhook URL is not a URL".to_string())?;
        // An address written in the URL is not resolved: check it here.
        if let Some(host) = url.host() {
            let ip = match host {
                url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
                url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
                url::Host::Domain(_) => None,
            };
            if let Some(ip) = ip {
                address_allowed(ip, d.allow_private)?;
            }
        }
        let client = if d.allow_private {
            &self.private
        } else {
            &self.public
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signature = d.signature(timestamp).map_err(|e| e.to_string())?;
        let mut request = client.post(url);
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let response = request
            .header("content-type", "application/json")
            .header("webhook-id", &d.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(d.body.clone())
            .send()
            .await
            .map_err(describe)?;
        let status = response.status().as_u16();
        // Read a little of the answer (a receiver may wait for it to be read), never more.
        let mut response = response;
        let mut read = 0;
        while let Ok(Some(chunk)) = response.chunk().await {
            read += chunk.len();
            if read >= ANSWER_LIMIT {
                break;
            }
        }
        Ok(status)
    }
}

/// What went wrong, without the URL (it may hold a token in its path or query).
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        format!("no answer within {} s", SEND_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = std::error::Error::source(&e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind
    } else {
        format!("{kind}: {detail}")
    }
}

/// The worker: dispatch, claim, send, settle; sleeps `poll` when there is nothing to do.
/// Runs until aborted; a send in flight then leaves its lease to run out and goes again.
pub async fn run_worker(
    core: Core,
    sender: Arc<Sender>,
    poll: Duration,
    mut worker: crate::workers::Worker,
) {
    while !worker.asked() {
        let dispatched = match core.dispatch_events(Core::now()).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "dispatching events failed");
                0
            }
        };
        let claimed = match core.claim_webhook_deliveries(Core::now(), CLAIM).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "claiming webhook deliveries failed");
                Vec::new()
            }
        };
        if claimed.is_empty() {
            if dispatched == 0 {
                worker.pause(poll).await;
            }
            continue;
        }
        // Once claimed, a delivery is sent and settled even when a stop comes meanwhile.
        let sends = claimed.into_iter().map(|d| {
            let core = core.clone();
            let sender = sender.clone();
            async move {
                let outcome = sender.send(&d).await;
                if let Some(error) = &outcome.error {
                    tracing::warn!(webhook = %d.webhook_id, delivery = %d.id, attempt = d.attempt, %error, "a webhook delivery failed");
                }
                if let Err(e) = core.settle_webhook_delivery(Core::now(), &d, &outcome).await {
                    tracing::warn!(delivery = %d.id, error = %e, "settling a webhook delivery failed");
                }
            }
        });
        futures_util::future::join_all(sends).await;
        worker.beat();
    }
}
