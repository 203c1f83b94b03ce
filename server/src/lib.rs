//! The `tus` server: configuration, start-up and the REST API around the app's core.
pub mod api;
pub mod config;
pub mod startup;
