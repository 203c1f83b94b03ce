//! The wire types of the service, shared by the domain (`tus-core`), the REST API, the
//! dashboard's server functions and the browser (this crate is in the WASM bundle too, so it
//! depends on serde alone).
//!
//! - `model`: the bodies of the original API's routes, PascalCase as clients send them.
//! - `views`: what the dashboard's server functions take and answer.
//!
//! Invariant: nothing here ever holds a password hash, an InstanceKey, a refresh token's
//! hash or a signing key.

pub mod model;
pub mod views;
