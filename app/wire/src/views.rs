//! Wire types of the dashboard's server functions (`/api/...`). Built into both the server
//! and the WASM bundle, so they hold plain data only. Secrets appear in exactly one of them,
//! `RegisteredUser`, the answer that shows a new user's tokens once.

use serde::{Deserialize, Serialize};

/// The users list: every field optional; the URL of the users page carries the same names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserListQuery {
    /// Words, each a prefix of a first name, last name, e-mail or phone, or a whole
    /// DeviceToken or ClientId.
    pub q: Option<String>,
    pub instance: Option<String>,
    /// `active` (the default), `deactivated` or `all`.
    pub status: Option<String>,
    /// `on` / `off` for each flag.
    pub tracking: Option<String>,
    pub logging: Option<String>,
    pub sdk: Option<String>,
    pub realtime: Option<String>,
    /// A `GetFilteredPage` sort: `DateCreatedDesc` (default), `LastName`, `Email`...
    pub sort: Option<String>,
    /// Keyset cursors from a previous page: the rows after / before that one.
    pub after: Option<String>,
    pub before: Option<String>,
    /// Rows per page, 1..=200 (default 50).
    pub size: Option<i64>,
    /// Only the users of this batch (a BatchId).
    pub batch: Option<String>,
    /// `active`, `lost`, `nodata` or `deactivated` (the activity status).
    pub activity: Option<String>,
    /// The device's OS (`Android`, `iOS`; ASCII case ignored).
    pub os: Option<String>,
    /// SDK versions starting with this (`4.` finds 4.x).
    pub sdk_version: Option<String>,
}

impl UserListQuery {
    /// Every user of a batch, whatever their status.
    pub fn of_batch(batch_id: &str) -> Self {
        Self {
            batch: Some(batch_id.to_string()),
            status: Some("all".into()),
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserListRow {
    pub device_token: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub client_id: Option<String>,
    pub instance_id: String,
    pub instance_name: String,
    pub status: String,
    pub enable_tracking: bool,
    pub enable_logging: bool,
    pub enabled: bool,
    pub enable_real_time_location: bool,
    pub date_created: String,
    /// When the newest access token was issued to this user.
    pub last_token_activity: Option<String>,
    /// `Active`, `Lost`, `NoData` or `Deactivated`.
    pub activity_status: String,
    /// When the user last logged in or refreshed.
    pub last_activity: Option<String>,
    pub os_type: Option<String>,
    pub sdk_version: Option<String>,
    pub flags_pending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserListPage {
    pub rows: Vec<UserListRow>,
    /// Cursors for the neighbouring pages (`None`: there is none).
    pub next: Option<String>,
    pub previous: Option<String>,
    /// Users matching the filter; a lower bound when `total_exact` is false.
    pub total: i64,
    pub total_exact: bool,
}

/// A user as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDetail {
    pub user: crate::model::UserView,
    pub last_token_activity: Option<String>,
    /// The server's time of this answer, and the times below, in ms: the page says how
    /// long ago and how soon from these, the same in the server's render and the browser's.
    pub as_of_ms: i64,
    /// When the user last logged in or refreshed.
    pub last_activity_ms: Option<i64>,
    /// When the device's newest access token expires.
    pub token_expires_ms: Option<i64>,
    /// When a telematics flag last changed.
    pub flags_changed_ms: Option<i64>,
    /// The instance's active window, in days.
    pub active_window_days: i64,
    /// Flags set for a while: which, and when (ms) each goes back to the other value.
    pub flag_ends: Vec<(Flag, i64)>,
}

/// `ms` as "35 min", "2 h 5 min", "3 days" (rounded down; under a minute: "under a minute").
pub fn span_words(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match minutes {
        0 => "under a minute".into(),
        1..=59 => format!("{minutes} min"),
        60..=2879 => match minutes % 60 {
            0 => format!("{} h", minutes / 60),
            m => format!("{} h {m} min", minutes / 60),
        },
        _ => format!("{} days", minutes / 1440),
    }
}

/// The four telematics flags by their dashboard names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flag {
    Tracking,
    Logging,
    Sdk,
    RealTime,
}

impl Flag {
    pub const ALL: [Flag; 4] = [Flag::Tracking, Flag::Logging, Flag::Sdk, Flag::RealTime];

    /// Its place in `ALL` (for arrays with one slot per flag).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The API's name of the flag (`UserFields.EnableTracking`...).
    pub fn api_name(self) -> &'static str {
        match self {
            Flag::Tracking => "EnableTracking",
            Flag::Logging => "EnableLogging",
            Flag::Sdk => "Enabled",
            Flag::RealTime => "EnableRealTimeLocation",
        }
    }

    /// The value of this flag a `UserFields` input gives, if any.
    pub fn given_in(self, f: &crate::model::UserFieldsInput) -> Option<bool> {
        match self {
            Flag::Tracking => f.enable_tracking,
            Flag::Logging => f.enable_logging,
            Flag::Sdk => f.enabled,
            Flag::RealTime => f.enable_real_time_location,
        }
    }

    /// The value of this flag a `CustomFields` (or default flags) input gives, if any.
    pub fn given_in_custom(self, f: &crate::model::CustomFieldsInput) -> Option<bool> {
        match self {
            Flag::Tracking => f.enable_tracking,
            Flag::Logging => f.enable_logging,
            Flag::Sdk => f.enabled,
            Flag::RealTime => f.enable_real_time_location,
        }
    }

    /// The users list's filter of this flag (`on`, `off` or absent).
    pub fn filter_in(self, q: &UserListQuery) -> &Option<String> {
        match self {
            Flag::Tracking => &q.tracking,
            Flag::Logging => &q.logging,
            Flag::Sdk => &q.sdk,
            Flag::RealTime => &q.realtime,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Flag::Tracking => "Tracking",
            Flag::Logging => "Debug logging",
            Flag::Sdk => "SDK enabled",
            Flag::RealTime => "Real-time location",
        }
    }

    /// The name in the URL of the users page and in test ids.
    pub fn key(self) -> &'static str {
        match self {
            Flag::Tracking => "tracking",
            Flag::Logging => "logging",
            Flag::Sdk => "sdk",
            Flag::RealTime => "realtime",
        }
    }

