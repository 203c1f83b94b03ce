//! Managing users with a bearer token: a user token acts on its own user, an admin token on
//! any user (named by the `UserDeviceToken` header). View, partial update, delete, and the
//! instance-level existence check.
//!
//! Invariants: a token of a deleted user is refused (401), a token of a deactivated user or
//! of a user in a deactivated instance is refused (403) on every management route; every
//! change is one transaction and one audit entry naming the fields changed (values only
//! for flags, status and ClientId: profile values are personal data).

use chrono::{DateTime, Utc};
use tus_wire::views::Action;

use crate::audit::AuditAction;
use crate::error::{CoreError, CoreResult, FieldErrors};
use crate::instances::InstanceCredentials;
use crate::principal::Principal;
use crate::ratelimit::Throttle;
use crate::secret::{Password, PasswordHash};
use crate::store::{LoginColumn, UserRow};
use crate::time::{iso, ms};
use crate::types::*;
use crate::users::patch::{StatusChange, UserPatch};
use crate::users::user_view;
use crate::{Core, RequestMeta};
use tus_wire::model::*;
use tus_wire::views::UserDetail;

impl Core {
    /// A user as `GET /v1/Management/users` answers it, if the caller may see it.
    pub async fn user_view(
        &self,
        p: &Principal,
        device_token: DeviceToken,
    ) -> CoreResult<UserView> {
        p.allow_unless_self(Action::ReadUsers)?;
        let row = self.store().find_user(&device_token.to_string()).await?;
        let now = ms(Core::now());
        let view = p.visible_user(row).map(|r| user_view(r, now))?;
        let ends = self.store().flag_ends_of(&view.device_token).await?;
        Ok(crate::activity::with_flag_ends(view, &ends))
    }

    /// `PUT /v1/Management/users`: changes only the fields the patch names. The user as it
    /// was is read in the writing transaction, so the audit entry's before → after is exact.
    pub async fn update_user(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        target: DeviceToken,
        mut patch: UserPatch,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        principal.allow_unless_self(Action::WriteUsers)?;
        if patch.status == Some(StatusChange::Delete) {
            return self.delete_user(now, principal, target, meta).await;
        }
        let password_hash = match patch.new_password.take() {
            Some(new) => {
                self.check_old_password(now, principal, target, patch.old_password.take(), meta)
                    .await?;
                Some(self.hash_password(&new).await?)
            }
            None => None,
        };
        let latest = ms(now).saturating_add(crate::bulk::MAX_HOLD_MINUTES * 60_000);
        for (i, until) in patch.until.iter().enumerate() {
            let problem = match until {
                Some(t) if *t <= ms(now) => "must be in the future",
                Some(t) if *t > latest => "must be within a year",
                _ => continue,
            };
            return Err(CoreError::validation(
                format!("FlagsUntil.{}", Flag::ALL[i].api_name()),
                problem,
            ));
        }
        let mut tx = self.store().begin().await?;
        let before = principal.visible_user(tx.user_for_update(&target).await?)?;
        tx.apply_user_patch(&target, &patch, password_hash.as_ref(), ms(now))
            .await?;
        let one = crate::store::Selection::Tokens(vec![target.to_string()]);
        for flag in Flag::ALL {
            if let Some(value) = patch.flags[flag.index()] {
                let until = patch.until[flag.index()];
                tx.schedule_flag_ends(&one, flag, value, until, ms(now), &principal.actor())
                    .await?;
            }
        }
        let described = patch.describe(&before, password_hash.is_some());
        if let Some(after) = tx.user_for_update(&target).await? {
            let events =
                crate::events::user_change_events(now, &before, &after, &principal.actor());
            tx.insert_events(&events).await?;
        }
        if !described.is_empty() {
            tx.audit(&principal.audit(
                now,
                AuditAction::UserUpdated,
                format!("user:{target}"),
                described.join("; "),
                meta,
            ))
            .await?;
        }
        tx.commit().await
    }

    /// A user setting its own password must give the old one (an admin need not): checked
    /// behind the login throttles, since guessing it here is guessing a login.
    async fn check_old_password(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        target: DeviceToken,
        old: Option<Password>,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if principal.may(Action::WriteUsers) {
            return Ok(());
        }
        let old = old.ok_or_else(|| {
            CoreError::validation("OldPassword", "is required to set a NewPassword")
        })?;
        let user = self
            .store()
            .find_user(&target.to_string())
            .await?
            .ok_or_else(|| CoreError::NotFound("no user has this DeviceToken".into()))?;
        let throttle = Throttle::login(
            &format!("{}:user:{target}", user.instance_id),
            &format!("user:{target}"),
            meta,
        );
        self.admit(now, &throttle, meta).await?;
        let stored = user.password_hash.map(PasswordHash::new);
        if !self.check_password(&old, stored).await? {
            self.record(
                now,
                &principal.actor(),
                AuditAction::LoginFailed,
                &format!("user:{target}"),
                "OldPassword did not match",
                meta,
            )
            .await?;
            return Err(CoreError::validation(
                "OldPassword",
                "does not match the current password",
            ));
        }
        self.settle_success(&throttle).await
    }

