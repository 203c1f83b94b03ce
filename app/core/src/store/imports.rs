//! Imports: the uploaded file's records staged one row each until the import has run, the
//! per-row report, and what a chunk must know of the database to decide its rows (users
//! with these DeviceTokens, who holds these login names, where a value first appears in
//! the file). The import itself is a `batches` row (kind `import`).

use sqlx::QueryBuilder;

use super::*;

/// One staged record of an import's file.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StagedRow {
    pub seq: i64,
    pub row_no: i64,
    /// The DeviceToken, e-mail and phone the row would take, as stored (when they parse).
    pub device_token: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The record's fields as a JSON object, or `{"!": reason}` when it could not be read.
    pub body: String,
}

/// A column of `import_rows` that is looked up by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StagedKey {
    DeviceToken,
    Email,
    Phone,
}

impl StagedKey {
    fn column(self) -> &'static str {
        match self {
            StagedKey::DeviceToken => "device_token",
            StagedKey::Email => "email",
            StagedKey::Phone => "phone",
        }
    }
}

impl Store {
    /// Uploads begun before `before` whose import was never recorded (their server died).
    pub async fn abandoned_uploads(&self, before: i64) -> CoreResult<Vec<String>> {
        on_pool!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT batch_id FROM import_uploads WHERE started_at < $1"
        )
        .bind(before)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    /// Finished imports (and dry runs) older than `before` whose file is still staged.
    pub async fn imports_with_stale_files(&self, before: i64) -> CoreResult<Vec<String>> {
        on_pool!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT id FROM batches WHERE kind = 'import' AND state <> 'running'
               AND finished_at < $1
               AND EXISTS (SELECT 1 FROM import_rows r WHERE r.batch_id = batches.id)"
        )
        .bind(before)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    /// The report chunk of an import after `after_seq` (the first with -1), if any.
    pub async fn report_chunk(
        &self,
        batch_id: &str,
        after_seq: i64,
    ) -> CoreResult<Option<(i64, String)>> {
        on_pool!(self, |c| sqlx::query_as::<_, (i64, String)>(
            "SELECT first_seq, body FROM import_reports WHERE batch_id = $1 AND first_seq > $2
             ORDER BY first_seq LIMIT 1"
        )
        .bind(batch_id)
        .bind(after_seq)
        .fetch_optional(c)
        .await
        .map_err(db_err))
    }

    /// Whether a user's next token is its first since it came in by an import.
    pub async fn first_token_since_import(&self, device_token: &str) -> CoreResult<bool> {
        on_pool!(self, |c| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM users u JOIN batches b ON b.id = u.batch_id
              WHERE u.device_token = $1 AND b.kind = 'import'
                AND NOT EXISTS (SELECT 1 FROM token_families f WHERE f.subject = u.device_token)"
        )
        .bind(device_token)
        .fetch_one(c)
        .await
        .map(|n| n > 0)
        .map_err(db_err))
    }
}

