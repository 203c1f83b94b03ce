-- Fewer index entries per registration (issue 19): a bare registration (no e-mail, phone,
-- ClientId, country, city or batch) wrote an entry into each of these indexes for a NULL
-- key that no query ever looks up. Every query that uses them compares the column with
-- `=` or a range, which implies the IS NOT NULL below, so both planners still choose them;
-- the unique keys keep their names, and NULLs were never unique-checked anyway.
DROP INDEX users_instance_email_key;
CREATE UNIQUE INDEX users_instance_email_key ON users (instance_id, email) WHERE email IS NOT NULL;
DROP INDEX users_instance_phone_key;
CREATE UNIQUE INDEX users_instance_phone_key ON users (instance_id, phone) WHERE phone IS NOT NULL;
DROP INDEX users_batch_idx;
CREATE INDEX users_batch_idx ON users (batch_id) WHERE batch_id IS NOT NULL;
DROP INDEX users_phone_idx;
CREATE INDEX users_phone_idx ON users (phone) WHERE phone IS NOT NULL;
DROP INDEX users_client_id_idx;
CREATE INDEX users_client_id_idx ON users (client_id) WHERE client_id IS NOT NULL;
-- The predicate names the indexed expression: SQLite proves `lower(country) IS NOT NULL`
-- from `lower(country) = ?`, not `country IS NOT NULL`.
DROP INDEX users_country_idx;
CREATE INDEX users_country_idx ON users (lower(country)) WHERE lower(country) IS NOT NULL;
DROP INDEX users_city_idx;
CREATE INDEX users_city_idx ON users (lower(city)) WHERE lower(city) IS NOT NULL;
-- A family's first refresh token has no parent.
DROP INDEX refresh_tokens_parent_idx;
CREATE INDEX refresh_tokens_parent_idx ON refresh_tokens (parent_id) WHERE parent_id IS NOT NULL;
