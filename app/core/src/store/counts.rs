//! The counters the triggers keep in `user_counts`, and the daily series of the overview.

use sqlx::QueryBuilder;

use super::*;
use crate::activity::{window_start, DAY_MS};
use crate::types::{ActivityStatus, Flag};

/// Run by every PostgreSQL connection as it opens: claims the first free counter shard of 1
/// to 127 with a session advisory lock, which goes with the connection, and keeps it in the
/// setting `counter_shard()` reads (migration 0032), so no two open connections of any
/// replica add to the same counter row. Plain SQL, so it also runs on a database that the
/// migrations have not reached yet. All taken: no setting, and `counter_shard()` falls back
/// to the backend's pid.
pub(crate) const CLAIM_COUNTER_SHARD: &str = "DO $$ BEGIN
    FOR s IN 1..127 LOOP
        IF pg_try_advisory_lock(7301002, s) THEN
            PERFORM set_config('tus.counter_shard', s::text, false);
            RETURN;
        END IF;
    END LOOP;
END $$";

/// The shard-0 rows a fold writes from which it vacuums the counter tables: far more than
/// the counters of a few seconds' registrations and activity (a row per instance, status and
/// day), and what one batch of a fleet loaded with its own registration dates writes.
const FOLD_VACUUM_ROWS: i64 = 200;

/// Users by activity status (`ActivityStatus` order: Active, Lost, NoData, Deactivated).
pub type ActivityTotals = [i64; 4];

impl Store {
    /// PostgreSQL: adds the counter rows each connection keeps in its own shard into the
    /// shared shard 0 (migration 0026), without waiting for a row anybody holds, so readers
    /// sum about one row per counter. Returns the shard-0 rows written; SQLite keeps no
    /// shards (one writer), so there is nothing to fold.
    ///
    /// A fold that wrote `FOLD_VACUUM_ROWS` or more (a batch or an import spread over many
    /// days, not the day-to-day registrations) then vacuums the three counter tables, so the
    /// space of the shard rows it deleted is reused by the next ones instead of new pages.
    /// `SKIP_LOCKED`: a vacuum another replica or autovacuum is running is left to finish.
    pub async fn fold_counter_shards(&self) -> CoreResult<i64> {
        match self {
            Store::Sqlite { .. } => Ok(0),
            Store::Postgres(pool, _) => {
                let mut c = pool.acquire().await?;
                let written: i64 = sqlx::query_scalar("SELECT fold_counter_shards()")
                    .fetch_one(&mut *c)
                    .await
                    .map_err(db_err)?;
                if written >= FOLD_VACUUM_ROWS {
                    sqlx::query("VACUUM (SKIP_LOCKED) user_counts, activity_counts, active_days")
                        .persistent(false)
                        .execute(&mut *c)
                        .await
                        .map_err(db_err)?;
                }
                Ok(written)
            }
        }
    }

    /// Users matching `f` (instances, status, at most one flag: see
    /// `PageFilter::countable_by_counters`) registered on UTC days `from_day..to_day`
    /// (ms / 86400000), by the counters the triggers keep: no user row is read.
    pub async fn sum_user_counts(
        &self,
        f: &PageFilter,
        from_day: Option<i64>,
        to_day: Option<i64>,
    ) -> CoreResult<i64> {
        let counted = match f.flags.counter_columns().next() {
            None => "n".to_string(),
            Some((column, true)) => column.to_string(),
            Some((column, false)) => format!("n - {column}"),
        };
        on_pool!(self, |c| {
            let mut q = QueryBuilder::new(format!(
                "SELECT CAST(COALESCE(SUM({counted}), 0) AS BIGINT) FROM user_counts WHERE 1 = 1"
            ));
            if let Some(ids) = &f.instances {
                push_in_list!(q, "instance_id", ids);
            }
            if !f.include_inactive {
                q.push(" AND status = 'Active'");
            }
            if let Some(v) = &f.status {
                q.push(" AND status = ").push_bind(v.clone());
            }
            if let Some(d) = from_day {
                q.push(" AND day >= ").push_bind(d);
            }
            if let Some(d) = to_day {
                q.push(" AND day < ").push_bind(d);
            }
            q.build_query_scalar::<i64>()
                .fetch_one(c)
                .await
                .map_err(db_err)
        })
    }

