//! Managing users with a bearer token: a user token acts on its own user, an admin token on
//! any user (named by the `UserDeviceToken` header). View, partial update, delete, and the
//! instance-level existence check.
//!
//! Invariants: a token of a deleted user is refused (401), a token of a deactivated user or
//! of a user in a deactivated instance is refused (403) on every management route; every
//! change is one transaction and one audit entry naming the fields changed (values only
//! for flags, status and ClientId: profile values are personal data).

use chrono::{DateTime, Utc};

use crate::audit::AuditAction;
use crate::error::{CoreError, CoreResult, FieldErrors};
use crate::instances::InstanceCredentials;
use crate::password::check_strength;
use crate::principal::Principal;
use crate::ratelimit::Throttle;
use crate::secret::{Password, PasswordHash};
use crate::store::{flag_columns, LoginColumn, NewAuditRow, UserRow, Value};
use crate::time::{iso, ms};
use crate::types::*;
use crate::users::{image_url, parse_marital_status, parse_target, true_false, user_view};
use crate::{Core, RequestMeta};
use tus_wire::model::*;
use tus_wire::views::UserDetail;

/// A parsed partial update.
struct Patch {
    changes: Vec<(&'static str, Value)>,
    /// Human-readable lines for the audit entry.
    described: Vec<String>,
    delete: bool,
    new_password: Option<Password>,
    old_password: Option<Password>,
}

/// A text field: absent → unchanged, empty → cleared, else parsed.
fn text_change(
    errors: &mut FieldErrors,
    key: &str,
    value: &Option<String>,
    parse: impl Fn(&str) -> Result<String, String>,
) -> Option<Value> {
    let v = value.as_deref()?;
    if v.trim().is_empty() {
        return Some(Value::Text(None));
    }
    errors.take(key, parse(v)).map(|s| Value::Text(Some(s)))
}

fn plain(v: &str) -> Result<String, String> {
    parse_text(v).map(|t| t.unwrap_or_default())
}

fn parse_patch(r: &UpdateUserRequest, before: &UserRow) -> Result<Patch, CoreError> {
    let mut e = FieldErrors::default();
    let mut changes: Vec<(&'static str, Value)> = Vec::new();
    let mut described = Vec::new();
    let mut profile = |column: &'static str, key: &str, change: Option<Value>| {
        if let Some(v) = change {
            changes.push((column, v));
            described.push(key.to_string());
        }
    };
    profile(
        "first_name",
        "FirstName",
        text_change(&mut e, "FirstName", &r.first_name, plain),
    );
    profile(
        "last_name",
        "LastName",
        text_change(&mut e, "LastName", &r.last_name, plain),
    );
    profile(
        "nickname",
        "Nickname",
        text_change(&mut e, "Nickname", &r.nickname, plain),
    );
    profile(
        "phone",
        "Phone",
        text_change(&mut e, "Phone", &r.phone, |v| {
            Phone::parse(v).map(|p| p.as_str().into())
        }),
    );
    profile(
        "email",
        "Email",
        text_change(&mut e, "Email", &r.email, |v| {
            Email::parse(v).map(|p| p.as_str().into())
        }),
    );
    profile(
        "country",
        "Country",
        text_change(&mut e, "Country", &r.country, plain),
    );
    profile(
        "district",
        "District",
        text_change(&mut e, "District", &r.district, plain),
    );
    profile("city", "City", text_change(&mut e, "City", &r.city, plain));
    profile(
        "address",
        "Address",
        text_change(&mut e, "Address", &r.address, plain),
    );
    profile(
        "image_url",
        "ImageUrl",
        text_change(&mut e, "ImageUrl", &r.image_url, image_url),
    );
    let gender = r.gender.as_deref().map(|g| {
        if g.trim().is_empty() {
            Some("None".to_string())
        } else {
            e.take("Gender", Gender::parse(g)).map(|g| g.to_string())
        }
    });
    profile(
        "gender",
        "Gender",
        gender.flatten().map(|g| Value::Text(Some(g))),
    );
    let birthday = r.birthday.as_deref().map(|b| {
        if b.trim().is_empty() {
            Some(Value::Int(None))
        } else {
            e.take("Birthday", parse_datetime(b))
                .map(|d| Value::Int(Some(ms(d))))
        }
    });
    profile("birthday", "Birthday", birthday.flatten());
    let marital = r.marital_status.as_ref().and_then(|v| {
        e.take("MaritalStatus", parse_marital_status(v))
            .map(Value::Text)
    });
    profile("marital_status", "MaritalStatus", marital);
    let children = match r.children_count {
        Some(n) if !(0..=99).contains(&n) => {
            e.push("ChildrenCount", "must be between 0 and 99");
            None
        }
        other => other.map(|n| Value::Int(Some(n))),
    };
    profile("children_count", "ChildrenCount", children);

    // Flags, ClientId and status: audited with before → after.
    let fields = r.user_fields.clone().unwrap_or_default();
    let stored = before.flags();
    for flag in Flag::ALL {
        if let Some(new) = flag.given_in(&fields) {
            changes.push((flag_columns(flag).0, Value::Bool(new)));
            let old = stored.get(flag);
            if new != old {
                described.push(format!(
                    "{}: {} → {}",
                    flag.api_name(),
                    true_false(old),
                    true_false(new)
                ));
            }
        }
    }
    let client_id = fields.client_id.as_ref().or(r.client_id.as_ref()).cloned();
    if let Some(change) = text_change(&mut e, "ClientId", &client_id, plain) {
        let new = match &change {
            Value::Text(v) => v.clone(),
            _ => None,
        };
        if new != before.client_id {
            described.push(format!(
                "ClientId: {} → {}",
                before.client_id.as_deref().unwrap_or("(none)"),
                new.as_deref().unwrap_or("(none)")
            ));
        }
        changes.push(("client_id", change));
    }
    let mut delete = false;
    if let Some(status) = r.status.as_deref().filter(|s| !s.trim().is_empty()) {
        if status.trim().eq_ignore_ascii_case("deleted") {
            delete = true;
        } else if let Some(s) = e.take(
            "Status",
            UserStatus::parse(status).map_err(|m| format!("{m}, Deleted")),
        ) {
            if s.as_str() != before.status {
                described.push(format!("Status: {} → {}", before.status, s));
            }
            changes.push(("status", Value::Text(Some(s.to_string()))));
        }
    }
    let new_password = match r.new_password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => e
            .take("NewPassword", check_strength(p))
            .map(|_| Password::new(p)),
        None => None,
    };
    let old_password = r
        .old_password
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(Password::new);
    e.into_result()?;
    Ok(Patch {
        changes,
        described,
        delete,
        new_password,
        old_password,
    })
}

