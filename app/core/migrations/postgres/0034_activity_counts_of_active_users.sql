-- Activity counters count only users who were active (issue 19). `activity_counts` kept a row
-- per instance and status for day -1, "never active": every registration added to it and
-- every first login or refresh moved a user out of it, one upsert of a counter row each that
-- the users' own counters (`user_counts`) already make unnecessary: users never active are
-- the users counted there less those counted here. Readers now take NoData and Deactivated
-- from `user_counts` (`activity_totals`). What the triggers write for active users is the
-- same as before; a user without activity writes nothing here.

-- No registration or fold in between: the old day -1 rows go with the old triggers.
LOCK TABLE users, activity_counts IN SHARE ROW EXCLUSIVE MODE;
DELETE FROM activity_counts WHERE day < 0;

CREATE OR REPLACE FUNCTION users_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    one RECORD;
    taken INT := 0;
    shard_of SMALLINT;
BEGIN
    FOR one IN SELECT instance_id, status, date_created / 86400000 AS day,
                      enable_tracking::int AS t, enable_logging::int AS l, enabled::int AS e,
                      enable_real_time_location::int AS r,
                      COALESCE(last_activity_at / 86400000, -1) AS active_day
               FROM new_rows LOOP
        taken := taken + 1;
        EXIT WHEN taken > 1;
    END LOOP;
    IF taken = 1 THEN
        shard_of := counter_shard();
        INSERT INTO user_counts AS c
            (instance_id, status, day, shard, n, tracking, logging, sdk, real_time)
        VALUES (one.instance_id, one.status, one.day, shard_of, 1, one.t, one.l, one.e, one.r)
        ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET
            n = c.n + 1, tracking = c.tracking + EXCLUDED.tracking,
            logging = c.logging + EXCLUDED.logging, sdk = c.sdk + EXCLUDED.sdk,
            real_time = c.real_time + EXCLUDED.real_time;
        IF one.active_day >= 0 THEN
            INSERT INTO activity_counts AS c (instance_id, status, day, shard, n)
            VALUES (one.instance_id, one.status, one.active_day, shard_of, 1)
            ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET n = c.n + 1;
        END IF;
    ELSIF taken > 1 THEN
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
        INSERT INTO activity_counts AS c (instance_id, status, day, shard, n)
        SELECT instance_id, status, last_activity_at / 86400000, counter_shard(), COUNT(*)
        FROM new_rows WHERE last_activity_at IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION users_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was RECORD;
    now_is RECORD;
    olds INT := 0;
    news INT := 0;
    shard_of SMALLINT;
    counted BOOLEAN;
    active BOOLEAN;
