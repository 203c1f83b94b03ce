//! Webhooks: subscriptions of other systems to events (`crate::events`), delivered through
//! the outbox, signed the Standard Webhooks way.
//!
//! Invariants:
//! - An event is fanned out once, by one dispatcher at a time, to every enabled webhook
//!   whose types and scope it matches; each delivery is an outbox row with the event's seq.
//! - A user's events reach one webhook in seq order: a delivery waits while an earlier one
//!   of the same user to the same webhook is queued or sending (a final failure ends the
//!   wait). At least once: the receiver deduplicates on `webhook-id` (the event id).
//! - 2xx settles a delivery; 5xx, 408, 429, timeouts and connection errors retry with
//!   back-off (`webhook_attempts`, hours in all); any other 4xx is final. A webhook failing
//!   longer than `webhook_disable_after_ms` is disabled, audited, and shown.
//! - The signing secret is shown once (creation, rotation) and sealed at rest; during a
//!   rotation's overlap both secrets sign every request.

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use sha2::Sha256;

use crate::audit::AuditAction;
use crate::error::{CoreError, CoreResult, FieldErrors};
use crate::events::{EventType, NewEvent};
use crate::outbox::retry_delay_ms;
use crate::principal::Principal;
use crate::store::{NewWebhookDelivery, Settlement, WebhookRow};
use crate::time::{iso, ms};
use crate::types::{parse_datetime, parse_text, ApplicationId, InstanceId};
use crate::{Core, RequestMeta};
use tus_wire::model::{
    WebhookDeliveryView, WebhookInput, WebhookReplay, WebhookView, WebhookWithSecret,
};
use tus_wire::views::Action;

/// The sealing purpose of webhook secrets; each is bound to its webhook's id.
pub(crate) const WEBHOOK_SEALING: &[u8] = b"tus/webhooks/v1";

/// What a secret starts with (Standard Webhooks).
const SECRET_PREFIX: &str = "whsec_";

/// Events fanned out per dispatcher round.
const DISPATCH_BATCH: i64 = 500;

/// Most events one replay sends.
pub const MAX_REPLAY: i64 = 100_000;

/// Longest URL, description and scope list of a webhook.
const MAX_URL: usize = 2048;
const MAX_DESCRIPTION: usize = 500;
const MAX_SCOPE: usize = 1000;

/// Longest overlap of a secret rotation (seconds).
const MAX_OVERLAP_SECS: i64 = 7 * 24 * 3600;

/// A claimed delivery, ready to send: where, the body, and the secrets that sign it.
#[derive(Clone)]
pub struct WebhookOutgoing {
    /// The outbox row (settling names it).
    pub id: String,
    pub webhook_id: String,
    pub url: String,
    pub allow_private: bool,
    /// `webhook-id`: the event's id, the same on every attempt.
    pub event_id: String,
    pub body: String,
    /// The HMAC keys of the current secret and, during an overlap, the previous one.
    keys: Vec<Vec<u8>>,
    pub attempt: i64,
    /// The W3C `traceparent` of the change that made the event (`crate::trace`), if any.
    pub trace_parent: Option<String>,
}

impl std::fmt::Debug for WebhookOutgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookOutgoing")
            .field("id", &self.id)
            .field("webhook_id", &self.webhook_id)
            .field("event_id", &self.event_id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl WebhookOutgoing {
    /// The `webhook-signature` header at `timestamp` (seconds): `v1,<base64>` per secret,
    /// space-separated.
    pub fn signature(&self, timestamp: i64) -> CoreResult<String> {
        let signatures = self
            .keys
            .iter()
            .map(|key| sign(key, &self.event_id, timestamp, &self.body))
            .collect::<CoreResult<Vec<_>>>()?;
        Ok(signatures.join(" "))
    }
}

/// Standard Webhooks: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> CoreResult<String> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(CoreError::internal)?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The HMAC key of a `whsec_…` secret.
pub fn secret_key(secret: &str) -> CoreResult<Vec<u8>> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| CoreError::internal("a webhook secret is not base64"))
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// How a send went: the receiver's status (none: no answer), how long it took, and the error
/// text when it did not succeed (never a secret).
#[derive(Debug, Clone)]
pub struct SendOutcome {
    pub status: Option<u16>,
    pub took_ms: i64,
    pub error: Option<String>,
}

