//! The driver's life as we see it: its activity status (from its logins and refreshes),
//! the phone it reports (`MobileDevice`), and whether its device has learnt its flags yet.
//! One home for each: the API's user view, the dashboard's list and page, the filters and
//! the counters all ask here.

use tus_wire::model::{MobileDeviceInput, MobileDeviceView};

use crate::audit::AuditAction;
use crate::error::{CoreResult, FieldErrors};
use crate::store::{NewAuditRow, UserRow, Value};
use crate::types::{parse_text, ActivityStatus, DeviceToken, Flag};
use crate::users::patch::{Change, UserPatch};
use crate::users::true_false;

pub const DAY_MS: i64 = 86_400_000;

/// The active window of a new instance, in days.
pub const DEFAULT_ACTIVE_WINDOW_DAYS: i64 = 14;

impl ActivityStatus {
    /// A user's status at `now` (ms): deactivated users are `Deactivated` whatever they did;
    /// others are `Active` when their last login or refresh lies within `window_days`.
    pub fn of(status: &str, last_activity: Option<i64>, window_days: i64, now: i64) -> Self {
        if status != "Active" {
            return ActivityStatus::Deactivated;
        }
        match last_activity {
            None => ActivityStatus::NoData,
            Some(at) if at >= window_start(now, window_days) => ActivityStatus::Active,
            Some(_) => ActivityStatus::Lost,
        }
    }

    pub fn of_row(row: &UserRow, now: i64) -> Self {
        Self::of(
            &row.status,
            row.last_activity_at,
            row.active_window_days,
            now,
        )
    }

    /// A filter value: our names, and the original's (`No Data`, `Inactive` for a
    /// deactivated user). `Error`, a status the original derives from its data side and we
    /// never do, is accepted and matches nobody (`None`).
    pub fn parse_filter(input: &str) -> Result<Option<Self>, String> {
        let folded: String = input
            .trim()
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        match folded.as_str() {
            "inactive" => Ok(Some(ActivityStatus::Deactivated)),
            "error" => Ok(None),
            _ => Self::parse(&folded).map(Some).map_err(|_| {
                "must be one of Active, Lost, NoData, Deactivated (or Inactive, Error)".into()
            }),
        }
    }
}

/// The first millisecond of a window of `days` ending at `now`.
pub fn window_start(now: i64, days: i64) -> i64 {
    now.saturating_sub(days.saturating_mul(DAY_MS))
}

/// Whether a flag changed after the device's newest token (its registration's, or its last
/// login's or refresh's): then the device does not know it yet.
pub fn flags_pending(row: &UserRow) -> bool {
    let newest_token = row.last_activity_at.unwrap_or(row.date_created);
    row.flags_changed_at.is_some_and(|at| at > newest_token)
}

/// A `MobileDevice` to store: each field named is set (or cleared by an empty string).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevicePatch {
    pub mobile_uid: Option<Change<String>>,
    pub device_model: Option<Change<String>>,
    pub os_type: Option<Change<String>>,
    pub os_version: Option<Change<String>>,
    pub sdk_version: Option<Change<String>>,
    pub app_version: Option<Change<String>>,
}

/// An OS name as stored: the two the SDK runs on in their usual spelling, any other as sent.
pub fn os_name(input: &str) -> String {
    match input.trim().to_ascii_lowercase().as_str() {
        "android" => "Android".into(),
        "ios" => "iOS".into(),
        _ => input.trim().to_string(),
    }
}

fn change(e: &mut FieldErrors, key: &str, v: &Option<String>) -> Option<Change<String>> {
    let v = v.as_deref()?;
    e.take(key, parse_text(v))
        .map(|t| t.map_or(Change::Clear, Change::Set))
}

