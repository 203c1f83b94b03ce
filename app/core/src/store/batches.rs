//! Batches as objects: their records, chunk progress, the sealed credentials waiting for
//! their one download, and batch-wide deletion.
//!
//! A chunk advances its batch with a compare-and-set on `done` inside the transaction that
//! writes the chunk's users, so two runners (a resumed batch on another replica, say) can
//! never write the same chunk twice: the loser's transaction is rolled back whole.

use sqlx::QueryBuilder;

use super::{
    db_err, prefix_end, BatchRunState, CredentialsState, PageFilter, Selection, Store, Tx,
    EMAIL_KEY, FIRST_NAME_KEY, LAST_NAME_KEY,
};
use crate::error::CoreResult;

/// A batch record with its instance's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BatchRecord {
    pub id: String,
    pub instance_id: String,
    pub instance_name: String,
    pub label: String,
    pub quantity: i64,
    pub created_by: String,
    pub created_at: i64,
    #[sqlx(try_from = "String")]
    pub state: BatchRunState,
    pub done: i64,
    pub enable_tracking: bool,
    pub enable_logging: bool,
    pub enabled: bool,
    pub enable_real_time_location: bool,
    pub with_tokens: bool,
    #[sqlx(try_from = "String")]
    pub credentials: CredentialsState,
    pub credentials_taken_by: Option<String>,
    pub credentials_taken_at: Option<i64>,
    pub error: Option<String>,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    /// `create` (dashboard, CreateMany) or `import` (a file of users).
    pub kind: String,
    pub dry_run: bool,
    pub on_existing: Option<String>,
    pub file_name: Option<String>,
    /// An import's notes on its file, one per line.
    pub file_notes: Option<String>,
    pub created_rows: i64,
    pub updated_rows: i64,
    pub skipped_rows: i64,
    pub failed_rows: i64,
}

/// What a new import records beside its batch.
pub struct NewImport {
    pub dry_run: bool,
    pub on_existing: String,
    pub file_name: String,
    pub notes: String,
}

/// A new batch record: `state` is `running` for a dashboard run, `completed` for CreateMany.
pub struct NewBatch {
    pub id: String,
    pub instance_id: String,
    pub label: String,
    pub quantity: i64,
    pub created_by: String,
    pub created_at: i64,
    pub state: BatchRunState,
    pub done: i64,
    pub flags: [bool; 4],
    pub with_tokens: bool,
    pub credentials: CredentialsState,
    /// Set for an import.
    pub import: Option<NewImport>,
}

pub const KIND_CREATE: &str = "create";
pub const KIND_IMPORT: &str = "import";

const BATCH_SELECT: &str = "SELECT b.id, b.instance_id, i.name AS instance_name, b.label,
        b.quantity, b.created_by, b.created_at, b.state, b.done, b.enable_tracking,
        b.enable_logging, b.enabled, b.enable_real_time_location, b.with_tokens, b.credentials,
        b.credentials_taken_by, b.credentials_taken_at, b.error, b.updated_at, b.finished_at,
        b.kind, b.dry_run, b.on_existing, b.file_name, b.file_notes, b.created_rows,
        b.updated_rows, b.skipped_rows, b.failed_rows
     FROM batches b JOIN instances i ON i.id = b.instance_id";

impl Store {
    /// The running batches per kind (`create`, `import`): how many, and their rows done and
    /// in all.
    pub async fn running_batches(&self) -> CoreResult<Vec<(String, crate::metrics::Running)>> {
        let rows = on_pool!(self, |c| sqlx::query_as::<_, (String, i64, i64, i64)>(
            "SELECT kind, COUNT(*), CAST(SUM(done) AS BIGINT), CAST(SUM(quantity) AS BIGINT)
               FROM batches WHERE state = 'running' GROUP BY kind"
        )
        .fetch_all(c)
        .await
        .map_err(db_err))?;
        Ok(rows
            .into_iter()
            .map(|(kind, runs, done, total)| (kind, crate::metrics::Running { runs, done, total }))
            .collect())
    }

    pub async fn find_batch(&self, id: &str) -> CoreResult<Option<BatchRecord>> {
        let sql = format!("{BATCH_SELECT} WHERE b.id = $1");
        on_pool!(self, |c| sqlx::query_as::<_, BatchRecord>(&sql)
            .bind(id)
            .fetch_optional(c)
            .await
            .map_err(db_err))
    }

