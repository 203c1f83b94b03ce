//! One configuration, from flags or `TUS_*` environment variables. Secrets are redacted
//! from `Debug`, so the configuration can be logged.

use std::fmt;

use clap::{Args, Parser, Subcommand};
use tus_core::secret::{Password, SigningKey};
use tus_core::store::PoolSettings;
use tus_core::tokens::{TokenSettings, MIN_KEY_BYTES};
use tus_core::CoreConfig;

#[derive(Debug, Parser)]
#[command(
    name = "tus",
    version,
    about = "Telematics User Service: drivers, tokens and an admin dashboard"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run migrations and serve the API and the dashboard (the default).
    Serve,
    /// Run the database migrations and exit.
    Migrate,
    /// Check this configuration without changing anything: the settings, the database and
    /// its migrations, the signing keys, the SMTP server and the SMS gateway. Exits 1 when
    /// something is wrong.
    Doctor,
    /// Manage instances (user groups).
    #[command(subcommand)]
    Instance(InstanceCommand),
    /// Manage admin accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage the keys tokens are signed with.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print the deployment's CompanyId, or keep the one it had on the hosted service
    /// (`--set-id`): every application and the tokens issued from then on carry it.
    Company {
        #[arg(long, value_parser = parse_company_id)]
        set_id: Option<tus_core::types::CompanyId>,
    },
    /// Import users from a CSV or NDJSON file with their DeviceTokens, profiles and flags
    /// (a fleet moving in); prints progress, a summary, and writes the per-row report.
    Import {
        /// The file: CSV with a header (the users export's columns) or NDJSON.
        file: std::path::PathBuf,
        /// The InstanceId the rows go to (absent: the first row's InstanceId column).
        #[arg(long)]
        instance: Option<String>,
        /// Check every row and write only the report.
        #[arg(long)]
        dry_run: bool,
        /// What to do with a row whose DeviceToken exists: skip, update or fail.
        #[arg(long, default_value = "skip", value_parser = tus_wire::model::OnExisting::parse)]
        on_existing: tus_wire::model::OnExisting,
        /// Where to write the report (default: FILE.report.csv beside the file).
        #[arg(long)]
        report: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys: kid, algorithm, state, dates.
    List,
    /// Make a new signing key (of TUS_JWT_ALGORITHM, or --algorithm): published at once,
    /// current after --lead (the old one stays accepted while its tokens live).
    Rotate {
        #[arg(long, value_parser = tus_core::keys::KeyAlgorithm::parse)]
        algorithm: Option<tus_core::keys::KeyAlgorithm>,
        /// How long the new key is published before it signs (`0` for at once), like 10m.
        #[arg(long, default_value = "10m", value_parser = parse_duration)]
        lead: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// Create an instance in the first application and print its credentials.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Keep this InstanceId (the one the instance has on the hosted service).
        #[arg(long)]
        id: Option<String>,
        /// Keep this InstanceKey (its installed apps log in with it).
        #[arg(long)]
        key: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Owner, Admin, Operator or Viewer (of everything; an Owner limits scope in the
        /// dashboard).
        #[arg(long, default_value = "Owner", value_parser = parse_role)]
        role: tus_wire::views::Role,
    },
    /// End the login throttles and lock of an admin's e-mail, from every address (after
    /// someone else's failed attempts locked it).
    Unlock { email: String },
}

fn parse_role(value: &str) -> Result<tus_wire::views::Role, String> {
    tus_wire::views::Role::parse(value)
}

/// Durations are seconds, or a number with `s`, `m`, `h` or `d`.
fn parse_company_id(value: &str) -> Result<tus_core::types::CompanyId, String> {
    tus_core::types::CompanyId::parse(value)
}

/// A size in bytes: a number, or one with `K`, `M` or `G` (powers of 1024).
fn parse_size(value: &str) -> Result<u64, String> {
    let v = value.trim().to_ascii_uppercase();
    let v = v.strip_suffix('B').unwrap_or(&v).trim();
    let (digits, unit) = match v.chars().last() {
        Some('K') => (&v[..v.len() - 1], 1u64 << 10),
        Some('M') => (&v[..v.len() - 1], 1 << 20),
        Some('G') => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{value:?} is not a size like 512M"))
}

fn parse_duration(value: &str) -> Result<i64, String> {
    let v = value.trim();
    let (digits, unit) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&v[..i], c),
        _ => (v, 's'),
    };
    let n: i64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("`{value}` is not a duration like 7200, 90m or 7d"))?;
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(format!("`{value}`: the unit must be s, m, h or d")),
    };
    if n < 0 {
        return Err("a duration cannot be negative".into());
    }
    Ok(n * factor)
}

