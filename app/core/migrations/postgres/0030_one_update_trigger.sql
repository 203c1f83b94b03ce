-- One trigger for an UPDATE of users, which looks first at what the statement changed
-- (issue 19). users_count_update and users_activity_update ran their upserts on every UPDATE
-- of users: three statements, each a join of the transition tables with an aggregate and a
-- sort, even for a refresh that only moves last_activity_at within its day or a profile edit
-- (a fifth of PostgreSQL's time under refresh load, in a profile of 76f6e2f). The trigger now
-- joins the transition tables once to learn whether a counted column (instance, status, day
-- of registration, a flag) or an activity column (instance, status, day of last activity)
-- changed, and runs only the upserts that have something to move: none for a profile edit
-- or a second refresh on the same day, the activity ones for a first refresh of the day.
-- What they write is unchanged (0026's statements, moved here as they were).

CREATE FUNCTION users_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    counted BOOLEAN;
    active BOOLEAN;
BEGIN
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
        ) moved GROUP BY 1, 2, 3 HAVING SUM(n) <> 0 ORDER BY 1, 2, 3
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

DROP TRIGGER users_count_update ON users;
DROP TRIGGER users_activity_update ON users;
CREATE TRIGGER users_counts_update AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION users_counts_update();
DROP FUNCTION users_count_update();
DROP FUNCTION users_activity_update();
