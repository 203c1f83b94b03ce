//! One statement per write-only transaction on PostgreSQL (issue 19).
//!
//! A transaction on PostgreSQL is a round trip per statement plus BEGIN and COMMIT: a
//! registration was eight (its instance confirmed, its user, event, token family, refresh
//! token and access record), a refresh on the usual path seven. A transaction begun with
//! `Store::begin_writes` that only writes rows nobody reads back in it is instead held here
//! and sent at commit as **one** statement of data-modifying CTEs, committed on its own:
//!
//! ```sql
//! WITH c0 AS (SELECT tus_expect(EXISTS (...), 'the instance changed') AS ok),
//!      w1 AS (INSERT INTO users ...), w2 AS (INSERT INTO events ...), ...
//! SELECT c0.ok FROM c0
//! ```
//!
//! One statement is atomic: any error (a unique violation, a failed check) writes nothing.
//! The checks (migration 0029's `tus_expect`) are the main query, so PostgreSQL runs them,
//! and the writes they name, before the other writes, as SQLite's deferred checks come
//! first.
//!
//! Every sub-statement sees the database as it was when the statement began, not the
//! others' writes, so a statement that reads (or changes) rows of a table an earlier one
//! wrote cannot join them: it says which tables it reads, and then what is held goes first,
//! in a transaction begun for it, and the rest follows in that transaction. Reading through
//! the transaction (`on_tx!`) does the same. A transaction begun with `Store::begin` runs
//! each statement at once, as before.

use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::db_err;
use super::pool::Pool;
use crate::error::CoreResult;

/// Past this much SQL held, what is held goes first (as `SqliteTx::holds_much`): a big
/// transaction never holds all its rows twice, and the statement cache keeps few shapes.
const FUSE_SQL_BYTES: usize = 16 * 1024;

pub struct PgTx {
    pool: Pool<Postgres>,
    tx: Option<sqlx::Transaction<'static, Postgres>>,
    /// `None`: every statement runs at once (`Store::begin`).
    held: Option<Held>,
}

#[derive(Default)]
struct Held {
    /// `WITH w0 AS (...), c1 AS (...)`, or nothing yet.
    query: Option<QueryBuilder<'static, Postgres>>,
    /// The sub-statements named so far (`w<n>`, `c<n>`), sent or not.
    named: usize,
    /// The tables the held writes change.
    written: Vec<&'static str>,
    /// The held checks, by name.
    checks: Vec<String>,
}

impl Held {
    /// The next sub-statement's builder, named `<prefix><n>` and opened.
    fn open(&mut self, prefix: &str) -> (String, &mut QueryBuilder<'static, Postgres>) {
        let name = format!("{prefix}{}", self.named);
        self.named += 1;
        let query = match &mut self.query {
            Some(query) => {
                query.push(", ");
                query
            }
            empty => empty.insert(QueryBuilder::new("WITH ")),
        };
        query.push(&name).push(" AS (");
        (name, query)
    }

    /// What is held, as one statement, and nothing held after.
    fn take(&mut self) -> Option<QueryBuilder<'static, Postgres>> {
        let mut query = self.query.take()?;
        self.written.clear();
        let checks = std::mem::take(&mut self.checks);
        if checks.is_empty() {
            query.push(" SELECT true");
        } else {
            query.push(" SELECT ").push(
                checks
                    .iter()
                    .map(|c| format!("{c}.ok"))
                    .collect::<Vec<_>>()
                    .join(" AND "),
            );
            query.push(" FROM ").push(checks.join(", "));
        }
        Some(query)
    }

    fn holds_much(&self) -> bool {
        self.query
            .as_ref()
            .is_some_and(|q| q.sql().len() > FUSE_SQL_BYTES)
    }
}

impl PgTx {
    /// A transaction begun at once (`Store::begin`): statements run as they come.
    pub(super) fn begun(pool: Pool<Postgres>, tx: sqlx::Transaction<'static, Postgres>) -> Self {
        Self {
            pool,
            tx: Some(tx),
            held: None,
        }
    }

    /// A write-only transaction (`Store::begin_writes`): nothing is sent before it reads or
    /// commits.
    pub(super) fn writes(pool: Pool<Postgres>) -> Self {
        Self {
            pool,
            tx: None,
            held: Some(Held::default()),
        }
    }

    /// Whether statements are held for one statement at commit.
    pub(super) fn holds(&self) -> bool {
        self.held.is_some()
    }

    /// The connection, once what is held has run; the transaction begins here if it has
    /// not yet.
    pub(super) async fn conn(&mut self) -> CoreResult<&mut PgConnection> {
        let tx = match &mut self.tx {
            Some(tx) => tx,
            empty => empty.insert(self.pool.begin().await?),
        };
        if let Some(query) = self.held.as_mut().and_then(Held::take) {
            let mut query = query;
            query.build().execute(&mut **tx).await.map_err(db_err)?;
        }
        Ok(&mut **tx)
    }

