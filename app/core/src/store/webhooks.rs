//! Events (`events`) and webhook subscriptions (`webhooks`); webhook deliveries are outbox
//! rows of kind `webhook` carrying their event's `seq`.
//!
//! The dispatcher holds one lock while it fans events out (PostgreSQL: a transaction-scoped
//! advisory lock; SQLite has one writer), so deliveries are written in event order. A
//! delivery is claimed only when no earlier delivery of the same user to the same webhook is
//! still queued or sending: one user's events reach a receiver in order.

use sqlx::QueryBuilder;

use super::{
    db_err, prefix_end, PageFilter, Selection, Store, Tx, TxConn, EMAIL_KEY, FIRST_NAME_KEY,
    INSERT_CHUNK, LAST_NAME_KEY,
};
use crate::error::CoreResult;
use crate::events::{EventType, NewEvent};

/// What a bulk action does to each selected user, for its events.
#[derive(Debug, Clone, Copy)]
pub enum BulkChange<'a> {
    /// A flag's column and API name, set to `value`.
    Flag {
        column: &'static str,
        field: &'static str,
        value: bool,
    },
    /// The status set.
    Status(&'a str),
    /// Moved to this instance.
    Move(&'a str),
    Delete,
}

impl BulkChange<'_> {
    /// The event each affected user gets.
    pub fn event_type(&self) -> EventType {
        match self {
            BulkChange::Flag { .. } => EventType::UserFlagsChanged,
            BulkChange::Status("Active") => EventType::UserActivated,
            BulkChange::Status(_) => EventType::UserDeactivated,
            BulkChange::Move(_) => EventType::UserMoved,
            BulkChange::Delete => EventType::UserDeleted,
        }
    }
}

/// A webhook subscription as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: String,
    pub url: String,
    pub description: String,
    pub event_types: Option<String>,
    pub instances: Option<String>,
    pub applications: Option<String>,
    pub secret_sealed: Vec<u8>,
    pub previous_sealed: Option<Vec<u8>>,
    pub previous_until: Option<i64>,
    pub allow_private: i64,
    pub enabled: i64,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
}

const WEBHOOK_COLUMNS: &str = "id, url, description, event_types, instances, applications,
    secret_sealed, previous_sealed, previous_until, allow_private, enabled, disabled_reason,
    failing_since, created_at, created_by, updated_at";

/// An event as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub seq: i64,
    pub id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub at: i64,
    pub device_token: Option<String>,
    pub instance_id: Option<String>,
}

/// A webhook delivery to write (an outbox row).
#[derive(Debug, Clone)]
pub struct NewWebhookDelivery {
    pub id: String,
    pub webhook_id: String,
    pub seq: i64,
    pub event_type: String,
    pub device_token: Option<String>,
    pub instance_id: Option<String>,
    pub at: i64,
    pub requested_by: String,
}

/// A claimed webhook delivery with its event's body.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDeliveryRow {
    pub id: String,
    pub webhook_id: String,
    pub attempts: i64,
    pub event_id: String,
    pub event_type: String,
    pub event_at: i64,
    pub payload: String,
    pub trace_parent: Option<String>,
}

/// A webhook delivery as its log shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookDeliveryRow {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub device_token: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_status: Option<i64>,
    pub last_took_ms: Option<i64>,
}