impl DevicePatch {
    /// `MobileDevice` from a request; errors go under `MobileDevice.<Field>`.
    pub fn parse(e: &mut FieldErrors, input: &Option<MobileDeviceInput>) -> Option<Self> {
        let d = input.as_ref()?;
        let key = |f: &str| format!("MobileDevice.{f}");
        let os_type = match &d.os_type {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => match n.as_i64() {
                Some(0) => Some(Change::Set("Android".into())),
                Some(1) => Some(Change::Set("iOS".into())),
                _ => {
                    e.push(key("OsType"), "must be 0 (Android), 1 (iOS) or a name");
                    None
                }
            },
            Some(serde_json::Value::String(s)) => e
                .take(&key("OsType"), parse_text(s))
                .map(|t| t.map_or(Change::Clear, |t| Change::Set(os_name(&t)))),
            Some(_) => {
                e.push(key("OsType"), "must be a string or 0/1");
                None
            }
        };
        let patch = DevicePatch {
            mobile_uid: change(e, &key("MobileUid"), &d.mobile_uid),
            device_model: change(e, &key("DeviceModel"), &d.device_model),
            os_type,
            os_version: change(e, &key("OsVersion"), &d.os_version),
            sdk_version: change(e, &key("SdkVersion"), &d.sdk_version),
            app_version: change(e, &key("AppVersion"), &d.app_version),
        };
        (patch != DevicePatch::default()).then_some(patch)
    }

    /// The columns it sets, with their values.
    pub fn columns(&self) -> Vec<(&'static str, Value)> {
        let fields = [
            ("mobile_uid", &self.mobile_uid),
            ("device_model", &self.device_model),
            ("os_type", &self.os_type),
            ("os_version", &self.os_version),
            ("sdk_version", &self.sdk_version),
            ("app_version", &self.app_version),
        ];
        fields
            .into_iter()
            .filter_map(|(column, c)| {
                c.as_ref()
                    .map(|c| (column, Value::Text(c.as_ref().cloned())))
            })
            .collect()
    }
}

/// A user's view with its flags' ends (`FlagsUntil`: API name → time).
pub fn with_flag_ends(
    mut view: tus_wire::model::UserView,
    ends: &[crate::store::FlagEndRow],
) -> tus_wire::model::UserView {
    let named = ends.iter().filter_map(|e| {
        let flag = crate::types::Flag::ALL
            .into_iter()
            .find(|f| f.key() == e.flag)?;
        Some((flag.api_name().to_string(), crate::time::iso(e.ends_at)))
    });
    view.flags_until = Some(named.collect());
    view
}

/// Ends claimed per transaction.
const ENDS_PER_CLAIM: i64 = 200;

impl crate::Core {
    /// The scheduler: every flag whose end is due at `now` goes back, exactly once however
    /// many replicas run this (each claim deletes its rows in the transaction that changes
    /// the users), audited and sent as `user.flags_changed`. Returns how many went back.
    pub async fn end_due_flags(&self, now: chrono::DateTime<chrono::Utc>) -> CoreResult<usize> {
        let at = crate::time::ms(now);
        let mut ended = 0;
        loop {
            let mut tx = self.store().begin().await?;
            let due = tx.claim_due_flag_ends(at, ENDS_PER_CLAIM).await?;
            if due.is_empty() {
                return Ok(ended);
            }
            let claimed = due.len();
            let mut audits = Vec::new();
            for end in due {
                let Some(flag) = Flag::ALL.into_iter().find(|f| f.key() == end.flag) else {
                    continue;
                };
                let Ok(token) = DeviceToken::parse(&end.device_token) else {
                    continue;
                };
                // A user deleted since took its end with it; one whose flag is already back
                // changes nothing.
                let Some(before) = tx.user_for_update(&token).await? else {
                    continue;
                };
                if before.flags().get(flag) == end.revert_to {
                    continue;
                }
                let patch = UserPatch::flag(flag, end.revert_to, None);
                tx.apply_user_patch(&token, &patch, None, at).await?;
                if let Some(after) = tx.user_for_update(&token).await? {
                    let events = crate::events::user_change_events(now, &before, &after, SCHEDULER);
                    tx.insert_events(&events).await?;
                }
                audits.push(NewAuditRow::new(
                    now,
                    SCHEDULER,
                    AuditAction::FlagEnded,
                    format!("user:{token}"),
                    format!(
                        "{}: {} → {} at its end (set by {})",
                        flag.api_name(),
                        true_false(!end.revert_to),
                        true_false(end.revert_to),
                        end.set_by
                    ),
                ));
                ended += 1;
            }
            for a in &audits {
                tx.audit(a).await?;
            }
            tx.commit().await?;
            if (claimed as i64) < ENDS_PER_CLAIM {
                return Ok(ended);
            }
        }
    }
}

