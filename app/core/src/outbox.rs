//! Reaching drivers: generated passwords and one-time login codes, delivered by e-mail or
//! SMS through one durable outbox.
//!
//! Invariants:
//! - A message is written in the transaction of the change that causes it (a new password,
//!   a new code): a rolled-back change sends nothing, a committed one is never lost.
//! - Senders (a worker in every replica, outside this crate) claim due messages with a lease
//!   and settle the attempt they claimed; failures come back with exponential back-off and
//!   jitter until `max_attempts`, then the message is `failed` and shown.
//! - At least once: a sender that dies after the receiver accepted a message and before it
//!   was marked sent leaves its lease to run out, and the message goes again with the same
//!   id (the receiver deduplicates on it). That is the one resend window.
//! - Bodies are sealed at rest (they carry passwords and codes) and deleted once sent or
//!   cancelled. Codes are stored only as a keyed hash, single use, expiring, five tries.
//! - Asking for a code answers the same whether the login name exists or not.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tus_wire::views::Action;

use crate::audit::AuditAction;
use crate::auth::LoginName;
use crate::error::{CoreError, CoreResult};
use crate::principal::Principal;
use crate::ratelimit::Throttle;
use crate::sealing::derive_key;
use crate::secret::{constant_time_eq, Password, SigningKey};
use crate::store::{LoginColumn, MessageFilter, MessageRow, NewAuditRow, Settlement, UserRow};
use crate::time::{iso, ms};
use crate::tokens::hex;
use crate::types::{DeviceToken, InstanceId, Phone};
use crate::users::patch::UserPatch;
use crate::{Core, RequestMeta};
use tus_wire::views::{DeliveryAttemptView, DeliveryQuery, DeliveryView};

/// The sealing purpose of outbox bodies; each body is bound to its message id.
pub(crate) const OUTBOX_SEALING: &[u8] = b"tus/outbox/v1";

/// How many wrong codes a code survives.
pub const CODE_TRIES: i64 = 5;

/// What the outbox may use and how it retries.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// E-mail can be sent (SMTP is configured).
    pub email: bool,
    /// SMS can be sent (a gateway is configured).
    pub sms: bool,
    /// Attempts before a message is marked failed.
    pub max_attempts: i64,
    /// The first retry's delay (ms); each later one doubles, up to an hour, ±25 % jitter.
    pub retry_base_ms: i64,
    /// How long a sender holds a claimed message before another may take it (ms).
    pub lease_ms: i64,
    /// How long a login code works (seconds).
    pub code_ttl_secs: i64,
    /// How long an invite's link or code works (seconds).
    pub invite_ttl_secs: i64,
    /// Where links point (`TUS_PUBLIC_URL`).
    pub public_url: Option<String>,
    /// Attempts of a webhook delivery before it fails (back-off doubling to an hour: hours).
    pub webhook_attempts: i64,
    /// How long a webhook may keep failing before it is disabled (ms).
    pub webhook_disable_after_ms: i64,
    /// How long events and ended webhook deliveries are kept (for replay and the log; ms).
    pub event_retention_ms: i64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            email: false,
            sms: false,
            max_attempts: 8,
            retry_base_ms: 10_000,
            lease_ms: 60_000,
            code_ttl_secs: 600,
            invite_ttl_secs: 7 * 24 * 3600,
            public_url: None,
            webhook_attempts: 16,
            webhook_disable_after_ms: 24 * 3600 * 1000,
            event_retention_ms: 30 * 24 * 3600 * 1000,
        }
    }
}

/// A way to reach a driver; `Deliver` names it on the wire (`Email`, `Sms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Sms];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }

    /// The wire name, as `Deliver` takes it (any case).
    pub fn wire(self) -> &'static str {
        match self {
            Channel::Email => "Email",
            Channel::Sms => "Sms",
        }
    }

    pub fn parse(value: &str) -> Result<Channel, String> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| "must be Email or Sms".to_string())
    }

    /// The `Deliver` field as every edge takes it: required, Email or Sms.
    pub fn deliver(value: Option<&str>) -> Result<Channel, String> {
        match value {
            Some(v) => Channel::parse(v),
            None => Err("is required: Email or Sms".into()),
        }
    }

    /// What an operator sets to enable it.
    fn setting(self) -> &'static str {
        match self {
            Channel::Email => "TUS_SMTP_URL",
            Channel::Sms => "TUS_SMS_URL",
        }
    }
}

/// Why a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Password,
    LoginCode,
    Invite,
    /// An admin's invite, or a password reset an Owner sent: a link to `/join`.
    AdminLink,
    Test,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Password => "password",
            Purpose::LoginCode => "login_code",
            Purpose::Invite => "invite",
            Purpose::AdminLink => "admin_link",
            Purpose::Test => "test",
        }
    }
}

/// The outbox kind of webhook deliveries (messages have their channel's, `Channel::as_str`).
pub const WEBHOOK_KIND: &str = "webhook";

