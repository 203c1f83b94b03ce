//! Domain types. Untrusted input is parsed into these at the edge of the core, so every
//! function behind it sees only valid values. Parsers return `Result<_, String>` whose error
//! is a message fit for the client; `FieldErrors::take` files it under the field's wire name.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use uuid::Uuid;

/// Longest string any field accepts.
pub const MAX_STRING: usize = 256;

/// A new id for a row the server names itself and writes often (token families, refresh and
/// access tokens, events): a UUID v7, whose leading milliseconds make consecutive ids
/// neighbours, so an insert appends to the index instead of dirtying a random page of it
/// (a random v4 key costs a page write per row once the index outgrows the cache). Never
/// a secret: a v7 says when it was made, which the rows say anyway.
pub fn new_row_id() -> Uuid {
    Uuid::now_v7()
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $unknown:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
            /// Accepts the hyphenated, simple (no dashes), braced or URN form, any case.
            pub fn parse(input: &str) -> Result<Self, String> {
                Uuid::try_parse(input.trim())
                    .map(Self)
                    .map_err(|_| format!("{} must be a UUID", $what))
            }
            /// An id naming something in a path or a call: one that does not parse names
            /// nothing, so it is `NotFound`, like an id nobody has.
            pub fn named(input: &str) -> crate::error::CoreResult<Self> {
                Self::parse(input)
                    .map_err(|_| crate::error::CoreError::NotFound($unknown.into()))
            }
        }

        impl fmt::Display for $name {
            /// Always the lower-case hyphenated form: the one stored and compared.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A user's identity: generated, or the caller's `CustomToken`.
    DeviceToken,
    "DeviceToken",
    "no user has this DeviceToken"
);
uuid_id!(InstanceId, "InstanceId", "no instance has this id");
uuid_id!(ApplicationId, "ApplicationId", "no application has this id");
uuid_id!(CompanyId, "CompanyId", "no company has this id");
uuid_id!(BatchId, "BatchId", "no batch has this id");

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident),+ $(,)? }, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }
            /// Case-insensitive.
            pub fn parse(input: &str) -> Result<Self, String> {
                let input = input.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(input))
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        format!("{} must be one of {}", $what, names.join(", "))
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    Gender {
        None,
        Male,
        Female,
        Other
    },
    "Gender"
);
string_enum!(
    /// A user's status. `Deleted` exists only as an update command, never as a stored state.
    UserStatus { Active, Deactivated },
    "Status"
);
string_enum!(
    InstanceStatus {
        Active,
        Deactivated
    },
    "Status"
);

string_enum!(
    /// The orders of `GetFilteredPage`; ties are broken by DeviceToken, in the same direction.
    UserSort {
        DateCreatedDesc,
        DateCreated,
        LastName,
        LastNameDesc,
        FirstName,
        FirstNameDesc,
        Email,
        EmailDesc,
        LastActivity,
        LastActivityDesc
    },
    "Sort"
);

string_enum!(
    /// What we see of a driver: see `activity::ActivityStatus::of`.
    ActivityStatus {
        Active,
        Lost,
        NoData,
        Deactivated
    },
    "ActivityStatus"
);

impl UserSort {
    /// Ordered by registration time.
    pub fn by_date(self) -> bool {
        matches!(self, UserSort::DateCreatedDesc | UserSort::DateCreated)
    }

    /// The same key in the other direction.
    pub fn reversed(self) -> UserSort {
        match self {
            UserSort::DateCreatedDesc => UserSort::DateCreated,
            UserSort::DateCreated => UserSort::DateCreatedDesc,
            UserSort::LastName => UserSort::LastNameDesc,
            UserSort::LastNameDesc => UserSort::LastName,
            UserSort::FirstName => UserSort::FirstNameDesc,
            UserSort::FirstNameDesc => UserSort::FirstName,
            UserSort::Email => UserSort::EmailDesc,
            UserSort::EmailDesc => UserSort::Email,
            UserSort::LastActivity => UserSort::LastActivityDesc,
            UserSort::LastActivityDesc => UserSort::LastActivity,
        }
    }
}

/// The flags, by name: one enum for the API, the dashboard and the store.
pub use tus_wire::views::Flag;

/// The four telematics flags. Defaults are the original API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserFlags {
    pub enable_tracking: bool,
    pub enable_logging: bool,
    pub enabled: bool,
    pub enable_real_time_location: bool,
}

impl UserFlags {
    pub fn get(&self, flag: Flag) -> bool {
        match flag {
            Flag::Tracking => self.enable_tracking,
            Flag::Logging => self.enable_logging,
            Flag::Sdk => self.enabled,
            Flag::RealTime => self.enable_real_time_location,
        }
    }

    pub fn set(&mut self, flag: Flag, on: bool) {
        match flag {
            Flag::Tracking => self.enable_tracking = on,
            Flag::Logging => self.enable_logging = on,
            Flag::Sdk => self.enabled = on,
            Flag::RealTime => self.enable_real_time_location = on,
        }
    }
}

impl Default for UserFlags {
    fn default() -> Self {
        Self {
            enable_tracking: true,
            enable_logging: false,
            enabled: true,
            enable_real_time_location: false,
        }
    }
}

/// A bounded, trimmed, non-empty text. Empty input means "not given".
pub fn parse_text(input: &str) -> Result<Option<String>, String> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.chars().count() > MAX_STRING {
        return Err(format!("must be at most {MAX_STRING} characters"));
    }
    if trimmed.chars().any(|c| c.is_control()) {
        return Err("must not contain control characters".into());
    }
    Ok(Some(trimmed.to_string()))
}

