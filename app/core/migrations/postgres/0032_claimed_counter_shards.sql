-- Each connection's counter shard is its own (issue 19). Migration 0026 took the shard from
-- the backend's pid (1 + pid % 15): a pool of 16 connections, or two replicas' 32, put two
-- or three connections on one shard, and registrations on those waited for each other's
-- counter row until commit (PostgreSQL waiting on a transactionid lock behind another
-- registration, two replicas at about half of the lean reference). A connection now claims
-- a free shard when it opens (`CLAIM_COUNTER_SHARD` in store/counts.rs: a session advisory
-- lock on (7301002, shard) for shards 1 to 127, the first one free, into the setting
-- `tus.counter_shard`); the lock goes with the connection, so a shard is never held by two
-- open connections of any replica. A connection without a claim (a console, or more than
-- 127 connections) falls back to the pid in 128 to 255, where it may share a shard again.
-- Readers and the fold are unchanged: they sum and fold every shard but 0.
CREATE OR REPLACE FUNCTION counter_shard() RETURNS SMALLINT LANGUAGE sql STABLE AS $$
    SELECT COALESCE(NULLIF(current_setting('tus.counter_shard', true), '')::SMALLINT,
                    (128 + pg_backend_pid() % 128)::SMALLINT)
$$;
