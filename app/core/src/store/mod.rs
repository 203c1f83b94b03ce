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
//!
//! This file holds the connection, the backend dispatch (`on_pool!`, `on_tx!`, written like
//! closures so rustfmt formats their bodies), the error mapping and the SQL fragments the
//! table groups share; the statements live by table group: `settings`, `accounts`
//! (applications, instances, admins), `users`, `tokens`, `counts`, `audit`, `batches`,
//! `throttles`.

mod checkpoint;
mod fused;
mod group;
mod groups;
mod pool;
mod rows;
pub mod scratch;
mod script;

pub use rows::*;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Postgres, Sqlite};

use pool::Pool;

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

/// `Store::migration_status`.
#[derive(Debug, Clone, Default)]
pub struct MigrationStatus {
    /// This binary's migrations not applied yet (`0026 sharded counters`).
    pub pending: Vec<String>,
    /// Versions applied that this binary does not know.
    pub unknown: Vec<i64>,
}

/// One connection pool's use (`Store::pool_usage`).
#[derive(Debug, Clone)]
pub struct PoolUsage {
    /// `read` and `write` on SQLite, `main` on PostgreSQL.
    pub pool: &'static str,
    pub open: u32,
    pub idle: usize,
    pub max: u32,
    /// Tasks waiting for a connection now.
    pub waiting: usize,
    /// The time every task has waited for a connection, added up since the pool opened.
    pub waited: Duration,
}

#[derive(Clone)]
pub enum Store {
    Sqlite {
        read: Pool<Sqlite>,
        write: Pool<Sqlite>,
        /// Commits `begin_writes` transactions in groups (see `group`).
        group: std::sync::Arc<group::GroupCommit>,
        /// Runs refreshes' reads in groups (see `tokens::LineageReads`).
        lineages: std::sync::Arc<tokens::LineageReads>,
    },
    /// The pool, and the refreshes' reads in groups (see `tokens::LineageReads`).
    Postgres(Pool<Postgres>, std::sync::Arc<tokens::LineageReads>),
}

/// An open transaction, and its span (`db.transaction`): it starts at `begin` and ends when
/// the transaction is committed or dropped (rolled back), a child of the span current at
/// `begin` (the request's). Its `db.outcome` says `commit` or `error`; a transaction dropped
/// without a commit has none.
pub struct Tx {
    conn: TxConn,
    span: tracing::Span,
}

pub(crate) enum TxConn {
    Sqlite(SqliteTx),
    Postgres(fused::PgTx),
}

/// A transaction on the SQLite writer. Each statement sent to sqlx's SQLite connection is a
/// round trip to its worker thread while every other writer waits; writes whose result
/// nobody reads (`defer_on_tx!`) are therefore held here and sent in one call, as one
/// multi-statement query, before the transaction's next statement or at its commit. They
/// run in the order they were written, inside the same transaction; an error in one of
/// them fails that call, and the caller's `?` rolls the transaction back (no savepoint
/// around them: one left open would not undo anything the caller then committed, and each
/// would copy the pages it changes once more).
///
/// A transaction begun with `Store::begin_writes` takes the writer only when it first
/// needs it; if it never does (it only wrote), its writes are committed in a group with
/// the others waiting at that moment (`group`).
pub struct SqliteTx {
    write: Pool<Sqlite>,
    tx: Option<sqlx::Transaction<'static, sqlx::Sqlite>>,
    pending: Option<script::Script>,
    group: Option<std::sync::Arc<group::GroupCommit>>,
}

impl SqliteTx {
    /// The connection, once every pending write has run.
    async fn conn(&mut self) -> CoreResult<&mut sqlx::SqliteConnection> {
        let tx = match &mut self.tx {
            Some(tx) => tx,
            empty => empty.insert(self.write.begin().await?),
        };
        if let Some(pending) = self.pending.take() {
            pending.execute(tx).await.map_err(db_err)?;
        }
        Ok(&mut **tx)
    }

    /// Whether the pending writes are past a few rows' worth (a multi-row chunk of a batch):
    /// they go at once then, as they did before deferring, so that a big transaction never
    /// holds all its rows twice, and sqlx's per-connection statement cache keeps statements
    /// of a few shapes rather than one per batch size.
    fn holds_much(&self) -> bool {
        const DEFER_SQL_BYTES: usize = 16 * 1024;
        self.pending
            .as_ref()
            .is_some_and(|p| p.sql().len() > DEFER_SQL_BYTES)
    }

    /// The builder to write the next deferred statement into.
    fn next_statement(&mut self) -> &mut script::Script {
        match &mut self.pending {
            Some(pending) => {
                pending.push("; ");
                pending
            }
            empty => empty.insert(script::Script::default()),
        }
    }

    async fn commit(mut self) -> CoreResult<()> {
        match (self.tx.is_some(), self.pending.take(), &self.group) {
            (false, None, _) => Ok(()),
            (false, Some(pending), Some(group)) => group.commit(&self.write, pending).await,
            (_, pending, _) => {
                self.pending = pending;
                self.conn().await?;
                match self.tx.take() {
                    Some(tx) => tx.commit().await.map_err(db_err),
                    None => Err(CoreError::internal("the SQLite transaction never began")),
                }
            }
        }
    }
}

/// Runs `$body` with `$c` bound to a connection of the backend's reader pool (taken as
/// `Pool::acquire` takes it, so its wait is counted). Written like a closure
/// (`on_pool!(self, |c| ...)`) so that rustfmt formats the body. `on_pool!(writer self, …)`
/// takes SQLite's writer instead, outside the store's transactions (tests that set a
/// database up as an older binary left it).
macro_rules! on_pool {
    ($store:expr, |$c:ident| $body:expr) => {
        on_pool!(@sqlite read, $store, |$c| $body)
    };
    (writer $store:expr, |$c:ident| $body:expr) => {
        on_pool!(@sqlite write, $store, |$c| $body)
    };
    (@sqlite $sqlite:ident, $store:expr, |$c:ident| $body:expr) => {
        match $store {
            Store::Sqlite { $sqlite, .. } => {
                let mut conn = $sqlite.acquire().await?;
                let $c = &mut *conn;
                $body
            }
            Store::Postgres(pool, _) => {
                let mut conn = pool.acquire().await?;
                let $c = &mut *conn;
                $body
            }
        }
    };
}