/// The actor of what the scheduler does.
pub const SCHEDULER: &str = "scheduler";

/// The stored device of a user; `None` until its app reported one.
pub fn device_view(row: &UserRow) -> Option<MobileDeviceView> {
    let view = MobileDeviceView {
        mobile_uid: row.mobile_uid.clone(),
        device_model: row.device_model.clone(),
        os_type: row.os_type.clone(),
        os_version: row.os_version.clone(),
        sdk_version: row.sdk_version.clone(),
        app_version: row.app_version.clone(),
    };
    (view != MobileDeviceView::default()).then_some(view)
}

#[cfg(test)]
mod db_tests {
    //! Activity statuses as tokens are used and time passes, on the configured backend.
    use super::*;
    use crate::testing::{admin, at, fleet, test_core, TestCore};
    use crate::time::ms;
    use crate::types::DeviceToken;
    use crate::users::patch::{StatusChange, UserPatch};
    use crate::RequestMeta;
    use tus_wire::model::{LoginRequest, RefreshRequest, RegisterRequest};

    /// Every `now` worth judging at: around each day edge and window edge of the activity.
    async fn counters_equal_a_scan(t: &TestCore, instance: &str, step: &str) {
        let store = t.core.store();
        for hours in [
            0,
            1,
            23,
            24,
            25,
            24 * 13,
            24 * 14 - 1,
            24 * 14,
            24 * 15,
            24 * 40,
        ] {
            for extra in [0, 1_000, 3_599_000] {
                let now = ms(at(0)) + hours * 3_600_000 + extra;
                assert_eq!(
                    store.activity_totals(None, now).await.unwrap(),
                    store.activity_totals_by_scan(None, now).await.unwrap(),
                    "{step}: all instances at {hours} h + {extra} ms"
                );
                let one = vec![instance.to_string()];
                assert_eq!(
                    store.activity_totals(Some(&one), now).await.unwrap(),
                    store
                        .activity_totals_by_scan(Some(instance), now)
                        .await
                        .unwrap(),
                    "{step}: one instance at {hours} h + {extra} ms"
                );
            }
        }
    }

    #[tokio::test]
    async fn statuses_move_with_logins_refreshes_time_and_changes_and_counters_follow() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        let other = t
            .core
            .create_instance(at(0), None, "Other", "")
            .await
            .unwrap();
        let three_days = tus_wire::model::InstanceSettingsView {
            active_window_days: Some(3),
            ..Default::default()
        };
        t.core
            .update_instance_settings(
                at(0),
                &admin(),
                other.id,
                &three_days,
                &RequestMeta::default(),
            )
            .await
            .unwrap();
        let meta = RequestMeta::default();
        let mut users = Vec::new();
        for n in 0..6 {
            let c = t
                .core
                .register(
                    at(n * 60),
                    &i.credentials(),
                    RegisterRequest::default(),
                    &meta,
                )
                .await
                .unwrap();
            users.push(c);
        }
        let token = |n: usize| users[n].device_token.unwrap().to_string();
        let status = |row: &UserRow, now| ActivityStatus::of_row(row, now);
        counters_equal_a_scan(&t, &i.id.to_string(), "registered").await;
        let row = t.core.store().find_user(&token(0)).await.unwrap().unwrap();
        assert_eq!(status(&row, ms(at(0))), ActivityStatus::NoData);

