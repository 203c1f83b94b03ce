-- Invites: besides six-digit codes (`code`), `login_codes` keeps one-time invite links
-- (`link`), found by their keyed hash when a driver opens one. Both only ever hashed.
ALTER TABLE login_codes ADD COLUMN kind TEXT NOT NULL DEFAULT 'code';
CREATE INDEX login_codes_hash_idx ON login_codes (code_hash);
