//! Instance settings (columns of `instances`) and the claims of the inactivity rules.

use super::*;
use crate::instance_settings::{InstanceSettings, InstanceSettingsRow};

const SETTINGS_SELECT: &str = "SELECT active_window_days, max_logging_minutes, default_tracking,
        default_logging, default_sdk, default_realtime, inactivity_days, inactivity_action,
        access_token_minutes, refresh_token_hours
     FROM instances WHERE id = $1";

impl Store {
    pub async fn instance_settings(&self, instance_id: &str) -> CoreResult<InstanceSettingsRow> {
        on_pool!(self, |c| sqlx::query_as::<_, InstanceSettingsRow>(
            SETTINGS_SELECT
        )
        .bind(instance_id)
        .fetch_one(c)
        .await
        .map_err(db_err))
    }

    /// Every instance with an inactivity rule not run since `since` (ms): (id, days, action).
    pub async fn inactivity_rules(&self, since: i64) -> CoreResult<Vec<(String, i64, String)>> {
        on_pool!(self, |c| sqlx::query_as::<_, (String, i64, String)>(
            "SELECT id, inactivity_days, inactivity_action FROM instances
             WHERE inactivity_days IS NOT NULL AND inactivity_action IS NOT NULL
               AND (inactivity_checked_at IS NULL OR inactivity_checked_at <= $1)"
        )
        .bind(since)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }
}

impl Tx {
    pub async fn instance_settings(
        &mut self,
        instance_id: &str,
    ) -> CoreResult<InstanceSettingsRow> {
        on_tx!(self, |c| sqlx::query_as::<_, InstanceSettingsRow>(
            SETTINGS_SELECT
        )
        .bind(instance_id)
        .fetch_one(&mut *c)
        .await
        .map_err(db_err))
    }

    pub async fn set_instance_settings(
        &mut self,
        instance_id: &str,
        s: &InstanceSettings,
    ) -> CoreResult<()> {
        let f = s.default_flags;
        on_tx!(self, |c| sqlx::query(concat!(
            "UPDATE instances SET ",
            next_revision!(),
            ", active_window_days = $1, max_logging_minutes = $2,
                default_tracking = $3, default_logging = $4, default_sdk = $5,
                default_realtime = $6, inactivity_days = $7, inactivity_action = $8,
                access_token_minutes = $9, refresh_token_hours = $10
             WHERE id = $11"
        ))
        .bind(s.active_window_days)
        .bind(s.max_logging_minutes)
        .bind(f[0])
        .bind(f[1])
        .bind(f[2])
        .bind(f[3])
        .bind(s.inactivity.map(|(d, _)| d))
        .bind(s.inactivity.map(|(_, a)| a.as_str()))
        .bind(s.lifetimes.access_minutes)
        .bind(s.lifetimes.refresh_hours)
        .bind(instance_id)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Claims an instance's inactivity run at `now` unless one ran within `every` ms (on any
    /// replica): true when this transaction runs it.
    pub async fn claim_inactivity_run(
        &mut self,
        instance_id: &str,
        now: i64,
        every: i64,
    ) -> CoreResult<bool> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE instances SET inactivity_checked_at = $1
             WHERE id = $2 AND (inactivity_checked_at IS NULL OR inactivity_checked_at <= $3)"
        )
        .bind(now)
        .bind(instance_id)
        .bind(now - every)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err))
    }
}