        // Logins at different hours, one with its device.
        let id = i.id.to_string();
        for (n, seconds) in [(0, 3_600), (1, 86_000), (2, 86_400 * 2 + 5)] {
            let login = LoginRequest {
                login_fields: Some(serde_json::json!({ "DeviceToken": token(n) })),
                password: Some(i.key.expose().to_string()),
                mobile_device: (n == 0).then(|| tus_wire::model::MobileDeviceInput {
                    os_type: Some(serde_json::json!("android")),
                    sdk_version: Some("4.2.1".into()),
                    ..Default::default()
                }),
                ..Default::default()
            };
            t.core
                .login(at(seconds), Some(&id), login.try_into().unwrap(), &meta)
                .await
                .unwrap();
        }
        counters_equal_a_scan(&t, &id, "logged in").await;
        let row = t.core.store().find_user(&token(0)).await.unwrap().unwrap();
        assert_eq!(row.last_activity_at, Some(ms(at(3_600))));
        assert_eq!(row.os_type.as_deref(), Some("Android"));
        assert_eq!(row.sdk_version.as_deref(), Some("4.2.1"));
        assert_eq!(
            status(&row, ms(at(3_600)) + 14 * DAY_MS),
            ActivityStatus::Active
        );
        assert_eq!(
            status(&row, ms(at(3_600)) + 14 * DAY_MS + 1),
            ActivityStatus::Lost
        );

        // A refresh a day later moves the user to a later day.
        let c = &users[3];
        let refresh = RefreshRequest {
            access_token: Some(c.access_token.clone().unwrap().token),
            refresh_token: Some(c.refresh_token.clone().unwrap().expose().to_string()),
            mobile_device: None,
        };
        t.core
            .refresh(at(86_400 * 3), refresh.try_into().unwrap(), &meta)
            .await
            .unwrap();
        counters_equal_a_scan(&t, &id, "refreshed").await;

        // Deactivated, moved to an instance with a 3-day window, deleted.
        let p = admin();
        let dt = |n: usize| DeviceToken::parse(&token(n)).unwrap();
        let off = UserPatch {
            status: Some(StatusChange::Set(crate::types::UserStatus::Deactivated)),
            ..UserPatch::default()
        };
        t.core
            .update_user(at(90_000), &p, dt(1), off, &meta)
            .await
            .unwrap();
        counters_equal_a_scan(&t, &id, "deactivated").await;
        t.core
            .move_user_to(at(90_001), &p, dt(2), &other.id.to_string(), &meta)
            .await
            .unwrap();
        counters_equal_a_scan(&t, &id, "moved").await;
        t.core
            .delete_user(at(90_002), &p, dt(3), &meta)
            .await
            .unwrap();
        counters_equal_a_scan(&t, &id, "deleted").await;

        // The daily series counts each user once a day.
        let days = t
            .core
            .store()
            .active_per_day(ms(at(0)) / DAY_MS, None)
            .await
            .unwrap();
        let total: i64 = days.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 4, "{days:?}");
    }
}

#[cfg(test)]
mod flag_end_tests {
    use super::*;
    use crate::testing::{admin, at, fleet, replica, test_core};
    use crate::time::ms;
    use crate::RequestMeta;
    use tus_wire::model::RegisterRequest;
    use tus_wire::views::{BulkAction, BulkTarget};

    #[tokio::test]
    async fn a_flag_set_for_an_hour_goes_back_once_whatever_the_replicas() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        let meta = RequestMeta::default();
        let c = t
            .core
            .register(at(0), &i.credentials(), RegisterRequest::default(), &meta)
            .await
            .unwrap();
        let token = c.device_token.unwrap();
        let key = token.to_string();
        let p = admin();
        t.core
            .set_flag(
                at(10),
                &p,
                token,
                Flag::Logging,
                true,
                Some(ms(at(3_610))),
                &meta,
            )
            .await
            .unwrap();
        let ends = t.core.store().flag_ends_of(&key).await.unwrap();
        assert_eq!(ends.len(), 1);
        assert_eq!((ends[0].ends_at, ends[0].revert_to), (ms(at(3_610)), false));
        let view = t.core.user_view(&p, token).await.unwrap();
        assert_eq!(
            view.flags_until.unwrap()["EnableLogging"],
            crate::time::iso(ms(at(3_610)))
        );
        // An end in the past is refused, and changes nothing.
        assert!(t
            .core
            .set_flag(
                at(20),
                &p,
                token,
                Flag::Tracking,
                false,
                Some(ms(at(20))),
                &meta
            )
            .await
            .is_err());