    /// Newest first; `before` is the (created_at, id) of the last row of the previous page.
    pub async fn list_batches(
        &self,
        kind: &str,
        before: Option<(i64, String)>,
        instances: Option<&[String]>,
        limit: i64,
    ) -> CoreResult<Vec<BatchRecord>> {
        on_pool!(self, |c| {
            let mut q = QueryBuilder::new(BATCH_SELECT);
            q.push(" WHERE b.kind = ").push_bind(kind.to_string());
            if let Some(ids) = instances {
                push_in_list!(q, "b.instance_id", ids);
            }
            if let Some((at, id)) = &before {
                q.push(" AND b.created_at <= ")
                    .push_bind(*at)
                    .push(" AND (b.created_at < ")
                    .push_bind(*at)
                    .push(" OR b.id < ")
                    .push_bind(id.clone())
                    .push(")");
            }
            q.push(" ORDER BY b.created_at DESC, b.id DESC LIMIT ")
                .push_bind(limit);
            q.build_query_as::<BatchRecord>()
                .fetch_all(c)
                .await
                .map_err(db_err)
        })
    }

    /// Batches whose sealed credentials are past `expired_before` (finished before it) or
    /// were taken but not fully read (an interrupted download): their ids.
    pub async fn batches_with_stale_credentials(
        &self,
        expired_before: i64,
    ) -> CoreResult<Vec<String>> {
        on_pool!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT id FROM batches WHERE
               (credentials = 'held' AND state <> 'running' AND finished_at < $1)
               OR (credentials IN ('taken', 'expired') AND EXISTS
                   (SELECT 1 FROM batch_credentials s WHERE s.batch_id = batches.id))"
        )
        .bind(expired_before)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }
}