    pub fn of(self, f: &crate::model::UserFieldsView) -> bool {
        match self {
            Flag::Tracking => f.enable_tracking,
            Flag::Logging => f.enable_logging,
            Flag::Sdk => f.enabled,
            Flag::RealTime => f.enable_real_time_location,
        }
    }

    pub fn of_row(self, r: &UserListRow) -> bool {
        match self {
            Flag::Tracking => r.enable_tracking,
            Flag::Logging => r.enable_logging,
            Flag::Sdk => r.enabled,
            Flag::RealTime => r.enable_real_time_location,
        }
    }
}

/// A new user's one-time answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredUser {
    pub device_token: String,
    pub access_token: Option<String>,
    pub expires_in: Option<i64>,
    pub refresh_token: Option<String>,
    /// The access token's payload, pretty-printed JSON.
    pub claims: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenView {
    pub jti: String,
    pub family_id: Option<String>,
    /// registration, batch, login, refresh or admin.
    pub source: String,
    pub issued_at: String,
    pub expires_at: String,
    pub expired: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshTokenView {
    pub id: String,
    pub parent_id: Option<String>,
    /// active, used, revoked or expired.
    pub state: String,
    pub issued_at: String,
    pub expires_at: String,
    pub used_at: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyView {
    pub id: String,
    pub origin: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub revoke_reason: Option<String>,
    pub tokens: Vec<RefreshTokenView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityEventView {
    pub at: String,
    pub action: String,
    pub detail: String,
    pub client_addr: Option<String>,
}

/// Everything the core records about a user's tokens: ids, times and states only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenLineage {
    /// The newest access tokens (at most `ACCESS_TOKENS_SHOWN`).
    pub access_tokens: Vec<AccessTokenView>,
    pub access_tokens_total_shown_limit: i64,
    pub families: Vec<FamilyView>,
    pub reuse_events: Vec<SecurityEventView>,
}

/// The signed-in admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// Limited to some applications or instances.
    pub scoped: bool,
    /// Signs in with a TOTP code.
    pub totp: bool,
    /// TOTP is required of this admin and not yet set up: the dashboard asks for it first.
    pub totp_required: bool,
}

impl SessionView {
    /// Whether the signed-in admin may do `action` (the dashboard hides what they may not;
    /// the server decides).
    pub fn may(&self, action: Action) -> bool {
        !self.totp_required && action.allows(self.role, self.scoped)
    }
}

/// An admin, as the Admins page lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminView {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// Scoped to these applications (names), or `None`.
    pub applications: Option<Vec<InstanceChoice>>,
    /// Scoped to these instances, or `None`.
    pub instances: Option<Vec<InstanceChoice>>,
    /// `active`, `invited` (no password yet) or `disabled`.
    pub state: String,
    pub created_at: String,
    pub last_sign_in_at: Option<String>,
    pub totp: bool,
    pub sessions: Vec<AdminSessionView>,
}

