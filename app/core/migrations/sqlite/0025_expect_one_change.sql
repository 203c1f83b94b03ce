-- A check a deferred batch of writes can make without a round trip (issue 19): writing
-- `INSERT INTO expect_one_change (changed) VALUES (changes())` right after an UPDATE aborts
-- the statement, and with it the transaction's batch, unless that UPDATE changed exactly
-- one row. A refresh rotated in a group commit claims its token this way (store::tokens,
-- Tx::claim_refresh); the message is matched in store::db_err. Nothing is ever stored.
CREATE VIEW expect_one_change AS SELECT 1 AS changed;
CREATE TRIGGER expect_one_change_check INSTEAD OF INSERT ON expect_one_change
BEGIN
    SELECT RAISE(ABORT, 'expected one changed row') WHERE NEW.changed <> 1;
END;
