-- Indexes for /v1/Management/users/find (every filter) and the audit-log query.
-- Names compare case-insensitively, so their indexes are on lower(...).
CREATE INDEX users_email_idx ON users (email);
CREATE INDEX users_phone_idx ON users (phone);
CREATE INDEX users_client_id_idx ON users (client_id);
CREATE INDEX users_first_name_idx ON users (lower(first_name));
CREATE INDEX users_last_name_idx ON users (lower(last_name));
CREATE INDEX users_country_idx ON users (lower(country));
CREATE INDEX users_date_created_idx ON users (date_created);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, id);
CREATE INDEX audit_log_target_idx ON audit_log (target, id);