/// What an admin link is for, as the public `/join` page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminLinkView {
    /// The admin's e-mail, masked.
    pub to: String,
    /// A first password (an invite) rather than a new one (a reset).
    pub invite: bool,
}

/// TOTP being set up: the secret as text, the `otpauth://` URI, and its QR code (an SVG
/// drawn by the server, as a `data:image/svg+xml;base64,` URL for an `<img>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpSetupView {
    pub secret: String,
    pub uri: String,
    pub qr: String,
}

/// One open session of an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSessionView {
    pub id: String,
    /// How it began: `login`, …
    pub origin: String,
    pub created_at: String,
    pub last_seen_at: Option<String>,
    /// The session this request comes from.
    pub current: bool,
}

/// Who an Owner invites, or what an admin becomes: a role, and a scope of applications or
/// instances (both `None`: everything).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminGrant {
    pub role: String,
    pub applications: Option<Vec<String>>,
    pub instances: Option<Vec<String>>,
}

/// An instance to pick in a form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceChoice {
    pub id: String,
    pub name: String,
    pub active: bool,
}

/// The audit log page's filters; its URL carries the same names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    /// Exactly, e.g. `admin:admin@localhost` or `user:<DeviceToken>`.
    pub actor: Option<String>,
    /// Exactly, e.g. `user.updated`.
    pub action: Option<String>,
    /// Exactly, e.g. `user:<DeviceToken>` or `instance:<InstanceId>`.
    pub target: Option<String>,
    /// From this time on (a date means from its start), UTC.
    pub from: Option<String>,
    /// Up to this time (a date means through its end), UTC.
    pub to: Option<String>,
    /// Entries older than this id (the `next_before` of the previous page).
    pub before: Option<i64>,
    /// 1..=500, default 50.
    pub size: Option<i64>,
}

/// One day of a 30-day chart: `day` is `YYYY-MM-DD` (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    pub day: String,
    pub count: i64,
}

/// The overview page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub users: i64,
    pub active: i64,
    pub deactivated: i64,
    pub tracking_on: i64,
    pub logging_on: i64,
    pub sdk_on: i64,
    pub real_time_on: i64,
    /// The last 30 UTC days, oldest first, every day present (0 when none).
    pub registrations: Vec<DayCount>,
    /// Empty for a caller limited to some instances (refreshes span every instance).
    pub refreshes: Vec<DayCount>,
    /// Empty for a caller limited to some instances (the audit trail spans every instance).
    pub security_events: Vec<crate::model::AuditEntryView>,
    /// The counts are of the caller's instances only.
    #[serde(default)]
    pub scoped: bool,
    /// Users by activity status: Active, Lost, NoData, Deactivated (from the counters).
    #[serde(default)]
    pub activity: [i64; 4],
    /// Drivers who logged in or refreshed on each of the last 30 UTC days (each once a day).
    #[serde(default)]
    pub active_drivers: Vec<DayCount>,
}

/// Which users a bulk action acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BulkTarget {
    /// These DeviceTokens (at most 1,000: the rows selected on a page).
    Selected(Vec<String>),
    /// Every user the users list's filter matches (its cursors and page size are ignored).
    Matching(Box<UserListQuery>),
}

