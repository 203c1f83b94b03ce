-- GetFilteredPage: one index per sort order (the key, then device_token to break ties) that
-- also serves the prefix search and `find`, and user counts kept by triggers so a page never
-- counts the table.
--
-- The searched and sorted columns compare bytewise ("C"), as SQLite does: both backends order
-- alike, and a prefix is an index range whatever the database's default collation.
-- (lower() then folds ASCII only, again as in SQLite.)
DROP INDEX users_email_idx;
DROP INDEX users_first_name_idx;
DROP INDEX users_last_name_idx;
DROP INDEX users_date_created_idx;
ALTER TABLE users
    ALTER COLUMN email TYPE TEXT COLLATE "C",
    ALTER COLUMN phone TYPE TEXT COLLATE "C",
    ALTER COLUMN first_name TYPE TEXT COLLATE "C",
    ALTER COLUMN last_name TYPE TEXT COLLATE "C",
    ALTER COLUMN country TYPE TEXT COLLATE "C",
    ALTER COLUMN client_id TYPE TEXT COLLATE "C";
CREATE INDEX users_created_sort_idx ON users (date_created, device_token);
CREATE INDEX users_email_sort_idx ON users (coalesce(email, ''), device_token);
CREATE INDEX users_first_name_sort_idx ON users (coalesce(lower(first_name), ''), device_token);
CREATE INDEX users_last_name_sort_idx ON users (coalesce(lower(last_name), ''), device_token);

-- Users per instance, status and UTC day of registration (date_created / 86400000).
-- TotalUsers of a page is a sum over these rows, plus a direct count of at most the two
-- partial days a date range cuts.
CREATE TABLE user_counts (
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    day         BIGINT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (instance_id, status, day)
);

INSERT INTO user_counts (instance_id, status, day, n)
SELECT instance_id, status, date_created / 86400000, COUNT(*) FROM users GROUP BY 1, 2, 3;

-- Statement-level triggers: a batch of 10,000 users is one upsert, not 10,000. Keys are
-- applied in order so concurrent statements lock counter rows in the same order.
CREATE FUNCTION users_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_counts AS c (instance_id, status, day, n)
    SELECT instance_id, status, date_created / 86400000, COUNT(*)
    FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION users_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_counts AS c (instance_id, status, day, n)
    SELECT instance_id, status, date_created / 86400000, -COUNT(*)
    FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

-- Only rows whose instance, status or day changed move between counters; a profile edit
-- touches no counter row.
CREATE FUNCTION users_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_counts AS c (instance_id, status, day, n)
    SELECT instance_id, status, day, SUM(n) FROM (
        SELECT o.instance_id, o.status, o.date_created / 86400000 AS day, -1 AS n
        FROM old_rows o JOIN new_rows w ON w.device_token = o.device_token
        WHERE (o.instance_id, o.status, o.date_created)
              IS DISTINCT FROM (w.instance_id, w.status, w.date_created)
        UNION ALL
        SELECT w.instance_id, w.status, w.date_created / 86400000, 1
        FROM old_rows o JOIN new_rows w ON w.device_token = o.device_token
        WHERE (o.instance_id, o.status, o.date_created)
              IS DISTINCT FROM (w.instance_id, w.status, w.date_created)
    ) moved GROUP BY 1, 2, 3 HAVING SUM(n) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE TRIGGER users_count_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION users_count_insert();
CREATE TRIGGER users_count_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION users_count_delete();
CREATE TRIGGER users_count_update AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION users_count_update();
