//! Wire types shared by the REST API, the server functions and the browser.
//! Field names are the API's PascalCase. Inputs are loose (every field optional, strings
//! unparsed) because the core parses them into domain types and reports every bad field at once.
//! Nothing here ever holds a hash, an instance key or a signing key.

use serde::{Deserialize, Serialize};

/// The `UserFields` object of registration and update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct UserFieldsInput {
    pub enable_tracking: Option<bool>,
    pub enable_logging: Option<bool>,
    pub enabled: Option<bool>,
    pub enable_real_time_location: Option<bool>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub client_id: Option<String>,
}

/// The original API's `MobileDevice`: what the app reports of the phone it runs on. Every
/// field optional; an absent field keeps what was stored, an empty string clears it.
/// `OsType` is a name (`Android`, `iOS`) or the original's number (0 Android, 1 iOS).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct MobileDeviceInput {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub mobile_uid: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub device_model: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub os_type: Option<serde_json::Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub os_version: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub sdk_version: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub app_version: Option<String>,
}

/// `MobileDevice` as the user view shows it (`null` until the app reports one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct MobileDeviceView {
    pub mobile_uid: Option<String>,
    pub device_model: Option<String>,
    pub os_type: Option<String>,
    pub os_version: Option<String>,
    pub sdk_version: Option<String>,
    pub app_version: Option<String>,
}

/// Body of `POST /v1/Registration/Create`. Every field is optional; `{}` is valid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct RegisterRequest {
    pub create_access_token: Option<bool>,
    /// Keeps a DeviceToken the user already has (a UUID); absent: generated.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Id>))]
    pub custom_token: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub first_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub last_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub nickname: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::PhoneNumber>))]
    pub phone: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::EmailAddress>))]
    pub email: Option<String>,
    pub gender: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Day>))]
    pub birthday: Option<String>,
    /// Clients send codes ("1".."4"), words, or even the string "null"; kept as text.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::MaritalStatus>))]
    pub marital_status: Option<serde_json::Value>,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 99))]
    pub children_count: Option<i64>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub country: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub district: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub city: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub address: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::WebUrl>))]
    pub image_url: Option<String>,
    pub status: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::InviteCode>))]
    pub instance_invite_code: Option<String>,
    pub user_fields: Option<UserFieldsInput>,
    /// An optional initial password for e-mail/phone login. Hashed at once, never returned.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 256))]
    pub password: Option<String>,
    /// Instead of a Password: `Email` or `Sms` generates one and sends it to the user's
    /// Email or Phone (shown to nobody).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Deliver>))]
    pub deliver: Option<String>,
    pub mobile_device: Option<MobileDeviceInput>,
}

/// An instance's settings (`GET`/`PUT /v1/Instances/{instanceId}/Settings`). A `PUT` sends
/// all of them: an absent or null one is the default (no limit, the API's default flags, no
/// inactivity rule).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceSettingsView {
    /// A user is `Active` while its last login or refresh is at most this many days old
    /// (1 to 365; default 14).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 365))]
    pub active_window_days: Option<i64>,
    /// Debug logging switched on goes off by itself after at most this many minutes (1 to
    /// 527040); null: no limit.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 527040))]
    pub max_logging_minutes: Option<i64>,
    /// Flags of a new user that its registration does not name; null ones: the API's
    /// defaults (tracking on, logging off, SDK on, real time off).
    pub default_flags: CustomFieldsInput,
    /// Users without a login or refresh for this many days (1 to 3650) are dealt with by
    /// `InactivityAction`; null: no rule.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub inactivity_days: Option<i64>,
    /// `Deactivate` or `Delete`; required with `InactivityDays`.
    pub inactivity_action: Option<String>,
    /// This instance's access tokens last this many minutes (1 to the service's
    /// `ServiceAccessTokenMinutes`); null: the service's.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub access_token_minutes: Option<i64>,
    /// This instance's refresh tokens last this many hours (1 to the service's
    /// `ServiceRefreshTokenHours`); null: the service's.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub refresh_token_hours: Option<i64>,
    /// Read only (ignored on `PUT`): the service's access-token lifetime in minutes
    /// (`TUS_ACCESS_TOKEN_TTL`), the longest an instance may set.
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub service_access_token_minutes: Option<i64>,
    /// Read only (ignored on `PUT`): the service's refresh-token lifetime in hours
    /// (`TUS_REFRESH_TOKEN_TTL`), the longest an instance may set.
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub service_refresh_token_hours: Option<i64>,
}

