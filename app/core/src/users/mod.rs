//! Users: parsing registration input into a valid `NewUser`, the stored user, and its view.
//! Finding users is in `search`, changing them in `manage`.

pub mod manage;
pub mod patch;
pub mod search;

use tus_wire::model::{
    AccountInfoView, RegisterRequest, UserFieldsView, UserProfileView, UserView,
};

use chrono::{DateTime, Utc};

use super::error::{CoreError, CoreResult, FieldErrors};
use super::password::check_strength;
use super::secret::Password;
use super::store::UserRow;
use super::time::from_ms;
use super::tokens::UserSubject;
use super::types::*;

/// Profile fields, all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub nickname: Option<String>,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub gender: Option<Gender>,
    pub birthday: Option<DateTime<Utc>>,
    pub marital_status: Option<String>,
    pub children_count: Option<i64>,
    pub country: Option<String>,
    pub district: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub image_url: Option<String>,
}

/// A valid registration.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub custom_token: Option<DeviceToken>,
    pub create_access_token: bool,
    pub profile: Profile,
    pub status: UserStatus,
    /// The flags the registration names, in `Flag::ALL` order; the instance's defaults
    /// (or the API's) fill the others.
    pub flags: [Option<bool>; 4],
    pub client_id: Option<String>,
    pub invite_code: Option<InviteCode>,
    pub password: Option<Password>,
    /// Generate a password and send it on this channel.
    pub deliver: Option<crate::outbox::Channel>,
    /// `MobileDevice`, if the app reported it.
    pub device: Option<crate::activity::DevicePatch>,
}

fn text(errors: &mut FieldErrors, key: &str, value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .and_then(|v| errors.take(key, parse_text(v)).flatten())
}

/// A non-empty optional value parsed with `parse`; empty strings mean "not given".
fn parsed<T>(
    errors: &mut FieldErrors,
    key: &str,
    value: &Option<String>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<T> {
    let value = value.as_deref().filter(|v| !v.trim().is_empty())?;
    errors.take(key, parse(value))
}

/// `MaritalStatus` arrives as a code ("1".."4"), a word, a number, or the string "null"
/// that one mobile library sends for "unset" (which, like "", means no value).
pub(crate) fn parse_marital_status(value: &serde_json::Value) -> Result<Option<String>, String> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) if s.trim().eq_ignore_ascii_case("null") => Ok(None),
        serde_json::Value::String(s) => parse_text(s),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err("must be a string or a number".into()),
    }
}

pub(crate) fn image_url(value: &str) -> Result<String, String> {
    let url = parse_text(value)?.unwrap_or_default();
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://"))
        || url.contains(char::is_whitespace)
    {
        return Err("must be an http(s) URL".into());
    }
    Ok(url)
}

pub(crate) fn parse_profile(errors: &mut FieldErrors, r: &RegisterRequest) -> Profile {
    Profile {
        first_name: text(errors, "FirstName", &r.first_name),
        last_name: text(errors, "LastName", &r.last_name),
        nickname: text(errors, "Nickname", &r.nickname),
        phone: parsed(errors, "Phone", &r.phone, Phone::parse),
        email: parsed(errors, "Email", &r.email, Email::parse),
        gender: parsed(errors, "Gender", &r.gender, Gender::parse),
        birthday: parsed(errors, "Birthday", &r.birthday, parse_datetime),
        marital_status: r.marital_status.as_ref().and_then(|v| {
            errors
                .take("MaritalStatus", parse_marital_status(v))
                .flatten()
        }),
        children_count: match r.children_count {
            Some(n) if !(0..=99).contains(&n) => {
                errors.push("ChildrenCount", "must be between 0 and 99");
                None
            }
            other => other,
        },
        country: text(errors, "Country", &r.country),
        district: text(errors, "District", &r.district),
        city: text(errors, "City", &r.city),
        address: text(errors, "Address", &r.address),
        image_url: parsed(errors, "ImageUrl", &r.image_url, image_url),
    }
}

impl TryFrom<RegisterRequest> for NewUser {
    type Error = CoreError;

