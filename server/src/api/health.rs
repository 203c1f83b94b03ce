//! Operations endpoints, outside the envelope: liveness and readiness for load balancers.

use app::ssr::AppState;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;
use tus_core::Core;

use crate::workers::{Heartbeats, Loop, LoopState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// The database (its answer time), and each background loop: when it last ended a round.
/// 503 only when the database does not answer (a load balancer then sends traffic
/// elsewhere); a stalled loop makes the status `degraded` with 200, as the other replicas'
/// loops do the same work.
async fn readyz(
    State(core): State<Core>,
    Extension(beats): Extension<Arc<Heartbeats>>,
) -> (StatusCode, Json<serde_json::Value>) {
    let started = std::time::Instant::now();
    let database = core.ready().await;
    let ms = started.elapsed().as_millis() as u64;
    let now = tus_core::time::ms(Core::now());
    let mut checks = serde_json::Map::new();
    checks.insert(
        "database".into(),
        match &database {
            Ok(()) => json!({ "status": "up", "ms": ms }),
            Err(_) => json!({ "status": "down", "ms": ms }),
        },
    );
    let mut stalled = false;
    for which in Loop::ALL {
        let state = beats.state(which, now);
        stalled |= state.is_stalled();
        let check = match state {
            LoopState::Off => json!({ "status": "off" }),
            LoopState::Starting => json!({ "status": "starting" }),
            LoopState::Running { seconds_ago } => {
                json!({ "status": "running", "last_round_seconds_ago": seconds_ago })
            }
            LoopState::Stalled { seconds_ago } => {
                json!({ "status": "stalled", "last_round_seconds_ago": seconds_ago })
            }
        };
        checks.insert(which.name().into(), check);
    }
    let backend = core.store().backend();
    match database {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({
                "status": if stalled { "degraded" } else { "ready" },
                "database": backend,
                "checks": checks,
            })),
        ),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": backend, "checks": checks })),
            )
        }
    }
}
