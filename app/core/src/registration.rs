//! Registration: one user (`Registration/Create`) or a batch (`Registration/CreateMany`).
//! Both write the user rows and their first token pair in one transaction.

use base64::Engine;
use chrono::{DateTime, Utc};
use tus_wire::views::Action;

use super::error::{CoreError, CoreResult, FieldErrors};
use super::instances::{Instance, InstanceCredentials};
use super::issuance::{Credentials, IssuedRows, Source};
use super::ratelimit::Throttle;
use super::store::{BatchRunState, CredentialsState, NewBatch, NewUserRow, INSERT_CHUNK};
use super::time::ms;
use super::tokens::{SubjectKind, UserSubject};
use super::types::{parse_text, BatchId, DeviceToken, Flag, InstanceStatus, UserFlags, UserStatus};
use super::users::NewUser;
use super::{Core, RequestMeta};
use crate::audit::AuditAction;
use crate::principal::Principal;
use crate::store::NewAuditRow;
use tus_wire::model::{CreateManyRequest, RegisterRequest};
use tus_wire::views::RegisteredUser;

/// A finished batch: its id and one set of credentials per user, in creation order.
#[derive(Debug, Clone)]
pub struct Batch {
    pub batch_id: BatchId,
    pub results: Vec<Credentials>,
}

fn subject(
    device_token: DeviceToken,
    instance: &Instance,
    flags: UserFlags,
    client_id: Option<String>,
) -> UserSubject {
    UserSubject {
        device_token,
        instance_id: instance.id,
        application_id: instance.application_id,
        company_id: instance.company_id,
        flags,
        client_id,
        lifetimes: instance.lifetimes,
    }
}

pub(crate) fn user_row(
    device_token: DeviceToken,
    instance: &Instance,
    now: DateTime<Utc>,
) -> NewUserRow {
    let flags = UserFlags::default();
    NewUserRow {
        device_token: device_token.to_string(),
        instance_id: instance.id.to_string(),
        first_name: None,
        last_name: None,
        nickname: None,
        phone: None,
        email: None,
        gender: "None".into(),
        birthday: None,
        marital_status: None,
        children_count: None,
        country: None,
        district: None,
        city: None,
        address: None,
        image_url: None,
        status: UserStatus::Active.to_string(),
        enable_tracking: flags.enable_tracking,
        enable_logging: flags.enable_logging,
        enabled: flags.enabled,
        enable_real_time_location: flags.enable_real_time_location,
        client_id: None,
        password_hash: None,
        batch_id: None,
        date_created: ms(now),
    }
}

/// `base` with a registration's profile, status, flags and ClientId.
pub(crate) fn profile_row(
    base: NewUserRow,
    p: &crate::users::Profile,
    status: UserStatus,
    flags: UserFlags,
    client_id: Option<String>,
) -> NewUserRow {
    NewUserRow {
        first_name: p.first_name.clone(),
        last_name: p.last_name.clone(),
        nickname: p.nickname.clone(),
        phone: p.phone.as_ref().map(|v| v.as_str().to_string()),
        email: p.email.as_ref().map(|v| v.as_str().to_string()),
        gender: p
            .gender
            .map(|g| g.to_string())
            .unwrap_or_else(|| "None".into()),
        birthday: p.birthday.map(ms),
        marital_status: p.marital_status.clone(),
        children_count: p.children_count,
        country: p.country.clone(),
        district: p.district.clone(),
        city: p.city.clone(),
        address: p.address.clone(),
        image_url: p.image_url.clone(),
        status: status.to_string(),
        enable_tracking: flags.enable_tracking,
        enable_logging: flags.enable_logging,
        enabled: flags.enabled,
        enable_real_time_location: flags.enable_real_time_location,
        client_id,
        ..base
    }
}

