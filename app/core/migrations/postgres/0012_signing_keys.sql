-- Signing keys as data (see keys.rs): one current key signs; a next key is published before
-- it signs; a retired key is accepted until retire_after. Private parts are sealed; the
-- master secret's own HS256 key has none (it is the master secret).
CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    algorithm       TEXT NOT NULL,
    public_jwk      TEXT,
    sealed_private  BYTEA,
    state           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    activate_at     BIGINT,
    activated_at    BIGINT,
    retire_after    BIGINT
);
-- At most one current and one next key, whatever replicas race.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next';
