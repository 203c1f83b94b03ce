//! Importing users with their existing identities (DeviceToken, profile, flags, ClientId)
//! from a file, so the apps of a fleet moved from the hosted service keep working.
//!
//! An import is a batch (kind `import`) and runs like one: the file is first staged in the
//! database one row per record (so any replica can run or resume it, and a file of any
//! length is read in bounded memory), then handled in chunks, each one transaction that
//! writes its users, its report lines and the import's progress together (compare-and-set
//! on `done`, as a batch chunk). A dry run decides every row the same way and writes only
//! the report; running it for real starts over from the first row.
//!
//! A row is created, skipped (its DeviceToken exists, or nothing differs), updated (policy
//! `update`: the fields it gives that differ, audited as a `PUT` is), or an error naming its
//! field and reason. Nothing is half-written for a row: a row's changes are in its chunk's
//! transaction or not at all.

pub mod file;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;

use chrono::{DateTime, Utc};
use tus_wire::model::{ImportPage, ImportRowError, ImportView, OnExisting, RegisterRequest};
use tus_wire::views::{Action, BatchState};

use self::file::{Column, Fields, ImportFile};
use crate::audit::AuditAction;
use crate::error::{CoreError, CoreResult, FieldErrors};
use crate::instances::Instance;
use crate::principal::Principal;
use crate::registration::{profile_row, user_row};
use crate::store::{
    BatchRecord, BatchRunState, CredentialsState, NewAuditRow, NewBatch, NewImport, NewUserRow,
    StagedKey, StagedRow, UserRow, KIND_IMPORT,
};
use crate::time::{iso, ms};
use crate::types::{
    parse_datetime, parse_text, BatchId, DeviceToken, Flag, InstanceId, UserFlags, UserStatus,
};
use crate::users::patch::{Change, ProfilePatch, StatusChange, UserPatch};
use crate::users::{parse_profile, Profile};
use crate::{Core, RequestMeta};

/// Records per staged insert and per chunk of a run.
pub const IMPORT_CHUNK: i64 = 1000;

/// Report chunks `import_errors` reads at most (100,000 rows).
const ERRORS_SCANNED: usize = 100;

/// The header of an import's report.
pub const REPORT_HEADER: &str = "Row,DeviceToken,Result,Field,Reason\n";

/// A valid row of an import file.
#[derive(Debug, Clone)]
pub struct ImportUser {
    pub device_token: DeviceToken,
    pub instance_id: Option<InstanceId>,
    pub profile: Profile,
    pub status: Option<UserStatus>,
    /// In `Flag::ALL` order; `None`: not given.
    pub flags: [Option<bool>; 4],
    pub client_id: Option<String>,
    pub date_created: Option<DateTime<Utc>>,
}

fn flag_column(flag: Flag) -> Column {
    match flag {
        Flag::Tracking => Column::EnableTracking,
        Flag::Logging => Column::EnableLogging,
        Flag::Sdk => Column::Enabled,
        Flag::RealTime => Column::EnableRealTimeLocation,
    }
}

/// `true`/`false` as spreadsheets and our export write them (also 1/0, yes/no).
fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

/// Parses a record's fields, every field error at once (the registration's own checks for
/// the profile). `now` bounds `DateCreated`.
pub fn parse_row(fields: &Fields, now: DateTime<Utc>) -> Result<ImportUser, FieldErrors> {
    let mut e = FieldErrors::default();
    let get = |c: Column| fields.get(&c).cloned();
    let device_token = match fields.get(&Column::DeviceToken) {
        None => {
            e.push("DeviceToken", "is required (the id the driver's app holds)");
            None
        }
        Some(v) => e.take("DeviceToken", DeviceToken::parse(v)),
    };
    let instance_id = fields
        .get(&Column::InstanceId)
        .and_then(|v| e.take("InstanceId", InstanceId::parse(v)));
    let children_count = fields.get(&Column::ChildrenCount).and_then(|v| {
        e.take(
            "ChildrenCount",
            v.parse::<i64>()
                .map_err(|_| "must be a whole number".to_string()),
        )
    });
    let request = RegisterRequest {
        first_name: get(Column::FirstName),
        last_name: get(Column::LastName),
        nickname: get(Column::Nickname),
        phone: get(Column::Phone),
        email: get(Column::Email),
        gender: get(Column::Gender),
        birthday: get(Column::Birthday),
        marital_status: get(Column::MaritalStatus).map(serde_json::Value::String),
        children_count,
        country: get(Column::Country),
        district: get(Column::District),
        city: get(Column::City),
        address: get(Column::Address),
        image_url: get(Column::ImageUrl),
        ..RegisterRequest::default()
    };
    let profile = parse_profile(&mut e, &request);
    let status = fields
        .get(&Column::Status)
        .and_then(|v| e.take("Status", UserStatus::parse(v)));
    let flags = Flag::ALL.map(|flag| {
        let column = flag_column(flag);
        fields
            .get(&column)
            .and_then(|v| e.take(column.name(), parse_bool(v)))
    });
    let client_id = fields
        .get(&Column::ClientId)
        .and_then(|v| e.take("ClientId", parse_text(v)).flatten());
    let date_created = fields.get(&Column::DateCreated).and_then(|v| {
        e.take(
            "DateCreated",
            parse_datetime(v).and_then(|d| {
                if d > now + chrono::Duration::minutes(5) {
                    Err("is in the future".into())
                } else {
                    Ok(d)
                }
            }),
        )
    });
    match device_token {
        Some(device_token) if e.is_empty() => Ok(ImportUser {
            device_token,
            instance_id,
            profile,
            status,
            flags,
            client_id,
            date_created,
        }),
        _ => Err(e),
    }
}