        // Not yet due: nothing. Due, on two replicas at once: exactly one goes back.
        assert_eq!(t.core.end_due_flags(at(3_609)).await.unwrap(), 0);
        let other = replica(&t, |_| {}).await;
        let (a, b) = tokio::join!(
            t.core.end_due_flags(at(3_610)),
            other.end_due_flags(at(3_611))
        );
        assert_eq!(a.unwrap() + b.unwrap(), 1);
        assert_eq!(t.core.end_due_flags(at(4_000)).await.unwrap(), 0);
        let row = t.core.store().find_user(&key).await.unwrap().unwrap();
        assert!(!row.enable_logging);
        // Noted at the claiming replica's time: the device learns it at its next token.
        let changed = row.flags_changed_at.unwrap();
        assert!(
            changed == ms(at(3_610)) || changed == ms(at(3_611)),
            "{changed}"
        );
        assert!(t.core.store().flag_ends_of(&key).await.unwrap().is_empty());
        let audits = t
            .core
            .store()
            .latest_audit(&[AuditAction::FlagEnded.as_str()], 10)
            .await
            .unwrap();
        assert_eq!(audits.len(), 1);
        assert!(
            audits[0].detail.contains("EnableLogging: True → False"),
            "{}",
            audits[0].detail
        );
        let mut tx = t.core.store().begin().await.unwrap();
        let events = tx
            .events_between(ms(at(3_600)), ms(at(4_000)), 10)
            .await
            .unwrap();
        assert_eq!(
            events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            ["user.flags_changed"]
        );
        drop(tx);

