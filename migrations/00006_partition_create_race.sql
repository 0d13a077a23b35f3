-- +goose Up
-- adit_shares_ensure_partition, safe under concurrency in fact: two callers
-- creating the same day's partition (a shipper's batch and the maintenance
-- loop, or two daemons) could both fail the existence check, and the second
-- then failed with 42P07 "relation already exists" even after waiting for the
-- first: the advisory lock does not refresh the catalog lookup, so
-- to_regclass after it could still miss the first caller's committed table.
-- The second CREATE now treats "already exists" as done.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION adit_shares_ensure_partition(day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    part text := 'shares_p' || to_char(day, 'YYYYMMDD');
    lo   timestamptz := (day::timestamp AT TIME ZONE 'UTC');
    hi   timestamptz := ((day + 1)::timestamp AT TIME ZONE 'UTC');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    -- Serialise concurrent creators (several shippers, the maintenance loop).
    PERFORM pg_advisory_xact_lock(hashtext('adit_shares_partitions'));
    BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF shares FOR VALUES FROM (%L) TO (%L)',
                       part, lo, hi);
    EXCEPTION WHEN duplicate_table THEN
        NULL; -- a concurrent caller created it first
    END;
    RETURN part;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
-- The 00001 version.
CREATE OR REPLACE FUNCTION adit_shares_ensure_partition(day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    part text := 'shares_p' || to_char(day, 'YYYYMMDD');
    lo   timestamptz := (day::timestamp AT TIME ZONE 'UTC');
    hi   timestamptz := ((day + 1)::timestamp AT TIME ZONE 'UTC');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('adit_shares_partitions'));
    IF to_regclass(part) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF shares FOR VALUES FROM (%L) TO (%L)',
                       part, lo, hi);
    END IF;
    RETURN part;
END
$$;
-- +goose StatementEnd
