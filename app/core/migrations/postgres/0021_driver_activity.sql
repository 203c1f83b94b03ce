-- The driver's activity, device and pending flags (issue 18); see the SQLite migration for
-- what each column means. The counters are kept by statement-level triggers, as user_counts.

LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE users
    ADD COLUMN last_activity_at BIGINT,
    ADD COLUMN flags_changed_at BIGINT,
    ADD COLUMN mobile_uid TEXT,
    ADD COLUMN device_model TEXT,
    ADD COLUMN os_type TEXT COLLATE "C",
    ADD COLUMN os_version TEXT,
    ADD COLUMN sdk_version TEXT COLLATE "C",
    ADD COLUMN app_version TEXT;

ALTER TABLE instances ADD COLUMN active_window_days BIGINT NOT NULL DEFAULT 14;

UPDATE users u SET last_activity_at = a.last
FROM (SELECT subject, MAX(issued_at) AS last FROM access_tokens
      WHERE source IN ('login', 'refresh', 'import') GROUP BY subject) a
WHERE a.subject = u.device_token;

CREATE TABLE activity_counts (
    instance_id TEXT NOT NULL,
    status      TEXT NOT NULL,
    day         BIGINT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (instance_id, status, day)
);
INSERT INTO activity_counts (instance_id, status, day, n)
SELECT instance_id, status, COALESCE(last_activity_at / 86400000, -1), COUNT(*)
FROM users GROUP BY 1, 2, 3;

CREATE TABLE active_days (
    instance_id TEXT NOT NULL,
    day         BIGINT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (instance_id, day)
);
INSERT INTO active_days (instance_id, day, n)
SELECT u.instance_id, a.issued_at / 86400000, COUNT(DISTINCT a.subject)
FROM access_tokens a JOIN users u ON u.device_token = a.subject
WHERE a.source IN ('login', 'refresh', 'import')
GROUP BY 1, 2;

CREATE FUNCTION users_activity_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_counts AS c (instance_id, status, day, n)
    SELECT instance_id, status, COALESCE(last_activity_at / 86400000, -1), COUNT(*)
    FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION users_activity_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_counts AS c (instance_id, status, day, n)
    SELECT instance_id, status, COALESCE(last_activity_at / 86400000, -1), -COUNT(*)
    FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

-- A user whose instance, status or day of last activity changed moves between counters;
-- one whose last activity moved into a later day counts once more in active_days.
CREATE FUNCTION users_activity_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_counts AS c (instance_id, status, day, n)
    SELECT instance_id, status, day, SUM(n) FROM (
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
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = c.n + EXCLUDED.n;
    INSERT INTO active_days AS d (instance_id, day, n)
    SELECT w.instance_id, w.last_activity_at / 86400000, COUNT(*)
    FROM old_rows o JOIN new_rows w ON w.device_token = o.device_token
    WHERE w.last_activity_at / 86400000 > COALESCE(o.last_activity_at / 86400000, -1)
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (instance_id, day) DO UPDATE SET n = d.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE TRIGGER users_activity_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION users_activity_insert();
CREATE TRIGGER users_activity_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION users_activity_delete();
CREATE TRIGGER users_activity_update AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION users_activity_update();

CREATE INDEX users_activity_sort_idx
    ON users ((coalesce(last_activity_at, 0)), device_token, status, instance_id);
CREATE INDEX users_sdk_idx ON users (sdk_version) WHERE sdk_version IS NOT NULL;

CREATE TABLE flag_ends (
    device_token TEXT NOT NULL,
    flag         TEXT NOT NULL,
    revert_to    BOOLEAN NOT NULL,
    ends_at      BIGINT NOT NULL,
    set_by       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (device_token, flag)
);
CREATE INDEX flag_ends_due_idx ON flag_ends (ends_at);
ALTER TABLE instances ADD COLUMN max_logging_minutes BIGINT;
