//! A partial update of a user, parsed at the edge (`TryFrom<UpdateUserRequest>`, every field
//! error at once): each field is kept (absent), cleared (sent empty) or set (sent valid).
//! The store maps it to columns (`Tx::apply_user_patch`); `describe` words it for the audit
//! entry against the user as the writing transaction read it.

use chrono::{DateTime, Utc};

use crate::error::{CoreError, CoreResult, FieldErrors};
use crate::password::check_strength;
use crate::secret::Password;
use crate::store::UserRow;
use crate::types::{parse_datetime, parse_text, Email, Flag, Gender, Phone, UserStatus};
use crate::users::{image_url, parse_marital_status, true_false};
use tus_wire::model::UpdateUserRequest;

/// What an update does to one field it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    Clear,
    Set(T),
}

impl<T> Change<T> {
    pub fn as_ref(&self) -> Option<&T> {
        match self {
            Change::Clear => None,
            Change::Set(v) => Some(v),
        }
    }
}

/// The profile fields an update changes (`None`: kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfilePatch {
    pub first_name: Option<Change<String>>,
    pub last_name: Option<Change<String>>,
    pub nickname: Option<Change<String>>,
    pub phone: Option<Change<Phone>>,
    pub email: Option<Change<Email>>,
    pub country: Option<Change<String>>,
    pub district: Option<Change<String>>,
    pub city: Option<Change<String>>,
    pub address: Option<Change<String>>,
    pub image_url: Option<Change<String>>,
    /// Sent empty means `None` (the API's "no answer"), so it is never cleared.
    pub gender: Option<Gender>,
    pub birthday: Option<Change<DateTime<Utc>>>,
    pub marital_status: Option<Change<String>>,
    pub children_count: Option<i64>,
}

/// A user's status change, or its deletion (`Status: "Deleted"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    Set(UserStatus),
    Delete,
}

/// A partial update of one user.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub profile: ProfilePatch,
    /// The flags set, in `Flag::ALL` order (`None`: kept).
    pub flags: [Option<bool>; 4],
    pub client_id: Option<Change<String>>,
    pub status: Option<StatusChange>,
    pub new_password: Option<Password>,
    pub old_password: Option<Password>,
    /// `MobileDevice`, the fields given.
    pub device: Option<crate::activity::DevicePatch>,
    /// When each flag set goes back (ms), in `Flag::ALL` order (`None`: for good).
    pub until: [Option<i64>; 4],
}

impl UserPatch {
    /// One flag switched, for good (`until: None`) or until then (ms).
    pub fn flag(flag: Flag, on: bool, until: Option<i64>) -> Self {
        let mut patch = UserPatch::default();
        patch.flags[flag.index()] = Some(on);
        patch.until[flag.index()] = until;
        patch
    }

    /// Activated or deactivated.
    pub fn status(status: UserStatus) -> Self {
        UserPatch {
            status: Some(StatusChange::Set(status)),
            ..UserPatch::default()
        }
    }

    /// The lines of the audit entry: profile fields by name only (their values are personal
    /// data), flags, ClientId and status with before → after.
    pub fn describe(&self, before: &UserRow, password_set: bool) -> Vec<String> {
        let p = &self.profile;
        let mut lines: Vec<String> = [
            ("FirstName", p.first_name.is_some()),
            ("LastName", p.last_name.is_some()),
            ("Nickname", p.nickname.is_some()),
            ("Phone", p.phone.is_some()),
            ("Email", p.email.is_some()),
            ("Country", p.country.is_some()),
            ("District", p.district.is_some()),
            ("City", p.city.is_some()),
            ("Address", p.address.is_some()),
            ("ImageUrl", p.image_url.is_some()),
            ("Gender", p.gender.is_some()),
            ("Birthday", p.birthday.is_some()),
            ("MaritalStatus", p.marital_status.is_some()),
            ("ChildrenCount", p.children_count.is_some()),
        ]
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| name.to_string())
        .collect();
        let stored = before.flags();
        for flag in Flag::ALL {
            let (Some(new), old) = (self.flags[flag.index()], stored.get(flag)) else {
                continue;
            };
            if new != old {
                lines.push(format!(
                    "{}: {} → {}",
                    flag.api_name(),
                    true_false(old),
                    true_false(new)
                ));
            }
        }
        if let Some(change) = &self.client_id {
            let new = change.as_ref();
            if new != before.client_id.as_ref() {
                lines.push(format!(
                    "ClientId: {} → {}",
                    before.client_id.as_deref().unwrap_or("(none)"),
                    new.map_or("(none)", String::as_str)
                ));
            }
        }
        if let Some(StatusChange::Set(s)) = self.status {
            if s.as_str() != before.status {
                lines.push(format!("Status: {} → {}", before.status, s));
            }
        }
        if let Some(device) = &self.device {
            let names: Vec<&str> = device.columns().iter().map(|(c, _)| *c).collect();
            lines.push(format!("MobileDevice ({})", names.join(", ")));
        }
        if password_set {
            lines.push("Password".into());
        }
        lines
    }
}