/// A staged row from a record: its fields as JSON, and the keys it would take: its
/// DeviceToken whenever that parses (so the report names it, and a repeat of it is found),
/// its e-mail and phone when the whole row is valid.
fn staged(seq: i64, record: file::Record, now: DateTime<Utc>) -> StagedRow {
    let (body, user, token) = match record.fields {
        Err(reason) => (serde_json::json!({ "!": reason }).to_string(), None, None),
        Ok(fields) => {
            let object: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .map(|(c, v)| (c.name().to_string(), v.clone().into()))
                .collect();
            let token = fields
                .get(&Column::DeviceToken)
                .and_then(|v| DeviceToken::parse(v).ok());
            (
                serde_json::Value::Object(object).to_string(),
                parse_row(&fields, now).ok(),
                token,
            )
        }
    };
    StagedRow {
        seq,
        row_no: record.row,
        device_token: token.map(|t| t.to_string()),
        email: user
            .as_ref()
            .and_then(|u| u.profile.email.as_ref())
            .map(|v| v.as_str().to_string()),
        phone: user
            .as_ref()
            .and_then(|u| u.profile.phone.as_ref())
            .map(|v| v.as_str().to_string()),
        body,
    }
}

/// A staged row read back: the user it gives, or its first error as (field, reason).
fn unstaged(row: &StagedRow, now: DateTime<Utc>) -> Result<ImportUser, (String, String)> {
    let value: serde_json::Value = serde_json::from_str(&row.body)
        .map_err(|_| ("".to_string(), "the staged row is damaged".to_string()))?;
    if let Some(reason) = value.get("!").and_then(|r| r.as_str()) {
        return Err((String::new(), reason.to_string()));
    }
    let mut fields = Fields::new();
    if let Some(object) = value.as_object() {
        for c in Column::ALL {
            if let Some(v) = object.get(c.name()).and_then(|v| v.as_str()) {
                fields.insert(*c, v.to_string());
            }
        }
    }
    parse_row(&fields, now).map_err(|e| {
        let keys: Vec<&str> = e.0.iter().map(|f| f.key.as_str()).collect();
        let reason = match e.0.as_slice() {
            [one] => one.message.clone(),
            many => many
                .iter()
                .map(|f| format!("{}: {}", f.key, f.message))
                .collect::<Vec<_>>()
                .join("; "),
        };
        (keys.join("; "), reason)
    })
}

/// What the file's upload asks for, parsed at the edge.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The instance the rows go to; absent: the file's InstanceId column names it.
    pub instance: Option<String>,
    pub dry_run: bool,
    pub on_existing: OnExisting,
    pub file_name: String,
}

