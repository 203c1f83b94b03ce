-- Times are BIGINT milliseconds since the Unix epoch (UTC): portable across SQLite and
-- PostgreSQL and cheap to index. Constraint and index names are mapped by the store, keep them.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE applications (
    id          TEXT PRIMARY KEY,
    company_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'Active',
    created_at  BIGINT NOT NULL
);

CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    app_id       TEXT NOT NULL REFERENCES applications (id),
    instance_key TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT 'Active',
    invite_code  TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX instances_invite_code_key ON instances (invite_code);
CREATE INDEX instances_app_idx ON instances (app_id);

CREATE TABLE batches (
    id          TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id),
    label       TEXT NOT NULL DEFAULT '',
    quantity    BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    device_token              TEXT PRIMARY KEY,
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
    date_created              BIGINT NOT NULL
);
-- Login names are unique within an instance (NULLs do not collide).
CREATE UNIQUE INDEX users_instance_email_key ON users (instance_id, email);
CREATE UNIQUE INDEX users_instance_phone_key ON users (instance_id, phone);
CREATE INDEX users_instance_created_idx ON users (instance_id, date_created);
CREATE INDEX users_batch_idx ON users (batch_id);

-- A family is one login session: every refresh token rotated from one login or registration.
CREATE TABLE token_families (
    id            TEXT PRIMARY KEY,
    subject       TEXT NOT NULL,
    subject_kind  TEXT NOT NULL,
    origin        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoke_reason TEXT
);
CREATE INDEX token_families_subject_idx ON token_families (subject);

CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    parent_id  TEXT,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'active',
    used_at    BIGINT,
    reason     TEXT
);
CREATE UNIQUE INDEX refresh_tokens_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

-- Lineage of access tokens (no token text, only its id and times).
CREATE TABLE access_tokens (
    jti        TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    family_id  TEXT,
    source     TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_subject_idx ON access_tokens (subject, issued_at);

CREATE TABLE admins (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX admins_email_key ON admins (email);

CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    client_addr TEXT
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
