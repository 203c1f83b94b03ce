//! Per-instance settings: the active window, the longest debug logging, the flags of new
//! users, and the inactivity rule (which the scheduler runs). Stored in `instances`; read
//! and written here only.

use chrono::{DateTime, Utc};
use tus_wire::model::{CustomFieldsInput, InactivityCountView, InstanceSettingsView};
use tus_wire::views::Action;

use crate::activity::{DAY_MS, DEFAULT_ACTIVE_WINDOW_DAYS, SCHEDULER};
use crate::audit::AuditAction;
use crate::bulk::MAX_HOLD_MINUTES;
use crate::error::{CoreResult, FieldErrors};
use crate::principal::Principal;
use crate::store::{BulkChange, NewAuditRow, PageFilter, Selection, Value};
use crate::time::ms;
use crate::tokens::{Lifetimes, Tokens};
use crate::types::{Flag, InstanceId, UserFlags};
use crate::{Core, RequestMeta};

/// What a rule does to the users it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InactivityAction {
    Deactivate,
    Delete,
}

impl InactivityAction {
    pub const ALL: [InactivityAction; 2] = [InactivityAction::Deactivate, InactivityAction::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            InactivityAction::Deactivate => "Deactivate",
            InactivityAction::Delete => "Delete",
        }
    }

    fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "deactivate" => Ok(InactivityAction::Deactivate),
            "delete" => Ok(InactivityAction::Delete),
            _ => Err("must be Deactivate or Delete".into()),
        }
    }
}

/// An instance's settings, valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceSettings {
    pub active_window_days: i64,
    pub max_logging_minutes: Option<i64>,
    /// In `Flag::ALL` order; `None`: the API's default.
    pub default_flags: [Option<bool>; 4],
    pub inactivity: Option<(i64, InactivityAction)>,
    /// Its own token lifetimes (at most the service's).
    pub lifetimes: Lifetimes,
}

impl Default for InstanceSettings {
    fn default() -> Self {
        Self {
            active_window_days: DEFAULT_ACTIVE_WINDOW_DAYS,
            max_logging_minutes: None,
            default_flags: [None; 4],
            inactivity: None,
            lifetimes: Lifetimes::default(),
        }
    }
}

/// An instance's settings as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceSettingsRow {
    pub active_window_days: i64,
    pub max_logging_minutes: Option<i64>,
    pub default_tracking: Option<bool>,
    pub default_logging: Option<bool>,
    pub default_sdk: Option<bool>,
    pub default_realtime: Option<bool>,
    pub inactivity_days: Option<i64>,
    pub inactivity_action: Option<String>,
    pub access_token_minutes: Option<i64>,
    pub refresh_token_hours: Option<i64>,
}

/// `Some` when `v` lies in `range`, else an error under `key`.
fn bounded(
    e: &mut FieldErrors,
    key: &str,
    v: Option<i64>,
    range: std::ops::RangeInclusive<i64>,
) -> Option<i64> {
    let v = v?;
    if range.contains(&v) {
        Some(v)
    } else {
        e.push(
            key,
            format!("must be between {} and {}", range.start(), range.end()),
        );
        None
    }
}