/// What a bulk action does to each of its users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BulkAction {
    SetFlag {
        flag: Flag,
        value: bool,
        /// Switched back to the other value after this many minutes; `None`: for good.
        #[serde(default)]
        minutes: Option<i64>,
    },
    /// Activate (`true`) or deactivate.
    SetActive(bool),
    /// Move to this instance.
    Move(String),
    /// Delete the users and every token issued to them.
    Delete,
}

/// The dashboard's batch form: `Quantity` users registered in chunks as one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchRequest {
    pub instance_id: String,
    /// As typed: a whole number from 1 to the configured maximum.
    pub quantity: String,
    pub label: String,
    pub tracking: bool,
    pub logging: bool,
    pub sdk: bool,
    pub realtime: bool,
    pub create_access_token: bool,
}

impl BatchRequest {
    /// The API's defaults: tracking and SDK on, tokens issued.
    pub fn with_defaults() -> Self {
        Self {
            tracking: true,
            sdk: true,
            create_access_token: true,
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchState {
    Running,
    Completed,
    /// Stopped by an error or by an admin; `done` users exist.
    Failed,
    /// Marked running, but no chunk for a while (its server stopped): resumable.
    Interrupted,
}

impl BatchState {
    pub fn label(self) -> &'static str {
        match self {
            BatchState::Running => "Running",
            BatchState::Completed => "Completed",
            BatchState::Failed => "Failed",
            BatchState::Interrupted => "Interrupted",
        }
    }
}

/// Where a batch's credentials are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchCredentials {
    /// Created by `Registration/CreateMany`: they were in its response.
    Api,
    /// Created without tokens.
    NoTokens,
    /// Sealed on the server, waiting for their one download until `expires_at`.
    Held { expires_at: String },
    /// Downloaded (and deleted) by `by` at `at`.
    Taken { by: String, at: String },
    /// Not downloaded in time, so deleted unread.
    Expired,
}

/// One batch, without secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchView {
    pub id: String,
    pub label: String,
    pub instance_id: String,
    pub instance_name: String,
    pub quantity: i64,
    /// Users created so far.
    pub done: i64,
    pub state: BatchState,
    pub error: Option<String>,
    pub created_by: String,
    /// Times in RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
    /// Tracking, logging, SDK enabled, real-time location, as created.
    pub flags: [bool; 4],
    pub with_tokens: bool,
    pub credentials: BatchCredentials,
    /// Users of the batch that still exist (only on the batch page; deleted ones excluded).
    pub users_now: Option<i64>,
    /// An import of users from a file (its own page is `/import/<id>`).
    pub is_import: bool,
}

impl BatchView {
    /// Whole percent done, 0..=100.
    pub fn percent(&self) -> i64 {
        if self.quantity <= 0 {
            return 0;
        }
        (self.done * 100 / self.quantity).clamp(0, 100)
    }
}

/// A page of batches, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPage {
    pub rows: Vec<BatchView>,
    /// The cursor of the next (older) page.
    pub next: Option<String>,
}

/// One message of the outbox, without its body: where it goes (masked), why, and how its
/// delivery goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct DeliveryView {
    /// Stable over retries: receivers deduplicate on it.
    pub id: String,
    /// `email` or `sms`.
    pub kind: String,
    /// `password`, `login_code` or `test`.
    pub purpose: String,
    pub to: String,
    pub device_token: Option<String>,
    /// `queued`, `sending`, `sent`, `failed` or `cancelled`.
    pub state: String,
    pub attempts: i64,
    pub created_at: String,
    pub next_attempt_at: Option<String>,
    pub sent_at: Option<String>,
    pub last_error: Option<String>,
    pub requested_by: String,
    /// Every attempt (only when one message is asked for).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempt_log: Vec<DeliveryAttemptView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct DeliveryAttemptView {
    pub attempt: i64,
    pub at: String,
    /// `sent` or `error`.
    pub outcome: String,
    pub error: Option<String>,
}

