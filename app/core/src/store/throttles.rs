//! The throttle counters (`rate_limits`): read under lock, judged by `core::ratelimit`, and
//! written back in the same transaction.

use super::{db_err, Tx, TxConn};
use crate::error::CoreResult;

/// One bucket's counters.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RateRow {
    pub window_start: i64,
    pub count: i64,
    pub locked_until: Option<i64>,
    pub strikes: i64,
    pub refused: i64,
}

impl Tx {
    /// The bucket's counters, created empty when missing; on PostgreSQL the row stays
    /// locked until the transaction ends, so concurrent attempts queue on it (SQLite runs
    /// one writer transaction at a time).
    pub async fn rate_bucket(
        &mut self,
        bucket: &str,
        subject: Option<&str>,
        now: i64,
    ) -> CoreResult<RateRow> {
        const SELECT: &str = "SELECT window_start, count, locked_until, strikes, refused
                              FROM rate_limits WHERE bucket = $1";
        let sql = match &mut self.conn {
            TxConn::Sqlite(_) => SELECT.to_string(),
            TxConn::Postgres(_) => format!("{SELECT} FOR UPDATE"),
        };
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO rate_limits (bucket, subject, window_start, count) VALUES ($1, $2, $3, 0)
                 ON CONFLICT (bucket) DO NOTHING")
                .bind(bucket).bind(subject).bind(now)
                .execute(&mut *c).await.map_err(db_err)?;
            sqlx::query_as::<_, RateRow>(&sql)
                .bind(bucket)
                .fetch_one(&mut *c)
                .await
                .map_err(db_err)
        })
    }

    pub async fn save_rate_bucket(&mut self, bucket: &str, row: &RateRow) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE rate_limits SET window_start = $2, count = $3, locked_until = $4, strikes = $5,
                    refused = $6
             WHERE bucket = $1"
        )
        .bind(bucket)
        .bind(row.window_start)
        .bind(row.count)
        .bind(row.locked_until)
        .bind(row.strikes)
        .bind(row.refused)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    pub async fn delete_rate_bucket(&mut self, bucket: &str) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "DELETE FROM rate_limits WHERE bucket = $1"
        )
        .bind(bucket)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Gives one counted attempt back (a success is not a failure).
    pub async fn refund_rate_bucket(&mut self, bucket: &str) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE rate_limits SET count = count - 1 WHERE bucket = $1 AND count > 0"
        )
        .bind(bucket)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Deletes every bucket of a login name, from every address; returns how many.
    pub async fn delete_rate_limits_of(&mut self, subject: &str) -> CoreResult<u64> {
        on_tx!(self, |c| sqlx::query(
            "DELETE FROM rate_limits WHERE subject = $1"
        )
        .bind(subject)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected())
        .map_err(db_err))
    }

    /// Deletes buckets whose window began before `idle_before` and that hold no lock at `now`.
    pub async fn purge_rate_limits(&mut self, idle_before: i64, now: i64) -> CoreResult<u64> {
        on_tx!(self, |c| sqlx::query(
            "DELETE FROM rate_limits WHERE window_start < $1 AND COALESCE(locked_until, 0) < $2"
        )
        .bind(idle_before)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected())
        .map_err(db_err))
    }
}
