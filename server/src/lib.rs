//! The `tus` server: configuration, start-up and the REST API around the app's core.
// Release builds keep the dashboard's full view types (debug ones erase them): deep.
#![recursion_limit = "256"]
pub mod api;
pub mod config;
pub mod delivery;
pub mod doctor;
pub mod export;
pub mod import_cli;
pub mod metrics;
pub mod serve;
pub mod startup;
pub mod telemetry;
pub mod webhooks;
pub mod workers;