impl ImportRequest {
    /// From the query of an upload: `instance`, `dryRun`, `onExisting`, `fileName`.
    pub fn parse(
        instance: Option<&str>,
        dry_run: Option<&str>,
        on_existing: Option<&str>,
        file_name: Option<&str>,
    ) -> CoreResult<Self> {
        let mut e = FieldErrors::default();
        let instance = instance
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .and_then(|v| {
                e.take(
                    "instance",
                    InstanceId::parse(v).map_err(|_| "names no instance".to_string()),
                )
            })
            .map(|i| i.to_string());
        let dry_run = match dry_run.map(str::trim).filter(|v| !v.is_empty()) {
            None => false,
            Some(v) => e.take("dryRun", parse_bool(v)).unwrap_or(false),
        };
        let on_existing = match on_existing.map(str::trim).filter(|v| !v.is_empty()) {
            None => OnExisting::Skip,
            Some(v) => e
                .take("onExisting", OnExisting::parse(v))
                .unwrap_or_default(),
        };
        let name: String = file_name
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(120)
            .collect();
        let file_name = match name.trim() {
            "" => "upload".to_string(),
            n => n.to_string(),
        };
        e.into_result()?;
        Ok(ImportRequest {
            instance,
            dry_run,
            on_existing,
            file_name,
        })
    }
}

/// A bad file: one error for the whole file (422, under the key `file`).
fn bad_file(reason: impl Into<String>) -> CoreError {
    CoreError::validation("file", reason)
}

/// What the staging thread tells the uploader.
enum Staged {
    Rows(Vec<StagedRow>),
    /// The end: records read, notes, the first InstanceId a valid row names.
    End(i64, Vec<String>, Option<InstanceId>),
    Failed(String),
}

fn stage_file<R: Read>(
    source: R,
    now: DateTime<Utc>,
    send: &tokio::sync::mpsc::Sender<Staged>,
) -> Result<(), String> {
    let mut file = ImportFile::open(source)?;
    let mut rows = Vec::with_capacity(IMPORT_CHUNK as usize);
    let mut first_instance = None;
    while let Some(record) = file.next_record()? {
        if first_instance.is_none() {
            if let Ok(fields) = &record.fields {
                first_instance = fields
                    .get(&Column::InstanceId)
                    .and_then(|v| InstanceId::parse(v).ok());
            }
        }
        rows.push(staged(file.records, record, now));
        if rows.len() as i64 == IMPORT_CHUNK {
            let full = std::mem::replace(&mut rows, Vec::with_capacity(IMPORT_CHUNK as usize));
            send.blocking_send(Staged::Rows(full))
                .map_err(|_| "the upload was abandoned".to_string())?;
        }
    }
    if !rows.is_empty() {
        send.blocking_send(Staged::Rows(rows))
            .map_err(|_| "the upload was abandoned".to_string())?;
    }
    send.blocking_send(Staged::End(file.records, file.notes(), first_instance))
        .map_err(|_| "the upload was abandoned".to_string())
}

/// What one row comes to.
enum Outcome {
    Create(Box<NewUserRow>),
    Update(Box<UserPatch>),
    Skip(&'static str),
    Error(String, String),
}

impl Outcome {
    fn error(field: &str, reason: impl Into<String>) -> Self {
        Outcome::Error(field.into(), reason.into())
    }
}

/// The patch that makes `before` what the row gives (only the fields it gives that
/// differ); `DateCreated` and the instance are never changed by an import.
fn differences(before: &UserRow, u: &ImportUser) -> UserPatch {
    fn text(before: &Option<String>, given: &Option<String>) -> Option<Change<String>> {
        given
            .as_ref()
            .filter(|g| Some(*g) != before.as_ref())
            .map(|g| Change::Set(g.clone()))
    }
    let p = &u.profile;
    let mut patch = UserPatch {
        profile: ProfilePatch {
            first_name: text(&before.first_name, &p.first_name),
            last_name: text(&before.last_name, &p.last_name),
            nickname: text(&before.nickname, &p.nickname),
            phone: p
                .phone
                .clone()
                .filter(|v| Some(v.as_str()) != before.phone.as_deref())
                .map(Change::Set),
            email: p
                .email
                .clone()
                .filter(|v| Some(v.as_str()) != before.email.as_deref())
                .map(Change::Set),
            country: text(&before.country, &p.country),
            district: text(&before.district, &p.district),
            city: text(&before.city, &p.city),
            address: text(&before.address, &p.address),
            image_url: text(&before.image_url, &p.image_url),
            gender: p.gender.filter(|g| g.to_string() != before.gender),
            birthday: p
                .birthday
                .filter(|b| Some(ms(*b)) != before.birthday)
                .map(Change::Set),
            marital_status: text(&before.marital_status, &p.marital_status),
            children_count: p
                .children_count
                .filter(|c| Some(*c) != before.children_count),
        },
        client_id: text(&before.client_id, &u.client_id),
        status: u
            .status
            .filter(|s| s.to_string() != before.status)
            .map(StatusChange::Set),
        ..UserPatch::default()
    };
    let stored = before.flags();
    for flag in Flag::ALL {
        patch.flags[flag.index()] = u.flags[flag.index()].filter(|on| *on != stored.get(flag));
    }
    patch
}

fn patch_is_empty(p: &UserPatch) -> bool {
    p.profile == ProfilePatch::default()
        && p.flags.iter().all(Option::is_none)
        && p.client_id.is_none()
        && p.status.is_none()
}

/// The new user a row creates in `instance`, in import `batch_id`.
fn new_row(u: &ImportUser, instance: &Instance, batch_id: &str, now: DateTime<Utc>) -> NewUserRow {
    let mut flags = UserFlags::default();
    for flag in Flag::ALL {
        if let Some(on) = u.flags[flag.index()] {
            flags.set(flag, on);
        }
    }
    let base = NewUserRow {
        batch_id: Some(batch_id.to_string()),
        date_created: ms(u.date_created.unwrap_or(now)),
        ..user_row(u.device_token, instance, now)
    };
    profile_row(
        base,
        &u.profile,
        u.status.unwrap_or(UserStatus::Active),
        flags,
        u.client_id.clone(),
    )
}

fn state_name(b: &BatchRecord, now: DateTime<Utc>) -> &'static str {
    match crate::batches::batch_state(b, now) {
        BatchState::Running => "Running",
        BatchState::Completed => "Completed",
        BatchState::Failed => "Failed",
        BatchState::Interrupted => "Interrupted",
    }
}

