//! Admins: accounts, their one-time secrets (invite and reset links, recovery codes) and
//! their sessions.

use super::*;

const ADMIN_COLUMNS: &str = "id, email, password_hash, role, applications, instances, created_at,
    disabled_at, last_sign_in_at, totp_sealed, totp_confirmed_at";

impl Store {
    pub async fn count_admins(&self) -> CoreResult<i64> {
        on_pool!(self, |c| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM admins"
        )
        .fetch_one(c)
        .await
        .map_err(db_err))
    }

    pub async fn find_admin_by_email(&self, email: &str) -> CoreResult<Option<AdminRecord>> {
        let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE email = $1");
        on_pool!(self, |c| sqlx::query_as::<_, AdminRecord>(&sql)
            .bind(email)
            .fetch_optional(c)
            .await
            .map_err(db_err))
    }

    pub async fn find_admin(&self, id: &str) -> CoreResult<Option<AdminRecord>> {
        let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE id = $1");
        on_pool!(self, |c| sqlx::query_as::<_, AdminRecord>(&sql)
            .bind(id)
            .fetch_optional(c)
            .await
            .map_err(db_err))
    }

    /// Every admin, by e-mail.
    pub async fn admins(&self) -> CoreResult<Vec<AdminRecord>> {
        let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins ORDER BY email");
        on_pool!(self, |c| sqlx::query_as::<_, AdminRecord>(&sql)
            .fetch_all(c)
            .await
            .map_err(db_err))
    }

    /// The sessions of `subject` (an admin's id) not revoked and opened after `since`,
    /// newest first.
    pub async fn open_sessions(
        &self,
        subject: &str,
        since: i64,
    ) -> CoreResult<Vec<AdminSessionRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, AdminSessionRow>(
            "SELECT id, origin, created_at, last_seen_at FROM token_families
             WHERE subject = $1 AND revoked_at IS NULL AND created_at > $2
             ORDER BY created_at DESC"
        )
        .bind(subject)
        .bind(since)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    /// Whether the one-time secret with this keyed hash is live (not used, not expired):
    /// its admin's id.
    pub async fn live_admin_secret(
        &self,
        hash: &str,
        kind: &str,
        now: i64,
    ) -> CoreResult<Option<String>> {
        on_pool!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT admin_id FROM admin_secrets
             WHERE hash = $1 AND kind = $2 AND used_at IS NULL
               AND (expires_at IS NULL OR expires_at > $3)"
        )
        .bind(hash)
        .bind(kind)
        .bind(now)
        .fetch_optional(c)
        .await
        .map_err(db_err))
    }
}

