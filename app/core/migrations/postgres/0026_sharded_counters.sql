-- Counter rows spread over shards, so that concurrent registrations and refreshes stop
-- queueing on one row. Every registration of a day added 1 to the same user_counts and
-- activity_counts row (instance, status, day) and every first refresh of a day to the same
-- active_days row; the row stayed locked until the transaction committed, so registrations
-- on PostgreSQL ran one at a time from their users insert to their commit (a profile of
-- Registration/Create under 32 clients: PostgreSQL waiting in XactLockTableWait, the CPUs
-- a quarter idle, 558 req/s). Each connection now adds to a shard of its own
-- (`counter_shard()`, 1 to 15, from its backend pid); readers already sum. A decrement is a
-- negative delta in the connection's shard, never an update of another shard's row.
-- `fold_counter_shards()`, run every few seconds by every replica, adds shards 1 to 15 into
-- shard 0, which no connection writes to, so readers sum about one row per counter (16 per
-- counter made the first users page of 10^6 users 4x slower). It takes only rows nobody
-- holds (SKIP LOCKED), so a registration never waits for it and two replicas folding at
-- once take different rows.
-- SQLite has one writer and no such queue: its counters stay unsharded.

LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE;

CREATE FUNCTION counter_shard() RETURNS SMALLINT LANGUAGE sql STABLE AS $$
    SELECT (1 + pg_backend_pid() % 15)::SMALLINT
$$;

-- Adds the counter rows of shards 1 to 15 into shard 0; returns the shard-0 rows written.
CREATE FUNCTION fold_counter_shards() RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    taken BIGINT;
    total BIGINT := 0;
BEGIN
    WITH taken AS (
        DELETE FROM user_counts WHERE ctid IN (
            SELECT ctid FROM user_counts WHERE shard <> 0 FOR UPDATE SKIP LOCKED)
        RETURNING instance_id, status, day, n, tracking, logging, sdk, real_time
    )
    INSERT INTO user_counts AS c
        (instance_id, status, day, shard, n, tracking, logging, sdk, real_time)
    SELECT instance_id, status, day, 0, SUM(n), SUM(tracking), SUM(logging), SUM(sdk),
           SUM(real_time)
    FROM taken GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET
        n = c.n + EXCLUDED.n, tracking = c.tracking + EXCLUDED.tracking,
        logging = c.logging + EXCLUDED.logging, sdk = c.sdk + EXCLUDED.sdk,
        real_time = c.real_time + EXCLUDED.real_time;
    GET DIAGNOSTICS taken = ROW_COUNT;
    total := total + taken;
    WITH taken AS (
        DELETE FROM activity_counts WHERE ctid IN (
            SELECT ctid FROM activity_counts WHERE shard <> 0 FOR UPDATE SKIP LOCKED)
        RETURNING instance_id, status, day, n
    )
    INSERT INTO activity_counts AS c (instance_id, status, day, shard, n)
    SELECT instance_id, status, day, 0, SUM(n) FROM taken GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    GET DIAGNOSTICS taken = ROW_COUNT;
    total := total + taken;
    WITH taken AS (
        DELETE FROM active_days WHERE ctid IN (
            SELECT ctid FROM active_days WHERE shard <> 0 FOR UPDATE SKIP LOCKED)
        RETURNING instance_id, day, n
    )
    INSERT INTO active_days AS d (instance_id, day, shard, n)
    SELECT instance_id, day, 0, SUM(n) FROM taken GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (instance_id, day, shard) DO UPDATE SET n = d.n + EXCLUDED.n;
    GET DIAGNOSTICS taken = ROW_COUNT;
    RETURN total + taken;
END $$;

ALTER TABLE user_counts ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE user_counts DROP CONSTRAINT user_counts_pkey,
    ADD PRIMARY KEY (instance_id, status, day, shard);
ALTER TABLE activity_counts ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE activity_counts DROP CONSTRAINT activity_counts_pkey,
    ADD PRIMARY KEY (instance_id, status, day, shard);
ALTER TABLE active_days ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE active_days DROP CONSTRAINT active_days_pkey,
    ADD PRIMARY KEY (instance_id, day, shard);

