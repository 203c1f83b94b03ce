//! Group commit on the SQLite writer (issue 19).
//!
//! SQLite has one writer connection, and every statement sqlx sends it is a round trip to
//! the connection's worker thread while all other writers wait. A transaction that only
//! writes (`Store::begin_writes`, e.g. a registration: its user, event, token family,
//! refresh token and access record) never needs the connection before its commit: its
//! statements are held in the transaction (`SqliteTx`) and handed here at commit.
//!
//! Whoever commits while no group is running spawns one. The group takes every transaction
//! waiting at that moment and runs them, in arrival order, inside one database transaction,
//! each in its own savepoint and as one multi-statement call: a member that fails is rolled
//! back to its savepoint and told its error, the others go on. After the one COMMIT every
//! member is told it committed. So each member is still atomic and is acknowledged only
//! after the commit that made it durable, as before; what it saves is one round trip per
//! statement and one commit (with its WAL frames for the shared pages: counters, index
//! edges) per member. The group runs in its own task, so a client that goes away cannot
//! cut it short for the others.

use std::sync::{Arc, Mutex};

use sqlx::{QueryBuilder, Sqlite};
use tokio::sync::oneshot;

use super::db_err;
use super::pool::Pool;
use crate::error::{CoreError, CoreResult};

/// The savepoint each member's statements run in (see `SqliteTx::next_statement`).
pub(super) const MEMBER_SAVEPOINT: &str = "SAVEPOINT tx_writes; ";
pub(super) const MEMBER_RELEASE: &str = "; RELEASE tx_writes";
const MEMBER_UNDO: &str = "ROLLBACK TO tx_writes; RELEASE tx_writes";

/// Members per group at most: bounds the time the writer is held and the work a failed
/// commit throws away.
const GROUP_LIMIT: usize = 256;

struct Member {
    statements: QueryBuilder<'static, Sqlite>,
    done: oneshot::Sender<CoreResult<()>>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Member>,
    running: bool,
}

#[derive(Default)]
pub struct GroupCommit {
    queue: Mutex<Queue>,
}

impl GroupCommit {
    /// Runs `statements` (a member's savepoint-wrapped writes) in the next group on `pool`
    /// and answers once that group has committed or the member has failed.
    pub(super) async fn commit(
        self: &Arc<Self>,
        pool: &Pool<Sqlite>,
        statements: QueryBuilder<'static, Sqlite>,
    ) -> CoreResult<()> {
        let (done, answer) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.waiting.push(Member { statements, done });
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            tokio::spawn(Arc::clone(self).run(pool.clone()));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(CoreError::internal("the SQLite writer stopped")))
    }

    /// Runs groups until nobody is waiting.
    async fn run(self: Arc<Self>, pool: Pool<Sqlite>) {
        loop {
            let members = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                if queue.waiting.is_empty() {
                    queue.running = false;
                    return;
                }
                let take = queue.waiting.len().min(GROUP_LIMIT);
                queue.waiting.drain(..take).collect::<Vec<_>>()
            };
            run_group(&pool, members).await;
        }
    }
}

async fn run_group(pool: &Pool<Sqlite>, members: Vec<Member>) {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(members.into_iter().map(|m| m.done), e),
    };
    let mut committed = Vec::with_capacity(members.len());
    for mut member in members {
        match member.statements.build().execute(&mut *tx).await {
            Ok(_) => committed.push(member.done),
            Err(e) => {
                // Only this member's writes go. If SQLite already rolled the whole
                // transaction back (a full disk, an I/O error), the savepoint is gone too,
                // and so is everybody's work: all are told.
                if let Err(undo) = sqlx::query(MEMBER_UNDO).execute(&mut *tx).await {
                    let _ = member.done.send(Err(db_err(e)));
                    return fail_all(committed, undo);
                }
                let _ = member.done.send(Err(db_err(e)));
            }
        }
    }
    match tx.commit().await {
        Ok(()) => {
            for done in committed {
                let _ = done.send(Ok(()));
            }
        }
        Err(e) => fail_all(committed, e),
    }
}