fn import_view(b: BatchRecord, now: DateTime<Utc>) -> ImportView {
    let state = state_name(&b, now).to_string();
    ImportView {
        state,
        on_existing: b
            .on_existing
            .as_deref()
            .and_then(|o| OnExisting::parse(o).ok())
            .unwrap_or_default(),
        notes: b
            .file_notes
            .as_deref()
            .unwrap_or("")
            .lines()
            .map(str::to_string)
            .collect(),
        file_name: b.file_name.unwrap_or_default(),
        dry_run: b.dry_run,
        id: b.id,
        instance_id: b.instance_id,
        instance_name: b.instance_name,
        rows: b.quantity,
        done: b.done,
        created: b.created_rows,
        updated: b.updated_rows,
        skipped: b.skipped_rows,
        failed: b.failed_rows,
        error: b.error,
        created_by: b.created_by,
        created_at: iso(b.created_at),
        updated_at: iso(b.updated_at),
        finished_at: b.finished_at.map(iso),
    }
}

/// A claimed report download, read chunk by chunk with `next_report_chunk`.
pub struct ReportDownload {
    pub batch_id: String,
    pub file_name: String,
    after: i64,
}

/// Decides a chunk's rows against the database as `tx` sees it.
struct Decider<'a> {
    b: &'a BatchRecord,
    instance: &'a Instance,
    policy: OnExisting,
    now: DateTime<Utc>,
}