impl Tx {
    /// Writes events in the transaction of their change.
    pub async fn insert_events(&mut self, events: &[NewEvent]) -> CoreResult<()> {
        let trace = crate::trace::current();
        for chunk in events.chunks(INSERT_CHUNK) {
            defer_on_tx!(self, "events", |q| {
                q.push(
                    "INSERT INTO events (id, type, at, device_token, instance_id, payload, trace_parent) ",
                );
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(e.id.clone())
                        .push_bind(e.kind.as_str())
                        .push_bind(e.at)
                        .push_bind(e.device_token.clone())
                        .push_bind(e.instance_id.clone())
                        .push_bind(e.payload.clone())
                        .push_bind(trace.clone());
                });
            });
        }
        Ok(())
    }

    /// A user's instance, read in this transaction (no lock; `None`: no such user).
    pub async fn instance_of_user(&mut self, device_token: &str) -> CoreResult<Option<String>> {
        on_tx!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT instance_id FROM users WHERE device_token = $1"
        )
        .bind(device_token)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err))
    }

    /// The seq of an event this transaction wrote.
    pub async fn event_seq(&mut self, id: &str) -> CoreResult<i64> {
        on_tx!(self, |c| sqlx::query_scalar::<_, i64>(
            "SELECT seq FROM events WHERE id = $1"
        )
        .bind(id)
        .fetch_one(&mut *c)
        .await
        .map_err(db_err))
    }

    /// One event per user of `selection` that `change` changes (written before the change,
    /// which it reads the old values from), built in one statement: `data` as the per-user
    /// events have it. Answers how many.
    pub async fn insert_bulk_events(
        &mut self,
        selection: &Selection,
        change: BulkChange<'_>,
        at: i64,
        actor: &str,
    ) -> CoreResult<u64> {
        let postgres = matches!(self.conn, TxConn::Postgres(_));
        let (object, id, text) = if postgres {
            (
                "json_build_object",
                "'evt_' || replace(gen_random_uuid()::text, '-', '')",
                "::text",
            )
        } else {
            ("json_object", "'evt_' || lower(hex(randomblob(16)))", "")
        };
        // A boolean column as JSON: PostgreSQL's are booleans; SQLite's are 0 or 1.
        let boolean = |column: &str| {
            if postgres {
                format!("u.{column}")
            } else {
                format!("json(CASE WHEN u.{column} THEN 'true' ELSE 'false' END)")
            }
        };
        on_tx!(self, |c| {
            let mut q = QueryBuilder::new(format!(
                "INSERT INTO events (id, trace_parent, type, at, device_token, instance_id, payload) \
                 SELECT {id}, "
            ));
            q.push_bind(crate::trace::current())
                .push(", ")
                .push_bind(change.event_type().as_str())
                .push(", ")
                .push_bind(at)
                .push(", u.device_token, ");
            match change {
                BulkChange::Move(to) => q.push_bind(to.to_string()),
                _ => q.push("u.instance_id"),
            };
            q.push(format!(
                ", {object}('DeviceToken', u.device_token, 'InstanceId', "
            ));
            match change {
                BulkChange::Move(to) => q.push_bind(to.to_string()),
                _ => q.push("u.instance_id"),
            };
            q.push(", 'Actor', ").push_bind(actor.to_string());
            match change {
                BulkChange::Flag {
                    column,
                    field,
                    value,
                } => {
                    q.push(format!(
                        ", 'Changes', {object}('{field}', {object}('Before', {}, 'After', {})))",
                        boolean(column),
                        if postgres {
                            value.to_string()
                        } else {
                            format!("json('{value}')")
                        }
                    ));
                }
                BulkChange::Status(status) => {
                    q.push(format!(
                        ", 'Changes', {object}('Status', {object}('Before', u.status, 'After', "
                    ))
                    .push_bind(status.to_string())
                    .push(")))");
                }
                BulkChange::Move(_) => {
                    q.push(", 'FromInstanceId', u.instance_id)");
                }
                BulkChange::Delete => {
                    q.push(")");
                }
            }
            q.push(format!("{text} FROM users u WHERE "));
            match change {
                BulkChange::Flag { column, value, .. } => {
                    q.push(format!("u.{column} IS DISTINCT FROM "))
                        .push_bind(value);
                }
                BulkChange::Status(status) => {
                    q.push("u.status IS DISTINCT FROM ")
                        .push_bind(status.to_string());
                }
                BulkChange::Move(to) => {
                    q.push("u.instance_id IS DISTINCT FROM ")
                        .push_bind(to.to_string());
                }
                BulkChange::Delete => {
                    q.push("1 = 1");
                }
            }
            push_selection!(q, selection);
            q.build()
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
                .map_err(db_err)
        })
    }

    /// One dispatcher at a time, until this transaction ends.
    pub async fn lock_dispatcher(&mut self) -> CoreResult<()> {
        match &mut self.conn {
            TxConn::Sqlite(_) => Ok(()),
            TxConn::Postgres(c) => sqlx::query("SELECT pg_advisory_xact_lock(7301001)")
                .execute(c.conn().await?)
                .await
                .map(|_| ())
                .map_err(db_err),
        }
    }

    /// Up to `limit` events not yet fanned out, oldest first.
    pub async fn pending_events(&mut self, limit: i64) -> CoreResult<Vec<EventRow>> {
        on_tx!(self, |c| sqlx::query_as::<_, EventRow>(
            "SELECT seq, id, type, at, device_token, instance_id FROM events
              WHERE dispatched = 0 ORDER BY seq LIMIT $1"
        )
        .bind(limit)
        .fetch_all(&mut *c)
        .await
        .map_err(db_err))
    }

    /// Marks these events fanned out.
    pub async fn mark_dispatched(&mut self, seqs: &[i64]) -> CoreResult<()> {
        for chunk in seqs.chunks(INSERT_CHUNK) {
            on_tx!(self, |c| {
                let mut q = QueryBuilder::new("UPDATE events SET dispatched = 1 WHERE 1 = 1");
                push_in_list!(q, "seq", chunk);
                q.build().execute(&mut *c).await.map_err(db_err)?;
            });
        }
        Ok(())
    }

    /// Events of `[from, to)` (ms), oldest first, at most `limit`.
    pub async fn events_between(
        &mut self,
        from: i64,
        to: i64,
        limit: i64,
    ) -> CoreResult<Vec<EventRow>> {
        on_tx!(self, |c| sqlx::query_as::<_, EventRow>(
            "SELECT seq, id, type, at, device_token, instance_id FROM events
              WHERE at >= $1 AND at < $2 ORDER BY seq LIMIT $3"
        )
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(&mut *c)
        .await
        .map_err(db_err))
    }

    /// Queues webhook deliveries (outbox rows of kind `webhook`, due now).
    pub async fn insert_webhook_deliveries(
        &mut self,
        deliveries: &[NewWebhookDelivery],
    ) -> CoreResult<()> {
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            on_tx!(self, |c| {
                let mut q = QueryBuilder::new(
                    "INSERT INTO outbox (id, kind, purpose, recipient, device_token, instance_id,
                        subject, state, attempts, due_at, created_at, updated_at, requested_by,
                        seq) ",
                );
                q.push_values(chunk, |mut b, d| {
                    b.push_bind(&d.id)
                        .push_bind(crate::outbox::WEBHOOK_KIND)
                        .push_bind("event")
                        .push_bind(&d.webhook_id)
                        .push_bind(&d.device_token)
                        .push_bind(&d.instance_id)
                        .push_bind(&d.event_type)
                        .push_bind("queued")
                        .push_bind(0i64)
                        .push_bind(d.at)
                        .push_bind(d.at)
                        .push_bind(d.at)
                        .push_bind(&d.requested_by)
                        .push_bind(d.seq);
                });
                q.build().execute(&mut *c).await.map_err(db_err)?;
            });
        }
        Ok(())
    }

    /// Claims up to `limit` due webhook deliveries until `lease_until`, counting the attempt;
    /// a delivery waits while an earlier one of its user to its webhook is pending.
    pub async fn claim_webhook_deliveries(
        &mut self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> CoreResult<Vec<ClaimedDeliveryRow>> {
        let lock = match &mut self.conn {
            TxConn::Sqlite(_) => "",
            TxConn::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, due_at = $2,
                    updated_at = $1
              WHERE id IN (SELECT o.id FROM outbox o
                            WHERE o.kind = 'webhook' AND o.state IN ('queued', 'sending')
                              AND o.due_at <= $1
                              AND NOT EXISTS (
                                  SELECT 1 FROM outbox p
                                   WHERE p.kind = 'webhook' AND p.recipient = o.recipient
                                     AND p.device_token = o.device_token
                                     AND p.state IN ('queued', 'sending') AND p.seq < o.seq)
                            ORDER BY o.seq LIMIT $3 {lock})
              RETURNING id"
        );
        let ids: Vec<String> = on_tx!(self, |c| sqlx::query_scalar::<_, String>(&sql)
            .bind(now)
            .bind(lease_until)
            .bind(limit)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        on_tx!(self, |c| {
            let mut q = QueryBuilder::new(
                "SELECT o.id, o.recipient AS webhook_id, o.attempts, e.id AS event_id,
                        e.type AS event_type, e.at AS event_at, e.payload, e.trace_parent
                   FROM outbox o JOIN events e ON e.seq = o.seq WHERE 1 = 1",
            );
            push_in_list!(q, "o.id", &ids);
            q.push(" ORDER BY o.seq");
            q.build_query_as::<ClaimedDeliveryRow>()
                .fetch_all(&mut *c)
                .await
                .map_err(db_err)
        })
    }

    /// What the receiver answered to attempt `attempt` (after `settle_message` logged it).
    pub async fn note_webhook_answer(
        &mut self,
        id: &str,
        attempt: i64,
        status: Option<i64>,
        took_ms: i64,
    ) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE outbox_attempts SET status = $3, took_ms = $4
              WHERE message_id = $1 AND attempt = $2"
        )
        .bind(id)
        .bind(attempt)
        .bind(status)
        .bind(took_ms)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    pub async fn insert_webhook(&mut self, w: &WebhookRow) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(&format!(
            "INSERT INTO webhooks ({WEBHOOK_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ))
        .bind(&w.id)
        .bind(&w.url)
        .bind(&w.description)
        .bind(&w.event_types)
        .bind(&w.instances)
        .bind(&w.applications)
        .bind(&w.secret_sealed)
        .bind(&w.previous_sealed)
        .bind(w.previous_until)
        .bind(w.allow_private)
        .bind(w.enabled)
        .bind(&w.disabled_reason)
        .bind(w.failing_since)
        .bind(w.created_at)
        .bind(&w.created_by)
        .bind(w.updated_at)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Writes a webhook's changeable columns as `w` has them; false when it is gone.
    pub async fn update_webhook(&mut self, w: &WebhookRow) -> CoreResult<bool> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE webhooks SET url = $2, description = $3, event_types = $4, instances = $5,
                    applications = $6, secret_sealed = $7, previous_sealed = $8,
                    previous_until = $9, allow_private = $10, enabled = $11,
                    disabled_reason = $12, failing_since = $13, updated_at = $14
              WHERE id = $1"
        )
        .bind(&w.id)
        .bind(&w.url)
        .bind(&w.description)
        .bind(&w.event_types)
        .bind(&w.instances)
        .bind(&w.applications)
        .bind(&w.secret_sealed)
        .bind(&w.previous_sealed)
        .bind(w.previous_until)
        .bind(w.allow_private)
        .bind(w.enabled)
        .bind(&w.disabled_reason)
        .bind(w.failing_since)
        .bind(w.updated_at)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err))
    }

    /// The webhook, read for a change in this transaction.
    pub async fn webhook_for_update(&mut self, id: &str) -> CoreResult<Option<WebhookRow>> {
        let lock = match &mut self.conn {
            TxConn::Sqlite(_) => "",
            TxConn::Postgres(_) => " FOR UPDATE",
        };
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1{lock}");
        on_tx!(self, |c| sqlx::query_as::<_, WebhookRow>(&sql)
            .bind(id)
            .fetch_optional(&mut *c)
            .await
            .map_err(db_err))
    }

    /// Deletes a webhook and cancels its pending deliveries; false when it is gone.
    pub async fn delete_webhook(&mut self, id: &str, now: i64) -> CoreResult<bool> {
        on_tx!(self, |c| {
            sqlx::query(
            "UPDATE outbox SET state = 'cancelled', updated_at = $2
              WHERE kind = 'webhook' AND recipient = $1 AND state IN ('queued', 'sending', 'failed')"
        )
        .bind(id)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err)
        })?;
        on_tx!(self, |c| sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected() == 1)
            .map_err(db_err))
    }

    /// Enabled webhooks (the dispatcher's read, inside its lock).
    pub async fn enabled_webhooks(&mut self) -> CoreResult<Vec<WebhookRow>> {
        on_tx!(self, |c| sqlx::query_as::<_, WebhookRow>(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE enabled = 1 ORDER BY created_at, id"
        ))
        .fetch_all(&mut *c)
        .await
        .map_err(db_err))
    }

    /// Each instance's application (for webhooks scoped to applications).
    pub async fn instance_applications(&mut self) -> CoreResult<Vec<(String, String)>> {
        on_tx!(self, |c| sqlx::query_as::<_, (String, String)>(
            "SELECT id, app_id FROM instances"
        )
        .fetch_all(&mut *c)
        .await
        .map_err(db_err))
    }
}

