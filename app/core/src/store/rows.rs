//! Row types: the store's view of the tables, plain strings and integers (times in ms).
//! The domain modules convert them; nothing outside `core` sees them.

use crate::types::{ActivityStatus, Flag};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApplicationRow {
    pub id: String,
    pub company_id: String,
    pub name: String,
    pub description: String,
    pub status: String,
    pub created_at: i64,
}

#[derive(Clone, sqlx::FromRow)]
pub struct InstanceRow {
    pub id: String,
    pub app_id: String,
    pub instance_key: String,
    pub name: String,
    pub description: String,
    pub status: String,
    pub invite_code: String,
    pub created_at: i64,
    pub app_name: String,
    pub company_id: String,
    /// Flags of new users that name none (`None`: the API's default).
    pub default_tracking: Option<bool>,
    pub default_logging: Option<bool>,
    pub default_sdk: Option<bool>,
    pub default_realtime: Option<bool>,
    /// Its own token lifetimes (`None`: the service's).
    pub access_token_minutes: Option<i64>,
    pub refresh_token_hours: Option<i64>,
    /// Moves on with every change (migration 0028).
    pub revision: i64,
}

impl std::fmt::Debug for InstanceRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceWithCount {
    pub id: String,
    pub name: String,
    pub description: String,
    pub status: String,
    pub invite_code: String,
    pub created_at: i64,
    pub app_name: String,
    pub app_id: String,
    pub user_count: i64,
}

pub struct NewInstanceRow {
    pub id: String,
    pub app_id: String,
    pub instance_key: String,
    pub name: String,
    pub description: String,
    pub status: String,
    pub invite_code: String,
    pub created_at: i64,
}

/// A new admin (`password_hash` empty: invited, no password yet).
pub struct AdminRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub applications: Option<String>,
    pub instances: Option<String>,
    pub created_at: i64,
}

#[derive(Clone, sqlx::FromRow)]
pub struct UserRow {
    /// Its place in creation order (migrations 0029 / 0031): the tie-breaker of every sort.
    pub seq: i64,
    pub device_token: String,
    pub instance_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub nickname: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub gender: String,
    pub birthday: Option<i64>,
    pub marital_status: Option<String>,
    pub children_count: Option<i64>,
    pub country: Option<String>,
    pub district: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub image_url: Option<String>,
    pub status: String,
    pub enable_tracking: bool,
    pub enable_logging: bool,
    pub enabled: bool,
    pub enable_real_time_location: bool,
    pub client_id: Option<String>,
    pub password_hash: Option<String>,
    pub batch_id: Option<String>,
    pub date_created: i64,
    pub app_id: String,
    pub company_id: String,
    pub instance_status: String,
    pub instance_name: String,
    pub app_name: String,
    /// Last login or refresh (ms); `None`: none since registration.
    pub last_activity_at: Option<i64>,
    /// When a telematics flag last changed (ms).
    pub flags_changed_at: Option<i64>,
    pub mobile_uid: Option<String>,
    pub device_model: Option<String>,
    pub os_type: Option<String>,
    pub os_version: Option<String>,
    pub sdk_version: Option<String>,
    pub app_version: Option<String>,
    /// Its instance's active window, in days.
    pub active_window_days: i64,
    /// Its instance's token lifetimes (`None`: the service's).
    pub access_token_minutes: Option<i64>,
    pub refresh_token_hours: Option<i64>,
}

impl UserRow {
    pub fn flags(&self) -> crate::types::UserFlags {
        crate::types::UserFlags {
            enable_tracking: self.enable_tracking,
            enable_logging: self.enable_logging,
            enabled: self.enabled,
            enable_real_time_location: self.enable_real_time_location,
        }
    }

    /// Its instance's token lifetimes.
    pub fn lifetimes(&self) -> crate::tokens::Lifetimes {
        crate::tokens::Lifetimes {
            access_minutes: self.access_token_minutes,
            refresh_hours: self.refresh_token_hours,
        }
    }
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("device_token", &self.device_token)
            .finish_non_exhaustive()
    }
}

pub struct NewUserRow {
    pub device_token: String,
    pub instance_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub nickname: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub gender: String,
    pub birthday: Option<i64>,
    pub marital_status: Option<String>,
    pub children_count: Option<i64>,
    pub country: Option<String>,
    pub district: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub image_url: Option<String>,
    pub status: String,
    pub enable_tracking: bool,
    pub enable_logging: bool,
    pub enabled: bool,
    pub enable_real_time_location: bool,
    pub client_id: Option<String>,
    pub password_hash: Option<String>,
    pub batch_id: Option<String>,
    pub date_created: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FamilyRow {
    pub id: String,
    pub subject: String,
    pub subject_kind: String,
    pub origin: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
}

pub struct NewFamilyRow {
    pub id: String,
    pub subject: String,
    pub subject_kind: String,
    pub origin: String,
    pub created_at: i64,
}

pub struct NewRefreshRow {
    pub id: String,
    pub family_id: String,
    pub subject: String,
    pub token_hash: String,
    pub parent_id: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// A state column stored as text: one Rust enum per column, read with `try_from = "String"`
/// (a stored value the enum does not name is a damaged row, an error) and written as
/// `as_str()`. Backend-neutral: both store it as TEXT.
macro_rules! stored_state {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(stored: String) -> Result<Self, String> {
                match stored.as_str() {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(concat!("a stored ", stringify!($name), " of {:?}"), other)),
                }
            }
        }
    };
}

