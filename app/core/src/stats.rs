//! Statistics of the whole fleet (the dashboard's overview): totals by status and flag, 30 days
//! of registrations and refreshes, the latest security events.
//!
//! Costs: totals by status and the four flag totals come from the counters the triggers
//! keep (a few rows per instance and day, not the users); refreshes per day read an index
//! range of the last 30 days' refresh-issued access tokens.

use chrono::{DateTime, Utc};
use tus_wire::views::Action;

use super::audit::audit_entry_view;
use super::error::CoreResult;
use super::principal::Principal;
use super::time::{from_ms, ms};
use super::types::format_datetime;
use super::Core;
use crate::audit::AuditAction;
use tus_wire::views::{DayCount, Overview};

const DAY_MS: i64 = 86_400_000;
pub const CHART_DAYS: i64 = 30;

/// The actions the overview lists as security events.
pub const SECURITY_ACTIONS: [AuditAction; 7] = [
    AuditAction::RefreshReuse,
    AuditAction::LoginFailed,
    AuditAction::LoginRateLimited,
    AuditAction::RegistrationRateLimited,
    AuditAction::InstanceKeyRevealed,
    AuditAction::InstanceKeyRotated,
    AuditAction::UserTokensRevoked,
];

/// Every day from `first` for `CHART_DAYS` days, with the counts found (0 elsewhere).
fn fill_days(first: i64, found: &[(i64, i64)]) -> Vec<DayCount> {
    (first..first + CHART_DAYS)
        .map(|day| DayCount {
            day: format_datetime(from_ms(day * DAY_MS))[..10].to_string(),
            count: found.iter().find(|(d, _)| *d == day).map_or(0, |(_, n)| *n),
        })
        .collect()
}

