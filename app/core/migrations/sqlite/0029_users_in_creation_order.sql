-- Users get `seq`, their place in creation order (issue 19), as the rowid (INTEGER PRIMARY
-- KEY): the users page breaks ties of its sort keys by it instead of the random DeviceToken,
-- so a new user's entry in each sort index lands at the end of its key's run instead of on a
-- random page (most new users share the empty name and e-mail and the never-active 0), and
-- the page looks its rows up by rowid. SQLite cannot change a primary key in place: the
-- table is rebuilt, in creation order, with its indexes and triggers as they were (nothing
-- references users by foreign key; DROP TABLE drops the triggers before the rows, so the
-- counts stay as they are).
CREATE TABLE users_by_seq (
    seq                       INTEGER PRIMARY KEY,
    device_token              TEXT NOT NULL UNIQUE,
    instance_id               TEXT NOT NULL REFERENCES instances (id),
    first_name                TEXT,
    last_name                 TEXT,
    nickname                  TEXT,
    phone                     TEXT,
    email                     TEXT,
    gender                    TEXT NOT NULL DEFAULT 'None',
    birthday                  BIGINT,
    marital_status            TEXT,
    children_count            BIGINT,
    country                   TEXT,
    district                  TEXT,
    city                      TEXT,
    address                   TEXT,
    image_url                 TEXT,
    status                    TEXT NOT NULL DEFAULT 'Active',
    enable_tracking           BOOLEAN NOT NULL,
    enable_logging            BOOLEAN NOT NULL,
    enabled                   BOOLEAN NOT NULL,
    enable_real_time_location BOOLEAN NOT NULL,
    client_id                 TEXT,
    password_hash             TEXT,
    batch_id                  TEXT REFERENCES batches (id),
    date_created              BIGINT NOT NULL,
    last_activity_at          BIGINT,
    flags_changed_at          BIGINT,
    mobile_uid                TEXT,
    device_model              TEXT,
    os_type                   TEXT,
    os_version                TEXT,
    sdk_version               TEXT,
    app_version               TEXT
);
INSERT INTO users_by_seq (device_token, instance_id, first_name, last_name, nickname, phone,
    email, gender, birthday, marital_status, children_count, country, district, city, address,
    image_url, status, enable_tracking, enable_logging, enabled, enable_real_time_location,
    client_id, password_hash, batch_id, date_created, last_activity_at, flags_changed_at,
    mobile_uid, device_model, os_type, os_version, sdk_version, app_version)
SELECT device_token, instance_id, first_name, last_name, nickname, phone,
    email, gender, birthday, marital_status, children_count, country, district, city, address,
    image_url, status, enable_tracking, enable_logging, enabled, enable_real_time_location,
    client_id, password_hash, batch_id, date_created, last_activity_at, flags_changed_at,
    mobile_uid, device_model, os_type, os_version, sdk_version, app_version
FROM users ORDER BY date_created, device_token;
DROP TABLE users;
ALTER TABLE users_by_seq RENAME TO users;

