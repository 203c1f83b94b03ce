-- Per-instance token lifetimes (issue 18): an instance's access tokens last
-- `access_token_minutes` and its refresh tokens `refresh_token_hours`; NULL: the service's
-- (TUS_ACCESS_TOKEN_TTL, TUS_REFRESH_TOKEN_TTL), which are also the longest an instance may
-- set, so that a retired signing key still outlives every token it signed.
ALTER TABLE instances ADD COLUMN access_token_minutes BIGINT;
ALTER TABLE instances ADD COLUMN refresh_token_hours BIGINT;