CREATE OR REPLACE FUNCTION users_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_counts AS c
        (instance_id, status, day, shard, n, tracking, logging, sdk, real_time)
    SELECT instance_id, status, date_created / 86400000, counter_shard(), COUNT(*),
           COUNT(*) FILTER (WHERE enable_tracking), COUNT(*) FILTER (WHERE enable_logging),
           COUNT(*) FILTER (WHERE enabled), COUNT(*) FILTER (WHERE enable_real_time_location)
    FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET
        n = c.n + EXCLUDED.n, tracking = c.tracking + EXCLUDED.tracking,
        logging = c.logging + EXCLUDED.logging, sdk = c.sdk + EXCLUDED.sdk,
        real_time = c.real_time + EXCLUDED.real_time;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION users_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_counts AS c
        (instance_id, status, day, shard, n, tracking, logging, sdk, real_time)
    SELECT instance_id, status, date_created / 86400000, counter_shard(), -COUNT(*),
           -COUNT(*) FILTER (WHERE enable_tracking), -COUNT(*) FILTER (WHERE enable_logging),
           -COUNT(*) FILTER (WHERE enabled), -COUNT(*) FILTER (WHERE enable_real_time_location)
    FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET
        n = c.n + EXCLUDED.n, tracking = c.tracking + EXCLUDED.tracking,
        logging = c.logging + EXCLUDED.logging, sdk = c.sdk + EXCLUDED.sdk,
        real_time = c.real_time + EXCLUDED.real_time;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION users_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_counts AS c
        (instance_id, status, day, shard, n, tracking, logging, sdk, real_time)
    SELECT instance_id, status, day, counter_shard(), SUM(n), SUM(t), SUM(l), SUM(s), SUM(r)
    FROM (
        SELECT o.instance_id, o.status, o.date_created / 86400000 AS day, -1 AS n,
               -(o.enable_tracking::int) AS t, -(o.enable_logging::int) AS l,
               -(o.enabled::int) AS s, -(o.enable_real_time_location::int) AS r
        FROM old_rows o JOIN new_rows w ON w.device_token = o.device_token
        WHERE (o.instance_id, o.status, o.date_created, o.enable_tracking, o.enable_logging,
               o.enabled, o.enable_real_time_location)
              IS DISTINCT FROM (w.instance_id, w.status, w.date_created, w.enable_tracking,
               w.enable_logging, w.enabled, w.enable_real_time_location)
        UNION ALL
        SELECT w.instance_id, w.status, w.date_created / 86400000, 1,
               w.enable_tracking::int, w.enable_logging::int, w.enabled::int,
               w.enable_real_time_location::int
        FROM old_rows o JOIN new_rows w ON w.device_token = o.device_token
        WHERE (o.instance_id, o.status, o.date_created, o.enable_tracking, o.enable_logging,
               o.enabled, o.enable_real_time_location)
              IS DISTINCT FROM (w.instance_id, w.status, w.date_created, w.enable_tracking,
               w.enable_logging, w.enabled, w.enable_real_time_location)
    ) moved GROUP BY 1, 2, 3
    HAVING SUM(n) <> 0 OR SUM(t) <> 0 OR SUM(l) <> 0 OR SUM(s) <> 0 OR SUM(r) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET
        n = c.n + EXCLUDED.n, tracking = c.tracking + EXCLUDED.tracking,
        logging = c.logging + EXCLUDED.logging, sdk = c.sdk + EXCLUDED.sdk,
        real_time = c.real_time + EXCLUDED.real_time;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION users_activity_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_counts AS c (instance_id, status, day, shard, n)
    SELECT instance_id, status, COALESCE(last_activity_at / 86400000, -1), counter_shard(),
           COUNT(*)
    FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION users_activity_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_counts AS c (instance_id, status, day, shard, n)
    SELECT instance_id, status, COALESCE(last_activity_at / 86400000, -1), counter_shard(),
           -COUNT(*)
    FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION users_activity_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_counts AS c (instance_id, status, day, shard, n)
    SELECT instance_id, status, day, counter_shard(), SUM(n) FROM (
        SELECT o.instance_id, o.status, COALESCE(o.last_activity_at / 86400000, -1) AS day,
               -1 AS n
        FROM old_rows o JOIN new_rows w ON w.device_token = o.device_token
        WHERE (o.instance_id, o.status, COALESCE(o.last_activity_at / 86400000, -1))
              IS DISTINCT FROM (w.instance_id, w.status, COALESCE(w.last_activity_at / 86400000, -1))
        UNION ALL
        SELECT w.instance_id, w.status, COALESCE(w.last_activity_at / 86400000, -1), 1
        FROM old_rows o JOIN new_rows w ON w.device_token = o.device_token
        WHERE (o.instance_id, o.status, COALESCE(o.last_activity_at / 86400000, -1))
              IS DISTINCT FROM (w.instance_id, w.status, COALESCE(w.last_activity_at / 86400000, -1))
    ) moved GROUP BY 1, 2, 3 HAVING SUM(n) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    INSERT INTO active_days AS d (instance_id, day, shard, n)
    SELECT w.instance_id, w.last_activity_at / 86400000, counter_shard(), COUNT(*)
    FROM old_rows o JOIN new_rows w ON w.device_token = o.device_token
    WHERE w.last_activity_at / 86400000 > COALESCE(o.last_activity_at / 86400000, -1)
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (instance_id, day, shard) DO UPDATE SET n = d.n + EXCLUDED.n;
    RETURN NULL;
END $$;