CREATE UNIQUE INDEX users_instance_email_key ON users (instance_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX users_instance_phone_key ON users (instance_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX users_instance_created_idx ON users (instance_id, date_created);
CREATE INDEX users_batch_idx ON users (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX users_phone_idx ON users (phone) WHERE phone IS NOT NULL;
CREATE INDEX users_client_id_idx ON users (client_id) WHERE client_id IS NOT NULL;
CREATE INDEX users_country_idx ON users (lower(country)) WHERE lower(country) IS NOT NULL;
CREATE INDEX users_city_idx ON users (lower(city)) WHERE lower(city) IS NOT NULL;
CREATE INDEX users_sdk_idx ON users (sdk_version) WHERE sdk_version IS NOT NULL;
-- The sort indexes: `<key>, seq, status, instance_id` (covering for the default page).
CREATE INDEX users_created_sort_idx ON users (date_created, seq, status, instance_id);
CREATE INDEX users_email_sort_idx ON users (coalesce(email, ''), seq, status, instance_id);
CREATE INDEX users_first_name_sort_idx ON users (coalesce(lower(first_name), ''), seq, status, instance_id);
CREATE INDEX users_last_name_sort_idx ON users (coalesce(lower(last_name), ''), seq, status, instance_id);
CREATE INDEX users_activity_sort_idx ON users (coalesce(last_activity_at, 0), seq, status, instance_id);

-- The counting triggers, unchanged (0008, 0021).
CREATE TRIGGER users_active_day AFTER UPDATE OF last_activity_at ON users
WHEN NEW.last_activity_at IS NOT NULL
  AND NEW.last_activity_at / 86400000 > COALESCE(OLD.last_activity_at / 86400000, -1)
BEGIN
    INSERT INTO active_days (instance_id, day, n)
    VALUES (NEW.instance_id, NEW.last_activity_at / 86400000, 1)
    ON CONFLICT (instance_id, day) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER users_activity_delete AFTER DELETE ON users BEGIN
    UPDATE activity_counts SET n = n - 1
    WHERE instance_id = OLD.instance_id AND status = OLD.status
      AND day = COALESCE(OLD.last_activity_at / 86400000, -1);
END;

CREATE TRIGGER users_activity_insert AFTER INSERT ON users BEGIN
    INSERT INTO activity_counts (instance_id, status, day, n)
    VALUES (NEW.instance_id, NEW.status, COALESCE(NEW.last_activity_at / 86400000, -1), 1)
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = n + 1;
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

CREATE TRIGGER users_count_delete AFTER DELETE ON users BEGIN
    UPDATE user_counts SET n = n - 1, tracking = tracking - OLD.enable_tracking,
        logging = logging - OLD.enable_logging, sdk = sdk - OLD.enabled,
        real_time = real_time - OLD.enable_real_time_location
    WHERE instance_id = OLD.instance_id AND status = OLD.status
      AND day = OLD.date_created / 86400000;
END;

CREATE TRIGGER users_count_flags
AFTER UPDATE OF enable_tracking, enable_logging, enabled, enable_real_time_location ON users
WHEN OLD.instance_id IS NEW.instance_id AND OLD.status IS NEW.status
  AND OLD.date_created IS NEW.date_created
  AND (OLD.enable_tracking IS NOT NEW.enable_tracking OR OLD.enable_logging IS NOT NEW.enable_logging
    OR OLD.enabled IS NOT NEW.enabled
    OR OLD.enable_real_time_location IS NOT NEW.enable_real_time_location)
BEGIN
    UPDATE user_counts SET tracking = tracking + NEW.enable_tracking - OLD.enable_tracking,
        logging = logging + NEW.enable_logging - OLD.enable_logging,
        sdk = sdk + NEW.enabled - OLD.enabled,
        real_time = real_time + NEW.enable_real_time_location - OLD.enable_real_time_location
    WHERE instance_id = NEW.instance_id AND status = NEW.status
      AND day = NEW.date_created / 86400000;
END;

CREATE TRIGGER users_count_insert AFTER INSERT ON users BEGIN
    INSERT INTO user_counts (instance_id, status, day, n, tracking, logging, sdk, real_time)
    VALUES (NEW.instance_id, NEW.status, NEW.date_created / 86400000, 1, NEW.enable_tracking,
            NEW.enable_logging, NEW.enabled, NEW.enable_real_time_location)
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = n + 1,
        tracking = tracking + excluded.tracking, logging = logging + excluded.logging,
        sdk = sdk + excluded.sdk, real_time = real_time + excluded.real_time;
END;

CREATE TRIGGER users_count_update AFTER UPDATE OF instance_id, status, date_created ON users
WHEN OLD.instance_id IS NOT NEW.instance_id OR OLD.status IS NOT NEW.status
  OR OLD.date_created IS NOT NEW.date_created
BEGIN
    UPDATE user_counts SET n = n - 1, tracking = tracking - OLD.enable_tracking,
        logging = logging - OLD.enable_logging, sdk = sdk - OLD.enabled,
        real_time = real_time - OLD.enable_real_time_location
    WHERE instance_id = OLD.instance_id AND status = OLD.status
      AND day = OLD.date_created / 86400000;
    INSERT INTO user_counts (instance_id, status, day, n, tracking, logging, sdk, real_time)
    VALUES (NEW.instance_id, NEW.status, NEW.date_created / 86400000, 1, NEW.enable_tracking,
            NEW.enable_logging, NEW.enabled, NEW.enable_real_time_location)
    ON CONFLICT (instance_id, status, day) DO UPDATE SET n = n + 1,
        tracking = tracking + excluded.tracking, logging = logging + excluded.logging,
        sdk = sdk + excluded.sdk, real_time = real_time + excluded.real_time;
END;