impl Core {
    pub async fn user_view(&self, device_token: DeviceToken) -> CoreResult<UserView> {
        let row = self.store().find_user(&device_token.to_string()).await?;
        row.map(user_view)
            .ok_or_else(|| CoreError::NotFound("no user has this DeviceToken".into()))
    }

    /// `PUT /v1/Management/users`: changes only the fields sent.
    pub async fn update_user(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        target: DeviceToken,
        request: UpdateUserRequest,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        let key = target.to_string();
        let before = self
            .store()
            .find_user(&key)
            .await?
            .ok_or_else(|| CoreError::NotFound("no user has this DeviceToken".into()))?;
        let mut patch = parse_patch(&request, &before)?;
        if patch.delete {
            return self.delete_user(now, principal, target, meta).await;
        }
        if let Some(new) = patch.new_password.take() {
            if !principal.is_admin() {
                let old = patch.old_password.take().ok_or_else(|| {
                    CoreError::validation("OldPassword", "is required to set a NewPassword")
                })?;
                // Guessing the old password here is guessing a login: throttled the same.
                let throttle = Throttle::login(
                    &format!("{}:user:{key}", before.instance_id),
                    &format!("user:{key}"),
                    meta,
                );
                self.admit(now, &throttle, meta).await?;
                let stored = before.password_hash.clone().map(PasswordHash::new);
                if !self.check_password(&old, stored).await? {
                    self.record(
                        now,
                        &principal.actor(),
                        AuditAction::LoginFailed,
                        &format!("user:{key}"),
                        "OldPassword did not match",
                        meta,
                    )
                    .await?;
                    return Err(CoreError::validation(
                        "OldPassword",
                        "does not match the current password",
                    ));
                }
                self.settle_success(&throttle).await?;
            }
            let hash = self.hash_password(&new).await?;
            patch.changes.push((
                "password_hash",
                Value::Text(Some(hash.expose().to_string())),
            ));
            patch.described.push("Password".into());
        }
        let mut tx = self.store().begin().await?;
        if !tx.update_user(&key, &patch.changes).await? {
            return Err(CoreError::NotFound("no user has this DeviceToken".into()));
        }
        if !patch.described.is_empty() {
            tx.audit(
                &NewAuditRow::new(
                    now,
                    principal.actor(),
                    AuditAction::UserUpdated,
                    format!("user:{key}"),
                    patch.described.join("; "),
                )
                .from(meta),
            )
            .await?;
        }
        tx.commit().await
    }