impl Core {
    /// Registers one user into the authenticated instance, or into the instance whose
    /// invite code the request names. Tokens are issued unless `CreateAccessToken` is false
    /// or the user is created deactivated (it could not use them).
    ///
    /// A registration that carries a password costs a password hash, so it is throttled per
    /// client address like a login (`registrations_per_address`), before the hash.
    ///
    /// The instance is authenticated as this process last read it, and its write confirms it
    /// (`Tx::confirm_instance`). When that finds the instance changed (a key rotated, the
    /// instance deactivated or its settings changed, here or on another replica), the
    /// instance is read again: the client gets that answer, or the registration is made
    /// again from the instance as it now is.
    pub async fn register(
        &self,
        now: DateTime<Utc>,
        creds: &InstanceCredentials,
        request: RegisterRequest,
        meta: &RequestMeta,
    ) -> CoreResult<Credentials> {
        let mut authenticated = self.authenticate_instance_cached(creds).await?;
        let new = NewUser::try_from(request)?;
        if new.invite_code.is_some() {
            // It registers into another instance, which is what its write confirms: this
            // one's credentials are checked against the stored instance here.
            authenticated = self.authenticate_instance(creds).await?;
        }
        if new.password.is_some() || new.deliver.is_some() {
            self.admit(now, &Throttle::registration(meta), meta).await?;
        }
        let actor = format!("instance:{}", authenticated.id);
        let source = Source::Registration;
        match self
            .register_into(now, authenticated, &new, source, &actor, meta)
            .await
        {
            Err(e) if crate::instances::is_instance_changed(&e) => {
                let stored = self.authenticate_instance(creds).await?;
                self.register_into(now, stored, &new, source, &actor, meta)
                    .await
            }
            done => done,
        }
    }

    /// An admin registers one user into an instance (the dashboard's form); its tokens are
    /// recorded as issued by an admin.
    pub async fn register_as_admin(
        &self,
        now: DateTime<Utc>,
        principal: &super::principal::Principal,
        instance_id: &str,
        request: RegisterRequest,
        meta: &RequestMeta,
    ) -> CoreResult<Credentials> {
        principal.allow(Action::WriteUsers)?;
        let instance = self
            .active_instance_for_field(principal, instance_id, "InstanceId")
            .await?;
        let new = NewUser::try_from(request)?;
        self.register_into(now, instance, &new, Source::Admin, &principal.actor(), meta)
            .await
    }

    async fn register_into(
        &self,
        now: DateTime<Utc>,
        authenticated: Instance,
        new: &NewUser,
        source: Source,
        actor: &str,
        meta: &RequestMeta,
    ) -> CoreResult<Credentials> {
        if let Some(channel) = new.deliver {
            self.ensure_channel(channel)?;
        }
        if let Some(custom) = &new.custom_token {
            // Admins and users are told apart by their token families, never by their ids;
            // still, no user may carry an admin's id.
            if self
                .store()
                .find_admin(&custom.to_string())
                .await?
                .is_some()
            {
                return Err(CoreError::Conflict {
                    key: "CustomToken".into(),
                    message: "this DeviceToken is already registered".into(),
                });
            }
        }
        let instance = match &new.invite_code {
            None => authenticated,
            Some(code) => {
                let row = self
                    .store()
                    .find_instance_by_invite(code.as_str())
                    .await?
                    .ok_or_else(|| {
                        CoreError::NotFound("no instance has this InstanceInviteCode".into())
                    })?;
                let target: Instance = row.try_into()?;
                if target.status != InstanceStatus::Active {
                    return Err(CoreError::Forbidden(
                        "the invited instance is deactivated".into(),
                    ));
                }
                target
            }
        };
        // A password to send: generated here, hashed, sealed in the outbox, shown to nobody.
        let generated = new.deliver.map(|_| crate::admins::generate_password());
        let password_hash = match new.password.as_ref().or(generated.as_ref()) {
            Some(p) => Some(self.hash_password(p).await?),
            None => None,
        };

        let device_token = new.custom_token.unwrap_or_else(DeviceToken::new_random);
        let flags = crate::instance_settings::new_user_flags(&instance, new.flags);
        let row = NewUserRow {
            password_hash: password_hash.map(|h| h.expose().to_string()),
            ..profile_row(
                user_row(device_token, &instance, now),
                &new.profile,
                new.status,
                flags,
                new.client_id.clone(),
            )
        };

        let mut issued = IssuedRows::default();
        let credentials = if new.create_access_token && new.status == UserStatus::Active {
            let user = subject(device_token, &instance, flags, new.client_id.clone());
            let family = issued.new_family(now, &row.device_token, SubjectKind::User, source);
            issued.user_pair(now, self.tokens(), &user, &family, source)?
        } else {
            Credentials::without_tokens(device_token)
        };

        let message = match (new.deliver, &generated) {
            (Some(channel), Some(password)) => Some(
                self.password_message(now, &row, channel, password, actor)
                    .await?,
            ),
            _ => None,
        };

        // Nothing is read back: on SQLite the registration commits with others waiting.
        let mut tx = self.store().begin_writes().await?;
        tx.confirm_instance(&instance).await?;
        tx.insert_users(std::slice::from_ref(&row)).await?;
        if let Some(device) = &new.device {
            tx.set_device(&row.device_token, device).await?;
        }
        if flags.enable_logging {
            // The instance's longest debug logging holds for new users too.
            let one = crate::store::Selection::Tokens(vec![row.device_token.clone()]);
            tx.schedule_flag_ends(&one, Flag::Logging, true, None, ms(now), actor)
                .await?;
        }
        tx.insert_events(&crate::events::users_created(
            now,
            std::slice::from_ref(&row),
            actor,
        ))
        .await?;
        issued.write(&mut tx).await?;
        if let (Some(message), Some(channel)) = (&message, new.deliver) {
            tx.insert_message(message).await?;
            tx.audit(
                &crate::store::NewAuditRow::new(
                    now,
                    actor,
                    crate::audit::AuditAction::PasswordSent,
                    format!("user:{}", row.device_token),
                    format!(
                        "registered with a generated password sent by {} (message {})",
                        channel.wire(),
                        message.id
                    ),
                )
                .from(meta),
            )
            .await?;
        }
        tx.commit().await?;
        self.tallies().issued(&issued);
        Ok(credentials)
    }

