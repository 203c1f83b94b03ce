//! Invites, and passwords a driver sets with a one-time link or code.
//!
//! Invariants:
//! - An invite of many users is counted first (`invite_count`) and sent only while that count
//!   still holds (`Count`): exactly the users an admin confirmed get one message each, all
//!   written in one transaction with one audit entry.
//! - An e-mail invite carries a link to the dashboard's public `/invite` page (256 random
//!   bits); an SMS invite a six-digit code the app logs in with. Both are single use, expire
//!   after `invite_ttl_secs`, and are stored only as keyed hashes.
//! - Setting a password (a link, or a reset with a code) ends every session, code and link of
//!   the user.
//! - A reset answers the same for an unknown name, a wrong code and a used one.

use std::collections::HashMap;
use tus_wire::views::Action;

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;

use crate::audit::AuditAction;
use crate::auth::LoginName;
use crate::error::{CoreError, CoreResult, FieldErrors};
use crate::outbox::{compose, duration_words, e164, mask_recipient, wrap, Channel, Draft, Purpose};
use crate::password::check_strength;
use crate::principal::Principal;
use crate::ratelimit::Throttle;
use crate::secret::Password;
use crate::store::{ContactRow, LoginColumn, NewAuditRow, Selection};
use crate::time::ms;
use crate::types::{DeviceToken, InstanceId};
use crate::users::patch::UserPatch;
use crate::{Core, RequestMeta};
use tus_wire::views::BulkTarget;

/// Most users one invite reaches (a larger fleet is invited a filter at a time).
pub const MAX_INVITES: i64 = 10_000;

/// The hash "user" of invite links: a link names no user, its hash finds one.
const LINK_SCOPE: &str = "invite-link";

/// Who an invite reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InviteCount {
    /// Users in the selection.
    pub matched: i64,
    /// Those with an address on the channel, active, in an active instance: one message each.
    pub recipients: i64,
}

/// An invite link as its page shows it, before the driver sets a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteLink {
    pub app: String,
    pub instance: String,
    /// The invited address, masked.
    pub to: String,
}

/// One user an invite goes to.
struct Invitee {
    device_token: String,
    instance_id: String,
    to: String,
}

/// The users of `contacts` an invite on `channel` reaches, with their address.
fn invitees(contacts: Vec<ContactRow>, channel: Channel) -> Vec<Invitee> {
    contacts
        .into_iter()
        .filter(|c| c.status == "Active" && c.instance_status.as_deref() == Some("Active"))
        .filter_map(|c| {
            let to = match channel {
                Channel::Email => c.email.filter(|e| !e.trim().is_empty())?,
                Channel::Sms => e164(c.phone.as_deref()?).ok()?,
            };
            Some(Invitee {
                device_token: c.device_token,
                instance_id: c.instance_id,
                to,
            })
        })
        .collect()
}

