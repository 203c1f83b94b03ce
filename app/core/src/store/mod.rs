//! The store: every SQL statement of the service lives below this module.
//!
//! One binary serves several backends, chosen at run time by the database URL. The SQL is
//! written once in a portable subset (`$1` placeholders, BIGINT millisecond times, TEXT ids,
//! BOOLEAN flags) and each statement is compiled per backend by the `on_pool!`/`on_tx!`
//! macros, so a dialect difference shows up as an explicit branch here and nowhere else.
//!
//! SQLite: one writer connection (writes serialise in-process, no SQLITE_BUSY between our
//! own transactions) plus a pool of readers, in WAL mode so readers never block the writer.
//! SQLite serves one process; several replicas share a PostgreSQL database.
//!
//! PostgreSQL: one pool; rows a transaction decides on are read `FOR UPDATE`, so concurrent
//! replicas serialise on the row, not in process memory.

mod rows;
pub mod scratch;

pub use rows::*;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, QueryBuilder, SqlitePool};

use super::error::{CoreError, CoreResult};
use super::types::UserSort;

/// Pool sizing; the defaults suit one small server.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 8,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
pub enum Store {
    Sqlite { read: SqlitePool, write: SqlitePool },
    Postgres(PgPool),
}

pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs `$body` with `$c` bound to the backend's reader pool.
macro_rules! on_pool {
    ($store:expr, $c:ident => $body:expr) => {
        match $store {
            Store::Sqlite { read, .. } => {
                let $c = read;
                $body
            }
            Store::Postgres(pool) => {
                let $c = pool;
                $body
            }
        }
    };
}

/// Runs `$body` with `$c` bound to the open transaction's connection (`&mut *$c` to execute).
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            Tx::Sqlite(tx) => {
                let $c = &mut **tx;
                $body
            }
            Tx::Postgres(tx) => {
                let $c = &mut **tx;
                $body
            }
        }
    };
}

/// Maps a database error: a unique violation on a named constraint becomes the field-level
/// conflict the client can act on; anything else is internal.
fn db_err(err: sqlx::Error) -> CoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            let name = db
                .constraint()
                .map(str::to_string)
                .or_else(|| sqlite_constraint_name(db.message()));
            if let Some((key, message)) = name.as_deref().and_then(conflict_for) {
                return CoreError::Conflict {
                    key: key.into(),
                    message: message.into(),
                };
            }
        }
    }
    CoreError::internal(err)
}

/// SQLite reports the columns of a violated unique index, not its name: map them back.
fn sqlite_constraint_name(message: &str) -> Option<String> {
    let columns = message.strip_prefix("UNIQUE constraint failed: ")?;
    let name = match columns {
        "users.device_token" => "users_pkey",
        "users.instance_id, users.email" => "users_instance_email_key",
        "users.instance_id, users.phone" => "users_instance_phone_key",
        "instances.invite_code" => "instances_invite_code_key",
        "admins.email" => "admins_email_key",
        "refresh_tokens.token_hash" => "refresh_tokens_hash_key",
        _ => return None,
    };
    Some(name.to_string())
}

fn conflict_for(constraint: &str) -> Option<(&'static str, &'static str)> {
    Some(match constraint {
        "users_pkey" => ("CustomToken", "this DeviceToken is already registered"),
        "users_instance_email_key" => {
            ("Email", "this e-mail is already registered in the instance")
        }
        "users_instance_phone_key" => (
            "Phone",
            "this phone number is already registered in the instance",
        ),
        "instances_invite_code_key" => ("InviteCode", "this invite code is taken"),
        "admins_email_key" => ("Email", "an admin with this e-mail exists"),
        _ => return None,
    })
}

/// The SQLite file holds the signing key and every InstanceKey: it is the service's alone.
/// A missing folder is created 0700 and a missing file 0600 before SQLite opens it (its
/// `-wal` and `-shm` files take the database file's mode); an existing file that others
/// may read is narrowed to 0600, with a warning.
fn private_sqlite_files(path: &std::path::Path) -> CoreResult<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let name = path.as_os_str();
        if name.is_empty() || name.to_string_lossy().starts_with(":memory:") {
            return Ok(());
        }
        let failed = |what: &str, e: std::io::Error| {
            CoreError::internal(format!("cannot {what} {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| failed("create the folder of", e))?;
            }
        }
        let mut files = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut sibling = name.to_os_string();
            sibling.push(suffix);
            files.push(sibling.into());
        }
        for file in &files {
            let Ok(meta) = std::fs::metadata(file) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(file = %file.display(), "the database file was readable by others; narrowing it to 0600");
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| failed("narrow the permissions of", e))?;
            }
        }
        if let Err(e) = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(failed("create", e));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// A value for a column of a dynamic UPDATE.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
}

/// Rows per multi-row INSERT: below SQLite's 32,766 and PostgreSQL's 65,535 bind limits
/// for the widest table (users, 25 columns).
const INSERT_CHUNK: usize = 1000;