/// Runs `$body` with `$c` bound to the open transaction's connection (`&mut *$c` to execute).
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match &mut $tx.conn {
            $crate::store::TxConn::Sqlite(tx) => {
                let $c = tx.conn().await?;
                $body
            }
            $crate::store::TxConn::Postgres(tx) => {
                let $c = tx.conn().await?;
                $body
            }
        }
    };
}

/// The assignment that moves an instance's revision on (migration 0028): every UPDATE of
/// `instances` that changes what a registration reads from it carries it. A macro so that
/// statements can take it with `concat!`.
macro_rules! next_revision {
    () => {
        "revision = revision + 1"
    };
}

/// Writes the statement `$body` builds into `$q` (a `QueryBuilder`, on SQLite a
/// `script::Script` written the same way; it starts empty, and binds must own their
/// values) when nobody reads its result. It changes the table `$writes`,
/// and, after `reads`, reads or changes existing rows of those tables. On SQLite it joins
/// the transaction's pending writes (see `SqliteTx`); on PostgreSQL a write-only
/// transaction holds it for its one statement (see `fused`), any other runs it now.
macro_rules! defer_on_tx {
    ($tx:expr, $writes:literal, |$q:ident| $body:expr) => {
        defer_on_tx!($tx, $writes, reads [], |$q| $body)
    };
    ($tx:expr, $writes:literal, reads [$($reads:literal),*], |$q:ident| $body:expr) => {
        match &mut $tx.conn {
            $crate::store::TxConn::Sqlite(tx) => {
                let $q = tx.next_statement();
                $body;
                if tx.holds_much() {
                    tx.conn().await?;
                }
            }
            $crate::store::TxConn::Postgres(tx) => {
                tx.statement($writes, &[$($reads),*], |$q| {
                    $body;
                })
                .await?;
            }
        }
    };
}

/// Maps a database error: a unique violation on a named constraint becomes the field-level
/// conflict the client can act on; anything else is internal.
fn db_err(err: sqlx::Error) -> CoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.message() == EXPECTED_ONE_CHANGE {
            return tokens::refresh_claim_lost();
        }
        if db.message() == accounts::INSTANCE_CHANGED {
            return crate::instances::instance_changed();
        }
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

/// The message of migration 0025's `expect_one_change` (SQLite).
const EXPECTED_ONE_CHANGE: &str = "expected one changed row";

