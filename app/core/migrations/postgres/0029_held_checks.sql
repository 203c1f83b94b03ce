-- The checks of a write-only transaction sent as one statement (issue 19, store::fused):
-- a registration confirms its instance, a rotation claims its refresh token, as an
-- expression of the statement that also writes the rows. `tus_expect` aborts that statement,
-- and so every write in it, with `message` unless `ok` is true; the messages are matched in
-- store::db_err (as SQLite's `expect_instance` and `expect_one_change` are).
CREATE FUNCTION tus_expect(ok BOOLEAN, message TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING MESSAGE = message;
    END IF;
    RETURN TRUE;
END $$;
