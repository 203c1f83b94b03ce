//! Events: what other systems learn of a change, written in the transaction of the change
//! (one `events` row) and delivered to webhook subscriptions by the dispatcher
//! (`crate::webhooks`).
//!
//! Invariants: an event exists exactly when its change committed; it never carries a
//! password, a token, a key or a code; events of one user are numbered (`seq`) in the order
//! their changes committed, since each change holds the user's row.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::store::{NewUserRow, UserRow};
use crate::time::{iso, ms};

pub use tus_wire::views::EventType;

/// An event as delivered: `{"id", "type", "timestamp", "data"}`, `data` as stored.
pub fn envelope(id: &str, kind: &str, at: i64, data: &str) -> String {
    format!(
        r#"{{"id":{},"type":{},"timestamp":{},"data":{}}}"#,
        json!(id),
        json!(kind),
        json!(iso(at)),
        data
    )
}

/// A field of an event's `data`: its name, JSON type and meaning (the OpenAPI document's
/// `webhooks` section is made from these; a test checks delivered events against them).
pub type DataField = (&'static str, &'static str, &'static str);

const USER: [DataField; 3] = [
    ("DeviceToken", "string", "The user."),
    ("InstanceId", "string", "The user's instance (after the change)."),
    ("Actor", "string", "Who made the change: `admin:<e-mail>`, `apikey:<name>`, `instance:<id>`, `user:<DeviceToken>`."),
];

/// The fields of `data` for events of `kind`, besides those every user event has
/// (`USER`, for the `user.*` types).
pub fn data_fields(kind: EventType) -> Vec<DataField> {
    let changes = (
        "Changes",
        "object",
        "Each changed field: `{\"Before\": …, \"After\": …}`.",
    );
    let mut fields: Vec<DataField> = match kind {
        EventType::UserCreated
        | EventType::UserUpdated
        | EventType::UserFlagsChanged
        | EventType::UserDeactivated
        | EventType::UserActivated
        | EventType::UserMoved
        | EventType::UserDeleted
        | EventType::UserSessionsRevoked => USER.to_vec(),
        _ => Vec::new(),
    };
    let more: &[DataField] = match kind {
        EventType::UserCreated => &[
            ("Status", "string", "Active or Deactivated."),
            (
                "DateCreated",
                "string",
                "When it was registered (ISO 8601).",
            ),
            (
                "BatchId",
                "string",
                "The batch that registered it, if any (or null).",
            ),
            (
                "UserProfile",
                "object",
                "The profile as registered (names, e-mail, phone, …).",
            ),
            (
                "UserFields",
                "object",
                "ClientId and the telematics flags as registered.",
            ),
        ],
        EventType::UserUpdated | EventType::UserFlagsChanged => &[changes],
        EventType::UserDeactivated | EventType::UserActivated => &[(
            "Changes",
            "object",
            "`Status`: `{\"Before\": …, \"After\": …}`.",
        )],
        EventType::UserMoved => &[("FromInstanceId", "string", "The instance it left.")],
        EventType::UserDeleted => &[],
        EventType::UserSessionsRevoked => &[("Detail", "string", "Which sessions ended.")],
        EventType::SecurityRefreshReuse => &[
            (
                "DeviceToken",
                "string",
                "The user whose refresh token came back.",
            ),
            (
                "InstanceId",
                "string",
                "Its instance (null if it no longer exists).",
            ),
            ("FamilyId", "string", "The session (token family) revoked."),
            (
                "ClientAddress",
                "string",
                "The address the reused token came from (or null).",
            ),
        ],
        EventType::InstanceKeyRotated => &[
            (
                "InstanceId",
                "string",
                "The instance (its new key is never sent).",
            ),
            ("Actor", "string", "Who rotated it."),
        ],
        EventType::BatchCompleted => &[
            ("BatchId", "string", "The batch."),
            ("InstanceId", "string", "Its instance."),
            ("Users", "integer", "How many users it registered."),
            ("Actor", "string", "Who started it."),
        ],
        EventType::BatchFailed => &[
            ("BatchId", "string", "The batch."),
            ("InstanceId", "string", "Its instance."),
            (
                "Users",
                "integer",
                "How many users it registered before it stopped.",
            ),
            ("Quantity", "integer", "How many it was to register."),
            ("Reason", "string", "Why it stopped."),
        ],
        EventType::WebhookTest => &[
            ("WebhookId", "string", "The webhook tested."),
            ("Actor", "string", "Who sent the test."),
        ],
    };
    fields.extend_from_slice(more);
    fields
}

/// An event to write: its type, when, whose (for ordering and scope), and its data.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub kind: EventType,
    pub at: i64,
    pub device_token: Option<String>,
    pub instance_id: Option<String>,
    /// The event's `data` (JSON); the envelope `{"id", "type", "timestamp", "data"}` is put
    /// around it when it is sent (`envelope`).
    pub payload: String,
}

impl NewEvent {
    /// An event with `data`; `device_token` and `instance_id` say whose it is.
    pub fn new(
        kind: EventType,
        now: DateTime<Utc>,
        device_token: Option<&str>,
        instance_id: Option<&str>,
        data: Value,
    ) -> NewEvent {
        let id = format!("evt_{}", crate::types::new_row_id().simple());
        let payload = data.to_string();
        NewEvent {
            id,
            kind,
            at: ms(now),
            device_token: device_token.map(str::to_string),
            instance_id: instance_id.map(str::to_string),
            payload,
        }
    }