    /// Deletes a user and every token issued to it (admin only).
    pub async fn delete_user(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        target: DeviceToken,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !principal.is_admin() {
            return Err(CoreError::Forbidden(
                "only an admin may delete users".into(),
            ));
        }
        let key = target.to_string();
        let mut tx = self.store().begin().await?;
        if !tx.delete_user(&key).await? {
            return Err(CoreError::NotFound("no user has this DeviceToken".into()));
        }
        tx.audit(
            &NewAuditRow::new(
                now,
                principal.actor(),
                AuditAction::UserDeleted,
                format!("user:{key}"),
                "user and all its tokens removed",
            )
            .from(meta),
        )
        .await?;
        tx.commit().await
    }

    /// `GET /v1/Check/UserExists`: within the authenticated instance, by e-mail, phone or
    /// ClientId (at least one; all given must match the same user).
    pub async fn user_exists(
        &self,
        creds: &InstanceCredentials,
        email: Option<&str>,
        phone: Option<&str>,
        client_id: Option<&str>,
    ) -> CoreResult<UserExistsView> {
        let instance = self.authenticate_instance(creds).await?;
        let mut e = FieldErrors::default();
        let mut lookups = Vec::new();
        if let Some(v) = email.filter(|v| !v.trim().is_empty()) {
            if let Some(v) = e.take("Email", Email::parse(v)) {
                lookups.push((LoginColumn::Email, v.as_str().to_string()));
            }
        }
        if let Some(v) = phone.filter(|v| !v.trim().is_empty()) {
            if let Some(v) = e.take("Phone", Phone::parse(v)) {
                lookups.push((LoginColumn::Phone, v.as_str().to_string()));
            }
        }
        if let Some(v) = client_id.filter(|v| !v.trim().is_empty()) {
            if let Some(Some(v)) = e.take("ClientId", parse_text(v)) {
                lookups.push((LoginColumn::ClientId, v));
            }
        }
        if lookups.is_empty() && e.is_empty() {
            e.push("", "give at least one of Email, Phone or ClientId");
        }
        e.into_result()?;
        let instance_id = instance.id.to_string();
        let mut found: Option<UserRow> = None;
        for (column, value) in lookups {
            let row = self
                .store()
                .find_user_by_login(&instance_id, column, &value)
                .await?;
            match (&found, row) {
                (_, None) => return Ok(not_found_view()),
                (Some(f), Some(r)) if f.device_token != r.device_token => {
                    return Ok(not_found_view())
                }
                (_, Some(r)) => found = Some(r),
            }
        }
        Ok(match found {
            Some(r) => UserExistsView {
                user_exists: true,
                first_name: r.first_name,
                last_name: r.last_name,
                nickname: r.nickname,
                image_url: r.image_url,
            },
            None => not_found_view(),
        })
    }
}

