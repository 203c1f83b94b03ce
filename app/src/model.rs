//! Wire types shared by the REST API, the server functions and the browser.
//! Field names are the API's PascalCase. Inputs are loose (every field optional, strings
//! unparsed) because the core parses them into domain types and reports every bad field at once.
//! Nothing here ever holds a hash, an instance key or a signing key.

use serde::{Deserialize, Serialize};

/// The `UserFields` object of registration and update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UserFieldsInput {
    pub enable_tracking: Option<bool>,
    pub enable_logging: Option<bool>,
    pub enabled: Option<bool>,
    pub enable_real_time_location: Option<bool>,
    pub client_id: Option<String>,
}

/// Body of `POST /v1/Registration/Create`. Every field is optional; `{}` is valid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RegisterRequest {
    pub create_access_token: Option<bool>,
    pub custom_token: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub nickname: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub gender: Option<String>,
    pub birthday: Option<String>,
    /// Clients send codes ("1".."4"), words, or even the string "null"; kept as text.
    pub marital_status: Option<serde_json::Value>,
    pub children_count: Option<i64>,
    pub country: Option<String>,
    pub district: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub image_url: Option<String>,
    pub status: Option<String>,
    pub instance_invite_code: Option<String>,
    pub user_fields: Option<UserFieldsInput>,
    /// An optional initial password for e-mail/phone login. Hashed at once, never returned.
    pub password: Option<String>,
}

/// The flags of `CreateMany` (the original API calls them `CustomFields`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CustomFieldsInput {
    pub enable_tracking: Option<bool>,
    pub enable_logging: Option<bool>,
    pub enabled: Option<bool>,
    pub enable_real_time_location: Option<bool>,
}

/// Body of `POST /v1/Registration/CreateMany`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateManyRequest {
    pub quantity: Option<i64>,
    pub create_access_token: Option<bool>,
    pub custom_fields: Option<CustomFieldsInput>,
    /// Our addition: a label for the batch record (shown in the dashboard).
    pub label: Option<String>,
}

/// Body of `POST /v1/Auth/RefreshToken`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RefreshRequest {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
}

/// Body of `POST /v1/Auth/Login`. `LoginFields` is an object or a string holding JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LoginRequest {
    pub login_fields: Option<serde_json::Value>,
    pub password: Option<String>,
}

/// One instance as the dashboard lists it: no key, no invite code (those are admin-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSummary {
    pub id: String,
    pub name: String,
    pub description: String,
    pub status: String,
    pub application_name: String,
    pub user_count: i64,
    pub date_created: String,
}
