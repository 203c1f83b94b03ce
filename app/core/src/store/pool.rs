//! A connection pool that counts the tasks waiting for it.
//!
//! sqlx reports a pool's open and idle connections but not its queue, and a queue is what
//! an operator needs to see when the database, not the CPU, is what requests wait for.
//! Every connection the store takes is therefore taken here (`acquire`, `begin`), which
//! counts the takers in the queue while they wait and adds up the time they waited; the
//! sqlx pool itself is reached only for what takes no connection (`usage`, `close`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Database, Transaction};

use super::{db_err, PoolUsage};
use crate::error::CoreResult;

pub struct Pool<DB: Database> {
    pool: sqlx::Pool<DB>,
    queue: Arc<Queue>,
}

impl<DB: Database> Clone for Pool<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            queue: Arc::clone(&self.queue),
        }
    }
}

#[derive(Default)]
struct Queue {
    waiting: AtomicUsize,
    waited_nanos: AtomicU64,
}

/// One taker in the queue: it leaves when dropped, whether it got its connection, failed
/// (a timeout) or was cancelled (a client that went away).
struct InQueue<'a> {
    queue: &'a Queue,
    since: Instant,
}

impl<'a> InQueue<'a> {
    fn join(queue: &'a Queue) -> Self {
        queue.waiting.fetch_add(1, Ordering::Relaxed);
        Self {
            queue,
            since: Instant::now(),
        }
    }
}

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        let waited = u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.queue.waited_nanos.fetch_add(waited, Ordering::Relaxed);
        self.queue.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A pooled connection idle for less than this is handed out as it is; one idle for longer
/// is pinged first (and replaced if that fails).
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Every pool's options start here. sqlx's default pings every idle connection before
/// handing it out: a round trip per acquire (to the SQLite connection's worker thread, or
/// to the PostgreSQL server) although a connection used a moment ago is alive. Under load,
/// where a request acquires two or three times, those pings were a measurable part of the
/// token path (issue 19); a connection left idle still gets one.
pub(crate) fn pool_options<DB: Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

impl<DB: Database> Pool<DB> {
    pub(crate) fn new(pool: sqlx::Pool<DB>) -> Self {
        Self {
            pool,
            queue: Arc::default(),
        }
    }

    /// A connection, once one is free (or the pool's acquire timeout has passed).
    pub(crate) async fn acquire(&self) -> CoreResult<PoolConnection<DB>> {
        let _in_queue = InQueue::join(&self.queue);
        self.pool.acquire().await.map_err(db_err)
    }

    /// A transaction on a connection taken as `acquire` takes it.
    pub(crate) async fn begin(&self) -> CoreResult<Transaction<'static, DB>> {
        let conn = self.acquire().await?;
        // What `sqlx::Pool::begin` does with the connection it takes itself.
        Transaction::begin(conn, None).await.map_err(db_err)
    }

    /// Its connections and its queue now (`Store::pool_usage`), under the name `pool`.
    pub(crate) fn usage(&self, pool: &'static str) -> PoolUsage {
        PoolUsage {
            pool,
            open: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
            waiting: self.queue.waiting.load(Ordering::Relaxed),
            waited: Duration::from_nanos(self.queue.waited_nanos.load(Ordering::Relaxed)),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::store::scratch::ScratchDatabase;
    use crate::store::{PoolSettings, Store};

    /// The reader pool's queue: `read` on SQLite, `main` on PostgreSQL.
    fn reader_queue(store: &Store) -> (usize, Duration) {
        let usage = &store.pool_usage()[0];
        (usage.waiting, usage.waited)
    }

    /// Takes the reader pool's one connection.
    async fn take_the_reader(store: &Store) -> Box<dyn std::any::Any + Send> {
        match store {
            Store::Sqlite { read, .. } => Box::new(read.acquire().await.unwrap()),
            Store::Postgres(pool, _) => Box::new(pool.acquire().await.unwrap()),
        }
    }

    async fn until_waiting(store: &Store, n: usize) {
        for _ in 0..1000 {
            if reader_queue(store).0 == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the queue never reached {n}: {:?}", reader_queue(store));
    }

    /// A store on a scratch database whose reader pool has one connection.
    async fn one_connection_store() -> (ScratchDatabase, Store) {
        let db = ScratchDatabase::from_env().await.unwrap();
        let settings = PoolSettings {
            max_connections: 1,
            ..PoolSettings::default()
        };
        let store = Store::connect(&db.url, &settings).await.unwrap();
        (db, store)
    }

    /// On both backends: while the reader pool's one connection is taken, a read waits and
    /// is counted as waiting; it leaves the count once it has the connection, and its wait
    /// is added up. A wait that is cancelled (a client that went away) leaves it too.
    #[tokio::test]
    async fn the_tasks_waiting_for_a_connection_are_counted_while_they_wait() {
        let (_db, store) = one_connection_store().await;
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
        assert_eq!(reader_queue(&store).0, 0);
        let waited_before = reader_queue(&store).1;

        let held = take_the_reader(&store).await;
        let read = tokio::spawn({
            let store = store.clone();
            async move { store.ping().await }
        });
        until_waiting(&store, 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(reader_queue(&store).0, 1, "the read is still waiting");
        drop(held);
        read.await.unwrap().unwrap();
        let (waiting, waited) = reader_queue(&store);
        assert_eq!(waiting, 0, "the read got its connection and left the queue");
        assert!(
            waited - waited_before >= Duration::from_millis(100),
            "the wait was not added up: {waited:?} after {waited_before:?}"
        );

        let held = take_the_reader(&store).await;
        let read = tokio::spawn({
            let store = store.clone();
            async move { store.ping().await }
        });
        until_waiting(&store, 1).await;
        read.abort();
        assert!(read.await.unwrap_err().is_cancelled());
        assert_eq!(
            reader_queue(&store).0,
            0,
            "the cancelled wait left the queue"
        );
        drop(held);
        store.close().await;
    }

    /// A pooled connection is handed out without a ping while it was used a moment ago;
    /// one idle past `PING_AFTER_IDLE` is pinged, and replaced when its server hung up. On
    /// PostgreSQL a connection can die under the pool (a server restart, an idle timeout in
    /// a proxy: here `pg_terminate_backend`); a SQLite connection is a file handle in this
    /// process and cannot, so the test has nothing to kill there.
    #[tokio::test]
    async fn a_connection_that_died_while_idle_is_replaced_before_it_is_handed_out() {
        let (db, store) = one_connection_store().await;
        let Store::Postgres(pool, _) = &store else {
            return;
        };
        let backend = |pool: super::Pool<sqlx::Postgres>| async move {
            let mut conn = pool.acquire().await.unwrap();
            sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
                .fetch_one(&mut *conn)
                .await
                .unwrap()
        };
        let first = backend(pool.clone()).await;
        assert_eq!(backend(pool.clone()).await, first, "one pooled connection");

        let mut other = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
            .await
            .unwrap();
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(first)
            .execute(&mut other)
            .await
            .unwrap();
        tokio::time::sleep(super::PING_AFTER_IDLE + Duration::from_millis(200)).await;
        let second = backend(pool.clone()).await;
        assert_ne!(second, first, "the dead connection was handed out");
        store.ping().await.unwrap();
        store.close().await;
    }
}
