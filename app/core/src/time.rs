//! Stored times are milliseconds since the Unix epoch, UTC.

use chrono::{DateTime, Utc};

pub fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A stored time as the API and the dashboard show it: ISO-8601, UTC, milliseconds.
pub fn iso(at_ms: i64) -> String {
    crate::types::format_datetime(from_ms(at_ms))
}
