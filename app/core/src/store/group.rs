//! Group commit on the SQLite writer (issue 19).
//!
//! SQLite has one writer connection, and every statement sqlx sends it is a round trip to
//! the connection's worker thread while all other writers wait. A transaction that only
//! writes (`Store::begin_writes`, e.g. a registration: its user, event, token family,
//! refresh token and access record) never needs the connection before its commit: its
//! statements are held in the transaction (`SqliteTx`) and handed here at commit.
//!
//! Whoever commits while no group is running spawns one. The group takes every transaction
//! waiting at that moment and runs them inside one database transaction, then commits once
//! and tells each member it committed. So each member is still atomic and acknowledged only
//! after the commit that made it durable; what a member saves is its own BEGIN and COMMIT
//! (with the WAL frames of the pages every member touches: counters, index edges).
//!
//! First the group runs joined: members whose SQL is the same (registrations, refreshes)
//! go together as one multi-statement call per batch of up to `JOINED_LIMIT`, without
//! savepoints, so a batch is one hand-off to the connection's thread and SQLite copies no
//! page into a savepoint journal. Members are independent (each only writes, none is
//! answered before the COMMIT), so the order they run in within a group is free. If any
//! statement fails, the whole group is rolled back and run again one member at a time,
//! each in its own savepoint and one call each: a member that fails is rolled back to its
//! savepoint and told its error, the others go on, as before. The group runs in its own
//! task, so a client that goes away cannot cut it short for the others.

use std::sync::Arc;

use sqlx::sqlite::SqliteQueryResult;
use sqlx::{Sqlite, SqliteConnection};
use tokio::sync::oneshot;

use super::db_err;
use super::groups::Groups;
use super::pool::Pool;
use super::script::{self, Script};
use crate::error::{CoreError, CoreResult};

/// The savepoint each member runs in when a group runs one member at a time
/// (`one_by_one`).
const MEMBER_SAVEPOINT: &str = "SAVEPOINT tx_writes; ";
const MEMBER_RELEASE: &str = "; RELEASE tx_writes";
const MEMBER_UNDO: &str = "ROLLBACK TO tx_writes; RELEASE tx_writes";

/// Members joined in one call at most. A run of members with the same SQL is cut into
/// batches of 32, 16, 8, 4, 2 and 1, so the connection's statement cache holds at most six
/// joined shapes per kind of write, each of at most 32 members' statements.
const JOINED_LIMIT: usize = 32;

/// Members per group at most: bounds the time the writer is held and the work a failed
/// commit throws away.
const GROUP_LIMIT: usize = 256;

struct Member {
    statements: Script,
    done: oneshot::Sender<CoreResult<()>>,
}

#[derive(Default)]
pub struct GroupCommit {
    groups: Arc<Groups<Member>>,
}

impl GroupCommit {
    /// Runs `statements` (a transaction's held writes) in the next group on `pool`
    /// and answers once that group has committed or the member has failed.
    pub(super) async fn commit(&self, pool: &Pool<Sqlite>, statements: Script) -> CoreResult<()> {
        let (done, answer) = oneshot::channel();
        let pool = pool.clone();
        self.groups
            .submit(Member { statements, done }, GROUP_LIMIT, move |members| {
                run_group(pool.clone(), members)
            });
        answer
            .await
            .unwrap_or_else(|_| Err(CoreError::internal("the SQLite writer stopped")))
    }
}

async fn run_group(pool: Pool<Sqlite>, members: Vec<Member>) {
    let batches = batches(members);
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(batches.into_iter().flatten().map(|m| m.done), e),
    };
    for batch in &batches {
        if run_joined(&mut tx, batch).await.is_err() {
            // Someone's write failed, and which one is not known: nothing of the group
            // stays, and it runs again one member at a time.
            let _ = tx.rollback().await;
            return one_by_one(&pool, batches.into_iter().flatten()).await;
        }
    }
    let dones = batches.into_iter().flatten().map(|m| m.done);
    answer(dones, tx.commit().await);
}

/// Runs a batch's writes as one call, without the members' savepoints.
async fn run_joined(tx: &mut SqliteConnection, batch: &[Member]) -> Result<(), sqlx::Error> {
    let mut sql = String::new();
    for member in batch {
        if !sql.is_empty() {
            sql.push_str("; ");
        }
        sql.push_str(member.statements.sql());
    }
    let arguments = script::arguments_of(batch.iter().map(|m| &m.statements))?;
    sqlx::query_with(&sql, arguments).execute(tx).await?;
    Ok(())
}

/// Runs a member's writes as one call in their own savepoint, so that if one fails they
/// can all be undone (`MEMBER_UNDO`) and the transaction around them goes on.
async fn in_savepoint(
    mut statements: Script,
    conn: &mut SqliteConnection,
) -> Result<SqliteQueryResult, sqlx::Error> {
    statements.enclose(MEMBER_SAVEPOINT, MEMBER_RELEASE);
    statements.execute(conn).await
}