impl InstanceSettings {
    /// Valid settings from `input`; its token lifetimes may not pass those of `tokens`.
    pub fn parse(input: &InstanceSettingsView, tokens: &Tokens) -> CoreResult<Self> {
        let mut e = FieldErrors::default();
        let (access, refresh) = service_lifetimes(tokens);
        let lifetimes = Lifetimes {
            access_minutes: bounded(
                &mut e,
                "AccessTokenMinutes",
                input.access_token_minutes,
                1..=access,
            ),
            refresh_hours: bounded(
                &mut e,
                "RefreshTokenHours",
                input.refresh_token_hours,
                1..=refresh,
            ),
        };
        let window = bounded(
            &mut e,
            "ActiveWindowDays",
            input.active_window_days,
            1..=365,
        )
        .unwrap_or(DEFAULT_ACTIVE_WINDOW_DAYS);
        let max_logging = bounded(
            &mut e,
            "MaxLoggingMinutes",
            input.max_logging_minutes,
            1..=MAX_HOLD_MINUTES,
        );
        let days = bounded(&mut e, "InactivityDays", input.inactivity_days, 1..=3650);
        let action = match input.inactivity_action.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) => e.take("InactivityAction", InactivityAction::parse(a)),
        };
        let inactivity = match (input.inactivity_days, days, action) {
            (None, _, None) => None,
            (Some(_), Some(d), Some(a)) => Some((d, a)),
            (Some(_), _, None) if input.inactivity_action.is_none() => {
                e.push("InactivityAction", "is required with InactivityDays");
                None
            }
            (None, _, Some(_)) => {
                e.push("InactivityDays", "is required with InactivityAction");
                None
            }
            _ => None,
        };
        e.into_result()?;
        Ok(Self {
            active_window_days: window,
            max_logging_minutes: max_logging,
            default_flags: Flag::ALL.map(|f| f.given_in_custom(&input.default_flags)),
            inactivity,
            lifetimes,
        })
    }

    pub fn from_row(r: &InstanceSettingsRow) -> Self {
        let action = r
            .inactivity_action
            .as_deref()
            .and_then(|a| InactivityAction::parse(a).ok());
        Self {
            active_window_days: r.active_window_days,
            max_logging_minutes: r.max_logging_minutes,
            default_flags: [
                r.default_tracking,
                r.default_logging,
                r.default_sdk,
                r.default_realtime,
            ],
            inactivity: r.inactivity_days.zip(action),
            lifetimes: Lifetimes {
                access_minutes: r.access_token_minutes,
                refresh_hours: r.refresh_token_hours,
            },
        }
    }

    /// The settings as the API shows them, with the service's lifetimes beside.
    pub fn view(&self, tokens: &Tokens) -> InstanceSettingsView {
        let (access, refresh) = service_lifetimes(tokens);
        let f = self.default_flags;
        InstanceSettingsView {
            active_window_days: Some(self.active_window_days),
            max_logging_minutes: self.max_logging_minutes,
            default_flags: CustomFieldsInput {
                enable_tracking: f[0],
                enable_logging: f[1],
                enabled: f[2],
                enable_real_time_location: f[3],
            },
            inactivity_days: self.inactivity.map(|(d, _)| d),
            inactivity_action: self.inactivity.map(|(_, a)| a.as_str().to_string()),
            access_token_minutes: self.lifetimes.access_minutes,
            refresh_token_hours: self.lifetimes.refresh_hours,
            service_access_token_minutes: Some(access),
            service_refresh_token_hours: Some(refresh),
        }
    }

    /// The flags of a new user that names `given` (in `Flag::ALL` order).
    pub fn flags_for(&self, given: [Option<bool>; 4]) -> UserFlags {
        let mut flags = UserFlags::default();
        for flag in Flag::ALL {
            let i = flag.index();
            if let Some(v) = given[i].or(self.default_flags[i]) {
                flags.set(flag, v);
            }
        }
        flags
    }

    /// What changed from `before`, for the audit entry.
    fn describe(&self, before: &InstanceSettings) -> Vec<String> {
        let text = |v: Option<i64>| v.map_or("none".to_string(), |v| v.to_string());
        let mut out = Vec::new();
        if self.active_window_days != before.active_window_days {
            out.push(format!(
                "ActiveWindowDays: {} → {}",
                before.active_window_days, self.active_window_days
            ));
        }
        if self.max_logging_minutes != before.max_logging_minutes {
            out.push(format!(
                "MaxLoggingMinutes: {} → {}",
                text(before.max_logging_minutes),
                text(self.max_logging_minutes)
            ));
        }
        for flag in Flag::ALL {
            let (a, b) = (
                before.default_flags[flag.index()],
                self.default_flags[flag.index()],
            );
            if a != b {
                let word =
                    |v: Option<bool>| v.map_or("default", |v| if v { "True" } else { "False" });
                out.push(format!(
                    "Default {}: {} → {}",
                    flag.api_name(),
                    word(a),
                    word(b)
                ));
            }
        }
        for (key, a, b) in [
            (
                "AccessTokenMinutes",
                before.lifetimes.access_minutes,
                self.lifetimes.access_minutes,
            ),
            (
                "RefreshTokenHours",
                before.lifetimes.refresh_hours,
                self.lifetimes.refresh_hours,
            ),
        ] {
            if a != b {
                let word =
                    |v: Option<i64>| v.map_or("the service's".to_string(), |v| v.to_string());
                out.push(format!("{key}: {} → {}", word(a), word(b)));
            }
        }
        if self.inactivity != before.inactivity {
            let rule = |r: Option<(i64, InactivityAction)>| {
                r.map_or("off".to_string(), |(d, a)| {
                    format!("{} after {d} days", a.as_str())
                })
            };
            out.push(format!(
                "Inactivity: {} → {}",
                rule(before.inactivity),
                rule(self.inactivity)
            ));
        }
        out
    }
}