    /// Runs the statement `build` writes (into a builder that starts empty; binds own their
    /// values), which changes `writes` and reads (or changes) rows of `reads`: held for the
    /// one statement if this transaction holds (`hold`), otherwise at once.
    pub(super) async fn statement(
        &mut self,
        writes: &'static str,
        reads: &[&str],
        build: impl FnOnce(&mut QueryBuilder<'static, Postgres>),
    ) -> CoreResult<()> {
        if self.holds() {
            return self.hold(writes, reads, build).await.map(|_| ());
        }
        let mut query = QueryBuilder::new("");
        build(&mut query);
        let conn = self.conn().await?;
        query
            .build()
            .execute(conn)
            .await
            .map(|_| ())
            .map_err(db_err)
    }

    /// Holds the statement `build` writes, as `statement`; answers its name, which a check
    /// may use (`expect`). Only for a transaction that holds.
    pub(super) async fn hold(
        &mut self,
        writes: &'static str,
        reads: &[&str],
        build: impl FnOnce(&mut QueryBuilder<'static, Postgres>),
    ) -> CoreResult<String> {
        let flush = self.held.as_ref().is_some_and(|held| {
            // It would not see what is held: that goes first.
            held.holds_much() || reads.iter().any(|r| held.written.contains(r))
        });
        if flush {
            self.conn().await?;
        }
        let held = self.held_mut()?;
        let (name, query) = held.open("w");
        build(query);
        query.push(")");
        if !held.written.contains(&writes) {
            held.written.push(writes);
        }
        Ok(name)
    }

    fn held_mut(&mut self) -> CoreResult<&mut Held> {
        self.held.as_mut().ok_or_else(|| {
            crate::error::CoreError::internal("a held write in a transaction that holds none")
        })
    }

    /// Holds a check: `expr` (a boolean SQL expression `build` writes, which may name held
    /// statements) must be true when the statement runs, or it fails with `message` and
    /// writes nothing (matched in `store::db_err`). Like every held statement it reads the
    /// database as the statement began, not what is held with it. Only for a transaction
    /// that holds.
    pub(super) fn expect(
        &mut self,
        build: impl FnOnce(&mut QueryBuilder<'static, Postgres>),
        message: &'static str,
    ) -> CoreResult<()> {
        let held = self.held_mut()?;
        let (name, query) = held.open("c");
        query.push("SELECT tus_expect(");
        build(query);
        query.push(", ").push_bind(message).push(") AS ok)");
        held.checks.push(name);
        Ok(())
    }

    /// The SQL held now, in bytes.
    #[cfg(test)]
    pub(super) fn held_sql(&self) -> usize {
        self.held
            .as_ref()
            .and_then(|h| h.query.as_ref())
            .map_or(0, |q| q.sql().len())
    }

    pub(super) async fn commit(mut self) -> CoreResult<()> {
        let held = self.held.as_mut().and_then(Held::take);
        match (self.tx.take(), held) {
            (None, None) => Ok(()),
            (None, Some(mut query)) => {
                // One statement commits on its own.
                let mut conn = self.pool.acquire().await?;
                query
                    .build()
                    .execute(&mut *conn)
                    .await
                    .map(|_| ())
                    .map_err(db_err)
            }
            (Some(mut tx), held) => {
                if let Some(mut query) = held {
                    query.build().execute(&mut *tx).await.map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tus_wire::model::{MobileDeviceInput, RegisterRequest};

    use crate::testing::{at, event, event_ids, fleet, test_core};
    use crate::RequestMeta;

    /// On both backends: a registration's user and its device, written after it as an
    /// UPDATE of that user, are both stored. On PostgreSQL the update reads a table a held
    /// statement wrote, so what is held goes first; held with it, the update would see no
    /// user and change nothing.
    #[tokio::test]
    async fn a_write_that_reads_what_is_held_sees_it() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        let request = RegisterRequest {
            mobile_device: Some(MobileDeviceInput {
                sdk_version: Some("4.2.1".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let meta = RequestMeta::default();
        let c = t
            .core
            .register(at(1), &i.credentials(), request, &meta)
            .await
            .unwrap();
        let token = c.device_token.unwrap().to_string();
        let row = t.core.store().find_user(&token).await.unwrap().unwrap();
        assert_eq!(row.sdk_version.as_deref(), Some("4.2.1"));
    }

    /// On both backends: a check of a write-only transaction that fails at commit leaves
    /// nothing of the writes held with it, and tells which check failed; the same writes
    /// with a check that holds are stored.
    #[tokio::test]
    async fn a_failed_check_leaves_nothing_of_the_writes_held_with_it() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        let stored = || async {
            let mut tx = t.core.store().begin().await.unwrap();
            let ids = event_ids(&mut tx).await;
            tx.commit().await.unwrap();
            ids
        };
        let before = stored().await;
        let mut stale = i.clone();
        stale.revision -= 1;
        let refused = event(1);
        let mut tx = t.core.store().begin_writes().await.unwrap();
        tx.insert_events(std::slice::from_ref(&refused))
            .await
            .unwrap();
        tx.confirm_instance(&stale).await.unwrap();
        let err = tx.commit().await.unwrap_err();
        assert!(crate::instances::is_instance_changed(&err), "{err:?}");
        assert_eq!(stored().await, before);

        let kept = event(2);
        let mut tx = t.core.store().begin_writes().await.unwrap();
        tx.insert_events(std::slice::from_ref(&kept)).await.unwrap();
        tx.confirm_instance(&i).await.unwrap();
        tx.commit().await.unwrap();
        let after = stored().await;
        assert!(after.contains(&kept.id) && !after.contains(&refused.id));
    }
}
