//! The overview page: totals, 30 days of registrations and refreshes, security events.
//!
//! Costs: totals by status come from the counters the triggers keep; the four flag totals
//! are one pass over the users table (the only full read, about 0.1 s per million users);
//! refreshes per day read an index range of the last 30 days' refresh-issued access tokens.

use chrono::{DateTime, Utc};

use super::error::CoreResult;
use super::management::{audit_entry_view, Principal};
use super::time::{from_ms, ms};
use super::types::format_datetime;
use super::Core;
use crate::views::{DayCount, Overview};

const DAY_MS: i64 = 86_400_000;
pub const CHART_DAYS: i64 = 30;

/// The actions the overview lists as security events.
pub const SECURITY_ACTIONS: [&str; 6] = [
    "refresh.reuse",
    "login.failed",
    "login.rate_limited",
    "instance.key_revealed",
    "instance.key_rotated",
    "user.tokens_revoked",
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
        p.require_admin()?;
        let store = self.store();
        let today = ms(now).div_euclid(DAY_MS);
        let first = today - (CHART_DAYS - 1);
        let (active, deactivated) = store.users_by_status().await?;
        let flags = store.flag_totals().await?;
        let registrations = store.registrations_per_day(first).await?;
        let refreshes = store
            .access_tokens_per_day("refresh", first * DAY_MS, (today + 1) * DAY_MS)
            .await?;
        let events = store.latest_audit(&SECURITY_ACTIONS, 10).await?;
        Ok(Overview {
            users: active + deactivated,
            active,
            deactivated,
            tracking_on: flags[0],
            logging_on: flags[1],
            sdk_on: flags[2],
            real_time_on: flags[3],
            registrations: fill_days(first, &registrations),
            refreshes: fill_days(first, &refreshes),
            security_events: events.into_iter().map(audit_entry_view).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{admin, at, fleet, test_core};
    use crate::core::RequestMeta;
    use crate::model::{RefreshRequest, RegisterRequest, UpdateUserRequest, UserFieldsInput};
    use chrono::Duration;

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
                .register(day(d), &i.credentials(), req)
                .await
                .unwrap();
            first.get_or_insert(c);
        }
        // One refresh on day 3; a reuse of the old token is a security event.
        let c = first.unwrap();
        let pair = RefreshRequest {
            access_token: Some(c.access_token.unwrap().token),
            refresh_token: Some(c.refresh_token.unwrap().expose().to_string()),
        };
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
            .update_user(day(3), &admin(), dt, logging, &meta)
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
}
