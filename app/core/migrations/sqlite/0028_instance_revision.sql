-- An instance's revision (issue 19): a registration authenticates its instance from this
-- process's memory, and its write confirms that the instance is still the one it was
-- authenticated against (same revision, same key, still Active) without a round trip.
-- Every change to an instance, or to its application's company, moves the revision on
-- (store::accounts, store::rules); a new instance starts at its creation time (ms), so one
-- deleted and created again under the same id does not reuse a revision.
ALTER TABLE instances ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

-- `INSERT INTO expect_instance (id, instance_key, revision) VALUES (...)` aborts the
-- statement, and with it the transaction's batch, unless that instance is unchanged and
-- Active: the check a registration deferred into a group commit makes (store::accounts,
-- Tx::confirm_instance); the message is matched in store::db_err. Nothing is ever stored.
CREATE VIEW expect_instance AS SELECT '' AS id, '' AS instance_key, 0 AS revision;
CREATE TRIGGER expect_instance_check INSTEAD OF INSERT ON expect_instance
BEGIN
    SELECT RAISE(ABORT, 'the instance changed')
    WHERE NOT EXISTS (SELECT 1 FROM instances i
        WHERE i.id = NEW.id AND i.instance_key = NEW.instance_key
          AND i.revision = NEW.revision AND i.status = 'Active');
END;
