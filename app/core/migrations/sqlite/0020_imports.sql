-- Imports are batches too (kind 'import'): their users carry the import's batch_id, and
-- they run in chunks with the same progress, stop and resume. A dry run (dry_run) checks
-- every row and writes only its report; running it for real clears that flag and starts
-- over. `on_existing`: skip, update or fail a row whose DeviceToken exists.
ALTER TABLE batches ADD COLUMN kind TEXT NOT NULL DEFAULT 'create';
ALTER TABLE batches ADD COLUMN dry_run BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE batches ADD COLUMN on_existing TEXT;
ALTER TABLE batches ADD COLUMN file_name TEXT;
ALTER TABLE batches ADD COLUMN file_notes TEXT;
ALTER TABLE batches ADD COLUMN created_rows BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN updated_rows BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN skipped_rows BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN failed_rows BIGINT NOT NULL DEFAULT 0;

-- The uploaded file, one row per record, until the import has run: `seq` counts records
-- from 1, `row_no` is the record's row as a spreadsheet numbers it (the CSV header is row
-- 1) or its NDJSON line. The login names a row would take are kept beside it, so a name
-- that repeats inside the file is found by index, not by holding the file in memory.
CREATE TABLE import_rows (
    batch_id      TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    row_no        BIGINT NOT NULL,
    device_token  TEXT,
    email         TEXT,
    phone         TEXT,
    body          TEXT NOT NULL,
    PRIMARY KEY (batch_id, seq)
);
CREATE INDEX import_rows_token_idx ON import_rows (batch_id, device_token, seq);
CREATE INDEX import_rows_email_idx ON import_rows (batch_id, email, seq);
CREATE INDEX import_rows_phone_idx ON import_rows (batch_id, phone, seq);

-- The per-row report of an import's latest run, one row per chunk of CSV lines.
CREATE TABLE import_reports (
    batch_id   TEXT NOT NULL,
    first_seq  BIGINT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (batch_id, first_seq)
);

-- Uploads in progress: a file is staged before its import exists, so a server that dies
-- mid-upload leaves rows that a sweep finds here and deletes.
CREATE TABLE import_uploads (
    batch_id    TEXT PRIMARY KEY,
    started_at  BIGINT NOT NULL
);
