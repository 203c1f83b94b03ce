//! `signing_keys`: the keys tokens are signed with (see `crate::keys`).

use super::{db_err, Store, Tx, TxConn};
use crate::error::CoreResult;

/// A signing key as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub algorithm: String,
    /// The public key as a JWK (JSON); none for HS256.
    pub public_jwk: Option<String>,
    /// The private part, sealed; none for the master secret's own key.
    pub sealed_private: Option<Vec<u8>>,
    /// `next`, `current` or `retired`.
    pub state: String,
    pub created_at: i64,
    /// When a next key becomes current (ms).
    pub activate_at: Option<i64>,
    pub activated_at: Option<i64>,
    /// When a retired key stops being accepted (ms).
    pub retire_after: Option<i64>,
}

const KEY_COLUMNS: &str = "kid, algorithm, public_jwk, sealed_private, state, created_at,
    activate_at, activated_at, retire_after";

impl Store {
    /// Every key, newest first.
    pub async fn signing_keys(&self) -> CoreResult<Vec<SigningKeyRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, SigningKeyRow>(&format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at DESC, kid"
        ))
        .fetch_all(c)
        .await
        .map_err(db_err))
    }
}

impl Tx {
    /// Stores a key unless it would be a second current (or next) key, or its kid exists:
    /// false then (another replica got there first).
    pub async fn insert_signing_key(&mut self, k: &SigningKeyRow) -> CoreResult<bool> {
        on_tx!(self, |c| sqlx::query(&format!(
            "INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT DO NOTHING"
        ))
        .bind(&k.kid)
        .bind(&k.algorithm)
        .bind(&k.public_jwk)
        .bind(&k.sealed_private)
        .bind(&k.state)
        .bind(k.created_at)
        .bind(k.activate_at)
        .bind(k.activated_at)
        .bind(k.retire_after)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err))
    }

    /// A key retired at once (made under another master secret: it cannot verify anything).
    pub async fn retire_signing_key(&mut self, kid: &str, now: i64) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retire_after = $2 WHERE kid = $1"
        )
        .bind(kid)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// The next key, when it is due at `now`, becomes current; the current one retires,
    /// accepted until `retire_after`. Locked on PostgreSQL: of replicas promoting at once,
    /// one does it and the others find nothing due. Answers the promoted kid.
    pub async fn promote_due_key(
        &mut self,
        now: i64,
        retire_after: i64,
    ) -> CoreResult<Option<String>> {
        const DUE: &str = "SELECT kid FROM signing_keys WHERE state = 'next' AND activate_at <= $1";
        let sql = match &mut self.conn {
            TxConn::Sqlite(_) => DUE.to_string(),
            TxConn::Postgres(_) => format!("{DUE} FOR UPDATE"),
        };
        let due = on_tx!(self, |c| sqlx::query_scalar::<_, String>(&sql)
            .bind(now)
            .fetch_optional(&mut *c)
            .await
            .map_err(db_err))?;
        let Some(kid) = due else {
            return Ok(None);
        };
        on_tx!(self, |c| sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retire_after = $1 WHERE state = 'current'"
        )
        .bind(retire_after)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))?;
        on_tx!(self, |c| sqlx::query(
            "UPDATE signing_keys SET state = 'current', activated_at = $2 WHERE kid = $1"
        )
        .bind(&kid)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))?;
        Ok(Some(kid))
    }
}

/// An API key as stored (its hash, never the key).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub secret_hash: String,
    pub scopes: String,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The instances it is limited to, space-separated; `None` for every instance.
    pub instances: Option<String>,
}

const API_KEY_COLUMNS: &str = "id, name, prefix, secret_hash, scopes, created_at, created_by,
    expires_at, last_used_at, revoked_at, instances";

impl Store {
    pub async fn api_keys(&self) -> CoreResult<Vec<ApiKeyRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, ApiKeyRow>(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id"
        ))
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    pub async fn api_key_by_hash(&self, hash: &str) -> CoreResult<Option<ApiKeyRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, ApiKeyRow>(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE secret_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(c)
        .await
        .map_err(db_err))
    }
}

impl Tx {
    pub async fn insert_api_key(&mut self, k: &ApiKeyRow) -> CoreResult<()> {
        on_tx!(self, |c| {
            sqlx::query(&format!(
            "INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&k.id)
        .bind(&k.name)
        .bind(&k.prefix)
        .bind(&k.secret_hash)
        .bind(&k.scopes)
        .bind(k.created_at)
        .bind(&k.created_by)
        .bind(k.expires_at)
        .bind(k.last_used_at)
        .bind(k.revoked_at)
        .bind(&k.instances)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err)
        })
    }

    /// False when no live key has this id.
    pub async fn revoke_api_key(&mut self, id: &str, now: i64) -> CoreResult<bool> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"
        )
        .bind(id)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err))
    }

    pub async fn touch_api_key(&mut self, id: &str, now: i64) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }
}
