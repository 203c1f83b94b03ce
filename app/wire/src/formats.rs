//! The shapes of strings the server enforces, as OpenAPI schemas (for the API document
//! only; `schema(value_type = …)` on a wire field names one). Each says exactly what its
//! parser in `tus-core` accepts, so that a generated client neither sends what is refused
//! nor is refused what the document allows.

#![allow(dead_code)] // never built as values: they only name schemas

/// A text field (`parse_text`): trimmed of white space, at most 256 characters, no control
/// characters. Empty or blank means "not given".
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[schema(
    pattern = r"^[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*(?:[^\x00-\x1F\x7F-\x9F]{0,255}[^\x00-\x1F\x7F-\x9F \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
)]
pub struct Text(String);

/// A text that must say something: as `Text`, and not blank.
#[derive(utoipa::ToSchema)]
#[schema(
    pattern = r"^[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x1F\x7F-\x9F]{0,255}[^\x00-\x1F\x7F-\x9F \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
)]
pub struct NonBlankText(String);

/// Search words: as `Text`, with at most 8 words.
#[derive(utoipa::ToSchema)]
#[schema(
    pattern = r"^[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*(?:[^\x00-\x1F\x7F-\x9F \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+(?:[ \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+[^\x00-\x1F\x7F-\x9F \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+){0,7})?[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
)]
pub struct SearchTerm(String);

/// A full name: at least two words (a first and a last name, split any way), as `Text`.
#[derive(utoipa::ToSchema)]
#[schema(
    pattern = r"^[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x1F\x7F-\x9F \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]{1,60}(?:[ \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]{1,4}[^\x00-\x1F\x7F-\x9F \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]{1,60}){1,3}[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
)]
pub struct FullName(String);

/// A login phone number: 4 to 20 digits, optionally after a `+` (the server also takes and
/// drops spaces, dots, dashes and brackets between them).
#[derive(utoipa::ToSchema)]
#[schema(pattern = r"^\+?[0-9]{4,20}$")]
pub struct PhoneNumber(String);

/// An SMS recipient in E.164: `+`, a country code, 8 to 15 digits in all.
#[derive(utoipa::ToSchema)]
#[schema(pattern = r"^\+[1-9][0-9]{7,14}$")]
pub struct SmsNumber(String);

/// A webhook receiver: an https URL whose host is a name (http, and an address on a loopback
/// or private network, only with `AllowPrivate`), without credentials.
#[derive(utoipa::ToSchema)]
#[schema(
    pattern = r"^https://[a-z][a-z0-9-]{0,30}(?:\.[a-z][a-z0-9-]{0,30}){0,4}(?::[1-9][0-9]{0,3})?(?:/[A-Za-z0-9._~%-]{0,40}){0,5}$"
)]
pub struct WebhookUrl(String);

/// An e-mail address (the server takes at most 256 characters).
#[derive(utoipa::ToSchema)]
#[schema(format = Email)]
pub struct EmailAddress(String);

/// An ISO-8601 date (`1990-05-17`); the server also takes a datetime.
#[derive(utoipa::ToSchema)]
#[schema(format = Date)]
pub struct Day(String);

/// A UUID (any case; the server also takes the simple, braced and URN forms).
#[derive(utoipa::ToSchema)]
#[schema(
    format = Uuid,
    pattern = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
)]
pub struct Id(String);

/// Where a one-time code goes (`/v1/Auth/Code`, `/v1/Auth/Reset`): an object with exactly one
/// of these keys (any case; other keys are ignored), or a string holding its JSON.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct ContactLoginFields {
    #[schema(value_type = Option<EmailAddress>, nullable = false)]
    email: Option<String>,
    #[schema(value_type = Option<PhoneNumber>, nullable = false)]
    phone: Option<String>,
}

/// `MaritalStatus`: a code or a word, or a number.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum MaritalStatus {
    Word(Text),
    Number(f64),
}

/// The login name of `/v1/Auth/Login`: an object with exactly one of these keys (any case;
/// other keys are ignored). Older clients send the same object as a string holding its JSON,
/// which the server takes too.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct LoginFields {
    /// A device login: the Password is the instance's key.
    #[schema(value_type = Option<Id>, nullable = false)]
    device_token: Option<String>,
    #[schema(value_type = Option<EmailAddress>, nullable = false)]
    email: Option<String>,
    #[schema(value_type = Option<PhoneNumber>, nullable = false)]
    phone: Option<String>,
}

/// An ISO-8601 datetime (`1990-05-17T00:00:00Z`); the server also takes a date alone, and a
/// datetime without a zone (UTC).
#[derive(utoipa::ToSchema)]
#[schema(format = DateTime)]
pub struct Moment(String);

/// An http(s) URL without white space.
#[derive(utoipa::ToSchema)]
#[schema(
    pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]{1,240}$"
)]
pub struct WebUrl(String);

/// An instance's invite code: letters and digits (any case).
#[derive(utoipa::ToSchema)]
#[schema(pattern = r"^[A-Za-z0-9]{1,32}$")]
pub struct InviteCode(String);
