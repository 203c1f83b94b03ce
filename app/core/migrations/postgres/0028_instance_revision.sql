-- An instance's revision (issue 19): a registration authenticates its instance from this
-- process's memory, and its transaction confirms that the instance is still the one it was
-- authenticated against (same revision, same key, still Active), so a change made on any
-- replica holds at once. Every change to an instance, or to its application's company,
-- moves the revision on (store::accounts, store::rules); a new instance starts at its
-- creation time (ms), so one deleted and created again under the same id does not reuse a
-- revision.
ALTER TABLE instances ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
