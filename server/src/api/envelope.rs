//! The response envelope every `/v1` answer uses, errors included:
//! `{"Result": ..., "Status": <HTTP status>, "Title": "...", "Errors": [{"Key", "Message"}]}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorItem {
    pub key: String,
    pub message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope<T: Serialize> {
    /// Absent for update/delete answers; `null` on errors.
    #[serde(skip_serializing_if = "Absent::is_absent")]
    result: Absent<T>,
    status: u16,
    title: String,
    errors: Vec<ErrorItem>,
}

/// `Result` that can be a value, `null`, or not there at all.
enum Absent<T> {
    Value(T),
    Null,
    Missing,
}

impl<T> Absent<T> {
    fn is_absent(&self) -> bool {
        matches!(self, Absent::Missing)
    }
}

impl<T: Serialize> Serialize for Absent<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Absent::Value(v) => v.serialize(s),
            _ => s.serialize_none(),
        }
    }
}

/// A successful answer with a `Result`.
pub struct Data<T>(pub T);

impl<T: Serialize> IntoResponse for Data<T> {
    fn into_response(self) -> Response {
        let body = Envelope {
            result: Absent::Value(self.0),
            status: 200,
            title: String::new(),
            errors: vec![],
        };
        (StatusCode::OK, Json(body)).into_response()
    }
}

/// A successful answer without `Result` (update, delete).
pub struct Done;

impl IntoResponse for Done {
    fn into_response(self) -> Response {
        let body = Envelope::<()> {
            result: Absent::Missing,
            status: 200,
            title: String::new(),
            errors: vec![],
        };
        (StatusCode::OK, Json(body)).into_response()
    }
}

/// An error answer: `Result` null, `Status` equal to the HTTP status.
pub fn error_response(status: StatusCode, title: &str, errors: Vec<ErrorItem>) -> Response {
    let body = Envelope::<()> {
        result: Absent::Null,
        status: status.as_u16(),
        title: title.to_string(),
        errors,
    };
    (status, Json(body)).into_response()
}