impl SendOutcome {
    fn succeeded(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// A 4xx other than 408 and 429 will not change by retrying.
    fn is_final(&self) -> bool {
        self.status
            .is_some_and(|s| (400..500).contains(&s) && s != 408 && s != 429)
    }
}

fn list(stored: &Option<String>) -> Option<Vec<String>> {
    stored
        .as_deref()
        .map(|s| s.split_whitespace().map(str::to_string).collect())
}

fn view(row: &WebhookRow, now: DateTime<Utc>) -> WebhookView {
    WebhookView {
        id: row.id.clone(),
        url: row.url.clone(),
        description: row.description.clone(),
        event_types: list(&row.event_types),
        instances: list(&row.instances),
        applications: list(&row.applications),
        allow_private: row.allow_private != 0,
        enabled: row.enabled != 0,
        disabled_reason: row.disabled_reason.clone(),
        failing_since: row.failing_since.map(iso),
        previous_secret_until: row.previous_until.filter(|t| *t > ms(now)).map(iso),
        created_at: iso(row.created_at),
        created_by: row.created_by.clone(),
    }
}

/// Whether `url` is one a webhook may have: https, or http when private addresses are
/// allowed; a host that is an address must not be link-local, unspecified or multicast, nor
/// loopback or private unless allowed. (Names are checked again when sent, as resolved.)
pub fn check_url(raw: &str, allow_private: bool) -> Result<url::Url, String> {
    let parsed = url::Url::parse(raw.trim()).map_err(|_| "is not a URL".to_string())?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err("must be https (http only with AllowPrivate)".into()),
        _ => return Err("must be an https URL".into()),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials".into());
    }
    let host = parsed.host().ok_or("has no host")?;
    let ip = match host {
        url::Host::Ipv4(a) => Some(std::net::IpAddr::V4(a)),
        url::Host::Ipv6(a) => Some(std::net::IpAddr::V6(a)),
        url::Host::Domain(_) => None,
    };
    if let Some(ip) = ip {
        address_allowed(ip, allow_private)?;
    }
    Ok(parsed)
}

/// Whether a receiver at `ip` may be called.
pub fn address_allowed(ip: std::net::IpAddr, allow_private: bool) -> Result<(), String> {
    use std::net::IpAddr;
    let (never, private) = match ip {
        IpAddr::V4(a) => (
            a.is_link_local() || a.is_unspecified() || a.is_multicast() || a.is_broadcast(),
            a.is_loopback()
                || a.is_private()
                || a.octets()[0] == 100 && a.octets()[1] >= 64 && a.octets()[1] < 128,
        ),
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return address_allowed(IpAddr::V4(v4), allow_private);
            }
            let segment = a.segments()[0];
            (
                a.is_unspecified() || a.is_multicast() || (segment & 0xffc0) == 0xfe80,
                a.is_loopback() || (segment & 0xfe00) == 0xfc00,
            )
        }
    };
    if never {
        return Err(format!(
            "{ip} is a link-local, unspecified or multicast address"
        ));
    }
    if private && !allow_private {
        return Err(format!(
            "{ip} is a loopback or private address (allowed only with AllowPrivate)"
        ));
    }
    Ok(())
}

/// The values of a list field, each parsed; `Some(empty)` is the field's error.
fn parse_list<T>(
    e: &mut FieldErrors,
    field: &str,
    values: &Option<Vec<String>>,
    parse: impl Fn(&str) -> Result<T, String>,
    show: impl Fn(&T) -> String,
) -> Option<Option<Vec<String>>> {
    let values = values.as_ref()?;
    let mut out: Vec<String> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if let Some(parsed) = e.take(&format!("{field}[{i}]"), parse(v)) {
            let shown = show(&parsed);
            if !out.contains(&shown) {
                out.push(shown);
            }
        }
    }
    Some(if out.is_empty() { None } else { Some(out) })
}

impl Core {
    fn webhook_sealer(&self) -> &crate::sealing::Sealer {
        &self.inner.webhook_sealer
    }