/// A message's state in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    Queued,
    Sending,
    Sent,
    Failed,
    Cancelled,
}

impl MessageState {
    pub const ALL: [MessageState; 5] = [
        MessageState::Queued,
        MessageState::Sending,
        MessageState::Sent,
        MessageState::Failed,
        MessageState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Queued => "queued",
            MessageState::Sending => "sending",
            MessageState::Sent => "sent",
            MessageState::Failed => "failed",
            MessageState::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Result<MessageState, String> {
        MessageState::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| "must be queued, sending, sent, failed or cancelled".to_string())
    }
}

/// What is sealed: the bodies.
#[derive(Serialize, Deserialize)]
pub(crate) struct Body {
    text: String,
    html: String,
}

/// A claimed message, opened, for a sender.
#[derive(Clone)]
pub struct Outgoing {
    /// Stable over attempts: the receiver deduplicates on it.
    pub id: String,
    pub channel: Channel,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// This attempt's number (1 for the first); settling names it.
    pub attempt: i64,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// A login code to send: made only by `request_login_code`, for an active user with an
/// address on the channel.
pub struct CodeToSend {
    user: UserRow,
    channel: Channel,
    to: String,
}

/// The key of login-code hashes.
pub(crate) struct CodeKey([u8; 32]);

impl CodeKey {
    pub fn new(signing_key: &SigningKey) -> CoreResult<Self> {
        derive_key(signing_key, b"tus/login-codes/v1").map(CodeKey)
    }

    /// Bound to the user, so a code hash means nothing for another user.
    pub(crate) fn hash(&self, device_token: &str, code: &str) -> CoreResult<String> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).map_err(CoreError::internal)?;
        mac.update(device_token.as_bytes());
        mac.update(b"/");
        mac.update(code.as_bytes());
        Ok(hex(&mac.finalize().into_bytes()))
    }
}

/// Six digits, uniformly.
pub(crate) fn generate_code() -> String {
    format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
}

/// The delay before attempt `attempt + 1`: `base`·2^(attempt−1), at most an hour, times a
/// jitter factor in [0.75, 1.25).
pub fn retry_delay_ms(base_ms: i64, attempt: i64, jitter: f64) -> i64 {
    let doubled = base_ms
        .max(1)
        .saturating_mul(1i64 << (attempt - 1).clamp(0, 30));
    let capped = doubled.min(3_600_000) as f64;
    (capped * (0.75 + 0.5 * jitter.clamp(0.0, 1.0))) as i64
}

/// An SMS recipient in E.164: `+`, a country code, at most 15 digits.
pub fn e164(phone: &str) -> Result<String, String> {
    let compact = Phone::parse(phone)?;
    let digits = compact.as_str().strip_prefix('+').unwrap_or_default();
    if digits.len() < 8 || digits.len() > 15 || digits.starts_with('0') {
        return Err(
            "must be a phone number in international form (E.164), like +15550100000".into(),
        );
    }
    Ok(compact.as_str().to_string())
}