fn fail_all(
    members: impl IntoIterator<Item = oneshot::Sender<CoreResult<()>>>,
    e: impl std::fmt::Display,
) {
    let message = e.to_string();
    for done in members {
        let _ = done.send(Err(CoreError::internal(format!(
            "the write was not committed: {message}"
        ))));
    }
}

#[cfg(test)]
mod tests {
    use crate::events::{EventType, NewEvent};
    use crate::testing::{at, event, event_ids, test_core};

    /// On both backends: a `begin_writes` transaction whose second write fails leaves
    /// nothing of its first, while one committed beside it (in the same group on SQLite)
    /// is stored; a write that reads (here the event's seq) takes the writer and still
    /// sees its own earlier writes.
    #[tokio::test]
    async fn a_member_that_fails_midway_leaves_nothing_and_its_neighbours_commit() {
        let t = test_core(|_| {}).await;
        let taken = event(1);
        let mut tx = t.core.store().begin_writes().await.unwrap();
        tx.insert_events(std::slice::from_ref(&taken))
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let (first, second) = (event(2), event(3));
        let failing = async {
            let mut tx = t.core.store().begin_writes().await?;
            tx.insert_events(std::slice::from_ref(&first)).await?;
            tx.insert_events(std::slice::from_ref(&taken)).await?;
            tx.commit().await
        };
        let neighbour = async {
            let mut tx = t.core.store().begin_writes().await?;
            tx.insert_events(std::slice::from_ref(&second)).await?;
            tx.commit().await
        };
        let (failed, committed) = tokio::join!(failing, neighbour);
        assert!(failed.is_err(), "a duplicate event id was stored");
        committed.unwrap();

        let mut tx = t.core.store().begin_writes().await.unwrap();
        let third = event(4);
        tx.insert_events(std::slice::from_ref(&third))
            .await
            .unwrap();
        assert!(tx.event_seq(&third.id).await.unwrap() > 0);
        let stored = event_ids(&mut tx).await;
        tx.commit().await.unwrap();
        assert_eq!(stored, [taken.id, second.id, third.id]);
    }

    /// A batch's multi-row chunks are not held back: a transaction writing 5,000 events
    /// never holds more than a few rows' worth of pending SQL (its memory, and the shapes
    /// sqlx caches per connection, stay what they were before deferring), and all of them
    /// are stored; so too in a write-only transaction (held for one statement on
    /// PostgreSQL).
    #[tokio::test]
    async fn big_writes_go_at_once_and_are_all_stored() {
        let t = test_core(|_| {}).await;
        for write_only in [false, true] {
            let events: Vec<NewEvent> = (0..5_000)
                .map(|n| {
                    NewEvent::new(
                        EventType::UserCreated,
                        at(n),
                        Some("d"),
                        Some("i"),
                        serde_json::json!({ "n": n }),
                    )
                })
                .collect();
            let store = t.core.store();
            let mut tx = if write_only {
                store.begin_writes().await.unwrap()
            } else {
                store.begin().await.unwrap()
            };
            for chunk in events.chunks(2_500) {
                tx.insert_events(chunk).await.unwrap();
                let held = match &tx.conn {
                    super::super::TxConn::Sqlite(sqlite) => {
                        sqlite.pending.as_ref().map_or(0, |p| p.sql().len())
                    }
                    super::super::TxConn::Postgres(pg) => pg.held_sql(),
                };
                assert!(held < 64 * 1024, "{held} bytes of SQL held back");
            }
            tx.commit().await.unwrap();
            let mut tx = store.begin().await.unwrap();
            let stored = tx.events_between(0, i64::MAX, 20_000).await.unwrap();
            tx.commit().await.unwrap();
            let n = if write_only { 10_000 } else { 5_000 };
            assert_eq!(stored.len(), n, "write-only: {write_only}");
        }
    }
}