/// 256 random bits, URL-safe.
pub(crate) fn generate_link_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A link token as the page gets it: 43 URL-safe characters (anything else finds nothing).
pub(crate) fn well_formed_link(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The page an e-mail invite links to.
pub fn invite_url(public_url: &str, token: &str) -> String {
    format!("{}/invite?t={token}", public_url.trim_end_matches('/'))
}

impl Core {
    /// The dashboard's public address, which e-mail invites link to.
    fn link_base(&self, channel: Channel) -> CoreResult<Option<String>> {
        match (channel, &self.delivery_settings().public_url) {
            (Channel::Sms, _) => Ok(None),
            (Channel::Email, Some(url)) => Ok(Some(url.clone())),
            (Channel::Email, None) => Err(CoreError::validation(
                "Deliver",
                "e-mail invites link to the dashboard: set TUS_PUBLIC_URL on this server",
            )),
        }
    }

    /// The selection's users and addresses that `principal` sees, read by `tx`; a 422 past
    /// `MAX_INVITES`.
    async fn contacts(
        tx: &mut crate::store::Tx,
        principal: &Principal,
        selection: &Selection,
    ) -> CoreResult<Vec<ContactRow>> {
        let mut contacts = tx.selection_contacts(selection, MAX_INVITES).await?;
        contacts.retain(|c| principal.sees_instance(&c.instance_id));
        if contacts.len() as i64 > MAX_INVITES {
            return Err(CoreError::conflict(
                "Selection",
                format!(
                    "reaches more than {MAX_INVITES} users: invite a narrower filter at a time"
                ),
            ));
        }
        Ok(contacts)
    }

    /// Admin: exactly who an invite on `channel` would reach.
    pub async fn invite_count(
        &self,
        principal: &Principal,
        target: &BulkTarget,
        channel: Channel,
    ) -> CoreResult<InviteCount> {
        principal.allow(Action::WriteUsers)?;
        self.ensure_channel(channel)?;
        self.link_base(channel)?;
        let selection = self.selection(principal, target)?;
        let mut tx = self.store().begin().await?;
        let contacts = Self::contacts(&mut tx, principal, &selection).await?;
        tx.commit().await?;
        let matched = contacts.len() as i64;
        Ok(InviteCount {
            matched,
            recipients: invitees(contacts, channel).len() as i64,
        })
    }

    /// Admin: invites the target's users on `channel`: each reachable user gets a one-time
    /// link (e-mail) or code (SMS). `expected` is the count the admin confirmed; required
    /// unless the target is one user, and the invite goes out only if it still holds.
    pub async fn invite(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        target: &BulkTarget,
        channel: Channel,
        expected: Option<i64>,
        meta: &RequestMeta,
    ) -> CoreResult<InviteCount> {
        principal.allow(Action::WriteUsers)?;
        self.ensure_channel(channel)?;
        let base = self.link_base(channel)?;
        let single = match target {
            BulkTarget::Selected(tokens) if tokens.len() == 1 => Some(tokens[0].clone()),
            _ => None,
        };
        if single.is_none() && expected.is_none() {
            return Err(CoreError::validation(
                "Count",
                "is required: the number of users the invite count answered, to confirm it",
            ));
        }
        let selection = self.selection(principal, target)?;
        let mut names: HashMap<String, (String, String)> = HashMap::new();
        let ttl = self.delivery_settings().invite_ttl_secs.max(60);
        let ttl_words = duration_words(ttl);

        let mut tx = self.store().begin().await?;
        let contacts = Self::contacts(&mut tx, principal, &selection).await?;
        let matched = contacts.len() as i64;
        if let Some(token) = &single {
            // One user: say why they cannot be invited rather than count zero.
            let Some(c) = contacts.first() else {
                return Err(CoreError::NotFound("no user has this DeviceToken".into()));
            };
            if c.status != "Active" || c.instance_status.as_deref() != Some("Active") {
                return Err(CoreError::Conflict {
                    key: "Status".into(),
                    message: format!("user {token} or their instance is deactivated"),
                });
            }
            Self::address_on(c.email.as_deref(), c.phone.as_deref(), channel)?;
        }
        let invitees = invitees(contacts, channel);
        let recipients = invitees.len() as i64;
        if let Some(expected) = expected.filter(|_| single.is_none()) {
            if expected != recipients {
                return Err(CoreError::Conflict {
                    key: "Count".into(),
                    message: format!(
                        "the invite now reaches {recipients} users, not {expected}: count again"
                    ),
                });
            }
        }
        for invitee in &invitees {
            if !names.contains_key(&invitee.instance_id) {
                let named = self.names_of(&invitee.instance_id).await?;
                names.insert(invitee.instance_id.clone(), named);
            }
            let (app, instance) = &names[&invitee.instance_id];
            let (kind, subject, body, hash) = match &base {
                Some(base) => {
                    let token = generate_link_token();
                    let line = format!(
                        "You are invited to {app} ({instance}). Set your password with the link \
                         below, then log in to the app with this e-mail address and that password. \
                         The link works once, for {ttl_words}."
                    );
                    let url = invite_url(base, &token);
                    (
                        "link",
                        format!("You are invited to {app}"),
                        wrap(&line, Some(("Set your password", &url))),
                        self.inner.codes.hash(LINK_SCOPE, &token)?,
                    )
                }
                None => {
                    let code = crate::outbox::generate_code();
                    let (subject, body) =
                        compose(Purpose::Invite, app, instance, &code, &ttl_words);
                    let hash = self.inner.codes.hash(&invitee.device_token, &code)?;
                    ("code", subject, body, hash)
                }
            };
            let row = self.message_row(
                now,
                Draft {
                    channel,
                    purpose: Purpose::Invite,
                    to: invitee.to.clone(),
                    device_token: Some(invitee.device_token.clone()),
                    instance_id: Some(invitee.instance_id.clone()),
                    subject,
                    body,
                    requested_by: principal.actor(),
                },
            )?;
            tx.insert_login_code(
                kind,
                &invitee.device_token,
                &hash,
                ms(now),
                ms(now) + ttl * 1000,
            )
            .await?;
            tx.insert_message(&row).await?;
        }
        let (target_name, scope) = match (&single, target) {
            (Some(token), _) => (format!("user:{token}"), "one user".to_string()),
            (None, BulkTarget::Selected(t)) => {
                ("users".into(), format!("{} selected users", t.len()))
            }
            (None, BulkTarget::Matching(q)) => (
                "users".into(),
                format!(
                    "the users matching {}",
                    crate::users::search::describe_list_query(q)
                ),
            ),
        };
        tx.audit(&principal.audit(
            now,
            AuditAction::UsersInvited,
            target_name,
            format!(
                "invited by {} {scope}: {matched} matched, {recipients} invited, {} without an \
                 address or active account; links and codes work for {ttl_words}",
                channel.wire(),
                matched - recipients
            ),
            meta,
        ))
        .await?;
        tx.commit().await?;
        Ok(InviteCount {
            matched,
            recipients,
        })
    }

    /// The public invite page: what a live link is for, or a 404 for one that is not (used,
    /// expired, mistyped: all the same).
    pub async fn invite_link(&self, now: DateTime<Utc>, token: &str) -> CoreResult<InviteLink> {
        let not_found = || CoreError::NotFound("this invite link is not valid".into());
        let token = token.trim();
        if !well_formed_link(token) {
            return Err(not_found());
        }
        let hash = self.inner.codes.hash(LINK_SCOPE, token)?;
        let device_token = self
            .store()
            .live_link_user(&hash, ms(now))
            .await?
            .ok_or_else(not_found)?;
        let user = self
            .store()
            .find_user(&device_token)
            .await?
            .ok_or_else(not_found)?;
        let (app, instance) = self.names_of(&user.instance_id).await?;
        Ok(InviteLink {
            app,
            instance,
            to: mask_recipient(user.email.as_deref().unwrap_or_default()),
        })
    }

    /// The public invite page's form: sets the driver's password once. Wrong links count
    /// against the caller's address like failed logins.
    pub async fn accept_invite(
        &self,
        now: DateTime<Utc>,
        token: &str,
        password: &Password,
        confirm: &Password,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        let mut errors = FieldErrors::default();
        errors.take("password", check_strength(password.expose()));
        if password.expose() != confirm.expose() {
            errors.push("confirm", "does not match the password");
        }
        if !errors.is_empty() {
            return Err(CoreError::Validation(errors));
        }
        let throttle = Throttle::link(meta);
        self.admit(now, &throttle, meta).await?;
        let token = token.trim();
        let hash = self.inner.codes.hash(LINK_SCOPE, token)?;
        // Looked up before the password is hashed (a wrong link costs no hashing), and again
        // under lock in the transaction that uses it.
        let live =
            well_formed_link(token) && self.store().live_link_user(&hash, ms(now)).await?.is_some();
        let password_hash = match live {
            true => Some(self.hash_password(password).await?),
            false => None,
        };
        let mut tx = self.store().begin().await?;
        let user = match (tx.live_link_user(&hash, ms(now)).await?, password_hash) {
            (Some(user), Some(password_hash)) => (user, password_hash),
            _ => {
                drop(tx);
                self.record(
                    now,
                    "anonymous",
                    AuditAction::LoginFailed,
                    "invite-link",
                    "an invite link that is not valid",
                    meta,
                )
                .await?;
                return Err(CoreError::NotFound("this invite link is not valid".into()));
            }
        };
        let (user, password_hash) = user;
        self.set_password_in(&mut tx, now, &user, &password_hash, "invite accepted")
            .await?;
        tx.audit(
            &NewAuditRow::new(
                now,
                format!("user:{user}"),
                AuditAction::InviteAccepted,
                format!("user:{user}"),
                "set a password through an invite link",
            )
            .from(meta),
        )
        .await?;
        tx.commit().await?;
        self.settle_success(&throttle).await
    }

    /// `POST /v1/Auth/Reset`: a new password for the user with this e-mail or phone in the
    /// instance, with a code sent by `POST /v1/Auth/Code` (or an SMS invite). Throttled as a
    /// login; a wrong code costs the code a try.
    pub async fn reset_password(
        &self,
        now: DateTime<Utc>,
        instance_header: &str,
        name: &LoginName,
        code: &Password,
        new_password: &Password,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        let column = match name {
            LoginName::Email(_) => LoginColumn::Email,
            LoginName::Phone(_) => LoginColumn::Phone,
            LoginName::DeviceToken(_) => {
                return Err(CoreError::validation(
                    "LoginFields",
                    "a password is reset for an Email or a Phone",
                ))
            }
        };
        check_strength(new_password.expose())
            .map_err(|m| CoreError::validation("NewPassword", m))?;
        let instance = InstanceId::parse(instance_header)
            .map_err(|m| CoreError::validation("InstanceId", m))?
            .to_string();
        let subject = format!(
            "{}:{}",
            crate::auth::instance_scope(&instance),
            name.describe()
        );
        let throttle = Throttle::login(&subject, &name.describe(), meta);
        self.admit(now, &throttle, meta).await?;
        let user = self
            .store()
            .find_user_by_login(&instance, column, &name.canonical())
            .await?;
        let right = match &user {
            Some(u) => {
                self.redeem_login_code(now, &u.device_token, code.expose())
                    .await?
            }
            None => false,
        };
        let user = match (right, user) {
            (true, Some(u)) => u,
            _ => {
                self.record(
                    now,
                    "anonymous",
                    AuditAction::LoginFailed,
                    &name.describe(),
                    "a password reset with a wrong code",
                    meta,
                )
                .await?;
                return Err(crate::auth::invalid_credentials());
            }
        };
        crate::users::User::try_from(user.clone())?.ensure_active()?;
        let password_hash = self.hash_password(new_password).await?;
        let mut tx = self.store().begin().await?;
        self.set_password_in(
            &mut tx,
            now,
            &user.device_token,
            &password_hash,
            "password reset",
        )
        .await?;
        tx.audit(
            &NewAuditRow::new(
                now,
                format!("user:{}", user.device_token),
                AuditAction::PasswordReset,
                format!("user:{}", user.device_token),
                "set a new password with a one-time code",
            )
            .from(meta),
        )
        .await?;
        tx.commit().await?;
        self.settle_success(&throttle).await
    }

    /// Sets a driver's password in `tx`: sessions, codes and links of the user end.
    async fn set_password_in(
        &self,
        tx: &mut crate::store::Tx,
        now: DateTime<Utc>,
        device_token: &str,
        hash: &crate::secret::PasswordHash,
        why: &str,
    ) -> CoreResult<()> {
        let token = DeviceToken::parse(device_token).map_err(CoreError::internal)?;
        tx.apply_user_patch(&token, &UserPatch::default(), Some(hash), ms(now))
            .await?;
        let ended = tx.revoke_families_of(device_token, ms(now), why).await?;
        if ended > 0 {
            if let Some(user) = tx.user_for_update(&token).await? {
                tx.insert_events(&[crate::events::NewEvent::of_user(
                    crate::events::EventType::UserSessionsRevoked,
                    now,
                    &user,
                    &format!("user:{device_token}"),
                    serde_json::json!({ "Detail": format!("{ended} sessions ended: {why}") }),
                )])
                .await?;
            }
        }
        tx.use_login_codes(device_token, ms(now)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{LoginAttempt, Proof};
    use crate::testing::{admin, at, fleet, test_core};
    use tus_wire::model::RegisterRequest;
    use tus_wire::views::UserListQuery;

    fn channels(c: &mut crate::CoreConfig) {
        c.delivery.email = true;
        c.delivery.sms = true;
        c.delivery.invite_ttl_secs = 3600;
        c.delivery.public_url = Some("https://fleet.example/".into());
    }

    /// The secret a message carries: a link's token or a code.
    fn secret_in(text: &str) -> String {
        match text.split_once("/invite?t=") {
            Some((_, rest)) => rest.chars().take_while(|c| !c.is_whitespace()).collect(),
            None => text
                .split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)
                .unwrap()
                .to_string(),
        }
    }

    fn login(name: LoginName, proof: Proof) -> LoginAttempt {
        LoginAttempt {
            device: None,
            name,
            proof,
            totp: None,
        }
    }

    #[tokio::test]
    async fn an_invite_goes_to_exactly_the_confirmed_users_and_its_link_sets_a_password_once() {
        let t = test_core(channels).await;
        let i = fleet(&t).await;
        let meta = RequestMeta::default();
        for n in 0..4 {
            t.core
                .register(
                    at(0),
                    &i.credentials(),
                    RegisterRequest {
                        // The last one has no e-mail: counted as matched, not invited.
                        email: (n < 3).then(|| format!("d{n}@x.io")),
                        last_name: Some("Fleet".into()),
                        ..Default::default()
                    },
                    &meta,
                )
                .await
                .unwrap();
        }
        let target = BulkTarget::Matching(Box::new(UserListQuery {
            q: Some("Fleet".into()),
            ..Default::default()
        }));
        let count = t
            .core
            .invite_count(&admin(), &target, Channel::Email)
            .await
            .unwrap();
        assert_eq!(
            count,
            InviteCount {
                matched: 4,
                recipients: 3
            }
        );
        // Unconfirmed, or confirmed for another number: nothing is sent.
        for expected in [None, Some(4)] {
            assert!(t
                .core
                .invite(at(1), &admin(), &target, Channel::Email, expected, &meta)
                .await
                .is_err());
        }
        assert!(t
            .core
            .claim_due_messages(at(1), 100)
            .await
            .unwrap()
            .is_empty());
        let done = t
            .core
            .invite(at(1), &admin(), &target, Channel::Email, Some(3), &meta)
            .await
            .unwrap();
        assert_eq!(done.recipients, 3);
        let sent = t.core.claim_due_messages(at(1), 100).await.unwrap();
        assert_eq!(sent.len(), 3);
        let mail = sent.iter().find(|m| m.to == "d0@x.io").unwrap();
        assert!(
            mail.text.contains("https://fleet.example/invite?t="),
            "{}",
            mail.text
        );
        let token = secret_in(&mail.text);

        let page = t.core.invite_link(at(2), &token).await.unwrap();
        assert_eq!(page.to, "d••@x.io");
        let password = Password::new("a driver's own password");
        let weak = Password::new("short");
        assert!(t
            .core
            .accept_invite(at(2), &token, &weak, &weak, &meta)
            .await
            .is_err());
        assert!(t
            .core
            .accept_invite(
                at(2),
                &token,
                &password,
                &Password::new("another one entirely"),
                &meta
            )
            .await
            .is_err());
        t.core
            .accept_invite(at(3), &token, &password, &password, &meta)
            .await
            .unwrap();
        let instance = i.id.to_string();
        let email = LoginName::Email("d0@x.io".into());
        t.core
            .login(
                at(4),
                Some(&instance),
                login(email, Proof::Password(password.clone())),
                &meta,
            )
            .await
            .unwrap();
        // Used: the page and the form refuse it, as they refuse a link never sent.
        assert!(t.core.invite_link(at(5), &token).await.is_err());
        assert!(t
            .core
            .accept_invite(at(5), &token, &password, &password, &meta)
            .await
            .is_err());
        let forged = "A".repeat(43);
        assert!(t.core.invite_link(at(5), &forged).await.is_err());
        // Another user's link, unused, expires with the hour.
        let other = secret_in(&sent.iter().find(|m| m.to == "d1@x.io").unwrap().text);
        assert!(t.core.invite_link(at(3_599), &other).await.is_ok());
        assert!(t.core.invite_link(at(3_602), &other).await.is_err());
        assert!(t
            .core
            .accept_invite(at(3_602), &other, &password, &password, &meta)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn an_sms_invite_code_logs_in_and_a_reset_code_sets_a_new_password() {
        let t = test_core(channels).await;
        let i = fleet(&t).await;
        let meta = RequestMeta::default();
        let user = t
            .core
            .register(
                at(0),
                &i.credentials(),
                RegisterRequest {
                    phone: Some("+1 555 010 0077".into()),
                    ..Default::default()
                },
                &meta,
            )
            .await
            .unwrap()
            .device_token
            .unwrap()
            .to_string();
        let one = BulkTarget::Selected(vec![user.clone()]);
        // E-mail needs an address the user has not got.
        assert!(t
            .core
            .invite(at(1), &admin(), &one, Channel::Email, None, &meta)
            .await
            .is_err());
        t.core
            .invite(at(1), &admin(), &one, Channel::Sms, None, &meta)
            .await
            .unwrap();
        let sms = t.core.claim_due_messages(at(1), 10).await.unwrap();
        assert_eq!(sms.len(), 1);
        assert_eq!(sms[0].to, "+15550100077");
        let instance = i.id.to_string();
        let phone = LoginName::Phone("+15550100077".into());
        let code = Password::new(secret_in(&sms[0].text));
        t.core
            .login(
                at(2),
                Some(&instance),
                login(phone.clone(), Proof::Code(code.clone())),
                &meta,
            )
            .await
            .unwrap();

        // Reset: a code by `Auth/Code`, then a new password with it, once.
        let pending = t
            .core
            .request_login_code(at(10), &instance, &phone, &meta)
            .await
            .unwrap()
            .unwrap();
        t.core
            .send_login_code(at(10), pending, &meta)
            .await
            .unwrap();
        let sms = t.core.claim_due_messages(at(10), 10).await.unwrap();
        let code = Password::new(secret_in(&sms[0].text));
        let new = Password::new("a brand new password");
        let wrong = Password::new("000000");
        assert!(t
            .core
            .reset_password(at(11), &instance, &phone, &wrong, &new, &meta)
            .await
            .is_err());
        let stranger = LoginName::Phone("+15550100078".into());
        let unknown = t
            .core
            .reset_password(at(11), &instance, &stranger, &code, &new, &meta)
            .await
            .unwrap_err();
        let wrong_code = t
            .core
            .reset_password(at(11), &instance, &phone, &wrong, &new, &meta)
            .await
            .unwrap_err();
        assert_eq!(
            unknown.to_string(),
            wrong_code.to_string(),
            "no enumeration"
        );
        t.core
            .reset_password(at(12), &instance, &phone, &code, &new, &meta)
            .await
            .unwrap();
        assert!(
            t.core
                .reset_password(at(13), &instance, &phone, &code, &new, &meta)
                .await
                .is_err(),
            "a code works once"
        );
        t.core
            .login(
                at(14),
                Some(&instance),
                login(phone, Proof::Password(new)),
                &meta,
            )
            .await
            .unwrap();
        let audit = t
            .core
            .store()
            .audit_entries("user.password_reset")
            .await
            .unwrap();
        assert_eq!(audit.len(), 1);
    }
}
