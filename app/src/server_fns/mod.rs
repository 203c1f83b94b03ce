//! Server functions: each checks its caller, calls the core, and maps the error. Paths are
//! explicit (`/api/<name>`), so they are the same on every machine.
pub mod instances;