    /// Registers `Quantity` users with the given flags, all or nothing, as one batch.
    pub async fn register_many(
        &self,
        now: DateTime<Utc>,
        creds: &InstanceCredentials,
        request: CreateManyRequest,
        meta: &RequestMeta,
    ) -> CoreResult<Batch> {
        let instance = self.authenticate_instance(creds).await?;
        let max = self.max_batch();
        let mut errors = FieldErrors::default();
        let quantity = match request.quantity {
            None => {
                errors.push("Quantity", "is required");
                0
            }
            Some(q) if q < 1 || q > max => {
                errors.push("Quantity", format!("must be between 1 and {max}"));
                0
            }
            Some(q) => q,
        };
        let label = request
            .label
            .as_deref()
            .and_then(|l| errors.take("Label", parse_text(l)).flatten())
            .unwrap_or_default();
        errors.into_result()?;
        let given = request.custom_fields.unwrap_or_default();
        let flags = crate::instance_settings::new_user_flags(
            &instance,
            Flag::ALL.map(|f| f.given_in_custom(&given)),
        );
        let with_tokens = request.create_access_token.unwrap_or(true);
        let batch_id = BatchId::new_random();
        let actor = format!("instance:{}", instance.id);

        // Minting thousands of JWTs is CPU work: a blocking thread does it, a chunk at a
        // time, while this task writes the chunk before (the writer works on one core, the
        // planner on the other). Dropping the receiver (an error here) stops the planner.
        let (sender, mut planned) = tokio::sync::mpsc::channel(2);
        let planner = {
            let core = self.clone();
            let instance = instance.clone();
            let actor = actor.clone();
            tokio::task::spawn_blocking(move || {
                let mut tokens = new_device_tokens(quantity as usize).into_iter();
                loop {
                    let ids: Vec<DeviceToken> = tokens.by_ref().take(INSERT_CHUNK).collect();
                    if ids.is_empty() {
                        break;
                    }
                    let chunk =
                        core.plan_batch(now, &instance, ids, flags, with_tokens, batch_id, &actor);
                    let failed = chunk.is_err();
                    if sender.blocking_send(chunk).is_err() || failed {
                        break;
                    }
                }
            })
        };

        let mut tx = self.store().begin().await?;
        tx.insert_batch(&NewBatch {
            id: batch_id.to_string(),
            instance_id: instance.id.to_string(),
            label,
            quantity,
            created_by: actor.clone(),
            created_at: ms(now),
            state: BatchRunState::Completed,
            done: quantity,
            flags: [
                flags.enable_tracking,
                flags.enable_logging,
                flags.enabled,
                flags.enable_real_time_location,
            ],
            with_tokens,
            credentials: CredentialsState::Api,
            import: None,
        })
        .await?;
        let mut results = Vec::with_capacity(quantity as usize);
        let mut issued = IssuedRows::default();
        while let Some(chunk) = planned.recv().await {
            let chunk = chunk?;
            chunk.write(&mut tx).await?;
            issued.count(&chunk.issued);
            results.extend(chunk.results);
        }
        // A planner that panicked ends the stream early: its error, not a short batch.
        planner.await.map_err(CoreError::internal)?;
        if results.len() != quantity as usize {
            return Err(CoreError::internal("the batch's planner stopped early"));
        }
        if flags.enable_logging {
            // The instance's longest debug logging holds for new users too.
            let batch = crate::store::Selection::Filter(Box::new(crate::store::PageFilter {
                batch: Some(batch_id.to_string()),
                ..Default::default()
            }));
            tx.schedule_flag_ends(&batch, Flag::Logging, true, None, ms(now), &actor)
                .await?;
        }
        tx.audit(
            &NewAuditRow::new(
                now,
                actor,
                AuditAction::BatchCreated,
                format!("batch:{batch_id}"),
                format!("{quantity} users in instance {}", instance.name),
            )
            .from(meta),
        )
        .await?;
        tx.commit().await?;
        self.tallies().issued(&issued);
        Ok(Batch { batch_id, results })
    }