BEGIN
    FOR was IN SELECT device_token, instance_id, status, date_created / 86400000 AS day,
                      enable_tracking::int AS t, enable_logging::int AS l, enabled::int AS e,
                      enable_real_time_location::int AS r,
                      COALESCE(last_activity_at / 86400000, -1) AS active_day
               FROM old_rows LOOP
        olds := olds + 1;
        EXIT WHEN olds > 1;
    END LOOP;
    FOR now_is IN SELECT device_token, instance_id, status, date_created / 86400000 AS day,
                         enable_tracking::int AS t, enable_logging::int AS l, enabled::int AS e,
                         enable_real_time_location::int AS r,
                         COALESCE(last_activity_at / 86400000, -1) AS active_day
                  FROM new_rows LOOP
        news := news + 1;
        EXIT WHEN news > 1;
    END LOOP;
    IF olds = 1 AND news = 1 AND was.device_token = now_is.device_token THEN
        -- A registration time moved within its day moves no counter.
        counted := (was.instance_id, was.status, was.day, was.t, was.l, was.e, was.r)
                   <> (now_is.instance_id, now_is.status, now_is.day, now_is.t, now_is.l,
                       now_is.e, now_is.r);
        -- A user never active is in no activity counter, whatever else moves.
        active := (was.active_day >= 0 OR now_is.active_day >= 0)
                  AND (was.instance_id, was.status, was.active_day)
                      <> (now_is.instance_id, now_is.status, now_is.active_day);
        IF counted OR active THEN
            shard_of := counter_shard();
        END IF;
        IF counted AND (was.instance_id, was.status, was.day)
                       = (now_is.instance_id, now_is.status, now_is.day) THEN
            -- The same counter row: only the flags moved.
            INSERT INTO user_counts AS c
                (instance_id, status, day, shard, n, tracking, logging, sdk, real_time)
            VALUES (now_is.instance_id, now_is.status, now_is.day, shard_of, 0,
                    now_is.t - was.t, now_is.l - was.l, now_is.e - was.e, now_is.r - was.r)
            ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET
                tracking = c.tracking + EXCLUDED.tracking,
                logging = c.logging + EXCLUDED.logging, sdk = c.sdk + EXCLUDED.sdk,
                real_time = c.real_time + EXCLUDED.real_time;
        ELSIF counted THEN
            INSERT INTO user_counts AS c
                (instance_id, status, day, shard, n, tracking, logging, sdk, real_time)
            SELECT * FROM (VALUES
                (was.instance_id, was.status, was.day, shard_of, -1,
                 -was.t, -was.l, -was.e, -was.r),
                (now_is.instance_id, now_is.status, now_is.day, shard_of, 1,
                 now_is.t, now_is.l, now_is.e, now_is.r)) moved
            ORDER BY 1, 2, 3
            ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET
                n = c.n + EXCLUDED.n, tracking = c.tracking + EXCLUDED.tracking,
                logging = c.logging + EXCLUDED.logging, sdk = c.sdk + EXCLUDED.sdk,
                real_time = c.real_time + EXCLUDED.real_time;
        END IF;
        IF active THEN
            IF was.active_day < 0 THEN
                -- The first activity: one counter row.
                INSERT INTO activity_counts AS c (instance_id, status, day, shard, n)
                VALUES (now_is.instance_id, now_is.status, now_is.active_day, shard_of, 1)
                ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET n = c.n + 1;
            ELSIF now_is.active_day < 0 THEN
                INSERT INTO activity_counts AS c (instance_id, status, day, shard, n)
                VALUES (was.instance_id, was.status, was.active_day, shard_of, -1)
                ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET n = c.n - 1;
            ELSE
                INSERT INTO activity_counts AS c (instance_id, status, day, shard, n)
                SELECT * FROM (VALUES (was.instance_id, was.status, was.active_day, shard_of, -1),
                                      (now_is.instance_id, now_is.status, now_is.active_day,
                                       shard_of, 1)) moved
                ORDER BY 1, 2, 3
                ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
            END IF;
            -- A later day of activity is an activity column changed.
            IF now_is.active_day > was.active_day THEN
                INSERT INTO active_days AS d (instance_id, day, shard, n)
                VALUES (now_is.instance_id, now_is.active_day, shard_of, 1)
                ON CONFLICT (instance_id, day, shard) DO UPDATE SET n = d.n + 1;
            END IF;
        END IF;
        RETURN NULL;
    END IF;
    SELECT COALESCE(bool_or(
               (o.instance_id, o.status, o.date_created, o.enable_tracking, o.enable_logging,
                o.enabled, o.enable_real_time_location)
               IS DISTINCT FROM (w.instance_id, w.status, w.date_created, w.enable_tracking,
                w.enable_logging, w.enabled, w.enable_real_time_location)), FALSE),
           COALESCE(bool_or(
               (o.instance_id, o.status, COALESCE(o.last_activity_at / 86400000, -1))
               IS DISTINCT FROM
               (w.instance_id, w.status, COALESCE(w.last_activity_at / 86400000, -1))), FALSE)
    INTO counted, active
    FROM old_rows o JOIN new_rows w ON w.device_token = o.device_token;
    IF counted THEN
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
    END IF;
    -- A later day of activity is an activity column changed, so active_days moves only here.
    IF active THEN
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
        ) moved WHERE day >= 0 GROUP BY 1, 2, 3 HAVING SUM(n) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
        INSERT INTO active_days AS d (instance_id, day, shard, n)
        SELECT w.instance_id, w.last_activity_at / 86400000, counter_shard(), COUNT(*)
        FROM old_rows o JOIN new_rows w ON w.device_token = o.device_token
        WHERE w.last_activity_at / 86400000 > COALESCE(o.last_activity_at / 86400000, -1)
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (instance_id, day, shard) DO UPDATE SET n = d.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION users_activity_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_counts AS c (instance_id, status, day, shard, n)
    SELECT instance_id, status, last_activity_at / 86400000, counter_shard(), -COUNT(*)
    FROM old_rows WHERE last_activity_at IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;
