//! Batches as objects: the dashboard registers `Quantity` users as one batch that runs in
//! chunks on the server, each chunk one transaction (users, tokens, and the chunk's sealed
//! credentials), and a page can watch its progress, reload, stop or resume it.
//!
//! Invariants:
//! - `done` counts exactly the users written: it advances in the transaction that writes
//!   them, by compare-and-set, so a chunk is written once even with two runners.
//! - Credentials leave the server once: the download claims them atomically and every
//!   sealed chunk is deleted as it is read. Unread credentials are deleted after the
//!   configured time; interrupted downloads are not resumable (their rest is deleted).
//! - The sealed credentials are ChaCha20-Poly1305 with a key derived from the signing key
//!   (so every replica can open them) and bound to their batch and chunk.

use std::fmt::Write as _;
use tus_wire::views::Action;

use chrono::{DateTime, Utc};

use super::error::{CoreError, CoreResult, FieldErrors};
use super::instances::Instance;
use super::issuance::Credentials;
use super::principal::Principal;
use super::store::{BatchRecord, BatchRunState, CredentialsState, NewAuditRow, NewBatch};
use super::time::ms;
use super::types::{
    format_datetime, parse_text, BatchId, Flag, InstanceId, InstanceStatus, UserFlags,
};
use super::{Core, RequestMeta};
use crate::audit::AuditAction;
use crate::time::iso;
use tus_wire::views::{BatchCredentials, BatchPage, BatchRequest, BatchState, BatchView};

/// How dashboard batches run.
#[derive(Debug, Clone)]
pub struct BatchRunSettings {
    /// Most users per chunk (one transaction each); see `chunk_size`.
    pub chunk: i64,
    /// Largest Quantity of one dashboard batch.
    pub max_quantity: i64,
    /// How long finished batches keep their unread credentials, in seconds (and finished
    /// imports their staged file).
    pub credentials_ttl_secs: i64,
    /// Largest import file, in bytes.
    pub max_import_bytes: u64,
}

impl Default for BatchRunSettings {
    fn default() -> Self {
        Self {
            chunk: 1000,
            max_quantity: 100_000,
            credentials_ttl_secs: 86_400,
            max_import_bytes: 512 << 20,
        }
    }
}

/// Users per chunk for a batch of `quantity`: about 20 steps of progress, at least
/// `MIN_CHUNK` (tiny chunks cost a commit each) and at most the configured `max`.
pub fn chunk_size(quantity: i64, max: i64) -> i64 {
    ((quantity + 19) / 20).max(MIN_CHUNK).min(max.max(1))
}

/// The smallest chunk of a batch (below the configured maximum).
pub const MIN_CHUNK: i64 = 50;

/// A running batch without a chunk for this long is shown as interrupted and may be resumed.
pub const STALE_AFTER_MS: i64 = 60_000;

/// Batches per page of the batches list.
pub const BATCH_PAGE: i64 = 50;

/// The header of a batch's credentials CSV.
pub const CREDENTIALS_HEADER: &str =
    "DeviceToken,AccessToken,AccessTokenExpiresAt,RefreshToken,RefreshTokenExpiresAt\n";

/// The sealing purpose of batch credentials; each chunk is bound to `batch/chunk`.
pub(crate) const CREDENTIALS_SEALING: &[u8] = b"tus/batch-credentials/v1";

fn chunk_binding(batch_id: &str, chunk: i64) -> String {
    format!("{batch_id}/{chunk}")
}

/// One CSV line per user with tokens. Every value is ours (UUIDs, JWTs, base64), so none
/// needs quoting.
fn credentials_lines(
    now: DateTime<Utc>,
    refresh_expires: DateTime<Utc>,
    results: &[Credentials],
) -> String {
    let mut text = String::with_capacity(results.len() * 700);
    let refresh_expires = format_datetime(refresh_expires);
    for c in results {
        let (Some(device), Some(access), Some(refresh)) =
            (&c.device_token, &c.access_token, &c.refresh_token)
        else {
            continue;
        };
        let access_expires = format_datetime(now + chrono::Duration::seconds(access.expires_in));
        let _ = writeln!(
            text,
            "{device},{},{access_expires},{},{refresh_expires}",
            access.token,
            refresh.expose()
        );
    }
    text
}

/// A label as a part of a download's file name: letters, digits and `-`, the rest `_`, at
/// most 40 characters.
pub(crate) fn file_name_part(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect()
}

/// What one call of `run_batch_chunk` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkStep {
    /// Wrote a chunk; `done` users of the batch exist now.
    Wrote { done: i64, finished: bool },
    /// Nothing to do: the batch is not running (finished, stopped, or another runner is
    /// ahead).
    Idle,
}

/// A claimed credentials download: read chunk by chunk with `next_credentials_chunk`.
pub struct CredentialsDownload {
    pub batch_id: String,
    /// A file name naming the batch.
    pub file_name: String,
    after: i64,
}