#[derive(Clone, Args)]
pub struct Config {
    /// Database URL: sqlite://PATH (created when missing) or postgres://USER:PASSWORD@HOST/DB.
    #[arg(
        long,
        env = "TUS_DATABASE_URL",
        default_value = "sqlite://data/tus.db",
        global = true
    )]
    pub database_url: String,
    /// Largest number of database connections per process (readers, for SQLite).
    #[arg(
        long,
        env = "TUS_DB_MAX_CONNECTIONS",
        default_value_t = 8,
        global = true
    )]
    pub db_max_connections: u32,
    /// Connections kept open even when idle.
    #[arg(
        long,
        env = "TUS_DB_MIN_CONNECTIONS",
        default_value_t = 0,
        global = true
    )]
    pub db_min_connections: u32,
    /// How long a request waits for a free connection before it fails.
    #[arg(long, env = "TUS_DB_ACQUIRE_TIMEOUT", default_value = "10", value_parser = parse_duration, global = true)]
    pub db_acquire_timeout: i64,
    /// HMAC key for access tokens (at least 32 bytes). Unset: a random key kept in the database.
    #[arg(long, env = "TUS_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,
    /// What new signing keys are: HS256 (the default: the secret signs and verifies), ES256
    /// or EdDSA (verifiers need only the public keys of /.well-known/jwks.json).
    #[arg(long, env = "TUS_JWT_ALGORITHM", default_value = "HS256", value_parser = tus_core::keys::KeyAlgorithm::parse, global = true)]
    pub jwt_algorithm: tus_core::keys::KeyAlgorithm,
    /// Scheduled rotation: a new signing key once the current one has signed this long (like
    /// 30d); 0, the default: only `tus keys rotate` or the dashboard rotate.
    #[arg(long, env = "TUS_JWT_ROTATE_EVERY", default_value = "0", value_parser = parse_duration, global = true)]
    pub jwt_rotate_every: i64,
    /// The `iss` claim of issued tokens, and the only one accepted.
    #[arg(long, env = "TUS_JWT_ISSUER", default_value = "webApi", global = true)]
    pub jwt_issuer: String,
    /// The `aud` claim of issued tokens, and the only one accepted.
    #[arg(long, env = "TUS_JWT_AUDIENCE", default_value = "tus", global = true)]
    pub jwt_audience: String,
    /// Access token lifetime (seconds, or 90m, 2h...).
    #[arg(long, env = "TUS_ACCESS_TOKEN_TTL", default_value = "7200", value_parser = parse_duration, global = true)]
    pub access_token_ttl: i64,
    /// Refresh token lifetime.
    #[arg(long, env = "TUS_REFRESH_TOKEN_TTL", default_value = "7d", value_parser = parse_duration, global = true)]
    pub refresh_token_ttl: i64,
    /// Window after a rotation in which presenting the old refresh token again gets a new
    /// pair instead of revoking the family. 0 disables it.
    #[arg(long, env = "TUS_REFRESH_REUSE_GRACE", default_value = "10", value_parser = parse_duration, global = true)]
    pub refresh_reuse_grace: i64,
    /// Largest Quantity of one CreateMany.
    #[arg(long, env = "TUS_MAX_BATCH", default_value_t = 10_000, global = true)]
    pub max_batch: i64,
    /// Largest Quantity of one batch run from the dashboard (in chunks).
    #[arg(
        long,
        env = "TUS_MAX_BATCH_RUN",
        default_value_t = 100_000,
        global = true
    )]
    pub max_batch_run: i64,
    /// Most users per chunk (one transaction) of a dashboard batch; a batch runs in about
    /// 20 chunks of at least 50 users, up to this size.
    #[arg(long, env = "TUS_BATCH_CHUNK", default_value_t = 1000, global = true)]
    pub batch_chunk: i64,
    /// How long a finished dashboard batch keeps its credentials for their one download.
    #[arg(long, env = "TUS_BATCH_CREDENTIALS_TTL", default_value = "24h", value_parser = parse_duration, global = true)]
    pub batch_credentials_ttl: i64,
    /// Largest import file, in bytes (`512M`, `2G` and `900K` work too); larger: 413.
    #[arg(long, env = "TUS_IMPORT_MAX_BYTES", default_value = "512M", value_parser = parse_size, global = true)]
    pub import_max_bytes: u64,
    /// Failed logins allowed per login name in one window; then 429 until it ends.
    #[arg(
        long,
        env = "TUS_LOGIN_MAX_FAILURES_PER_NAME",
        default_value_t = 10,
        global = true
    )]
    pub login_max_failures_per_name: i64,
    /// Failed logins allowed per client address in one window.
    #[arg(
        long,
        env = "TUS_LOGIN_MAX_FAILURES_PER_ADDRESS",
        default_value_t = 50,
        global = true
    )]
    pub login_max_failures_per_address: i64,
    /// The login rate-limit window.
    #[arg(long, env = "TUS_LOGIN_WINDOW", default_value = "15m", value_parser = parse_duration, global = true)]
    pub login_window: i64,
    /// Failed logins per login name from all addresses together in one window; then the
    /// name is locked for the window, twice as long each time again (see TUS_LOGIN_MAX_LOCKOUT).
    #[arg(long, env = "TUS_LOGIN_LOCKOUT", default_value_t = 100, global = true)]
    pub login_lockout: i64,
    /// The longest a locked login name stays locked.
    #[arg(long, env = "TUS_LOGIN_MAX_LOCKOUT", default_value = "24h", value_parser = parse_duration, global = true)]
    pub login_max_lockout: i64,
    /// Registrations carrying a password per client address in one window (each costs a
    /// password hash).
    #[arg(
        long,
        env = "TUS_PASSWORD_REGISTRATIONS_PER_ADDRESS",
        default_value_t = 100,
        global = true
    )]
    pub password_registrations_per_address: i64,
    /// Password hashes run at once (each takes about 19 MiB); 0: one per CPU core. Requests
    /// beyond these and a short queue get 503 with Retry-After.
    #[arg(
        long,
        env = "TUS_PASSWORD_HASH_CONCURRENCY",
        default_value_t = 0,
        global = true
    )]
    pub password_hash_concurrency: usize,
    /// Longest an admin's session lasts from sign-in, however often it is refreshed.
    #[arg(long, env = "TUS_ADMIN_SESSION_MAX", default_value = "12h", value_parser = parse_duration, global = true)]
    pub admin_session_max: i64,
    /// An admin's session (dashboard or API) ends after this long without a request; 0:
    /// never.
    #[arg(long, env = "TUS_ADMIN_IDLE_TIMEOUT", default_value = "30m", value_parser = parse_duration, global = true)]
    pub admin_idle_timeout: i64,
    /// Longest a user's session lasts from its login or registration; 0: as long as it is
    /// refreshed.
    #[arg(long, env = "TUS_USER_SESSION_MAX", default_value = "0", value_parser = parse_duration, global = true)]
    pub user_session_max: i64,
    /// Log lines for people (`text`, the default) or for log collectors (`json`: one object
    /// per line, with the request's id on every line logged while serving it).
    #[arg(long, env = "TUS_LOG_FORMAT", default_value = "text", value_parser = parse_log_format, global = true)]
    pub log_format: LogFormat,
    /// Serve Prometheus metrics at `/metrics` on this address of its own
    /// (`127.0.0.1:9464`). Unset: no metrics. Open it only where the scraper reaches it.
    #[arg(long, env = "TUS_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The dashboard's public URL as browsers see it (`https://tus.example.com`): the only
    /// origin state-changing dashboard calls may come from. Unset: the request's own scheme
    /// and Host header.
    #[arg(long, env = "TUS_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Longest a client may take to send a request's headers; a silent new connection is
    /// closed after this too.
    #[arg(long, env = "TUS_HEADER_TIMEOUT", default_value = "10", value_parser = parse_duration, global = true)]
    pub header_timeout: i64,
    /// Longest a whole request (headers and body) may take to arrive.
    #[arg(long, env = "TUS_REQUEST_TIMEOUT", default_value = "30", value_parser = parse_duration, global = true)]
    pub request_timeout: i64,
    /// A connection with no request in progress and no traffic for this long is closed;
    /// so is one whose client stops reading an answer for this long.
    #[arg(long, env = "TUS_IDLE_TIMEOUT", default_value = "60", value_parser = parse_duration, global = true)]
    pub idle_timeout: i64,
    /// Take the client address from the last X-Forwarded-For entry (set this only behind a
    /// proxy that appends it, such as the nginx example; otherwise clients could forge it).
    #[arg(
        long,
        env = "TUS_TRUST_FORWARDED_FOR",
        default_value_t = false,
        global = true
    )]
    pub trust_forwarded_for: bool,
    /// SMTP server for e-mail: `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://user:pass@host:465` (TLS), `smtp://host:25` (plain, for a local relay).
    /// Unset: e-mail is off, and asking for it answers 422.
    #[arg(long, env = "TUS_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,
    /// The sender of e-mail.
    #[arg(
        long,
        env = "TUS_MAIL_FROM",
        default_value = "Telematics User Service <noreply@localhost>",
        global = true
    )]
    pub mail_from: String,
    /// SMS gateway URL. JSON mode: POST `{to, text, id}`. Twilio mode: the Messages URL
    /// with the account SID and auth token as its user and password
    /// (`https://SID:TOKEN@api.twilio.com/2010-04-01/Accounts/SID/Messages.json`).
    /// Unset: SMS is off, and asking for it answers 422.
    #[arg(long, env = "TUS_SMS_URL", hide_env_values = true, global = true)]
    pub sms_url: Option<String>,
    /// `json` (the generic gateway) or `twilio` (form POST, basic auth).
    #[arg(long, env = "TUS_SMS_MODE", default_value = "json", global = true)]
    pub sms_mode: String,
    /// JSON mode: the `Authorization` header value sent to the gateway (`Bearer …`).
    #[arg(long, env = "TUS_SMS_AUTH", hide_env_values = true, global = true)]
    pub sms_auth: Option<String>,
    /// Twilio mode: the sending number (`From`).
    #[arg(long, env = "TUS_SMS_FROM", global = true)]
    pub sms_from: Option<String>,
    /// Attempts to deliver a message before it is marked failed.
    #[arg(
        long,
        env = "TUS_OUTBOX_MAX_ATTEMPTS",
        default_value_t = 8,
        global = true
    )]
    pub outbox_max_attempts: i64,
    /// The first retry's delay; each later one doubles (up to an hour), with jitter.
    #[arg(long, env = "TUS_OUTBOX_RETRY_BASE", default_value = "10", value_parser = parse_duration, global = true)]
    pub outbox_retry_base: i64,
    /// How often the delivery worker looks for due messages.
    #[arg(long, env = "TUS_OUTBOX_POLL", default_value = "1", value_parser = parse_duration, global = true)]
    pub outbox_poll: i64,
    /// Attempts to deliver an event to a webhook before it is marked failed (back-off
    /// doubling from TUS_OUTBOX_RETRY_BASE up to an hour: 16 is about nine hours).
    #[arg(
        long,
        env = "TUS_WEBHOOK_ATTEMPTS",
        default_value_t = 16,
        global = true
    )]
    pub webhook_attempts: i64,
    /// How long a webhook may keep failing before it is disabled automatically.
    #[arg(long, env = "TUS_WEBHOOK_DISABLE_AFTER", default_value = "24h", value_parser = parse_duration, global = true)]
    pub webhook_disable_after: i64,
    /// How long events (for replay) and ended webhook deliveries (the log) are kept.
    #[arg(long, env = "TUS_EVENT_RETENTION", default_value = "30d", value_parser = parse_duration, global = true)]
    pub event_retention: i64,
    /// How long audit entries are kept (like 365d); 0, the default: for good.
    #[arg(long, env = "TUS_AUDIT_RETENTION", default_value = "0", value_parser = parse_duration, global = true)]
    pub audit_retention: i64,
    /// How long sent, failed and cancelled e-mail and SMS messages are kept (like 90d); 0,
    /// the default: for good.
    #[arg(long, env = "TUS_MESSAGE_RETENTION", default_value = "0", value_parser = parse_duration, global = true)]
    pub message_retention: i64,
    /// How long a one-time login code works.
    #[arg(long, env = "TUS_LOGIN_CODE_TTL", default_value = "10m", value_parser = parse_duration, global = true)]
    pub login_code_ttl: i64,
    /// How long an invite's link (e-mail) or code (SMS) works.
    #[arg(long, env = "TUS_INVITE_TTL", default_value = "7d", value_parser = parse_duration, global = true)]
    pub invite_ttl: i64,
    /// Login codes sent per login name per login window.
    #[arg(
        long,
        env = "TUS_LOGIN_CODES_PER_NAME",
        default_value_t = 5,
        global = true
    )]
    pub login_codes_per_name: i64,
    /// Login codes asked for per client address per login window.
    #[arg(
        long,
        env = "TUS_LOGIN_CODES_PER_ADDRESS",
        default_value_t = 20,
        global = true
    )]
    pub login_codes_per_address: i64,
    /// E-mail of the admin created on first start.
    #[arg(
        long,
        env = "TUS_ADMIN_EMAIL",
        default_value = "admin@localhost",
        global = true
    )]
    pub admin_email: String,
    /// Password of the admin created on first start (unset: generated and printed once).
    #[arg(
        long,
        env = "TUS_ADMIN_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub admin_password: Option<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "[redacted]");
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("db_max_connections", &self.db_max_connections)
            .field("db_min_connections", &self.db_min_connections)
            .field("db_acquire_timeout", &self.db_acquire_timeout)
            .field("jwt_secret", &redacted(&self.jwt_secret))
            .field("jwt_algorithm", &self.jwt_algorithm)
            .field("jwt_rotate_every", &self.jwt_rotate_every)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("refresh_reuse_grace", &self.refresh_reuse_grace)
            .field("max_batch", &self.max_batch)
            .field(
                "login_max_failures_per_name",
                &self.login_max_failures_per_name,
            )
            .field(
                "login_max_failures_per_address",
                &self.login_max_failures_per_address,
            )
            .field("login_window", &self.login_window)
            .field("login_lockout", &self.login_lockout)
            .field("login_max_lockout", &self.login_max_lockout)
            .field(
                "password_registrations_per_address",
                &self.password_registrations_per_address,
            )
            .field("password_hash_concurrency", &self.password_hash_concurrency)
            .field("admin_session_max", &self.admin_session_max)
            .field("admin_idle_timeout", &self.admin_idle_timeout)
            .field("user_session_max", &self.user_session_max)
            .field("log_format", &self.log_format)
            .field("metrics_addr", &self.metrics_addr)
            .field("public_url", &self.public_url)
            .field("header_timeout", &self.header_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("mail_from", &self.mail_from)
            .field("sms_url", &self.sms_url.as_deref().map(redact_url))
            .field("sms_mode", &self.sms_mode)
            .field("sms_auth", &redacted(&self.sms_auth))
            .field("sms_from", &self.sms_from)
            .field("outbox_max_attempts", &self.outbox_max_attempts)
            .field("webhook_attempts", &self.webhook_attempts)
            .field("webhook_disable_after", &self.webhook_disable_after)
            .field("event_retention", &self.event_retention)
            .field("audit_retention", &self.audit_retention)
            .field("message_retention", &self.message_retention)
            .field("outbox_retry_base", &self.outbox_retry_base)
            .field("outbox_poll", &self.outbox_poll)
            .field("login_code_ttl", &self.login_code_ttl)
            .field("invite_ttl", &self.invite_ttl)
            .field("login_codes_per_name", &self.login_codes_per_name)
            .field("login_codes_per_address", &self.login_codes_per_address)
            .field("admin_email", &self.admin_email)
            .field("admin_password", &redacted(&self.admin_password))
            .finish()
    }
}