/// How many users an inactivity rule would act on now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct InactivityCountView {
    pub days: i64,
    pub count: i64,
}

/// The flags of `CreateMany` (the original API calls them `CustomFields`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct CustomFieldsInput {
    pub enable_tracking: Option<bool>,
    pub enable_logging: Option<bool>,
    pub enabled: Option<bool>,
    pub enable_real_time_location: Option<bool>,
}

/// Body of `POST /v1/Registration/CreateMany`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateManyRequest {
    /// 1 to the service's largest batch (`TUS_MAX_BATCH`, 10,000 by default).
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = i64, minimum = 1))]
    pub quantity: Option<i64>,
    pub create_access_token: Option<bool>,
    pub custom_fields: Option<CustomFieldsInput>,
    /// Our addition: a label for the batch record (shown in the dashboard).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub label: Option<String>,
}

/// Body of `POST /v1/Auth/RefreshToken`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct RefreshRequest {
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String, min_length = 1))]
    pub access_token: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String, min_length = 1))]
    pub refresh_token: Option<String>,
    /// Optional: the phone as it is now (older clients do not send it).
    pub mobile_device: Option<MobileDeviceInput>,
}

/// Body of `POST /v1/Auth/Login`. `LoginFields` is an object or a string holding JSON.
/// An Email or Phone login gives its `Password`, or instead a `Code` from `POST /v1/Auth/Code`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct LoginRequest {
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = crate::formats::LoginFields))]
    pub login_fields: Option<serde_json::Value>,
    /// Or, for an Email or Phone, the `Code` that `/v1/Auth/Code` sent: one of the two.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub password: Option<String>,
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9]{6}$"))]
    pub code: Option<String>,
    /// An admin with TOTP on: the six digits their authenticator app shows (or one of their
    /// recovery codes), with the Password.
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub totp_code: Option<String>,
    /// Optional, for a driver's login: the phone as it is now.
    pub mobile_device: Option<MobileDeviceInput>,
}

/// Body of `POST /v1/Auth/Code`: the Email (the code goes by e-mail) or Phone (by SMS).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct CodeRequest {
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = crate::formats::ContactLoginFields))]
    pub login_fields: Option<serde_json::Value>,
}

/// How a password, code or invite travels (`Deliver`; any case is accepted): the wire names
/// of the outbox's channels. For the API document only.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
pub enum Deliver {
    Email,
    Sms,
}

/// Body of `POST /v1/Management/users/password`: how the new password travels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct SendPasswordRequest {
    /// `Email` or `Sms`.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = Deliver))]
    pub deliver: Option<String>,
}

/// Body of `POST /v1/Auth/Reset`: a new password, with a one-time code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct ResetRequest {
    /// `{"Email": ...}` or `{"Phone": ...}`, as `/v1/Auth/Login` takes it.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = crate::formats::ContactLoginFields))]
    pub login_fields: Option<serde_json::Value>,
    /// The six digits `/v1/Auth/Code` (or an SMS invite) sent.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String, pattern = r"^[0-9]{6}$"))]
    pub code: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String, min_length = 8, max_length = 256))]
    pub new_password: Option<String>,
}

/// The users a users-list filter matches, as an invite names them (every field optional;
/// the users page's filters: words, instance, status, flags `on`/`off`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct UserFilter {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::SearchTerm>))]
    pub q: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Id>))]
    pub instance: Option<String>,
    /// `active` (the default), `deactivated` or `all`.
    pub status: Option<String>,
    pub tracking: Option<String>,
    pub logging: Option<String>,
    pub sdk: Option<String>,
    pub realtime: Option<String>,
}

/// Body of `POST /v1/Management/users/invite` (and `/invite/count`): who, and how.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct InviteRequest {
    /// One user; or
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Id>))]
    pub user_device_token: Option<String>,
    /// every user of a batch; or
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Id>))]
    pub batch_id: Option<String>,
    /// every user a filter matches.
    pub filter: Option<UserFilter>,
    /// `Email` (a one-time link) or `Sms` (a one-time code).
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = Deliver))]
    pub deliver: Option<String>,
    /// The number `/invite/count` answered as Recipients: required for a batch or a filter.
    pub count: Option<i64>,
}