    /// New users of a batch, one per DeviceToken (from `new_device_tokens`), with their
    /// `user.created` events (by `actor`) and, `with_tokens`, their first pairs: CPU work for
    /// a blocking thread.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn plan_batch(
        &self,
        now: DateTime<Utc>,
        instance: &Instance,
        device_tokens: Vec<DeviceToken>,
        flags: UserFlags,
        with_tokens: bool,
        batch_id: BatchId,
        actor: &str,
    ) -> CoreResult<PlannedUsers> {
        let quantity = device_tokens.len();
        let mut users = Vec::with_capacity(quantity);
        let mut issued = IssuedRows::default();
        let mut results = Vec::with_capacity(quantity);
        for device_token in device_tokens {
            let row = NewUserRow {
                enable_tracking: flags.enable_tracking,
                enable_logging: flags.enable_logging,
                enabled: flags.enabled,
                enable_real_time_location: flags.enable_real_time_location,
                batch_id: Some(batch_id.to_string()),
                ..user_row(device_token, instance, now)
            };
            results.push(if with_tokens {
                let family =
                    issued.new_family(now, &row.device_token, SubjectKind::User, Source::Batch);
                issued.user_pair(
                    now,
                    self.tokens(),
                    &subject(device_token, instance, flags, None),
                    &family,
                    Source::Batch,
                )?
            } else {
                Credentials::without_tokens(device_token)
            });
            users.push(row);
        }
        let events = crate::events::users_created(now, &users, actor);
        Ok(PlannedUsers {
            users,
            events,
            issued,
            results,
        })
    }
}

/// `n` new random DeviceTokens, in order. A batch writes its users in this order, so each
/// index keyed by the DeviceToken (the users table's own key, its sort indexes on a batch's
/// equal dates and empty names, the token families' and access tokens' subjects) takes the
/// batch's keys in one pass from left to right, dirtying each page it touches once, instead of
/// one random page per row. The tokens stay random v4s: only the order of writing changes.
pub(crate) fn new_device_tokens(n: usize) -> Vec<DeviceToken> {
    let mut tokens: Vec<DeviceToken> = (0..n).map(|_| DeviceToken::new_random()).collect();
    tokens.sort_unstable();
    tokens
}

/// New users of a batch, planned (`Core::plan_batch`) and ready to be written: their rows,
/// `user.created` events and token rows, and the credentials to hand out.
pub(crate) struct PlannedUsers {
    pub users: Vec<NewUserRow>,
    pub events: Vec<crate::events::NewEvent>,
    pub issued: IssuedRows,
    pub results: Vec<Credentials>,
}

