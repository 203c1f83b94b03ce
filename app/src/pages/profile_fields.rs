//! The profile fields of a user, shared by the register form and the user page: the same
//! labels, keys (the API's field names, which errors name) and inputs in both.

use leptos::prelude::*;

use crate::components::{field_error, Current, TextField, INPUT, LABEL};
use crate::error::AppError;
use tus_wire::model::{RegisterRequest, UpdateUserRequest, UserView};

/// One signal per profile field, as typed.
#[derive(Clone, Copy)]
pub struct Profile {
    first: RwSignal<String>,
    last: RwSignal<String>,
    nickname: RwSignal<String>,
    email: RwSignal<String>,
    phone: RwSignal<String>,
    client_id: RwSignal<String>,
    gender: RwSignal<String>,
    birthday: RwSignal<String>,
    marital: RwSignal<String>,
    children: RwSignal<String>,
    country: RwSignal<String>,
    district: RwSignal<String>,
    city: RwSignal<String>,
    address: RwSignal<String>,
    image_url: RwSignal<String>,
}

fn field(v: Option<&str>) -> RwSignal<String> {
    RwSignal::new(v.unwrap_or_default().to_string())
}

/// A typed value: `None` when empty.
fn typed(s: RwSignal<String>) -> Option<String> {
    Some(s.get_untracked().trim().to_string()).filter(|v| !v.is_empty())
}

impl Profile {
    pub fn empty() -> Self {
        Self::from_values(None)
    }

    pub fn of(user: &UserView) -> Self {
        Self::from_values(Some(user))
    }

    fn from_values(user: Option<&UserView>) -> Self {
        let p = user.map(|u| &u.user_profile);
        let text = |f: fn(&tus_wire::model::UserProfileView) -> Option<&String>| {
            field(p.and_then(f).map(String::as_str))
        };
        Self {
            first: text(|p| p.first_name.as_ref()),
            last: text(|p| p.last_name.as_ref()),
            nickname: text(|p| p.nickname.as_ref()),
            email: text(|p| p.email.as_ref()),
            phone: text(|p| p.phone.as_ref()),
            client_id: field(
                user.and_then(|u| u.user_fields.first())
                    .and_then(|f| f.client_id.as_deref()),
            ),
            gender: field(Some(p.map_or("None", |p| p.gender.as_str()))),
            // The date part of the stored midnight-UTC time, as a date input shows it.
            birthday: field(
                p.and_then(|p| p.birthday.as_deref())
                    .and_then(|b| b.get(..10)),
            ),
            marital: text(|p| p.marital_status.as_ref()),
            children: field(
                p.and_then(|p| p.children_count)
                    .map(|n| n.to_string())
                    .as_deref(),
            ),
            country: text(|p| p.country.as_ref()),
            district: text(|p| p.district.as_ref()),
            city: text(|p| p.city.as_ref()),
            address: text(|p| p.address.as_ref()),
            image_url: text(|p| p.image_url.as_ref()),
        }
    }

    /// The children count as a number; an error in the API's shape when it is not one.
    fn children_count(&self) -> Result<Option<i64>, AppError> {
        match typed(self.children).map(|c| c.parse::<i64>()) {
            Some(Ok(n)) => Ok(Some(n)),
            Some(Err(_)) => Err(AppError::Validation(vec![(
                "ChildrenCount".into(),
                "must be a whole number".into(),
            )])),
            None => Ok(None),
        }
    }

    /// A registration with these fields (empty ones left out).
    pub fn registration(&self, mut r: RegisterRequest) -> Result<RegisterRequest, AppError> {
        r.first_name = typed(self.first);
        r.last_name = typed(self.last);
        r.nickname = typed(self.nickname);
        r.email = typed(self.email);
        r.phone = typed(self.phone);
        r.gender = typed(self.gender);
        r.birthday = typed(self.birthday);
        r.marital_status = typed(self.marital).map(serde_json::Value::String);
        r.children_count = self.children_count()?;
        r.country = typed(self.country);
        r.district = typed(self.district);
        r.city = typed(self.city);
        r.address = typed(self.address);
        r.image_url = typed(self.image_url);
        if let Some(fields) = r.user_fields.as_mut() {
            fields.client_id = typed(self.client_id);
        }
        Ok(r)
    }

    /// An update setting every field as shown (an emptied field is cleared).
    pub fn update(&self) -> Result<UpdateUserRequest, AppError> {
        let all = |s: RwSignal<String>| Some(s.get_untracked().trim().to_string());
        Ok(UpdateUserRequest {
            first_name: all(self.first),
            last_name: all(self.last),
            nickname: all(self.nickname),
            email: all(self.email),
            phone: all(self.phone),
            gender: all(self.gender),
            birthday: all(self.birthday),
            marital_status: all(self.marital).map(serde_json::Value::String),
            children_count: self.children_count()?,
            country: all(self.country),
            district: all(self.district),
            city: all(self.city),
            address: all(self.address),
            image_url: all(self.image_url),
            client_id: all(self.client_id),
            ..Default::default()
        })
    }
}

/// The inputs, each with its label and its error.
#[component]
pub fn ProfileFields(profile: Profile, errors: Signal<Option<AppError>>) -> impl IntoView {
    let p = profile;
    let gender = p.gender;
    view! {
        <TextField label="First name" key="FirstName" value=p.first errors />
        <TextField label="Last name" key="LastName" value=p.last errors />
        <TextField label="Nickname" key="Nickname" value=p.nickname errors />
        <TextField label="E-mail" key="Email" value=p.email errors kind="email" />
        <TextField label="Phone" key="Phone" value=p.phone errors kind="tel" hint="International format, e.g. +14155550100" />
        <TextField label="ClientId" key="ClientId" value=p.client_id errors hint="Your own id for this user (unique per instance)" />
        <div>
            <label class=LABEL for="field-gender">"Gender"</label>
            <select id="field-gender" class=INPUT on:change=move |ev| gender.set(event_target_value(&ev))>
                {["None", "Male", "Female"].into_iter().map(|g| view! {
                    <option value=g selected=move || gender.current() == g>{g}</option>
                }).collect_view()}
            </select>
            <p class="mt-1 text-xs text-red-700">{move || errors.current_with(|e| field_error(e, "Gender"))}</p>
        </div>
        <TextField label="Birthday" key="Birthday" value=p.birthday errors kind="date" />
        <TextField label="Marital status" key="MaritalStatus" value=p.marital errors />
        <TextField label="Children" key="ChildrenCount" value=p.children errors kind="number" />
        <TextField label="Country" key="Country" value=p.country errors />
        <TextField label="District" key="District" value=p.district errors />
        <TextField label="City" key="City" value=p.city errors />
        <TextField label="Address" key="Address" value=p.address errors />
        <TextField label="Image URL" key="ImageUrl" value=p.image_url errors kind="url" />
    }
    .into_any()
}