/// Who an invite reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct InviteCountView {
    /// Users selected.
    pub matched: i64,
    /// Those who get (or got) a message: active, with an address on the channel.
    pub recipients: i64,
}

/// One instance as the dashboard lists it, with its user count; never its key (an admin
/// reveals that on purpose, and the audit trail records it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceSummary {
    pub id: String,
    pub name: String,
    pub description: String,
    pub status: String,
    pub application_name: String,
    pub application_id: String,
    pub invite_code: String,
    pub user_count: i64,
    pub date_created: String,
}

/// Body of `PUT /v1/Management/users`: a partial update. Absent (or null) fields stay as
/// they are; an empty string clears a text field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateUserRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub first_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub last_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub nickname: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::PhoneNumber>))]
    pub phone: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::EmailAddress>))]
    pub email: Option<String>,
    pub gender: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Day>))]
    pub birthday: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::MaritalStatus>))]
    pub marital_status: Option<serde_json::Value>,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 99))]
    pub children_count: Option<i64>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub country: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub district: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub city: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub address: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::WebUrl>))]
    pub image_url: Option<String>,
    /// `Active`, `Deactivated`, or `Deleted` (deletes the user).
    pub status: Option<String>,
    pub user_fields: Option<UserFieldsInput>,
    /// Top-level `ClientId` (some clients send it here instead of in `UserFields`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub client_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 256))]
    pub new_password: Option<String>,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub old_password: Option<String>,
    pub mobile_device: Option<MobileDeviceInput>,
    /// Flags set for a while: `{"EnableLogging": "2026-12-02T18:00:00Z"}` switches the flag
    /// given in `UserFields` back to the opposite value at that time. A flag set without an
    /// end loses any end it had. Debug logging is capped by the instance's maximum.
    pub flags_until: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct UserProfileView {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub nickname: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub gender: String,
    pub birthday: Option<String>,
    pub marital_status: Option<String>,
    pub children_count: Option<i64>,
    pub country: Option<String>,
    pub district: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct UserFieldsView {
    pub client_id: Option<String>,
    pub enable_tracking: bool,
    pub enable_logging: bool,
    pub enabled: bool,
    pub enable_real_time_location: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct AccountInfoView {
    pub company_id: String,
    pub application_id: String,
    pub application_name: String,
    pub instance_id: String,
    pub instance_name: String,
}

/// A user as `GET /v1/Management/users` shows it. `UserFields` is an array of one object,
/// as in the original API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct UserView {
    pub device_token: String,
    pub status: String,
    pub date_created: String,
    pub user_profile: UserProfileView,
    pub user_fields: Vec<UserFieldsView>,
    pub account_info: AccountInfoView,
    /// `Active` (logged in or refreshed within the instance's active window), `Lost` (not
    /// within it), `NoData` (never since registration) or `Deactivated`.
    pub activity_status: String,
    /// When the user last logged in or refreshed a token (`null`: never).
    pub last_activity: Option<String>,
    pub mobile_device: Option<MobileDeviceView>,
    /// A telematics flag changed after the device's newest token: it learns the change at
    /// its next refresh or login.
    pub flags_pending: bool,
    /// Flags set for a while, with when each goes back (reads of one user only; `null` in
    /// pages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags_until: Option<std::collections::BTreeMap<String, String>>,
}

/// Body of `POST /v1/Management/users/GetFilteredPage`; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct UserPageRequest {
    /// 1-based; default 1.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub page_number: Option<i64>,
    /// 1 to 500; default 20.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 500))]
    pub page_size: Option<i64>,
    /// Words, each of which must begin the first name, last name, e-mail or phone, or equal
    /// the ClientId or DeviceToken (ASCII case ignored). At most 8 words.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::SearchTerm>, max_length = 256))]
    pub search_term: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::formats::Id>>, max_items = 1000))]
    pub instance_ids: Option<Vec<String>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::formats::Id>>, max_items = 1000))]
    pub application_ids: Option<Vec<String>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::formats::Id>>, max_items = 1000))]
    pub company_ids: Option<Vec<String>>,
    /// `DateCreatedDesc` (default), `DateCreated`, `LastName`, `LastNameDesc`, `FirstName`,
    /// `FirstNameDesc`, `Email`, `EmailDesc`.
    pub sort: Option<String>,
    /// Inclusive; a date alone means its start (UTC).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Moment>))]
    pub date_created_from: Option<String>,
    /// Inclusive; a date alone means its whole day (UTC); not before DateCreatedFrom.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Moment>))]
    pub date_created_to: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub country: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub city: Option<String>,
    /// Include deactivated users (default false).
    pub show_inactive_users: Option<bool>,
    /// Accepted for compatibility: account info is always included.
    pub include_account_info: Option<bool>,
    /// Any of `Active`, `Lost`, `NoData` (also `No Data`), `Deactivated` (also `Inactive`);
    /// `Error`, which we never derive, matches no one. Empty or absent: no filter. At most 8.
    #[cfg_attr(feature = "openapi", schema(max_items = 8))]
    pub activity_statuses: Option<Vec<String>>,
}

