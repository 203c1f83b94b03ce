//! SQLite's WAL checkpoints, kept off the writer.
//!
//! By default the connection whose commit takes the WAL past 1,000 pages copies the WAL
//! back into the database file right there, inside that commit and holding the one writer:
//! a tenth of a 10,000-user CreateMany went to it in the profile, and every writer queued
//! behind it meanwhile. The writer turns that off (`wal_autocheckpoint = 0`); this task runs
//! a PASSIVE checkpoint on a connection of its own every `PERIOD` instead. PASSIVE takes no
//! lock that writers or readers wait on: it copies what no reader still needs, and the
//! writer starts the WAL over once all of it has been copied. The task ends when the last
//! handle of its store is dropped or the store is closed; SQLite checkpoints the rest when
//! the last connection closes.

use std::sync::Weak;
use std::time::Duration;

use sqlx::{Sqlite, SqlitePool};

use super::group::GroupCommit;
use super::pool::Pool;

/// How often the WAL is checkpointed. Between two checkpoints the WAL grows by what was
/// written meanwhile (tens of MB for a 10,000-user CreateMany, a few for the token path).
pub(super) const PERIOD: Duration = Duration::from_millis(500);

/// The writer's setting that leaves checkpoints to this task.
pub(super) const WRITER_AUTOCHECKPOINT: (&str, &str) = ("wal_autocheckpoint", "0");

/// Checkpoints `pool`'s database every `PERIOD` while `alive` (the store's group-commit
/// queue, which every handle of the store shares) has owners and `writer` is open.
pub(super) fn spawn(pool: SqlitePool, writer: Pool<Sqlite>, alive: Weak<GroupCommit>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if alive.strong_count() == 0 || writer.is_closed() {
                break;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                if writer.is_closed() {
                    break;
                }
                tracing::warn!(error = %e, "the SQLite WAL checkpoint failed; retrying");
            }
        }
        pool.close().await;
    });
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::store::scratch::ScratchDatabase;
    use crate::store::{PoolSettings, Store};

    /// SQLite only (the file is the point). Fails without the task (the rows would stay in
    /// the WAL until the store closed) and without the writer's setting (checked directly:
    /// with SQLite's default the writer would checkpoint inside its commits).
    #[tokio::test]
    async fn the_wal_is_checkpointed_beside_the_writer_not_in_its_commits() {
        let db = ScratchDatabase::create("sqlite").await.unwrap();
        let store = Store::connect(&db.url, &PoolSettings::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let Store::Sqlite { write, .. } = &store else {
            unreachable!("a SQLite URL")
        };
        let file = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
        let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);

        let setting: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&mut *write.acquire().await.unwrap())
            .await
            .unwrap();
        assert_eq!(setting, 0, "the writer checkpoints inside its commits");

        // Let the migrations' pages reach the file first.
        tokio::time::sleep(PERIOD * 3).await;
        let before = size();
        sqlx::query(
            "CREATE TABLE checkpoint_probe (x BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
             INSERT INTO checkpoint_probe SELECT randomblob(1000) FROM n",
        )
        .execute(&mut *write.acquire().await.unwrap())
        .await
        .unwrap();
        let wal = std::fs::metadata(file.with_extension("db-wal"))
            .unwrap()
            .len();
        assert!(
            wal > 4_000_000,
            "the rows are in the WAL first ({wal} bytes)"
        );

        let deadline = Instant::now() + Duration::from_secs(20);
        while size() < before + 4_000_000 {
            assert!(
                Instant::now() < deadline,
                "the database file stayed at {} bytes (from {before}) with the store open",
                size()
            );
            tokio::time::sleep(PERIOD / 5).await;
        }
        store.close().await;
    }
}
