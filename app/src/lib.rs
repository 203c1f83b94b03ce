//! The Telematics User Service's dashboard: its pages, components and server functions.
//!
//! Built twice: as the SSR library the server links (`ssr`: with the domain, `tus-core`, and
//! the glue in `ssr`), and as the WASM bundle that hydrates the pages (`hydrate`: UI code and
//! the wire types of `tus-wire` only).

// Release builds keep the full view types (debug builds erase them): they nest deep.
#![recursion_limit = "256"]

pub mod app;
pub mod components;
pub mod error;
pub mod pages;
pub mod server_fns;
pub mod session_menu;

#[cfg(feature = "ssr")]
pub mod ssr;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Pages are lazy routes (each its own WASM chunk): hydration waits for the chunk of the
    // page the server rendered before it walks the DOM.
    leptos::mount::hydrate_lazy(app::App);
}