/// A page of users (`GetFilteredPage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct UserPageView {
    pub users: Vec<UserView>,
    pub has_previous_page: bool,
    pub has_next_page: bool,
    pub total_users: i64,
    pub total_pages: i64,
    pub current_page: i64,
    /// False when a search matched more users than are counted (10,000): then
    /// `TotalUsers` is that bound, and `HasNextPage` is still exact.
    pub total_users_exact: bool,
}

/// `GET /v1/Check/UserExists` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct UserExistsView {
    pub user_exists: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub nickname: Option<String>,
    pub image_url: Option<String>,
}

/// An instance as the Accounts-service routes show it (to an admin with its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct InstanceView {
    pub id: String,
    /// Shown to admins (and recorded); never to an API key.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key: Option<String>,
    pub name: String,
    pub description: String,
    pub status: String,
    pub invite_code: String,
    pub app_id: String,
    pub app_name: String,
    pub company_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub status: String,
    pub company_id: String,
    /// Present when asked for (`includeInstances=true`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instances: Option<Vec<InstanceView>>,
}

/// Body of instance create/update. `Status` is `Active`/`Deactivated` or 1/2. On create,
/// `Id` and `Key` keep an InstanceId and InstanceKey the instance already has (a fleet moving
/// in from the hosted service); absent, both are generated. They never change afterwards.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceInput {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::NonBlankText>))]
    pub name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub description: Option<String>,
    pub status: Option<serde_json::Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Id>))]
    pub id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Id>))]
    pub key: Option<String>,
}

/// Body of `POST /v1/companies/{companyId}/applications`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct ApplicationInput {
    /// Keeps an ApplicationId it already has elsewhere; absent: generated.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Id>))]
    pub id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::NonBlankText>))]
    pub name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub description: Option<String>,
    /// Also create an instance "Common" ("Default group").
    pub create_default_group: Option<bool>,
}

/// Body of `POST /v1/Management/users/instances/change` (admin).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase", default)]
pub struct ChangeInstanceRequest {
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = crate::formats::Id))]
    pub device_token: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = crate::formats::Id))]
    pub to_instance_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String, min_length = 1))]
    pub to_instance_key: Option<String>,
}

/// Answer of `POST /v1/Management/users/instances/change/{InviteCode}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct InstanceNameView {
    pub instance_name: String,
}

/// One audit entry as the dashboard and admin clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct AuditEntryView {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub client_address: Option<String>,
}

/// A page of the audit trail, newest first; `NextBefore` continues it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct AuditPageView {
    pub entries: Vec<AuditEntryView>,
    pub next_before: Option<i64>,
}

/// A new webhook subscription, or the fields of one to change (`None`: kept; for
/// `event_types`, `instances` and `applications` on creation: every one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct WebhookInput {
    /// Where events are POSTed: https, or http to a loopback or private address only with
    /// `AllowPrivate`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::WebhookUrl>))]
    pub url: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::formats::Text>))]
    pub description: Option<String>,
    /// Event types wanted (`user.created`, ...); absent or empty: every type.
    pub event_types: Option<Vec<String>>,
    /// Only events of these instances (1 to 1000); absent: every instance.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::formats::Id>>, min_items = 1, max_items = 1000))]
    pub instances: Option<Vec<String>>,
    /// Only events of instances of these applications (1 to 1000); absent: every application.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::formats::Id>>, min_items = 1, max_items = 1000))]
    pub applications: Option<Vec<String>>,
    /// Allow a URL on a loopback or private network (never link-local or metadata).
    pub allow_private: Option<bool>,
    pub enabled: Option<bool>,
}

