-- The last TOTP time step an admin signed in with: a code is accepted once, never replayed.
ALTER TABLE admins ADD COLUMN totp_last_step BIGINT;
