//! The lean reference the `api` benchmark measures us against (issue 19): the same SQL work
//! and signing per request as our token path, and nothing else. No framework beyond axum;
//! no sessions, audit, events, rate limits, counters or dashboard.
//!
//! - `Registration/Create`: the instance's key compared with the one it was started with;
//!   one transaction writes the user, its refresh token (SHA-256 only) and its access-token
//!   record; an HS256 JWT with our user claims.
//! - `Auth/RefreshToken`: the expired access token's signature, issuer and audience checked;
//!   one transaction reads the refresh token by hash, marks it used (only if unused: a race
//!   gives one winner), reads the user's flags, inserts the successor and the access record.
//!
//! SQLite: rusqlite, WAL, `synchronous=NORMAL`, one writer connection behind a mutex, each
//! request's transaction on a blocking thread. PostgreSQL: a sqlx pool of 16 and plain SQL.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const SQLITE_SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS users (
        device_token TEXT PRIMARY KEY, instance_id TEXT NOT NULL, status TEXT NOT NULL,
        enable_tracking INTEGER NOT NULL, enable_logging INTEGER NOT NULL,
        enabled INTEGER NOT NULL, enable_real_time_location INTEGER NOT NULL,
        client_id TEXT, date_created INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS refresh_tokens (
        id TEXT PRIMARY KEY, subject TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
        parent_id TEXT, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
        used_at INTEGER);
    CREATE TABLE IF NOT EXISTS access_tokens (
        jti TEXT PRIMARY KEY, subject TEXT NOT NULL, issued_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL);";

const POSTGRES_SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS ref_users (
        device_token TEXT PRIMARY KEY, instance_id TEXT NOT NULL, status TEXT NOT NULL,
        enable_tracking BOOLEAN NOT NULL, enable_logging BOOLEAN NOT NULL,
        enabled BOOLEAN NOT NULL, enable_real_time_location BOOLEAN NOT NULL,
        client_id TEXT, date_created BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ref_refresh_tokens (
        id TEXT PRIMARY KEY, subject TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
        parent_id TEXT, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
        used_at BIGINT)",
    "CREATE TABLE IF NOT EXISTS ref_access_tokens (
        jti TEXT PRIMARY KEY, subject TEXT NOT NULL, issued_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL)",
];

enum Db {
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    Postgres(sqlx::PgPool),
}

struct Shared {
    db: Db,
    instance_id: String,
    instance_key: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

type Ctx = Arc<Shared>;

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    jti: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    iss: String,
    aud: String,
    role: String,
    #[serde(rename = "DeviceToken")]
    device_token: String,
    #[serde(rename = "InstanceId")]
    instance_id: String,
    #[serde(rename = "ApplicationId")]
    application_id: String,
    #[serde(rename = "CompanyId")]
    company_id: String,
    #[serde(rename = "SdkEnableTracking")]
    tracking: String,
    #[serde(rename = "SdkEnableLogging")]
    logging: String,
    #[serde(rename = "SdkEnableRealTimeLocation")]
    real_time: String,
    #[serde(rename = "SdkClientId")]
    client_id: String,
    #[serde(rename = "RefreshTokenExpiredDate")]
    refresh_expires: String,
}

/// A user's flags as the claims carry them.
struct Flags {
    tracking: bool,
    logging: bool,
    real_time: bool,
    client_id: Option<String>,
}

/// What one issued pair writes.
struct Pair {
    jti: String,
    refresh_id: String,
    refresh_hash: String,
    issued_at: i64,
    access_expires: i64,
    refresh_expires: i64,
}

fn word(v: bool) -> String {
    if v { "True" } else { "False" }.to_string()
}

