-- Throttles that cannot be raced or turned against the right password (see core/ratelimit.rs).
-- Every attempt is counted before its password is checked, in the same row the decision
-- reads. Buckets: one login name from one address, one address, and one login name from
-- every address together; the last one locks with a growing back-off.
--   subject       the login name a bucket concerns (`admin:<email>`...), so an unlock finds
--                 every bucket of a name; NULL for address buckets
--   locked_until  a name bucket's lock (ms); NULL when not locked
--   strikes       how many times the name was locked in a row: the next lock lasts longer
--   refused       attempts refused in this window: audited at 1, 10, 100..., not one by one
ALTER TABLE rate_limits ADD COLUMN subject TEXT;
ALTER TABLE rate_limits ADD COLUMN locked_until BIGINT;
ALTER TABLE rate_limits ADD COLUMN strikes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rate_limits ADD COLUMN refused BIGINT NOT NULL DEFAULT 0;
CREATE INDEX rate_limits_subject_idx ON rate_limits (subject);
CREATE INDEX rate_limits_window_idx ON rate_limits (window_start);
-- Old rows counted failures after the fact under other bucket names: start afresh.
DELETE FROM rate_limits;

-- A grace-window retry replaces the successor it supersedes: found by its parent.
CREATE INDEX refresh_tokens_parent_idx ON refresh_tokens (parent_id);