/// SQLite reports the columns of a violated unique index, not its name: map them back.
fn sqlite_constraint_name(message: &str) -> Option<String> {
    let columns = message.strip_prefix("UNIQUE constraint failed: ")?;
    let name = match columns {
        "users.device_token" => "users_pkey",
        "users.instance_id, users.email" => "users_instance_email_key",
        "users.instance_id, users.phone" => "users_instance_phone_key",
        "instances.invite_code" => "instances_invite_code_key",
        "instances.id" => "instances_pkey",
        "applications.id" => "applications_pkey",
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
        "instances_pkey" => ("Id", "an instance with this id exists"),
        "applications_pkey" => ("Id", "an application with this id exists"),
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
/// for the widest table (users, 25 columns). A CreateMany plans its users in chunks of
/// this size too, so each chunk is one statement per table.
pub(crate) const INSERT_CHUNK: usize = 1000;

impl Store {
    /// The file of a `sqlite:` URL (None for other URLs or one that does not parse).
    pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
        url.starts_with("sqlite:")
            .then(|| SqliteConnectOptions::from_str(url).ok())
            .flatten()
            .map(|o| o.get_filename().to_path_buf())
    }

    /// Opens the database named by `url`: `sqlite:` or `postgres:`/`postgresql:`.
    pub async fn connect(url: &str, pool: &PoolSettings) -> CoreResult<Store> {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            // No JIT: our statements are short, and a plan whose estimate passes
            // jit_above_cost (an unanalysed table is enough) spent 110 ms compiling a 2 ms
            // query (the instances page's counts at 10^6 users).
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| CoreError::internal(format!("invalid PostgreSQL URL: {e}")))?
                .options([("jit", "off")]);
            let pool = pool::pool_options::<Postgres>()
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::query(counts::CLAIM_COUNTER_SHARD)
                            .execute(conn)
                            .await
                            .map(|_| ())
                    })
                })
                .max_connections(pool.max_connections.max(1))
                .min_connections(pool.min_connections)
                .acquire_timeout(pool.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(|e| CoreError::internal(format!("cannot connect to PostgreSQL: {e}")))?;
            Ok(Store::Postgres(Pool::new(pool), Default::default()))
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
            // The one writer's page cache: SQLite's default (2 MiB) is smaller than a
            // CreateMany's dirty pages, which then spilled into the WAL before commit and were
            // read back (half of a 10,000-user CreateMany's time was pwrite and pread in the
            // profile). The cache fills only as transactions touch pages. Checkpoints are
            // left to a task of their own (see `checkpoint`).
            let write = pool::pool_options::<Sqlite>()
                .max_connections(1)
                .acquire_timeout(pool.acquire_timeout)
                .connect_with(
                    options
                        .clone()
                        .pragma("cache_size", "-16384")
                        .pragma("cache_spill", "32768")
                        .pragma("temp_store", "memory")
                        .pragma(
                            checkpoint::WRITER_AUTOCHECKPOINT.0,
                            checkpoint::WRITER_AUTOCHECKPOINT.1,
                        ),
                )
                .await
                .map_err(|e| {
                    CoreError::internal(format!("cannot open the SQLite database: {e}"))
                })?;
            let checkpoints = pool::pool_options::<Sqlite>()
                .max_connections(1)
                .acquire_timeout(pool.acquire_timeout)
                .connect_lazy_with(options.clone());
            let read = pool::pool_options::<Sqlite>()
                .max_connections(pool.max_connections.max(1))
                .acquire_timeout(pool.acquire_timeout)
                .connect_with(options.read_only(true))
                .await
                .map_err(|e| {
                    CoreError::internal(format!("cannot open the SQLite database: {e}"))
                })?;
            let group = std::sync::Arc::<group::GroupCommit>::default();
            let write = Pool::new(write);
            checkpoint::spawn(
                checkpoints,
                write.clone(),
                std::sync::Arc::downgrade(&group),
            );
            Ok(Store::Sqlite {
                read: Pool::new(read),
                write,
                group,
                lineages: Default::default(),
            })
        } else {
            Err(CoreError::internal(
                "unsupported database URL: use sqlite://PATH or postgres://USER:PASSWORD@HOST/DB",
            ))
        }
    }

    pub async fn migrate(&self) -> CoreResult<()> {
        match self {
            Store::Sqlite { write, .. } => sqlx::migrate!("./migrations/sqlite")
                .run(&mut write.acquire().await?)
                .await
                .map_err(|e| CoreError::internal(format!("migration failed: {e}"))),
            // sqlx takes an advisory lock, so replicas starting together migrate once.
            Store::Postgres(pool, _) => sqlx::migrate!("./migrations/postgres")
                .run(&mut pool.acquire().await?)
                .await
                .map_err(|e| CoreError::internal(format!("migration failed: {e}"))),
        }
    }

    /// Which migrations of this binary the database lacks, and which applied ones this binary
    /// does not know (a newer version migrated it). Reads only: nothing is applied.
    pub async fn migration_status(&self) -> CoreResult<MigrationStatus> {
        let (known, table_exists) = match self {
            Store::Sqlite { read, .. } => (
                sqlx::migrate!("./migrations/sqlite"),
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_one(&mut *read.acquire().await?)
                .await
                .map_err(db_err)?,
            ),
            Store::Postgres(pool, _) => (
                sqlx::migrate!("./migrations/postgres"),
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM information_schema.tables
                      WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
                )
                .fetch_one(&mut *pool.acquire().await?)
                .await
                .map_err(db_err)?,
            ),
        };
        let applied: Vec<i64> = if table_exists > 0 {
            on_pool!(self, |c| sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version"
            )
            .fetch_all(c)
            .await
            .map_err(db_err))?
        } else {
            Vec::new()
        };
        let known: Vec<(i64, String)> = known
            .iter()
            .map(|m| (m.version, m.description.to_string()))
            .collect();
        Ok(MigrationStatus {
            pending: known
                .iter()
                .filter(|(v, _)| !applied.contains(v))
                .map(|(v, d)| format!("{v:04} {d}"))
                .collect(),
            unknown: applied
                .into_iter()
                .filter(|v| !known.iter().any(|(k, _)| k == v))
                .collect(),
        })
    }

    /// The connection pools of this process: open, idle and most connections of each, and
    /// the tasks waiting for one.
    pub fn pool_usage(&self) -> Vec<PoolUsage> {
        match self {
            Store::Sqlite { read, write, .. } => vec![read.usage("read"), write.usage("write")],
            Store::Postgres(pool, _) => vec![pool.usage("main")],
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite { .. } => "sqlite",
            Store::Postgres(..) => "postgres",
        }
    }

    pub async fn begin(&self) -> CoreResult<Tx> {
        let span = self.transaction_span();
        let conn = match self {
            Store::Sqlite { write, .. } => write.begin().await.map(|tx| {
                TxConn::Sqlite(SqliteTx {
                    write: write.clone(),
                    tx: Some(tx),
                    pending: None,
                    group: None,
                })
            }),
            Store::Postgres(pool, _) => pool
                .begin()
                .await
                .map(|tx| TxConn::Postgres(fused::PgTx::begun(pool.clone(), tx))),
        };
        conn.map(|conn| Tx { conn, span })
    }

    /// A transaction's span (see `Tx`), begun now; none for work outside any span (the
    /// background workers' polls, which would otherwise be a trace of their own each time).
    fn transaction_span(&self) -> tracing::Span {
        if tracing::Span::current().is_none() {
            return tracing::Span::none();
        }
        tracing::info_span!(
            "db.transaction",
            otel.kind = "client",
            db.system.name = match self {
                Store::Sqlite { .. } => "sqlite",
                Store::Postgres(..) => "postgresql",
            },
            db.outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        )
    }

    /// A transaction for writes that read nothing back (inserts of new rows): the same
    /// atomicity and durability as `begin`, but it takes a connection only if it reads: on
    /// SQLite it otherwise commits its writes together with others' (`group`), on
    /// PostgreSQL as one statement (`fused`). So a write decided on a row read outside the
    /// transaction, and confirmed in it, is worth trying first.
    pub async fn begin_writes(&self) -> CoreResult<Tx> {
        match self {
            Store::Sqlite { write, group, .. } => Ok(Tx {
                conn: TxConn::Sqlite(SqliteTx {
                    write: write.clone(),
                    tx: None,
                    pending: None,
                    group: Some(group.clone()),
                }),
                span: self.transaction_span(),
            }),
            Store::Postgres(pool, _) => Ok(Tx {
                conn: TxConn::Postgres(fused::PgTx::writes(pool.clone())),
                span: self.transaction_span(),
            }),
        }
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite { read, write, .. } => {
                read.close().await;
                write.close().await;
            }
            Store::Postgres(pool, _) => pool.close().await,
        }
    }

    pub async fn ping(&self) -> CoreResult<()> {
        on_pool!(self, |c| sqlx::query("SELECT 1")
            .execute(c)
            .await
            .map(|_| ())
            .map_err(db_err))
    }
}

