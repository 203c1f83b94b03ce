-- Failed-login counters, shared by every replica: one row per bucket
-- (`login:name:<login>` or `login:addr:<client address>`), fixed windows.
CREATE TABLE rate_limits (
    bucket       TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL
);
