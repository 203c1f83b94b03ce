-- The driver's activity, device and pending flags (issue 18).
--
-- `last_activity_at`: when the user last logged in or refreshed (ms); NULL: never since
-- registration (activity status NoData). `flags_changed_at`: when a telematics flag last
-- changed; a device holding a token older than that has not learnt it yet (pending).
-- `MobileDevice` of the original API in six columns.
ALTER TABLE users ADD COLUMN last_activity_at BIGINT;
ALTER TABLE users ADD COLUMN flags_changed_at BIGINT;
ALTER TABLE users ADD COLUMN mobile_uid TEXT;
ALTER TABLE users ADD COLUMN device_model TEXT;
ALTER TABLE users ADD COLUMN os_type TEXT;
ALTER TABLE users ADD COLUMN os_version TEXT;
ALTER TABLE users ADD COLUMN sdk_version TEXT;
ALTER TABLE users ADD COLUMN app_version TEXT;

-- A user is Active while its last activity lies within its instance's window.
ALTER TABLE instances ADD COLUMN active_window_days BIGINT NOT NULL DEFAULT 14;

UPDATE users SET last_activity_at = (
    SELECT MAX(a.issued_at) FROM access_tokens a
    WHERE a.subject = users.device_token AND a.source IN ('login', 'refresh', 'import'));

-- Users per instance, status and UTC day of their last activity (-1: none). Active and Lost
-- are sums of whole days, plus a direct count of the one day the window's start cuts.
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

-- Drivers active on each UTC day, per instance: a user counts once a day, when its last
-- activity first moves into that day.
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

CREATE TRIGGER users_activity_insert AFTER INSERT ON users BEGIN
    INSERT INTO activity_counts (instance_id, status, day, n)
    VALUES (NEW.instance_id, NEW.status, COALESCE(NEW.last_activity_at / 86400000, -1), 1)
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER users_activity_delete AFTER DELETE ON users BEGIN
    UPDATE activity_counts SET n = n - 1
    WHERE instance_id = OLD.instance_id AND status = OLD.status
      AND day = COALESCE(OLD.last_activity_at / 86400000, -1);
END;

CREATE TRIGGER users_activity_update AFTER UPDATE OF instance_id, status, last_activity_at ON users
WHEN OLD.instance_id IS NOT NEW.instance_id OR OLD.status IS NOT NEW.status
  OR COALESCE(OLD.last_activity_at / 86400000, -1) <> COALESCE(NEW.last_activity_at / 86400000, -1)
BEGIN
    UPDATE activity_counts SET n = n - 1
    WHERE instance_id = OLD.instance_id AND status = OLD.status
      AND day = COALESCE(OLD.last_activity_at / 86400000, -1);
    INSERT INTO activity_counts (instance_id, status, day, n)
    VALUES (NEW.instance_id, NEW.status, COALESCE(NEW.last_activity_at / 86400000, -1), 1)
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER users_active_day AFTER UPDATE OF last_activity_at ON users
WHEN NEW.last_activity_at IS NOT NULL
  AND NEW.last_activity_at / 86400000 > COALESCE(OLD.last_activity_at / 86400000, -1)
BEGIN
    INSERT INTO active_days (instance_id, day, n)
    VALUES (NEW.instance_id, NEW.last_activity_at / 86400000, 1)
    ON CONFLICT (instance_id, day) DO UPDATE SET n = n + 1;
END;

-- Sort by last activity, and the direct count of the day the window cuts (covering).
CREATE INDEX users_activity_sort_idx
    ON users (coalesce(last_activity_at, 0), device_token, status, instance_id);
-- "Who is still on SDK 4.x": a prefix range; users without device info are not indexed.
CREATE INDEX users_sdk_idx ON users (sdk_version) WHERE sdk_version IS NOT NULL;

-- Flags that switch themselves off: at `ends_at` the scheduler sets the flag to `revert_to`
-- (claimed by deleting the row in the transaction that changes the user: exactly once).
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
-- The longest debug logging may stay on in an instance, in minutes (NULL: no limit).
ALTER TABLE instances ADD COLUMN max_logging_minutes BIGINT;