/// `600` -> "10 minutes", `604800` -> "7 days": how long a code or link works, in words.
pub fn duration_words(secs: i64) -> String {
    let (n, unit) = match secs {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s => ((s + 59) / 60, "minute"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Escapes text for HTML bodies (names are chosen by admins).
fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Where a message goes, and what it says.
pub(crate) struct Draft {
    pub channel: Channel,
    pub purpose: Purpose,
    pub to: String,
    pub device_token: Option<String>,
    pub instance_id: Option<String>,
    pub subject: String,
    pub body: Body,
    pub requested_by: String,
}

/// The words of a message about `secret` for a driver of `app` / `instance`.
pub(crate) fn compose(
    purpose: Purpose,
    app: &str,
    instance: &str,
    secret: &str,
    ttl: &str,
) -> (String, Body) {
    let (subject, line) = match purpose {
        Purpose::Password => (
            format!("Your new password for {app}"),
            format!("Your new password for {app} ({instance}) is: {secret}"),
        ),
        Purpose::LoginCode => (
            format!("Your login code for {app}"),
            format!(
                "Your login code for {app} ({instance}) is {secret}. It works once, for {ttl}."
            ),
        ),
        Purpose::Invite => (
            format!("You are invited to {app}"),
            format!(
                "You are invited to {app} ({instance}). Your code is {secret}: log in to the app \
                 with your phone number and this code. It works once, for {ttl}."
            ),
        ),
        Purpose::AdminLink => (
            format!("Your admin account on {app}"),
            format!(
                "Set your password for the {app} dashboard: {secret}. It works once, for {ttl}."
            ),
        ),
        Purpose::Test => (
            format!("Test message from {app}"),
            format!("This is a test message from {app}. Delivery works."),
        ),
    };
    (subject, wrap(&line, None))
}

/// The text and HTML bodies around `line`, with a button to `link` when there is one.
pub(crate) fn wrap(line: &str, link: Option<(&str, &str)>) -> Body {
    const IGNORE: &str = "If you did not expect this message, you can ignore it.";
    let (text_link, html_link) = match link {
        Some((label, url)) => (
            format!("\n\n{label}: {url}"),
            format!(
                "<p><a href=\"{}\" style=\"display:inline-block;padding:10px 16px;\
                 background:#0f172a;color:#fff;border-radius:6px;text-decoration:none\">{}</a></p>\
                 <p style=\"color:#64748b;font-size:12px\">{}</p>",
                escape_html(url),
                escape_html(label),
                escape_html(url)
            ),
        ),
        None => (String::new(), String::new()),
    };
    let text = format!("{line}{text_link}\n\n{IGNORE}\n");
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><p>{}</p>{html_link}\
         <p style=\"color:#64748b\">{IGNORE}</p></body></html>",
        escape_html(line)
    );
    Body { text, html }
}

/// The Deliveries list's filter, from what an edge received (blank values ignored, names in
/// any case); every bad value named at once.
pub fn message_filter(q: &DeliveryQuery) -> CoreResult<MessageFilter> {
    let mut errors = crate::error::FieldErrors::default();
    let given = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
    let filter = MessageFilter {
        device_token: given(&q.device_token)
            .and_then(|v| errors.take("DeviceToken", DeviceToken::parse(&v)))
            .map(|d| d.to_string()),
        kind: given(&q.kind)
            .and_then(|v| errors.take("Kind", Channel::parse(&v)))
            .map(|c| c.as_str().to_string()),
        state: given(&q.state)
            .and_then(|v| errors.take("State", MessageState::parse(&v)))
            .map(|s| s.as_str().to_string()),
        before: given(&q.before)
            .and_then(|v| {
                errors.take(
                    "Before",
                    uuid::Uuid::try_parse(v.trim())
                        .map_err(|_| "must be the Id of a message".to_string()),
                )
            })
            .map(|id| id.to_string()),
    };
    errors.into_result()?;
    Ok(filter)
}

/// The stored row of a message as the dashboard and the API show it (never its body).
fn delivery_view(m: MessageRow) -> DeliveryView {
    DeliveryView {
        id: m.id,
        kind: m.kind,
        purpose: m.purpose,
        to: mask_recipient(&m.recipient),
        device_token: m.device_token,
        next_attempt_at: (m.state == "queued").then(|| iso(m.due_at)),
        state: m.state,
        attempts: m.attempts,
        created_at: iso(m.created_at),
        sent_at: m.sent_at.map(iso),
        last_error: m.last_error,
        requested_by: m.requested_by,
        attempt_log: Vec::new(),
    }
}

/// `ann@example.com` → `a••@example.com`, `+15550100023` → `+1•••••••023`: enough to tell
/// messages apart, not to harvest addresses from a screen.
pub fn mask_recipient(to: &str) -> String {
    if let Some((local, domain)) = to.split_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}••@{domain}");
    }
    let chars: Vec<char> = to.chars().collect();
    if chars.len() <= 5 {
        return "•".repeat(chars.len());
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 3..].iter().collect();
    format!("{head}{}{tail}", "•".repeat(chars.len() - 5))
}

impl Core {
    pub fn delivery_settings(&self) -> &DeliverySettings {
        &self.inner.delivery
    }

    pub(crate) fn ensure_channel(&self, channel: Channel) -> CoreResult<()> {
        let on = match channel {
            Channel::Email => self.inner.delivery.email,
            Channel::Sms => self.inner.delivery.sms,
        };
        if on {
            return Ok(());
        }
        Err(CoreError::validation(
            "Deliver",
            format!(
                "{} is not configured on this server (set {})",
                channel.wire(),
                channel.setting()
            ),
        ))
    }

    /// The row of a message, its body sealed; written by the caller's transaction.
    pub(crate) fn message_row(&self, now: DateTime<Utc>, draft: Draft) -> CoreResult<MessageRow> {
        let id = uuid::Uuid::new_v4().to_string();
        let body = serde_json::to_string(&draft.body).map_err(CoreError::internal)?;
        let sealed = self.inner.outbox_sealer.seal(&id, &body)?;
        Ok(MessageRow {
            id,
            kind: draft.channel.as_str().into(),
            purpose: draft.purpose.as_str().into(),
            recipient: draft.to,
            device_token: draft.device_token,
            instance_id: draft.instance_id,
            subject: draft.subject,
            sealed: Some(sealed),
            state: MessageState::Queued.as_str().into(),
            attempts: 0,
            due_at: ms(now),
            created_at: ms(now),
            updated_at: ms(now),
            sent_at: None,
            last_error: None,
            requested_by: draft.requested_by,
        })
    }

    /// The address of `user` on `channel`, or a 422 saying the user has none.
    pub(crate) fn recipient(user: &UserRow, channel: Channel) -> CoreResult<String> {
        Self::address_on(user.email.as_deref(), user.phone.as_deref(), channel)
    }