/// A text field: absent → kept, empty → cleared, else parsed.
fn text(
    e: &mut FieldErrors,
    key: &str,
    value: &Option<String>,
    parse: impl Fn(&str) -> Result<String, String>,
) -> Option<Change<String>> {
    parsed(e, key, value, parse)
}

fn parsed<T>(
    e: &mut FieldErrors,
    key: &str,
    value: &Option<String>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<Change<T>> {
    let v = value.as_deref()?;
    if v.trim().is_empty() {
        return Some(Change::Clear);
    }
    e.take(key, parse(v)).map(Change::Set)
}

fn plain(v: &str) -> Result<String, String> {
    parse_text(v).map(|t| t.unwrap_or_default())
}

fn profile(e: &mut FieldErrors, r: &UpdateUserRequest) -> ProfilePatch {
    ProfilePatch {
        first_name: text(e, "FirstName", &r.first_name, plain),
        last_name: text(e, "LastName", &r.last_name, plain),
        nickname: text(e, "Nickname", &r.nickname, plain),
        phone: parsed(e, "Phone", &r.phone, Phone::parse),
        email: parsed(e, "Email", &r.email, Email::parse),
        country: text(e, "Country", &r.country, plain),
        district: text(e, "District", &r.district, plain),
        city: text(e, "City", &r.city, plain),
        address: text(e, "Address", &r.address, plain),
        image_url: text(e, "ImageUrl", &r.image_url, image_url),
        gender: r.gender.as_deref().and_then(|g| {
            if g.trim().is_empty() {
                Some(Gender::None)
            } else {
                e.take("Gender", Gender::parse(g))
            }
        }),
        birthday: parsed(e, "Birthday", &r.birthday, parse_datetime),
        marital_status: r.marital_status.as_ref().and_then(|v| {
            e.take("MaritalStatus", parse_marital_status(v))
                .map(|m| m.map_or(Change::Clear, Change::Set))
        }),
        children_count: match r.children_count {
            Some(n) if !(0..=99).contains(&n) => {
                e.push("ChildrenCount", "must be between 0 and 99");
                None
            }
            other => other,
        },
    }
}

/// `FlagsUntil`: each key a flag's API name given in `UserFields`, each value a time.
fn flags_until(
    e: &mut FieldErrors,
    r: &UpdateUserRequest,
    flags: &[Option<bool>; 4],
) -> [Option<i64>; 4] {
    let mut until = [None; 4];
    let Some(map) = &r.flags_until else {
        return until;
    };
    if map.len() > Flag::ALL.len() {
        e.push("FlagsUntil", "names at most the four flags");
        return until;
    }
    for (name, at) in map {
        if name.chars().count() > 64 {
            e.push("FlagsUntil", "names at most the four flags");
            continue;
        }
        let key = format!("FlagsUntil.{name}");
        let Some(flag) = Flag::ALL
            .into_iter()
            .find(|f| f.api_name().eq_ignore_ascii_case(name.trim()))
        else {
            e.push(
                &key,
                "must be EnableTracking, EnableLogging, Enabled or EnableRealTimeLocation",
            );
            continue;
        };
        if flags[flag.index()].is_none() {
            e.push(&key, "give the flag's value in UserFields too");
            continue;
        }
        if let Some(t) = e.take(&key, crate::types::parse_datetime(at)) {
            until[flag.index()] = Some(crate::time::ms(t));
        }
    }
    until
}

fn status(e: &mut FieldErrors, r: &UpdateUserRequest) -> Option<StatusChange> {
    let status = r.status.as_deref().filter(|s| !s.trim().is_empty())?;
    if status.trim().eq_ignore_ascii_case("deleted") {
        return Some(StatusChange::Delete);
    }
    let parsed = UserStatus::parse(status).map_err(|m| format!("{m}, Deleted"));
    e.take("Status", parsed).map(StatusChange::Set)
}

fn passwords(e: &mut FieldErrors, r: &UpdateUserRequest) -> (Option<Password>, Option<Password>) {
    let given = |p: &Option<String>| p.as_deref().filter(|p| !p.is_empty()).map(str::to_string);
    let new = given(&r.new_password).and_then(|p| {
        e.take("NewPassword", check_strength(&p))
            .map(|_| Password::new(p))
    });
    (new, given(&r.old_password).map(Password::new))
}

impl TryFrom<UpdateUserRequest> for UserPatch {
    type Error = CoreError;

    fn try_from(r: UpdateUserRequest) -> CoreResult<Self> {
        let mut e = FieldErrors::default();
        let profile = profile(&mut e, &r);
        let fields = r.user_fields.clone().unwrap_or_default();
        let flags = Flag::ALL.map(|flag| flag.given_in(&fields));
        let client_id = fields.client_id.as_ref().or(r.client_id.as_ref()).cloned();
        let client_id = text(&mut e, "ClientId", &client_id, plain);
        let status = status(&mut e, &r);
        let (new_password, old_password) = passwords(&mut e, &r);
        let device = crate::activity::DevicePatch::parse(&mut e, &r.mobile_device);
        let until = flags_until(&mut e, &r, &flags);
        e.into_result()?;
        Ok(UserPatch {
            profile,
            flags,
            client_id,
            status,
            new_password,
            old_password,
            device,
            until,
        })
    }
}