impl Shared {
    /// Signs an access token and draws a refresh token for `device_token`.
    fn issue(&self, device_token: &str, flags: &Flags, now: DateTime<Utc>) -> (Value, Pair) {
        let access_expires = now + Duration::seconds(7200);
        let refresh_expires = now + Duration::days(7);
        let jti = Uuid::new_v4().to_string();
        let claims = Claims {
            sub: device_token.to_string(),
            jti: jti.clone(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: access_expires.timestamp(),
            iss: "webApi".into(),
            aud: "tus".into(),
            role: "User".into(),
            device_token: device_token.to_string(),
            instance_id: self.instance_id.clone(),
            application_id: self.instance_id.clone(),
            company_id: self.instance_id.clone(),
            tracking: word(flags.tracking),
            logging: word(flags.logging),
            real_time: word(flags.real_time),
            client_id: flags.client_id.clone().unwrap_or_default(),
            refresh_expires: refresh_expires.format("%d.%m.%Y %-H:%M:%S").to_string(),
        };
        let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("reference".into());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding).expect("sign");
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        let refresh = base64::engine::general_purpose::STANDARD.encode(secret);
        let refresh_hash = hex(&Sha256::digest(refresh.as_bytes()));
        let body = json!({
            "DeviceToken": device_token,
            "AccessToken": {"Token": token, "ExpiresIn": 7200},
            "RefreshToken": refresh,
        });
        let pair = Pair {
            jti,
            refresh_id: Uuid::new_v4().to_string(),
            refresh_hash,
            issued_at: now.timestamp_millis(),
            access_expires: access_expires.timestamp_millis(),
            refresh_expires: refresh_expires.timestamp_millis(),
        };
        (body, pair)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ok(result: Value) -> (StatusCode, Json<Value>) {
    (
        StatusCode::OK,
        Json(json!({"Result": result, "Status": 200, "Title": "", "Errors": []})),
    )
}

fn refused(status: StatusCode, title: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(json!({"Result": null, "Status": status.as_u16(), "Title": title, "Errors": []})),
    )
}

async fn create(State(ctx): State<Ctx>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("InstanceId") != Some(ctx.instance_id.as_str())
        || header("InstanceKey") != Some(ctx.instance_key.as_str())
    {
        return refused(StatusCode::UNAUTHORIZED, "bad instance credentials");
    }
    let now = Utc::now();
    let device_token = Uuid::new_v4().to_string();
    let flags = Flags {
        tracking: true,
        logging: false,
        real_time: false,
        client_id: None,
    };
    let (body, pair) = ctx.issue(&device_token, &flags, now);
    let written: Result<(), String> = match &ctx.db {
        Db::Sqlite(conn) => {
            let conn = conn.clone();
            let instance = ctx.instance_id.clone();
            tokio::task::spawn_blocking(move || {
                let mut c = conn.lock().expect("writer");
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT INTO users (device_token, instance_id, status, enable_tracking,
                        enable_logging, enabled, enable_real_time_location, client_id,
                        date_created) VALUES (?1, ?2, 'Active', 1, 0, 1, 0, NULL, ?3)",
                    rusqlite::params![device_token, instance, pair.issued_at],
                )?;
                sqlite_pair(&tx, &device_token, None, &pair)?;
                tx.commit()
            })
            .await
            .expect("join")
            .map_err(|e| e.to_string())
        }
        Db::Postgres(pool) => async {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO ref_users (device_token, instance_id, status, enable_tracking,
                    enable_logging, enabled, enable_real_time_location, client_id,
                    date_created) VALUES ($1, $2, 'Active', true, false, true, false, NULL, $3)",
            )
            .bind(&device_token)
            .bind(&ctx.instance_id)
            .bind(pair.issued_at)
            .execute(&mut *tx)
            .await?;
            postgres_pair(&mut tx, &device_token, None, &pair).await?;
            tx.commit().await
        }
        .await
        .map_err(|e| e.to_string()),
    };
    match written {
        Ok(()) => ok(body),
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

fn sqlite_pair(
    tx: &rusqlite::Transaction<'_>,
    subject: &str,
    parent: Option<&str>,
    p: &Pair,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO refresh_tokens (id, subject, token_hash, parent_id, issued_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            p.refresh_id,
            subject,
            p.refresh_hash,
            parent,
            p.issued_at,
            p.refresh_expires
        ],
    )?;
    tx.execute(
        "INSERT INTO access_tokens (jti, subject, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![p.jti, subject, p.issued_at, p.access_expires],
    )?;
    Ok(())
}

