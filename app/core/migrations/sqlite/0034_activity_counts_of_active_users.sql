-- Activity counters count only users who were active (issue 19), as on PostgreSQL (its 0034):
-- the row per instance and status for day -1, "never active", cost an upsert on every
-- registration and on every first login or refresh, and the users' own counters
-- (`user_counts`) already give it: users never active are the users counted there less those
-- counted here. Readers take NoData and Deactivated from `user_counts` (`activity_totals`).

DROP TRIGGER users_activity_insert;
DROP TRIGGER users_activity_delete;
DROP TRIGGER users_activity_update;
DELETE FROM activity_counts WHERE day < 0;

CREATE TRIGGER users_activity_insert AFTER INSERT ON users
WHEN NEW.last_activity_at IS NOT NULL
BEGIN
    INSERT INTO activity_counts (instance_id, status, day, n)
    VALUES (NEW.instance_id, NEW.status, NEW.last_activity_at / 86400000, 1)
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER users_activity_delete AFTER DELETE ON users
WHEN OLD.last_activity_at IS NOT NULL
BEGIN
    UPDATE activity_counts SET n = n - 1
    WHERE instance_id = OLD.instance_id AND status = OLD.status
      AND day = OLD.last_activity_at / 86400000;
END;

CREATE TRIGGER users_activity_update AFTER UPDATE OF instance_id, status, last_activity_at ON users
WHEN (OLD.last_activity_at IS NOT NULL OR NEW.last_activity_at IS NOT NULL)
  AND (OLD.instance_id IS NOT NEW.instance_id OR OLD.status IS NOT NEW.status
       OR COALESCE(OLD.last_activity_at / 86400000, -1) <> COALESCE(NEW.last_activity_at / 86400000, -1))
BEGIN
    UPDATE activity_counts SET n = n - 1
    WHERE OLD.last_activity_at IS NOT NULL
      AND instance_id = OLD.instance_id AND status = OLD.status
      AND day = OLD.last_activity_at / 86400000;
    INSERT INTO activity_counts (instance_id, status, day, n)
    SELECT NEW.instance_id, NEW.status, NEW.last_activity_at / 86400000, 1
    WHERE NEW.last_activity_at IS NOT NULL
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = n + 1;
END;