    fn try_from(r: RegisterRequest) -> CoreResult<Self> {
        let mut errors = FieldErrors::default();
        let custom_token = parsed(
            &mut errors,
            "CustomToken",
            &r.custom_token,
            DeviceToken::parse,
        );
        let profile = parse_profile(&mut errors, &r);
        let status = parsed(&mut errors, "Status", &r.status, UserStatus::parse)
            .unwrap_or(UserStatus::Active);
        let client_id = r
            .user_fields
            .as_ref()
            .and_then(|f| f.client_id.as_deref())
            .and_then(|v| errors.take("UserFields.ClientId", parse_text(v)).flatten());
        let invite_code = parsed(
            &mut errors,
            "InstanceInviteCode",
            &r.instance_invite_code,
            InviteCode::parse,
        );
        let password = match r.password.as_deref() {
            None | Some("") => None,
            Some(p) => {
                if profile.email.is_none() && profile.phone.is_none() {
                    errors.push("Password", "needs an Email or a Phone to log in with");
                }
                errors
                    .take("Password", check_strength(p))
                    .map(|_| Password::new(p))
            }
        };
        let deliver = r
            .deliver
            .as_deref()
            .filter(|d| !d.trim().is_empty())
            .and_then(|d| {
                let channel = errors.take("Deliver", crate::outbox::Channel::parse(d))?;
                if password.is_some() {
                    errors.push("Deliver", "give a Password or Deliver, not both");
                }
                match channel {
                    crate::outbox::Channel::Email if profile.email.is_none() => {
                        errors.push("Deliver", "Email needs the user's Email");
                    }
                    crate::outbox::Channel::Sms => match &profile.phone {
                        None => errors.push("Deliver", "Sms needs the user's Phone"),
                        Some(phone) => {
                            errors.take("Phone", crate::outbox::e164(phone.as_str()));
                        }
                    },
                    _ => {}
                }
                Some(channel)
            });
        let device = crate::activity::DevicePatch::parse(&mut errors, &r.mobile_device);
        errors.into_result()?;
        Ok(NewUser {
            custom_token,
            create_access_token: r.create_access_token.unwrap_or(true),
            profile,
            status,
            flags: Flag::ALL.map(|f| r.user_fields.as_ref().and_then(|u| f.given_in(u))),
            client_id,
            invite_code,
            password,
            deliver,
            device,
        })
    }
}

/// A stored user with what its tokens need to know of its instance.
#[derive(Debug, Clone)]
pub struct User {
    pub device_token: DeviceToken,
    pub instance_id: InstanceId,
    pub application_id: ApplicationId,
    pub company_id: CompanyId,
    pub status: UserStatus,
    pub instance_status: InstanceStatus,
    pub flags: UserFlags,
    pub client_id: Option<String>,
    pub date_created: DateTime<Utc>,
    /// The batch or import the user came in by, if any.
    pub batch_id: Option<String>,
    /// Its instance's token lifetimes.
    pub lifetimes: crate::tokens::Lifetimes,
}

impl User {
    pub fn subject(&self) -> UserSubject {
        UserSubject {
            device_token: self.device_token,
            instance_id: self.instance_id,
            application_id: self.application_id,
            company_id: self.company_id,
            flags: self.flags,
            client_id: self.client_id.clone(),
            lifetimes: self.lifetimes,
        }
    }

    /// A deactivated user, or a user of a deactivated instance, may not log in or refresh.
    pub fn ensure_active(&self) -> CoreResult<()> {
        if self.status != UserStatus::Active {
            return Err(CoreError::Forbidden("the user is deactivated".into()));
        }
        if self.instance_status != InstanceStatus::Active {
            return Err(CoreError::Forbidden(
                "the user's instance is deactivated".into(),
            ));
        }
        Ok(())
    }
}

impl TryFrom<UserRow> for User {
    type Error = CoreError;

    fn try_from(r: UserRow) -> CoreResult<Self> {
        let bad = |what: &str, e: String| {
            CoreError::internal(format!("stored user has a bad {what}: {e}"))
        };
        Ok(User {
            lifetimes: r.lifetimes(),
            device_token: DeviceToken::parse(&r.device_token)
                .map_err(|e| bad("device token", e))?,
            instance_id: InstanceId::parse(&r.instance_id).map_err(|e| bad("instance id", e))?,
            application_id: ApplicationId::parse(&r.app_id)
                .map_err(|e| bad("application id", e))?,
            company_id: CompanyId::parse(&r.company_id).map_err(|e| bad("company id", e))?,
            status: UserStatus::parse(&r.status).map_err(|e| bad("status", e))?,
            instance_status: InstanceStatus::parse(&r.instance_status)
                .map_err(|e| bad("instance status", e))?,
            flags: r.flags(),
            client_id: r.client_id,
            date_created: from_ms(r.date_created),
            batch_id: r.batch_id,
        })
    }
}