/// A batch's state as shown: a running one without progress for a while is interrupted.
pub(crate) fn batch_state(b: &BatchRecord, now: DateTime<Utc>) -> BatchState {
    match b.state {
        BatchRunState::Completed => BatchState::Completed,
        BatchRunState::Failed => BatchState::Failed,
        BatchRunState::Running if b.updated_at < ms(now) - STALE_AFTER_MS => {
            BatchState::Interrupted
        }
        BatchRunState::Running => BatchState::Running,
    }
}

/// A dashboard batch to run, parsed at the edge: the quantity a number within the limit,
/// the label bounded, the instance a UUID (whether it exists and is active is the core's).
#[derive(Debug, Clone)]
pub struct NewBatchRun {
    pub instance: InstanceId,
    pub quantity: i64,
    pub label: String,
    pub flags: UserFlags,
    pub with_tokens: bool,
}

impl NewBatchRun {
    /// Every field error at once; `max_quantity` is the configured largest batch.
    pub fn parse(request: &BatchRequest, max_quantity: i64) -> CoreResult<Self> {
        let mut e = FieldErrors::default();
        let quantity = request
            .quantity
            .trim()
            .replace([',', '_', ' '], "")
            .parse::<i64>()
            .ok()
            .filter(|q| (1..=max_quantity).contains(q));
        if quantity.is_none() {
            e.push(
                "quantity",
                format!("must be a whole number from 1 to {max_quantity}"),
            );
        }
        let label = e.take("label", parse_text(&request.label));
        let id = request.instance_id.trim();
        let instance = if id.is_empty() {
            e.push("instance_id", "is required");
            None
        } else {
            e.take(
                "instance_id",
                InstanceId::parse(id).map_err(|_| "names no instance".into()),
            )
        };
        let mut flags = UserFlags::default();
        for (flag, on) in Flag::ALL.into_iter().zip([
            request.tracking,
            request.logging,
            request.sdk,
            request.realtime,
        ]) {
            flags.set(flag, on);
        }
        match (instance, quantity, label) {
            (Some(instance), Some(quantity), Some(label)) => Ok(NewBatchRun {
                instance,
                quantity,
                label: label.unwrap_or_default(),
                flags,
                with_tokens: request.create_access_token,
            }),
            _ => Err(CoreError::Validation(e)),
        }
    }
}

impl Core {
    fn view_of(&self, b: BatchRecord, now: DateTime<Utc>, users_now: Option<i64>) -> BatchView {
        let state = batch_state(&b, now);
        let ttl_ms = self.batch_runs().credentials_ttl_secs * 1000;
        let credentials = match b.credentials {
            CredentialsState::NoTokens => BatchCredentials::NoTokens,
            CredentialsState::Held => BatchCredentials::Held {
                expires_at: iso(b.finished_at.unwrap_or(b.updated_at) + ttl_ms),
            },
            CredentialsState::Taken => BatchCredentials::Taken {
                by: b.credentials_taken_by.clone().unwrap_or_default(),
                at: iso(b.credentials_taken_at.unwrap_or_default()),
            },
            CredentialsState::Expired => BatchCredentials::Expired,
            CredentialsState::Api => BatchCredentials::Api,
        };
        BatchView {
            state,
            credentials,
            users_now,
            is_import: b.kind == crate::store::KIND_IMPORT,
            flags: [
                b.enable_tracking,
                b.enable_logging,
                b.enabled,
                b.enable_real_time_location,
            ],
            id: b.id,
            label: b.label,
            instance_id: b.instance_id,
            instance_name: b.instance_name,
            quantity: b.quantity,
            done: b.done,
            error: b.error,
            created_by: b.created_by,
            created_at: iso(b.created_at),
            updated_at: iso(b.updated_at),
            finished_at: b.finished_at.map(iso),
            with_tokens: b.with_tokens,
        }
    }

    async fn batch_record(&self, id: BatchId) -> CoreResult<BatchRecord> {
        self.store()
            .find_batch(&id.to_string())
            .await?
            .ok_or_else(|| CoreError::NotFound("no batch has this id".into()))
    }

    /// A batch `p` may see: of one of its instances (else as if there were none, 404).
    async fn visible_batch(&self, p: &Principal, id: BatchId) -> CoreResult<BatchRecord> {
        Some(self.batch_record(id).await?)
            .filter(|b| p.sees_instance(&b.instance_id))
            .ok_or_else(|| CoreError::NotFound("no batch has this id".into()))
    }

