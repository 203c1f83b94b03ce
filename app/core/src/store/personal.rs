//! What the store holds about one user beyond its row, for its data export and erasure, and
//! the retention of the audit trail and of sent messages.

use super::*;

/// Rows deleted per statement by a retention purge (short transactions).
const PURGE_CHUNK: i64 = 5_000;

impl Store {
    /// Audit entries about a user (as target) or by it (as actor), newest first.
    pub async fn audit_about(&self, device_token: &str, limit: i64) -> CoreResult<Vec<AuditRow>> {
        let target = format!("user:{device_token}");
        on_pool!(self, |c| sqlx::query_as::<_, AuditRow>(
            "SELECT id, at, actor, action, target, detail, client_addr FROM audit_log
             WHERE target = $1 OR actor = $2 ORDER BY id DESC LIMIT $3"
        )
        .bind(&target)
        .bind(device_token)
        .bind(limit)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    /// Deletes audit entries older than `before` (ms), in chunks; returns how many.
    pub async fn purge_audit(&self, before: i64) -> CoreResult<u64> {
        self.purge_chunks(
            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 LIMIT $2)",
            before,
        )
        .await
    }

    /// Deletes e-mail and SMS messages that ended (sent, failed, cancelled) before `before`
    /// (ms), with their attempts; returns how many messages.
    pub async fn purge_messages(&self, before: i64) -> CoreResult<u64> {
        let ended = "SELECT id FROM outbox WHERE kind IN ('email', 'sms')
             AND state IN ('sent', 'failed', 'cancelled') AND updated_at < $1 LIMIT $2";
        let mut total = 0;
        loop {
            let mut tx = self.begin().await?;
            let n = on_tx!(&mut tx, |c| {
                sqlx::query(&format!(
                    "DELETE FROM outbox_attempts WHERE message_id IN ({ended})"
                ))
                .bind(before)
                .bind(PURGE_CHUNK)
                .execute(&mut *c)
                .await
                .map_err(db_err)?;
                sqlx::query(&format!("DELETE FROM outbox WHERE id IN ({ended})"))
                    .bind(before)
                    .bind(PURGE_CHUNK)
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(db_err)
            })?;
            tx.commit().await?;
            total += n;
            if n < PURGE_CHUNK as u64 {
                return Ok(total);
            }
        }
    }

    async fn purge_chunks(&self, sql: &str, before: i64) -> CoreResult<u64> {
        let mut total = 0;
        loop {
            let mut tx = self.begin().await?;
            let n = on_tx!(&mut tx, |c| sqlx::query(sql)
                .bind(before)
                .bind(PURGE_CHUNK)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
                .map_err(db_err))?;
            tx.commit().await?;
            total += n;
            if n < PURGE_CHUNK as u64 {
                return Ok(total);
            }
        }
    }
}

impl Tx {
    /// Erases what the audit trail, the events and the messages hold about a user: its
    /// DeviceToken becomes `pseudonym` wherever it is actor or target, those entries' details
    /// (which may name its ClientId, fields or addresses) are replaced, the payloads of its
    /// events are emptied of everything but their type, and its messages lose their address
    /// and body. Returns (audit entries, events, messages) touched.
    pub async fn erase_traces(
        &mut self,
        device_token: &str,
        pseudonym: &str,
    ) -> CoreResult<(u64, u64, u64)> {
        let target = format!("user:{device_token}");
        let erased_target = format!("user:{pseudonym}");
        on_tx!(self, |c| {
            let a = sqlx::query(
                "UPDATE audit_log SET target = $1, detail = '(erased with the user)'
                 WHERE target = $2",
            )
            .bind(&erased_target)
            .bind(&target)
            .execute(&mut *c)
            .await
            .map_err(db_err)?
            .rows_affected();
            let b = sqlx::query(
                "UPDATE audit_log SET actor = $1, detail = '(erased with the user)'
                 WHERE actor = $2",
            )
            .bind(pseudonym)
            .bind(device_token)
            .execute(&mut *c)
            .await
            .map_err(db_err)?
            .rows_affected();
            let events = sqlx::query(
                "UPDATE events SET payload = '{\"Erased\":true}', device_token = NULL
                 WHERE device_token = $1",
            )
            .bind(device_token)
            .execute(&mut *c)
            .await
            .map_err(db_err)?
            .rows_affected();
            let messages = sqlx::query(
                "UPDATE outbox SET recipient = '(erased)', subject = '(erased)', sealed = NULL,
                    last_error = NULL, device_token = NULL,
                    state = CASE WHEN state IN ('queued', 'sending') THEN 'cancelled' ELSE state END
                 WHERE device_token = $1 AND kind IN ('email', 'sms')",
            )
            .bind(device_token)
            .execute(&mut *c)
            .await
            .map_err(db_err)?
            .rows_affected();
            Ok((a + b, events, messages))
        })
    }
}
