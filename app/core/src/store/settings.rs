//! The `settings` table: values written once for all replicas (the signing key, first-start
//! claims), insert-if-absent so replicas starting together agree.

use super::*;

impl Store {
    pub async fn get_setting(&self, name: &str) -> CoreResult<Option<String>> {
        on_pool!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT value FROM settings WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(c)
        .await
        .map_err(db_err))
    }
}

impl Tx {
    /// Inserts `name` unless it exists; true when this transaction inserted it. On
    /// PostgreSQL a concurrent claimer waits for this transaction and then sees the row, so
    /// exactly one replica wins (and if it rolls back, the next one does).
    pub async fn claim_setting(&mut self, name: &str, value: &str) -> CoreResult<bool> {
        on_tx!(self, |c| sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"
        )
        .bind(name)
        .bind(value)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err))
    }

    /// Stores `value`, replacing what was there.
    pub async fn put_setting(&mut self, name: &str, value: &str) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value"
        )
        .bind(name)
        .bind(value)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    /// Stores `value` unless the setting exists, then returns what is stored: replicas that
    /// race on first start all end up with the first writer's value.
    pub async fn setting_or_insert(&mut self, name: &str, value: &str) -> CoreResult<String> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(value)
            .execute(&mut *c)
            .await
            .map_err(db_err)?;
            sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *c)
                .await
                .map_err(db_err)
        })
    }
}