pub(crate) fn true_false(v: bool) -> &'static str {
    if v {
        "True"
    } else {
        "False"
    }
}

/// A user as the API shows it; its activity status judged at `now` (ms).
pub fn user_view(row: UserRow, now: i64) -> UserView {
    let activity_status = ActivityStatus::of_row(&row, now).as_str().to_string();
    let mobile_device = crate::activity::device_view(&row);
    let flags_pending = crate::activity::flags_pending(&row);
    UserView {
        activity_status,
        last_activity: row.last_activity_at.map(|t| format_datetime(from_ms(t))),
        mobile_device,
        flags_pending,
        flags_until: None,
        device_token: row.device_token,
        status: row.status,
        date_created: format_datetime(from_ms(row.date_created)),
        user_profile: UserProfileView {
            first_name: row.first_name,
            last_name: row.last_name,
            nickname: row.nickname,
            email: row.email,
            phone: row.phone,
            gender: row.gender,
            birthday: row.birthday.map(|b| format_datetime(from_ms(b))),
            marital_status: row.marital_status,
            children_count: row.children_count,
            country: row.country,
            district: row.district,
            city: row.city,
            address: row.address,
            image_url: row.image_url,
        },
        user_fields: vec![UserFieldsView {
            client_id: row.client_id,
            enable_tracking: row.enable_tracking,
            enable_logging: row.enable_logging,
            enabled: row.enabled,
            enable_real_time_location: row.enable_real_time_location,
        }],
        account_info: AccountInfoView {
            company_id: row.company_id,
            application_id: row.app_id,
            application_name: row.app_name,
            instance_id: row.instance_id,
            instance_name: row.instance_name,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(r: RegisterRequest) -> Vec<String> {
        match NewUser::try_from(r) {
            Err(CoreError::Validation(e)) => e.0.into_iter().map(|f| f.key).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_registration_gets_the_documented_defaults() {
        let u = NewUser::try_from(RegisterRequest::default()).unwrap();
        assert!(u.create_access_token);
        assert_eq!(u.status, UserStatus::Active);
        assert_eq!(u.flags, [None; 4]);
        let flags = crate::instance_settings::InstanceSettings::default().flags_for(u.flags);
        assert_eq!(flags, UserFlags::default());
        assert!(flags.enable_tracking && flags.enabled);
        assert!(!flags.enable_logging && !flags.enable_real_time_location);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let keys = errors_of(RegisterRequest {
            custom_token: Some("nope".into()),
            email: Some("nope".into()),
            gender: Some("Robot".into()),
            first_name: Some("x".repeat(300)),
            children_count: Some(-1),
            ..Default::default()
        });
        assert_eq!(
            keys,
            [
                "CustomToken",
                "FirstName",
                "Email",
                "Gender",
                "ChildrenCount"
            ]
        );
    }

    #[test]
    fn marital_status_accepts_codes_words_and_the_null_string() {
        let with = |v: serde_json::Value| {
            NewUser::try_from(RegisterRequest {
                marital_status: Some(v),
                ..Default::default()
            })
            .unwrap()
            .profile
            .marital_status
        };
        assert_eq!(with("null".into()), None);
        assert_eq!(with("2".into()), Some("2".into()));
        assert_eq!(with(3.into()), Some("3".into()));
    }

    #[test]
    fn a_password_needs_a_login_name_and_some_length() {
        let keys = errors_of(RegisterRequest {
            password: Some("short".into()),
            ..Default::default()
        });
        assert_eq!(keys, ["Password", "Password"]);
    }

    #[test]
    fn image_urls_must_be_http() {
        let keys = errors_of(RegisterRequest {
            image_url: Some("javascript:alert(1)".into()),
            ..Default::default()
        });
        assert_eq!(keys, ["ImageUrl"]);
    }
}