    /// Users (active, deactivated), from the counters.
    pub async fn users_by_status(&self, instances: Option<&[String]>) -> CoreResult<(i64, i64)> {
        on_pool!(self, |c| {
            let mut q = QueryBuilder::new(
                "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'Active' THEN n ELSE 0 END), 0) AS BIGINT),
                    CAST(COALESCE(SUM(CASE WHEN status = 'Active' THEN 0 ELSE n END), 0) AS BIGINT)
             FROM user_counts WHERE 1 = 1",
            );
            if let Some(ids) = instances {
                push_in_list!(q, "instance_id", ids);
            }
            q.build_query_as::<(i64, i64)>()
                .fetch_one(c)
                .await
                .map_err(db_err)
        })
    }

    /// Users with tracking, logging, the SDK and real-time location on, from the counters
    /// (migration 0008), in `instances` (`None`: all).
    pub async fn flag_totals(&self, instances: Option<&[String]>) -> CoreResult<[i64; 4]> {
        let counters = Flag::ALL.map(|f| flag_columns(f).1.to_string());
        self.flag_sums("user_counts", counters, instances).await
    }

    /// The same four totals by reading every user: what the counters must always equal.
    #[cfg(test)]
    pub async fn flag_totals_by_scan(&self) -> CoreResult<[i64; 4]> {
        let on = Flag::ALL.map(|f| format!("CASE WHEN {} THEN 1 ELSE 0 END", flag_columns(f).0));
        self.flag_sums("users", on, None).await
    }

    async fn flag_sums(
        &self,
        table: &str,
        terms: [String; 4],
        instances: Option<&[String]>,
    ) -> CoreResult<[i64; 4]> {
        let sums: Vec<String> = terms
            .iter()
            .map(|t| format!("CAST(COALESCE(SUM({t}), 0) AS BIGINT)"))
            .collect();
        let sql = format!("SELECT {} FROM {table} WHERE 1 = 1", sums.join(", "));
        let (a, b, c2, d) = on_pool!(self, |c| {
            let mut q = QueryBuilder::new(sql.clone());
            if let Some(ids) = instances {
                push_in_list!(q, "instance_id", ids);
            }
            q.build_query_as::<(i64, i64, i64, i64)>()
                .fetch_one(c)
                .await
                .map_err(db_err)
        })?;
        Ok([a, b, c2, d])
    }

    /// Users per UTC day (ms / 86400000) from `first_day` on, by the counters, in
    /// `instances` (`None`: all).
    pub async fn registrations_per_day(
        &self,
        first_day: i64,
        instances: Option<&[String]>,
    ) -> CoreResult<Vec<(i64, i64)>> {
        self.per_day("user_counts", first_day, instances).await
    }

    /// The sums of `n` per day of a counter table (`user_counts`, `active_days`).
    async fn per_day(
        &self,
        table: &str,
        first_day: i64,
        instances: Option<&[String]>,
    ) -> CoreResult<Vec<(i64, i64)>> {
        on_pool!(self, |c| {
            let mut q = QueryBuilder::new(format!(
                "SELECT day, CAST(SUM(n) AS BIGINT) FROM {table} WHERE day >= "
            ));
            q.push_bind(first_day);
            if let Some(ids) = instances {
                push_in_list!(q, "instance_id", ids);
            }
            q.push(" GROUP BY day ORDER BY day");
            q.build_query_as::<(i64, i64)>()
                .fetch_all(c)
                .await
                .map_err(db_err)
        })
    }