fn not_found_view() -> UserExistsView {
    UserExistsView {
        user_exists: false,
        first_name: None,
        last_name: None,
        nickname: None,
        image_url: None,
    }
}

impl Core {
    async fn move_user(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        user: &UserRow,
        to: &crate::instances::Instance,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if to.status != InstanceStatus::Active {
            return Err(CoreError::Forbidden(
                "the target instance is deactivated".into(),
            ));
        }
        let mut tx = self.store().begin().await?;
        tx.update_user(
            &user.device_token,
            &[("instance_id", Value::Text(Some(to.id.to_string())))],
        )
        .await?;
        tx.audit(
            &NewAuditRow::new(
                now,
                principal.actor(),
                AuditAction::UserMoved,
                format!("user:{}", user.device_token),
                format!("instance {} → {} ({})", user.instance_id, to.id, to.name),
            )
            .from(meta),
        )
        .await?;
        // A login name taken in the target instance is a conflict, and nothing moves.
        tx.commit().await
    }

    /// Admin (the dashboard): moves a user to an instance named by id; an admin needs no
    /// key to prove it. An unknown instance is a field error of `instance_id`.
    pub async fn move_user_to(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        target: DeviceToken,
        instance_id: &str,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        principal.require_admin()?;
        let to = self
            .instance_for_field(principal, instance_id, "instance_id")
            .await?;
        let user = self
            .store()
            .find_user(&target.to_string())
            .await?
            .ok_or_else(|| CoreError::NotFound("no user has this DeviceToken".into()))?;
        self.move_user(now, principal, &user, &to, meta).await
    }

    /// Admin: moves a user to another instance, proven by that instance's key. The user's
    /// next token carries the new InstanceId.
    pub async fn change_instance(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        request: ChangeInstanceRequest,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        principal.require_admin()?;
        let mut e = FieldErrors::default();
        let device = match request.device_token.as_deref() {
            Some(v) => e.take("DeviceToken", DeviceToken::parse(v)),
            None => {
                e.push("DeviceToken", "is required");
                None
            }
        };
        let to = match request.to_instance_id.as_deref() {
            Some(v) => e.take("ToInstanceId", InstanceId::parse(v)),
            None => {
                e.push("ToInstanceId", "is required");
                None
            }
        };
        if request
            .to_instance_key
            .as_deref()
            .is_none_or(|k| k.trim().is_empty())
        {
            e.push("ToInstanceKey", "is required");
        }
        e.into_result()?;
        let (Some(device), Some(to)) = (device, to) else {
            return Err(CoreError::internal("parsed without values"));
        };
        let user = self
            .store()
            .find_user(&device.to_string())
            .await?
            .ok_or_else(|| CoreError::NotFound("no user has this DeviceToken".into()))?;
        let creds = InstanceCredentials {
            id: Some(to.to_string()),
            key: request.to_instance_key.map(crate::secret::InstanceKey::new),
        };
        let target = match self.authenticate_instance(&creds).await {
            Ok(i) => i,
            Err(CoreError::Unauthorized { .. }) => {
                return Err(CoreError::validation(
                    "ToInstanceKey",
                    "does not match ToInstanceId",
                ))
            }
            Err(other) => return Err(other),
        };
        self.move_user(now, principal, &user, &target, meta).await
    }

