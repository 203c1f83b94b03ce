//! `flag_ends`: flags set for a while. A row says when a user's flag goes back, and to what;
//! the scheduler claims due rows by deleting them in the transaction that changes the users.

use sqlx::QueryBuilder;

use super::*;
use crate::types::Flag;

/// A flag's end, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FlagEndRow {
    pub device_token: String,
    /// `Flag::key` (`tracking`, `logging`, `sdk`, `realtime`).
    pub flag: String,
    pub revert_to: bool,
    pub ends_at: i64,
    pub set_by: String,
}

impl Store {
    /// The ends pending for one user.
    pub async fn flag_ends_of(&self, device_token: &str) -> CoreResult<Vec<FlagEndRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, FlagEndRow>(
            "SELECT device_token, flag, revert_to, ends_at, set_by FROM flag_ends
             WHERE device_token = $1 ORDER BY ends_at"
        )
        .bind(device_token)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    /// The earliest pending end (one read of the index): what an idle scheduler asks.
    pub async fn next_flag_end(&self) -> CoreResult<Option<i64>> {
        on_pool!(self, |c| sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MIN(ends_at) FROM flag_ends"
        )
        .fetch_one(c)
        .await
        .map_err(db_err))
    }
}

impl Tx {
    /// `flag` was set to `value` for the selected users: any end it had is replaced by
    /// `until` (ms), capped for debug logging by each user's instance's maximum (which also
    /// gives an end to a logging switched on without one). Returns how many ends are set.
    pub async fn schedule_flag_ends(
        &mut self,
        selection: &Selection,
        flag: Flag,
        value: bool,
        until: Option<i64>,
        now: i64,
        actor: &str,
    ) -> CoreResult<u64> {
        on_tx!(self, |c| {
            let mut q = QueryBuilder::new("DELETE FROM flag_ends WHERE flag = ");
            q.push_bind(flag.key());
            q.push(" AND device_token IN (SELECT device_token FROM users WHERE 1 = 1");
            push_selection!(q, selection);
            q.push(")");
            q.build().execute(&mut *c).await.map_err(db_err)?;
        });
        let capped = flag == Flag::Logging && value;
        if until.is_none() {
            // No end asked: only an instance's cap can give one (most deployments have none,
            // and a bulk change of every user should not walk them for nothing).
            let any_cap = capped
                && on_tx!(self, |c| sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM instances WHERE max_logging_minutes IS NOT NULL"
                )
                .fetch_one(&mut *c)
                .await
                .map_err(db_err))?
                    > 0;
            if !any_cap {
                return Ok(0);
            }
        }
        on_tx!(self, |c| {
            let mut q = QueryBuilder::new(
                "INSERT INTO flag_ends (device_token, flag, revert_to, ends_at, set_by, created_at)
                 SELECT device_token, flag, revert_to, ends_at, set_by, created_at FROM (
                 SELECT u.device_token AS device_token, ",
            );
            q.push_bind(flag.key()).push(" AS flag, ");
            q.push_bind(!value).push(" AS revert_to, ");
            if capped {
                let max = "(i.max_logging_minutes * 60000 + ";
                q.push("CASE WHEN i.max_logging_minutes IS NULL THEN ")
                    .push_bind(until);
                q.push(" WHEN ")
                    .push_bind(until)
                    .push(" IS NULL OR ")
                    .push_bind(until);
                q.push(format!(" > {max}"))
                    .push_bind(now)
                    .push(format!(") THEN {max}"));
                q.push_bind(now)
                    .push(") ELSE ")
                    .push_bind(until)
                    .push(" END");
            } else {
                q.push("CAST(").push_bind(until).push(" AS BIGINT)");
            }
            q.push(" AS ends_at, ")
                .push_bind(actor.to_string())
                .push(" AS set_by, ");
            q.push_bind(now).push(
                " AS created_at FROM users u JOIN instances i ON i.id = u.instance_id WHERE 1 = 1",
            );
            push_selection!(q, selection);
            q.push(") planned WHERE ends_at IS NOT NULL");
            q.build()
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
                .map_err(db_err)
        })
    }

    /// Claims up to `limit` ends due at `now`: deleted here, so a replica that claims at the
    /// same moment gets others (PostgreSQL skips rows another transaction holds; SQLite has
    /// one writer).
    pub async fn claim_due_flag_ends(
        &mut self,
        now: i64,
        limit: i64,
    ) -> CoreResult<Vec<FlagEndRow>> {
        match &mut self.conn {
            TxConn::Sqlite(tx) => sqlx::query_as::<_, FlagEndRow>(
                "DELETE FROM flag_ends WHERE rowid IN (
                     SELECT rowid FROM flag_ends WHERE ends_at <= $1 ORDER BY ends_at LIMIT $2)
                 RETURNING device_token, flag, revert_to, ends_at, set_by",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(tx.conn().await?)
            .await
            .map_err(db_err),
            TxConn::Postgres(tx) => sqlx::query_as::<_, FlagEndRow>(
                "DELETE FROM flag_ends WHERE (device_token, flag) IN (
                     SELECT device_token, flag FROM flag_ends WHERE ends_at <= $1
                     ORDER BY ends_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                 RETURNING device_token, flag, revert_to, ends_at, set_by",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(tx.conn().await?)
            .await
            .map_err(db_err),
        }
    }
}