    /// Access tokens issued since `since` (ms) by any of `sources` and still unexpired at
    /// `now`, per signing key (read through the `(source, issued_at)` index).
    pub async fn live_access_tokens_per_kid(
        &self,
        sources: &[&str],
        since: i64,
        now: i64,
    ) -> CoreResult<Vec<(String, i64)>> {
        on_pool!(self, |c| {
            let mut q = QueryBuilder::new(
                "SELECT kid, CAST(COUNT(*) AS BIGINT) FROM access_tokens WHERE kid IS NOT NULL",
            );
            push_in_list!(q, "source", sources);
            q.push(" AND issued_at >= ").push_bind(since);
            q.push(" AND expires_at > ").push_bind(now);
            q.push(" GROUP BY kid");
            q.build_query_as::<(String, i64)>()
                .fetch_all(c)
                .await
                .map_err(db_err)
        })
    }

    /// Access tokens of one source issued per UTC day in `[from, to)` (ms).
    pub async fn access_tokens_per_day(
        &self,
        source: &str,
        from: i64,
        to: i64,
    ) -> CoreResult<Vec<(i64, i64)>> {
        on_pool!(self, |c| sqlx::query_as::<_, (i64, i64)>(
            "SELECT issued_at / 86400000 AS day, COUNT(*) FROM access_tokens
             WHERE source = $1 AND issued_at >= $2 AND issued_at < $3
             GROUP BY issued_at / 86400000 ORDER BY day"
        )
        .bind(source)
        .bind(from)
        .bind(to)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    /// Users by activity status at `now` (ms), in `instances` (`None`: all), exact and
    /// without reading users beyond one day: the activity counters (users per instance,
    /// status and day of last activity) total every whole day; the day an instance's window
    /// starts in is counted directly through the activity index. Instances are taken by
    /// window length, so one window (the usual case) costs four small queries.
    pub async fn activity_totals(
        &self,
        instances: Option<&[String]>,
        now: i64,
    ) -> CoreResult<ActivityTotals> {
        let windows: Vec<(String, i64)> = on_pool!(self, |c| {
            let mut q =
                QueryBuilder::new("SELECT id, active_window_days FROM instances WHERE 1 = 1");
            if let Some(ids) = instances {
                push_in_list!(q, "id", ids);
            }
            q.build_query_as::<(String, i64)>()
                .fetch_all(c)
                .await
                .map_err(db_err)
        })?;
        let mut by_window: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
        for (id, days) in windows {
            by_window.entry(days).or_default().push(id);
        }
        let whole = by_window.len() == 1 && instances.is_none();
        let instance_column = self.activity_instance_column();
        let (mut active, mut seen, mut no_data, mut deactivated) = (0, 0, 0, 0);
        for (days, ids) in &by_window {
            let ids = (!whole).then_some(ids.as_slice());
            let start = window_start(now, *days);
            let first_day = start.div_euclid(DAY_MS);
            let (s, d, nd, whole_days) = on_pool!(self, |c| {
                let mut q = QueryBuilder::new(
                    "SELECT
                        CAST(COALESCE(SUM(CASE WHEN status = 'Active' AND day >= 0 THEN n ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN status <> 'Active' THEN n ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN status = 'Active' AND day = -1 THEN n ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN status = 'Active' AND day > ",
                );
                q.push_bind(first_day);
                q.push(" THEN n ELSE 0 END), 0) AS BIGINT) FROM activity_counts WHERE 1 = 1");
                if let Some(ids) = ids {
                    push_in_list!(q, "instance_id", ids);
                }
                q.build_query_as::<(i64, i64, i64, i64)>()
                    .fetch_one(c)
                    .await
                    .map_err(db_err)
            })?;
            let cut: i64 = on_pool!(self, |c| {
                active_in_part_of_a_day(start, (first_day + 1) * DAY_MS, ids, instance_column)
                    .build_query_scalar::<i64>()
                    .fetch_one(c)
                    .await
                    .map_err(db_err)
            })?;
            active += whole_days + cut;
            seen += s;
            no_data += nd;
            deactivated += d;
        }
        let mut totals = [0; 4];
        for (i, status) in ActivityStatus::ALL.iter().enumerate() {
            totals[i] = match status {
                ActivityStatus::Active => active,
                ActivityStatus::Lost => seen - active,
                ActivityStatus::NoData => no_data,
                ActivityStatus::Deactivated => deactivated,
            };
        }
        Ok(totals)
    }

    /// Drivers active on each UTC day from `first_day` on (each counted once a day), in
    /// `instances` (`None`: all).
    pub async fn active_per_day(
        &self,
        first_day: i64,
        instances: Option<&[String]>,
    ) -> CoreResult<Vec<(i64, i64)>> {
        self.per_day("active_days", first_day, instances).await
    }

    /// The same totals by reading every user and judging each (what the counters must
    /// always equal).
    #[cfg(test)]
    pub async fn activity_totals_by_scan(
        &self,
        instance: Option<&str>,
        now: i64,
    ) -> CoreResult<ActivityTotals> {
        let rows: Vec<(String, String, Option<i64>, i64)> = on_pool!(self, |c| {
            sqlx::query_as(
                "SELECT u.instance_id, u.status, u.last_activity_at, i.active_window_days
                 FROM users u JOIN instances i ON i.id = u.instance_id",
            )
            .fetch_all(c)
            .await
            .map_err(db_err)
        })?;
        let mut totals = [0; 4];
        for (id, status, last, days) in rows {
            if instance.is_some_and(|i| i != id) {
                continue;
            }
            let s = ActivityStatus::of(&status, last, days, now);
            totals[ActivityStatus::ALL.iter().position(|a| *a == s).unwrap()] += 1;
        }
        Ok(totals)
    }

    /// How `active_in_part_of_a_day` compares the instances. SQLite reads a day of activity
    /// only with the instances as a filter; PostgreSQL compares them inside the activity
    /// index, which holds `instance_id`, and so fetches only the instances' users (5 ms
    /// against 12 for a quarter of 10^6 users).
    fn activity_instance_column(&self) -> &'static str {
        match self {
            Store::Sqlite { .. } => INSTANCE_AS_FILTER,
            Store::Postgres(..) => "u.instance_id",
        }
    }
}

/// Active users whose last activity is in `[from, to)` (ms, within one day), in `instances`
/// (`None`: all) compared with `instance_column`: read through the activity index, a day's
/// activity at most. On SQLite the instances must only narrow the rows (`INSTANCE_AS_FILTER`):
/// through the instance index it read every user of an instance (460 ms for an Operator's
/// overview of 250,000 users).
fn active_in_part_of_a_day<'a, DB: sqlx::Database>(
    from: i64,
    to: i64,
    instances: Option<&'a [String]>,
    instance_column: &str,
) -> QueryBuilder<'a, DB>
where
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = QueryBuilder::new(format!(
        "SELECT COUNT(*) FROM users u WHERE {ACTIVITY_KEY} >= "
    ));
    q.push_bind(from);
    q.push(format!(" AND {ACTIVITY_KEY} < ")).push_bind(to);
    q.push(" AND u.status = 'Active'");
    if let Some(ids) = instances {
        push_in_list!(q, instance_column, ids);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fleet, test_core};

    /// The part of a day an activity total counts user by user is read through the activity
    /// index for an instance-scoped admin too. Through `(instance_id, date_created)`, SQLite
    /// read every user of the instance: an Operator's overview and activity-filtered lists
    /// took 430–490 ms at 10^6 users (`bash .ci/bench page`), against 2 ms unscoped.
    /// PostgreSQL compares the instances inside the activity index (`Index Cond` of
    /// `EXPLAIN ANALYZE` at 10^6 users: 2,455 rows fetched for one instance, 10,046 with the
    /// instances as a filter), and so keeps the plain column.
    #[tokio::test]
    async fn an_instance_scoped_activity_total_reads_one_day_of_activity() {
        let t = test_core(|_| {}).await;
        let store = t.core.store();
        let Store::Sqlite { read, .. } = store else {
            return;
        };
        let column = store.activity_instance_column();
        let ids = ["i".to_string(), "j".to_string()];
        for instances in [None, Some(&ids[..])] {
            let sql = active_in_part_of_a_day::<sqlx::Sqlite>(0, DAY_MS, instances, column)
                .sql()
                .to_string();
            let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&mut *read.acquire().await.unwrap())
                .await
                .unwrap()
                .iter()
                .map(|r| sqlx::Row::get::<String, _>(r, 3))
                .collect();
            assert_eq!(plan.len(), 1, "{plan:#?}");
            assert!(
                plan[0].contains("USING INDEX users_activity_sort_idx"),
                "{instances:?}: {plan:#?}"
            );
        }
    }

    /// PostgreSQL: the open connections of two replicas on one database each add to a
    /// counter shard of their own (migration 0032). Before, the shard came from the backend's
    /// pid modulo 15, and a pool of 16 connections, or two replicas' 32, put registrations
    /// on shared counter rows, where each waited for the other's commit. A connection that
    /// has no claim (here: its setting reset) falls back to shards no claim takes.
    #[tokio::test]
    async fn open_connections_of_two_replicas_never_share_a_counter_shard() {
        let t = test_core(|_| {}).await;
        let Store::Postgres(pool, _) = t.core.store() else {
            return;
        };
        let other = crate::testing::replica(&t, |_| {}).await;
        let Store::Postgres(other_pool, _) = other.store() else {
            unreachable!("a replica of a PostgreSQL core is on PostgreSQL");
        };
        let shard = || sqlx::query_scalar::<_, i16>("SELECT counter_shard()");
        let mut held = Vec::new();
        let mut shards = Vec::new();
        for p in [pool, other_pool] {
            for _ in 0..6 {
                let mut c = p.acquire().await.unwrap();
                shards.push(shard().fetch_one(&mut *c).await.unwrap());
                held.push(c);
            }
        }
        let mut distinct = shards.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            12,
            "two connections on one shard: {shards:?}"
        );
        assert!(
            shards.iter().all(|s| (1..=127).contains(s)),
            "every connection claimed a shard: {shards:?}"
        );

        let c = &mut held[0];
        sqlx::query("RESET tus.counter_shard")
            .execute(&mut **c)
            .await
            .unwrap();
        let fallback = shard().fetch_one(&mut **c).await.unwrap();
        assert!((128..=255).contains(&fallback), "{fallback}");
    }

