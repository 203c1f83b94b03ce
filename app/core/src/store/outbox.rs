//! The outbox (`outbox`, `outbox_attempts`) and one-time login codes (`login_codes`).
//!
//! A sender claims due messages by moving them to `sending` with a lease (`due_at` = lease
//! end) in one statement: on PostgreSQL the candidates are locked `FOR UPDATE SKIP LOCKED`,
//! so two replicas never claim one message; SQLite has one writer. Settling names the
//! attempt it claimed, so a sender whose lease ran out cannot settle a later attempt.

use super::{db_err, Store, Tx, TxConn};
use crate::error::CoreResult;

/// A message as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: String,
    pub kind: String,
    pub purpose: String,
    pub recipient: String,
    pub device_token: Option<String>,
    pub instance_id: Option<String>,
    pub subject: String,
    pub sealed: Option<Vec<u8>>,
    pub state: String,
    pub attempts: i64,
    pub due_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
    pub requested_by: String,
}

const MESSAGE_COLUMNS: &str = "id, kind, purpose, recipient, device_token, instance_id, subject,
    sealed, state, attempts, due_at, created_at, updated_at, sent_at, last_error, requested_by";

/// The user of a live invite link, by the link's hash.
const LIVE_LINK: &str = "SELECT device_token FROM login_codes
     WHERE code_hash = $1 AND kind = 'link' AND used_at IS NULL AND expires_at > $2";

/// One attempt to send.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub attempt: i64,
    pub at: i64,
    pub outcome: String,
    pub error: Option<String>,
}

/// A login code as stored (its hash only).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoginCodeRow {
    pub id: String,
    pub code_hash: String,
    pub expires_at: i64,
    pub attempts: i64,
}

/// How a claimed attempt ended.
pub enum Settlement<'a> {
    Sent,
    /// Queued again for `retry_at`.
    Retry {
        retry_at: i64,
        error: &'a str,
    },
    /// No attempts left.
    Failed {
        error: &'a str,
    },
}

/// Which messages a list shows.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub device_token: Option<String>,
    pub kind: Option<String>,
    pub state: Option<String>,
    /// After this message in the newest-first order (its id): the next page.
    pub before: Option<String>,
}