    /// The address among a user's `email` and `phone` that `channel` sends to.
    pub(crate) fn address_on(
        email: Option<&str>,
        phone: Option<&str>,
        channel: Channel,
    ) -> CoreResult<String> {
        match channel {
            Channel::Email => email
                .map(str::to_string)
                .ok_or_else(|| CoreError::validation("Deliver", "the user has no Email")),
            Channel::Sms => {
                let phone = phone
                    .ok_or_else(|| CoreError::validation("Deliver", "the user has no Phone"))?;
                e164(phone).map_err(|m| CoreError::validation("Phone", m))
            }
        }
    }

    /// The message carrying a new `password` to a user (by `actor`), sealed, to be written
    /// in the transaction that sets the password.
    pub(crate) async fn password_message(
        &self,
        now: DateTime<Utc>,
        user: &crate::store::NewUserRow,
        channel: Channel,
        password: &Password,
        actor: &str,
    ) -> CoreResult<MessageRow> {
        let to = Self::address_on(user.email.as_deref(), user.phone.as_deref(), channel)?;
        let (app, instance) = self.names_of(&user.instance_id).await?;
        let (subject, body) = compose(Purpose::Password, &app, &instance, password.expose(), "");
        self.message_row(
            now,
            Draft {
                channel,
                purpose: Purpose::Password,
                to,
                device_token: Some(user.device_token.clone()),
                instance_id: Some(user.instance_id.clone()),
                subject,
                body,
                requested_by: actor.to_string(),
            },
        )
    }

    /// The names a message shows: the application and the instance.
    pub(crate) async fn names_of(&self, instance_id: &str) -> CoreResult<(String, String)> {
        let row = self
            .store()
            .find_instance(instance_id)
            .await?
            .ok_or_else(|| CoreError::NotFound("no instance has this InstanceId".into()))?;
        Ok((row.app_name, row.name))
    }

    /// Admin: a new password for a user with an e-mail or phone, delivered on `channel`.
    /// Nobody sees it: it is stored as argon2id and sealed in the outbox until sent. The
    /// user's sessions end. Answers the message.
    pub async fn send_new_password(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        target: DeviceToken,
        channel: Channel,
        meta: &RequestMeta,
    ) -> CoreResult<DeliveryView> {
        principal.allow(Action::WriteUsers)?;
        let user = principal.visible_user(self.store().find_user(&target.to_string()).await?)?;
        self.ensure_channel(channel)?;
        let to = Self::recipient(&user, channel)?;
        let (app, instance) = self.names_of(&user.instance_id).await?;
        let password: Password = crate::admins::generate_password();
        let hash = self.hash_password(&password).await?;
        let (subject, body) = compose(Purpose::Password, &app, &instance, password.expose(), "");
        let row = self.message_row(
            now,
            Draft {
                channel,
                purpose: Purpose::Password,
                to,
                device_token: Some(target.to_string()),
                instance_id: Some(user.instance_id.clone()),
                subject,
                body,
                requested_by: principal.actor(),
            },
        )?;
        let mut tx = self.store().begin().await?;
        let stored = principal.visible_user(tx.user_for_update(&target).await?)?;
        tx.apply_user_patch(&target, &UserPatch::default(), Some(&hash), ms(now))
            .await?;
        let ended = tx
            .revoke_families_of(&target.to_string(), ms(now), "new password sent")
            .await?;
        if ended > 0 {
            tx.insert_events(&[crate::events::NewEvent::of_user(
                crate::events::EventType::UserSessionsRevoked,
                now,
                &stored,
                &principal.actor(),
                serde_json::json!({ "Detail": format!("{ended} sessions ended: new password sent") }),
            )])
            .await?;
        }
        tx.insert_message(&row).await?;
        tx.audit(&principal.audit(
            now,
            AuditAction::PasswordSent,
            format!("user:{target}"),
            format!(
                "new password sent by {} (message {}); {ended} sessions ended",
                channel.wire(),
                row.id
            ),
            meta,
        ))
        .await?;
        tx.commit().await?;
        Ok(delivery_view(row))
    }

    /// `POST /v1/Auth/Code`, first half: the request checked (channel, InstanceId) and
    /// counted against the throttles, and the user looked up. `Some` when a code is to be
    /// sent (`send_login_code`); `None`, said the same way, when there is nobody to send to.
    /// The edge answers before the second half runs, so the answer takes as long either way.
    pub async fn request_login_code(
        &self,
        now: DateTime<Utc>,
        instance_header: &str,
        name: &LoginName,
        meta: &RequestMeta,
    ) -> CoreResult<Option<CodeToSend>> {
        let (channel, column) = match name {
            LoginName::Email(_) => (Channel::Email, LoginColumn::Email),
            LoginName::Phone(_) => (Channel::Sms, LoginColumn::Phone),
            LoginName::DeviceToken(_) => {
                return Err(CoreError::validation(
                    "LoginFields",
                    "a code is sent to an Email or a Phone",
                ))
            }
        };
        self.ensure_channel(channel)?;
        let instance = InstanceId::parse(instance_header)
            .map_err(|m| CoreError::validation("InstanceId", m))?
            .to_string();
        let canonical = name.canonical();
        let throttle = Throttle::code_request(&format!("{instance}:{}", name.describe()), meta);
        self.admit(now, &throttle, meta).await?;
        let user = self
            .store()
            .find_user_by_login(&instance, column, &canonical)
            .await?;
        let active = match &user {
            Some(row) => crate::users::User::try_from(row.clone())?
                .ensure_active()
                .is_ok(),
            None => false,
        };
        let Some(user) = user.filter(|_| active) else {
            return Ok(None);
        };
        let Ok(to) = Self::recipient(&user, channel) else {
            return Ok(None);
        };
        Ok(Some(CodeToSend { user, channel, to }))
    }