stored_state!(
    /// A refresh token's life: usable, rotated (or replaced by a grace retry), or revoked.
    RefreshState { Active = "active", Used = "used", Revoked = "revoked" }
);
stored_state!(
    /// A batch run's state as stored (`Interrupted` is derived from its progress's age).
    BatchRunState { Running = "running", Completed = "completed", Failed = "failed" }
);
stored_state!(
    /// Where a batch's credentials are: in the CreateMany answer, none issued, held sealed
    /// for their one download, taken, or purged unread.
    CredentialsState { Api = "api", NoTokens = "none", Held = "held", Taken = "taken", Expired = "expired" }
);

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub id: String,
    pub family_id: String,
    pub subject: String,
    #[sqlx(try_from = "String")]
    pub state: RefreshState,
    pub issued_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// Why it was used or revoked (`rotated`, `superseded`, `reuse`, `sign-out`...).
    pub reason: Option<String>,
    pub family_revoked_at: Option<i64>,
}

/// The session an access token was issued in (see `Store::access_session`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccessSession {
    pub subject: String,
    pub family_id: String,
    pub subject_kind: String,
    pub family_created_at: i64,
    pub family_revoked_at: Option<i64>,
    pub family_last_seen_at: Option<i64>,
}

/// The session a refresh token belongs to, and the one of the access token shown with it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshLineage {
    /// The refresh token itself, as a reader sees it now.
    #[sqlx(flatten)]
    pub token: RefreshRow,
    pub subject_kind: String,
    pub family_created_at: i64,
    pub family_last_seen_at: Option<i64>,
    pub access_family_id: Option<String>,
    pub access_subject: Option<String>,
    /// The user the session was opened for, when it is a user's and the user is there.
    #[sqlx(skip)]
    pub user: Option<UserRow>,
}

pub struct NewAccessRow {
    pub jti: String,
    pub subject: String,
    pub family_id: Option<String>,
    pub source: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub kid: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub client_addr: Option<String>,
}

pub struct NewAuditRow {
    pub at: i64,
    pub actor: String,
    pub action: crate::audit::AuditAction,
    pub target: String,
    pub detail: String,
    pub client_addr: Option<String>,
}

impl NewAuditRow {
    /// An entry: who did `action` to `target`, when, and what (never a secret or personal
    /// data beyond the target's id). Without a client address; `from` adds the request's.
    pub fn new(
        at: chrono::DateTime<chrono::Utc>,
        actor: impl Into<String>,
        action: crate::audit::AuditAction,
        target: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            at: crate::time::ms(at),
            actor: actor.into(),
            action,
            target: target.into(),
            detail: detail.into(),
            client_addr: None,
        }
    }

    /// The same entry, with the client address the request came from.
    pub fn from(mut self, meta: &crate::RequestMeta) -> Self {
        self.client_addr = meta.client_addr.clone();
        self
    }
}

#[derive(Clone, sqlx::FromRow)]
pub struct AdminRecord {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub applications: Option<String>,
    pub instances: Option<String>,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    pub last_sign_in_at: Option<i64>,
    pub totp_sealed: Option<String>,
    pub totp_confirmed_at: Option<i64>,
}

/// An open session (token family) of an admin.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminSessionRow {
    pub id: String,
    pub origin: String,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
}

