-- Per-instance settings (issue 18): flags new users get where a registration names none
-- (NULL: the API's defaults), and the inactivity rule: users without a login or refresh
-- (or, never active, since registration) for `inactivity_days` are deactivated or deleted
-- by the scheduler, at most once an hour per instance (`inactivity_checked_at` claims a run
-- across replicas). Off while NULL.
ALTER TABLE instances ADD COLUMN default_tracking BOOLEAN;
ALTER TABLE instances ADD COLUMN default_logging BOOLEAN;
ALTER TABLE instances ADD COLUMN default_sdk BOOLEAN;
ALTER TABLE instances ADD COLUMN default_realtime BOOLEAN;
ALTER TABLE instances ADD COLUMN inactivity_days BIGINT;
ALTER TABLE instances ADD COLUMN inactivity_action TEXT;
ALTER TABLE instances ADD COLUMN inactivity_checked_at BIGINT;
