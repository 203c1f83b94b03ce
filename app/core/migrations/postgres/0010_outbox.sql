-- The outbox: every message (e-mail, SMS) is written in the transaction of the change that
-- causes it and sent by a worker in every replica. `id` is stable across attempts: receivers
-- deduplicate on it. `due_at` is the next attempt while queued, and the end of the sender's
-- lease while sending (a lease that runs out is taken again: the one resend window).
CREATE TABLE outbox (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    device_token  TEXT,
    instance_id   TEXT,
    subject       TEXT NOT NULL,
    -- The body, sealed (it may hold a password or a code); NULL once sent or cancelled.
    sealed        BYTEA,
    state         TEXT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    due_at        BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    sent_at       BIGINT,
    last_error    TEXT,
    requested_by  TEXT NOT NULL
);
CREATE INDEX outbox_due_idx ON outbox (state, due_at);
CREATE INDEX outbox_user_idx ON outbox (device_token, created_at);
CREATE INDEX outbox_created_idx ON outbox (created_at, id);

-- Each attempt to send: when, and how it went (the error text never holds a secret).
CREATE TABLE outbox_attempts (
    message_id  TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    error       TEXT,
    PRIMARY KEY (message_id, attempt)
);

-- One-time login codes, stored only as a keyed hash; single use, expiring, a few tries each.
CREATE TABLE login_codes (
    id            TEXT PRIMARY KEY,
    device_token  TEXT NOT NULL,
    code_hash     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    used_at       BIGINT
);
CREATE INDEX login_codes_user_idx ON login_codes (device_token, created_at);