    /// Applies `input` to `row` (a new one, or one read for a change): every field error at
    /// once, nothing written.
    fn apply_webhook_input(
        &self,
        p: &Principal,
        row: &mut WebhookRow,
        input: &WebhookInput,
    ) -> CoreResult<()> {
        let mut e = FieldErrors::default();
        if input.url.as_ref().is_some_and(|u| u.len() > MAX_URL) {
            e.push("Url", format!("must be at most {MAX_URL} characters"));
        }
        if input
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
        {
            e.push(
                "Description",
                format!("must be at most {MAX_DESCRIPTION} characters"),
            );
        }
        for (field, list) in [
            ("Instances", &input.instances),
            ("Applications", &input.applications),
        ] {
            match list {
                Some(ids) if ids.is_empty() => {
                    e.push(field, "choose at least one, or leave it out for every one")
                }
                Some(ids) if ids.len() > MAX_SCOPE => {
                    e.push(field, format!("must name at most {MAX_SCOPE}"))
                }
                _ => {}
            }
        }
        if !e.is_empty() {
            return e.into_result();
        }
        if let Some(allow) = input.allow_private {
            row.allow_private = i64::from(allow);
        }
        if let Some(url) = &input.url {
            if let Some(u) = e.take("Url", check_url(url, row.allow_private != 0)) {
                row.url = u.to_string();
            }
        } else if let Err(m) = check_url(&row.url, row.allow_private != 0) {
            e.push("Url", m);
        }
        if let Some(d) = &input.description {
            if let Some(d) = e.take("Description", parse_text(d)) {
                row.description = d.unwrap_or_default();
            }
        }
        let types = parse_list(
            &mut e,
            "EventTypes",
            &input.event_types,
            |v| match EventType::parse(v) {
                Ok(EventType::WebhookTest) => Err("webhook.test is sent only on request".into()),
                other => other,
            },
            |t| t.as_str().to_string(),
        );
        if let Some(types) = types {
            row.event_types = types.map(|t| t.join(" "));
        }
        if let Some(ids) = parse_list(
            &mut e,
            "Instances",
            &input.instances,
            InstanceId::parse,
            |i| i.to_string(),
        ) {
            row.instances = ids.map(|i| i.join(" "));
        }
        if let Some(ids) = parse_list(
            &mut e,
            "Applications",
            &input.applications,
            ApplicationId::parse,
            |a| a.to_string(),
        ) {
            row.applications = ids.map(|a| a.join(" "));
        }
        // An API key limited to instances subscribes only to events of its instances.
        if let Some(limit) = p.instance_limit() {
            if row.applications.is_some() {
                e.push(
                    "Applications",
                    "an API key limited to instances subscribes to instances, not applications",
                );
            }
            match &row.instances {
                None => row.instances = Some(limit.join(" ")),
                Some(ids) if !ids.split_whitespace().all(|i| p.sees_instance(i)) => e.push(
                    "Instances",
                    "names an instance outside this API key's instances",
                ),
                Some(_) => {}
            }
        }
        if let Some(enabled) = input.enabled {
            row.enabled = i64::from(enabled);
            if enabled {
                row.disabled_reason = None;
                row.failing_since = None;
            } else if row.disabled_reason.is_none() {
                row.disabled_reason = Some("disabled by an admin".into());
            }
        }
        e.into_result()
    }

    /// A new webhook; answers it with its secret, shown this once.
    pub async fn create_webhook(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        input: &WebhookInput,
        meta: &RequestMeta,
    ) -> CoreResult<WebhookWithSecret> {
        p.allow(Action::ManageWebhooks)?;
        if input.url.is_none() {
            return Err(CoreError::validation("Url", "is required"));
        }
        let id = format!("wh_{}", uuid::Uuid::new_v4().simple());
        let secret = new_secret();
        let mut row = WebhookRow {
            id: id.clone(),
            url: String::new(),
            description: String::new(),
            event_types: None,
            instances: None,
            applications: None,
            secret_sealed: self.webhook_sealer().seal(&id, &secret)?,
            previous_sealed: None,
            previous_until: None,
            allow_private: 0,
            enabled: 1,
            disabled_reason: None,
            failing_since: None,
            created_at: ms(now),
            created_by: p.actor(),
            updated_at: ms(now),
        };
        self.apply_webhook_input(p, &mut row, input)?;
        let mut tx = self.store().begin().await?;
        tx.insert_webhook(&row).await?;
        tx.audit(&p.audit(
            now,
            AuditAction::WebhookCreated,
            format!("webhook:{id}"),
            format!(
                "{} for {}",
                row.url,
                row.event_types.as_deref().unwrap_or("every event")
            ),
            meta,
        ))
        .await?;
        tx.commit().await?;
        Ok(WebhookWithSecret {
            webhook: view(&row, now),
            secret,
        })
    }

    pub async fn webhooks(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
    ) -> CoreResult<Vec<WebhookView>> {
        p.allow(Action::ManageWebhooks)?;
        let rows = self.store().webhooks().await?;
        Ok(rows
            .iter()
            .filter(|r| sees_webhook(p, r))
            .map(|r| view(r, now))
            .collect())
    }

    pub async fn webhook(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
    ) -> CoreResult<WebhookView> {
        p.allow(Action::ManageWebhooks)?;
        let row = visible(p, self.store().webhook(id).await?)?;
        Ok(view(&row, now))
    }