    /// `POST /v1/Auth/Code`, second half: the code, its hash and its message, written in one
    /// transaction.
    pub async fn send_login_code(
        &self,
        now: DateTime<Utc>,
        pending: CodeToSend,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        let CodeToSend { user, channel, to } = pending;
        let (app, instance_name) = self.names_of(&user.instance_id).await?;
        let code = generate_code();
        let ttl = self.inner.delivery.code_ttl_secs.max(60);
        let (subject, body) = compose(
            Purpose::LoginCode,
            &app,
            &instance_name,
            &code,
            &duration_words(ttl),
        );
        let row = self.message_row(
            now,
            Draft {
                channel,
                purpose: Purpose::LoginCode,
                to,
                device_token: Some(user.device_token.clone()),
                instance_id: Some(user.instance_id.clone()),
                subject,
                body,
                requested_by: "anonymous".into(),
            },
        )?;
        let hash = self.inner.codes.hash(&user.device_token, &code)?;
        let mut tx = self.store().begin().await?;
        tx.insert_login_code(
            "code",
            &user.device_token,
            &hash,
            ms(now),
            ms(now) + ttl * 1000,
        )
        .await?;
        tx.insert_message(&row).await?;
        tx.audit(
            &NewAuditRow::new(
                now,
                "anonymous",
                AuditAction::LoginCodeSent,
                format!("user:{}", user.device_token),
                format!("login code sent by {} (message {})", channel.wire(), row.id),
            )
            .from(meta),
        )
        .await?;
        tx.commit().await
    }

    /// A code given at login: right when it matches a live code of the user; every code
    /// of the user then stops working. A wrong one costs every live code a try.
    pub(crate) async fn redeem_login_code(
        &self,
        now: DateTime<Utc>,
        device_token: &str,
        code: &str,
    ) -> CoreResult<bool> {
        let given = self.inner.codes.hash(device_token, code.trim())?;
        let mut tx = self.store().begin().await?;
        let live = tx
            .live_login_codes(device_token, ms(now), CODE_TRIES)
            .await?;
        let right = live
            .iter()
            .any(|c| constant_time_eq(c.code_hash.as_bytes(), given.as_bytes()));
        if right {
            tx.use_login_codes(device_token, ms(now)).await?;
        } else {
            let ids: Vec<String> = live.into_iter().map(|c| c.id).collect();
            tx.count_login_code_tries(&ids).await?;
        }
        tx.commit().await?;
        Ok(right)
    }

    /// Admin: a test message to `to` on `channel` (the dashboard's "send a test message").
    pub async fn send_test_message(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        channel: Channel,
        to: &str,
        meta: &RequestMeta,
    ) -> CoreResult<DeliveryView> {
        principal.allow(Action::Deliveries)?;
        self.ensure_channel(channel)?;
        let to = match channel {
            Channel::Email => crate::types::Email::parse(to)
                .map_err(|m| CoreError::validation("To", m))?
                .as_str()
                .to_string(),
            Channel::Sms => e164(to).map_err(|m| CoreError::validation("To", m))?,
        };
        let (subject, body) = compose(Purpose::Test, "the Telematics User Service", "", "", "");
        let row = self.message_row(
            now,
            Draft {
                channel,
                purpose: Purpose::Test,
                to,
                device_token: None,
                instance_id: None,
                subject,
                body,
                requested_by: principal.actor(),
            },
        )?;
        let mut tx = self.store().begin().await?;
        tx.insert_message(&row).await?;
        tx.audit(&principal.audit(
            now,
            AuditAction::TestMessageSent,
            format!("message:{}", row.id),
            format!("test message by {}", channel.wire()),
            meta,
        ))
        .await?;
        tx.commit().await?;
        Ok(delivery_view(row))
    }

    /// For a sender: up to `limit` due messages, claimed for the lease and opened.
    pub async fn claim_due_messages(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> CoreResult<Vec<Outgoing>> {
        let lease_until = ms(now) + self.inner.delivery.lease_ms.max(1000);
        let mut tx = self.store().begin().await?;
        let rows = tx.claim_messages(ms(now), lease_until, limit).await?;
        tx.commit().await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let channel = Channel::parse(&row.kind).map_err(CoreError::internal)?;
            let Some(sealed) = &row.sealed else {
                // A body is only deleted by sending or cancelling, which end claims.
                return Err(CoreError::internal("a claimed message has no body"));
            };
            let body: Body = serde_json::from_str(&self.inner.outbox_sealer.open(&row.id, sealed)?)
                .map_err(CoreError::internal)?;
            out.push(Outgoing {
                id: row.id,
                channel,
                to: row.recipient,
                subject: row.subject,
                text: body.text,
                html: body.html,
                attempt: row.attempts,
            });
        }
        Ok(out)
    }

