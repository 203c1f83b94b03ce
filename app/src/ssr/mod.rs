//! Glue both transports share: the router state and the dashboard's session.

pub mod headers;
pub mod session;

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use tus_core::Core;

/// The state of the whole router: the REST handlers extract it, and leptos_axum provides it
/// as context to server functions. axum clones it for every request, in each layer and
/// handler that takes it, so both parts are shared handles: the Leptos options (a dozen
/// strings) are copied only where a page or server function asks for them.
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    pub leptos_options: Arc<LeptosOptions>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        LeptosOptions::clone(&state.leptos_options)
    }
}

impl FromRef<AppState> for Core {
    fn from_ref(state: &AppState) -> Self {
        state.core.clone()
    }
}