    /// Admin: records a new batch, running, and returns its id; `run_batch` writes it.
    pub async fn start_batch(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        run: NewBatchRun,
        meta: &RequestMeta,
    ) -> CoreResult<String> {
        p.allow(Action::WriteUsers)?;
        let NewBatchRun {
            instance,
            quantity,
            label,
            flags,
            with_tokens,
        } = run;
        let instance = self
            .active_instance_for_field(p, &instance.to_string(), "instance_id")
            .await?;
        let id = BatchId::new_random().to_string();
        let mut tx = self.store().begin().await?;
        tx.insert_batch(&NewBatch {
            id: id.clone(),
            instance_id: instance.id.to_string(),
            label: label.clone(),
            quantity,
            created_by: p.actor(),
            created_at: ms(now),
            state: BatchRunState::Running,
            done: 0,
            flags: Flag::ALL.map(|f| flags.get(f)),
            with_tokens,
            credentials: if with_tokens {
                CredentialsState::Held
            } else {
                CredentialsState::NoTokens
            },
            import: None,
        })
        .await?;
        tx.audit(
            &NewAuditRow::new(
                now,
                p.actor(),
                AuditAction::BatchCreated,
                format!("batch:{id}"),
                format!(
                    "{quantity} users in instance {}{}, run in chunks from the dashboard",
                    instance.name,
                    if label.is_empty() {
                        String::new()
                    } else {
                        format!(", label \"{label}\"")
                    }
                ),
            )
            .from(meta),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Writes the next chunk of a running batch (see the module invariants).
    pub async fn run_batch_chunk(&self, now: DateTime<Utc>, id: &str) -> CoreResult<ChunkStep> {
        let b = self.batch_record(BatchId::named(id)?).await?;
        if b.state != BatchRunState::Running || b.done >= b.quantity {
            return Ok(ChunkStep::Idle);
        }
        let instance: Instance = self
            .store()
            .find_instance(&b.instance_id)
            .await?
            .ok_or_else(|| CoreError::NotFound("the batch's instance is gone".into()))?
            .try_into()?;
        if instance.status != InstanceStatus::Active {
            return Err(CoreError::Forbidden(format!(
                "instance {} was deactivated",
                instance.name
            )));
        }
        if b.kind == crate::store::KIND_IMPORT {
            return self.run_import_chunk(now, b, &instance).await;
        }
        let n = chunk_size(b.quantity, self.batch_runs().chunk).min(b.quantity - b.done);
        let flags = UserFlags {
            enable_tracking: b.enable_tracking,
            enable_logging: b.enable_logging,
            enabled: b.enabled,
            enable_real_time_location: b.enable_real_time_location,
        };
        let batch_id = BatchId::parse(&b.id).map_err(CoreError::internal)?;
        let core = self.clone();
        let (with_tokens, chunk, batch) = (b.with_tokens, b.done, b.id.clone());
        // Minting and sealing are CPU work: off the async workers.
        let actor = b.created_by.clone();
        let (planned, sealed) = tokio::task::spawn_blocking(move || {
            let planned = core.plan_batch(
                now,
                &instance,
                crate::registration::new_device_tokens(n as usize),
                flags,
                with_tokens,
                batch_id,
                &actor,
            )?;
            let sealed = if with_tokens {
                let refresh_expires = core.tokens().refresh_expiry(now, &instance.lifetimes);
                let text = credentials_lines(now, refresh_expires, &planned.results);
                Some(
                    core.inner
                        .credentials_sealer
                        .seal(&chunk_binding(&batch, chunk), &text)?,
                )
            } else {
                None
            };
            CoreResult::Ok((planned, sealed))
        })
        .await
        .map_err(CoreError::internal)??;

        let mut tx = self.store().begin().await?;
        if !tx.advance_batch(&b.id, b.done, n, ms(now)).await? {
            return Ok(ChunkStep::Idle); // dropped: rolled back
        }
        planned.write(&mut tx).await?;
        if let Some(sealed) = &sealed {
            tx.insert_sealed_chunk(&b.id, b.done, sealed).await?;
        }
        let done = b.done + n;
        let finished = done >= b.quantity;
        if finished {
            tx.audit(&NewAuditRow::new(
                now,
                b.created_by.clone(),
                AuditAction::BatchCompleted,
                format!("batch:{}", b.id),
                format!("{done} users in instance {}", b.instance_name),
            ))
            .await?;
            tx.insert_events(&[crate::events::batch_event(
                crate::events::EventType::BatchCompleted,
                now,
                &b.id,
                &b.instance_id,
                serde_json::json!({ "Users": done, "Actor": b.created_by }),
            )])
            .await?;
        }
        tx.commit().await?;
        self.tallies().issued(&planned.issued);
        Ok(ChunkStep::Wrote { done, finished })
    }

    /// Ends a running batch as failed, saying how far it got.
    async fn fail_batch(&self, now: DateTime<Utc>, id: &str, error: &CoreError) -> CoreResult<()> {
        let reason = match error {
            CoreError::Internal(_) => {
                "a server error stopped it (the server log has the details)".to_string()
            }
            CoreError::Forbidden(m) | CoreError::NotFound(m) => m.clone(),
            other => other.to_string(),
        };
        let Some(b) = self.store().find_batch(id).await? else {
            return Ok(());
        };
        let mut tx = self.store().begin().await?;
        if tx.fail_batch(id, &reason, ms(now)).await? {
            tx.audit(&NewAuditRow::new(
                now,
                b.created_by.clone(),
                AuditAction::BatchFailed,
                format!("batch:{id}"),
                format!("stopped after {} of {} users: {reason}", b.done, b.quantity),
            ))
            .await?;
            tx.insert_events(&[crate::events::batch_event(
                crate::events::EventType::BatchFailed,
                now,
                id,
                &b.instance_id,
                serde_json::json!({ "Users": b.done, "Quantity": b.quantity, "Reason": reason }),
            )])
            .await?;
        }
        tx.commit().await
    }

    /// Writes chunks until the batch is finished, stopped, or fails (then recorded failed).
    pub async fn run_batch(&self, id: &str) {
        loop {
            match self.run_batch_chunk(Core::now(), id).await {
                Ok(ChunkStep::Wrote {
                    finished: false, ..
                }) => tokio::task::yield_now().await,
                Ok(_) => return,
                Err(error) => {
                    tracing::error!(batch = %id, %error, "batch chunk failed");
                    if let Err(e) = self.fail_batch(Core::now(), id, &error).await {
                        tracing::error!(batch = %id, error = %e, "recording the failed batch failed");
                    }
                    return;
                }
            }
        }
    }

    /// Runs the batch in the background of this process.
    pub fn spawn_batch(&self, id: String) {
        let core = self.clone();
        tokio::spawn(async move { core.run_batch(&id).await });
    }

    /// Admin: stops a running batch after its current chunk; the users written stay.
    pub async fn stop_batch(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: BatchId,
        meta: &RequestMeta,
    ) -> CoreResult<BatchView> {
        p.allow(Action::WriteUsers)?;
        let b = self.visible_batch(p, id).await?;
        let mut tx = self.store().begin().await?;
        let reason = format!("stopped by {}", p.actor());
        if !tx.fail_batch(&b.id, &reason, ms(now)).await? {
            return Err(CoreError::Conflict {
                key: "batch".into(),
                message: "the batch is not running".into(),
            });
        }
        tx.audit(&p.audit(
            now,
            AuditAction::BatchStopped,
            format!("batch:{}", b.id),
            format!("stopped after {} of {} users", b.done, b.quantity),
            meta,
        ))
        .await?;
        tx.commit().await?;
        self.batch_view(now, p, BatchId::named(&b.id)?).await
    }

    /// Admin: sets a failed or interrupted batch running again from where it stopped; the
    /// caller then runs it (`spawn_batch`).
    pub async fn resume_batch(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: BatchId,
        meta: &RequestMeta,
    ) -> CoreResult<String> {
        p.allow(Action::WriteUsers)?;
        let b = self.visible_batch(p, id).await?;
        let mut tx = self.store().begin().await?;
        if !tx
            .resume_batch(&b.id, ms(now), ms(now) - STALE_AFTER_MS)
            .await?
        {
            return Err(CoreError::Conflict {
                key: "batch".into(),
                message: "only a failed or interrupted batch whose credentials were not downloaded can be resumed".into(),
            });
        }
        tx.audit(&p.audit(
            now,
            AuditAction::BatchResumed,
            format!("batch:{}", b.id),
            format!("resumed at {} of {} users", b.done, b.quantity),
            meta,
        ))
        .await?;
        tx.commit().await?;
        Ok(b.id)
    }

    /// Admin: one batch, with how many of its users still exist.
    pub async fn batch_view(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: BatchId,
    ) -> CoreResult<BatchView> {
        p.allow(Action::ReadUsers)?;
        let b = self.visible_batch(p, id).await?;
        // While it runs, every user it wrote is there (and the page asks often).
        let users_now = if b.state == BatchRunState::Running {
            b.done
        } else {
            self.store().count_users_in_batch(&b.id).await?
        };
        Ok(self.view_of(b, now, Some(users_now)))
    }

    /// Admin: batches newest first, `BATCH_PAGE` at a time; `before` is a page's `next`.
    pub async fn batch_list(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        before: Option<&str>,
    ) -> CoreResult<BatchPage> {
        let (rows, next) = self
            .batch_rows(p, crate::store::KIND_CREATE, before)
            .await?;
        Ok(BatchPage {
            rows: rows
                .into_iter()
                .map(|b| self.view_of(b, now, None))
                .collect(),
            next,
        })
    }

    /// Batches of a kind newest first, `BATCH_PAGE` at a time, and the next page's cursor.
    pub(crate) async fn batch_rows(
        &self,
        p: &Principal,
        kind: &str,
        before: Option<&str>,
    ) -> CoreResult<(Vec<BatchRecord>, Option<String>)> {
        p.allow(Action::ReadUsers)?;
        let cursor = match before.map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => {
                let bad = || CoreError::validation("before", "is not a cursor of this list");
                let (at, id) = c.split_once('.').ok_or_else(bad)?;
                let at: i64 = at.parse().map_err(|_| bad())?;
                let id = BatchId::parse(id).map_err(|_| bad())?;
                Some((at, id.to_string()))
            }
        };
        let mut rows = self
            .store()
            .list_batches(kind, cursor, p.instance_limit(), BATCH_PAGE + 1)
            .await?;
        let next = if rows.len() as i64 > BATCH_PAGE {
            rows.truncate(BATCH_PAGE as usize);
            rows.last().map(|b| format!("{}.{}", b.created_at, b.id))
        } else {
            None
        };
        Ok((rows, next))
    }

    /// Admin: claims a finished batch's credentials for their one download (audited).
    pub async fn take_batch_credentials(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: BatchId,
        meta: &RequestMeta,
    ) -> CoreResult<CredentialsDownload> {
        p.allow(Action::TakeCredentials)?;
        self.purge_batch_credentials(now).await?;
        let b = self.visible_batch(p, id).await?;
        let mut tx = self.store().begin().await?;
        if !tx
            .take_batch_credentials(&b.id, &p.actor(), ms(now))
            .await?
        {
            let message = match self.view_of(b.clone(), now, None).credentials {
                BatchCredentials::Api => "this batch came from Registration/CreateMany: its credentials were in that response".to_string(),
                BatchCredentials::NoTokens => "this batch was created without tokens".to_string(),
                BatchCredentials::Taken { by, at } => {
                    format!("the credentials were downloaded by {by} at {at} and are not kept")
                }
                BatchCredentials::Expired => "the credentials were not downloaded in time and were deleted".to_string(),
                BatchCredentials::Held { .. } => "the batch is still running".to_string(),
            };
            return Err(CoreError::Conflict {
                key: "credentials".into(),
                message,
            });
        }
        tx.audit(&p.audit(
            now,
            AuditAction::BatchCredentialsDownloaded,
            format!("batch:{}", b.id),
            format!("credentials of {} users, deleted as they were sent", b.done),
            meta,
        ))
        .await?;
        tx.commit().await?;
        let label = file_name_part(&b.label);
        let short = &b.id[..8];
        let file_name = if label.is_empty() {
            format!("batch-{short}-credentials.csv")
        } else {
            format!("batch-{label}-{short}-credentials.csv")
        };
        Ok(CredentialsDownload {
            batch_id: b.id,
            file_name,
            after: -1,
        })
    }

    /// The next chunk of a claimed download as CSV lines, deleted from the store as it is
    /// read; `None` at the end.
    pub async fn next_credentials_chunk(
        &self,
        d: &mut CredentialsDownload,
    ) -> CoreResult<Option<String>> {
        let mut tx = self.store().begin().await?;
        let Some((chunk, sealed)) = tx.pop_sealed_chunk(&d.batch_id, d.after).await? else {
            return Ok(None);
        };
        let text = self
            .inner
            .credentials_sealer
            .open(&chunk_binding(&d.batch_id, chunk), &sealed)?;
        tx.commit().await?;
        d.after = chunk;
        Ok(Some(text))
    }

    /// Deletes credentials nobody downloaded in time, and the rest of interrupted
    /// downloads; returns how many batches it cleaned.
    pub async fn purge_batch_credentials(&self, now: DateTime<Utc>) -> CoreResult<usize> {
        let ttl_ms = self.batch_runs().credentials_ttl_secs * 1000;
        let stale = self
            .store()
            .batches_with_stale_credentials(ms(now) - ttl_ms)
            .await?;
        for id in &stale {
            let mut tx = self.store().begin().await?;
            if tx.expire_batch_credentials(id).await? {
                tx.audit(&NewAuditRow::new(
                    now,
                    "system",
                    AuditAction::BatchCredentialsExpired,
                    format!("batch:{id}"),
                    "credentials not downloaded in time were deleted unread",
                ))
                .await?;
            }
            tx.delete_sealed_chunks(id).await?;
            tx.commit().await?;
        }
        Ok(stale.len())
    }
}

#[cfg(test)]
mod tests {
    /// Parses a request as the edge does, then starts it.
    async fn start(
        t: &TestCore,
        now: DateTime<Utc>,
        r: &BatchRequest,
        meta: &RequestMeta,
    ) -> CoreResult<String> {
        let run = NewBatchRun::parse(r, t.core.batch_runs().max_quantity)?;
        t.core.start_batch(now, &admin(), run, meta).await
    }