    /// An event about one user: its data names the user and the actor, plus `more`.
    pub fn of_user(
        kind: EventType,
        now: DateTime<Utc>,
        user: &UserRow,
        actor: &str,
        more: Value,
    ) -> NewEvent {
        let mut data = Map::new();
        data.insert("DeviceToken".into(), json!(user.device_token));
        data.insert("InstanceId".into(), json!(user.instance_id));
        data.insert("Actor".into(), json!(actor));
        if let Value::Object(more) = more {
            data.extend(more);
        }
        NewEvent::new(
            kind,
            now,
            Some(&user.device_token),
            Some(&user.instance_id),
            Value::Object(data),
        )
    }
}

/// An event about a batch of `instance_id`.
pub fn batch_event(
    kind: EventType,
    now: DateTime<Utc>,
    batch_id: &str,
    instance_id: &str,
    more: Value,
) -> NewEvent {
    let mut data = Map::new();
    data.insert("BatchId".into(), json!(batch_id));
    data.insert("InstanceId".into(), json!(instance_id));
    if let Value::Object(more) = more {
        data.extend(more);
    }
    NewEvent::new(kind, now, None, Some(instance_id), Value::Object(data))
}

/// The leaves of a user as the API shows it (`UserProfile.*`, `UserFields[0].*`, `Status`),
/// by their field name.
fn leaves(user: &UserRow) -> Map<String, Value> {
    fn walk(value: Value, name: Option<String>, out: &mut Map<String, Value>) {
        match value {
            Value::Object(fields) => {
                for (k, v) in fields {
                    walk(v, Some(k), out);
                }
            }
            Value::Array(items) if items.len() == 1 => {
                for item in items {
                    walk(item, name.clone(), out);
                }
            }
            leaf => {
                if let Some(name) = name {
                    out.insert(name, leaf);
                }
            }
        }
    }
    // What is derived (activity, pending) is judged at no particular time and dropped below.
    let view =
        serde_json::to_value(crate::users::user_view(user.clone(), 0)).unwrap_or(Value::Null);
    let mut out = Map::new();
    walk(view, None, &mut out);
    // Where the user is and when it registered are not changes of its own.
    for fixed in [
        "DeviceToken",
        "DateCreated",
        "CompanyId",
        "ApplicationId",
        "ApplicationName",
        "InstanceId",
        "InstanceName",
        // Derived from what the device does, or reported by it: not an admin's change.
        "ActivityStatus",
        "LastActivity",
        "FlagsPending",
        "MobileDevice",
        "MobileUid",
        "DeviceModel",
        "OsType",
        "OsVersion",
        "SdkVersion",
        "AppVersion",
    ] {
        out.remove(fixed);
    }
    out
}

/// The events a change of `before` into `after` makes, by `actor`: `user.flags_changed`,
/// `user.deactivated` / `user.activated`, and `user.updated` for the other fields, each with
/// `Changes: {field: {Before, After}}`. None when nothing changed.
pub fn user_change_events(
    now: DateTime<Utc>,
    before: &UserRow,
    after: &UserRow,
    actor: &str,
) -> Vec<NewEvent> {
    let (old, new) = (leaves(before), leaves(after));
    let flags: Vec<&str> = crate::types::Flag::ALL
        .into_iter()
        .map(|f| f.api_name())
        .collect();
    let mut flag_changes = Map::new();
    let mut other_changes = Map::new();
    let mut status = None;
    let mut status_change = Map::new();
    for (field, value) in &new {
        let was = old.get(field).cloned().unwrap_or(Value::Null);
        if &was == value {
            continue;
        }
        let change = json!({ "Before": was, "After": value });
        if field == "Status" {
            status = value.as_str().map(str::to_string);
            status_change.insert(field.clone(), change);
        } else if flags.contains(&field.as_str()) {
            flag_changes.insert(field.clone(), change);
        } else {
            other_changes.insert(field.clone(), change);
        }
    }
    let mut events = Vec::new();
    let mut push = |kind, changes: Map<String, Value>| {
        events.push(NewEvent::of_user(
            kind,
            now,
            after,
            actor,
            json!({ "Changes": changes }),
        ));
    };
    if !other_changes.is_empty() {
        push(EventType::UserUpdated, other_changes);
    }
    if !flag_changes.is_empty() {
        push(EventType::UserFlagsChanged, flag_changes);
    }
    match status.as_deref() {
        Some("Deactivated") => push(EventType::UserDeactivated, status_change),
        Some("Active") => push(EventType::UserActivated, status_change),
        _ => {}
    }
    events
}

/// `user.created` for each user as registered, by `actor` (an instance, an admin, a batch).
pub fn users_created(now: DateTime<Utc>, users: &[NewUserRow], actor: &str) -> Vec<NewEvent> {
    users
        .iter()
        .map(|u| {
            let data = json!({
                "DeviceToken": u.device_token,
                "InstanceId": u.instance_id,
                "Actor": actor,
                "Status": u.status,
                "DateCreated": iso(u.date_created),
                "BatchId": u.batch_id,
                "UserProfile": {
                    "FirstName": u.first_name, "LastName": u.last_name, "Nickname": u.nickname,
                    "Email": u.email, "Phone": u.phone, "Gender": u.gender,
                    "Birthday": u.birthday.map(iso), "MaritalStatus": u.marital_status,
                    "ChildrenCount": u.children_count, "Country": u.country,
                    "District": u.district, "City": u.city, "Address": u.address,
                    "ImageUrl": u.image_url,
                },
                "UserFields": {
                    "ClientId": u.client_id,
                    "EnableTracking": u.enable_tracking,
                    "EnableLogging": u.enable_logging,
                    "Enabled": u.enabled,
                    "EnableRealTimeLocation": u.enable_real_time_location,
                },
            });
            NewEvent::new(
                EventType::UserCreated,
                now,
                Some(&u.device_token),
                Some(&u.instance_id),
                data,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_parses_back_from_its_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Ok(t));
        }
        assert!(EventType::parse("user.everything").is_err());
    }
}