/// The Deliveries list's filter (each optional): a user's DeviceToken, `Email`/`Sms`, a state,
/// and `before` (the id of a page's last message) for the page after it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryQuery {
    pub device_token: Option<String>,
    pub kind: Option<String>,
    pub state: Option<String>,
    pub before: Option<String>,
}

/// An invite link as the public invite page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteLinkView {
    pub app: String,
    pub instance: String,
    /// The invited e-mail, masked.
    pub to: String,
}

/// A signing key as the dashboard lists it (never its private part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyView {
    pub kid: String,
    /// `HS256`, `ES256` or `EdDSA`.
    pub algorithm: String,
    /// `next`, `current` or `retired`.
    pub state: String,
    pub created_at: String,
    /// When a next key starts signing.
    pub activate_at: Option<String>,
    pub activated_at: Option<String>,
    /// Until when a retired key is accepted.
    pub retire_after: Option<String>,
    /// Whether verifiers can fetch it from /.well-known/jwks.json.
    pub published: bool,
    /// Whether tokens it signed still verify now.
    pub accepted: bool,
    /// Access tokens it signed that have not expired yet.
    pub live_tokens: i64,
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `POST /v1/Auth/Introspect`.
    TokensIntrospect,
    /// Read users (`GET /v1/Management/users`, `find`, `GetFilteredPage`).
    UsersRead,
    /// Change users (update, delete, passwords, invites, instance moves).
    UsersWrite,
    /// Read applications and instances (never an InstanceKey).
    InstancesRead,
    /// Manage webhook subscriptions (`/v1/Webhooks`).
    WebhooksWrite,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::TokensIntrospect,
        Scope::UsersRead,
        Scope::UsersWrite,
        Scope::InstancesRead,
        Scope::WebhooksWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::TokensIntrospect => "tokens:introspect",
            Scope::UsersRead => "users:read",
            Scope::UsersWrite => "users:write",
            Scope::InstancesRead => "instances:read",
            Scope::WebhooksWrite => "webhooks:write",
        }
    }

    /// What it allows, in words (the dashboard's form).
    pub fn label(self) -> &'static str {
        match self {
            Scope::TokensIntrospect => "Introspect tokens (POST /v1/Auth/Introspect)",
            Scope::UsersRead => "Read users (GET /v1/Management/users, find, GetFilteredPage)",
            Scope::UsersWrite => "Change users (update, delete, passwords, invites, moves)",
            Scope::InstancesRead => "Read applications and instances (never an InstanceKey)",
            Scope::WebhooksWrite => "Manage webhooks (/v1/Webhooks)",
        }
    }

    pub fn parse(value: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|s| s.as_str() == value.trim())
            .ok_or_else(|| {
                format!(
                    "{value:?} is not a scope: use {}",
                    Scope::ALL.map(Scope::as_str).join(", ")
                )
            })
    }
}

/// An admin's role: what they may do within their scope (one home for the roles; the core's
/// `Action` says which role each action needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Read-only: users, instances, batches, the overview; no secrets, no credentials.
    Viewer,
    /// Users and batches: flags, status, profile, register, invite; no keys, no deletions.
    Operator,
    /// Users, instances, batches, webhooks and the InstanceKeys of instances in scope.
    Admin,
    /// Everything, including admins, API keys and signing keys.
    Owner,
}

impl Role {
    /// Highest first, as the dashboard lists them.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Operator, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Operator => "Operator",
            Role::Viewer => "Viewer",
        }
    }

    /// What it allows, in words (the dashboard's forms, the README's table).
    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Everything, including admins, API keys and signing keys",
            Role::Admin => "Users, instances, batches, webhooks, InstanceKeys in scope",
            Role::Operator => "Users and batches in scope: flags, status, register, invite",
            Role::Viewer => "Read-only in scope: no secrets, no credentials",
        }
    }

    pub fn parse(value: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| {
                format!(
                    "{value:?} is not a role: use {}",
                    Role::ALL.map(Role::as_str).join(", ")
                )
            })
    }
}