    use super::*;
    use crate::auth::RefreshPair;
    use crate::testing::{admin, at, fleet, test_core, TestCore};
    use tus_wire::model::RefreshRequest;
    use tus_wire::views::{BulkAction, BulkTarget, Flag, UserListQuery};

    fn request(instance: &Instance, quantity: &str) -> BatchRequest {
        BatchRequest {
            instance_id: instance.id.to_string(),
            quantity: quantity.into(),
            label: "Depot 7".into(),
            ..BatchRequest::with_defaults()
        }
    }

    async fn setup(chunk: i64) -> (TestCore, Instance) {
        let t = test_core(|c| {
            c.batch_runs.chunk = chunk;
            c.batch_runs.max_quantity = 1000;
        })
        .await;
        let i = fleet(&t).await;
        (t, i)
    }

    /// Runs every chunk at `at(10)`, `at(11)`... and returns the progress seen.
    async fn run_all(t: &TestCore, id: &str) -> Vec<i64> {
        let mut seen = Vec::new();
        for s in 10.. {
            match t.core.run_batch_chunk(at(s), id).await.unwrap() {
                ChunkStep::Wrote { done, .. } => seen.push(done),
                ChunkStep::Idle => return seen,
            }
        }
        unreachable!()
    }

    async fn download(t: &TestCore, id: &str, now: DateTime<Utc>) -> CoreResult<Vec<String>> {
        let mut d = t
            .core
            .take_batch_credentials(
                now,
                &admin(),
                BatchId::parse(id).unwrap(),
                &RequestMeta::default(),
            )
            .await?;
        let mut lines = Vec::new();
        while let Some(text) = t.core.next_credentials_chunk(&mut d).await? {
            lines.extend(text.lines().map(str::to_string));
        }
        Ok(lines)
    }

