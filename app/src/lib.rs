//! The Telematics User Service web app and its domain core.
//!
//! Built twice: as the SSR library the server links (`ssr`: also `core` and `ssr`), and as
//! the WASM bundle that hydrates the pages (`hydrate`: UI code and wire types only).

// Release builds keep the full view types (debug builds erase them): they nest deep.
#![recursion_limit = "256"]

pub mod app;
pub mod components;
pub mod error;
pub mod model;
pub mod pages;
pub mod server_fns;
pub mod views;

#[cfg(feature = "ssr")]
pub mod core;
#[cfg(feature = "ssr")]
pub mod ssr;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