/// A login e-mail, stored lower-case so uniqueness ignores case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, String> {
        let value = input.trim();
        if value.chars().count() > MAX_STRING {
            return Err(format!("must be at most {MAX_STRING} characters"));
        }
        let mut parts = value.split('@');
        let (local, domain) = match (parts.next(), parts.next(), parts.next()) {
            (Some(l), Some(d), None) => (l, d),
            _ => return Err("must be an e-mail address like name@example.com".into()),
        };
        let bad = |s: &str| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control());
        if bad(local) || bad(domain) || domain.starts_with('.') || domain.ends_with('.') {
            return Err("must be an e-mail address like name@example.com".into());
        }
        Ok(Self(value.to_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A login phone number: digits with an optional leading `+`; spaces, dots, dashes and
/// brackets are dropped so `+1 (555) 010-0000` and `+15550100000` are the same login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(input: &str) -> Result<Self, String> {
        let compact: String = input
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = compact.strip_prefix('+').unwrap_or(&compact);
        if digits.len() < 4 || digits.len() > 20 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(
                "must be a phone number: 4 to 20 digits, optionally starting with +".into(),
            );
        }
        Ok(Self(compact))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// ISO-8601 date or datetime, with or without zone (no zone means UTC).
pub fn parse_datetime(input: &str) -> Result<DateTime<Utc>, String> {
    let s = input.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(dt.with_timezone(&Utc));
    }
    // The last: what a browser's datetime-local input sends.
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(naive.and_utc());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(naive) = date.and_hms_opt(0, 0, 0) {
            return Ok(naive.and_utc());
        }
    }
    Err("must be an ISO-8601 date or datetime, e.g. 1990-05-17 or 1990-05-17T00:00:00Z".into())
}

/// The API's datetime form: UTC with `Z`, millisecond precision.
pub fn format_datetime(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An invite code: short, upper case, from an alphabet without look-alikes (no 0/O, 1/I/L).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteCode(String);

pub const INVITE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
pub const INVITE_LENGTH: usize = 8;

impl InviteCode {
    pub fn generate() -> Self {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let code = (0..INVITE_LENGTH)
            .map(|_| INVITE_ALPHABET[rng.gen_range(0..INVITE_ALPHABET.len())] as char)
            .collect();
        Self(code)
    }
    /// Case-insensitive: stored codes are upper case, so the input is upper-cased.
    pub fn parse(input: &str) -> Result<Self, String> {
        let code = input.trim().to_ascii_uppercase();
        if code.is_empty() || code.len() > 32 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err("must be an invite code of letters and digits".into());
        }
        Ok(Self(code))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One CSV field: quoted when needed (a `;` too: spreadsheets set to a European locale split
/// on it), and a leading `= + - @` (or tab, CR) defused with a quote so a spreadsheet never
/// runs it as a formula.
pub fn csv_field(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if defused.contains([',', ';', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_parse_with_or_without_dashes_in_any_case() {
        let a = DeviceToken::parse("52E83E6E-4BD1-4353-A8C1-6DF6C2A32A3D").unwrap();
        let b = DeviceToken::parse("52e83e6e4bd14353a8c16df6c2a32a3d").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "52e83e6e-4bd1-4353-a8c1-6df6c2a32a3d");
        assert!(DeviceToken::parse("not-a-uuid").is_err());
    }

    #[test]
    fn enums_parse_case_insensitively_and_name_the_choices() {
        assert_eq!(Gender::parse("female"), Ok(Gender::Female));
        assert_eq!(
            UserStatus::parse("DEACTIVATED"),
            Ok(UserStatus::Deactivated)
        );
        let err = UserStatus::parse("Deleted").unwrap_err();
        assert!(err.contains("Active, Deactivated"), "{err}");
    }

    #[test]
    fn email_is_lower_cased_and_checked() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in ["", "ann", "ann@", "@x.com", "a b@x.com", "a@b@c", "a@.com"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn phone_drops_formatting_but_keeps_the_plus() {
        assert_eq!(
            Phone::parse("+1 (555) 010-0000").unwrap().as_str(),
            "+15550100000"
        );
        assert!(Phone::parse("12ab").is_err());
        assert!(Phone::parse("12").is_err());
    }

    #[test]
    fn datetimes_parse_with_and_without_zone() {
        let z = parse_datetime("2019-12-13T06:19:18.837Z").unwrap();
        let naive = parse_datetime("2019-12-13T06:19:18.837").unwrap();
        assert_eq!(z, naive);
        let offset = parse_datetime("2019-12-13T08:19:18.837+02:00").unwrap();
        assert_eq!(z, offset);
        assert_eq!(format_datetime(z), "2019-12-13T06:19:18.837Z");
        assert!(parse_datetime("1990-05-17").is_ok());
        assert!(parse_datetime("yesterday").is_err());
    }

    #[test]
    fn text_is_trimmed_bounded_and_empty_means_absent() {
        assert_eq!(parse_text("  Ann "), Ok(Some("Ann".into())));
        assert_eq!(parse_text("   "), Ok(None));
        assert!(parse_text(&"x".repeat(257)).is_err());
        assert!(parse_text(&"é".repeat(256)).unwrap().is_some());
    }

    #[test]
    fn invite_codes_avoid_look_alikes_and_compare_case_insensitively() {
        let code = InviteCode::generate();
        assert_eq!(code.as_str().len(), INVITE_LENGTH);
        assert!(!code.as_str().contains(['0', 'O', '1', 'I', 'L']));
        assert_eq!(
            InviteCode::parse(&code.as_str().to_lowercase()).unwrap(),
            code
        );
    }
}