    /// Changes the fields `input` names (enabling clears an automatic disable).
    pub async fn update_webhook(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
        input: &WebhookInput,
        meta: &RequestMeta,
    ) -> CoreResult<WebhookView> {
        p.allow(Action::ManageWebhooks)?;
        let mut tx = self.store().begin().await?;
        let mut row = visible(p, tx.webhook_for_update(id).await?)?;
        let was_enabled = row.enabled != 0;
        self.apply_webhook_input(p, &mut row, input)?;
        row.updated_at = ms(now);
        tx.update_webhook(&row).await?;
        let mut changed: Vec<&str> = Vec::new();
        for (name, given) in [
            ("Url", input.url.is_some()),
            ("Description", input.description.is_some()),
            ("EventTypes", input.event_types.is_some()),
            ("Instances", input.instances.is_some()),
            ("Applications", input.applications.is_some()),
            ("AllowPrivate", input.allow_private.is_some()),
        ] {
            if given {
                changed.push(name);
            }
        }
        match (was_enabled, row.enabled != 0) {
            (true, false) => changed.push("disabled"),
            (false, true) => changed.push("enabled"),
            _ => {}
        }
        tx.audit(&p.audit(
            now,
            AuditAction::WebhookUpdated,
            format!("webhook:{id}"),
            changed.join(", "),
            meta,
        ))
        .await?;
        tx.commit().await?;
        Ok(view(&row, now))
    }

    /// Deletes a webhook; its pending deliveries are cancelled.
    pub async fn delete_webhook(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        p.allow(Action::ManageWebhooks)?;
        let mut tx = self.store().begin().await?;
        visible(p, tx.webhook_for_update(id).await?)?;
        if !tx.delete_webhook(id, ms(now)).await? {
            return Err(no_webhook());
        }
        tx.audit(&p.audit(
            now,
            AuditAction::WebhookDeleted,
            format!("webhook:{id}"),
            "deleted",
            meta,
        ))
        .await?;
        tx.commit().await
    }

    /// A new secret, shown once; the previous one keeps signing for `overlap_secs` (both
    /// signatures are sent), so receivers can switch without missing an event.
    pub async fn rotate_webhook_secret(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
        overlap_secs: i64,
        meta: &RequestMeta,
    ) -> CoreResult<WebhookWithSecret> {
        p.allow(Action::ManageWebhooks)?;
        if !(0..=MAX_OVERLAP_SECS).contains(&overlap_secs) {
            return Err(CoreError::validation(
                "OverlapSeconds",
                format!("must be between 0 and {MAX_OVERLAP_SECS}"),
            ));
        }
        let mut tx = self.store().begin().await?;
        let mut row = visible(p, tx.webhook_for_update(id).await?)?;
        let secret = new_secret();
        let sealed = self.webhook_sealer().seal(id, &secret)?;
        row.previous_sealed = (overlap_secs > 0).then(|| std::mem::take(&mut row.secret_sealed));
        row.previous_until = (overlap_secs > 0).then(|| ms(now) + overlap_secs * 1000);
        row.secret_sealed = sealed;
        row.updated_at = ms(now);
        tx.update_webhook(&row).await?;
        tx.audit(&p.audit(
            now,
            AuditAction::WebhookSecretRotated,
            format!("webhook:{id}"),
            format!("the previous secret signs for {overlap_secs} s more"),
            meta,
        ))
        .await?;
        tx.commit().await?;
        Ok(WebhookWithSecret {
            webhook: view(&row, now),
            secret,
        })
    }

    /// A `webhook.test` event, delivered to this webhook only (enabled or not: a test is how
    /// an operator checks a receiver before enabling it).
    pub async fn send_webhook_test(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
        meta: &RequestMeta,
    ) -> CoreResult<WebhookDeliveryView> {
        p.allow(Action::ManageWebhooks)?;
        let mut tx = self.store().begin().await?;
        visible(p, tx.webhook_for_update(id).await?)?;
        let event = NewEvent::new(
            EventType::WebhookTest,
            now,
            None,
            None,
            serde_json::json!({ "WebhookId": id, "Actor": p.actor() }),
        );
        tx.insert_events(std::slice::from_ref(&event)).await?;
        let seq = tx.event_seq(&event.id).await?;
        let delivery = NewWebhookDelivery {
            id: uuid::Uuid::new_v4().to_string(),
            webhook_id: id.to_string(),
            seq,
            event_type: event.kind.as_str().into(),
            device_token: None,
            instance_id: None,
            at: ms(now),
            requested_by: p.actor(),
        };
        tx.insert_webhook_deliveries(std::slice::from_ref(&delivery))
            .await?;
        tx.audit(&p.audit(
            now,
            AuditAction::WebhookTested,
            format!("webhook:{id}"),
            event.id.clone(),
            meta,
        ))
        .await?;
        tx.commit().await?;
        self.webhook_delivery_view(p, id, &delivery.id).await
    }