/// The service's lifetimes in an instance's units (whole minutes, whole hours): the longest
/// an instance may set.
/// The longest lifetimes an instance may set: (access minutes, refresh hours).
pub fn service_lifetimes(tokens: &Tokens) -> (i64, i64) {
    let s = tokens.settings();
    (s.access_ttl.num_minutes(), s.refresh_ttl.num_hours())
}

/// The flags of a new user of `instance` whose registration names `given`.
pub fn new_user_flags(
    instance: &crate::instances::Instance,
    given: [Option<bool>; 4],
) -> UserFlags {
    InstanceSettings {
        default_flags: instance.default_flags,
        ..InstanceSettings::default()
    }
    .flags_for(given)
}

/// The users an inactivity rule of `days` finds in `instance` at `now`: active users whose
/// last login or refresh (or, never active, registration) is older than that.
fn inactive_users(instance: &str, days: i64, now: i64) -> Selection {
    Selection::Filter(Box::new(PageFilter {
        instances: Some(vec![instance.to_string()]),
        inactive_before: Some(now - days * DAY_MS),
        ..PageFilter::default()
    }))
}

/// Rules run at most this often per instance.
const RULE_EVERY_MS: i64 = 3_600_000;

impl Core {
    /// An instance's settings, for a caller who may read instances.
    pub async fn instance_settings(
        &self,
        p: &Principal,
        id: InstanceId,
    ) -> CoreResult<InstanceSettingsView> {
        let instance = self.instance(p, id).await?;
        let row = self
            .store()
            .instance_settings(&instance.id.to_string())
            .await?;
        Ok(InstanceSettings::from_row(&row).view(self.tokens()))
    }