impl Tx {
    pub async fn insert_batch(&mut self, b: &NewBatch) -> CoreResult<()> {
        let [tracking, logging, enabled, real_time] = b.flags;
        let import = b.import.as_ref();
        on_tx!(self, |c| sqlx::query(
            "INSERT INTO batches (id, instance_id, label, quantity, created_by, created_at, state,
                done, enable_tracking, enable_logging, enabled, enable_real_time_location,
                with_tokens, credentials, updated_at, finished_at, kind, dry_run, on_existing,
                file_name, file_notes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $6,
                CASE WHEN $7 = 'running' THEN NULL ELSE $6 END, $15, $16, $17, $18, $19)"
        )
        .bind(&b.id)
        .bind(&b.instance_id)
        .bind(&b.label)
        .bind(b.quantity)
        .bind(&b.created_by)
        .bind(b.created_at)
        .bind(b.state.as_str())
        .bind(b.done)
        .bind(tracking)
        .bind(logging)
        .bind(enabled)
        .bind(real_time)
        .bind(b.with_tokens)
        .bind(b.credentials.as_str())
        .bind(if import.is_some() {
            KIND_IMPORT
        } else {
            KIND_CREATE
        })
        .bind(import.is_some_and(|i| i.dry_run))
        .bind(import.map(|i| i.on_existing.clone()))
        .bind(import.map(|i| i.file_name.clone()))
        .bind(import.map(|i| i.notes.clone()))
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Moves a running batch from `done` to `done + n` (completing it when that is its
    /// quantity); false when it is no longer running at `done` (stopped, or another runner
    /// wrote this chunk).
    pub async fn advance_batch(
        &mut self,
        id: &str,
        done: i64,
        n: i64,
        now: i64,
    ) -> CoreResult<bool> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE batches SET done = done + $3, updated_at = $4,
                state = CASE WHEN done + $3 >= quantity THEN 'completed' ELSE 'running' END,
                finished_at = CASE WHEN done + $3 >= quantity THEN $4 ELSE NULL END
             WHERE id = $1 AND done = $2 AND state = 'running'"
        )
        .bind(id)
        .bind(done)
        .bind(n)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err))
    }

    /// Ends a running batch as failed with `error`; false when it was not running.
    pub async fn fail_batch(&mut self, id: &str, error: &str, now: i64) -> CoreResult<bool> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE batches SET state = 'failed', error = $2, updated_at = $3, finished_at = $3
             WHERE id = $1 AND state = 'running'"
        )
        .bind(id)
        .bind(error)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err))
    }

    /// Sets a failed batch, or a running one silent since `stale_before`, running again
    /// from where it stopped. False when it is neither (or its credentials were taken).
    pub async fn resume_batch(
        &mut self,
        id: &str,
        now: i64,
        stale_before: i64,
    ) -> CoreResult<bool> {
        on_tx!(self, |c| {
            sqlx::query(
            "UPDATE batches SET state = 'running', error = NULL, updated_at = $2, finished_at = NULL
             WHERE id = $1 AND done < quantity AND credentials IN ('held', 'none')
               AND (state = 'failed' OR (state = 'running' AND updated_at < $3))")
            .bind(id).bind(now).bind(stale_before)
            .execute(&mut *c).await.map(|r| r.rows_affected() == 1).map_err(db_err)
        })
    }

    /// Claims a finished batch's held credentials for the one download; false when they are
    /// not held, or the batch is still running.
    pub async fn take_batch_credentials(
        &mut self,
        id: &str,
        by: &str,
        now: i64,
    ) -> CoreResult<bool> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE batches SET credentials = 'taken', credentials_taken_by = $2,
                credentials_taken_at = $3
             WHERE id = $1 AND credentials = 'held' AND state IN ('completed', 'failed')"
        )
        .bind(id)
        .bind(by)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err))
    }

    /// Marks held credentials as expired (their rows are deleted by the caller).
    pub async fn expire_batch_credentials(&mut self, id: &str) -> CoreResult<bool> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE batches SET credentials = 'expired' WHERE id = $1 AND credentials = 'held'"
        )
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err))
    }

    pub async fn insert_sealed_chunk(
        &mut self,
        batch_id: &str,
        chunk: i64,
        sealed: &[u8],
    ) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "INSERT INTO batch_credentials (batch_id, chunk, sealed) VALUES ($1, $2, $3)"
        )
        .bind(batch_id)
        .bind(chunk)
        .bind(sealed)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Removes and returns the first sealed chunk after `after` (reading is consuming).
    pub async fn pop_sealed_chunk(
        &mut self,
        batch_id: &str,
        after: i64,
    ) -> CoreResult<Option<(i64, Vec<u8>)>> {
        on_tx!(self, |c| {
            let row = sqlx::query_as::<_, (i64, Vec<u8>)>(
                "SELECT chunk, sealed FROM batch_credentials WHERE batch_id = $1 AND chunk > $2
                 ORDER BY chunk LIMIT 1",
            )
            .bind(batch_id)
            .bind(after)
            .fetch_optional(&mut *c)
            .await
            .map_err(db_err)?;
            if let Some((chunk, _)) = &row {
                sqlx::query("DELETE FROM batch_credentials WHERE batch_id = $1 AND chunk = $2")
                    .bind(batch_id)
                    .bind(*chunk)
                    .execute(&mut *c)
                    .await
                    .map_err(db_err)?;
            }
            Ok(row)
        })
    }

    pub async fn delete_sealed_chunks(&mut self, batch_id: &str) -> CoreResult<u64> {
        on_tx!(self, |c| sqlx::query(
            "DELETE FROM batch_credentials WHERE batch_id = $1"
        )
        .bind(batch_id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected())
        .map_err(db_err))
    }

    /// Deletes every selected user and every token issued to them; returns how many users.
    pub async fn delete_selection(&mut self, selection: &Selection) -> CoreResult<u64> {
        on_tx!(self, |c| {
            for table in ["access_tokens", "refresh_tokens", "token_families"] {
                let mut q = QueryBuilder::new(format!(
                    "DELETE FROM {table} WHERE subject IN (SELECT device_token FROM users WHERE 1 = 1"));
                push_selection!(q, selection);
                q.push(")");
                q.build().execute(&mut *c).await.map_err(db_err)?;
            }
            let mut q = QueryBuilder::new(
                "DELETE FROM flag_ends WHERE device_token IN (SELECT device_token FROM users WHERE 1 = 1");
            push_selection!(q, selection);
            q.push(")");
            q.build().execute(&mut *c).await.map_err(db_err)?;
            let mut q = QueryBuilder::new("DELETE FROM users WHERE 1 = 1");
            push_selection!(q, selection);
            q.build()
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
                .map_err(db_err)
        })
    }
}