    /// PostgreSQL (SQLite has one writer): two transactions that each register a user of
    /// one instance on one day both get through their insert while neither has committed,
    /// and the counters add up afterwards. Without migration 0026's shards the second
    /// waited for the first's counter row until `lock_timeout` ended it. Folding the shards
    /// leaves one row per counter and the same sums.
    #[tokio::test]
    async fn registrations_in_flight_together_do_not_wait_for_each_others_counters() {
        let t = test_core(|_| {}).await;
        let Store::Postgres(pool, _) = t.core.store() else {
            return;
        };
        let instance = fleet(&t).await;
        // Two connections open at once: each has a shard of its own (migration 0032).
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(pool.acquire().await.unwrap());
        }
        let register = |i: usize| {
            sqlx::query(
                "INSERT INTO users (device_token, instance_id, status, enable_tracking,
                 enable_logging, enabled, enable_real_time_location, date_created)
                 VALUES ($1, $2, 'Active', TRUE, FALSE, TRUE, FALSE, $3)",
            )
            .bind(format!("00000000-0000-4000-8000-00000000000{i}"))
            .bind(instance.id.to_string())
            .bind(1_700_000_060_000_i64)
        };
        // A first registration on the first connection, committed: its shard's row exists.
        register(0).execute(&mut *held[0]).await.unwrap();
        for (i, c) in held.iter_mut().enumerate() {
            sqlx::query("BEGIN").execute(&mut **c).await.unwrap();
            sqlx::query("SET LOCAL lock_timeout = '5s'")
                .execute(&mut **c)
                .await
                .unwrap();
            register(i + 1)
                .execute(&mut **c)
                .await
                .unwrap_or_else(|e| panic!("registration {i} waited for another's counters: {e}"));
        }
        // A fold meanwhile takes no row the two hold (the first one's counter row is updated,
        // so locked) and does not wait for them: without SKIP LOCKED it would wait for their
        // commits, which come only after it.
        let fold = t.core.store().fold_counter_shards();
        tokio::time::timeout(std::time::Duration::from_secs(60), fold)
            .await
            .expect("the fold waited for the registrations' counter rows")
            .unwrap();
        for c in held.iter_mut() {
            sqlx::query("COMMIT").execute(&mut **c).await.unwrap();
        }
        drop(held);

        let store = t.core.store();
        let rows = |sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&mut *pool.acquire().await.unwrap())
                .await
                .unwrap()
        };
        assert_eq!(
            rows("SELECT COUNT(*) FROM user_counts WHERE shard <> 0").await,
            2,
            "each connection's registrations added to its own shard"
        );
        assert!(store.fold_counter_shards().await.unwrap() > 0);
        assert_eq!(
            rows("SELECT COUNT(*) FROM user_counts WHERE shard <> 0").await,
            0
        );
        assert_eq!(
            rows("SELECT COUNT(*) FROM activity_counts WHERE shard <> 0").await,
            0
        );
        assert_eq!(
            rows("SELECT COUNT(*) FROM user_counts").await,
            1,
            "one row per counter"
        );
        assert_eq!(store.users_by_status(None).await.unwrap(), (3, 0));
        assert_eq!(
            store.flag_totals(None).await.unwrap(),
            store.flag_totals_by_scan().await.unwrap()
        );
        assert_eq!(store.flag_totals(None).await.unwrap(), [3, 0, 3, 0]);
    }

    /// PostgreSQL: a fold that took many shard rows makes their space reusable at once, so
    /// the next statements' shard rows go there instead of onto new pages. A fleet loaded in
    /// batches with its own registration dates (a seeding, an import) moves thousands of
    /// counter rows per batch; before, the counter tables grew by every batch's rows until
    /// autovacuum came by (busy with `users` after such a load), and the `bench page` seeding
    /// of 10^6 users left `user_counts` at 6,371 pages for 5,857 rows, which the overview
    /// and the activity-filtered pages read whole.
    #[tokio::test]
    async fn a_fold_of_many_rows_makes_their_space_reusable() {
        const DAY: i64 = 86_400_000;
        let t = test_core(|_| {}).await;
        let Store::Postgres(pool, _) = t.core.store() else {
            return;
        };
        let instance = fleet(&t).await;
        let pages = || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT pg_relation_size('user_counts') / current_setting('block_size')::bigint",
            )
            .fetch_one(&mut *pool.acquire().await.unwrap())
            .await
            .unwrap()
        };
        let mut after = Vec::new();
        for batch in 0..10 {
            // 600 users over 300 days: 300 counter rows in this connection's shard.
            sqlx::query(&format!(
                "INSERT INTO users (device_token, instance_id, status, enable_tracking,
                     enable_logging, enabled, enable_real_time_location, date_created)
                 SELECT 'b{batch}-' || g, $1, 'Active', TRUE, FALSE, TRUE, FALSE,
                        (g % 300) * {DAY}::bigint
                 FROM generate_series(1, 600) g"
            ))
            .bind(instance.id.to_string())
            .execute(&mut *pool.acquire().await.unwrap())
            .await
            .unwrap();
            assert!(t.core.store().fold_counter_shards().await.unwrap() >= 300);
            after.push(pages().await);
        }
        // Shard 0's 300 rows and one batch's 300 in a shard, at half a page's fill
        // (migration 0034): about 20 pages, whatever the number of batches.
        assert!(
            after[9] <= after[1] + 4,
            "user_counts grew batch by batch: {after:?} pages"
        );
        assert_eq!(
            t.core.store().flag_totals(None).await.unwrap(),
            t.core.store().flag_totals_by_scan().await.unwrap()
        );
    }
}