/// Rows one purge statement deletes at most (short transactions on a busy database).
const PURGE_BATCH: i64 = 10_000;

impl Store {
    /// Whether the webhook worker has anything to do, read without the writer: (events
    /// waiting to be fanned out, deliveries due at `now`).
    pub async fn webhook_work_waiting(&self, now: i64) -> CoreResult<(bool, bool)> {
        on_pool!(self, |c| sqlx::query_as::<_, (bool, bool)>(
            "SELECT EXISTS (SELECT 1 FROM events WHERE dispatched = 0),
                    EXISTS (SELECT 1 FROM outbox WHERE kind = 'webhook'
                               AND state IN ('queued', 'sending') AND due_at <= $1)"
        )
        .bind(now)
        .fetch_one(c)
        .await
        .map_err(db_err))
    }

    /// Deletes webhook deliveries that ended (sent, failed, cancelled) before `before` with
    /// their attempts, then events from before `before` that are fanned out and that no
    /// pending delivery still needs. Answers (events, deliveries) deleted.
    pub async fn purge_events(&self, before: i64) -> CoreResult<(u64, u64)> {
        const ENDED: &str = "SELECT id FROM outbox WHERE kind = 'webhook'
             AND state IN ('sent', 'failed', 'cancelled') AND created_at < $1 LIMIT $2";
        let (mut events, mut deliveries) = (0, 0);
        loop {
            let mut tx = self.begin().await?;
            on_tx!(&mut tx, |c| sqlx::query(&format!(
                "DELETE FROM outbox_attempts WHERE message_id IN ({ENDED})"
            ))
            .bind(before)
            .bind(PURGE_BATCH)
            .execute(&mut *c)
            .await
            .map(|_| ())
            .map_err(db_err))?;
            let n = on_tx!(&mut tx, |c| sqlx::query(&format!(
                "DELETE FROM outbox WHERE id IN ({ENDED})"
            ))
            .bind(before)
            .bind(PURGE_BATCH)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_err))?;
            tx.commit().await?;
            deliveries += n;
            if n < PURGE_BATCH as u64 {
                break;
            }
        }
        loop {
            let mut tx = self.begin().await?;
            let n = on_tx!(&mut tx, |c| sqlx::query(
                "DELETE FROM events WHERE seq IN (
                     SELECT e.seq FROM events e WHERE e.at < $1 AND e.dispatched = 1
                        AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq = e.seq
                                           AND o.kind = 'webhook')
                      LIMIT $2)"
            )
            .bind(before)
            .bind(PURGE_BATCH)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_err))?;
            tx.commit().await?;
            events += n;
            if n < PURGE_BATCH as u64 {
                break;
            }
        }
        Ok((events, deliveries))
    }

    pub async fn webhooks(&self) -> CoreResult<Vec<WebhookRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, WebhookRow>(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at DESC, id"
        ))
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    pub async fn webhook(&self, id: &str) -> CoreResult<Option<WebhookRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, WebhookRow>(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(c)
        .await
        .map_err(db_err))
    }

    /// A webhook's deliveries, newest first, with the last attempt's answer.
    pub async fn webhook_deliveries(
        &self,
        webhook_id: &str,
        limit: i64,
    ) -> CoreResult<Vec<WebhookDeliveryRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, WebhookDeliveryRow>(
            "SELECT o.id, e.id AS event_id, e.type AS event_type, o.device_token, o.state,
                    o.attempts, o.created_at, o.updated_at, o.sent_at, o.last_error,
                    a.status AS last_status, a.took_ms AS last_took_ms
               FROM outbox o
               JOIN events e ON e.seq = o.seq
               LEFT JOIN outbox_attempts a ON a.message_id = o.id AND a.attempt = o.attempts
              WHERE o.kind = 'webhook' AND o.recipient = $1
              ORDER BY o.created_at DESC, o.seq DESC, o.id LIMIT $2"
        )
        .bind(webhook_id)
        .bind(limit)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    /// One webhook delivery: (webhook id, event seq, event type, device token, instance).
    pub async fn webhook_delivery(
        &self,
        id: &str,
    ) -> CoreResult<Option<(String, i64, String, Option<String>, Option<String>)>> {
        on_pool!(self, |c| sqlx::query_as::<
            _,
            (String, i64, String, Option<String>, Option<String>),
        >(
            "SELECT recipient, seq, subject, device_token, instance_id FROM outbox
              WHERE id = $1 AND kind = 'webhook'"
        )
        .bind(id)
        .fetch_optional(c)
        .await
        .map_err(db_err))
    }
}