impl Tx {
    pub async fn insert_message(&mut self, m: &MessageRow) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(&format!(
            "INSERT INTO outbox ({MESSAGE_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ))
        .bind(&m.id)
        .bind(&m.kind)
        .bind(&m.purpose)
        .bind(&m.recipient)
        .bind(&m.device_token)
        .bind(&m.instance_id)
        .bind(&m.subject)
        .bind(&m.sealed)
        .bind(&m.state)
        .bind(m.attempts)
        .bind(m.due_at)
        .bind(m.created_at)
        .bind(m.updated_at)
        .bind(m.sent_at)
        .bind(&m.last_error)
        .bind(&m.requested_by)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Moves up to `limit` due messages (queued and due, or sending with a lease run out)
    /// to `sending` until `lease_until`, counting the attempt; answers them.
    pub async fn claim_messages(
        &mut self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> CoreResult<Vec<MessageRow>> {
        let lock = match &mut self.conn {
            TxConn::Sqlite(_) => "",
            TxConn::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, due_at = $2,
                    updated_at = $1
              WHERE id IN (SELECT id FROM outbox
                            WHERE state IN ('queued', 'sending') AND due_at <= $1
                              AND kind <> 'webhook'
                            ORDER BY due_at LIMIT $3 {lock})
              RETURNING {MESSAGE_COLUMNS}"
        );
        on_tx!(self, |c| sqlx::query_as::<_, MessageRow>(&sql)
            .bind(now)
            .bind(lease_until)
            .bind(limit)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err))
    }

    /// Records how attempt `attempt` of message `id` ended. False when the message is no
    /// longer that attempt's (its lease ran out and another sender took it, or an admin
    /// cancelled it): then nothing changes.
    pub async fn settle_message(
        &mut self,
        id: &str,
        attempt: i64,
        now: i64,
        outcome: Settlement<'_>,
    ) -> CoreResult<bool> {
        let (sql, due, error) = match outcome {
            Settlement::Sent => (
                "UPDATE outbox SET state = 'sent', sealed = NULL, sent_at = $3, updated_at = $3,
                        last_error = NULL, due_at = $4
                  WHERE id = $1 AND attempts = $2 AND state = 'sending'",
                now,
                None,
            ),
            Settlement::Retry { retry_at, error } => (
                "UPDATE outbox SET state = 'queued', due_at = $4, updated_at = $3, last_error = $5
                  WHERE id = $1 AND attempts = $2 AND state = 'sending'",
                retry_at,
                Some(error),
            ),
            Settlement::Failed { error } => (
                "UPDATE outbox SET state = 'failed', due_at = $4, updated_at = $3, last_error = $5
                  WHERE id = $1 AND attempts = $2 AND state = 'sending'",
                now,
                Some(error),
            ),
        };
        let changed = on_tx!(self, |c| sqlx::query(sql)
            .bind(id)
            .bind(attempt)
            .bind(now)
            .bind(due)
            .bind(error)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_err))?;
        if changed == 0 {
            return Ok(false);
        }
        let outcome = if error.is_some() { "error" } else { "sent" };
        on_tx!(self, |c| sqlx::query(
            "INSERT INTO outbox_attempts (message_id, attempt, at, outcome, error)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id, attempt) DO NOTHING"
        )
        .bind(id)
        .bind(attempt)
        .bind(now)
        .bind(outcome)
        .bind(error)
        .execute(&mut *c)
        .await
        .map(|_| true)
        .map_err(db_err))
    }

    /// A failed message queued again now (with a fresh count of attempts); false when it
    /// is not failed.
    pub async fn requeue_failed_message(&mut self, id: &str, now: i64) -> CoreResult<bool> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE outbox SET state = 'queued', due_at = $2, updated_at = $2, attempts = 0
              WHERE id = $1 AND state = 'failed' AND sealed IS NOT NULL"
        )
        .bind(id)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err))
    }

    /// A queued or failed message cancelled, its body deleted; false when it was neither.
    pub async fn cancel_message(&mut self, id: &str, now: i64) -> CoreResult<bool> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE outbox SET state = 'cancelled', sealed = NULL, updated_at = $2
              WHERE id = $1 AND state IN ('queued', 'failed')"
        )
        .bind(id)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err))
    }

    /// A code (`kind` `code`) or an invite link (`link`), by its keyed hash.
    pub async fn insert_login_code(
        &mut self,
        kind: &str,
        device_token: &str,
        code_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "INSERT INTO login_codes (id, kind, device_token, code_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(kind)
        .bind(device_token)
        .bind(code_hash)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// The user's codes still usable at `now` (unused, unexpired, tries left), locked on
    /// PostgreSQL so two logins with one code queue on it.
    pub async fn live_login_codes(
        &mut self,
        device_token: &str,
        now: i64,
        max_attempts: i64,
    ) -> CoreResult<Vec<LoginCodeRow>> {
        const SELECT: &str = "SELECT id, code_hash, expires_at, attempts FROM login_codes
             WHERE device_token = $1 AND kind = 'code' AND used_at IS NULL AND expires_at > $2
               AND attempts < $3
             ORDER BY created_at DESC";
        let sql = match &mut self.conn {
            TxConn::Sqlite(_) => SELECT.to_string(),
            TxConn::Postgres(_) => format!("{SELECT} FOR UPDATE"),
        };
        on_tx!(self, |c| sqlx::query_as::<_, LoginCodeRow>(&sql)
            .bind(device_token)
            .bind(now)
            .bind(max_attempts)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err))
    }

    /// A wrong code counts a try against every live code of the user.
    pub async fn count_login_code_tries(&mut self, ids: &[String]) -> CoreResult<()> {
        for id in ids {
            on_tx!(self, |c| sqlx::query(
                "UPDATE login_codes SET attempts = attempts + 1 WHERE id = $1"
            )
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|_| ())
            .map_err(db_err))?;
        }
        Ok(())
    }

    /// The user of a live invite link with this hash (locked on PostgreSQL, so two
    /// submissions of one link queue on it and the second finds it used).
    pub async fn live_link_user(
        &mut self,
        link_hash: &str,
        now: i64,
    ) -> CoreResult<Option<String>> {
        let sql = match &mut self.conn {
            TxConn::Sqlite(_) => LIVE_LINK.to_string(),
            TxConn::Postgres(_) => format!("{LIVE_LINK} FOR UPDATE"),
        };
        on_tx!(self, |c| sqlx::query_scalar::<_, String>(&sql)
            .bind(link_hash)
            .bind(now)
            .fetch_optional(&mut *c)
            .await
            .map_err(db_err))
    }

    /// The code used: it and every other code and link of the user stop working.
    pub async fn use_login_codes(&mut self, device_token: &str, now: i64) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE login_codes SET used_at = $2 WHERE device_token = $1 AND used_at IS NULL"
        )
        .bind(device_token)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }
}