    /// A webhook's deliveries, newest first (at most `limit`, up to 500).
    pub async fn webhook_deliveries(
        &self,
        p: &Principal,
        id: &str,
        limit: i64,
    ) -> CoreResult<Vec<WebhookDeliveryView>> {
        p.allow(Action::ManageWebhooks)?;
        visible(p, self.store().webhook(id).await?)?;
        let rows = self
            .store()
            .webhook_deliveries(id, limit.clamp(1, 500))
            .await?;
        Ok(rows.into_iter().map(delivery_view).collect())
    }

    async fn webhook_delivery_view(
        &self,
        p: &Principal,
        webhook_id: &str,
        delivery_id: &str,
    ) -> CoreResult<WebhookDeliveryView> {
        self.webhook_deliveries(p, webhook_id, 500)
            .await?
            .into_iter()
            .find(|d| d.id == delivery_id)
            .ok_or_else(|| CoreError::NotFound("no delivery of this webhook has this id".into()))
    }

    /// The event of one delivery, sent again to its webhook as a new delivery.
    pub async fn resend_webhook_delivery(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        webhook_id: &str,
        delivery_id: &str,
        meta: &RequestMeta,
    ) -> CoreResult<WebhookDeliveryView> {
        p.allow(Action::ManageWebhooks)?;
        let missing = || CoreError::NotFound("no delivery of this webhook has this id".into());
        let (owner, seq, event_type, device_token, instance_id) = self
            .store()
            .webhook_delivery(delivery_id)
            .await?
            .ok_or_else(missing)?;
        if owner != webhook_id {
            return Err(missing());
        }
        let delivery = NewWebhookDelivery {
            id: uuid::Uuid::new_v4().to_string(),
            webhook_id: webhook_id.to_string(),
            seq,
            event_type,
            device_token,
            instance_id,
            at: ms(now),
            requested_by: p.actor(),
        };
        let mut tx = self.store().begin().await?;
        visible(p, tx.webhook_for_update(webhook_id).await?)?;
        tx.insert_webhook_deliveries(std::slice::from_ref(&delivery))
            .await?;
        tx.audit(&p.audit(
            now,
            AuditAction::WebhookResent,
            format!("webhook:{webhook_id}"),
            format!("delivery {delivery_id} sent again as {}", delivery.id),
            meta,
        ))
        .await?;
        tx.commit().await?;
        self.webhook_delivery_view(p, webhook_id, &delivery.id)
            .await
    }

    /// Every event of `[From, To)` that the webhook subscribes to, queued to it again (after
    /// an outage on the receiver's side). Answers how many.
    pub async fn replay_webhook(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
        range: &WebhookReplay,
        meta: &RequestMeta,
    ) -> CoreResult<i64> {
        p.allow(Action::ManageWebhooks)?;
        let mut e = FieldErrors::default();
        let mut bound = |field: &str, value: &Option<String>| match value.as_deref() {
            None => {
                e.push(field, "is required");
                None
            }
            Some(v) => e.take(field, parse_datetime(v)).map(ms),
        };
        // A range that ends where (or before) it starts holds no event: it replays none.
        let (from, to) = (bound("From", &range.from), bound("To", &range.to));
        e.into_result()?;
        let (Some(from), Some(to)) = (from, to) else {
            return Err(CoreError::internal("parsed without values"));
        };
        let mut tx = self.store().begin().await?;
        let row = visible(p, tx.webhook_for_update(id).await?)?;
        let apps = self
            .application_map(&mut tx, std::slice::from_ref(&row))
            .await?;
        let events = tx.events_between(from, to, MAX_REPLAY + 1).await?;
        if events.len() as i64 > MAX_REPLAY {
            return Err(CoreError::validation(
                "To",
                format!("the range holds more than {MAX_REPLAY} events: replay a shorter one"),
            ));
        }
        let deliveries: Vec<NewWebhookDelivery> = events
            .iter()
            .filter(|ev| wants(&row, ev, &apps))
            .map(|ev| delivery_for(&row, ev, now, &p.actor()))
            .collect();
        tx.insert_webhook_deliveries(&deliveries).await?;
        tx.audit(&p.audit(
            now,
            AuditAction::WebhookReplayed,
            format!("webhook:{id}"),
            format!(
                "{} events of {} to {}",
                deliveries.len(),
                iso(from),
                iso(to)
            ),
            meta,
        ))
        .await?;
        tx.commit().await?;
        Ok(deliveries.len() as i64)
    }