impl Decider<'_> {
    async fn decide(
        &self,
        tx: &mut crate::store::Tx,
        rows: &[StagedRow],
    ) -> CoreResult<Vec<(Result<ImportUser, (String, String)>, Outcome)>> {
        let parsed: Vec<Result<ImportUser, (String, String)>> =
            rows.iter().map(|r| unstaged(r, self.now)).collect();
        let keys = |pick: fn(&StagedRow) -> &Option<String>| -> Vec<String> {
            let mut v: Vec<String> = rows.iter().filter_map(|r| pick(r).clone()).collect();
            v.sort();
            v.dedup();
            v
        };
        let tokens = keys(|r| &r.device_token);
        let emails = keys(|r| &r.email);
        let phones = keys(|r| &r.phone);
        let id = &self.b.id;
        let firsts = |list: Vec<(String, i64, i64)>| -> HashMap<String, (i64, i64)> {
            list.into_iter().map(|(v, s, r)| (v, (s, r))).collect()
        };
        let first_token = firsts(
            tx.first_in_file(id, StagedKey::DeviceToken, &tokens)
                .await?,
        );
        let first_email = firsts(tx.first_in_file(id, StagedKey::Email, &emails).await?);
        let first_phone = firsts(tx.first_in_file(id, StagedKey::Phone, &phones).await?);
        let existing: HashMap<String, UserRow> = tx
            .users_with_tokens(&tokens)
            .await?
            .into_iter()
            .map(|u| (u.device_token.clone(), u))
            .collect();
        let instance_id = self.instance.id.to_string();
        let holders =
            |list: Vec<(String, String)>| -> HashMap<String, String> { list.into_iter().collect() };
        let email_holder = holders(
            tx.login_holders(&instance_id, StagedKey::Email, &emails)
                .await?,
        );
        let phone_holder = holders(
            tx.login_holders(&instance_id, StagedKey::Phone, &phones)
                .await?,
        );

        let mut out = Vec::with_capacity(rows.len());
        for (row, parsed) in rows.iter().zip(parsed) {
            let outcome = match &parsed {
                Err((field, reason)) => Outcome::Error(field.clone(), reason.clone()),
                Ok(u) => {
                    let token = u.device_token.to_string();
                    let repeats = |firsts: &HashMap<String, (i64, i64)>, value: &Option<String>| {
                        value
                            .as_ref()
                            .and_then(|v| firsts.get(v))
                            .filter(|(seq, _)| *seq < row.seq)
                            .map(|(_, first_row)| *first_row)
                    };
                    let taken = |holder: &HashMap<String, String>, value: &Option<String>| {
                        value
                            .as_ref()
                            .and_then(|v| holder.get(v))
                            .is_some_and(|who| *who != token)
                    };
                    if u.instance_id.is_some_and(|i| i != self.instance.id) {
                        Outcome::error(
                            "InstanceId",
                            format!(
                                "is not this import's instance ({}); import each instance's rows on their own",
                                self.instance.name
                            ),
                        )
                    } else if let Some(first) = repeats(&first_token, &row.device_token) {
                        Outcome::error("DeviceToken", format!("repeats row {first}"))
                    } else if let Some(first) = repeats(&first_email, &row.email) {
                        Outcome::error("Email", format!("repeats row {first}"))
                    } else if let Some(first) = repeats(&first_phone, &row.phone) {
                        Outcome::error("Phone", format!("repeats row {first}"))
                    } else {
                        match existing.get(&token) {
                            Some(before) if before.instance_id != instance_id => Outcome::error(
                                "DeviceToken",
                                "belongs to a user of another instance",
                            ),
                            Some(_) if self.policy == OnExisting::Skip => Outcome::Skip("exists"),
                            Some(_) if self.policy == OnExisting::Fail => {
                                Outcome::error("DeviceToken", "exists")
                            }
                            Some(before) => {
                                let patch = differences(before, u);
                                if patch_is_empty(&patch) {
                                    Outcome::Skip("unchanged")
                                } else if patch.profile.email.is_some()
                                    && taken(&email_holder, &row.email)
                                {
                                    Outcome::error(
                                        "Email",
                                        "is used by another user of this instance",
                                    )
                                } else if patch.profile.phone.is_some()
                                    && taken(&phone_holder, &row.phone)
                                {
                                    Outcome::error(
                                        "Phone",
                                        "is used by another user of this instance",
                                    )
                                } else {
                                    Outcome::Update(Box::new(patch))
                                }
                            }
                            None if taken(&email_holder, &row.email) => {
                                Outcome::error("Email", "is used by another user of this instance")
                            }
                            None if taken(&phone_holder, &row.phone) => {
                                Outcome::error("Phone", "is used by another user of this instance")
                            }
                            None => Outcome::Create(Box::new(new_row(
                                u,
                                self.instance,
                                &self.b.id,
                                self.now,
                            ))),
                        }
                    }
                }
            };
            out.push((parsed, outcome));
        }
        Ok(out)
    }
}

/// One report line (fields are ours or quoted by `csv_field`).
fn report_line(text: &mut String, row: &StagedRow, result: &str, field: &str, reason: &str) {
    let token = row.device_token.as_deref().unwrap_or("");
    let _ = writeln!(
        text,
        "{},{},{},{},{}",
        row.row_no,
        crate::types::csv_field(token),
        result,
        crate::types::csv_field(field),
        crate::types::csv_field(reason)
    );
}

impl Core {
    /// An import `p` may see: of one of its instances (else as if there were none, 404).
    /// Whoever may read users or write them (an API key that imports) may follow imports.
    async fn visible_import(&self, p: &Principal, id: &str) -> CoreResult<BatchRecord> {
        p.allow(Action::ReadUsers)
            .or_else(|_| p.allow(Action::WriteUsers))?;
        let gone = || CoreError::NotFound("no import has this id".into());
        let id = BatchId::parse(id).map_err(|_| gone())?.to_string();
        self.store()
            .find_batch(&id)
            .await?
            .filter(|b| b.kind == KIND_IMPORT && p.sees_instance(&b.instance_id))
            .ok_or_else(gone)
    }