impl Tx {
    pub async fn insert_admin(&mut self, a: &AdminRow) -> CoreResult<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO admins (id, email, password_hash, role, applications, instances,
                                     created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&a.id)
            .bind(&a.email)
            .bind(&a.password_hash)
            .bind(&a.role)
            .bind(&a.applications)
            .bind(&a.instances)
            .bind(a.created_at)
            .execute(&mut *c)
            .await
            .map(|_| ())
            .map_err(db_err)
        })
    }

    /// One admin, locked for the rest of the transaction (PostgreSQL; SQLite's writer is
    /// alone anyway).
    pub async fn admin_for_update(&mut self, id: &str) -> CoreResult<Option<AdminRecord>> {
        let lock = match &mut self.conn {
            TxConn::Sqlite(_) => "",
            TxConn::Postgres(_) => " FOR UPDATE",
        };
        let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE id = $1{lock}");
        on_tx!(self, |c| sqlx::query_as::<_, AdminRecord>(&sql)
            .bind(id)
            .fetch_optional(&mut *c)
            .await
            .map_err(db_err))
    }

    /// The enabled Owners, locked: two Owners demoting each other at once cannot leave none.
    pub async fn enabled_owners(&mut self) -> CoreResult<Vec<String>> {
        let lock = match &mut self.conn {
            TxConn::Sqlite(_) => "",
            TxConn::Postgres(_) => " FOR UPDATE",
        };
        let sql = format!(
            "SELECT id FROM admins WHERE role = 'Owner' AND disabled_at IS NULL
               AND password_hash <> '' ORDER BY id{lock}"
        );
        on_tx!(self, |c| sqlx::query_scalar::<_, String>(&sql)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err))
    }

    /// Sets role and scope.
    pub async fn set_admin_role(
        &mut self,
        id: &str,
        role: &str,
        applications: Option<&str>,
        instances: Option<&str>,
    ) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE admins SET role = $2, applications = $3, instances = $4 WHERE id = $1"
        )
        .bind(id)
        .bind(role)
        .bind(applications)
        .bind(instances)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    pub async fn set_admin_disabled(&mut self, id: &str, at: Option<i64>) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE admins SET disabled_at = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(at)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    pub async fn set_admin_password(&mut self, id: &str, hash: &str) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE admins SET password_hash = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(hash)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    pub async fn set_admin_signed_in(&mut self, id: &str, at: i64) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE admins SET last_sign_in_at = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(at)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Sets (or, with `None`, removes) the sealed TOTP secret and when it was confirmed.
    pub async fn set_admin_totp(
        &mut self,
        id: &str,
        sealed: Option<&str>,
        confirmed_at: Option<i64>,
    ) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE admins SET totp_sealed = $2, totp_confirmed_at = $3 WHERE id = $1"
        )
        .bind(id)
        .bind(sealed)
        .bind(confirmed_at)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    pub async fn insert_admin_secret(
        &mut self,
        hash: &str,
        admin_id: &str,
        kind: &str,
        now: i64,
        expires_at: Option<i64>,
    ) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "INSERT INTO admin_secrets (hash, admin_id, kind, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(hash)
        .bind(admin_id)
        .bind(kind)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Uses a live one-time secret once: its admin's id, or `None` (unknown, used, expired,
    /// or of another admin when `admin_id` is given).
    pub async fn use_admin_secret(
        &mut self,
        hash: &str,
        kind: &str,
        admin_id: Option<&str>,
        now: i64,
    ) -> CoreResult<Option<String>> {
        on_tx!(self, |c| sqlx::query_scalar::<_, String>(
            "UPDATE admin_secrets SET used_at = $3
             WHERE hash = $1 AND kind = $2 AND used_at IS NULL
               AND (expires_at IS NULL OR expires_at > $3)
               AND ($4 IS NULL OR admin_id = $4)
             RETURNING admin_id"
        )
        .bind(hash)
        .bind(kind)
        .bind(now)
        .bind(admin_id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err))
    }

    /// Drops an admin's secrets of `kind` (a new link replaces the old; new recovery codes
    /// replace the old).
    pub async fn drop_admin_secrets(&mut self, admin_id: &str, kind: &str) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "DELETE FROM admin_secrets WHERE admin_id = $1 AND kind = $2"
        )
        .bind(admin_id)
        .bind(kind)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Unused recovery codes (or other secrets of `kind`) an admin has left.
    pub async fn count_admin_secrets(&mut self, admin_id: &str, kind: &str) -> CoreResult<i64> {
        on_tx!(self, |c| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM admin_secrets
             WHERE admin_id = $1 AND kind = $2 AND used_at IS NULL"
        )
        .bind(admin_id)
        .bind(kind)
        .fetch_one(&mut *c)
        .await
        .map_err(db_err))
    }

    /// Records that the TOTP time step `step` signed in: false when it (or a later one)
    /// already did, so a code is never accepted twice.
    pub async fn use_totp_step(&mut self, id: &str, step: i64) -> CoreResult<bool> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE admins SET totp_last_step = $2
             WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)"
        )
        .bind(id)
        .bind(step)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err))
    }

    /// Notes a session's latest request.
    pub async fn touch_session(&mut self, family_id: &str, now: i64) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE token_families SET last_seen_at = $2 WHERE id = $1"
        )
        .bind(family_id)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }
}