/// A webhook subscription (never its secret, which is shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub description: String,
    /// `None`: every type.
    pub event_types: Option<Vec<String>>,
    pub instances: Option<Vec<String>>,
    pub applications: Option<Vec<String>>,
    pub allow_private: bool,
    pub enabled: bool,
    /// Why it was disabled (by an admin, or automatically after failing too long).
    pub disabled_reason: Option<String>,
    /// Since when its deliveries have been failing (`None`: the last one went through).
    pub failing_since: Option<String>,
    /// Until when the previous secret signs too, after a rotation.
    pub previous_secret_until: Option<String>,
    pub created_at: String,
    pub created_by: String,
}

/// A webhook with its signing secret: the answer that creates or rotates it, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct WebhookWithSecret {
    pub webhook: WebhookView,
    /// `whsec_` and the base64 of the HMAC key, as Standard Webhooks libraries take it.
    pub secret: String,
}

/// One delivery of an event to a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct WebhookDeliveryView {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub device_token: Option<String>,
    /// queued, sending, sent, failed or cancelled.
    pub state: String,
    pub attempts: i64,
    pub created_at: String,
    pub updated_at: String,
    pub sent_at: Option<String>,
    pub last_error: Option<String>,
    /// The receiver's HTTP status at the last attempt (none: no answer).
    pub last_status: Option<i64>,
    pub last_took_ms: Option<i64>,
}

/// Every event of `[From, To)` sent again to one webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct WebhookReplay {
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = crate::formats::Moment))]
    pub from: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = crate::formats::Moment))]
    pub to: Option<String>,
}

/// What an import does with a row whose DeviceToken already exists (in its instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OnExisting {
    /// Leave the user as it is; the row is reported `skipped: exists`.
    #[default]
    Skip,
    /// Change the fields the row gives that differ (audited); unchanged rows are skipped.
    Update,
    /// Report the row as an error.
    Fail,
}

impl OnExisting {
    pub const ALL: [OnExisting; 3] = [OnExisting::Skip, OnExisting::Update, OnExisting::Fail];

    pub fn as_str(self) -> &'static str {
        match self {
            OnExisting::Skip => "skip",
            OnExisting::Update => "update",
            OnExisting::Fail => "fail",
        }
    }

    /// `skip`, `update` or `fail`, any case.
    pub fn parse(value: &str) -> Result<OnExisting, String> {
        let v = value.trim();
        OnExisting::ALL
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(v))
            .ok_or_else(|| "must be skip, update or fail".to_string())
    }
}

/// An import of users from a file, as REST and the dashboard show it (never a row's data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct ImportView {
    pub id: String,
    pub instance_id: String,
    pub instance_name: String,
    pub file_name: String,
    /// A check of every row that writes nothing but its report.
    pub dry_run: bool,
    pub on_existing: OnExisting,
    /// `Running`, `Completed`, `Failed` (stopped; resumable) or `Interrupted` (its server
    /// stopped; resumable).
    pub state: String,
    /// Records in the file, and how many were handled so far.
    pub rows: i64,
    pub done: i64,
    pub created: i64,
    pub updated: i64,
    pub skipped: i64,
    pub failed: i64,
    /// What the file held that is not imported (unknown or ignored columns), one line each.
    pub notes: Vec<String>,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

impl ImportView {
    /// Whole percent done, 0..=100.
    pub fn percent(&self) -> i64 {
        if self.rows <= 0 {
            return 100;
        }
        (self.done * 100 / self.rows).clamp(0, 100)
    }

    pub fn is_running(&self) -> bool {
        self.state == "Running"
    }
}

/// A page of imports, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct ImportPage {
    pub imports: Vec<ImportView>,
    /// The cursor of the next (older) page: pass it as `before`.
    pub next: Option<String>,
}

/// One row an import could not take, from its report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct ImportRowError {
    /// As a spreadsheet numbers it (the header is row 1), or the NDJSON line.
    pub row: i64,
    pub device_token: String,
    pub field: String,
    pub reason: String,
}