        // A flag set for good loses its end.
        t.core
            .set_flag(
                at(5_000),
                &p,
                token,
                Flag::RealTime,
                true,
                Some(ms(at(9_000))),
                &meta,
            )
            .await
            .unwrap();
        t.core
            .set_flag(at(5_001), &p, token, Flag::RealTime, true, None, &meta)
            .await
            .unwrap();
        assert!(t.core.store().flag_ends_of(&key).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_instance_caps_debug_logging_and_bulk_actions_set_ends_too() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        let meta = RequestMeta::default();
        let mut tokens = Vec::new();
        for n in 0..3 {
            let c = t
                .core
                .register(at(n), &i.credentials(), RegisterRequest::default(), &meta)
                .await
                .unwrap();
            tokens.push(c.device_token.unwrap());
        }
        let p = admin();
        let capped = tus_wire::model::InstanceSettingsView {
            max_logging_minutes: Some(30),
            ..Default::default()
        };
        t.core
            .update_instance_settings(at(0), &p, i.id, &capped, &meta)
            .await
            .unwrap();
        // On for good: ends after the maximum. On for two hours: capped at the maximum.
        t.core
            .set_flag(at(100), &p, tokens[0], Flag::Logging, true, None, &meta)
            .await
            .unwrap();
        t.core
            .set_flag(
                at(100),
                &p,
                tokens[1],
                Flag::Logging,
                true,
                Some(ms(at(7_300))),
                &meta,
            )
            .await
            .unwrap();
        for (n, token) in tokens[..2].iter().enumerate() {
            let ends = t
                .core
                .store()
                .flag_ends_of(&token.to_string())
                .await
                .unwrap();
            assert_eq!(ends[0].ends_at, ms(at(100)) + 30 * 60_000, "user {n}");
        }
        // Tracking is not capped; switching logging off needs no end.
        t.core
            .set_flag(at(100), &p, tokens[2], Flag::Logging, false, None, &meta)
            .await
            .unwrap();
        assert!(t
            .core
            .store()
            .flag_ends_of(&tokens[2].to_string())
            .await
            .unwrap()
            .is_empty());

        // A bulk "tracking off for 1 hour" on every user.
        let every = BulkTarget::Selected(tokens.iter().map(|t| t.to_string()).collect());
        let off = BulkAction::SetFlag {
            flag: Flag::Tracking,
            value: false,
            minutes: Some(60),
        };
        let done = t
            .core
            .bulk_apply(at(200), &p, &every, &off, &meta)
            .await
            .unwrap();
        assert_eq!(done.changed, 3);
        assert_eq!(t.core.end_due_flags(at(200 + 3_600)).await.unwrap(), 3 + 2);
        for token in &tokens {
            let row = t
                .core
                .store()
                .find_user(&token.to_string())
                .await
                .unwrap()
                .unwrap();
            assert!(row.enable_tracking && !row.enable_logging);
        }
        let bad = BulkAction::SetFlag {
            flag: Flag::Tracking,
            value: false,
            minutes: Some(0),
        };
        assert!(t
            .core
            .bulk_apply(at(300), &p, &every, &bad, &meta)
            .await
            .is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn status_follows_the_window_edge_to_the_millisecond() {
        let s = |last: Option<i64>| ActivityStatus::of("Active", last, 14, NOW);
        assert_eq!(s(None), ActivityStatus::NoData);
        assert_eq!(s(Some(NOW)), ActivityStatus::Active);
        assert_eq!(s(Some(NOW - 14 * DAY_MS)), ActivityStatus::Active);
        assert_eq!(s(Some(NOW - 14 * DAY_MS - 1)), ActivityStatus::Lost);
        assert_eq!(
            ActivityStatus::of("Deactivated", Some(NOW), 14, NOW),
            ActivityStatus::Deactivated
        );
        assert_eq!(
            ActivityStatus::of("Active", Some(NOW - 2 * DAY_MS), 1, NOW),
            ActivityStatus::Lost
        );
    }

    #[test]
    fn filters_take_our_names_and_the_originals() {
        let p = |s: &str| ActivityStatus::parse_filter(s);
        assert_eq!(p("Active"), Ok(Some(ActivityStatus::Active)));
        assert_eq!(p("No Data"), Ok(Some(ActivityStatus::NoData)));
        assert_eq!(p("nodata"), Ok(Some(ActivityStatus::NoData)));
        assert_eq!(p("Inactive"), Ok(Some(ActivityStatus::Deactivated)));
        assert_eq!(p("lost"), Ok(Some(ActivityStatus::Lost)));
        assert_eq!(p("Error"), Ok(None));
        assert!(p("Sleeping").is_err());
    }

    #[test]
    fn a_device_parses_every_field_and_names_the_bad_ones() {
        let mut e = FieldErrors::default();
        let input = MobileDeviceInput {
            mobile_uid: Some(" abc ".into()),
            os_type: Some(serde_json::json!(1)),
            sdk_version: Some("".into()),
            app_version: Some("x".repeat(300)),
            device_model: Some("Pixel\u{0}".into()),
            ..MobileDeviceInput::default()
        };
        let patch = DevicePatch::parse(&mut e, &Some(input)).unwrap();
        assert_eq!(patch.mobile_uid, Some(Change::Set("abc".into())));
        assert_eq!(patch.os_type, Some(Change::Set("iOS".into())));
        assert_eq!(patch.sdk_version, Some(Change::Clear));
        let keys: Vec<String> = e.0.iter().map(|f| f.key.clone()).collect();
        assert_eq!(
            keys,
            ["MobileDevice.DeviceModel", "MobileDevice.AppVersion"]
        );
        let mut e = FieldErrors::default();
        let odd = MobileDeviceInput {
            os_type: Some(serde_json::json!(7)),
            ..MobileDeviceInput::default()
        };
        DevicePatch::parse(&mut e, &Some(odd));
        assert_eq!(e.0[0].key, "MobileDevice.OsType");
        assert_eq!(os_name("ANDROID"), "Android");
        assert_eq!(os_name("HarmonyOS"), "HarmonyOS");
    }
}