/// The sort keys of the users page. Each matches an index exactly (`<key>, seq, status,
/// instance_id`: covering for the default page; ties broken by creation order, so a new
/// user's entries append), which also serves the prefix search and `find`.
const CREATED_KEY: &str = "u.date_created";
const EMAIL_KEY: &str = "coalesce(u.email, '')";
const FIRST_NAME_KEY: &str = "coalesce(lower(u.first_name), '')";
const LAST_NAME_KEY: &str = "coalesce(lower(u.last_name), '')";
/// Last login or refresh; 0 for never (migration 0021's index).
pub(crate) const ACTIVITY_KEY: &str = "coalesce(u.last_activity_at, 0)";
/// A user's instance as an expression no index holds: an instance list compared with it only
/// narrows the rows another index found. SQLite has no statistics and, given `u.instance_id IN
/// (...)`, walks the `(instance_id, date_created)` index through every user of the instances
/// even where another condition finds a handful of rows.
pub(crate) const INSTANCE_AS_FILTER: &str = "(u.instance_id || '')";
/// The active window of a user's instance, in ms.
pub(crate) const WINDOW_MS: &str =
    "(SELECT w.active_window_days FROM instances w WHERE w.id = u.instance_id) * 86400000";

/// The ORDER BY of a sort. `unindexed`: the same order through an expression no index
/// matches (`+ 0`, `|| ''`), so the planner cannot pick the sort index.
fn sort_order(sort: UserSort, unindexed: bool) -> String {
    let (key, ascending) = sort_key(sort);
    let dir = if ascending { "ASC" } else { "DESC" };
    if !unindexed {
        return format!("{key} {dir}, u.seq {dir}");
    }
    let opaque = if key == CREATED_KEY || key == ACTIVITY_KEY {
        " + 0"
    } else {
        " || ''"
    };
    format!("({key}){opaque} {dir}, u.seq {dir}")
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
        UserSort::LastActivity => (ACTIVITY_KEY, true),
        UserSort::LastActivityDesc => (ACTIVITY_KEY, false),
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
        UserSort::LastActivity | UserSort::LastActivityDesc => {
            SortValue::Int(row.last_activity_at.unwrap_or(0))
        }
    }
}

/// The exclusive upper bound of the strings starting with `prefix`, in byte order (both
/// backends compare these columns bytewise).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// Appends ` AND <column> IN (<ids>)`, one bind per id; no ids match nothing.
macro_rules! push_in_list {
    ($q:ident, $column:expr, $ids:expr) => {{
        if $ids.is_empty() {
            $q.push(" AND 1 = 0");
        } else {
            $q.push(format!(" AND {} IN (", $column));
            let mut list = $q.separated(", ");
            for id in $ids {
                list.push_bind(id.clone());
            }
            $q.push(")");
        }
    }};
}