/// Runs `members` in one transaction, each in its savepoint and one call each: a member
/// that fails is rolled back to its savepoint and told its error, the others commit.
async fn one_by_one(pool: &Pool<Sqlite>, mut members: impl Iterator<Item = Member>) {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(members.map(|m| m.done), e),
    };
    let mut committed = Vec::new();
    while let Some(Member { statements, done }) = members.next() {
        match in_savepoint(statements, &mut tx).await {
            Ok(_) => committed.push(done),
            Err(e) => {
                // Only this member's writes go. If SQLite already rolled the whole
                // transaction back (a full disk, an I/O error), the savepoint is gone too,
                // and so is everybody's work: all are told.
                let undone = sqlx::query(MEMBER_UNDO).execute(&mut *tx).await;
                let _ = done.send(Err(db_err(e)));
                if let Err(undo) = undone {
                    let rest = members.map(|m| m.done);
                    return fail_all(committed.into_iter().chain(rest), undo);
                }
            }
        }
    }
    answer(committed, tx.commit().await);
}

/// The group's members, those with the same SQL together (in the order each kind first
/// arrived) and cut into batches whose sizes are powers of two up to `JOINED_LIMIT`.
fn batches(members: Vec<Member>) -> Vec<Vec<Member>> {
    let mut kinds: Vec<Vec<Member>> = Vec::new();
    for member in members {
        let sql = member.statements.sql();
        match kinds.iter_mut().find(|k| k[0].statements.sql() == sql) {
            Some(kind) => kind.push(member),
            None => kinds.push(vec![member]),
        }
    }
    let mut batches = Vec::new();
    for kind in kinds {
        let mut left = kind.len();
        let mut kind = kind.into_iter();
        while left > 0 {
            let size = 1 << left.min(JOINED_LIMIT).ilog2();
            batches.push(kind.by_ref().take(size).collect());
            left -= size;
        }
    }
    batches
}

/// Tells `members` how the COMMIT that was to make their writes durable went.
fn answer(
    members: impl IntoIterator<Item = oneshot::Sender<CoreResult<()>>>,
    committed: Result<(), sqlx::Error>,
) {
    match committed {
        Ok(()) => {
            for done in members {
                let _ = done.send(Ok(()));
            }
        }
        Err(e) => fail_all(members, e),
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

    /// Eight write-only transactions with the same SQL commit in one group, run joined in
    /// one call; the one whose event id is taken fails alone (the group is undone and run
    /// again member by member), the other seven are stored, a hostile one's text as text.
    /// On PostgreSQL each is its own statement, with the same outcome.
    #[tokio::test]
    async fn a_failing_member_of_a_joined_batch_fails_alone() {
        let t = test_core(|_| {}).await;
        let taken = event(100);
        let mut tx = t.core.store().begin_writes().await.unwrap();
        tx.insert_events(std::slice::from_ref(&taken))
            .await
            .unwrap();
        tx.commit().await.unwrap();

        // Member 2's text tries to end the statement it is bound into: it stays a value.
        let hostile = NewEvent::new(
            EventType::UserCreated,
            at(2),
            Some("d'); DROP TABLE events; --"),
            Some("i"),
            serde_json::json!({ "n": "'; DELETE FROM events; --" }),
        );
        let events: Vec<NewEvent> = (0..8)
            .map(|n| match n {
                2 => hostile.clone(),
                5 => taken.clone(),
                n => event(n),
            })
            .collect();
        let outcomes = futures::future::join_all(events.iter().map(|e| async {
            let mut tx = t.core.store().begin_writes().await?;
            tx.insert_events(std::slice::from_ref(e)).await?;
            tx.commit().await
        }))
        .await;
        let failed: Vec<usize> = (0..8).filter(|&n| outcomes[n].is_err()).collect();
        assert_eq!(failed, [5], "{outcomes:?}");

        let mut tx = t.core.store().begin().await.unwrap();
        let rows = tx.events_between(0, i64::MAX, 100).await.unwrap();
        tx.commit().await.unwrap();
        let kept = rows.iter().find(|r| r.id == hostile.id).unwrap();
        assert_eq!(kept.device_token, hostile.device_token);
        let mut stored: Vec<String> = rows.into_iter().map(|r| r.id).collect();
        stored.sort();
        let mut expected: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
        expected.sort();
        expected.dedup();
        assert_eq!(stored, expected);
    }

    /// Members with the same SQL are batched together, in powers of two up to 32, each
    /// kind in the order it first arrived.
    #[test]
    fn batches_join_the_same_sql_in_powers_of_two() {
        let member = |sql: &str| {
            let mut statements = super::Script::default();
            statements.push(sql);
            super::Member {
                statements,
                done: tokio::sync::oneshot::channel().0,
            }
        };
        let mut members: Vec<_> = (0..45).map(|_| member("a")).collect();
        members.insert(3, member("b"));
        members.push(member("b"));
        members.push(member("c"));
        let batches = super::batches(members);
        let shape: Vec<(String, usize)> = batches
            .iter()
            .map(|b| (b[0].statements.sql().to_string(), b.len()))
            .collect();
        let expected = [("a", 32), ("a", 8), ("a", 4), ("a", 1), ("b", 2), ("c", 1)];
        assert_eq!(shape, expected.map(|(s, n)| (s.to_string(), n)));
        assert!(batches.iter().all(|b| b
            .iter()
            .all(|m| m.statements.sql() == b[0].statements.sql())));
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
