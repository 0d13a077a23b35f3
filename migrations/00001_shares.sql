-- +goose Up
-- Accepted shares, one row per share.Record, range-partitioned by day (UTC).
-- Old data is removed by dropping whole partitions (adit_shares_drop_partitions),
-- never by DELETE. There is no default partition: the shipper creates the
-- partition a batch needs before copying it (adit_shares_ensure_partition).
CREATE TABLE shares (
    instance            text             NOT NULL,
    id                  bigint           NOT NULL,
    time                timestamptz      NOT NULL,
    address             text             NOT NULL,
    worker              text             NOT NULL,
    protocol            smallint         NOT NULL,
    job_id              bigint           NOT NULL,
    height              bigint           NOT NULL,
    assigned_difficulty double precision NOT NULL,
    reached_difficulty  double precision NOT NULL,
    network_difficulty  double precision NOT NULL,
    is_block            boolean          NOT NULL,
    hash                bytea            NOT NULL,
    remote_addr         text             NOT NULL,
    -- The partition key must be part of every unique constraint.
    PRIMARY KEY (instance, id, time)
) PARTITION BY RANGE (time);

-- PPLNS walks shares backwards in time; shares arrive almost in time order so
-- a BRIN index is tiny and nearly free at ingest.
CREATE INDEX shares_time_brin ON shares USING brin (time);

-- +goose StatementBegin
-- adit_shares_ensure_partition creates the daily partition holding day (UTC)
-- if it does not exist and returns its name. Safe to call concurrently.
CREATE FUNCTION adit_shares_ensure_partition(day date) RETURNS text
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
    IF to_regclass(part) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF shares FOR VALUES FROM (%L) TO (%L)',
                       part, lo, hi);
    END IF;
    RETURN part;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- adit_shares_ensure_partitions creates the partitions for every day from
-- from_day through from_day + days_ahead and returns how many it looked at.
CREATE FUNCTION adit_shares_ensure_partitions(from_day date, days_ahead int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    i int;
BEGIN
    FOR i IN 0..days_ahead LOOP
        PERFORM adit_shares_ensure_partition(from_day + i);
    END LOOP;
    RETURN days_ahead + 1;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- adit_shares_drop_partitions drops every daily partition whose whole range
-- lies before cutoff (UTC day boundary) and returns the dropped names.
CREATE FUNCTION adit_shares_drop_partitions(cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    part text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('adit_shares_partitions'));
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'shares'::regclass
          AND c.relname ~ '^shares_p[0-9]{8}$'
          AND ((to_date(substring(c.relname FROM 9), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC') <= cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part);
        RETURN NEXT part;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- Each instance's shipped position in its local share log. The shipper moves
-- it in the same transaction as the rows it copies (exactly once).
CREATE TABLE sharelog_positions (
    instance   text        PRIMARY KEY,
    -- log_id identifies the local log the position belongs to; a fresh log
    -- directory (new log_id) restarts from its beginning.
    log_id     text        NOT NULL,
    segment    bigint      NOT NULL,
    seg_offset bigint      NOT NULL,
    -- last_id is the highest share id shipped for this instance.
    last_id    bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workers (
    address    text        NOT NULL,
    worker     text        NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (address, worker)
);

CREATE TABLE blocks (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    height         bigint      NOT NULL,
    hash           bytea       NOT NULL UNIQUE,
    found_at       timestamptz NOT NULL,
    submitted_at   timestamptz,
    status         text        NOT NULL DEFAULT 'found'
                   CHECK (status IN ('found', 'submitted', 'accepted', 'rejected', 'orphaned', 'mature')),
    reward_sats    bigint      CHECK (reward_sats IS NULL OR reward_sats >= 0),
    confirmations  integer     NOT NULL DEFAULT 0,
    finder_address text        NOT NULL,
    finder_worker  text        NOT NULL,
    instance       text        NOT NULL,
    share_id       bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX blocks_height ON blocks (height);
CREATE INDEX blocks_status ON blocks (status) WHERE status NOT IN ('mature', 'orphaned', 'rejected');

-- +goose Down
DROP TABLE blocks;
DROP TABLE workers;
DROP TABLE sharelog_positions;
DROP FUNCTION adit_shares_drop_partitions(timestamptz);
DROP FUNCTION adit_shares_ensure_partitions(date, int);
DROP FUNCTION adit_shares_ensure_partition(date);
DROP TABLE shares;
