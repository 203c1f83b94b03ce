-- The overview's flag totals from the counters instead of a pass over every user (117 ms at
-- 10^6 users): each counter row (instance, status, UTC day) also counts its users with
-- tracking, logging, the SDK and real-time location on. The same statement-level triggers
-- keep them; an update now moves a user between counters when a flag changes too.

-- No user changes between the backfill and the new triggers (other replicas wait).
LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE user_counts
    ADD COLUMN tracking  BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN logging   BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN sdk       BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN real_time BIGINT NOT NULL DEFAULT 0;

UPDATE user_counts c
SET tracking = f.tracking, logging = f.logging, sdk = f.sdk, real_time = f.real_time
FROM (
    SELECT instance_id, status, date_created / 86400000 AS day,
           COUNT(*) FILTER (WHERE enable_tracking) AS tracking,
           COUNT(*) FILTER (WHERE enable_logging) AS logging,
           COUNT(*) FILTER (WHERE enabled) AS sdk,
           COUNT(*) FILTER (WHERE enable_real_time_location) AS real_time
    FROM users GROUP BY 1, 2, 3
) f
WHERE c.instance_id = f.instance_id AND c.status = f.status AND c.day = f.day;

CREATE OR REPLACE FUNCTION users_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_counts AS c (instance_id, status, day, n, tracking, logging, sdk, real_time)
    SELECT instance_id, status, date_created / 86400000, COUNT(*),
           COUNT(*) FILTER (WHERE enable_tracking), COUNT(*) FILTER (WHERE enable_logging),
           COUNT(*) FILTER (WHERE enabled), COUNT(*) FILTER (WHERE enable_real_time_location)
    FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day) DO UPDATE SET
        n = c.n + EXCLUDED.n, tracking = c.tracking + EXCLUDED.tracking,
        logging = c.logging + EXCLUDED.logging, sdk = c.sdk + EXCLUDED.sdk,
        real_time = c.real_time + EXCLUDED.real_time;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION users_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_counts AS c (instance_id, status, day, n, tracking, logging, sdk, real_time)
    SELECT instance_id, status, date_created / 86400000, -COUNT(*),
           -COUNT(*) FILTER (WHERE enable_tracking), -COUNT(*) FILTER (WHERE enable_logging),
           -COUNT(*) FILTER (WHERE enabled), -COUNT(*) FILTER (WHERE enable_real_time_location)
    FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day) DO UPDATE SET
        n = c.n + EXCLUDED.n, tracking = c.tracking + EXCLUDED.tracking,
        logging = c.logging + EXCLUDED.logging, sdk = c.sdk + EXCLUDED.sdk,
        real_time = c.real_time + EXCLUDED.real_time;
    RETURN NULL;
END $$;

-- A row whose counter key or flags changed leaves its old counter and joins its new one; a
-- profile edit still touches no counter row.
CREATE OR REPLACE FUNCTION users_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_counts AS c (instance_id, status, day, n, tracking, logging, sdk, real_time)
    SELECT instance_id, status, day, SUM(n), SUM(t), SUM(l), SUM(s), SUM(r) FROM (
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
    ON CONFLICT (instance_id, status, day) DO UPDATE SET
        n = c.n + EXCLUDED.n, tracking = c.tracking + EXCLUDED.tracking,
        logging = c.logging + EXCLUDED.logging, sdk = c.sdk + EXCLUDED.sdk,
        real_time = c.real_time + EXCLUDED.real_time;
    RETURN NULL;
END $$;