impl Store {
    /// The user of a live invite link with this hash (the page that opens it).
    pub async fn live_link_user(&self, link_hash: &str, now: i64) -> CoreResult<Option<String>> {
        on_pool!(self, |c| sqlx::query_scalar::<_, String>(LIVE_LINK)
            .bind(link_hash)
            .bind(now)
            .fetch_optional(c)
            .await
            .map_err(db_err))
    }

    pub async fn message(&self, id: &str) -> CoreResult<Option<MessageRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, MessageRow>(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(c)
        .await
        .map_err(db_err))
    }

    /// Messages newest first, filtered.
    pub async fn messages(&self, f: &MessageFilter, limit: i64) -> CoreResult<Vec<MessageRow>> {
        on_pool!(self, |c| {
            let mut q = sqlx::QueryBuilder::new(format!(
                "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE kind <> 'webhook'"
            ));
            if let Some(d) = &f.device_token {
                q.push(" AND device_token = ").push_bind(d.clone());
            }
            if let Some(k) = &f.kind {
                q.push(" AND kind = ").push_bind(k.clone());
            }
            if let Some(s) = &f.state {
                q.push(" AND state = ").push_bind(s.clone());
            }
            if let Some(b) = &f.before {
                q.push(" AND (created_at, id) < (SELECT o.created_at, o.id FROM outbox o WHERE o.id = ")
                    .push_bind(b.clone())
                    .push(")");
            }
            q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
                .push_bind(limit);
            q.build_query_as::<MessageRow>()
                .fetch_all(c)
                .await
                .map_err(db_err)
        })
    }

    pub async fn message_attempts(&self, id: &str) -> CoreResult<Vec<AttemptRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, AttemptRow>(
            "SELECT attempt, at, outcome, error FROM outbox_attempts
              WHERE message_id = $1 ORDER BY attempt"
        )
        .bind(id)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    /// Messages per state.
    pub async fn outbox_counts(&self) -> CoreResult<Vec<(String, i64)>> {
        on_pool!(self, |c| sqlx::query_as::<_, (String, i64)>(
            "SELECT state, COUNT(*) FROM outbox WHERE kind <> 'webhook' GROUP BY state"
        )
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    /// Messages not yet final (`metrics::BACKLOG_STATES`) per kind and state, with the
    /// oldest's creation: the `(state, due_at)` index's ranges, never the sent messages.
    pub async fn outbox_backlog(&self) -> CoreResult<Vec<crate::metrics::OutboxBacklog>> {
        let rows = on_pool!(self, |c| sqlx::query_as::<_, (String, String, i64, i64)>(
            "SELECT kind, state, COUNT(*), MIN(created_at) FROM outbox
              WHERE state IN ('queued', 'sending', 'failed') GROUP BY kind, state
              ORDER BY kind, state"
        )
        .fetch_all(c)
        .await
        .map_err(db_err))?;
        Ok(rows
            .into_iter()
            .map(
                |(kind, state, messages, oldest_created_at)| crate::metrics::OutboxBacklog {
                    kind,
                    state,
                    messages,
                    oldest_created_at,
                },
            )
            .collect())
    }

    /// Deletes codes that can no longer be used, older than `before`.
    pub async fn purge_login_codes(&self, before: i64) -> CoreResult<u64> {
        let mut tx = self.begin().await?;
        let n = on_tx!(&mut tx, |c| sqlx::query(
            "DELETE FROM login_codes WHERE expires_at < $1"
        )
        .bind(before)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected())
        .map_err(db_err))?;
        tx.commit().await?;
        Ok(n)
    }
}