/// Everything a caller may be allowed to do: the one table of who may do what. An admin
/// needs at least `role()`; an API key needs `api_scope()` (none: never an API key); an
/// action `everywhere()` needs a caller not limited to some applications or instances.
/// Objects outside a caller's scope are not found (404), whatever the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Users, their pages, lists, exports, token lineage, batches, the overview.
    ReadUsers,
    /// Profile, flags, status, register, invite, passwords, revoke sessions, run batches.
    WriteUsers,
    /// Delete users (one, or in bulk).
    DeleteUsers,
    /// Move users to another instance.
    MoveUsers,
    /// The generated passwords of a batch (shown once).
    TakeCredentials,
    /// Applications and instances (never an InstanceKey).
    ReadInstances,
    /// Create, change, delete instances; rotate their keys and invite codes.
    ManageInstances,
    /// See an InstanceKey.
    RevealInstanceKeys,
    /// Create applications.
    ManageApplications,
    /// Webhook subscriptions (a scoped caller's hook only its instances).
    ManageWebhooks,
    /// `POST /v1/Auth/Introspect`.
    Introspect,
    /// The audit trail (it spans every instance).
    ReadAudit,
    /// The e-mail and SMS delivery log, test messages, retries.
    Deliveries,
    /// API keys.
    ManageApiKeys,
    /// Signing keys and their rotation.
    ManageSigningKeys,
    /// Admins: invite, role and scope, disable, passwords, TOTP, sessions.
    ManageAdmins,
}

impl Action {
    pub const ALL: [Action; 16] = [
        Action::ReadUsers,
        Action::WriteUsers,
        Action::DeleteUsers,
        Action::MoveUsers,
        Action::TakeCredentials,
        Action::ReadInstances,
        Action::ManageInstances,
        Action::RevealInstanceKeys,
        Action::ManageApplications,
        Action::ManageWebhooks,
        Action::Introspect,
        Action::ReadAudit,
        Action::Deliveries,
        Action::ManageApiKeys,
        Action::ManageSigningKeys,
        Action::ManageAdmins,
    ];

    /// The least role that may do it.
    pub fn role(self) -> Role {
        match self {
            Action::ReadUsers | Action::ReadInstances | Action::Introspect | Action::ReadAudit => {
                Role::Viewer
            }
            Action::WriteUsers | Action::TakeCredentials => Role::Operator,
            Action::DeleteUsers
            | Action::MoveUsers
            | Action::ManageInstances
            | Action::RevealInstanceKeys
            | Action::ManageApplications
            | Action::ManageWebhooks
            | Action::Deliveries => Role::Admin,
            Action::ManageApiKeys | Action::ManageSigningKeys | Action::ManageAdmins => Role::Owner,
        }
    }

    /// The scope an API key needs for it (`None`: admins only).
    pub fn api_scope(self) -> Option<Scope> {
        match self {
            Action::ReadUsers => Some(Scope::UsersRead),
            Action::WriteUsers | Action::DeleteUsers | Action::MoveUsers => Some(Scope::UsersWrite),
            Action::ReadInstances => Some(Scope::InstancesRead),
            Action::ManageWebhooks => Some(Scope::WebhooksWrite),
            Action::Introspect => Some(Scope::TokensIntrospect),
            _ => None,
        }
    }

    /// Whether it spans every instance, so a caller limited to some may not do it.
    pub fn everywhere(self) -> bool {
        matches!(
            self,
            Action::ManageApplications
                | Action::ReadAudit
                | Action::Deliveries
                | Action::ManageApiKeys
                | Action::ManageSigningKeys
                | Action::ManageAdmins
        )
    }

    /// In words, for refusals: "… may not {what}".
    pub fn what(self) -> &'static str {
        match self {
            Action::ReadUsers => "read users",
            Action::WriteUsers => "change users",
            Action::DeleteUsers => "delete users",
            Action::MoveUsers => "move users to another instance",
            Action::TakeCredentials => "take a batch's passwords",
            Action::ReadInstances => "read applications and instances",
            Action::ManageInstances => "manage instances",
            Action::RevealInstanceKeys => "see InstanceKeys",
            Action::ManageApplications => "create applications",
            Action::ManageWebhooks => "manage webhooks",
            Action::Introspect => "introspect tokens",
            Action::ReadAudit => "read the audit trail",
            Action::Deliveries => "manage e-mail and SMS deliveries",
            Action::ManageApiKeys => "manage API keys",
            Action::ManageSigningKeys => "manage signing keys",
            Action::ManageAdmins => "manage admins",
        }
    }

    /// Whether an admin of `role`, limited (`scoped`) or not, may do it.
    pub fn allows(self, role: Role, scoped: bool) -> bool {
        role >= self.role() && !(scoped && self.everywhere())
    }
}