    /// Admin (or an API key with `users:write`): reads and stages a file, then starts its
    /// import (or dry run), audited; the caller runs it (`spawn_batch`). A file that is not
    /// CSV or NDJSON at all is one error (422, key `file`); a bad row is a report line.
    pub async fn start_import<R: Read + Send + 'static>(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        request: ImportRequest,
        source: R,
        meta: &RequestMeta,
    ) -> CoreResult<ImportView> {
        p.allow(Action::WriteUsers)?;
        let given = match &request.instance {
            Some(id) => Some(self.active_instance_for_field(p, id, "instance").await?),
            None => None,
        };
        let id = BatchId::new_random().to_string();
        let mut tx = self.store().begin().await?;
        tx.begin_upload(&id, ms(now)).await?;
        tx.commit().await?;
        let staged = self.stage(now, &id, source).await;
        let outcome = match staged {
            Ok((records, notes, first_instance)) => {
                self.record_import(
                    now,
                    p,
                    &id,
                    &request,
                    given,
                    records,
                    notes,
                    first_instance,
                    meta,
                )
                .await
            }
            Err(e) => Err(e),
        };
        if outcome.is_err() {
            let mut tx = self.store().begin().await?;
            tx.delete_staged(&id).await?;
            tx.commit().await?;
        }
        outcome
    }

    /// Stages the file under `id`: (records, notes, the first InstanceId of a valid row).
    async fn stage<R: Read + Send + 'static>(
        &self,
        now: DateTime<Utc>,
        id: &str,
        source: R,
    ) -> CoreResult<(i64, Vec<String>, Option<InstanceId>)> {
        let (send, mut receive) = tokio::sync::mpsc::channel::<Staged>(2);
        let reader = tokio::task::spawn_blocking(move || {
            if let Err(reason) = stage_file(source, now, &send) {
                let _ = send.blocking_send(Staged::Failed(reason));
            }
        });
        let mut end = None;
        while let Some(message) = receive.recv().await {
            match message {
                Staged::Rows(rows) => {
                    let mut tx = self.store().begin().await?;
                    tx.stage_rows(id, &rows).await?;
                    tx.commit().await?;
                }
                Staged::End(records, notes, first) => end = Some((records, notes, first)),
                Staged::Failed(reason) => return Err(bad_file(reason)),
            }
        }
        reader.await.map_err(CoreError::internal)?;
        let (records, notes, first) =
            end.ok_or_else(|| CoreError::internal("the file's reader stopped early"))?;
        if records == 0 {
            return Err(bad_file("the file holds a header but no rows"));
        }
        Ok((records, notes, first))
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_import(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
        request: &ImportRequest,
        given: Option<Instance>,
        records: i64,
        notes: Vec<String>,
        first_instance: Option<InstanceId>,
        meta: &RequestMeta,
    ) -> CoreResult<ImportView> {
        let instance = match (given, first_instance) {
            (Some(i), _) => i,
            (None, Some(first)) => {
                self.active_instance_for_field(p, &first.to_string(), "instance")
                    .await?
            }
            (None, None) => {
                return Err(CoreError::validation(
                    "instance",
                    "is required: choose the instance, or give an InstanceId column",
                ))
            }
        };
        let mut tx = self.store().begin().await?;
        tx.end_upload(id).await?;
        tx.insert_batch(&NewBatch {
            id: id.to_string(),
            instance_id: instance.id.to_string(),
            label: request.file_name.clone(),
            quantity: records,
            created_by: p.actor(),
            created_at: ms(now),
            state: BatchRunState::Running,
            done: 0,
            flags: Flag::ALL.map(|f| UserFlags::default().get(f)),
            with_tokens: false,
            credentials: CredentialsState::NoTokens,
            import: Some(NewImport {
                dry_run: request.dry_run,
                on_existing: request.on_existing.as_str().to_string(),
                file_name: request.file_name.clone(),
                notes: notes.join("\n"),
            }),
        })
        .await?;
        tx.audit(&p.audit(
            now,
            AuditAction::ImportStarted,
            format!("batch:{id}"),
            format!(
                "{}{records} rows of {} into instance {}, existing DeviceTokens: {}",
                if request.dry_run { "dry run of " } else { "" },
                request.file_name,
                instance.name,
                request.on_existing.as_str()
            ),
            meta,
        ))
        .await?;
        tx.commit().await?;
        self.import_view(now, p, id).await
    }

    /// Handles the next chunk of a running import (see the module's invariants) into its
    /// instance (found active by the caller).
    pub(crate) async fn run_import_chunk(
        &self,
        now: DateTime<Utc>,
        b: BatchRecord,
        instance: &Instance,
    ) -> CoreResult<crate::batches::ChunkStep> {
        use crate::batches::ChunkStep;
        let policy = b
            .on_existing
            .as_deref()
            .and_then(|o| OnExisting::parse(o).ok())
            .unwrap_or_default();
        let mut tx = self.store().begin().await?;
        let rows = tx.staged_rows(&b.id, b.done, IMPORT_CHUNK).await?;
        let Some(last) = rows.last() else {
            return Err(CoreError::Conflict {
                key: "import".into(),
                message: "the uploaded file is no longer kept; upload it again".into(),
            });
        };
        let n = last.seq - b.done;
        let decider = Decider {
            b: &b,
            instance,
            policy,
            now,
        };
        let decided = decider.decide(&mut tx, &rows).await?;
        if !tx.advance_batch(&b.id, b.done, n, ms(now)).await? {
            return Ok(ChunkStep::Idle); // dropped: rolled back
        }
        let dry = b.dry_run;
        let (mut report, mut counts) = (String::new(), [0i64; 4]);
        let mut creates = Vec::new();
        for (row, (parsed, outcome)) in rows.iter().zip(decided) {
            match outcome {
                Outcome::Create(new) => {
                    counts[0] += 1;
                    report_line(
                        &mut report,
                        row,
                        if dry { "would create" } else { "created" },
                        "",
                        "",
                    );
                    creates.push(*new);
                }
                Outcome::Update(patch) => {
                    counts[1] += 1;
                    let token = parsed
                        .as_ref()
                        .map(|u| u.device_token)
                        .map_err(|_| CoreError::internal("an update without a user"))?;
                    let before = tx
                        .user_for_update(&token)
                        .await?
                        .ok_or_else(|| CoreError::internal("an updated user vanished"))?;
                    let described = patch.describe(&before, false);
                    report_line(
                        &mut report,
                        row,
                        if dry { "would update" } else { "updated" },
                        "",
                        &described.join("; "),
                    );
                    if !dry {
                        tx.apply_user_patch(&token, &patch, None, crate::time::ms(now))
                            .await?;
                        if let Some(after) = tx.user_for_update(&token).await? {
                            let events = crate::events::user_change_events(
                                now,
                                &before,
                                &after,
                                &b.created_by,
                            );
                            tx.insert_events(&events).await?;
                        }
                        tx.audit(&NewAuditRow::new(
                            now,
                            b.created_by.clone(),
                            AuditAction::UserUpdated,
                            format!("user:{token}"),
                            format!("import {}: {}", &b.id[..8], described.join("; ")),
                        ))
                        .await?;
                    }
                }
                Outcome::Skip(why) => {
                    counts[2] += 1;
                    let result = if dry { "would skip" } else { "skipped" };
                    report_line(&mut report, row, &format!("{result}: {why}"), "", "");
                }
                Outcome::Error(field, reason) => {
                    counts[3] += 1;
                    report_line(&mut report, row, "error", &field, &reason);
                }
            }
        }
        if !dry && !creates.is_empty() {
            tx.insert_users(&creates).await?;
            tx.insert_events(&crate::events::users_created(now, &creates, &b.created_by))
                .await?;
        }
        tx.insert_report(&b.id, rows[0].seq, &report).await?;
        tx.count_import_rows(&b.id, counts).await?;
        let done = b.done + n;
        let finished = done >= b.quantity;
        if finished {
            let total = [
                b.created_rows + counts[0],
                b.updated_rows + counts[1],
                b.skipped_rows + counts[2],
                b.failed_rows + counts[3],
            ];
            let summary = format!(
                "{}{done} rows: {} created, {} updated, {} skipped, {} errors",
                if dry { "dry run, " } else { "" },
                total[0],
                total[1],
                total[2],
                total[3]
            );
            tx.audit(&NewAuditRow::new(
                now,
                b.created_by.clone(),
                AuditAction::ImportCompleted,
                format!("batch:{}", b.id),
                summary,
            ))
            .await?;
            if !dry {
                tx.delete_staged(&b.id).await?;
                tx.insert_events(&[crate::events::batch_event(
                    crate::events::EventType::BatchCompleted,
                    now,
                    &b.id,
                    &b.instance_id,
                    serde_json::json!({
                        "Kind": "import", "Users": total[0], "Updated": total[1],
                        "Skipped": total[2], "Errors": total[3], "Actor": b.created_by
                    }),
                )])
                .await?;
            }
        }
        tx.commit().await?;
        Ok(ChunkStep::Wrote { done, finished })
    }

    /// One import as `p` may see it.
    pub async fn import_view(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
    ) -> CoreResult<ImportView> {
        Ok(import_view(self.visible_import(p, id).await?, now))
    }

    /// Imports newest first, a page at a time (`before`: a page's `next`).
    pub async fn import_list(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        before: Option<&str>,
    ) -> CoreResult<ImportPage> {
        let (rows, next) = self.batch_rows(p, KIND_IMPORT, before).await?;
        Ok(ImportPage {
            imports: rows.into_iter().map(|b| import_view(b, now)).collect(),
            next,
        })
    }

    /// Admin: runs a completed dry run for real, from its first row (audited); the caller
    /// then runs it (`spawn_batch`).
    pub async fn run_dry_import(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
        meta: &RequestMeta,
    ) -> CoreResult<ImportView> {
        p.allow(Action::WriteUsers)?;
        let b = self.visible_import(p, id).await?;
        let mut tx = self.store().begin().await?;
        if !tx.run_dry_import(&b.id, ms(now)).await? {
            return Err(CoreError::Conflict {
                key: "import".into(),
                message: "only a completed dry run whose file is still kept can be run".into(),
            });
        }
        tx.audit(&p.audit(
            now,
            AuditAction::ImportRun,
            format!("batch:{}", b.id),
            format!("the dry run's {} rows, imported for real", b.quantity),
            meta,
        ))
        .await?;
        tx.commit().await?;
        self.import_view(now, p, &b.id).await
    }

    /// The report of an import's latest run (any number of times; it holds no secret).
    pub async fn take_import_report(&self, p: &Principal, id: &str) -> CoreResult<ReportDownload> {
        let b = self.visible_import(p, id).await?;
        let name = b.file_name.unwrap_or_default();
        let stem = crate::batches::file_name_part(
            name.rsplit_once('.')
                .map_or(name.as_str(), |(stem, _)| stem),
        );
        let kind = if b.dry_run { "dry-run" } else { "report" };
        Ok(ReportDownload {
            file_name: format!("import-{stem}-{}-{kind}.csv", &b.id[..8]),
            batch_id: b.id,
            after: -1,
        })
    }

    /// The next chunk of a report's lines, `None` at the end.
    pub async fn next_report_chunk(&self, d: &mut ReportDownload) -> CoreResult<Option<String>> {
        let Some((first, body)) = self.store().report_chunk(&d.batch_id, d.after).await? else {
            return Ok(None);
        };
        d.after = first;
        Ok(Some(body))
    }

    /// The first `limit` rows of an import's report that are errors, read chunk by chunk
    /// (at most `ERRORS_SCANNED` chunks: a large import's first errors; the report has all).
    pub async fn import_errors(
        &self,
        p: &Principal,
        id: &str,
        limit: usize,
    ) -> CoreResult<Vec<ImportRowError>> {
        let mut d = self.take_import_report(p, id).await?;
        let mut out = Vec::new();
        for _ in 0..ERRORS_SCANNED {
            let Some(text) = self.next_report_chunk(&mut d).await? else {
                break;
            };
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(text.as_bytes());
            for record in reader.records().flatten() {
                if record.get(2) != Some("error") {
                    continue;
                }
                out.push(ImportRowError {
                    row: record.get(0).and_then(|r| r.parse().ok()).unwrap_or(0),
                    device_token: record.get(1).unwrap_or("").to_string(),
                    field: record.get(3).unwrap_or("").to_string(),
                    reason: record.get(4).unwrap_or("").to_string(),
                });
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// Deletes files of uploads abandoned for an hour and of imports finished a day ago.
    pub async fn purge_import_files(&self, now: DateTime<Utc>) -> CoreResult<usize> {
        let hour = ms(now) - 3_600_000;
        let day = ms(now) - self.batch_runs().credentials_ttl_secs * 1000;
        let mut ids = self.store().abandoned_uploads(hour).await?;
        ids.extend(self.store().imports_with_stale_files(day).await?);
        for id in &ids {
            let mut tx = self.store().begin().await?;
            tx.delete_staged(id).await?;
            tx.commit().await?;
        }
        Ok(ids.len())
    }
}

#[cfg(test)]
mod tests;
