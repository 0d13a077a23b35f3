-- +goose Up
-- Ingest cost of shares (issue 4): one btree instead of a btree, a second
-- btree and a BRIN.
--
-- 00001 made the primary key (instance, id, time) plus a BRIN on time;
-- 00002 added shares_pplns (time, instance, id) INCLUDE (address,
-- assigned_difficulty) for the PPLNS snapshot. The two btrees index exactly
-- the same three columns, so they enforce the same uniqueness; and a btree
-- that leads with time answers every time-range query the BRIN was for.
-- Each index costs the shipper an insertion per share (measured in
-- docs/benchmarks.md, "Share log and Postgres ingest (issue 4)"). Now the
-- primary key has the PPLNS order and carries the covering columns:
--   * uniqueness is unchanged: no two rows share (instance, id, time);
--   * adit_pplns_window's keyset walk over (time, instance, id), newest
--     first, is still an index-only range scan (Index Only Scan Backward
--     using shares_pYYYYMMDD_pkey) over the window alone;
--   * the payout anchor lookup (time range, instance, hash) ranges on the
--     key's leading time column.
-- No query looks shares up by (instance, id) without time; the shipper's
-- exactly-once rests on sharelog_positions, not on this key (the key stays
-- a second guard: a replayed batch would violate it).
--
-- Operators: this rebuilds the index of every existing partition under an
-- ACCESS EXCLUSIVE lock on shares; run it with the shippers stopped (they
-- catch up from the share log afterwards) and expect time proportional to
-- the retained shares.
DROP INDEX shares_pplns;
DROP INDEX shares_time_brin;
ALTER TABLE shares
    DROP CONSTRAINT shares_pkey,
    ADD CONSTRAINT shares_pkey PRIMARY KEY (time, instance, id) INCLUDE (address, assigned_difficulty);

-- +goose Down
ALTER TABLE shares
    DROP CONSTRAINT shares_pkey,
    ADD CONSTRAINT shares_pkey PRIMARY KEY (instance, id, time);
CREATE INDEX shares_time_brin ON shares USING brin (time);
CREATE INDEX shares_pplns ON shares (time, instance, id) INCLUDE (address, assigned_difficulty);