    /// For a sender: how its attempt went (`Err`: the error text, without secrets).
    /// Answers the message's state after.
    pub async fn settle_message(
        &self,
        now: DateTime<Utc>,
        message: &Outgoing,
        result: Result<(), String>,
    ) -> CoreResult<MessageState> {
        let settings = &self.inner.delivery;
        let (settlement, state) = match &result {
            Ok(()) => (Settlement::Sent, MessageState::Sent),
            Err(error) if message.attempt >= settings.max_attempts => {
                (Settlement::Failed { error }, MessageState::Failed)
            }
            Err(error) => {
                let jitter = rand::rngs::OsRng.gen_range(0.0..1.0);
                let delay = retry_delay_ms(settings.retry_base_ms, message.attempt, jitter);
                (
                    Settlement::Retry {
                        retry_at: ms(now) + delay,
                        error,
                    },
                    MessageState::Queued,
                )
            }
        };
        let mut tx = self.store().begin().await?;
        let settled = tx
            .settle_message(&message.id, message.attempt, ms(now), settlement)
            .await?;
        tx.commit().await?;
        Ok(if settled {
            state
        } else {
            MessageState::Sending
        })
    }

    /// Admin: messages newest first (the Deliveries page, a user's recent deliveries).
    pub async fn deliveries(
        &self,
        principal: &Principal,
        filter: &MessageFilter,
        limit: i64,
    ) -> CoreResult<Vec<DeliveryView>> {
        principal.allow(Action::Deliveries)?;
        let rows = self.store().messages(filter, limit.clamp(1, 200)).await?;
        Ok(rows.into_iter().map(delivery_view).collect())
    }

    /// The latest messages to one user (the user page): for whoever may read that user.
    pub async fn user_deliveries(
        &self,
        principal: &Principal,
        target: DeviceToken,
        limit: i64,
    ) -> CoreResult<Vec<DeliveryView>> {
        principal.allow(Action::ReadUsers)?;
        let user = principal.visible_user(self.store().find_user(&target.to_string()).await?)?;
        let filter = MessageFilter {
            device_token: Some(user.device_token),
            ..MessageFilter::default()
        };
        let rows = self.store().messages(&filter, limit.clamp(1, 200)).await?;
        Ok(rows.into_iter().map(delivery_view).collect())
    }

    /// Admin: one message with every attempt.
    pub async fn delivery(&self, principal: &Principal, id: &str) -> CoreResult<DeliveryView> {
        principal.allow(Action::Deliveries)?;
        // The log first: a settlement writes an attempt and the row's state together, so a
        // row read after the log is never older than it (read the other way round, a
        // settlement between the two reads showed an attempt's error with no LastError).
        let attempts = self.store().message_attempts(id).await?;
        let row = self
            .store()
            .message(id)
            .await?
            .ok_or_else(|| CoreError::NotFound("no message has this id".into()))?;
        let mut view = delivery_view(row);
        view.attempt_log = attempts
            .into_iter()
            .map(|a| DeliveryAttemptView {
                attempt: a.attempt,
                at: iso(a.at),
                outcome: a.outcome,
                error: a.error,
            })
            .collect();
        Ok(view)
    }

    /// Admin: a failed message queued again, or a queued or failed one cancelled.
    pub async fn retry_or_cancel_delivery(
        &self,
        now: DateTime<Utc>,
        principal: &Principal,
        id: &str,
        cancel: bool,
        meta: &RequestMeta,
    ) -> CoreResult<DeliveryView> {
        principal.allow(Action::Deliveries)?;
        let mut tx = self.store().begin().await?;
        let (changed, action, verb) = if cancel {
            (
                tx.cancel_message(id, ms(now)).await?,
                AuditAction::DeliveryCancelled,
                "cancelled",
            )
        } else {
            (
                tx.requeue_failed_message(id, ms(now)).await?,
                AuditAction::DeliveryRetried,
                "queued again",
            )
        };
        if !changed {
            return Err(CoreError::Conflict {
                key: "State".into(),
                message: if cancel {
                    "only a queued or failed message can be cancelled".into()
                } else {
                    "only a failed message can be retried".into()
                },
            });
        }
        tx.audit(&principal.audit(now, action, format!("message:{id}"), verb, meta))
            .await?;
        tx.commit().await?;
        self.delivery(principal, id).await
    }