impl PlannedUsers {
    pub async fn write(&self, tx: &mut crate::store::Tx) -> CoreResult<()> {
        tx.insert_users(&self.users).await?;
        tx.insert_events(&self.events).await?;
        self.issued.write(tx).await
    }
}

/// The payload of a JWT, pretty-printed (the token was just minted and verified by us).
fn decoded_claims(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    serde_json::to_string_pretty(&value).ok()
}

impl Core {
    /// Admin: registers a user from the dashboard's form and returns the one-time answer
    /// with the access token's claims decoded.
    pub async fn register_from_dashboard(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        instance_id: &str,
        request: tus_wire::model::RegisterRequest,
        meta: &RequestMeta,
    ) -> CoreResult<RegisteredUser> {
        let c = self
            .register_as_admin(now, p, instance_id, request, meta)
            .await?;
        let device_token = c
            .device_token
            .ok_or_else(|| CoreError::internal("registration without a DeviceToken"))?
            .to_string();
        self.record(
            now,
            &p.actor(),
            AuditAction::UserRegistered,
            &format!("user:{device_token}"),
            "registered from the dashboard",
            meta,
        )
        .await?;
        Ok(RegisteredUser {
            claims: c
                .access_token
                .as_ref()
                .and_then(|a| decoded_claims(&a.token)),
            expires_in: c.access_token.as_ref().map(|a| a.expires_in),
            access_token: c.access_token.map(|a| a.token),
            refresh_token: c.refresh_token.map(|r| r.expose().to_string()),
            device_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, test_core};
    use crate::tokens::Role;
    use tus_wire::model::{CustomFieldsInput, UserFieldsInput};

    async fn setup() -> (crate::testing::TestCore, InstanceCredentials, Instance) {
        let t = test_core(|c| c.max_batch = 50).await;
        let i = t
            .core
            .create_instance(at(0), None, "Fleet", "")
            .await
            .unwrap();
        let creds = i.credentials();
        (t, creds, i)
    }

    #[tokio::test]
    async fn registering_issues_a_token_with_the_users_flags() {
        let (t, creds, i) = setup().await;
        let req = RegisterRequest {
            user_fields: Some(UserFieldsInput {
                enable_logging: Some(true),
                client_id: Some("crm-42".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = t
            .core
            .register(at(10), &creds, req, &crate::RequestMeta::default())
            .await
            .unwrap();
        let token = c.access_token.unwrap().token;
        let claims = t.core.tokens().verify_access(&token, at(11)).unwrap();
        assert_eq!(claims.role(), Some(Role::User));
        assert_eq!(claims.sub, c.device_token.unwrap().to_string());
        assert_eq!(claims.instance_id, Some(i.id.to_string()));
        assert_eq!(claims.sdk_enable_logging.as_deref(), Some("True"));
        assert_eq!(claims.sdk_client_id.as_deref(), Some("crm-42"));
        assert_eq!(c.refresh_token.unwrap().expose().len(), 44);
    }

    #[tokio::test]
    async fn a_taken_custom_token_is_a_conflict() {
        let (t, creds, _) = setup().await;
        let token = uuid::Uuid::new_v4().to_string();
        let req = || RegisterRequest {
            custom_token: Some(token.clone()),
            ..Default::default()
        };
        let first = t
            .core
            .register(at(0), &creds, req(), &crate::RequestMeta::default())
            .await
            .unwrap();
        assert_eq!(first.device_token.unwrap().to_string(), token);
        let again = t
            .core
            .register(at(1), &creds, req(), &crate::RequestMeta::default())
            .await;
        assert!(
            matches!(again, Err(CoreError::Conflict { ref key, .. }) if key == "CustomToken"),
            "{again:?}"
        );
    }

    /// A registration authenticates its instance as this process last read it, and its
    /// write confirms the instance is unchanged (`Tx::confirm_instance`). Whatever another
    /// replica changed a moment ago holds at once: new settings and a new CompanyId are in
    /// the next user and its token, a rotated key is refused, with an InstanceInviteCode
    /// too, and so is a deactivated instance; a refused registration stores nothing.
    #[tokio::test]
    async fn a_registration_sees_at_once_what_another_replica_changed_in_its_instance() {
        let (t, creds, i) = setup().await;
        let meta = crate::RequestMeta::default();
        let other = crate::testing::replica(&t, |_| {}).await;
        let p = crate::testing::admin();
        let users = || async {
            t.core
                .store()
                .count_users(&Default::default(), 1_000)
                .await
                .unwrap()
        };
        let claims = |c: Credentials| {
            let token = c.access_token.unwrap().token;
            t.core.tokens().verify_access(&token, at(11)).unwrap()
        };
        let register = |creds: InstanceCredentials, req: RegisterRequest| {
            let core = t.core.clone();
            let meta = meta.clone();
            async move { core.register(at(10), &creds, req, &meta).await }
        };
        let first = claims(register(creds.clone(), Default::default()).await.unwrap());
        assert_eq!(first.sdk_enable_tracking.as_deref(), Some("True"));

        let settings = tus_wire::model::InstanceSettingsView {
            default_flags: CustomFieldsInput {
                enable_tracking: Some(false),
                ..Default::default()
            },
            ..Default::default()
        };
        other
            .update_instance_settings(at(1), &p, i.id, &settings, &meta)
            .await
            .unwrap();
        let company = crate::types::CompanyId::new_random();
        other.set_company_id(at(2), company, "test").await.unwrap();
        let after = claims(register(creds.clone(), Default::default()).await.unwrap());
        assert_eq!(after.sdk_enable_tracking.as_deref(), Some("False"));
        assert_eq!(after.company_id, Some(company.to_string()));
        assert_eq!(users().await, 2);

        let rotated = other
            .rotate_instance_key(at(3), &p, i.id, &meta)
            .await
            .unwrap();
        let old = register(creds.clone(), Default::default()).await;
        assert!(
            matches!(old, Err(CoreError::Unauthorized { .. })),
            "{old:?}"
        );
        let invited = RegisterRequest {
            instance_invite_code: Some(i.invite_code.clone()),
            ..Default::default()
        };
        let old = register(creds.clone(), invited).await;
        assert!(
            matches!(old, Err(CoreError::Unauthorized { .. })),
            "{old:?}"
        );
        assert_eq!(users().await, 2);
        register(rotated.credentials(), Default::default())
            .await
            .unwrap();
        assert_eq!(users().await, 3);

        let deactivate = tus_wire::model::InstanceInput {
            status: Some(serde_json::json!("Deactivated")),
            ..Default::default()
        };
        other
            .update_instance_as(at(4), &p, i.id, deactivate, &meta)
            .await
            .unwrap();
        let refused = register(rotated.credentials(), Default::default()).await;
        assert!(
            matches!(refused, Err(CoreError::Forbidden(_))),
            "{refused:?}"
        );
        assert_eq!(users().await, 3);
    }

    /// Registrations arriving together are committed together on SQLite (store::group):
    /// each is still all or nothing and answered only once committed. A taken CustomToken
    /// among them fails alone, leaving no row of its own; every other one is stored whole:
    /// its user, its event and a refresh token that rotates.
    #[tokio::test]
    async fn registrations_committed_together_stay_each_all_or_nothing() {
        let (t, creds, _) = setup().await;
        let meta = crate::RequestMeta::default();
        let taken = uuid::Uuid::new_v4().to_string();
        let req = |custom: Option<String>| RegisterRequest {
            custom_token: custom,
            ..Default::default()
        };
        t.core
            .register(at(0), &creds, req(Some(taken.clone())), &meta)
            .await
            .unwrap();
        let results = futures::future::join_all((0..60).map(|i| {
            let custom = (i % 7 == 3).then(|| taken.clone());
            let (core, creds, meta) = (&t.core, &creds, &meta);
            async move { core.register(at(10), creds, req(custom), meta).await }
        }))
        .await;
        let mut stored = 0;
        for (i, result) in results.into_iter().enumerate() {
            if i % 7 == 3 {
                assert!(
                    matches!(result, Err(CoreError::Conflict { ref key, .. }) if key == "CustomToken"),
                    "{result:?}"
                );
                continue;
            }
            let c = result.unwrap();
            let token = c.device_token.unwrap().to_string();
            assert!(t.core.store().find_user(&token).await.unwrap().is_some());
            let pair = crate::auth::RefreshPair {
                device: None,
                access: c.access_token.unwrap().token,
                refresh: c.refresh_token.unwrap(),
            };
            t.core.refresh(at(20), pair, &meta).await.unwrap();
            stored += 1;
        }
        assert_eq!(stored, 51);
        // The failed ones left nothing: the taken token still has its first family only.
        assert_eq!(
            t.core
                .store()
                .refresh_tokens_of(&taken)
                .await
                .unwrap()
                .len(),
            1
        );
        let mut tx = t.core.store().begin().await.unwrap();
        let events = tx.events_between(0, i64::MAX, 1000).await.unwrap();
        let created = events.iter().filter(|e| e.kind == "user.created").count();
        assert_eq!(created, 52);
    }

    #[tokio::test]
    async fn a_taken_email_is_a_conflict_within_the_instance() {
        let (t, creds, _) = setup().await;
        let req = || RegisterRequest {
            email: Some("Ann@Example.com".into()),
            ..Default::default()
        };
        t.core
            .register(at(0), &creds, req(), &crate::RequestMeta::default())
            .await
            .unwrap();
        let again = t
            .core
            .register(
                at(1),
                &creds,
                RegisterRequest {
                    email: Some("ann@example.com".into()),
                    ..Default::default()
                },
                &crate::RequestMeta::default(),
            )
            .await;
        assert!(
            matches!(again, Err(CoreError::Conflict { ref key, .. }) if key == "Email"),
            "{again:?}"
        );
    }

    #[tokio::test]
    async fn without_create_access_token_no_tokens_are_issued() {
        let (t, creds, _) = setup().await;
        let req = RegisterRequest {
            create_access_token: Some(false),
            ..Default::default()
        };
        let c = t
            .core
            .register(at(0), &creds, req, &crate::RequestMeta::default())
            .await
            .unwrap();
        assert!(c.access_token.is_none() && c.refresh_token.is_none());
        assert!(t
            .core
            .store()
            .find_user(&c.device_token.unwrap().to_string())
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn an_invite_code_registers_into_its_instance() {
        let (t, creds, _) = setup().await;
        let other = t
            .core
            .create_instance(at(0), None, "Other", "")
            .await
            .unwrap();
        let req = RegisterRequest {
            instance_invite_code: Some(other.invite_code.to_lowercase()),
            ..Default::default()
        };
        let c = t
            .core
            .register(at(0), &creds, req, &crate::RequestMeta::default())
            .await
            .unwrap();
        let row = t
            .core
            .store()
            .find_user(&c.device_token.unwrap().to_string())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.instance_id, other.id.to_string());
        let unknown = RegisterRequest {
            instance_invite_code: Some("ZZZZZZZZ".into()),
            ..Default::default()
        };
        assert!(matches!(
            t.core
                .register(at(0), &creds, unknown, &crate::RequestMeta::default())
                .await,
            Err(CoreError::NotFound(_))
        ));
    }

    /// Playing the attacker who holds some DeviceTokens and guesses the next: they are
    /// random v4 UUIDs (122 random bits, from a CSPRNG), never time-ordered v7s, and never
    /// repeat; the ids the server gives its own rows are v7s, which may be ordered.
    #[test]
    fn device_tokens_are_random_v4s_and_row_ids_time_ordered_v7s() {
        let tokens = new_device_tokens(20_000);
        let distinct: std::collections::HashSet<_> = tokens.iter().collect();
        assert_eq!(distinct.len(), tokens.len());
        for token in tokens.iter().chain([&DeviceToken::new_random()]) {
            assert_eq!(
                token.0.get_version(),
                Some(uuid::Version::Random),
                "{token}"
            );
            assert_eq!(token.0.get_variant(), uuid::Variant::RFC4122, "{token}");
        }
        // A clock in them (as in a v7) would give tokens made in one burst the same
        // leading bits: random ones almost never share their first 32.
        let leading: std::collections::HashSet<_> =
            tokens.iter().map(|t| t.0.as_u128() >> 96).collect();
        assert!(leading.len() > 19_900, "{} distinct", leading.len());
        let ids: Vec<_> = (0..1_000).map(|_| crate::types::new_row_id()).collect();
        assert!(ids
            .iter()
            .all(|id| id.get_version() == Some(uuid::Version::SortRand)));
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "row ids are ordered");
    }

    async fn users_in(t: &crate::testing::TestCore, batch: &Batch) -> i64 {
        let id = batch.batch_id.to_string();
        t.core.store().count_users_in_batch(&id).await.unwrap()
    }

    #[tokio::test]
    async fn a_batch_of_several_planned_chunks_writes_every_user_once_in_device_token_order() {
        let t = test_core(|c| c.max_batch = 2 * INSERT_CHUNK as i64 + 500).await;
        let instance = t
            .core
            .create_instance(at(0), None, "Fleet", "")
            .await
            .unwrap();
        let quantity = 2 * INSERT_CHUNK as i64 + 500;
        let before = t.core.tallies().issued_by_source();
        let batch = t
            .core
            .register_many(
                at(0),
                &instance.credentials(),
                CreateManyRequest {
                    quantity: Some(quantity),
                    ..Default::default()
                },
                &RequestMeta::default(),
            )
            .await
            .unwrap();
        assert_eq!(batch.results.len(), quantity as usize);
        let tokens: std::collections::HashSet<_> = batch
            .results
            .iter()
            .map(|r| r.device_token.unwrap())
            .collect();
        assert_eq!(tokens.len(), quantity as usize, "every user is new");
        assert_eq!(users_in(&t, &batch).await, quantity);
        // One user.created event per user, in the order of the answer.
        let mut tx = t.core.store().begin().await.unwrap();
        let events = tx.events_between(0, i64::MAX, 10 * quantity).await.unwrap();
        drop(tx);
        let created: Vec<_> = events
            .iter()
            .filter(|e| e.kind == "user.created")
            .map(|e| e.device_token.clone().unwrap())
            .collect();
        let answered: Vec<_> = batch
            .results
            .iter()
            .map(|r| r.device_token.unwrap().to_string())
            .collect();
        assert_eq!(created, answered);
        // In DeviceToken order across the chunks, so that the indexes keyed by it take the
        // batch in one pass (`new_device_tokens`).
        assert!(
            answered.windows(2).all(|w| w[0] < w[1]),
            "the batch's users are written in DeviceToken order"
        );
        // Each pair was written: the first and the last users of the batch can refresh.
        for c in [&batch.results[0], batch.results.last().unwrap()] {
            let pair = crate::auth::RefreshPair {
                device: None,
                access: c.access_token.as_ref().unwrap().token.clone(),
                refresh: c.refresh_token.clone().unwrap(),
            };
            t.core
                .refresh(at(60), pair, &RequestMeta::default())
                .await
                .unwrap();
        }
        let batch_source = crate::issuance::Source::Batch.as_str();
        let issued = |all: &[(&str, u64)]| all.iter().find(|(s, _)| *s == batch_source).unwrap().1;
        assert_eq!(
            issued(&t.core.tallies().issued_by_source()) - issued(&before),
            quantity as u64
        );
    }

    #[tokio::test]
    async fn a_batch_is_all_or_nothing_within_the_limit() {
        let (t, creds, _) = setup().await;
        let meta = RequestMeta::default();
        let req = |q| CreateManyRequest {
            quantity: Some(q),
            custom_fields: Some(CustomFieldsInput {
                enable_tracking: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        };
        let batch = t
            .core
            .register_many(at(0), &creds, req(50), &meta)
            .await
            .unwrap();
        assert_eq!(batch.results.len(), 50);
        assert_eq!(users_in(&t, &batch).await, 50);
        let claims = t
            .core
            .tokens()
            .verify_access(
                &batch.results[0].access_token.as_ref().unwrap().token,
                at(1),
            )
            .unwrap();
        assert_eq!(claims.role(), Some(Role::User));
        assert_eq!(claims.sdk_enable_tracking.as_deref(), Some("False"));
        for bad in [0, 51, -1] {
            assert!(matches!(
                t.core.register_many(at(0), &creds, req(bad), &meta).await,
                Err(CoreError::Validation(_))
            ));
        }
    }
}