/// How log lines are written (`TUS_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

fn parse_log_format(s: &str) -> Result<LogFormat, String> {
    match s.to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err("TUS_LOG_FORMAT must be text or json".into()),
    }
}

/// Hides the passwords in a database URL: in its user part (`postgres://user:secret@host/db`)
/// and in its query (`?password=secret`, any case). A URL that does not parse is not shown.
pub fn redact_url(raw: &str) -> String {
    const REDACTED: &str = "[redacted]";
    let Ok(mut url) = url::Url::parse(raw) else {
        return format!("{REDACTED} (not a URL)");
    };
    if url.password().is_some() {
        let _ = url.set_password(Some(REDACTED));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let secret =
                    k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword");
                (
                    k.into_owned(),
                    if secret {
                        REDACTED.into()
                    } else {
                        v.into_owned()
                    },
                )
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

impl Config {
    /// Defaults, as if no flag or variable were set: the base of tests.
    pub fn defaults() -> Self {
        Cli::parse_from(["tus"]).config
    }

    pub fn core_config(&self) -> Result<CoreConfig, String> {
        let jwt_secret = match &self.jwt_secret {
            Some(s) if s.len() < MIN_KEY_BYTES => {
                return Err(format!(
                    "TUS_JWT_SECRET must be at least {MIN_KEY_BYTES} bytes long"
                ))
            }
            Some(s) => Some(SigningKey::new(s.as_bytes().to_vec())),
            None => None,
        };
        if self.max_batch < 1 {
            return Err("TUS_MAX_BATCH must be at least 1".into());
        }
        if self.max_batch_run < 1 {
            return Err("TUS_MAX_BATCH_RUN must be at least 1".into());
        }
        if !(1..=5000).contains(&self.batch_chunk) {
            return Err("TUS_BATCH_CHUNK must be between 1 and 5000".into());
        }
        if self.access_token_ttl < 1 || self.refresh_token_ttl < 1 || self.admin_session_max < 1 {
            return Err("token and session lifetimes must be at least one second".into());
        }
        let mut hashing = tus_core::password::HashingSettings::default();
        if self.password_hash_concurrency > 0 {
            hashing.concurrency = self.password_hash_concurrency;
            hashing.queue = 64 * self.password_hash_concurrency;
        }
        Ok(CoreConfig {
            database_url: self.database_url.clone(),
            pool: PoolSettings {
                max_connections: self.db_max_connections,
                min_connections: self.db_min_connections.min(self.db_max_connections),
                acquire_timeout: std::time::Duration::from_secs(
                    self.db_acquire_timeout.max(1) as u64
                ),
            },
            jwt_secret,
            tokens: TokenSettings {
                issuer: self.jwt_issuer.clone(),
                audience: self.jwt_audience.clone(),
                access_ttl: chrono::Duration::seconds(self.access_token_ttl),
                refresh_ttl: chrono::Duration::seconds(self.refresh_token_ttl),
                reuse_grace: chrono::Duration::seconds(self.refresh_reuse_grace),
                admin_session_max: chrono::Duration::seconds(self.admin_session_max),
                admin_idle: (self.admin_idle_timeout > 0)
                    .then(|| chrono::Duration::seconds(self.admin_idle_timeout)),
                user_session_max: (self.user_session_max > 0)
                    .then(|| chrono::Duration::seconds(self.user_session_max)),
                algorithm: self.jwt_algorithm,
                rotate_every: (self.jwt_rotate_every > 0)
                    .then(|| chrono::Duration::seconds(self.jwt_rotate_every.max(3600))),
            },
            max_batch: self.max_batch,
            batch_runs: tus_core::batches::BatchRunSettings {
                chunk: self.batch_chunk,
                max_quantity: self.max_batch_run,
                credentials_ttl_secs: self.batch_credentials_ttl.max(60),
                max_import_bytes: self.import_max_bytes.max(1024),
            },
            login_limits: tus_core::ratelimit::LoginLimits {
                per_name: self.login_max_failures_per_name.max(1),
                per_address: self.login_max_failures_per_address.max(1),
                window: chrono::Duration::seconds(self.login_window.max(1)),
                lockout: self.login_lockout.max(1),
                max_lockout: chrono::Duration::seconds(self.login_max_lockout.max(1)),
                registrations_per_address: self.password_registrations_per_address.max(1),
                codes_per_name: self.login_codes_per_name.max(1),
                codes_per_address: self.login_codes_per_address.max(1),
            },
            hashing,
            delivery: tus_core::outbox::DeliverySettings {
                email: self.smtp_url.is_some(),
                sms: self.sms_url.is_some(),
                max_attempts: self.outbox_max_attempts.max(1),
                retry_base_ms: self.outbox_retry_base.max(1) * 1000,
                lease_ms: 60_000,
                code_ttl_secs: self.login_code_ttl.max(60),
                invite_ttl_secs: self.invite_ttl.max(60),
                public_url: self.public_url.clone(),
                webhook_attempts: self.webhook_attempts.max(1),
                webhook_disable_after_ms: self.webhook_disable_after.max(1) * 1000,
                event_retention_ms: self.event_retention.max(3600) * 1000,
            },
            retention: tus_core::personal_data::Retention {
                audit_ms: (self.audit_retention > 0).then(|| self.audit_retention.max(3600) * 1000),
                messages_ms: (self.message_retention > 0)
                    .then(|| self.message_retention.max(3600) * 1000),
            },
        })
    }

    /// The dashboard's public origin, when `TUS_PUBLIC_URL` is set.
    pub fn public_origin(&self) -> Result<Option<url::Origin>, String> {
        self.public_url
            .as_deref()
            .map(app::ssr::session::parse_public_url)
            .transpose()
    }

    /// The connection timers of the HTTP server.
    pub fn timeouts(&self) -> crate::serve::Timeouts {
        let seconds = |s: i64| std::time::Duration::from_secs(s.max(1) as u64);
        crate::serve::Timeouts {
            header: seconds(self.header_timeout),
            request: seconds(self.request_timeout),
            idle: seconds(self.idle_timeout),
        }
    }

    pub fn admin_password(&self) -> Option<Password> {
        self.admin_password.clone().map(Password::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_seconds_and_units() {
        assert_eq!(parse_duration("7200"), Ok(7200));
        assert_eq!(parse_duration("90m"), Ok(5400));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert!(parse_duration("7w").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let mut c = Config::defaults();
        c.jwt_secret = Some("super-secret-signing-key-0123456789".into());
        c.admin_password = Some("hunter2hunter2".into());
        c.database_url = "postgres://tus:pgsecret@db/tus".into();
        let printed = format!("{c:?}");
        for secret in ["super-secret", "hunter2", "pgsecret"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }

    #[test]
    fn a_password_in_the_database_urls_query_is_redacted() {
        let url = "postgres://tus@db:5432/tus?sslmode=require&Password=qsecret&sslpassword=k3y";
        let shown = redact_url(url);
        assert!(
            !shown.contains("qsecret") && !shown.contains("k3y"),
            "{shown}"
        );
        assert!(
            shown.contains("sslmode=require") && shown.contains("db:5432"),
            "{shown}"
        );
        assert_eq!(
            redact_url("sqlite://data/tus.db?mode=rwc"),
            "sqlite://data/tus.db?mode=rwc"
        );
        assert!(!redact_url("postgres://u:p%40ss@h/db").contains("p%40ss"));
    }

    #[test]
    fn a_short_jwt_secret_is_refused() {
        let mut c = Config::defaults();
        c.jwt_secret = Some("short".into());
        assert!(c.core_config().is_err());
    }
}