    /// A user joins the instance with this invite code; answers the instance's name.
    /// A user moves itself to the instance of an invite code. `target` is the
    /// `UserDeviceToken` header: naming another user is refused (403), as on every user route,
    /// rather than silently moving the caller.
    pub async fn join_instance(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        target: Option<&str>,
        code: &str,
        meta: &RequestMeta,
    ) -> CoreResult<InstanceNameView> {
        let Principal::User(user) = principal else {
            return Err(CoreError::Forbidden(
                "this route moves the calling user: use a user token".into(),
            ));
        };
        self.target_user(principal, target)?;
        let unknown = || CoreError::NotFound("no instance has this invite code".into());
        let code = InviteCode::parse(code).map_err(|_| unknown())?;
        let row = self
            .store()
            .find_instance_by_invite(code.as_str())
            .await?
            .ok_or_else(unknown)?;
        let target: crate::instances::Instance = row.try_into()?;
        let stored = self
            .store()
            .find_user(&user.device_token.to_string())
            .await?;
        let stored =
            stored.ok_or_else(|| CoreError::NotFound("no user has this DeviceToken".into()))?;
        self.move_user(now, principal, &stored, &target, meta)
            .await?;
        Ok(InstanceNameView {
            instance_name: target.name,
        })
    }
}

impl Core {}

impl Core {
    /// Admin: a user and its last token activity.
    pub async fn user_detail(&self, p: &Principal, device_token: &str) -> CoreResult<UserDetail> {
        p.require_admin()?;
        let token = parse_target(device_token)?;
        let user = self.user_view(token).await?;
        let last = self
            .store()
            .last_token_activity(std::slice::from_ref(&user.device_token))
            .await?;
        Ok(UserDetail {
            user,
            last_token_activity: last.first().map(|(_, at)| iso(*at)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuditFilter;
    use crate::testing::{at, test_core};
    use crate::users::User;

    #[tokio::test]
    async fn the_audit_log_filters_and_pages_newest_first() {
        let t = test_core(|_| {}).await;
        let admin = Principal::Admin {
            id: "a".into(),
            email: "a@x.io".into(),
        };
        let meta = RequestMeta::default();
        for i in 0..5 {
            t.core
                .record(
                    at(i),
                    "admin:a@x.io",
                    AuditAction::UserUpdated,
                    &format!("user:{i}"),
                    "x",
                    &meta,
                )
                .await
                .unwrap();
        }
        t.core
            .record(
                at(9),
                "anonymous",
                AuditAction::LoginFailed,
                "email:b@x.io",
                "y",
                &meta,
            )
            .await
            .unwrap();
        let filter = |f: AuditFilter| AuditFilter { limit: 2, ..f };
        let first = t
            .core
            .audit_log(
                &admin,
                filter(AuditFilter {
                    action: Some("user.updated".into()),
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        assert_eq!(
            first
                .entries
                .iter()
                .map(|e| e.target.as_str())
                .collect::<Vec<_>>(),
            ["user:4", "user:3"]
        );
        let second = t
            .core
            .audit_log(
                &admin,
                filter(AuditFilter {
                    action: Some("user.updated".into()),
                    before_id: first.next_before,
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        assert_eq!(
            second
                .entries
                .iter()
                .map(|e| e.target.as_str())
                .collect::<Vec<_>>(),
            ["user:2", "user:1"]
        );
        let window = AuditFilter {
            from: Some(ms(at(1))),
            to: Some(ms(at(3))),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(
            t.core
                .audit_log(&admin, window)
                .await
                .unwrap()
                .entries
                .len(),
            2
        );
        let by_actor = AuditFilter {
            actor: Some("anonymous".into()),
            limit: 10,
            ..Default::default()
        };
        let page = t.core.audit_log(&admin, by_actor).await.unwrap();
        assert_eq!((page.entries.len(), page.next_before), (1, None));
        assert!(page.entries[0].at.ends_with('Z'));
        let user = Principal::User(Box::new(User {
            device_token: DeviceToken::new_random(),
            instance_id: InstanceId::new_random(),
            application_id: ApplicationId::new_random(),
            company_id: CompanyId::new_random(),
            status: UserStatus::Active,
            instance_status: InstanceStatus::Active,
            flags: UserFlags::default(),
            client_id: None,
            date_created: at(0),
        }));
        assert!(matches!(
            t.core.audit_log(&user, AuditFilter::default()).await,
            Err(CoreError::Forbidden(_))
        ));
    }
}