impl Tx {
    pub async fn begin_upload(&mut self, batch_id: &str, now: i64) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "INSERT INTO import_uploads (batch_id, started_at) VALUES ($1, $2)"
        )
        .bind(batch_id)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    pub async fn end_upload(&mut self, batch_id: &str) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "DELETE FROM import_uploads WHERE batch_id = $1"
        )
        .bind(batch_id)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    pub async fn stage_rows(&mut self, batch_id: &str, rows: &[StagedRow]) -> CoreResult<()> {
        for chunk in rows.chunks(INSERT_CHUNK) {
            on_tx!(self, |c| {
                let mut q = QueryBuilder::new(
                    "INSERT INTO import_rows (batch_id, seq, row_no, device_token, email, phone, body) ",
                );
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(batch_id)
                        .push_bind(r.seq)
                        .push_bind(r.row_no)
                        .push_bind(&r.device_token)
                        .push_bind(&r.email)
                        .push_bind(&r.phone)
                        .push_bind(&r.body);
                });
                q.build().execute(&mut *c).await.map_err(db_err)?;
            });
        }
        Ok(())
    }

    /// Deletes an import's staged file (and its upload marker).
    pub async fn delete_staged(&mut self, batch_id: &str) -> CoreResult<u64> {
        on_tx!(self, |c| {
            sqlx::query("DELETE FROM import_uploads WHERE batch_id = $1")
                .bind(batch_id)
                .execute(&mut *c)
                .await
                .map_err(db_err)?;
            sqlx::query("DELETE FROM import_rows WHERE batch_id = $1")
                .bind(batch_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
                .map_err(db_err)
        })
    }

    /// Staged rows after `after_seq`, in order, at most `limit`.
    pub async fn staged_rows(
        &mut self,
        batch_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> CoreResult<Vec<StagedRow>> {
        on_tx!(self, |c| sqlx::query_as::<_, StagedRow>(
            "SELECT seq, row_no, device_token, email, phone, body FROM import_rows
              WHERE batch_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        )
        .bind(batch_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&mut *c)
        .await
        .map_err(db_err))
    }

    /// For each value, the first row of the file that holds it in `key`: (value, seq, row).
    pub async fn first_in_file(
        &mut self,
        batch_id: &str,
        key: StagedKey,
        values: &[String],
    ) -> CoreResult<Vec<(String, i64, i64)>> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let column = key.column();
        on_tx!(self, |c| {
            let mut q = QueryBuilder::new(format!(
                "SELECT {column}, MIN(seq), MIN(row_no) FROM import_rows WHERE batch_id = "
            ));
            q.push_bind(batch_id);
            push_in_list!(q, column, values);
            q.push(format!(" GROUP BY {column}"));
            q.build_query_as::<(String, i64, i64)>()
                .fetch_all(&mut *c)
                .await
                .map_err(db_err)
        })
    }

    /// The users with these DeviceTokens.
    pub async fn users_with_tokens(&mut self, tokens: &[String]) -> CoreResult<Vec<UserRow>> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        on_tx!(self, |c| {
            let mut q = QueryBuilder::new(format!("{USER_SELECT} WHERE 1 = 1"));
            push_in_list!(q, "u.device_token", tokens);
            q.build_query_as::<UserRow>()
                .fetch_all(&mut *c)
                .await
                .map_err(db_err)
        })
    }

    /// Who in an instance holds these e-mails or phones: (value, DeviceToken).
    pub async fn login_holders(
        &mut self,
        instance_id: &str,
        key: StagedKey,
        values: &[String],
    ) -> CoreResult<Vec<(String, String)>> {
        if values.is_empty() || key == StagedKey::DeviceToken {
            return Ok(Vec::new());
        }
        let column = key.column();
        on_tx!(self, |c| {
            let mut q = QueryBuilder::new(format!(
                "SELECT {column}, device_token FROM users WHERE instance_id = "
            ));
            q.push_bind(instance_id);
            push_in_list!(q, column, values);
            q.build_query_as::<(String, String)>()
                .fetch_all(&mut *c)
                .await
                .map_err(db_err)
        })
    }

    pub async fn insert_report(
        &mut self,
        batch_id: &str,
        first_seq: i64,
        body: &str,
    ) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "INSERT INTO import_reports (batch_id, first_seq, body) VALUES ($1, $2, $3)"
        )
        .bind(batch_id)
        .bind(first_seq)
        .bind(body)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Adds a chunk's outcomes to an import's counts.
    pub async fn count_import_rows(&mut self, batch_id: &str, counts: [i64; 4]) -> CoreResult<()> {
        let [created, updated, skipped, failed] = counts;
        on_tx!(self, |c| sqlx::query(
            "UPDATE batches SET created_rows = created_rows + $2, updated_rows = updated_rows + $3,
                skipped_rows = skipped_rows + $4, failed_rows = failed_rows + $5
              WHERE id = $1"
        )
        .bind(batch_id)
        .bind(created)
        .bind(updated)
        .bind(skipped)
        .bind(failed)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Sets a completed dry run running for real from its first row (its report is
    /// replaced); false when it is not a completed dry run.
    pub async fn run_dry_import(&mut self, batch_id: &str, now: i64) -> CoreResult<bool> {
        on_tx!(self, |c| {
            let done = sqlx::query(
                "UPDATE batches SET dry_run = FALSE, state = 'running', done = 0, error = NULL,
                    created_rows = 0, updated_rows = 0, skipped_rows = 0, failed_rows = 0,
                    updated_at = $2, finished_at = NULL
                  WHERE id = $1 AND kind = 'import' AND dry_run AND state = 'completed'
                    AND EXISTS (SELECT 1 FROM import_rows r WHERE r.batch_id = batches.id)",
            )
            .bind(batch_id)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected() == 1)
            .map_err(db_err)?;
            if done {
                sqlx::query("DELETE FROM import_reports WHERE batch_id = $1")
                    .bind(batch_id)
                    .execute(&mut *c)
                    .await
                    .map_err(db_err)?;
            }
            Ok(done)
        })
    }
}