    /// Replaces an instance's settings (audited with what changed).
    pub async fn update_instance_settings(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: InstanceId,
        input: &InstanceSettingsView,
        meta: &RequestMeta,
    ) -> CoreResult<InstanceSettingsView> {
        p.allow(Action::ManageInstances)?;
        let instance = self.instance(p, id).await?;
        let settings = InstanceSettings::parse(input, self.tokens())?;
        let key = instance.id.to_string();
        let mut tx = self.store().begin().await?;
        let before = InstanceSettings::from_row(&tx.instance_settings(&key).await?);
        tx.set_instance_settings(&key, &settings).await?;
        let changed = settings.describe(&before);
        if !changed.is_empty() {
            tx.audit(
                &NewAuditRow::new(
                    now,
                    p.actor(),
                    AuditAction::InstanceUpdated,
                    format!("instance:{key}"),
                    format!("settings: {}", changed.join("; ")),
                )
                .from(meta),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(settings.view(self.tokens()))
    }

    /// How many users an inactivity rule of `days` would act on in an instance now: the
    /// dry count an admin sees before turning a rule on.
    pub async fn inactivity_count(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: InstanceId,
        days: Option<i64>,
    ) -> CoreResult<InactivityCountView> {
        let instance = self.instance(p, id).await?;
        let mut e = FieldErrors::default();
        let days = bounded(&mut e, "Days", days, 1..=3650);
        if days.is_none() && e.is_empty() {
            e.push("Days", "is required");
        }
        e.into_result()?;
        let days = days.unwrap_or(1);
        let selection = inactive_users(&instance.id.to_string(), days, ms(now));
        let count = self.store().count_selection(&selection).await?;
        Ok(InactivityCountView { days, count })
    }

    /// The scheduler: each instance's inactivity rule, at most once an hour per instance
    /// across replicas (a run is claimed by moving `inactivity_checked_at`). Its users are
    /// counted and changed in one transaction: exactly those counted. Returns the users
    /// deactivated or deleted.
    pub async fn run_inactivity_rules(&self, now: DateTime<Utc>) -> CoreResult<u64> {
        let at = ms(now);
        let mut done = 0;
        for (instance, days, action) in self.store().inactivity_rules(at - RULE_EVERY_MS).await? {
            let Ok(action) = InactivityAction::parse(&action) else {
                continue;
            };
            let mut tx = self.store().begin().await?;
            if !tx
                .claim_inactivity_run(&instance, at, RULE_EVERY_MS)
                .await?
            {
                continue;
            }
            let selection = inactive_users(&instance, days, at);
            let counted = tx.count_selection(&selection).await?;
            let (change, changed, what) = match action {
                InactivityAction::Deactivate => {
                    tx.insert_bulk_events(
                        &selection,
                        BulkChange::Status("Deactivated"),
                        at,
                        SCHEDULER,
                    )
                    .await?;
                    let n = tx
                        .bulk_set(
                            &selection,
                            "status",
                            &Value::Text(Some("Deactivated".into())),
                            at,
                        )
                        .await?;
                    (AuditAction::UsersBulkUpdated, n, "deactivated")
                }
                InactivityAction::Delete => {
                    tx.insert_bulk_events(&selection, BulkChange::Delete, at, SCHEDULER)
                        .await?;
                    let n = tx.delete_selection(&selection).await?;
                    (
                        AuditAction::UsersBulkDeleted,
                        n,
                        "deleted with their tokens",
                    )
                }
            };
            if counted > 0 {
                tx.audit(&NewAuditRow::new(
                    now,
                    SCHEDULER,
                    change,
                    format!("instance:{instance}"),
                    format!(
                        "inactivity rule: {counted} users without a login or refresh for {days} days, {changed} {what}"
                    ),
                ))
                .await?;
            }
            tx.commit().await?;
            done += changed;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{admin, at, fleet, test_core};
    use crate::RequestMeta;
    use tus_wire::model::{CreateManyRequest, LoginRequest, RegisterRequest};

    #[tokio::test]
    async fn settings_round_trip_validate_and_give_new_users_their_flags() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        let p = admin();
        let meta = RequestMeta::default();
        let got = t.core.instance_settings(&p, i.id).await.unwrap();
        assert_eq!(got, InstanceSettings::default().view(t.core.tokens()));
        let wanted = InstanceSettingsView {
            active_window_days: Some(7),
            max_logging_minutes: Some(90),
            default_flags: CustomFieldsInput {
                enable_logging: Some(true),
                enable_tracking: Some(false),
                ..Default::default()
            },
            inactivity_days: Some(30),
            inactivity_action: Some("deactivate".into()),
            ..Default::default()
        };
        t.core
            .update_instance_settings(at(1), &p, i.id, &wanted, &meta)
            .await
            .unwrap();
        let got = t.core.instance_settings(&p, i.id).await.unwrap();
        assert_eq!(got.active_window_days, Some(7));
        assert_eq!(got.inactivity_action.as_deref(), Some("Deactivate"));
        let audit = t
            .core
            .store()
            .latest_audit(&["instance.updated"], 5)
            .await
            .unwrap();
        assert!(
            audit[0].detail.contains("ActiveWindowDays: 14 → 7"),
            "{}",
            audit[0].detail
        );
        assert!(audit[0]
            .detail
            .contains("Inactivity: off → Deactivate after 30 days"));

        // Bad values: each named, nothing changes.
        let bad = InstanceSettingsView {
            active_window_days: Some(0),
            max_logging_minutes: Some(-5),
            inactivity_days: Some(10),
            inactivity_action: Some("archive".into()),
            ..Default::default()
        };
        let Err(crate::CoreError::Validation(e)) = t
            .core
            .update_instance_settings(at(2), &p, i.id, &bad, &meta)
            .await
        else {
            panic!("bad settings were taken");
        };
        let keys: Vec<&str> = e.0.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            ["ActiveWindowDays", "MaxLoggingMinutes", "InactivityAction"]
        );
        assert_eq!(t.core.instance_settings(&p, i.id).await.unwrap(), got);

        // New users: the instance's defaults where the registration names no flag.
        let named = RegisterRequest {
            user_fields: Some(tus_wire::model::UserFieldsInput {
                enable_tracking: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        for (req, tracking) in [(RegisterRequest::default(), false), (named, true)] {
            let c = t
                .core
                .register(at(3), &i.credentials(), req, &meta)
                .await
                .unwrap();
            let row = t
                .core
                .store()
                .find_user(&c.device_token.unwrap().to_string())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.enable_tracking, tracking);
            assert!(row.enable_logging && row.enabled && !row.enable_real_time_location);
        }
        let batch = t
            .core
            .register_many(
                at(4),
                &i.credentials(),
                CreateManyRequest {
                    quantity: Some(2),
                    ..Default::default()
                },
                &meta,
            )
            .await
            .unwrap();
        let row = t
            .core
            .store()
            .find_user(&batch.results[0].device_token.unwrap().to_string())
            .await
            .unwrap()
            .unwrap();
        assert!(!row.enable_tracking && row.enable_logging);
    }

    #[tokio::test]
    async fn an_instance_s_token_lifetimes_rule_its_tokens_and_never_pass_the_service_s() {
        let t = test_core(|_| {}).await;
        let (short, other) = (fleet(&t).await, fleet(&t).await);
        let p = admin();
        let meta = RequestMeta::default();
        // The service's lifetimes (2 h, 7 days) are shown, and are the ceiling.
        let got = t.core.instance_settings(&p, short.id).await.unwrap();
        assert_eq!(
            (
                got.service_access_token_minutes,
                got.service_refresh_token_hours
            ),
            (Some(120), Some(168))
        );
        let too_long = InstanceSettingsView {
            access_token_minutes: Some(121),
            refresh_token_hours: Some(0),
            ..Default::default()
        };
        let Err(crate::CoreError::Validation(e)) = t
            .core
            .update_instance_settings(at(0), &p, short.id, &too_long, &meta)
            .await
        else {
            panic!("lifetimes past the service's were taken");
        };
        let keys: Vec<&str> = e.0.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["AccessTokenMinutes", "RefreshTokenHours"]);
        assert!(e.0[0].message.contains("between 1 and 120"), "{e:?}");
        let ten_minutes_three_hours = InstanceSettingsView {
            access_token_minutes: Some(10),
            refresh_token_hours: Some(3),
            ..Default::default()
        };
        t.core
            .update_instance_settings(at(0), &p, short.id, &ten_minutes_three_hours, &meta)
            .await
            .unwrap();
        let audit = t
            .core
            .store()
            .latest_audit(&["instance.updated"], 1)
            .await
            .unwrap();
        assert!(
            audit[0]
                .detail
                .contains("AccessTokenMinutes: the service's → 10")
                && audit[0]
                    .detail
                    .contains("RefreshTokenHours: the service's → 3"),
            "{}",
            audit[0].detail
        );

        // Registration, a batch with tokens and a refresh all follow the instance; another
        // instance keeps the service's.
        let claims = |c: &crate::issuance::Credentials, now| {
            let access = c.access_token.as_ref().unwrap();
            let claims = t.core.tokens().verify_access(&access.token, now).unwrap();
            (access.expires_in, claims.exp - claims.iat)
        };
        let register = |i: &crate::instances::Instance, now| {
            let creds = i.credentials();
            let core = t.core.clone();
            let meta = meta.clone();
            async move {
                core.register(now, &creds, RegisterRequest::default(), &meta)
                    .await
                    .unwrap()
            }
        };
        let first = register(&short, at(10)).await;
        assert_eq!(claims(&first, at(10)), (600, 600));
        assert_eq!(
            claims(&register(&other, at(10)).await, at(10)),
            (7200, 7200)
        );
        let batch = t
            .core
            .register_many(
                at(10),
                &short.credentials(),
                CreateManyRequest {
                    quantity: Some(1),
                    ..Default::default()
                },
                &meta,
            )
            .await
            .unwrap();
        assert_eq!(claims(&batch.results[0], at(10)), (600, 600));
        let expired_date = |c: &crate::issuance::Credentials, now| {
            let token = &c.access_token.as_ref().unwrap().token;
            let claims = t.core.tokens().verify_access(token, now).unwrap();
            claims.refresh_token_expired_date.unwrap()
        };
        assert_eq!(expired_date(&first, at(10)), "15.11.2023 1:13:30");

        // The refresh token lasts 3 hours: its successor is good until 3 hours after the
        // refresh, and not a second longer.
        let pair = |c: &crate::issuance::Credentials| crate::auth::RefreshPair {
            device: None,
            access: c.access_token.as_ref().unwrap().token.clone(),
            refresh: c.refresh_token.clone().unwrap(),
        };
        let second = t.core.refresh(at(10 + 3 * 3600), pair(&first), &meta).await;
        assert!(second.is_err(), "a refresh token outlived its 3 hours");
        let second = register(&short, at(20)).await;
        let third = t
            .core
            .refresh(at(20 + 3 * 3600 - 1), pair(&second), &meta)
            .await
            .unwrap();
        assert_eq!(claims(&third, at(20 + 3 * 3600)), (600, 600));
        let late = at(20 + 3 * 3600 - 1 + 3 * 3600);
        assert!(t.core.refresh(late, pair(&third), &meta).await.is_err());

        // Back to the service's: empty values.
        t.core
            .update_instance_settings(at(30), &p, short.id, &Default::default(), &meta)
            .await
            .unwrap();
        assert_eq!(
            claims(&register(&short, at(40)).await, at(40)),
            (7200, 7200)
        );
    }

    #[tokio::test]
    async fn an_inactivity_rule_deactivates_exactly_the_users_it_counted_once_an_hour() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        let p = admin();
        let meta = RequestMeta::default();
        let day = |d: i64| at(d * 86_400);
        // Registered on day 0; one logs in on day 20, one on day 35; one never.
        let mut tokens = Vec::new();
        for _ in 0..3 {
            let c = t
                .core
                .register(day(0), &i.credentials(), RegisterRequest::default(), &meta)
                .await
                .unwrap();
            tokens.push(c.device_token.unwrap().to_string());
        }
        for (n, d) in [(1, 20), (2, 35)] {
            let login = LoginRequest {
                login_fields: Some(serde_json::json!({ "DeviceToken": tokens[n] })),
                password: Some(i.key.expose().to_string()),
                ..Default::default()
            };
            t.core
                .login(
                    day(d),
                    Some(&i.id.to_string()),
                    login.try_into().unwrap(),
                    &meta,
                )
                .await
                .unwrap();
        }
        // On day 40, 10 days without activity: the never-active one and the day-20 one.
        let count = t
            .core
            .inactivity_count(day(40), &p, i.id, Some(10))
            .await
            .unwrap();
        assert_eq!(count.count, 2);
        assert!(t
            .core
            .inactivity_count(day(40), &p, i.id, Some(0))
            .await
            .is_err());
        // No rule yet: nothing happens.
        assert_eq!(t.core.run_inactivity_rules(day(40)).await.unwrap(), 0);
        let rule = InstanceSettingsView {
            inactivity_days: Some(10),
            inactivity_action: Some("Deactivate".into()),
            ..Default::default()
        };
        t.core
            .update_instance_settings(day(40), &p, i.id, &rule, &meta)
            .await
            .unwrap();
        assert_eq!(t.core.run_inactivity_rules(day(40)).await.unwrap(), 2);
        for (n, status) in [(0, "Deactivated"), (1, "Deactivated"), (2, "Active")] {
            let row = t.core.store().find_user(&tokens[n]).await.unwrap().unwrap();
            assert_eq!(row.status, status, "user {n}");
        }
        let audit = t
            .core
            .store()
            .latest_audit(&["users.bulk_updated"], 5)
            .await
            .unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].actor, SCHEDULER);
        assert!(
            audit[0]
                .detail
                .contains("2 users without a login or refresh for 10 days, 2 deactivated"),
            "{}",
            audit[0].detail
        );
        // Within the hour it does not run again; after it, the day-35 user is due by day 46.
        assert_eq!(t.core.run_inactivity_rules(day(46)).await.unwrap(), 1);
        assert_eq!(t.core.run_inactivity_rules(day(46)).await.unwrap(), 0);

        // Delete: the rule deletes, with their tokens.
        let delete = InstanceSettingsView {
            inactivity_days: Some(1),
            inactivity_action: Some("Delete".into()),
            ..Default::default()
        };
        t.core
            .update_instance_settings(day(50), &p, i.id, &delete, &meta)
            .await
            .unwrap();
        let c = t
            .core
            .register(day(50), &i.credentials(), RegisterRequest::default(), &meta)
            .await
            .unwrap();
        assert_eq!(t.core.run_inactivity_rules(day(60)).await.unwrap(), 1);
        let gone = c.device_token.unwrap().to_string();
        assert!(t.core.store().find_user(&gone).await.unwrap().is_none());
    }
}