impl Core {
    /// Admin: the overview at `now`.
    pub async fn overview(&self, now: DateTime<Utc>, p: &Principal) -> CoreResult<Overview> {
        p.allow(Action::ReadUsers)?;
        let store = self.store();
        let today = ms(now).div_euclid(DAY_MS);
        let first = today - (CHART_DAYS - 1);
        // A caller limited to some instances sees their counters only; refreshes and security
        // events span every instance, so they are left out for such a caller.
        let limit = p.instance_limit();
        let (active, deactivated) = store.users_by_status(limit).await?;
        let flags = store.flag_totals(limit).await?;
        let registrations = store.registrations_per_day(first, limit).await?;
        let activity = store.activity_totals(limit, ms(now)).await?;
        let active_drivers = store.active_per_day(first, limit).await?;
        let (refreshes, events) = match limit {
            Some(_) => (Vec::new(), Vec::new()),
            None => (
                store
                    .access_tokens_per_day("refresh", first * DAY_MS, (today + 1) * DAY_MS)
                    .await?,
                store
                    .latest_audit(&SECURITY_ACTIONS.map(AuditAction::as_str), 10)
                    .await?,
            ),
        };
        Ok(Overview {
            users: active + deactivated,
            active,
            deactivated,
            tracking_on: flags[0],
            logging_on: flags[1],
            sdk_on: flags[2],
            real_time_on: flags[3],
            registrations: fill_days(first, &registrations),
            activity,
            active_drivers: fill_days(first, &active_drivers),
            refreshes: match limit {
                Some(_) => Vec::new(),
                None => fill_days(first, &refreshes),
            },
            scoped: limit.is_some(),
            security_events: events.into_iter().map(audit_entry_view).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::RefreshPair;
    use crate::testing::{admin, at, fleet, test_core};
    use crate::RequestMeta;
    use chrono::Duration;
    use tus_wire::model::{RefreshRequest, RegisterRequest, UpdateUserRequest, UserFieldsInput};

    #[tokio::test]
    async fn the_overview_counts_users_flags_registrations_refreshes_and_events() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        let day = |d: i64| at(d * 86_400);
        let meta = RequestMeta::default();
        // Two users on day 0, one on day 2 (tracking off), one deactivated on day 2.
        let mut first = None;
        for (d, tracking, status) in [
            (0, true, "Active"),
            (0, true, "Active"),
            (2, false, "Active"),
            (2, true, "Deactivated"),
        ] {
            let req = RegisterRequest {
                status: Some(status.into()),
                user_fields: Some(UserFieldsInput {
                    enable_tracking: Some(tracking),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let c = t
                .core
                .register(
                    day(d),
                    &i.credentials(),
                    req,
                    &crate::RequestMeta::default(),
                )
                .await
                .unwrap();
            first.get_or_insert(c);
        }
        // One refresh on day 3; a reuse of the old token is a security event.
        let c = first.unwrap();
        let pair = RefreshPair::try_from(RefreshRequest {
            mobile_device: None,
            access_token: Some(c.access_token.unwrap().token),
            refresh_token: Some(c.refresh_token.unwrap().expose().to_string()),
        })
        .unwrap();
        t.core.refresh(day(3), pair.clone(), &meta).await.unwrap();
        assert!(t
            .core
            .refresh(day(3) + Duration::minutes(5), pair, &meta)
            .await
            .is_err());
        let dt = c.device_token.unwrap();
        let logging = UpdateUserRequest {
            user_fields: Some(UserFieldsInput {
                enable_logging: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        t.core
            .update_user(day(3), &admin(), dt, logging.try_into().unwrap(), &meta)
            .await
            .unwrap();

        let o = t.core.overview(day(3), &admin()).await.unwrap();
        assert_eq!((o.users, o.active, o.deactivated), (4, 3, 1));
        assert_eq!(
            (o.tracking_on, o.logging_on, o.sdk_on, o.real_time_on),
            (3, 1, 4, 0)
        );
        assert_eq!(o.registrations.len(), 30);
        let tail: Vec<i64> = o.registrations[26..].iter().map(|d| d.count).collect();
        assert_eq!(tail, [2, 0, 2, 0]);
        assert_eq!(o.registrations[29].day, format_datetime(day(3))[..10]);
        let refreshes: Vec<i64> = o.refreshes[26..].iter().map(|d| d.count).collect();
        assert_eq!(refreshes, [0, 0, 0, 1]);
        assert_eq!(o.security_events.len(), 1);
        assert_eq!(o.security_events[0].action, "refresh.reuse");
        // Days before the window are not charted.
        let later = t.core.overview(day(40), &admin()).await.unwrap();
        assert!(later.registrations.iter().all(|d| d.count == 0));
    }

    /// The overview's flag totals come from the counters (migration 0008): after every kind
    /// of write they equal a pass over the users table.
    #[tokio::test]
    async fn flag_totals_follow_every_kind_of_change() {
        use crate::bulk::BulkOutcome;
        use tus_wire::model::{CreateManyRequest, CustomFieldsInput};
        use tus_wire::views::{BulkAction, BulkTarget, Flag, UserListQuery};

        let t = test_core(|_| {}).await;
        let a = t.core.create_instance(at(0), None, "A", "").await.unwrap();
        let b = t.core.create_instance(at(0), None, "B", "").await.unwrap();
        let meta = RequestMeta::default();
        let totals = |label: &'static str| {
            let t = &t;
            async move {
                let o = t.core.overview(at(100), &admin()).await.unwrap();
                let counted = [o.tracking_on, o.logging_on, o.sdk_on, o.real_time_on];
                let scanned = t.core.store().flag_totals_by_scan().await.unwrap();
                assert_eq!(counted, scanned, "after {label}");
                counted
            }
        };
        assert_eq!(totals("nothing").await, [0; 4]);

        // One statement inserting many rows, with tracking and real-time on.
        let many = CreateManyRequest {
            quantity: Some(40),
            create_access_token: Some(false),
            custom_fields: Some(CustomFieldsInput {
                enable_tracking: Some(true),
                enable_logging: Some(false),
                enabled: Some(true),
                enable_real_time_location: Some(true),
            }),
            ..Default::default()
        };
        t.core
            .register_many(at(1), &a.credentials(), many, &meta)
            .await
            .unwrap();
        // Single registrations on other days and in B, logging on, tracking off.
        let mut singles = Vec::new();
        for (n, i) in [(0, &a), (1, &b), (2, &b)] {
            let req = RegisterRequest {
                user_fields: Some(UserFieldsInput {
                    enable_tracking: Some(false),
                    enable_logging: Some(true),
                    ..Default::default()
                }),
                create_access_token: Some(false),
                ..Default::default()
            };
            let c = t
                .core
                .register(
                    at(86_400 * (n + 1)),
                    &i.credentials(),
                    req,
                    &crate::RequestMeta::default(),
                )
                .await
                .unwrap();
            singles.push(c.device_token.unwrap());
        }
        assert_eq!(totals("registrations").await, [40, 3, 43, 40]);

        // A flag on one user; then a status change and a flag in the same update.
        let logging_on = |on: bool, status: Option<&str>| UpdateUserRequest {
            status: status.map(String::from),
            user_fields: Some(UserFieldsInput {
                enable_logging: Some(on),
                ..Default::default()
            }),
            ..Default::default()
        };
        t.core
            .update_user(
                at(10),
                &admin(),
                singles[0],
                logging_on(false, None).try_into().unwrap(),
                &meta,
            )
            .await
            .unwrap();
        assert_eq!(totals("one flag").await, [40, 2, 43, 40]);
        t.core
            .update_user(
                at(11),
                &admin(),
                singles[1],
                logging_on(false, Some("Deactivated")).try_into().unwrap(),
                &meta,
            )
            .await
            .unwrap();
        assert_eq!(totals("status and flag at once").await, [40, 1, 43, 40]);

        // Bulk: tracking off for everyone in A (one statement over many rows).
        let in_a = BulkTarget::Matching(Box::new(UserListQuery {
            instance: Some(a.id.to_string()),
            status: Some("all".into()),
            ..Default::default()
        }));
        let off = BulkAction::SetFlag {
            minutes: None,
            flag: Flag::Tracking,
            value: false,
        };
        let done = t
            .core
            .bulk_apply(at(12), &admin(), &in_a, &off, &meta)
            .await
            .unwrap();
        assert_eq!(done.changed, 40);
        assert_eq!(totals("bulk flag").await, [0, 1, 43, 40]);

        // Bulk: deactivate and move A's users (counter key changes, flags kept).
        t.core
            .bulk_apply(
                at(13),
                &admin(),
                &in_a,
                &BulkAction::SetActive(false),
                &meta,
            )
            .await
            .unwrap();
        let moved = t
            .core
            .bulk_apply(
                at(14),
                &admin(),
                &in_a,
                &BulkAction::Move(b.id.to_string()),
                &meta,
            )
            .await
            .unwrap();
        assert_eq!(moved.changed, 41);
        assert_eq!(totals("status and instance moves").await, [0, 1, 43, 40]);

        // Deletes: one user, then everything in B.
        t.core
            .delete_user(at(15), &admin(), singles[2], &meta)
            .await
            .unwrap();
        assert_eq!(totals("one delete").await, [0, 0, 42, 40]);
        let in_b = BulkTarget::Matching(Box::new(UserListQuery {
            instance: Some(b.id.to_string()),
            status: Some("all".into()),
            ..Default::default()
        }));
        let gone = t
            .core
            .bulk_apply(at(16), &admin(), &in_b, &BulkAction::Delete, &meta)
            .await
            .unwrap();
        assert_eq!(
            gone,
            BulkOutcome {
                matched: 42,
                changed: 42
            }
        );
        assert_eq!(totals("bulk delete").await, [0; 4]);
    }
}
