//! Throw-away databases for tests and benchmarks: a fresh SQLite file in a temporary
//! folder, or a fresh database on a PostgreSQL server. Removed again on drop.
//!
//! `TUS_TEST_DATABASE` chooses: unset or `sqlite` → SQLite; a `postgres://` URL → a new
//! database on that server (the URL's user needs CREATEDB), created per scratch database.

use std::path::PathBuf;

use sqlx::Connection;

use crate::error::{CoreError, CoreResult};

pub struct ScratchDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Folder(PathBuf),
    Postgres { admin_url: String, name: String },
}

/// `base` with its database name (the path after the authority) replaced by `name`.
fn with_database(base: &str, name: &str) -> CoreResult<String> {
    let (before_query, query) = match base.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (base, None),
    };
    let authority_start = before_query
        .find("://")
        .map(|i| i + 3)
        .ok_or_else(|| CoreError::internal("not a URL"))?;
    let path_start = before_query[authority_start..]
        .find('/')
        .map(|i| authority_start + i);
    let root = path_start.map_or(before_query, |i| &before_query[..i]);
    Ok(match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    })
}

impl ScratchDatabase {
    /// The backend `TUS_TEST_DATABASE` names.
    pub async fn from_env() -> CoreResult<Self> {
        let choice = std::env::var("TUS_TEST_DATABASE").unwrap_or_default();
        Self::create(&choice).await
    }

    pub fn backend(&self) -> &'static str {
        match self.cleanup {
            Cleanup::Folder(_) => "sqlite",
            Cleanup::Postgres { .. } => "postgres",
        }
    }

    pub async fn create(choice: &str) -> CoreResult<Self> {
        if choice.starts_with("postgres:") || choice.starts_with("postgresql:") {
            let name = format!("tus_scratch_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(choice).await.map_err(|e| {
                CoreError::internal(format!("cannot reach the test PostgreSQL server: {e}"))
            })?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .map_err(CoreError::internal)?;
            let _ = admin.close().await;
            Ok(ScratchDatabase {
                url: with_database(choice, &name)?,
                cleanup: Cleanup::Postgres {
                    admin_url: choice.to_string(),
                    name,
                },
            })
        } else if choice.is_empty() || choice == "sqlite" {
            let dir = std::env::temp_dir().join(format!("tus-scratch-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).map_err(CoreError::internal)?;
            Ok(ScratchDatabase {
                url: format!("sqlite://{}/tus.db", dir.display()),
                cleanup: Cleanup::Folder(dir),
            })
        } else {
            Err(CoreError::internal(format!(
                "TUS_TEST_DATABASE must be `sqlite` or a postgres:// URL, not `{choice}`"
            )))
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Folder(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                // Drop may run inside a runtime: use a thread with its own. FORCE ends the
                // connections servers under test still hold.
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async {
                        if let Err(e) = drop_postgres_database(&admin_url, &name).await {
                            eprintln!("the scratch database {name} was left behind: {e}");
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Drops `name`, ending the connections that still use it. `WITH (FORCE)` fails outright,
/// ending none, when one of them belongs to a role the URL's user may not signal: on
/// PostgreSQL 15 an autovacuum worker, which a table a benchmark just filled keeps busy for
/// minutes (a million users' database was left behind after every `bench page`). A plain
/// `DROP DATABASE` stops autovacuum workers itself, so then this ends its own role's
/// connections and drops without FORCE, again while a server still reconnects.
async fn drop_postgres_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    let forced = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await;
    let mut result = forced.map(|_| ());
    for _ in 0..10 {
        if result.is_ok() {
            break;
        }
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND usename = current_user AND pid <> pg_backend_pid()",
        )
        .bind(name)
        .execute(&mut admin)
        .await?;
        result = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut admin)
            .await
            .map(|_| ());
        if result.is_err() {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    }
    let _ = admin.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres", "x").unwrap(),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/postgres?sslmode=disable", "x").unwrap(),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h", "x").unwrap(),
            "postgres://h/x"
        );
    }
}