    /// Each instance's application, when a webhook among `rows` is scoped to applications.
    async fn application_map(
        &self,
        tx: &mut crate::store::Tx,
        rows: &[WebhookRow],
    ) -> CoreResult<std::collections::HashMap<String, String>> {
        if rows.iter().all(|r| r.applications.is_none()) {
            return Ok(Default::default());
        }
        Ok(tx.instance_applications().await?.into_iter().collect())
    }

    /// Housekeeping: events and ended deliveries past the retention (`TUS_EVENT_RETENTION`)
    /// are deleted; a pending delivery keeps its event. Answers (events, deliveries).
    pub async fn purge_events(&self, now: DateTime<Utc>) -> CoreResult<(u64, u64)> {
        let before = ms(now) - self.inner.delivery.event_retention_ms;
        self.store().purge_events(before).await
    }

    /// The dispatcher: fans out up to a batch of new events to the webhooks that want them.
    /// Answers how many events it took (0: none waiting).
    pub async fn dispatch_events(&self, now: DateTime<Utc>) -> CoreResult<usize> {
        // An idle replica asks a reader, not the writer, every poll.
        if !self.store().webhook_work_waiting(ms(now)).await?.0 {
            return Ok(0);
        }
        let mut tx = self.store().begin().await?;
        tx.lock_dispatcher().await?;
        let events = tx.pending_events(DISPATCH_BATCH).await?;
        if events.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        let hooks = tx.enabled_webhooks().await?;
        let apps = self.application_map(&mut tx, &hooks).await?;
        let mut deliveries = Vec::new();
        for ev in &events {
            if ev.kind == EventType::WebhookTest.as_str() {
                continue;
            }
            for hook in &hooks {
                if wants(hook, ev, &apps) {
                    deliveries.push(delivery_for(hook, ev, now, "dispatcher"));
                }
            }
        }
        tx.insert_webhook_deliveries(&deliveries).await?;
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        tx.mark_dispatched(&seqs).await?;
        tx.commit().await?;
        Ok(events.len())
    }