    #[tokio::test]
    async fn a_batch_runs_in_atomic_chunks_and_its_credentials_come_out_once() {
        let (t, i) = setup(10).await;
        let meta = RequestMeta::default();
        let id = start(&t, at(1), &request(&i, "25"), &meta).await.unwrap();
        let v = t
            .core
            .batch_view(at(2), &admin(), BatchId::parse(&id).unwrap())
            .await
            .unwrap();
        assert_eq!((v.state, v.done, v.quantity), (BatchState::Running, 0, 25));
        // Not downloadable while running.
        let early = download(&t, &id, at(2)).await.unwrap_err();
        assert!(matches!(early, CoreError::Conflict { .. }), "{early:?}");

        assert_eq!(run_all(&t, &id).await, vec![10, 20, 25]);
        let v = t
            .core
            .batch_view(at(20), &admin(), BatchId::parse(&id).unwrap())
            .await
            .unwrap();
        assert_eq!(v.state, BatchState::Completed);
        assert_eq!(
            (v.done, v.users_now, v.label.as_str()),
            (25, Some(25), "Depot 7")
        );
        assert!(matches!(v.credentials, BatchCredentials::Held { .. }));

        let lines = download(&t, &id, at(30)).await.unwrap();
        assert_eq!(lines.len(), 25);
        let mut devices = std::collections::BTreeSet::new();
        for line in &lines {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 5, "{line}");
            devices.insert(f[0].to_string());
            let claims = t.core.tokens().verify_access(f[1], at(30)).unwrap();
            assert_eq!(claims.sub, f[0]);
        }
        assert_eq!(devices.len(), 25);
        // A refresh token of the file works once, like any other.
        let f: Vec<&str> = lines[7].split(',').collect();
        let refreshed = t
            .core
            .refresh(
                at(40),
                RefreshPair::try_from(RefreshRequest {
                    mobile_device: None,
                    access_token: Some(f[1].into()),
                    refresh_token: Some(f[3].into()),
                })
                .unwrap(),
                &meta,
            )
            .await
            .unwrap();
        assert!(refreshed.access_token.is_some());

