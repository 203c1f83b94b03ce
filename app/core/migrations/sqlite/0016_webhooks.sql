-- Events: what changed, written in the transaction of the change (one row insert), kept for
-- replay, and fanned out to the webhook subscriptions that want them by one dispatcher at a
-- time (dispatched = 0 until then). `seq` orders them; events of one user are in the order
-- their changes committed.
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    at            BIGINT NOT NULL,
    device_token  TEXT,
    instance_id   TEXT,
    payload       TEXT NOT NULL,
    dispatched    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX events_pending_idx ON events (seq) WHERE dispatched = 0;
CREATE INDEX events_at_idx ON events (at);

-- Webhook subscriptions. The signing secret is sealed; during a rotation the previous one
-- signs too until previous_until. `event_types`, `instances` and `applications` are
-- space-separated (NULL: every one). `failing_since`: the first failure of the current run.
CREATE TABLE webhooks (
    id               TEXT PRIMARY KEY,
    url              TEXT NOT NULL,
    description      TEXT NOT NULL,
    event_types      TEXT,
    instances        TEXT,
    applications     TEXT,
    secret_sealed    BLOB NOT NULL,
    previous_sealed  BLOB,
    previous_until   BIGINT,
    allow_private    BIGINT NOT NULL DEFAULT 0,
    enabled          BIGINT NOT NULL DEFAULT 1,
    disabled_reason  TEXT,
    failing_since    BIGINT,
    created_at       BIGINT NOT NULL,
    created_by       TEXT NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- Webhook deliveries are outbox rows (kind 'webhook', recipient = the webhook's id) with the
-- event's seq: a user's deliveries to one webhook go one at a time, in seq order.
ALTER TABLE outbox ADD COLUMN seq BIGINT;
CREATE INDEX outbox_webhook_order_idx ON outbox (recipient, device_token, seq) WHERE kind = 'webhook';

-- What a webhook receiver answered, per attempt (status, time taken, the start of the body).
ALTER TABLE outbox_attempts ADD COLUMN status BIGINT;
ALTER TABLE outbox_attempts ADD COLUMN took_ms BIGINT;