/// What an admin asks for in a new API key (`instances`: `None` for every instance).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<String>,
    pub instances: Option<Vec<String>>,
    pub expires_in_days: Option<i64>,
}

/// Every event type, one name each (the `type` of an event and what a webhook subscribes to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// A user was registered (one event per user, also for CreateMany and batches).
    UserCreated,
    /// Profile fields or the ClientId changed (before → after).
    UserUpdated,
    /// Telematics flags changed (before → after).
    UserFlagsChanged,
    UserDeactivated,
    UserActivated,
    /// The user moved to another instance.
    UserMoved,
    UserDeleted,
    /// The user's sessions were revoked (by an admin, a new password, a reset).
    UserSessionsRevoked,
    /// A used refresh token came back: its session was revoked.
    SecurityRefreshReuse,
    /// An instance got a new InstanceKey (the key itself is never sent).
    InstanceKeyRotated,
    BatchCompleted,
    BatchFailed,
    /// Sent by an operator to check a receiver; delivered only to the webhook it names.
    WebhookTest,
}

impl EventType {
    pub const ALL: [EventType; 13] = [
        EventType::UserCreated,
        EventType::UserUpdated,
        EventType::UserFlagsChanged,
        EventType::UserDeactivated,
        EventType::UserActivated,
        EventType::UserMoved,
        EventType::UserDeleted,
        EventType::UserSessionsRevoked,
        EventType::SecurityRefreshReuse,
        EventType::InstanceKeyRotated,
        EventType::BatchCompleted,
        EventType::BatchFailed,
        EventType::WebhookTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserFlagsChanged => "user.flags_changed",
            EventType::UserDeactivated => "user.deactivated",
            EventType::UserActivated => "user.activated",
            EventType::UserMoved => "user.moved",
            EventType::UserDeleted => "user.deleted",
            EventType::UserSessionsRevoked => "user.sessions_revoked",
            EventType::SecurityRefreshReuse => "security.refresh_reuse",
            EventType::InstanceKeyRotated => "instance.key_rotated",
            EventType::BatchCompleted => "batch.completed",
            EventType::BatchFailed => "batch.failed",
            EventType::WebhookTest => "webhook.test",
        }
    }

    /// What it means, in words (the dashboard's form).
    pub fn label(self) -> &'static str {
        match self {
            EventType::UserCreated => "a user was registered (one per user, batches too)",
            EventType::UserUpdated => "profile fields or the ClientId changed",
            EventType::UserFlagsChanged => "telematics flags changed",
            EventType::UserDeactivated => "a user was deactivated",
            EventType::UserActivated => "a user was activated",
            EventType::UserMoved => "a user moved to another instance",
            EventType::UserDeleted => "a user was deleted",
            EventType::UserSessionsRevoked => "a user's sessions were revoked",
            EventType::SecurityRefreshReuse => "a used refresh token came back",
            EventType::InstanceKeyRotated => "an instance got a new InstanceKey",
            EventType::BatchCompleted => "a dashboard batch finished",
            EventType::BatchFailed => "a dashboard batch failed",
            EventType::WebhookTest => "a test sent on request",
        }
    }

    pub fn parse(value: &str) -> Result<EventType, String> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == value.trim())
            .ok_or_else(|| format!("{value:?} is not an event type"))
    }
}

/// An API key as the dashboard lists it (never the key: it is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub created_by: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// Neither revoked nor expired.
    pub live: bool,
    /// The instances it is limited to; `None`: every instance.
    pub instances: Option<Vec<String>>,
}