impl std::fmt::Debug for AdminRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminRecord")
            .field("id", &self.id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Filters of a user search; all given must match. Values are already normalised.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub device_token: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub client_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// A full name, as every (first, last) split of it: "Mary Ann Lee" matches
    /// ("Mary", "Ann Lee") or ("Mary Ann", "Lee"). Any one split may match.
    pub full_name: Vec<(String, String)>,
    pub country: Option<String>,
    pub include_inactive: bool,
    /// Only users of these instances; `None`: every instance.
    pub instances: Option<Vec<String>>,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchWord {
    pub folded: String,
    pub as_sent: String,
}

/// Filters of a users page (`GetFilteredPage`); all given must match. Values normalised.
#[derive(Debug, Clone, Default)]
pub struct PageFilter {
    /// `None`: every instance. Never an empty list (the core answers that without a query).
    pub instances: Option<Vec<String>>,
    pub include_inactive: bool,
    /// Registration time in ms; `to` exclusive.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Search words: each must begin a first name, last name, e-mail or phone (compared
    /// ASCII lower-cased), or equal a ClientId (as sent) or DeviceToken.
    pub words: Vec<SearchWord>,
    /// Lower case, compared whole.
    pub country: Option<String>,
    pub city: Option<String>,
    /// Exactly this status (with `include_inactive`, to pick the deactivated only).
    pub status: Option<String>,
    /// Each flag that must have the given value: tracking, logging, SDK enabled, real time.
    pub flags: FlagFilter,
    /// Only the users of this batch.
    pub batch: Option<String>,
    /// Users of any of these activity statuses at `now` (an empty list: nobody).
    pub activity: Option<Vec<ActivityStatus>>,
    /// The time activity statuses are judged at (ms).
    pub now: i64,
    /// The device's OS, lower case, compared whole.
    pub os: Option<String>,
    /// SDK versions starting with this.
    pub sdk_prefix: Option<String>,
    /// Users whose last login or refresh (or, never active, registration) is before this
    /// (ms): what an inactivity rule finds.
    pub inactive_before: Option<i64>,
}

/// Where a flag is stored: its column in `users`, and its counter column in `user_counts`
/// (how many of a row's users have it on). The one place that maps the two.
pub fn flag_columns(flag: Flag) -> (&'static str, &'static str) {
    match flag {
        Flag::Tracking => ("enable_tracking", "tracking"),
        Flag::Logging => ("enable_logging", "logging"),
        Flag::Sdk => ("enabled", "sdk"),
        Flag::RealTime => ("enable_real_time_location", "real_time"),
    }
}

/// The flags a filter asks for: each absent, on or off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlagFilter([Option<bool>; 4]);

impl FlagFilter {
    pub fn get(&self, flag: Flag) -> Option<bool> {
        self.0[flag.index()]
    }

    pub fn set(&mut self, flag: Flag, value: Option<bool>) {
        self.0[flag.index()] = value;
    }

    /// The flags given, with their values.
    pub fn given(&self) -> impl Iterator<Item = (Flag, bool)> + '_ {
        Flag::ALL
            .into_iter()
            .filter_map(|f| self.get(f).map(|v| (f, v)))
    }

    pub fn is_empty(&self) -> bool {
        self.given().next().is_none()
    }

    /// The flags given, as (counter column of `user_counts`, value).
    pub fn counter_columns(&self) -> impl Iterator<Item = (&'static str, bool)> + '_ {
        self.given().map(|(f, v)| (flag_columns(f).1, v))
    }
}

impl PageFilter {
    /// True when only instance, status, time and at most one flag filter apply: the counters
    /// (users per instance, status and day, and of those how many have each flag on) can
    /// total it.
    pub fn countable_by_counters(&self) -> bool {
        self.words.is_empty()
            && self.country.is_none()
            && self.city.is_none()
            && self.batch.is_none()
            && self.flags.counter_columns().count() <= 1
            && !self.by_activity_or_device()
    }

    /// True when an activity status, OS or SDK filter applies: the registration counters
    /// know nothing of them.
    pub fn by_activity_or_device(&self) -> bool {
        self.activity.is_some()
            || self.os.is_some()
            || self.sdk_prefix.is_some()
            || self.inactive_before.is_some()
    }

    /// True when the activity counters alone can total it: only instances and activity
    /// statuses (and the status they imply).
    pub fn countable_by_activity(&self) -> bool {
        self.activity.is_some()
            && self.words.is_empty()
            && self.country.is_none()
            && self.city.is_none()
            && self.batch.is_none()
            && self.flags.is_empty()
            && self.from.is_none()
            && self.to.is_none()
            && self.os.is_none()
            && self.sdk_prefix.is_none()
            && self.inactive_before.is_none()
    }

    /// True when some filter besides instances and time applies, so the matching users may
    /// be a small part of the table.
    pub fn narrows(&self) -> bool {
        !(self.words.is_empty()
            && self.country.is_none()
            && self.city.is_none()
            && self.status.is_none()
            && self.flags.is_empty()
            && self.batch.is_none()
            && !self.by_activity_or_device())
    }
}

/// The users a bulk change applies to.
#[derive(Debug, Clone)]
pub enum Selection {
    Tokens(Vec<String>),
    Filter(Box<PageFilter>),
}

/// A position in a sorted users list: the sort key of a row and its `seq`. `backward`: the
/// rows before it (read in the reverse order), else the rows after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyset {
    pub key: SortValue,
    pub seq: i64,
    pub backward: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortValue {
    Int(i64),
    Text(String),
}

/// One access token of the lineage (the token itself is never stored).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccessTokenRow {
    pub jti: String,
    pub family_id: Option<String>,
    pub source: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// A refresh token's state with its family (no hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshTokenState {
    pub id: String,
    pub family_id: String,
    pub parent_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: RefreshState,
    pub issued_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub reason: Option<String>,
}

/// Filters of an audit-log page; times in ms, `to` exclusive.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Where a user can be reached (who an invite goes to).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContactRow {
    pub device_token: String,
    pub instance_id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub status: String,
    pub instance_status: Option<String>,
}