/// Appends ` AND ...` for every filter of a `PageFilter` (users aliased `u`).
/// `$instance_index`: the query may read the `(instance_id, date_created)` index for an
/// instance list (a list by date, a count); see below for when it does.
macro_rules! push_page_filter {
    ($q:ident, $f:expr) => {
        push_page_filter!($q, $f, true)
    };
    ($q:ident, $f:expr, $instance_index:expr) => {{
        let f: &PageFilter = $f;
        if let Some(ids) = &f.instances {
            // SQLite has no statistics: given an instance list (a scoped admin always has
            // one) it walks the `(instance_id, date_created)` index even when a search, a
            // status, a flag or another sort would find the page through its own index in a
            // fraction of the rows (1.3 s instead of 1 ms for one e-mail among 10^6 users).
            // Then the list only narrows the rows (`INSTANCE_AS_FILTER`).
            let alone = f.words.is_empty()
                && f.status.is_none()
                && f.flags.given().into_iter().next().is_none()
                && f.country.is_none()
                && f.city.is_none()
                && f.batch.is_none()
                && !f.by_activity_or_device();
            let column = if $instance_index && alone {
                "u.instance_id"
            } else {
                $crate::store::INSTANCE_AS_FILTER
            };
            push_in_list!($q, column, ids);
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
        for (flag, v) in f.flags.given() {
            $q.push(format!(" AND u.{} = ", $crate::store::flag_columns(flag).0))
                .push_bind(v);
        }
        if let Some(statuses) = &f.activity {
            if statuses.is_empty() {
                $q.push(" AND 1 = 0");
            } else {
                $q.push(" AND (");
                for (i, s) in statuses.iter().enumerate() {
                    $q.push(if i == 0 { "(" } else { " OR (" });
                    match s {
                        $crate::types::ActivityStatus::Deactivated => {
                            $q.push("u.status <> 'Active'");
                        }
                        $crate::types::ActivityStatus::NoData => {
                            $q.push("u.status = 'Active' AND u.last_activity_at IS NULL");
                        }
                        $crate::types::ActivityStatus::Active => {
                            $q.push(format!(
                                "u.status = 'Active' AND {} >= ",
                                $crate::store::ACTIVITY_KEY
                            ))
                            .push_bind(f.now)
                            .push(format!(" - {}", $crate::store::WINDOW_MS));
                        }
                        $crate::types::ActivityStatus::Lost => {
                            $q.push(format!(
                                "u.status = 'Active' AND {k} > 0 AND {k} < ",
                                k = $crate::store::ACTIVITY_KEY
                            ))
                            .push_bind(f.now)
                            .push(format!(" - {}", $crate::store::WINDOW_MS));
                        }
                    }
                    $q.push(")");
                }
                $q.push(")");
            }
        }
        if let Some(v) = &f.os {
            $q.push(" AND lower(u.os_type) = ").push_bind(v.clone());
        }
        if let Some(v) = f.inactive_before {
            $q.push(" AND coalesce(u.last_activity_at, u.date_created) < ")
                .push_bind(v);
        }
        if let Some(v) = &f.sdk_prefix {
            $q.push(" AND u.sdk_version >= ").push_bind(v.clone());
            $q.push(" AND u.sdk_version < ").push_bind(prefix_end(v));
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

/// Which column a lookup within an instance uses.
#[derive(Debug, Clone, Copy)]
pub enum LoginColumn {
    Email,
    Phone,
    ClientId,
}

const INSTANCE_SELECT: &str =
    "SELECT i.id, i.app_id, i.instance_key, i.name, i.description, i.status,
        i.invite_code, i.created_at, a.name AS app_name, a.company_id, i.default_tracking,
        i.default_logging, i.default_sdk, i.default_realtime, i.access_token_minutes,
        i.refresh_token_hours, i.revision
     FROM instances i JOIN applications a ON a.id = i.app_id";

/// The columns of a `UserRow`, from `users u`, its `instances i` and `applications a`. A
/// macro so that other reads can take them with `concat!`.
macro_rules! user_columns {
    () => {
        "u.seq, u.device_token, u.instance_id, u.first_name, u.last_name, u.nickname,
        u.phone, u.email, u.gender, u.birthday, u.marital_status, u.children_count, u.country,
        u.district, u.city, u.address, u.image_url, u.status, u.enable_tracking, u.enable_logging,
        u.enabled, u.enable_real_time_location, u.client_id, u.password_hash, u.batch_id,
        u.date_created, i.app_id, a.company_id, i.status AS instance_status,
        i.name AS instance_name, a.name AS app_name, u.last_activity_at, u.flags_changed_at,
        u.mobile_uid, u.device_model, u.os_type, u.os_version, u.sdk_version, u.app_version,
        i.active_window_days, i.access_token_minutes, i.refresh_token_hours"
    };
}

const USER_SELECT: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users u JOIN instances i ON i.id = u.instance_id JOIN applications a ON a.id = i.app_id"
);

impl Tx {
    pub async fn commit(self) -> CoreResult<()> {
        let Tx { conn, span } = self;
        let committed = match conn {
            TxConn::Sqlite(tx) => tx.commit().await,
            TxConn::Postgres(tx) => tx.commit().await,
        };
        match &committed {
            Ok(()) => span.record("db.outcome", "commit"),
            Err(_) => span
                .record("db.outcome", "error")
                .record("otel.status_code", "ERROR"),
        };
        committed
    }
}

// After the macros: the statements of every table group use them.
mod accounts;
mod admins;
mod audit;
mod batches;
mod counts;
mod flag_ends;
mod imports;
mod keys;
mod outbox;
mod personal;
mod rules;
mod settings;
mod throttles;
mod tokens;
mod users;
mod webhooks;
pub use batches::*;
pub use flag_ends::*;
pub use imports::*;
pub use keys::*;
pub use outbox::*;
pub use throttles::*;
pub use webhooks::*;

#[cfg(test)]
mod tests {
    use super::Store;
    use crate::testing::test_core;

    /// `tus doctor`'s migration check reads without applying: a fresh database lacks every
    /// migration (and stays without), a migrated one none.
    #[tokio::test]
    async fn the_migration_status_lists_what_is_pending_and_applies_nothing() {
        let db = super::scratch::ScratchDatabase::from_env().await.unwrap();
        let store = super::Store::connect(&db.url, &Default::default())
            .await
            .unwrap();
        let fresh = store.migration_status().await.unwrap();
        assert!(fresh.unknown.is_empty());
        assert!(fresh.pending.len() >= 25, "{:?}", fresh.pending);
        assert!(fresh.pending[0].starts_with("0001 "), "{:?}", fresh.pending);
        assert_eq!(
            store.migration_status().await.unwrap().pending.len(),
            fresh.pending.len()
        );
        store.migrate().await.unwrap();
        let current = store.migration_status().await.unwrap();
        assert!(current.pending.is_empty() && current.unknown.is_empty());
        store.close().await;
        let t = test_core(|_| {}).await;
        assert!(t
            .core
            .store()
            .migration_status()
            .await
            .unwrap()
            .pending
            .is_empty());
    }

    /// The plan of `sql` on the store's backend, one line per step (PostgreSQL told to avoid
    /// sequential scans, as it would with the tables big).
    async fn plan_of(store: &super::Store, sql: &str) -> Vec<String> {
        use sqlx::Row;
        match store {
            super::Store::Sqlite { read, .. } => sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&mut *read.acquire().await.unwrap())
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(3))
                .collect(),
            super::Store::Postgres(pool, _) => {
                let mut c = pool.acquire().await.unwrap();
                sqlx::query("SET enable_seqscan = off")
                    .execute(&mut *c)
                    .await
                    .unwrap();
                let plan = sqlx::query(&format!("EXPLAIN {sql}"))
                    .fetch_all(&mut *c)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<String, _>(0))
                    .collect();
                sqlx::query("RESET enable_seqscan")
                    .execute(&mut *c)
                    .await
                    .unwrap();
                plan
            }
        }
    }

    /// A refresh's one read (token, session, access token, user) looks each table up by a
    /// key and scans none: written as a left join of a parenthesised join, SQLite scanned
    /// every user (12 ms a refresh at 6,000 users in `bench api`). Refreshes are read in
    /// groups: only the group's list of pairs is scanned, as the outer loop.
    #[tokio::test]
    async fn the_refresh_read_scans_no_table() {
        let t = test_core(|_| {}).await;
        let sql = match t.core.store() {
            super::Store::Sqlite { .. } => {
                super::tokens::SQLITE_REFRESH_LINEAGES.replace("$1", r#"'[["hash","jti"]]'"#)
            }
            super::Store::Postgres(..) => super::tokens::POSTGRES_REFRESH_LINEAGES
                .replace("$1", "'{hash}'")
                .replace("$2", "'{jti}'"),
        };
        let plan = plan_of(t.core.store(), &sql).await;
        let scans: Vec<&String> = plan
            .iter()
            .filter(|line| line.contains("SCAN") || line.contains("Seq Scan"))
            .collect();
        match t.core.store() {
            super::Store::Sqlite { .. } => {
                assert!(plan[0].starts_with("SCAN w VIRTUAL TABLE"), "{plan:#?}");
                assert_eq!(scans.len(), 1, "{plan:#?}");
            }
            super::Store::Postgres(..) => {
                assert!(scans.is_empty(), "{plan:#?}");
                assert!(
                    plan.iter().any(|l| l.contains("Function Scan")),
                    "{plan:#?}"
                );
            }
        }
        assert!(plan.iter().any(|line| line.contains("users")), "{plan:#?}");
    }

    /// Migration 0024 made these indexes partial (`IS NOT NULL`): each lookup that relies
    /// on one still gets it on both backends (PostgreSQL told to avoid sequential scans, as
    /// it would with the table big).
    #[tokio::test]
    async fn lookups_still_use_the_partial_indexes() {
        let t = test_core(|_| {}).await;
        let lookups: [(&str, &[&str]); 9] = [
            ("users u WHERE u.phone = '+1555'", &["users_phone_idx"]),
            (
                "users u WHERE u.phone >= '+1' AND u.phone < '+2'",
                &["users_phone_idx"],
            ),
            (
                "users u WHERE u.client_id = 'crm'",
                &["users_client_id_idx"],
            ),
            (
                "users u WHERE lower(u.country) = 'de'",
                &["users_country_idx"],
            ),
            (
                "users u WHERE lower(u.city) = 'berlin'",
                &["users_city_idx"],
            ),
            ("users u WHERE u.batch_id = 'b'", &["users_batch_idx"]),
            (
                "users u WHERE u.instance_id = 'i' AND u.email = 'a@b.c'",
                &["users_instance_email_key"],
            ),
            (
                "users u WHERE u.instance_id = 'i' AND u.phone = '+1555'",
                &["users_instance_phone_key", "users_phone_idx"],
            ),
            (
                "refresh_tokens u WHERE u.parent_id = 'p'",
                &["refresh_tokens_parent_idx"],
            ),
        ];
        for (from, indexes) in lookups {
            let sql = format!("SELECT 1 FROM {from}");
            let plan = plan_of(t.core.store(), &sql).await;
            assert!(
                plan.iter()
                    .any(|line| indexes.iter().any(|index| line.contains(index))),
                "{sql}: {plan:?}"
            );
        }
    }

    /// The migrations before `version`, as an older binary left the database.
    async fn migrate_before(
        c: &mut impl sqlx::migrate::Migrate,
        migrator: &sqlx::migrate::Migrator,
        version: i64,
    ) -> Result<(), sqlx::Error> {
        let failed = |e| sqlx::Error::Migrate(Box::new(e));
        c.ensure_migrations_table().await.map_err(failed)?;
        for m in migrator.iter().filter(|m| m.version < version) {
            c.apply(m).await.map_err(failed)?;
        }
        Ok(())
    }

    /// Runs `$body` (a `sqlx` result) on a connection that may write, outside the store's
    /// transactions: for a database as an older binary left it.
    macro_rules! on_writer {
        ($store:expr, |$c:ident| $body:expr) => {
            async { on_pool!(writer $store, |$c| $body.map_err(super::db_err)) }
                .await
                .unwrap()
        };
    }

    /// A user as an older binary wrote it: no `seq` given. Deactivated on day 1, active on
    /// day 3 (the counters see both).
    async fn add_user(store: &super::Store, token: &str, day: i64) {
        on_writer!(store, |c| sqlx::query(
            "INSERT INTO users (device_token, instance_id, last_name, status, enable_tracking,
                 enable_logging, enabled, enable_real_time_location, date_created,
                 last_activity_at)
             VALUES ($1, 'i', 'Same', $2, $3, FALSE, TRUE, FALSE, $4, $5)"
        )
        .bind(token)
        .bind(if day == 1 { "Deactivated" } else { "Active" })
        .bind(day % 2 == 0)
        .bind(day * 86_400_000)
        .bind((day == 3).then_some(day * 86_400_000 + 1))
        .execute(c)
        .await
        .map(|_| ()));
    }

    /// Migrations 0029 (SQLite: the table rebuilt around `seq` as its rowid) and 0031
    /// (PostgreSQL: an identity column) on a database that already holds users: each keeps
    /// its row and is numbered in creation order, the counts stay, the counting triggers
    /// still count, and a new user is numbered after them all.
    #[tokio::test]
    async fn upgrading_numbers_existing_users_in_creation_order_and_keeps_their_counts() {
        use super::{PageFilter, UserSort};
        let db = super::scratch::ScratchDatabase::from_env().await.unwrap();
        let store = super::Store::connect(&db.url, &Default::default())
            .await
            .unwrap();
        let (migrator, numbered_by) = match &store {
            super::Store::Sqlite { .. } => (sqlx::migrate!("./migrations/sqlite"), 29),
            super::Store::Postgres(..) => (sqlx::migrate!("./migrations/postgres"), 31),
        };
        on_writer!(&store, |c| migrate_before(c, &migrator, numbered_by).await);
        for sql in [
            "INSERT INTO applications (id, company_id, name, created_at) VALUES ('a', 'c', 'A', 0)",
            "INSERT INTO instances (id, app_id, instance_key, name, invite_code, created_at)
             VALUES ('i', 'a', 'k', 'I', 'x', 0)",
        ] {
            on_writer!(&store, |c| sqlx::query(sql).execute(c).await.map(|_| ()));
        }
        // DeviceTokens in the reverse of creation order.
        let mut tokens: Vec<String> = (0..4).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        tokens.sort_by(|a, b| b.cmp(a));
        for (day, token) in tokens.iter().enumerate() {
            add_user(&store, token, day as i64).await;
        }
        let before = store.users_by_status(None).await.unwrap();
        assert_eq!(before, (3, 1));

        store.migrate().await.unwrap();
        let numbered: Vec<(i64, String)> = on_writer!(&store, |c| sqlx::query_as(
            "SELECT seq, device_token FROM users ORDER BY seq"
        )
        .fetch_all(c)
        .await);
        let in_order: Vec<&String> = numbered.iter().map(|(_, t)| t).collect();
        assert_eq!(in_order, tokens.iter().collect::<Vec<_>>());
        assert_eq!(store.users_by_status(None).await.unwrap(), before);
        let row = store.find_user(&tokens[3]).await.unwrap().unwrap();
        assert_eq!(
            (row.seq, row.last_activity_at),
            (numbered[3].0, Some(3 * 86_400_000 + 1))
        );

        let newcomer = uuid::Uuid::new_v4().to_string();
        add_user(&store, &newcomer, 5).await;
        assert_eq!(store.users_by_status(None).await.unwrap(), (4, 1));
        let newest = store.find_user(&newcomer).await.unwrap().unwrap();
        assert!(numbered.iter().all(|(seq, _)| *seq < newest.seq));
        // Equal names, one page: creation order, through the rebuilt sort index.
        let filter = PageFilter {
            include_inactive: true,
            ..PageFilter::default()
        };
        let page = store
            .user_page(&filter, UserSort::LastName, false, 0, 10)
            .await
            .unwrap();
        let paged: Vec<&String> = page.iter().map(|r| &r.device_token).collect();
        let mut expected: Vec<&String> = tokens.iter().collect();
        expected.push(&newcomer);
        assert_eq!(paged, expected);
        store.close().await;
    }

    /// The counters kept by the triggers on users (PostgreSQL's migration 0033 gives
    /// statements of one row a way of their own) stay equal to a pass over the users table
    /// after statements of one row and of many: inserts, each kind of update, deletes; and
    /// `active_days` gains one for each user first seen on a later day, and only then.
    #[tokio::test]
    async fn counters_follow_statements_of_one_row_and_of_many() {
        const DAY: i64 = 86_400_000;
        type Counted = Vec<(String, String, i64, i64, i64, i64, i64, i64)>;
        let db = super::scratch::ScratchDatabase::from_env().await.unwrap();
        let store = super::Store::connect(&db.url, &Default::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let run = |sql: String| {
            let store = &store;
            async move { on_writer!(store, |c| sqlx::query(&sql).execute(c).await.map(|_| ())) }
        };
        for sql in [
            "INSERT INTO applications (id, company_id, name, created_at) VALUES ('a', 'c', 'A', 0)",
            "INSERT INTO instances (id, app_id, instance_key, name, invite_code, created_at)
             VALUES ('i', 'a', 'k', 'I', 'x', 0), ('j', 'a', 'l', 'J', 'y', 0)",
        ] {
            run(sql.into()).await;
        }
        let check = |step: &'static str, active_days: &'static [(&'static str, i64, i64)]| {
            let store = &store;
            async move {
                let sorted = |mut rows: Counted| {
                    rows.sort();
                    rows
                };
                let counted: Counted = on_writer!(store, |c| sqlx::query_as(
                    "SELECT instance_id, status, day, CAST(SUM(n) AS BIGINT),
                            CAST(SUM(tracking) AS BIGINT), CAST(SUM(logging) AS BIGINT),
                            CAST(SUM(sdk) AS BIGINT), CAST(SUM(real_time) AS BIGINT)
                     FROM user_counts GROUP BY instance_id, status, day
                     HAVING SUM(n) <> 0 OR SUM(tracking) <> 0 OR SUM(logging) <> 0
                         OR SUM(sdk) <> 0 OR SUM(real_time) <> 0"
                )
                .fetch_all(c)
                .await);
                let scanned: Counted = on_writer!(store, |c| sqlx::query_as(
                    "SELECT instance_id, status, date_created / 86400000, COUNT(*),
                            CAST(SUM(CASE WHEN enable_tracking THEN 1 ELSE 0 END) AS BIGINT),
                            CAST(SUM(CASE WHEN enable_logging THEN 1 ELSE 0 END) AS BIGINT),
                            CAST(SUM(CASE WHEN enabled THEN 1 ELSE 0 END) AS BIGINT),
                            CAST(SUM(CASE WHEN enable_real_time_location THEN 1 ELSE 0 END)
                                 AS BIGINT)
                     FROM users GROUP BY instance_id, status, date_created / 86400000"
                )
                .fetch_all(c)
                .await);
                assert_eq!(sorted(counted), sorted(scanned), "user_counts after {step}");

                let activity = |sql: &'static str| async move {
                    let mut rows: Vec<(String, String, i64, i64)> =
                        on_writer!(store, |c| sqlx::query_as(sql).fetch_all(c).await);
                    rows.sort();
                    rows
                };
                assert_eq!(
                    activity(
                        "SELECT instance_id, status, day, CAST(SUM(n) AS BIGINT)
                         FROM activity_counts GROUP BY instance_id, status, day
                         HAVING SUM(n) <> 0"
                    )
                    .await,
                    activity(
                        "SELECT instance_id, status, COALESCE(last_activity_at / 86400000, -1),
                                COUNT(*)
                         FROM users
                         GROUP BY instance_id, status, COALESCE(last_activity_at / 86400000, -1)"
                    )
                    .await,
                    "activity_counts after {step}"
                );
                let mut days: Vec<(String, i64, i64)> = on_writer!(store, |c| sqlx::query_as(
                    "SELECT instance_id, day, CAST(SUM(n) AS BIGINT) FROM active_days
                     GROUP BY instance_id, day HAVING SUM(n) <> 0"
                )
                .fetch_all(c)
                .await);
                days.sort();
                let expected: Vec<(String, i64, i64)> = active_days
                    .iter()
                    .map(|(i, d, n)| (i.to_string(), *d, *n))
                    .collect();
                assert_eq!(days, expected, "active_days after {step}");
            }
        };
        let user = |token: &str, instance: &str, day: i64, flags: &str, active: &str| {
            format!(
                "('{token}', '{instance}', 'Active', {flags}, {}, {active})",
                day * DAY
            )
        };
        let insert = "INSERT INTO users (device_token, instance_id, status, enable_tracking,
                          enable_logging, enabled, enable_real_time_location, date_created,
                          last_activity_at) VALUES ";
        let one = "u1";
        let set = |what: String| format!("UPDATE users SET {what} WHERE device_token = '{one}'");

        run(format!(
            "{insert}{}",
            user(one, "i", 1, "TRUE, FALSE, TRUE, FALSE", "NULL")
        ))
        .await;
        check("one insert", &[]).await;
        run(format!(
            "{insert}{}, {}, {}",
            user("u2", "i", 1, "FALSE, TRUE, TRUE, TRUE", "NULL"),
            user("u3", "j", 2, "TRUE, TRUE, FALSE, FALSE", "NULL"),
            user(
                "u4",
                "i",
                2,
                "FALSE, FALSE, FALSE, TRUE",
                &(2 * DAY + 7).to_string()
            ),
        ))
        .await;
        check("an insert of three", &[]).await;

        run(set(format!("last_activity_at = {}", 3 * DAY))).await;
        check("a first activity", &[("i", 3, 1)]).await;
        run(set(format!("last_activity_at = {}", 3 * DAY + 5))).await;
        check("activity later that day", &[("i", 3, 1)]).await;
        run(set(format!("last_activity_at = {}", 2 * DAY))).await;
        check("activity on an earlier day", &[("i", 3, 1)]).await;
        run(set("enable_logging = TRUE".into())).await;
        check("a flag", &[("i", 3, 1)]).await;
        run(set("status = 'Deactivated'".into())).await;
        check("a status", &[("i", 3, 1)]).await;
        run(set(format!(
            "instance_id = 'j', last_activity_at = {}",
            4 * DAY
        )))
        .await;
        check("a move with activity", &[("i", 3, 1), ("j", 4, 1)]).await;
        run(set("date_created = date_created + 1000".into())).await;
        check(
            "a registration time within its day",
            &[("i", 3, 1), ("j", 4, 1)],
        )
        .await;
        run(set(
            "enable_tracking = FALSE, enabled = FALSE, status = 'Active'".into(),
        ))
        .await;
        check("flags and a status together", &[("i", 3, 1), ("j", 4, 1)]).await;
        run("UPDATE users SET status = 'Deactivated' WHERE device_token = 'u3'".into()).await;
        check(
            "a status of a user never active",
            &[("i", 3, 1), ("j", 4, 1)],
        )
        .await;
        run(set("last_activity_at = NULL".into())).await;
        check("activity cleared", &[("i", 3, 1), ("j", 4, 1)]).await;

        run("UPDATE users SET status = 'Deactivated' WHERE instance_id = 'i'".into()).await;
        check("a status of two", &[("i", 3, 1), ("j", 4, 1)]).await;
        run(format!("UPDATE users SET last_activity_at = {}", 5 * DAY)).await;
        let all_seen = &[("i", 3, 1), ("i", 5, 2), ("j", 4, 1), ("j", 5, 2)];
        check("activity of all four", all_seen).await;
        run("UPDATE users SET enable_real_time_location = NOT enable_real_time_location".into())
            .await;
        check("a flag of all four", all_seen).await;
        run("UPDATE users SET last_activity_at = NULL WHERE instance_id = 'i'".into()).await;
        check("activity of two cleared", all_seen).await;

        run(format!("DELETE FROM users WHERE device_token = '{one}'")).await;
        check("one delete", all_seen).await;
        run("DELETE FROM users WHERE instance_id = 'i'".into()).await;
        check("a delete of two", all_seen).await;
        store.close().await;
    }

    /// PostgreSQL only (SQLite updates rows in place): the counter tables keep room on
    /// their pages (migration 0034), so a statement that moves counter rows (a batch, an
    /// import with its own registration dates, a bulk action, a registration, a refresh)
    /// updates each on its own page without a new index entry (a HOT update). At PostgreSQL's
    /// default fillfactor the pages are full, and the statements below updated 0 of
    /// `user_counts`' 200 rows so.
    #[tokio::test]
    async fn counter_rows_are_updated_on_their_own_pages() {
        const DAY: i64 = 86_400_000;
        let db = super::scratch::ScratchDatabase::from_env().await.unwrap();
        let store = super::Store::connect(&db.url, &Default::default())
            .await
            .unwrap();
        let super::Store::Postgres(pool, _) = &store else {
            return;
        };
        store.migrate().await.unwrap();
        let mut c = pool.acquire().await.unwrap();
        let mut run = async |sql: String| {
            sqlx::query(&sql).execute(&mut *c).await.unwrap();
        };
        run(
            "INSERT INTO applications (id, company_id, name, created_at) VALUES ('a', 'c', 'A', 0)"
                .into(),
        )
        .await;
        run(
            "INSERT INTO instances (id, app_id, instance_key, name, invite_code, created_at)
             VALUES ('i', 'a', 'k', 'I', 'x', 0)"
                .into(),
        )
        .await;
        // Two users a day over 200 days, active on the day they registered.
        run(format!(
            "INSERT INTO users (device_token, instance_id, status, enable_tracking,
                 enable_logging, enabled, enable_real_time_location, date_created,
                 last_activity_at)
             SELECT 'u' || g, 'i', 'Active', TRUE, FALSE, TRUE, FALSE, (g / 2) * {DAY}::bigint,
                    (g / 2) * {DAY}::bigint
             FROM generate_series(0, 399) g"
        ))
        .await;
        // In one transaction, whose own statistics count what it updated, and so without
        // depending on when PostgreSQL prunes the versions other statements left.
        run("BEGIN".into()).await;
        run("UPDATE users SET enable_logging = NOT enable_logging".into()).await;
        // Every user's activity cleared: each day's activity row loses its two.
        run("UPDATE users SET last_activity_at = NULL".into()).await;
        for table in ["user_counts", "activity_counts"] {
            let (updated, hot): (i64, i64) = sqlx::query_as(&format!(
                "SELECT pg_stat_get_xact_tuples_updated('{table}'::regclass),
                        pg_stat_get_xact_tuples_hot_updated('{table}'::regclass)"
            ))
            .fetch_one(&mut *c)
            .await
            .unwrap();
            assert!(updated >= 199, "{table}: {updated} rows updated");
            assert_eq!(
                hot, updated,
                "{table}: {hot} of {updated} updated on their pages"
            );
        }
        sqlx::query("COMMIT").execute(&mut *c).await.unwrap();
        drop(c);
        store.close().await;
    }

    /// PostgreSQL only (SQLite has no JIT): every pooled connection runs without it.
    #[tokio::test]
    async fn postgres_connections_run_without_jit() {
        let t = test_core(|_| {}).await;
        if let super::Store::Postgres(pool, _) = t.core.store() {
            for _ in 0..3 {
                let jit: String = sqlx::query_scalar("SHOW jit")
                    .fetch_one(&mut *pool.acquire().await.unwrap())
                    .await
                    .unwrap();
                assert_eq!(jit, "off");
            }
        }
    }
}
