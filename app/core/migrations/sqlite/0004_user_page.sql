-- GetFilteredPage: one index per sort order (the key, then device_token to break ties) that
-- also serves the prefix search and `find`, and user counts kept by triggers so a page never
-- counts the table.
--
-- Sort keys: names lower-cased, missing values as ''. SQLite compares bytes (BINARY), like
-- the "C" collation the PostgreSQL migration gives these columns, so both order alike.
DROP INDEX users_email_idx;
DROP INDEX users_first_name_idx;
DROP INDEX users_last_name_idx;
DROP INDEX users_date_created_idx;
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

CREATE TRIGGER users_count_insert AFTER INSERT ON users BEGIN
    INSERT INTO user_counts (instance_id, status, day, n)
    VALUES (NEW.instance_id, NEW.status, NEW.date_created / 86400000, 1)
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER users_count_delete AFTER DELETE ON users BEGIN
    UPDATE user_counts SET n = n - 1
    WHERE instance_id = OLD.instance_id AND status = OLD.status
      AND day = OLD.date_created / 86400000;
END;

CREATE TRIGGER users_count_update AFTER UPDATE OF instance_id, status, date_created ON users
WHEN OLD.instance_id IS NOT NEW.instance_id OR OLD.status IS NOT NEW.status
  OR OLD.date_created IS NOT NEW.date_created
BEGIN
    UPDATE user_counts SET n = n - 1
    WHERE instance_id = OLD.instance_id AND status = OLD.status
      AND day = OLD.date_created / 86400000;
    INSERT INTO user_counts (instance_id, status, day, n)
    VALUES (NEW.instance_id, NEW.status, NEW.date_created / 86400000, 1)
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = n + 1;
END;
