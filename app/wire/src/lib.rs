//! The wire types of the service, shared by the domain (`tus-core`), the REST API, the
//! dashboard's server functions and the browser (this crate is in the WASM bundle too, so it
//! depends on serde alone).
//!
//! - `model`: the bodies of the original API's routes, PascalCase as clients send them.
//! - `formats`: the shapes of strings the server enforces, for the API document.
//! - `views`: what the dashboard's server functions take and answer.
//!
//! Invariant: nothing here ever holds a password hash, an InstanceKey, a refresh token's
//! hash or a signing key.

#[cfg(feature = "openapi")]
pub mod formats;
pub mod model;
pub mod views;
