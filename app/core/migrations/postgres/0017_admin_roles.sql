-- Admins as a team. Every admin so far could do everything: they become Owners.
UPDATE admins SET role = 'Owner' WHERE role = 'Admin';
-- Scope: application ids, or instance ids, space-separated; both NULL for everything.
ALTER TABLE admins ADD COLUMN applications TEXT;
ALTER TABLE admins ADD COLUMN instances TEXT;
-- Disabled: no sign-in, every session revoked. Invited: no password yet (password_hash '').
ALTER TABLE admins ADD COLUMN disabled_at BIGINT;
ALTER TABLE admins ADD COLUMN last_sign_in_at BIGINT;
-- TOTP (RFC 6238): the secret sealed at rest; confirmed once a first code matched.
ALTER TABLE admins ADD COLUMN totp_sealed TEXT;
ALTER TABLE admins ADD COLUMN totp_confirmed_at BIGINT;

-- One-time links an admin sets a password with (an invite, or a reset by an Owner), and
-- TOTP recovery codes: only keyed hashes are kept.
CREATE TABLE admin_secrets (
    hash       TEXT PRIMARY KEY,
    admin_id   TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    used_at    BIGINT
);
CREATE INDEX admin_secrets_admin_idx ON admin_secrets (admin_id, kind);

-- The last request of a session (updated at most once a minute): dashboard sessions end
-- after TUS_ADMIN_IDLE_TIMEOUT without one.
ALTER TABLE token_families ADD COLUMN last_seen_at BIGINT;