    /// One flag switched (the dashboard's switches); answers the user as stored after.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_flag(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        target: DeviceToken,
        flag: Flag,
        on: bool,
        until: Option<i64>,
        meta: &RequestMeta,
    ) -> CoreResult<UserDetail> {
        principal.allow(Action::WriteUsers)?;
        let patch = UserPatch::flag(flag, on, until);
        self.update_user(now, principal, target, patch, meta)
            .await?;
        self.user_detail(principal, target).await
    }

    /// Activated or deactivated (the dashboard); answers the user as stored after.
    pub async fn set_status(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        target: DeviceToken,
        status: UserStatus,
        meta: &RequestMeta,
    ) -> CoreResult<UserDetail> {
        principal.allow(Action::WriteUsers)?;
        self.update_user(now, principal, target, UserPatch::status(status), meta)
            .await?;
        self.user_detail(principal, target).await
    }

    /// Deletes a user and every token issued to it (admin only).
    pub async fn delete_user(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        target: DeviceToken,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        self.remove_user(now, principal, target, None, meta).await
    }

    /// Deletes a user with every token (`user.deleted` event, audited); with `erased_as`,
    /// first erases its traces under that pseudonym (see `Core::erase_user`).
    pub(crate) async fn remove_user(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        target: DeviceToken,
        erased_as: Option<&str>,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        principal.allow(Action::DeleteUsers)?;
        let key = target.to_string();
        let mut tx = self.store().begin().await?;
        let before = principal.visible_user(tx.user_for_update(&target).await?)?;
        let entry = match erased_as {
            None => principal.audit(
                now,
                AuditAction::UserDeleted,
                format!("user:{key}"),
                "user and all its tokens removed",
                meta,
            ),
            Some(pseudonym) => {
                let (entries, events, messages) = tx.erase_traces(&key, pseudonym).await?;
                principal.audit(
                    now,
                    AuditAction::UserErased,
                    format!("user:{pseudonym}"),
                    format!(
                        "user and its tokens deleted; {entries} audit entries, {events} events and {messages} messages erased"
                    ),
                    meta,
                )
            }
        };
        if !tx.delete_user(&key).await? {
            return Err(CoreError::NotFound("no user has this DeviceToken".into()));
        }
        tx.audit(&entry).await?;
        tx.insert_events(&[crate::events::NewEvent::of_user(
            crate::events::EventType::UserDeleted,
            now,
            &before,
            &principal.actor(),
            serde_json::json!({}),
        )])
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
        tx.move_user(&user.device_token, &to.id).await?;
        tx.audit(&principal.audit(
            now,
            AuditAction::UserMoved,
            format!("user:{}", user.device_token),
            format!("instance {} → {} ({})", user.instance_id, to.id, to.name),
            meta,
        ))
        .await?;
        let mut moved = user.clone();
        moved.instance_id = to.id.to_string();
        tx.insert_events(&[crate::events::NewEvent::of_user(
            crate::events::EventType::UserMoved,
            now,
            &moved,
            &principal.actor(),
            serde_json::json!({ "FromInstanceId": user.instance_id }),
        )])
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
        principal.allow(Action::MoveUsers)?;
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
        principal.allow(Action::MoveUsers)?;
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
        let user = principal.visible_user(self.store().find_user(&device.to_string()).await?)?;
        if !principal.sees_instance(&to.to_string()) {
            return Err(CoreError::validation("ToInstanceId", "names no instance"));
        }
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

impl Core {
    /// Admin: a user and its last token activity.
    pub async fn user_detail(&self, p: &Principal, token: DeviceToken) -> CoreResult<UserDetail> {
        p.allow(Action::ReadUsers)?;
        let row = self.store().find_user(&token.to_string()).await?;
        let row = p.visible_user(row)?;
        let last = self
            .store()
            .last_token_activity(std::slice::from_ref(&row.device_token))
            .await?;
        let last = last.first().map(|(_, at)| *at);
        let access_ttl = self
            .tokens()
            .access_ttl(&row.lifetimes())
            .num_milliseconds();
        let now = ms(Core::now());
        let ends = self.store().flag_ends_of(&row.device_token).await?;
        let flag_ends = ends
            .iter()
            .filter_map(|e| {
                let flag = Flag::ALL.into_iter().find(|f| f.key() == e.flag)?;
                Some((flag, e.ends_at))
            })
            .collect();
        Ok(UserDetail {
            last_token_activity: last.map(iso),
            as_of_ms: now,
            last_activity_ms: row.last_activity_at,
            token_expires_ms: last.map(|at| at.saturating_add(access_ttl)),
            flags_changed_ms: row.flags_changed_at,
            active_window_days: row.active_window_days,
            flag_ends,
            user: crate::activity::with_flag_ends(user_view(row, now), &ends),
        })
    }
}