    /// Codes that can no longer be used, deleted (housekeeping).
    pub async fn purge_login_codes(&self, now: DateTime<Utc>) -> CoreResult<u64> {
        self.store().purge_login_codes(ms(now)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_an_hour_with_bounded_jitter() {
        assert_eq!(retry_delay_ms(10_000, 1, 0.5), 10_000);
        assert_eq!(retry_delay_ms(10_000, 2, 0.5), 20_000);
        assert_eq!(retry_delay_ms(10_000, 4, 0.5), 80_000);
        assert_eq!(retry_delay_ms(10_000, 40, 0.5), 3_600_000);
        assert_eq!(retry_delay_ms(10_000, 1, 0.0), 7_500);
        assert_eq!(retry_delay_ms(10_000, 1, 1.0), 12_500);
    }

    #[test]
    fn lifetimes_read_as_words() {
        assert_eq!(duration_words(600), "10 minutes");
        assert_eq!(duration_words(90), "2 minutes");
        assert_eq!(duration_words(7200), "2 hours");
        assert_eq!(duration_words(86_400), "1 day");
        assert_eq!(duration_words(604_800), "7 days");
    }

    #[test]
    fn sms_goes_only_to_international_numbers() {
        assert_eq!(e164("+1 (555) 010-0023").unwrap(), "+15550100023");
        assert!(e164("5550100023").is_err());
        assert!(e164("+0123456789").is_err());
        assert!(e164("+1234").is_err());
        assert!(e164("+1234567890123456").is_err());
    }

    #[test]
    fn recipients_are_masked_and_names_escaped() {
        assert_eq!(mask_recipient("ann@example.com"), "a••@example.com");
        assert_eq!(mask_recipient("+15550100023"), "+1•••••••023");
        let (_, body) = compose(Purpose::Test, "<b>Fleet</b>", "", "", "");
        assert!(body.html.contains("&lt;b&gt;Fleet&lt;/b&gt;"));
        assert!(!body.html.contains("<b>Fleet"));
    }

    #[test]
    fn codes_are_six_digits_and_their_hashes_bound_to_the_user() {
        let key = CodeKey::new(&SigningKey::new(vec![1; 32])).unwrap();
        let code = generate_code();
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
        assert_ne!(
            key.hash("u1", &code).unwrap(),
            key.hash("u2", &code).unwrap()
        );
        assert_eq!(
            key.hash("u1", &code).unwrap(),
            key.hash("u1", &code).unwrap()
        );
    }

    use crate::auth::{LoginAttempt, Proof};
    use crate::testing::{admin, at, fleet, test_core};
    use tus_wire::model::RegisterRequest;

    fn both_channels(c: &mut crate::CoreConfig) {
        c.delivery.email = true;
        c.delivery.sms = true;
        c.delivery.max_attempts = 3;
        c.delivery.retry_base_ms = 1_000;
        c.delivery.lease_ms = 60_000;
        c.delivery.code_ttl_secs = 600;
    }

    #[tokio::test]
    async fn a_claimed_message_is_leased_retried_with_backoff_then_failed_and_kept_visible() {
        let t = test_core(both_channels).await;
        let meta = RequestMeta::default();
        let queued = t
            .core
            .send_test_message(at(0), &admin(), Channel::Email, "ops@x.io", &meta)
            .await
            .unwrap();
        let first = t.core.claim_due_messages(at(0), 10).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(
            (first[0].id.as_str(), first[0].attempt),
            (queued.id.as_str(), 1)
        );
        assert!(first[0].text.contains("test message"));
        // Leased: nobody else takes it until the lease runs out.
        assert!(t
            .core
            .claim_due_messages(at(30), 10)
            .await
            .unwrap()
            .is_empty());
        // The lease ran out (a sender died): taken again, same id, next attempt; the dead
        // sender's late settlement changes nothing.
        let again = t.core.claim_due_messages(at(61), 10).await.unwrap();
        assert_eq!(
            (again[0].id.as_str(), again[0].attempt),
            (queued.id.as_str(), 2)
        );
        let stale = t
            .core
            .settle_message(at(62), &first[0], Ok(()))
            .await
            .unwrap();
        assert_eq!(stale, MessageState::Sending);
        // A failure queues it again after the back-off (attempt 2: 2 s ± 25 %).
        let state = t
            .core
            .settle_message(at(62), &again[0], Err("SMTP: connection refused".into()))
            .await
            .unwrap();
        assert_eq!(state, MessageState::Queued);
        assert!(t
            .core
            .claim_due_messages(at(63), 10)
            .await
            .unwrap()
            .is_empty());
        let third = t.core.claim_due_messages(at(65), 10).await.unwrap();
        assert_eq!(third[0].attempt, 3);
        let state = t
            .core
            .settle_message(at(65), &third[0], Err("SMTP: connection refused".into()))
            .await
            .unwrap();
        assert_eq!(state, MessageState::Failed, "max_attempts is 3");
        assert!(t
            .core
            .claim_due_messages(at(9_999), 10)
            .await
            .unwrap()
            .is_empty());
        let shown = t.core.delivery(&admin(), &queued.id).await.unwrap();
        assert_eq!(shown.state, "failed");
        assert_eq!(
            shown.attempt_log.len(),
            2,
            "the stale settlement wrote no attempt"
        );
        // Retried by an admin: queued at once, attempts counted afresh; then cancelled.
        let retried = t
            .core
            .retry_or_cancel_delivery(at(10_000), &admin(), &queued.id, false, &meta)
            .await
            .unwrap();
        assert_eq!(retried.state, "queued");
        let cancelled = t
            .core
            .retry_or_cancel_delivery(at(10_001), &admin(), &queued.id, true, &meta)
            .await
            .unwrap();
        assert_eq!(cancelled.state, "cancelled");
        let row = t.core.store().message(&queued.id).await.unwrap().unwrap();
        assert!(row.sealed.is_none(), "a cancelled body is deleted");
        assert!(t
            .core
            .claim_due_messages(at(10_002), 10)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn pages_of_the_outbox_follow_each_other_when_messages_share_a_time() {
        let t = test_core(both_channels).await;
        for n in 0..150 {
            t.core
                .send_test_message(
                    at(0),
                    &admin(),
                    Channel::Email,
                    &format!("ops{n}@x.io"),
                    &RequestMeta::default(),
                )
                .await
                .unwrap();
        }
        let first = t
            .core
            .deliveries(&admin(), &MessageFilter::default(), 100)
            .await
            .unwrap();
        let filter = message_filter(&DeliveryQuery {
            before: Some(first.last().unwrap().id.clone()),
            ..Default::default()
        })
        .unwrap();
        let second = t.core.deliveries(&admin(), &filter, 100).await.unwrap();
        assert_eq!((first.len(), second.len()), (100, 50));
        let mut ids: Vec<_> = first.iter().chain(&second).map(|d| d.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 150, "no message skipped or shown twice");
        let bad = message_filter(&DeliveryQuery {
            before: Some("2026-01-01".into()),
            kind: Some("fax".into()),
            ..Default::default()
        })
        .unwrap_err();
        let CoreError::Validation(fields) = bad else {
            panic!("{bad:?}")
        };
        let keys: Vec<_> = fields.0.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, vec!["Kind", "Before"]);
    }

    #[tokio::test]
    async fn two_senders_claiming_at_once_never_take_one_message_twice() {
        let t = test_core(both_channels).await;
        for n in 0..40 {
            t.core
                .send_test_message(
                    at(0),
                    &admin(),
                    Channel::Sms,
                    &format!("+1555010{n:04}"),
                    &RequestMeta::default(),
                )
                .await
                .unwrap();
        }
        let (a, b) = tokio::join!(
            t.core.claim_due_messages(at(1), 25),
            t.core.claim_due_messages(at(1), 25)
        );
        let mut ids: Vec<String> = a
            .unwrap()
            .into_iter()
            .chain(b.unwrap())
            .map(|m| m.id)
            .collect();
        assert_eq!(ids.len(), 40);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 40);
    }

    #[tokio::test]
    async fn a_login_code_works_once_and_not_after_it_expires() {
        let t = test_core(both_channels).await;
        let i = fleet(&t).await;
        let meta = RequestMeta::default();
        t.core
            .register(
                at(0),
                &i.credentials(),
                RegisterRequest {
                    email: Some("d@x.io".into()),
                    password: Some("driver password 1".into()),
                    ..Default::default()
                },
                &meta,
            )
            .await
            .unwrap();
        let name = LoginName::Email("d@x.io".into());
        let code_at = |when| {
            let core = t.core.clone();
            let name = name.clone();
            let instance = i.id.to_string();
            async move {
                let pending = core
                    .request_login_code(when, &instance, &name, &RequestMeta::default())
                    .await
                    .unwrap()
                    .unwrap();
                core.send_login_code(when, pending, &RequestMeta::default())
                    .await
                    .unwrap();
                let sent = core.claim_due_messages(when, 10).await.unwrap();
                let text = &sent.last().unwrap().text;
                text.split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == 6)
                    .unwrap()
                    .to_string()
            }
        };
        let login = |when, code: &str| {
            let attempt = LoginAttempt {
                device: None,
                name: name.clone(),
                proof: Proof::Code(Password::new(code)),
                totp: None,
            };
            let core = t.core.clone();
            let instance = i.id.to_string();
            async move {
                core.login(when, Some(&instance), attempt, &RequestMeta::default())
                    .await
            }
        };
        let code = code_at(at(10)).await;
        assert!(login(at(20), &code).await.is_ok());
        assert!(login(at(21), &code).await.is_err(), "used");
        let late = code_at(at(100)).await;
        assert!(
            login(at(100 + 601), &late).await.is_err(),
            "expired after ten minutes"
        );
        // Nothing a code leaves behind holds it: only its keyed hash is stored.
        let rows = t
            .core
            .store()
            .audit_entries("login.code_sent")
            .await
            .unwrap();
        assert!(rows.iter().all(|r| !r.detail.contains(&late)));
    }
}
