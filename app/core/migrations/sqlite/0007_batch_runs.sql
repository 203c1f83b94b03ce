-- Batches as objects: a dashboard batch runs in chunks, each chunk one transaction, and
-- records how far it got. Batches written before (CreateMany) are complete and returned
-- their credentials in the response.
ALTER TABLE batches ADD COLUMN state TEXT NOT NULL DEFAULT 'completed';
ALTER TABLE batches ADD COLUMN done BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN enable_tracking BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE batches ADD COLUMN enable_logging BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE batches ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE batches ADD COLUMN enable_real_time_location BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE batches ADD COLUMN with_tokens BOOLEAN NOT NULL DEFAULT TRUE;
-- 'api': returned by CreateMany; 'none': no tokens; 'held': sealed, waiting for the one
-- download; 'taken': downloaded; 'expired': purged unread.
ALTER TABLE batches ADD COLUMN credentials TEXT NOT NULL DEFAULT 'api';
ALTER TABLE batches ADD COLUMN credentials_taken_by TEXT;
ALTER TABLE batches ADD COLUMN credentials_taken_at BIGINT;
ALTER TABLE batches ADD COLUMN error TEXT;
ALTER TABLE batches ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN finished_at BIGINT;
UPDATE batches SET done = quantity, updated_at = created_at, finished_at = created_at;
CREATE INDEX batches_created_idx ON batches (created_at, id);

-- The credentials of a dashboard batch until their one download: one row per chunk,
-- sealed (ChaCha20-Poly1305, key derived from the signing key, bound to batch and chunk).
CREATE TABLE batch_credentials (
    batch_id   TEXT NOT NULL REFERENCES batches (id),
    chunk      BIGINT NOT NULL,
    sealed     BLOB NOT NULL,
    PRIMARY KEY (batch_id, chunk)
);
