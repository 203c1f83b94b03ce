//! Glue both transports share: the router state and the dashboard's session.

pub mod headers;
pub mod session;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use tus_core::Core;

/// The state of the whole router: the REST handlers extract it, and leptos_axum provides it
/// as context to server functions.
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    pub leptos_options: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl FromRef<AppState> for Core {
    fn from_ref(state: &AppState) -> Self {
        state.core.clone()
    }
}