    /// For a sender: up to `limit` due deliveries, claimed for the lease, with their URL,
    /// body and signing keys. A delivery whose webhook is gone or disabled is cancelled.
    pub async fn claim_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> CoreResult<Vec<WebhookOutgoing>> {
        if !self.store().webhook_work_waiting(ms(now)).await?.1 {
            return Ok(Vec::new());
        }
        let lease_until = ms(now) + self.inner.delivery.lease_ms.max(1000);
        let mut tx = self.store().begin().await?;
        let rows = tx
            .claim_webhook_deliveries(ms(now), lease_until, limit)
            .await?;
        let mut hooks: std::collections::HashMap<String, Option<WebhookRow>> = Default::default();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if !hooks.contains_key(&row.webhook_id) {
                let hook = tx.webhook_for_update(&row.webhook_id).await?;
                hooks.insert(row.webhook_id.clone(), hook);
            }
            // A test goes to a disabled webhook once (an operator checks a receiver before
            // enabling it); nothing else, and no retry, goes to a disabled one.
            let first_test = row.attempts == 1 && row.event_type == EventType::WebhookTest.as_str();
            let hook = match hooks.get(&row.webhook_id) {
                Some(Some(h)) if h.enabled != 0 || first_test => h,
                _ => {
                    tx.settle_message(
                        &row.id,
                        row.attempts,
                        ms(now),
                        Settlement::Failed {
                            error: "the webhook is disabled or deleted",
                        },
                    )
                    .await?;
                    continue;
                }
            };
            let mut keys = vec![secret_key(
                &self.webhook_sealer().open(&hook.id, &hook.secret_sealed)?,
            )?];
            if let (Some(previous), Some(until)) = (&hook.previous_sealed, hook.previous_until) {
                if until > ms(now) {
                    keys.push(secret_key(
                        &self.webhook_sealer().open(&hook.id, previous)?,
                    )?);
                }
            }
            let body =
                crate::events::envelope(&row.event_id, &row.event_type, row.event_at, &row.payload);
            out.push(WebhookOutgoing {
                id: row.id,
                webhook_id: hook.id.clone(),
                url: hook.url.clone(),
                allow_private: hook.allow_private != 0,
                event_id: row.event_id,
                body,
                keys,
                attempt: row.attempts,
                trace_parent: row.trace_parent,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// For a sender: how its attempt went. Retries with back-off unless it succeeded or the
    /// answer is final; tracks how long the webhook has been failing and disables it past
    /// `webhook_disable_after_ms` (audited).
    pub async fn settle_webhook_delivery(
        &self,
        now: DateTime<Utc>,
        d: &WebhookOutgoing,
        outcome: &SendOutcome,
    ) -> CoreResult<()> {
        let settings = &self.inner.delivery;
        let error = outcome
            .error
            .clone()
            .unwrap_or_else(|| match outcome.status {
                Some(s) => format!("the receiver answered {s}"),
                None => "no answer".into(),
            });
        let settlement = if outcome.succeeded() {
            Settlement::Sent
        } else if outcome.is_final() || d.attempt >= settings.webhook_attempts {
            Settlement::Failed { error: &error }
        } else {
            let jitter = rand::rngs::OsRng.gen_range(0.0..1.0);
            let delay = retry_delay_ms(settings.retry_base_ms, d.attempt, jitter);
            Settlement::Retry {
                retry_at: ms(now) + delay,
                error: &error,
            }
        };
        let succeeded = outcome.succeeded();
        let mut tx = self.store().begin().await?;
        if !tx
            .settle_message(&d.id, d.attempt, ms(now), settlement)
            .await?
        {
            tx.commit().await?;
            return Ok(());
        }
        tx.note_webhook_answer(
            &d.id,
            d.attempt,
            outcome.status.map(i64::from),
            outcome.took_ms,
        )
        .await?;
        if let Some(mut hook) = tx.webhook_for_update(&d.webhook_id).await? {
            if succeeded {
                if hook.failing_since.is_some() {
                    hook.failing_since = None;
                    tx.update_webhook(&hook).await?;
                }
            } else {
                let since = *hook.failing_since.get_or_insert(ms(now));
                if hook.enabled != 0 && ms(now) - since >= settings.webhook_disable_after_ms {
                    hook.enabled = 0;
                    hook.disabled_reason = Some(format!(
                        "disabled automatically: failing since {} ({error})",
                        iso(since)
                    ));
                    tx.audit(&crate::store::NewAuditRow::new(
                        now,
                        "webhooks",
                        AuditAction::WebhookDisabled,
                        format!("webhook:{}", hook.id),
                        hook.disabled_reason.clone().unwrap_or_default(),
                    ))
                    .await?;
                }
                hook.updated_at = ms(now);
                tx.update_webhook(&hook).await?;
            }
        }
        tx.commit().await
    }
}

fn no_webhook() -> CoreError {
    CoreError::NotFound("no webhook has this id".into())
}

/// Whether `p` may see and manage `row`: everyone who manages webhooks, except that an API
/// key limited to instances sees only webhooks limited to (some of) its instances.
fn sees_webhook(p: &Principal, row: &WebhookRow) -> bool {
    match (p.instance_limit(), &row.instances) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(_), Some(ids)) => {
            row.applications.is_none() && ids.split_whitespace().all(|i| p.sees_instance(i))
        }
    }
}

/// The webhook `p` may manage, or 404.
fn visible(p: &Principal, row: Option<WebhookRow>) -> CoreResult<WebhookRow> {
    row.filter(|r| sees_webhook(p, r)).ok_or_else(no_webhook)
}

/// Whether `hook` subscribes to `ev` (its type, instance and application).
fn wants(
    hook: &WebhookRow,
    ev: &crate::store::EventRow,
    apps: &std::collections::HashMap<String, String>,
) -> bool {
    let has = |stored: &Option<String>, value: Option<&str>| match stored {
        None => true,
        Some(list) => value.is_some_and(|v| list.split_whitespace().any(|x| x == v)),
    };
    let app = ev
        .instance_id
        .as_ref()
        .and_then(|i| apps.get(i))
        .map(String::as_str);
    ev.kind != EventType::WebhookTest.as_str()
        && has(&hook.event_types, Some(&ev.kind))
        && has(&hook.instances, ev.instance_id.as_deref())
        && has(&hook.applications, app)
}

fn delivery_for(
    hook: &WebhookRow,
    ev: &crate::store::EventRow,
    now: DateTime<Utc>,
    by: &str,
) -> NewWebhookDelivery {
    NewWebhookDelivery {
        id: uuid::Uuid::new_v4().to_string(),
        webhook_id: hook.id.clone(),
        seq: ev.seq,
        event_type: ev.kind.clone(),
        device_token: ev.device_token.clone(),
        instance_id: ev.instance_id.clone(),
        at: ms(now),
        requested_by: by.to_string(),
    }
}

fn delivery_view(r: crate::store::WebhookDeliveryRow) -> WebhookDeliveryView {
    WebhookDeliveryView {
        id: r.id,
        event_id: r.event_id,
        event_type: r.event_type,
        device_token: r.device_token,
        state: r.state,
        attempts: r.attempts,
        created_at: iso(r.created_at),
        updated_at: iso(r.updated_at),
        sent_at: r.sent_at.map(iso),
        last_error: r.last_error,
        last_status: r.last_status,
        last_took_ms: r.last_took_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{admin, at, test_core};

    /// A webhook of every event, made by an admin at 0.
    async fn a_webhook(core: &Core) -> WebhookWithSecret {
        core.create_webhook(
            at(0),
            &admin(),
            &WebhookInput {
                url: Some("https://hooks.example.com/in".into()),
                ..Default::default()
            },
            &RequestMeta::default(),
        )
        .await
        .unwrap()
    }

    /// A change made within a trace (`crate::trace::within`, as the request middleware runs
    /// it) hands that trace to its deliveries; one made outside any hands none. Both
    /// backends, a fixed clock, in one `begin_writes` group on SQLite.
    #[tokio::test]
    async fn a_delivery_carries_the_trace_of_the_change_that_made_its_event() {
        let t = test_core(|_| {}).await;
        a_webhook(&t.core).await;
        let traced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let write = |user: &'static str| {
            let core = t.core.clone();
            async move {
                let event = NewEvent::new(
                    EventType::UserDeleted,
                    at(1),
                    Some(user),
                    Some("i"),
                    serde_json::json!({ "DeviceToken": user }),
                );
                let mut tx = core.store().begin_writes().await?;
                tx.insert_events(&[event]).await?;
                tx.commit().await
            }
        };
        let (a, b) = tokio::join!(
            crate::trace::within(Some(traced.into()), write("traced")),
            write("untraced"),
        );
        a.unwrap();
        b.unwrap();
        assert_eq!(t.core.dispatch_events(at(2)).await.unwrap(), 2);
        let claimed = t.core.claim_webhook_deliveries(at(2), 10).await.unwrap();
        let mut traces: Vec<(String, Option<String>)> = claimed
            .into_iter()
            .map(|d| {
                let user =
                    serde_json::from_str::<serde_json::Value>(&d.body).unwrap()["data"].to_string();
                (user, d.trace_parent)
            })
            .collect();
        traces.sort();
        assert_eq!(traces.len(), 2);
        assert_eq!(traces[0].1.as_deref(), Some(traced), "{traces:?}");
        assert_eq!(traces[1].1, None, "{traces:?}");
    }

    #[tokio::test]
    async fn events_past_the_retention_go_unless_a_pending_delivery_needs_them() {
        let t = test_core(|c| c.delivery.event_retention_ms = 3600 * 1000).await;
        let meta = RequestMeta::default();
        let made = a_webhook(&t.core).await;
        // An old event fanned out to the webhook (its delivery pending), and one nobody wants
        // after the webhook is disabled.
        let event = crate::testing::event;
        let mut tx = t.core.store().begin().await.unwrap();
        tx.insert_events(&[event(0)]).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(t.core.dispatch_events(at(1)).await.unwrap(), 1);
        let off = WebhookInput {
            enabled: Some(false),
            ..Default::default()
        };
        t.core
            .update_webhook(at(2), &admin(), &made.webhook.id, &off, &meta)
            .await
            .unwrap();
        let mut tx = t.core.store().begin().await.unwrap();
        tx.insert_events(&[event(3), event(7200)]).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(t.core.dispatch_events(at(7201)).await.unwrap(), 2);
        // Two hours on: the unwanted old event goes; the one with a pending delivery and
        // the recent one stay.
        assert_eq!(t.core.purge_events(at(7300)).await.unwrap(), (1, 0));
        // Once the delivery has ended and aged too, both go.
        let claimed = t.core.claim_webhook_deliveries(at(7301), 10).await.unwrap();
        assert!(
            claimed.is_empty(),
            "disabled: the delivery is failed, not sent"
        );
        assert_eq!(t.core.purge_events(at(7302)).await.unwrap(), (1, 1));
        assert_eq!(t.core.purge_events(at(14_500)).await.unwrap(), (1, 0));
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn link_local_and_metadata_addresses_are_never_receivers() {
        for url in [
            "https://169.254.169.254/latest",
            "http://[fe80::1]/",
            "https://0.0.0.0/",
        ] {
            assert!(check_url(url, true).is_err(), "{url}");
        }
        assert!(check_url("http://127.0.0.1:9/", false).is_err());
        assert!(check_url("http://127.0.0.1:9/", true).is_ok());
        assert!(check_url("https://10.1.2.3/", false).is_err());
        assert!(check_url("https://hooks.example.com/in", false).is_ok());
        assert!(check_url("ftp://hooks.example.com/", true).is_err());
        assert!(check_url("https://user:pw@hooks.example.com/", false).is_err());
        assert!(check_url("http://[::ffff:169.254.169.254]/", true).is_err());
    }
}