async fn postgres_pair(
    tx: &mut sqlx::PgConnection,
    subject: &str,
    parent: Option<&str>,
    p: &Pair,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO ref_refresh_tokens (id, subject, token_hash, parent_id, issued_at,
            expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&p.refresh_id)
    .bind(subject)
    .bind(&p.refresh_hash)
    .bind(parent)
    .bind(p.issued_at)
    .bind(p.refresh_expires)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO ref_access_tokens (jti, subject, issued_at, expires_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&p.jti)
    .bind(subject)
    .bind(p.issued_at)
    .bind(p.access_expires)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RefreshBody {
    access_token: String,
    refresh_token: String,
}

/// A refresh token as stored: (id, subject, expires_at, used_at).
type RefreshRow = (String, String, i64, Option<i64>);

/// Why a refresh is refused, or the flags to sign.
enum Refresh {
    Refused(&'static str),
    Issued(Value),
}

async fn refresh(
    State(ctx): State<Ctx>,
    Json(body): Json<RefreshBody>,
) -> (StatusCode, Json<Value>) {
    let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false;
    validation.set_issuer(&["webApi"]);
    validation.set_audience(&["tus"]);
    let Ok(claims) = jsonwebtoken::decode::<Claims>(&body.access_token, &ctx.decoding, &validation)
    else {
        return refused(StatusCode::UNAUTHORIZED, "the access token is invalid");
    };
    let hash = hex(&Sha256::digest(body.refresh_token.as_bytes()));
    let now = Utc::now();
    let subject = claims.claims.sub;
    let outcome: Result<Refresh, String> = match &ctx.db {
        Db::Sqlite(conn) => {
            let (conn, ctx) = (conn.clone(), ctx.clone());
            tokio::task::spawn_blocking(move || -> rusqlite::Result<Refresh> {
                let mut c = conn.lock().expect("writer");
                let tx = c.transaction()?;
                let row: Option<RefreshRow> = tx
                    .query_row(
                        "SELECT id, subject, expires_at, used_at FROM refresh_tokens
                         WHERE token_hash = ?1",
                        [&hash],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .map(Some)
                    .or_else(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => Ok(None),
                        e => Err(e),
                    })?;
                let (id, _, _, _) = match check(row, &subject, now) {
                    Ok(row) => row,
                    Err(why) => return Ok(Refresh::Refused(why)),
                };
                let marked = tx.execute(
                    "UPDATE refresh_tokens SET used_at = ?1 WHERE id = ?2 AND used_at IS NULL",
                    rusqlite::params![now.timestamp_millis(), id],
                )?;
                if marked != 1 {
                    return Ok(Refresh::Refused("the refresh token was used"));
                }
                let flags = tx.query_row(
                    "SELECT enable_tracking, enable_logging, enable_real_time_location, client_id
                     FROM users WHERE device_token = ?1",
                    [&subject],
                    |r| {
                        Ok(Flags {
                            tracking: r.get(0)?,
                            logging: r.get(1)?,
                            real_time: r.get(2)?,
                            client_id: r.get(3)?,
                        })
                    },
                )?;
                let (body, pair) = ctx.issue(&subject, &flags, now);
                sqlite_pair(&tx, &subject, Some(&id), &pair)?;
                tx.commit()?;
                Ok(Refresh::Issued(body))
            })
            .await
            .expect("join")
            .map_err(|e| e.to_string())
        }
        Db::Postgres(pool) => postgres_refresh(pool, &ctx, &subject, &hash, now)
            .await
            .map_err(|e| e.to_string()),
    };
    match outcome {
        Ok(Refresh::Issued(body)) => ok(body),
        Ok(Refresh::Refused(why)) => refused(StatusCode::UNAUTHORIZED, why),
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

async fn postgres_refresh(
    pool: &sqlx::PgPool,
    ctx: &Shared,
    subject: &str,
    hash: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Refresh> {
    let mut tx = pool.begin().await?;
    let row: Option<RefreshRow> = sqlx::query_as(
        "SELECT id, subject, expires_at, used_at FROM ref_refresh_tokens
             WHERE token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(&mut *tx)
    .await?;
    let (id, _, _, _) = match check(row, subject, now) {
        Ok(row) => row,
        Err(why) => return Ok(Refresh::Refused(why)),
    };
    let marked =
        sqlx::query("UPDATE ref_refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(now.timestamp_millis())
            .bind(&id)
            .execute(&mut *tx)
            .await?;
    if marked.rows_affected() != 1 {
        return Ok(Refresh::Refused("the refresh token was used"));
    }
    let (tracking, logging, real_time, client_id): (bool, bool, bool, Option<String>) =
        sqlx::query_as(
            "SELECT enable_tracking, enable_logging, enable_real_time_location,
                    client_id FROM ref_users WHERE device_token = $1",
        )
        .bind(subject)
        .fetch_one(&mut *tx)
        .await?;
    let flags = Flags {
        tracking,
        logging,
        real_time,
        client_id,
    };
    let (body, pair) = ctx.issue(subject, &flags, now);
    postgres_pair(&mut tx, subject, Some(&id), &pair).await?;
    tx.commit().await?;
    Ok(Refresh::Issued(body))
}

/// A stored refresh token that may be used now by `subject`.
fn check(
    row: Option<RefreshRow>,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<RefreshRow, &'static str> {
    let row = row.ok_or("the refresh token is invalid")?;
    if row.1 != subject {
        return Err("the refresh token is not this user's");
    }
    if row.2 <= now.timestamp_millis() {
        return Err("the refresh token has expired");
    }
    if row.3.is_some() {
        return Err("the refresh token was used");
    }
    Ok(row)
}

/// Starts the reference on a free loopback port over `database_url` (a `sqlite://` file or
/// a PostgreSQL database; tables of its own, created if missing), accepting one instance's
/// credentials; answers its base URL. Replicas share a database and the signing key.
pub async fn start(database_url: &str, instance_id: &str, instance_key: &str) -> String {
    let db = if let Some(path) = database_url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).expect("reference database");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
        )
        .expect("pragmas");
        conn.execute_batch(SQLITE_SCHEMA).expect("schema");
        Db::Sqlite(Arc::new(Mutex::new(conn)))
    } else {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .connect(database_url)
            .await
            .expect("reference database");
        for statement in POSTGRES_SCHEMA {
            sqlx::query(statement).execute(&pool).await.expect("schema");
        }
        Db::Postgres(pool)
    };
    let secret = b"reference signing key, 32 bytes or more";
    let shared = Arc::new(Shared {
        db,
        instance_id: instance_id.to_string(),
        instance_key: instance_key.to_string(),
        encoding: EncodingKey::from_secret(secret),
        decoding: DecodingKey::from_secret(secret),
    });
    let app = Router::new()
        .route("/v1/Registration/Create", post(create))
        .route("/v1/Auth/RefreshToken", post(refresh))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}