impl Store {
    /// Opens the database named by `url`: `sqlite:` or `postgres:`/`postgresql:`.
    pub async fn connect(url: &str, pool: &PoolSettings) -> CoreResult<Store> {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            // No JIT: our statements are short, and a plan whose estimate passes
            // jit_above_cost (an unanalysed table is enough) spent 110 ms compiling a 2 ms
            // query (the instances page's counts at 10^6 users).
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| CoreError::internal(format!("invalid PostgreSQL URL: {e}")))?
                .options([("jit", "off")]);
            let pool = PgPoolOptions::new()
                .max_connections(pool.max_connections.max(1))
                .min_connections(pool.min_connections)
                .acquire_timeout(pool.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(|e| CoreError::internal(format!("cannot connect to PostgreSQL: {e}")))?;
            Ok(Store::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| CoreError::internal(format!("invalid SQLite URL: {e}")))?;
            private_sqlite_files(options.get_filename())?;
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(pool.acquire_timeout)
                .connect_with(options.clone())
                .await
                .map_err(|e| {
                    CoreError::internal(format!("cannot open the SQLite database: {e}"))
                })?;
            let read = SqlitePoolOptions::new()
                .max_connections(pool.max_connections.max(1))
                .acquire_timeout(pool.acquire_timeout)
                .connect_with(options.read_only(true))
                .await
                .map_err(|e| {
                    CoreError::internal(format!("cannot open the SQLite database: {e}"))
                })?;
            Ok(Store::Sqlite { read, write })
        } else {
            Err(CoreError::internal(
                "unsupported database URL: use sqlite://PATH or postgres://USER:PASSWORD@HOST/DB",
            ))
        }
    }

    pub async fn migrate(&self) -> CoreResult<()> {
        match self {
            Store::Sqlite { write, .. } => sqlx::migrate!("./migrations/sqlite")
                .run(write)
                .await
                .map_err(|e| CoreError::internal(format!("migration failed: {e}"))),
            // sqlx takes an advisory lock, so replicas starting together migrate once.
            Store::Postgres(pool) => sqlx::migrate!("./migrations/postgres")
                .run(pool)
                .await
                .map_err(|e| CoreError::internal(format!("migration failed: {e}"))),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite { .. } => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    pub async fn begin(&self) -> CoreResult<Tx> {
        match self {
            Store::Sqlite { write, .. } => write.begin().await.map(Tx::Sqlite).map_err(db_err),
            Store::Postgres(pool) => pool.begin().await.map(Tx::Postgres).map_err(db_err),
        }
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Store::Postgres(pool) => pool.close().await,
        }
    }

    pub async fn ping(&self) -> CoreResult<()> {
        on_pool!(self, c => sqlx::query("SELECT 1").execute(c).await.map(|_| ()).map_err(db_err))
    }

    pub async fn get_setting(&self, name: &str) -> CoreResult<Option<String>> {
        on_pool!(self, c => sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(c)
            .await
            .map_err(db_err))
    }

    pub async fn count_admins(&self) -> CoreResult<i64> {
        on_pool!(self, c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM admins")
            .fetch_one(c).await.map_err(db_err))
    }

    pub async fn count_applications(&self) -> CoreResult<i64> {
        on_pool!(self, c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM applications")
            .fetch_one(c).await.map_err(db_err))
    }

    pub async fn first_application(&self) -> CoreResult<Option<ApplicationRow>> {
        on_pool!(self, c => sqlx::query_as::<_, ApplicationRow>(
            "SELECT id, company_id, name, description, status, created_at FROM applications
             ORDER BY created_at, id LIMIT 1")
            .fetch_optional(c).await.map_err(db_err))
    }

    pub async fn find_instance(&self, id: &str) -> CoreResult<Option<InstanceRow>> {
        on_pool!(self, c => sqlx::query_as::<_, InstanceRow>(
            &format!("{INSTANCE_SELECT} WHERE i.id = $1"))
            .bind(id).fetch_optional(c).await.map_err(db_err))
    }

    pub async fn find_instance_by_invite(&self, code: &str) -> CoreResult<Option<InstanceRow>> {
        on_pool!(self, c => sqlx::query_as::<_, InstanceRow>(
            &format!("{INSTANCE_SELECT} WHERE i.invite_code = $1"))
            .bind(code).fetch_optional(c).await.map_err(db_err))
    }

    pub async fn list_instances(&self) -> CoreResult<Vec<InstanceWithCount>> {
        on_pool!(self, c => sqlx::query_as::<_, InstanceWithCount>(
            "SELECT i.id, i.name, i.description, i.status, i.invite_code, i.created_at,
                    a.name AS app_name, a.id AS app_id,
                    (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM user_counts c
                     WHERE c.instance_id = i.id) AS user_count
             FROM instances i JOIN applications a ON a.id = i.app_id
             ORDER BY a.created_at, i.created_at, i.id")
            .fetch_all(c).await.map_err(db_err))
    }

    /// Every instance's id, name and status, in the order of `list_instances` (no counting).
    pub async fn instance_names(&self) -> CoreResult<Vec<(String, String, String)>> {
        on_pool!(self, c => sqlx::query_as::<_, (String, String, String)>(
            "SELECT i.id, i.name, i.status FROM instances i JOIN applications a ON a.id = i.app_id
             ORDER BY a.created_at, i.created_at, i.id")
            .fetch_all(c).await.map_err(db_err))
    }

    pub async fn list_applications(&self) -> CoreResult<Vec<ApplicationRow>> {
        on_pool!(self, c => sqlx::query_as::<_, ApplicationRow>(
            "SELECT id, company_id, name, description, status, created_at FROM applications ORDER BY created_at, id")
            .fetch_all(c).await.map_err(db_err))
    }

    pub async fn find_application(&self, id: &str) -> CoreResult<Option<ApplicationRow>> {
        on_pool!(self, c => sqlx::query_as::<_, ApplicationRow>(
            "SELECT id, company_id, name, description, status, created_at FROM applications WHERE id = $1")
            .bind(id).fetch_optional(c).await.map_err(db_err))
    }

    pub async fn instances_of_application(&self, app_id: &str) -> CoreResult<Vec<InstanceRow>> {
        on_pool!(self, c => sqlx::query_as::<_, InstanceRow>(
            &format!("{INSTANCE_SELECT} WHERE i.app_id = $1 ORDER BY i.created_at, i.id"))
            .bind(app_id).fetch_all(c).await.map_err(db_err))
    }

    pub async fn find_user(&self, device_token: &str) -> CoreResult<Option<UserRow>> {
        on_pool!(self, c => sqlx::query_as::<_, UserRow>(&format!("{USER_SELECT} WHERE u.device_token = $1"))
            .bind(device_token).fetch_optional(c).await.map_err(db_err))
    }

    /// The user whose login name (`email` or `phone` column) matches, within an instance.
    pub async fn find_user_by_login(
        &self,
        instance_id: &str,
        column: LoginColumn,
        value: &str,
    ) -> CoreResult<Option<UserRow>> {
        let column = match column {
            LoginColumn::Email => "email",
            LoginColumn::Phone => "phone",
            LoginColumn::ClientId => "client_id",
        };
        on_pool!(self, c => sqlx::query_as::<_, UserRow>(
            &format!("{USER_SELECT} WHERE u.instance_id = $1 AND u.{column} = $2 ORDER BY u.date_created LIMIT 1"))
            .bind(instance_id).bind(value).fetch_optional(c).await.map_err(db_err))
    }

    pub async fn find_admin_by_email(&self, email: &str) -> CoreResult<Option<AdminRecord>> {
        on_pool!(self, c => sqlx::query_as::<_, AdminRecord>(
            "SELECT id, email, password_hash, role, created_at FROM admins WHERE email = $1")
            .bind(email).fetch_optional(c).await.map_err(db_err))
    }

    pub async fn find_admin(&self, id: &str) -> CoreResult<Option<AdminRecord>> {
        on_pool!(self, c => sqlx::query_as::<_, AdminRecord>(
            "SELECT id, email, password_hash, role, created_at FROM admins WHERE id = $1")
            .bind(id).fetch_optional(c).await.map_err(db_err))
    }

    pub async fn family_state(&self, family_id: &str) -> CoreResult<Option<FamilyRow>> {
        on_pool!(self, c => sqlx::query_as::<_, FamilyRow>(
            "SELECT id, subject, subject_kind, origin, created_at, revoked_at, revoke_reason
             FROM token_families WHERE id = $1")
            .bind(family_id).fetch_optional(c).await.map_err(db_err))
    }

    /// Users matching every filter given, newest first, at most `limit`. Names and countries
    /// compare ignoring ASCII case, as SQL `lower()` does on both backends.
    pub async fn find_users(&self, f: &UserFilter) -> CoreResult<Vec<UserRow>> {
        on_pool!(self, c => {
            let mut q = QueryBuilder::new(format!("{USER_SELECT} WHERE 1 = 1"));
            if let Some(v) = &f.device_token { q.push(" AND u.device_token = ").push_bind(v.clone()); }
            if let Some(v) = &f.email { q.push(format!(" AND {EMAIL_KEY} = ")).push_bind(v.clone()); }
            if let Some(v) = &f.phone { q.push(" AND u.phone = ").push_bind(v.clone()); }
            if let Some(v) = &f.client_id { q.push(" AND u.client_id = ").push_bind(v.clone()); }
            if let Some(v) = &f.first_name { q.push(format!(" AND {FIRST_NAME_KEY} = ")).push_bind(v.to_ascii_lowercase()); }
            if let Some(v) = &f.last_name { q.push(format!(" AND {LAST_NAME_KEY} = ")).push_bind(v.to_ascii_lowercase()); }
            if let Some(v) = &f.country { q.push(" AND lower(u.country) = ").push_bind(v.to_ascii_lowercase()); }
            if !f.full_name.is_empty() {
                q.push(" AND (");
                for (i, (first, last)) in f.full_name.iter().enumerate() {
                    q.push(if i == 0 { "(" } else { " OR (" });
                    q.push(format!("{FIRST_NAME_KEY} = ")).push_bind(first.to_ascii_lowercase());
                    q.push(format!(" AND {LAST_NAME_KEY} = ")).push_bind(last.to_ascii_lowercase()).push(")");
                }
                q.push(")");
            }
            if !f.include_inactive { q.push(" AND u.status = 'Active'"); }
            q.push(" ORDER BY u.date_created DESC, u.device_token LIMIT ").push_bind(f.limit);
            q.build_query_as::<UserRow>().fetch_all(c).await.map_err(db_err)
        })
    }

    /// The ids of the instances in every scope given (ids, applications, companies).
    pub async fn instance_scope(
        &self,
        instance_ids: &[String],
        application_ids: &[String],
        company_ids: &[String],
    ) -> CoreResult<Vec<String>> {
        on_pool!(self, c => {
            let mut q = QueryBuilder::new(
                "SELECT i.id FROM instances i JOIN applications a ON a.id = i.app_id WHERE 1 = 1");
            for (column, ids) in [("i.id", instance_ids), ("i.app_id", application_ids), ("a.company_id", company_ids)] {
                if ids.is_empty() { continue; }
                push_in_list!(q, column, ids);
            }
            q.push(" ORDER BY i.id");
            q.build_query_scalar::<String>().fetch_all(c).await.map_err(db_err)
        })
    }

    /// One page of users in the given order. Deferred join: the page's device tokens are
    /// picked from the sort index first, so a deep OFFSET skips index entries, not joined rows.
    ///
    /// `few_matches`: the caller knows the filter matches few users; then they are found by
    /// the filter's own indexes and sorted, instead of walking the sort index until enough
    /// match (which SQLite, without statistics, prefers even for one match in a million).
    pub async fn user_page(
        &self,
        f: &PageFilter,
        sort: UserSort,
        few_matches: bool,
        offset: i64,
        limit: i64,
    ) -> CoreResult<Vec<UserRow>> {
        self.user_keyset_page(f, sort, few_matches, None, offset, limit)
            .await
    }

    /// `user_page` from a keyset position: the rows after (or before) `at` in `sort` order.
    /// Rows before a position are returned in `sort` order too.
    pub async fn user_keyset_page(
        &self,
        f: &PageFilter,
        sort: UserSort,
        few_matches: bool,
        at: Option<&Keyset>,
        offset: i64,
        limit: i64,
    ) -> CoreResult<Vec<UserRow>> {
        let backward = at.is_some_and(|k| k.backward);
        let read = if backward { sort.reversed() } else { sort };
        let order = sort_order(read, false);
        let inner_order = sort_order(read, few_matches);
        let mut rows = on_pool!(self, c => {
            let mut q = QueryBuilder::new(format!(
                "{USER_SELECT} WHERE u.device_token IN (SELECT u.device_token FROM users u WHERE 1 = 1"));
            push_page_filter!(q, f);
            if let Some(k) = at {
                // `key >= v AND (key > v OR token > t)` (mirrored when descending) rather than
                // the row value `(key, token) > (v, t)`: SQLite starts an index range on an
                // expression key only from the plain comparison.
                let (key, ascending) = sort_key(read);
                let (from, past) = if ascending { (">=", ">") } else { ("<=", "<") };
                let bind = |q: &mut QueryBuilder<_>| match &k.key {
                    SortValue::Int(v) => { q.push_bind(*v); }
                    SortValue::Text(v) => { q.push_bind(v.clone()); }
                };
                q.push(format!(" AND {key} {from} "));
                bind(&mut q);
                q.push(format!(" AND ({key} {past} "));
                bind(&mut q);
                q.push(format!(" OR u.device_token {past} ")).push_bind(k.device_token.clone()).push(")");
            }
            q.push(format!(" ORDER BY {inner_order} LIMIT ")).push_bind(limit);
            q.push(" OFFSET ").push_bind(offset);
            q.push(format!(") ORDER BY {order}"));
            q.build_query_as::<UserRow>().fetch_all(c).await.map_err(db_err)
        })?;
        if backward {
            rows.reverse();
        }
        Ok(rows)
    }

    /// The latest access-token issue time of each of these users (those that have one).
    pub async fn last_token_activity(&self, subjects: &[String]) -> CoreResult<Vec<(String, i64)>> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        on_pool!(self, c => {
            let mut q = QueryBuilder::new(
                "SELECT subject, MAX(issued_at) FROM access_tokens WHERE 1 = 1");
            push_in_list!(q, "subject", subjects);
            q.push(" GROUP BY subject");
            q.build_query_as::<(String, i64)>().fetch_all(c).await.map_err(db_err)
        })
    }

    /// The session an access token was issued in. `None` for a jti we never issued, or
    /// whose subject was deleted since (its rows went with it): such a token is refused
    /// whatever its signature says.
    pub async fn access_session(&self, jti: &str) -> CoreResult<Option<AccessSession>> {
        on_pool!(self, c => sqlx::query_as::<_, AccessSession>(
            "SELECT a.subject, a.family_id, f.subject_kind, f.created_at AS family_created_at,
                    f.revoked_at AS family_revoked_at
             FROM access_tokens a JOIN token_families f ON f.id = a.family_id
             WHERE a.jti = $1")
            .bind(jti).fetch_optional(c).await.map_err(db_err))
    }

    /// The session a refresh token belongs to (what never changes about it), and the one
    /// the access token `jti` presented with it was issued in: one read for both.
    pub async fn refresh_lineage(
        &self,
        token_hash: &str,
        jti: &str,
    ) -> CoreResult<Option<RefreshLineage>> {
        on_pool!(self, c => sqlx::query_as::<_, RefreshLineage>(
            "SELECT r.family_id, r.subject, f.subject_kind, f.created_at AS family_created_at,
                    a.family_id AS access_family_id, a.subject AS access_subject
             FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id
             LEFT JOIN access_tokens a ON a.jti = $2
             WHERE r.token_hash = $1")
            .bind(token_hash).bind(jti).fetch_optional(c).await.map_err(db_err))
    }

    /// The newest `limit` access tokens issued to `subject`.
    pub async fn access_tokens_of(
        &self,
        subject: &str,
        limit: i64,
    ) -> CoreResult<Vec<AccessTokenRow>> {
        on_pool!(self, c => sqlx::query_as::<_, AccessTokenRow>(
            "SELECT jti, family_id, source, issued_at, expires_at FROM access_tokens
             WHERE subject = $1 ORDER BY issued_at DESC, jti LIMIT $2")
            .bind(subject).bind(limit).fetch_all(c).await.map_err(db_err))
    }

    /// The token families of `subject`, newest first.
    pub async fn families_of(&self, subject: &str) -> CoreResult<Vec<FamilyRow>> {
        on_pool!(self, c => sqlx::query_as::<_, FamilyRow>(
            "SELECT id, subject, subject_kind, origin, created_at, revoked_at, revoke_reason
             FROM token_families WHERE subject = $1 ORDER BY created_at DESC, id")
            .bind(subject).fetch_all(c).await.map_err(db_err))
    }

    /// Every refresh token of `subject` (states and times, never the hash), oldest first.
    pub async fn refresh_tokens_of(&self, subject: &str) -> CoreResult<Vec<RefreshTokenState>> {
        on_pool!(self, c => sqlx::query_as::<_, RefreshTokenState>(
            "SELECT id, family_id, parent_id, state, issued_at, expires_at, used_at, reason
             FROM refresh_tokens WHERE subject = $1 ORDER BY issued_at, id")
            .bind(subject).fetch_all(c).await.map_err(db_err))
    }

    /// How many users match, counting at most `cap` of them.
    pub async fn count_users(&self, f: &PageFilter, cap: i64) -> CoreResult<i64> {
        on_pool!(self, c => {
            let mut q = QueryBuilder::new(
                "SELECT COUNT(*) FROM (SELECT 1 FROM users u WHERE 1 = 1");
            push_page_filter!(q, f);
            q.push(" LIMIT ").push_bind(cap).push(") AS matched");
            q.build_query_scalar::<i64>().fetch_one(c).await.map_err(db_err)
        })
    }

    /// How many users a selection holds (exact).
    pub async fn count_selection(&self, selection: &Selection) -> CoreResult<i64> {
        on_pool!(self, c => {
            let mut q = QueryBuilder::new("SELECT COUNT(*) FROM users WHERE 1 = 1");
            push_selection!(q, selection);
            q.build_query_scalar::<i64>().fetch_one(c).await.map_err(db_err)
        })
    }

    /// Users matching `f` (instances, status, at most one flag: see
    /// `PageFilter::countable_by_counters`) registered on UTC days `from_day..to_day`
    /// (ms / 86400000), by the counters the triggers keep: no user row is read.
    pub async fn sum_user_counts(
        &self,
        f: &PageFilter,
        from_day: Option<i64>,
        to_day: Option<i64>,
    ) -> CoreResult<i64> {
        let counted = match f.flags.counter_columns().next() {
            None => "n".to_string(),
            Some((column, true)) => column.to_string(),
            Some((column, false)) => format!("n - {column}"),
        };
        on_pool!(self, c => {
            let mut q = QueryBuilder::new(format!(
                "SELECT CAST(COALESCE(SUM({counted}), 0) AS BIGINT) FROM user_counts WHERE 1 = 1"));
            if let Some(ids) = &f.instances { push_in_list!(q, "instance_id", ids); }
            if !f.include_inactive { q.push(" AND status = 'Active'"); }
            if let Some(v) = &f.status { q.push(" AND status = ").push_bind(v.clone()); }
            if let Some(d) = from_day { q.push(" AND day >= ").push_bind(d); }
            if let Some(d) = to_day { q.push(" AND day < ").push_bind(d); }
            q.build_query_scalar::<i64>().fetch_one(c).await.map_err(db_err)
        })
    }

    /// Audit entries matching the filter, newest first (keyset on id).
    pub async fn audit_page(&self, f: &AuditFilter) -> CoreResult<Vec<AuditRow>> {
        on_pool!(self, c => {
            let mut q = QueryBuilder::new("SELECT id, at, actor, action, target, detail, client_addr FROM audit_log WHERE 1 = 1");
            if let Some(v) = &f.actor { q.push(" AND actor = ").push_bind(v.clone()); }
            if let Some(v) = &f.action { q.push(" AND action = ").push_bind(v.clone()); }
            if let Some(v) = &f.target { q.push(" AND target = ").push_bind(v.clone()); }
            if let Some(v) = f.from { q.push(" AND at >= ").push_bind(v); }
            if let Some(v) = f.to { q.push(" AND at < ").push_bind(v); }
            if let Some(v) = f.before_id { q.push(" AND id < ").push_bind(v); }
            q.push(" ORDER BY id DESC LIMIT ").push_bind(f.limit);
            q.build_query_as::<AuditRow>().fetch_all(c).await.map_err(db_err)
        })
    }

    /// Users (active, deactivated), from the counters.
    pub async fn users_by_status(&self) -> CoreResult<(i64, i64)> {
        on_pool!(self, c => sqlx::query_as::<_, (i64, i64)>(
            "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'Active' THEN n ELSE 0 END), 0) AS BIGINT),
                    CAST(COALESCE(SUM(CASE WHEN status = 'Active' THEN 0 ELSE n END), 0) AS BIGINT)
             FROM user_counts")
            .fetch_one(c).await.map_err(db_err))
    }

    /// Users with tracking, logging, the SDK and real-time location on, from the counters
    /// (migration 0008).
    pub async fn flag_totals(&self) -> CoreResult<[i64; 4]> {
        self.flag_sums("user_counts", ["tracking", "logging", "sdk", "real_time"])
            .await
    }

    /// The same four totals by reading every user: what the counters must always equal.
    #[cfg(test)]
    pub async fn flag_totals_by_scan(&self) -> CoreResult<[i64; 4]> {
        self.flag_sums(
            "users",
            [
                "CASE WHEN enable_tracking THEN 1 ELSE 0 END",
                "CASE WHEN enable_logging THEN 1 ELSE 0 END",
                "CASE WHEN enabled THEN 1 ELSE 0 END",
                "CASE WHEN enable_real_time_location THEN 1 ELSE 0 END",
            ],
        )
        .await
    }

    async fn flag_sums(&self, table: &str, terms: [&str; 4]) -> CoreResult<[i64; 4]> {
        let sums: Vec<String> = terms
            .iter()
            .map(|t| format!("CAST(COALESCE(SUM({t}), 0) AS BIGINT)"))
            .collect();
        let sql = format!("SELECT {} FROM {table}", sums.join(", "));
        let (a, b, c2, d) = on_pool!(self, c => sqlx::query_as::<_, (i64, i64, i64, i64)>(&sql)
            .fetch_one(c).await.map_err(db_err))?;
        Ok([a, b, c2, d])
    }

    /// Users per UTC day (ms / 86400000) from `first_day` on, by the counters.
    pub async fn registrations_per_day(&self, first_day: i64) -> CoreResult<Vec<(i64, i64)>> {
        on_pool!(self, c => sqlx::query_as::<_, (i64, i64)>(
            "SELECT day, CAST(SUM(n) AS BIGINT) FROM user_counts WHERE day >= $1
             GROUP BY day ORDER BY day")
            .bind(first_day).fetch_all(c).await.map_err(db_err))
    }

    /// Access tokens of one source issued per UTC day in `[from, to)` (ms).
    pub async fn access_tokens_per_day(
        &self,
        source: &str,
        from: i64,
        to: i64,
    ) -> CoreResult<Vec<(i64, i64)>> {
        on_pool!(self, c => sqlx::query_as::<_, (i64, i64)>(
            "SELECT issued_at / 86400000 AS day, COUNT(*) FROM access_tokens
             WHERE source = $1 AND issued_at >= $2 AND issued_at < $3
             GROUP BY issued_at / 86400000 ORDER BY day")
            .bind(source).bind(from).bind(to).fetch_all(c).await.map_err(db_err))
    }

    /// The newest `limit` entries with one of these actions.
    pub async fn latest_audit(&self, actions: &[&str], limit: i64) -> CoreResult<Vec<AuditRow>> {
        let actions: Vec<String> = actions.iter().map(|a| a.to_string()).collect();
        on_pool!(self, c => {
            let mut q = QueryBuilder::new(
                "SELECT id, at, actor, action, target, detail, client_addr FROM audit_log WHERE 1 = 1");
            push_in_list!(q, "action", &actions);
            q.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
            q.build_query_as::<AuditRow>().fetch_all(c).await.map_err(db_err)
        })
    }

    pub async fn audit_entries(&self, action: &str) -> CoreResult<Vec<AuditRow>> {
        on_pool!(self, c => sqlx::query_as::<_, AuditRow>(
            "SELECT id, at, actor, action, target, detail, client_addr FROM audit_log
             WHERE action = $1 ORDER BY id")
            .bind(action).fetch_all(c).await.map_err(db_err))
    }

    pub async fn count_users_in_batch(&self, batch_id: &str) -> CoreResult<i64> {
        on_pool!(self, c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users WHERE batch_id = $1")
            .bind(batch_id).fetch_one(c).await.map_err(db_err))
    }
}

/// The sort keys of the users page. Each matches an index of migration 0005 exactly
/// (`<key>, device_token, status`: covering for the default page), which also serves the
/// prefix search and `find`.
const CREATED_KEY: &str = "u.date_created";
const EMAIL_KEY: &str = "coalesce(u.email, '')";
const FIRST_NAME_KEY: &str = "coalesce(lower(u.first_name), '')";
const LAST_NAME_KEY: &str = "coalesce(lower(u.last_name), '')";

/// The ORDER BY of a sort. `unindexed`: the same order through an expression no index
/// matches (`+ 0`, `|| ''`), so the planner cannot pick the sort index.
fn sort_order(sort: UserSort, unindexed: bool) -> String {
    let (key, ascending) = sort_key(sort);
    let dir = if ascending { "ASC" } else { "DESC" };
    if !unindexed {
        return format!("{key} {dir}, u.device_token {dir}");
    }
    let opaque = if key == CREATED_KEY { " + 0" } else { " || ''" };
    format!("({key}){opaque} {dir}, u.device_token {dir}")
}

/// The key expression of a sort and whether it ascends.
fn sort_key(sort: UserSort) -> (&'static str, bool) {
    match sort {
        UserSort::DateCreated => (CREATED_KEY, true),
        UserSort::DateCreatedDesc => (CREATED_KEY, false),
        UserSort::Email => (EMAIL_KEY, true),
        UserSort::EmailDesc => (EMAIL_KEY, false),
        UserSort::FirstName => (FIRST_NAME_KEY, true),
        UserSort::FirstNameDesc => (FIRST_NAME_KEY, false),
        UserSort::LastName => (LAST_NAME_KEY, true),
        UserSort::LastNameDesc => (LAST_NAME_KEY, false),
    }
}

/// The value of a row's sort key, as the key expression computes it (ASCII lower case).
pub fn sort_value(sort: UserSort, row: &UserRow) -> SortValue {
    let text = |v: &Option<String>| SortValue::Text(v.clone().unwrap_or_default());
    let folded =
        |v: &Option<String>| SortValue::Text(v.as_deref().unwrap_or_default().to_ascii_lowercase());
    match sort {
        UserSort::DateCreated | UserSort::DateCreatedDesc => SortValue::Int(row.date_created),
        UserSort::Email | UserSort::EmailDesc => text(&row.email),
        UserSort::FirstName | UserSort::FirstNameDesc => folded(&row.first_name),
        UserSort::LastName | UserSort::LastNameDesc => folded(&row.last_name),
    }
}

/// The exclusive upper bound of the strings starting with `prefix`, in byte order (both
/// backends compare these columns bytewise).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// Appends ` AND <column> IN (<ids>)`, one bind per id (never called with no ids).
macro_rules! push_in_list {
    ($q:ident, $column:expr, $ids:expr) => {{
        $q.push(format!(" AND {} IN (", $column));
        let mut list = $q.separated(", ");
        for id in $ids {
            list.push_bind(id.clone());
        }
        $q.push(")");
    }};
}
use push_in_list;

/// Appends ` AND ...` for every filter of a `PageFilter` (users aliased `u`).
macro_rules! push_page_filter {
    ($q:ident, $f:expr) => {{
        let f: &PageFilter = $f;
        if let Some(ids) = &f.instances {
            push_in_list!($q, "u.instance_id", ids);
        }
        if !f.include_inactive {
            $q.push(" AND u.status = 'Active'");
        }
        if let Some(v) = f.from {
            $q.push(" AND u.date_created >= ").push_bind(v);
        }
        if let Some(v) = f.to {
            $q.push(" AND u.date_created < ").push_bind(v);
        }
        if let Some(v) = &f.country {
            $q.push(" AND lower(u.country) = ").push_bind(v.clone());
        }
        if let Some(v) = &f.city {
            $q.push(" AND lower(u.city) = ").push_bind(v.clone());
        }
        if let Some(v) = &f.status {
            $q.push(" AND u.status = ").push_bind(v.clone());
        }
        if let Some(v) = &f.batch {
            $q.push(" AND u.batch_id = ").push_bind(v.clone());
        }
        for (column, value) in f.flags.columns() {
            if let Some(v) = value {
                $q.push(format!(" AND {column} = ")).push_bind(v);
            }
        }
        // No `1 = 0 OR` opener: it keeps SQLite from answering the OR with its indexes.
        for word in &f.words {
            $q.push(" AND (");
            for (i, key) in [FIRST_NAME_KEY, LAST_NAME_KEY, EMAIL_KEY, "u.phone"]
                .into_iter()
                .enumerate()
            {
                $q.push(if i == 0 { "(" } else { " OR (" });
                $q.push(format!("{key} >= ")).push_bind(word.folded.clone());
                $q.push(format!(" AND {key} < "))
                    .push_bind(prefix_end(&word.folded))
                    .push(")");
            }
            $q.push(" OR u.client_id = ")
                .push_bind(word.as_sent.clone());
            $q.push(" OR u.device_token = ")
                .push_bind(word.folded.clone());
            $q.push(")");
        }
    }};
}
use push_page_filter;

/// Appends ` AND device_token IN (...)` for a selection (a filter as a subquery).
macro_rules! push_selection {
    ($q:ident, $selection:expr) => {{
        match $selection {
            Selection::Tokens(tokens) if tokens.is_empty() => {
                $q.push(" AND 1 = 0");
            }
            Selection::Tokens(tokens) => push_in_list!($q, "device_token", tokens),
            Selection::Filter(f) => {
                $q.push(" AND device_token IN (SELECT u.device_token FROM users u WHERE 1 = 1");
                push_page_filter!($q, f);
                $q.push(")");
            }
        }
    }};
}
use push_selection;

/// Which column a lookup within an instance uses.
#[derive(Debug, Clone, Copy)]
pub enum LoginColumn {
    Email,
    Phone,
    ClientId,
}

const INSTANCE_SELECT: &str =
    "SELECT i.id, i.app_id, i.instance_key, i.name, i.description, i.status,
        i.invite_code, i.created_at, a.name AS app_name, a.company_id
     FROM instances i JOIN applications a ON a.id = i.app_id";

const USER_SELECT: &str =
    "SELECT u.device_token, u.instance_id, u.first_name, u.last_name, u.nickname,
        u.phone, u.email, u.gender, u.birthday, u.marital_status, u.children_count, u.country,
        u.district, u.city, u.address, u.image_url, u.status, u.enable_tracking, u.enable_logging,
        u.enabled, u.enable_real_time_location, u.client_id, u.password_hash, u.batch_id,
        u.date_created, i.app_id, a.company_id, i.status AS instance_status,
        i.name AS instance_name, a.name AS app_name
     FROM users u JOIN instances i ON i.id = u.instance_id JOIN applications a ON a.id = i.app_id";

impl Tx {
    pub async fn commit(self) -> CoreResult<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await.map_err(db_err),
            Tx::Postgres(tx) => tx.commit().await.map_err(db_err),
        }
    }

    /// Inserts `name` unless it exists; true when this transaction inserted it. On
    /// PostgreSQL a concurrent claimer waits for this transaction and then sees the row, so
    /// exactly one replica wins (and if it rolls back, the next one does).
    pub async fn claim_setting(&mut self, name: &str, value: &str) -> CoreResult<bool> {
        on_tx!(self, c => sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name).bind(value).execute(&mut *c).await
            .map(|r| r.rows_affected() == 1).map_err(db_err))
    }

    /// Stores `value` unless the setting exists, then returns what is stored: replicas that
    /// race on first start all end up with the first writer's value.
    pub async fn setting_or_insert(&mut self, name: &str, value: &str) -> CoreResult<String> {
        on_tx!(self, c => {
            sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name).bind(value).execute(&mut *c).await.map_err(db_err)?;
            sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE name = $1")
                .bind(name).fetch_one(&mut *c).await.map_err(db_err)
        })
    }

    pub async fn insert_application(&mut self, app: &ApplicationRow) -> CoreResult<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO applications (id, company_id, name, description, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&app.id).bind(&app.company_id).bind(&app.name).bind(&app.description)
            .bind(&app.status).bind(app.created_at)
            .execute(&mut *c).await.map(|_| ()).map_err(db_err))
    }

    pub async fn insert_instance(&mut self, i: &NewInstanceRow) -> CoreResult<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO instances (id, app_id, instance_key, name, description, status, invite_code, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&i.id).bind(&i.app_id).bind(&i.instance_key).bind(&i.name).bind(&i.description)
            .bind(&i.status).bind(&i.invite_code).bind(i.created_at)
            .execute(&mut *c).await.map(|_| ()).map_err(db_err))
    }

    pub async fn insert_admin(&mut self, a: &AdminRow) -> CoreResult<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO admins (id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&a.id).bind(&a.email).bind(&a.password_hash).bind(&a.role).bind(a.created_at)
            .execute(&mut *c).await.map(|_| ()).map_err(db_err))
    }

    pub async fn insert_users(&mut self, users: &[NewUserRow]) -> CoreResult<()> {
        for chunk in users.chunks(INSERT_CHUNK) {
            on_tx!(self, c => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO users (device_token, instance_id, first_name, last_name, nickname, phone,
                     email, gender, birthday, marital_status, children_count, country, district, city,
                     address, image_url, status, enable_tracking, enable_logging, enabled,
                     enable_real_time_location, client_id, password_hash, batch_id, date_created) ");
                q.push_values(chunk, |mut b, u| {
                    b.push_bind(&u.device_token).push_bind(&u.instance_id).push_bind(&u.first_name)
                        .push_bind(&u.last_name).push_bind(&u.nickname).push_bind(&u.phone)
                        .push_bind(&u.email).push_bind(&u.gender).push_bind(u.birthday)
                        .push_bind(&u.marital_status).push_bind(u.children_count).push_bind(&u.country)
                        .push_bind(&u.district).push_bind(&u.city).push_bind(&u.address)
                        .push_bind(&u.image_url).push_bind(&u.status).push_bind(u.enable_tracking)
                        .push_bind(u.enable_logging).push_bind(u.enabled)
                        .push_bind(u.enable_real_time_location).push_bind(&u.client_id)
                        .push_bind(&u.password_hash).push_bind(&u.batch_id).push_bind(u.date_created);
                });
                q.build().execute(&mut *c).await.map_err(db_err)?;
            });
        }
        Ok(())
    }

    pub async fn insert_families(&mut self, families: &[NewFamilyRow]) -> CoreResult<()> {
        for chunk in families.chunks(INSERT_CHUNK) {
            on_tx!(self, c => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO token_families (id, subject, subject_kind, origin, created_at) ");
                q.push_values(chunk, |mut b, f| {
                    b.push_bind(&f.id).push_bind(&f.subject).push_bind(&f.subject_kind)
                        .push_bind(&f.origin).push_bind(f.created_at);
                });
                q.build().execute(&mut *c).await.map_err(db_err)?;
            });
        }
        Ok(())
    }

    pub async fn insert_refresh_tokens(&mut self, tokens: &[NewRefreshRow]) -> CoreResult<()> {
        for chunk in tokens.chunks(INSERT_CHUNK) {
            on_tx!(self, c => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO refresh_tokens (id, family_id, subject, token_hash, parent_id, issued_at, expires_at) ");
                q.push_values(chunk, |mut b, t| {
                    b.push_bind(&t.id).push_bind(&t.family_id).push_bind(&t.subject)
                        .push_bind(&t.token_hash).push_bind(&t.parent_id).push_bind(t.issued_at)
                        .push_bind(t.expires_at);
                });
                q.build().execute(&mut *c).await.map_err(db_err)?;
            });
        }
        Ok(())
    }

    pub async fn insert_access_tokens(&mut self, tokens: &[NewAccessRow]) -> CoreResult<()> {
        for chunk in tokens.chunks(INSERT_CHUNK) {
            on_tx!(self, c => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO access_tokens (jti, subject, family_id, source, issued_at, expires_at) ");
                q.push_values(chunk, |mut b, t| {
                    b.push_bind(&t.jti).push_bind(&t.subject).push_bind(&t.family_id)
                        .push_bind(&t.source).push_bind(t.issued_at).push_bind(t.expires_at);
                });
                q.build().execute(&mut *c).await.map_err(db_err)?;
            });
        }
        Ok(())
    }

    /// The refresh token with this hash and its family's revocation, read inside the
    /// transaction that will rotate it.
    pub async fn find_refresh(&mut self, token_hash: &str) -> CoreResult<Option<RefreshRow>> {
        const SELECT: &str =
            "SELECT r.id, r.family_id, r.subject, r.state, r.issued_at, r.expires_at,
                    r.used_at, r.reason, f.revoked_at AS family_revoked_at
             FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id
             WHERE r.token_hash = $1";
        // PostgreSQL: lock both rows until commit; a concurrent refresh of the same token
        // waits here and then reads the state this one leaves. SQLite has no FOR UPDATE and
        // needs none: its transactions run one at a time on the writer connection.
        let sql = match self {
            Tx::Sqlite(_) => SELECT.to_string(),
            Tx::Postgres(_) => format!("{SELECT} FOR UPDATE"),
        };
        on_tx!(self, c => sqlx::query_as::<_, RefreshRow>(&sql)
            .bind(token_hash).fetch_optional(&mut *c).await.map_err(db_err))
    }

    /// Marks an active token used. False when it was not active any more: somebody else
    /// rotated it first, and this presentation counts as reuse.
    pub async fn mark_refresh_used(&mut self, id: &str, now: i64) -> CoreResult<bool> {
        on_tx!(self, c => sqlx::query(
            "UPDATE refresh_tokens SET state = 'used', used_at = $2, reason = 'rotated'
             WHERE id = $1 AND state = 'active'")
            .bind(id).bind(now).execute(&mut *c).await
            .map(|r| r.rows_affected() == 1).map_err(db_err))
    }

    /// A grace-window retry of `parent`: its active successors are revoked (the retry's
    /// new token replaces them). False, and nothing changed, when a successor was already
    /// used: the family has moved on, and the retry is reuse.
    pub async fn supersede_successors(&mut self, parent: &str) -> CoreResult<bool> {
        on_tx!(self, c => {
            let used = sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM refresh_tokens WHERE parent_id = $1 AND state = 'used'")
                .bind(parent).fetch_one(&mut *c).await.map_err(db_err)?;
            if used > 0 {
                return Ok(false);
            }
            sqlx::query("UPDATE refresh_tokens SET state = 'revoked', reason = $2
                         WHERE parent_id = $1 AND state = 'active'")
                .bind(parent).bind(crate::auth::SUPERSEDED).execute(&mut *c).await.map_err(db_err)?;
            Ok(true)
        })
    }

    /// Revokes a family and every token in it that is still active.
    pub async fn revoke_family(
        &mut self,
        family_id: &str,
        now: i64,
        reason: &str,
    ) -> CoreResult<()> {
        on_tx!(self, c => {
            sqlx::query("UPDATE token_families SET revoked_at = $2, revoke_reason = $3
                         WHERE id = $1 AND revoked_at IS NULL")
                .bind(family_id).bind(now).bind(reason).execute(&mut *c).await.map_err(db_err)?;
            sqlx::query("UPDATE refresh_tokens SET state = 'revoked', reason = $2
                         WHERE family_id = $1 AND state = 'active'")
                .bind(family_id).bind(reason).execute(&mut *c).await.map(|_| ()).map_err(db_err)
        })
    }

    /// Revokes every family of `subject` not yet revoked; returns how many it revoked.
    pub async fn revoke_families_of(
        &mut self,
        subject: &str,
        now: i64,
        reason: &str,
    ) -> CoreResult<u64> {
        on_tx!(self, c => {
            sqlx::query("UPDATE refresh_tokens SET state = 'revoked', reason = $2
                         WHERE subject = $1 AND state = 'active'")
                .bind(subject).bind(reason).execute(&mut *c).await.map_err(db_err)?;
            sqlx::query("UPDATE token_families SET revoked_at = $2, revoke_reason = $3
                         WHERE subject = $1 AND revoked_at IS NULL")
                .bind(subject).bind(now).bind(reason).execute(&mut *c).await
                .map(|r| r.rows_affected()).map_err(db_err)
        })
    }

    /// How many users a selection holds, as this transaction sees them.
    pub async fn count_selection(&mut self, selection: &Selection) -> CoreResult<i64> {
        on_tx!(self, c => {
            let mut q = QueryBuilder::new("SELECT COUNT(*) FROM users WHERE 1 = 1");
            push_selection!(q, selection);
            q.build_query_scalar::<i64>().fetch_one(&mut *c).await.map_err(db_err)
        })
    }

    /// Sets one column of every selected user in one statement; returns how many rows.
    pub async fn bulk_set(
        &mut self,
        selection: &Selection,
        column: &'static str,
        value: &Value,
    ) -> CoreResult<u64> {
        on_tx!(self, c => {
            let mut q = QueryBuilder::new(format!("UPDATE users SET {column} = "));
            match value {
                Value::Text(v) => q.push_bind(v.clone()),
                Value::Int(v) => q.push_bind(*v),
                Value::Bool(v) => q.push_bind(*v),
            };
            q.push(format!(" WHERE {column} IS DISTINCT FROM "));
            match value {
                Value::Text(v) => q.push_bind(v.clone()),
                Value::Int(v) => q.push_bind(*v),
                Value::Bool(v) => q.push_bind(*v),
            };
            push_selection!(q, selection);
            q.build().execute(&mut *c).await.map(|r| r.rows_affected()).map_err(db_err)
        })
    }

    /// Sets the given columns of one user; false when there is no such user.
    pub async fn update_user(
        &mut self,
        device_token: &str,
        changes: &[(&'static str, Value)],
    ) -> CoreResult<bool> {
        if changes.is_empty() {
            return Ok(true);
        }
        on_tx!(self, c => {
            let mut q = QueryBuilder::new("UPDATE users SET ");
            let mut set = q.separated(", ");
            for (column, value) in changes {
                set.push(format!("{column} = "));
                match value {
                    Value::Text(v) => set.push_bind_unseparated(v.clone()),
                    Value::Int(v) => set.push_bind_unseparated(*v),
                    Value::Bool(v) => set.push_bind_unseparated(*v),
                };
            }
            q.push(" WHERE device_token = ").push_bind(device_token);
            q.build().execute(&mut *c).await.map(|r| r.rows_affected() == 1).map_err(db_err)
        })
    }

    /// Sets the given columns of one instance; false when there is no such instance.
    pub async fn update_instance(
        &mut self,
        id: &str,
        changes: &[(&'static str, String)],
    ) -> CoreResult<bool> {
        if changes.is_empty() {
            return Ok(true);
        }
        on_tx!(self, c => {
            let mut q = QueryBuilder::new("UPDATE instances SET ");
            let mut set = q.separated(", ");
            for (column, value) in changes {
                set.push(format!("{column} = "));
                set.push_bind_unseparated(value.clone());
            }
            q.push(" WHERE id = ").push_bind(id);
            q.build().execute(&mut *c).await.map(|r| r.rows_affected() == 1).map_err(db_err)
        })
    }

    /// Deletes an instance that has no users. `Ok(None)`: no such instance;
    /// `Ok(Some(n))` with n > 0: it has n users and was kept.
    pub async fn delete_empty_instance(&mut self, id: &str) -> CoreResult<Option<i64>> {
        on_tx!(self, c => {
            let users = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users WHERE instance_id = $1")
                .bind(id).fetch_one(&mut *c).await.map_err(db_err)?;
            if users > 0 {
                return Ok(Some(users));
            }
            sqlx::query("DELETE FROM batch_credentials WHERE batch_id IN (SELECT id FROM batches WHERE instance_id = $1)")
                .bind(id).execute(&mut *c).await.map_err(db_err)?;
            sqlx::query("DELETE FROM batches WHERE instance_id = $1").bind(id).execute(&mut *c).await.map_err(db_err)?;
            let deleted = sqlx::query("DELETE FROM instances WHERE id = $1")
                .bind(id).execute(&mut *c).await.map_err(db_err)?;
            Ok((deleted.rows_affected() == 1).then_some(0))
        })
    }

    /// Removes a user and every token issued to it; false when there is no such user.
    pub async fn delete_user(&mut self, device_token: &str) -> CoreResult<bool> {
        let one = Selection::Tokens(vec![device_token.to_string()]);
        Ok(self.delete_selection(&one).await? == 1)
    }

    pub async fn audit(&mut self, entry: &NewAuditRow) -> CoreResult<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, detail, client_addr)
             VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(entry.at).bind(&entry.actor).bind(&entry.action).bind(&entry.target)
            .bind(&entry.detail).bind(&entry.client_addr)
            .execute(&mut *c).await.map(|_| ()).map_err(db_err))
    }
}

// After the macros: the batch and throttle statements use them.
mod batches;
mod throttles;
pub use batches::*;
pub use throttles::*;

#[cfg(test)]
mod tests {
    use crate::testing::test_core;

    /// PostgreSQL only (SQLite has no JIT): every pooled connection runs without it.
    #[tokio::test]
    async fn postgres_connections_run_without_jit() {
        let t = test_core(|_| {}).await;
        if let super::Store::Postgres(pool) = t.core.store() {
            for _ in 0..3 {
                let jit: String = sqlx::query_scalar("SHOW jit")
                    .fetch_one(pool)
                    .await
                    .unwrap();
                assert_eq!(jit, "off");
            }
        }
    }
}