        // Once: the second download is refused and says by whom; nothing sealed is left.
        match download(&t, &id, at(50)).await.unwrap_err() {
            CoreError::Conflict { message, .. } => {
                assert!(message.contains("admin:a@x.io"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        let v = t
            .core
            .batch_view(at(60), &admin(), BatchId::parse(&id).unwrap())
            .await
            .unwrap();
        assert!(
            matches!(v.credentials, BatchCredentials::Taken { ref by, .. } if by == "admin:a@x.io")
        );
        let mut tx = t.core.store().begin().await.unwrap();
        assert_eq!(tx.delete_sealed_chunks(&id).await.unwrap(), 0);
        let actions: Vec<String> = t
            .core
            .store()
            .latest_audit(
                &[
                    "batch.created",
                    "batch.completed",
                    "batch.credentials_downloaded",
                ],
                10,
            )
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.action)
            .collect();
        assert_eq!(actions.len(), 3, "{actions:?}");
    }

    #[tokio::test]
    async fn bad_batch_requests_are_refused_with_every_field_and_nothing_recorded() {
        let (t, i) = setup(10).await;
        let meta = RequestMeta::default();
        for (q, instance) in [
            ("0", i.id.to_string()),
            ("1001", i.id.to_string()),
            ("ten", String::new()),
        ] {
            let r = BatchRequest {
                instance_id: instance,
                ..request(&i, q)
            };
            let e = start(&t, at(1), &r, &meta).await.unwrap_err();
            let CoreError::Validation(v) = e else {
                panic!("{e:?}")
            };
            assert!(v.0.iter().any(|f| f.key == "quantity"), "{v:?}");
        }
        let unknown = BatchRequest {
            instance_id: uuid::Uuid::new_v4().to_string(),
            ..request(&i, "5")
        };
        let e = start(&t, at(1), &unknown, &meta).await.unwrap_err();
        assert!(
            matches!(e, CoreError::Validation(ref v) if v.0[0].key == "instance_id"),
            "{e:?}"
        );
        assert!(t
            .core
            .batch_list(at(2), &admin(), None)
            .await
            .unwrap()
            .rows
            .is_empty());
        // "1,000" is read as a number.
        assert!(start(&t, at(1), &request(&i, "1,000"), &meta).await.is_ok());
    }

    #[tokio::test]
    async fn two_runners_never_write_the_same_chunk() {
        let (t, i) = setup(10).await;
        let id = start(&t, at(1), &request(&i, "30"), &RequestMeta::default())
            .await
            .unwrap();
        let (a, b) = tokio::join!(
            t.core.run_batch_chunk(at(2), &id),
            t.core.run_batch_chunk(at(2), &id)
        );
        let wrote = [a.unwrap(), b.unwrap()]
            .iter()
            .filter(|s| matches!(s, ChunkStep::Wrote { .. }))
            .count();
        let v = t
            .core
            .batch_view(at(3), &admin(), BatchId::parse(&id).unwrap())
            .await
            .unwrap();
        assert_eq!(v.done, 10 * wrote as i64);
        assert_eq!(v.users_now, Some(v.done));
        run_all(&t, &id).await;
        let v = t
            .core
            .batch_view(at(30), &admin(), BatchId::parse(&id).unwrap())
            .await
            .unwrap();
        assert_eq!((v.done, v.users_now), (30, Some(30)));
        assert_eq!(download(&t, &id, at(31)).await.unwrap().len(), 30);
    }

    #[tokio::test]
    async fn a_failed_batch_says_how_far_it_got_and_can_resume() {
        let (t, i) = setup(10).await;
        let meta = RequestMeta::default();
        let id = start(&t, at(1), &request(&i, "35"), &meta).await.unwrap();
        t.core.run_batch_chunk(at(2), &id).await.unwrap();
        t.core.run_batch_chunk(at(3), &id).await.unwrap();
        // The instance is deactivated mid-run: the next chunk fails, and the runner records it.
        let off = tus_wire::model::InstanceInput {
            status: Some(serde_json::json!("Deactivated")),
            ..Default::default()
        };
        t.core
            .update_instance_as(at(4), &admin(), i.id, off, &meta)
            .await
            .unwrap();
        let e = t.core.run_batch_chunk(at(5), &id).await.unwrap_err();
        t.core.fail_batch(at(5), &id, &e).await.unwrap();
        let v = t
            .core
            .batch_view(at(6), &admin(), BatchId::parse(&id).unwrap())
            .await
            .unwrap();
        assert_eq!(
            (v.state, v.done, v.users_now),
            (BatchState::Failed, 20, Some(20))
        );
        assert!(
            v.error.as_deref().unwrap().contains("deactivated"),
            "{:?}",
            v.error
        );

        // Reactivated and resumed: it goes on from 20.
        let on = tus_wire::model::InstanceInput {
            status: Some(serde_json::json!("Active")),
            ..Default::default()
        };
        t.core
            .update_instance_as(at(7), &admin(), i.id, on, &meta)
            .await
            .unwrap();
        t.core
            .resume_batch(at(8), &admin(), BatchId::parse(&id).unwrap(), &meta)
            .await
            .unwrap();
        assert_eq!(run_all(&t, &id).await, vec![30, 35]);
        // A completed batch is not resumed.
        let again = t
            .core
            .resume_batch(at(40), &admin(), BatchId::parse(&id).unwrap(), &meta)
            .await
            .unwrap_err();
        assert!(matches!(again, CoreError::Conflict { .. }));
        assert_eq!(download(&t, &id, at(41)).await.unwrap().len(), 35);
    }

    #[tokio::test]
    async fn stopping_keeps_what_was_written_and_a_silent_run_shows_interrupted() {
        let (t, i) = setup(10).await;
        let meta = RequestMeta::default();
        let id = start(&t, at(1), &request(&i, "50"), &meta).await.unwrap();
        t.core.run_batch_chunk(at(2), &id).await.unwrap();
        // No chunk for a minute: shown as interrupted, and resumable.
        let v = t
            .core
            .batch_view(at(2 + 61), &admin(), BatchId::parse(&id).unwrap())
            .await
            .unwrap();
        assert_eq!(v.state, BatchState::Interrupted);
        let v = t
            .core
            .stop_batch(at(70), &admin(), BatchId::parse(&id).unwrap(), &meta)
            .await
            .unwrap();
        assert_eq!((v.state, v.done), (BatchState::Failed, 10));
        assert!(v.error.unwrap().contains("stopped by admin:a@x.io"));
        assert_eq!(
            t.core.run_batch_chunk(at(71), &id).await.unwrap(),
            ChunkStep::Idle
        );
        // A stopped batch's credentials so far can be downloaded.
        assert_eq!(download(&t, &id, at(72)).await.unwrap().len(), 10);
        // After the download it cannot resume (its later credentials would be lost).
        assert!(t
            .core
            .resume_batch(at(73), &admin(), BatchId::parse(&id).unwrap(), &meta)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn unread_credentials_expire_and_are_deleted() {
        let (t, i) = setup(10).await;
        let id = start(&t, at(1), &request(&i, "5"), &RequestMeta::default())
            .await
            .unwrap();
        run_all(&t, &id).await;
        let ttl = t.core.batch_runs().credentials_ttl_secs;
        assert_eq!(
            t.core
                .purge_batch_credentials(at(10 + ttl - 5))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            t.core.purge_batch_credentials(at(12 + ttl)).await.unwrap(),
            1
        );
        let v = t
            .core
            .batch_view(at(13 + ttl), &admin(), BatchId::parse(&id).unwrap())
            .await
            .unwrap();
        assert_eq!(v.credentials, BatchCredentials::Expired);
        match download(&t, &id, at(14 + ttl)).await.unwrap_err() {
            CoreError::Conflict { message, .. } => {
                assert!(message.contains("in time"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn batch_wide_actions_reach_exactly_the_batch() {
        let (t, i) = setup(10).await;
        let meta = RequestMeta::default();
        let batch = start(&t, at(1), &request(&i, "12"), &meta).await.unwrap();
        run_all(&t, &batch).await;
        let other = start(&t, at(1), &request(&i, "3"), &meta).await.unwrap();
        run_all(&t, &other).await;
        let whole = BulkTarget::Matching(Box::new(UserListQuery::of_batch(&batch)));
        assert_eq!(t.core.bulk_count(&admin(), &whole).await.unwrap(), 12);
        let off = BulkAction::SetFlag {
            minutes: None,
            flag: Flag::Tracking,
            value: false,
        };
        let done = t
            .core
            .bulk_apply(at(20), &admin(), &whole, &off, &meta)
            .await
            .unwrap();
        assert_eq!((done.matched, done.changed), (12, 12));
        let deactivate = BulkAction::SetActive(false);
        t.core
            .bulk_apply(at(21), &admin(), &whole, &deactivate, &meta)
            .await
            .unwrap();
        // Still counted: the batch query includes deactivated users.
        let gone = t
            .core
            .bulk_apply(at(22), &admin(), &whole, &BulkAction::Delete, &meta)
            .await
            .unwrap();
        assert_eq!((gone.matched, gone.changed), (12, 12));
        let v = t
            .core
            .batch_view(at(23), &admin(), BatchId::parse(&batch).unwrap())
            .await
            .unwrap();
        assert_eq!(v.users_now, Some(0));
        assert_eq!(
            t.core
                .batch_view(at(23), &admin(), BatchId::parse(&other).unwrap())
                .await
                .unwrap()
                .users_now,
            Some(3)
        );
        // Their tokens went with them.
        let lines = download(&t, &batch, at(24)).await.unwrap();
        let f: Vec<&str> = lines[0].split(',').collect();
        assert!(t
            .core
            .store()
            .access_tokens_of(f[0], 10)
            .await
            .unwrap()
            .is_empty());
        assert!(t.core.store().families_of(f[0]).await.unwrap().is_empty());
        let entry = t
            .core
            .store()
            .audit_entries("users.bulk_deleted")
            .await
            .unwrap();
        assert!(
            entry[0].detail.contains("12 matched, 12 changed"),
            "{}",
            entry[0].detail
        );
    }

    #[tokio::test]
    async fn an_emptied_instance_is_deleted_with_its_batches_and_their_sealed_credentials() {
        let (t, i) = setup(10).await;
        let meta = RequestMeta::default();
        let id = start(&t, at(1), &request(&i, "5"), &meta).await.unwrap();
        run_all(&t, &id).await;
        let whole = BulkTarget::Matching(Box::new(UserListQuery::of_batch(&id)));
        t.core
            .bulk_apply(at(20), &admin(), &whole, &BulkAction::Delete, &meta)
            .await
            .unwrap();
        // The credentials were never downloaded: still sealed, and no obstacle.
        t.core
            .delete_instance_as(at(21), &admin(), i.id, &meta)
            .await
            .unwrap();
        assert!(matches!(
            t.core
                .batch_view(at(22), &admin(), BatchId::parse(&id).unwrap())
                .await,
            Err(CoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn batches_list_newest_first_by_pages() {
        let (t, i) = setup(10).await;
        for n in 0..(BATCH_PAGE + 3) {
            start(&t, at(n), &request(&i, "1"), &RequestMeta::default())
                .await
                .unwrap();
        }
        let first = t.core.batch_list(at(100), &admin(), None).await.unwrap();
        assert_eq!(first.rows.len() as i64, BATCH_PAGE);
        assert!(first
            .rows
            .windows(2)
            .all(|w| w[0].created_at >= w[1].created_at));
        let second = t
            .core
            .batch_list(at(100), &admin(), first.next.as_deref())
            .await
            .unwrap();
        assert_eq!(second.rows.len(), 3);
        assert!(second.next.is_none());
        assert!(t
            .core
            .batch_list(at(100), &admin(), Some("x.y"))
            .await
            .is_err());
    }

    #[test]
    fn chunks_give_about_twenty_steps_within_their_bounds() {
        assert_eq!(chunk_size(500, 1000), 50);
        assert_eq!(chunk_size(5, 1000), 50);
        assert_eq!(chunk_size(10_000, 1000), 500);
        assert_eq!(chunk_size(100_000, 1000), 1000);
        assert_eq!(chunk_size(100_000, 10), 10);
        assert_eq!(chunk_size(100, 0), 1);
    }
}
