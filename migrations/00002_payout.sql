-- +goose Up
-- Payouts: PPLNS window snapshots, the immutable ledger, the pool's
-- spendable coinbase outputs and payout transactions. Money is bigint
-- satoshis everywhere.

-- The PPLNS snapshot walks shares newest first by (time, instance, id) and
-- stops at the window's boundary: a btree in that order, covering the two
-- columns it reads, makes it an index-only range scan over the window alone.
CREATE INDEX shares_pplns ON shares (time, instance, id) INCLUDE (address, assigned_difficulty);

-- Lifecycle and window bookkeeping for blocks (blocks.hash is the raw,
-- internal byte order of the block hash, as chainhash.Hash stores it).
ALTER TABLE blocks
    ADD COLUMN network_difficulty double precision,
    ADD COLUMN submit_error       text,
    -- window_* are set once, when the PPLNS snapshot is taken.
    ADD COLUMN window_target      double precision,
    ADD COLUMN window_weight      double precision,
    ADD COLUMN window_shares      bigint,
    ADD COLUMN window_at          timestamptz,
    -- coinbase_txid (raw order) and credited_at are set when the block matures.
    ADD COLUMN coinbase_txid      bytea,
    ADD COLUMN credited_at        timestamptz;
CREATE INDEX blocks_window_pending ON blocks (found_at) WHERE window_at IS NULL;

-- One row per payout address per block, aggregated from the shares in the
-- block's PPLNS window when it was found. Pruning shares never changes it.
CREATE TABLE pplns_windows (
    block_hash bytea            NOT NULL REFERENCES blocks (hash),
    address    text             NOT NULL,
    weight     double precision NOT NULL CHECK (weight > 0),
    shares     bigint           NOT NULL CHECK (shares > 0),
    PRIMARY KEY (block_hash, address)
);

-- Payout transactions, recorded (status pending) before they are broadcast.
CREATE TABLE payouts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid            bytea       NOT NULL UNIQUE, -- raw (internal) order
    raw_tx          bytea       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'broadcast', 'confirmed')),
    fee_sats        bigint      NOT NULL CHECK (fee_sats >= 0),
    fee_policy      text        NOT NULL,
    paid_sats       bigint      NOT NULL CHECK (paid_sats > 0), -- sum of outputs to miners
    created_height  bigint      NOT NULL, -- chain tip when built
    scanned_height  bigint      NOT NULL, -- blocks up to here were searched for txid
    confirmed_height bigint,
    confirmed_block bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    broadcast_at    timestamptz,
    confirmed_at    timestamptz
);
CREATE INDEX payouts_open ON payouts (id) WHERE status <> 'confirmed';

-- What each miner receives in a payout transaction: the output value and the
-- balance it settles (they differ by the miner's part of the fee when
-- miners pay the fee).
CREATE TABLE payout_outputs (
    payout_id    bigint NOT NULL REFERENCES payouts (id),
    address      text   NOT NULL,
    vout         integer NOT NULL,
    amount_sats  bigint NOT NULL CHECK (amount_sats > 0),
    settled_sats bigint NOT NULL CHECK (settled_sats >= amount_sats),
    PRIMARY KEY (payout_id, address),
    UNIQUE (payout_id, vout)
);

-- The ledger: immutable rows; a balance is the sum of an address's rows.
--   credit  : +, a miner's PPLNS share of a mature block
--   fee     : +, the pool fee of a mature block (address = fee account)
--   payout  : -, a balance settled by a payout transaction
--   txfee   : -, a payout's transaction fee charged to the fee account
CREATE TABLE ledger (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address     text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('credit', 'fee', 'payout', 'txfee')),
    amount_sats bigint      NOT NULL,
    block_hash  bytea       REFERENCES blocks (hash),
    payout_id   bigint      REFERENCES payouts (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind IN ('credit', 'fee') AND block_hash IS NOT NULL AND payout_id IS NULL AND amount_sats > 0)
        OR (kind IN ('payout', 'txfee') AND payout_id IS NOT NULL AND block_hash IS NULL AND amount_sats < 0))
);
-- A block is credited at most once per address and kind; a payout settles
-- an address at most once.
CREATE UNIQUE INDEX ledger_block_once ON ledger (block_hash, address, kind) WHERE block_hash IS NOT NULL;
CREATE UNIQUE INDEX ledger_payout_once ON ledger (payout_id, address, kind) WHERE payout_id IS NOT NULL;
CREATE INDEX ledger_address ON ledger (address, id);

-- +goose StatementBegin
CREATE FUNCTION adit_ledger_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are immutable';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER ledger_immutable BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION adit_ledger_immutable();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION adit_ledger_immutable();

CREATE VIEW balances AS
    SELECT address, sum(amount_sats)::bigint AS balance_sats
    FROM ledger GROUP BY address;

-- The pool's own outputs: coinbase outputs of mature blocks paying the pool
-- script, and the change of its payout transactions. The invariant the tests
-- check: Σ value of unspent rows = Σ ledger.
CREATE TABLE pool_utxos (
    txid        bytea   NOT NULL, -- raw (internal) order
    vout        integer NOT NULL,
    value_sats  bigint  NOT NULL CHECK (value_sats > 0),
    pk_script   bytea   NOT NULL,
    block_hash  bytea   REFERENCES blocks (hash),  -- coinbase of this block
    change_of   bigint  REFERENCES payouts (id),   -- change of this payout
    -- spendable: false for the change of a payout not yet confirmed.
    spendable   boolean NOT NULL,
    spent_by    bigint  REFERENCES payouts (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (txid, vout),
    CHECK ((block_hash IS NULL) <> (change_of IS NULL))
);
CREATE INDEX pool_utxos_unspent ON pool_utxos (value_sats DESC) WHERE spent_by IS NULL;

-- +goose StatementBegin
-- adit_pplns_window returns the PPLNS window ending at the anchor share
-- (a_time, a_instance, a_id), walking back by (time, instance, id): the most
-- recent shares whose assigned difficulties sum to target, the boundary share
-- counted for the part that reaches target, aggregated per address. If the
-- shares run out first, all of them count in full. It walks in keyset chunks
-- (index-only scans; 4096 rows first, doubling up to chunk rows) to find the
-- boundary, then aggregates the exact range once.
CREATE FUNCTION adit_pplns_window(a_time timestamptz, a_instance text, a_id bigint,
                                  target double precision, chunk integer)
RETURNS TABLE (address text, weight double precision, shares bigint)
LANGUAGE plpgsql STABLE
-- Plan each statement for its actual cursor and LIMIT: a generic plan
-- cannot tell a 4096-row chunk from the whole table.
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    acc     double precision := 0;  -- weight of the chunks fully inside
    k_time  timestamptz := a_time;  -- keyset cursor
    k_inst  text        := a_instance;
    k_id    bigint      := a_id;
    started boolean     := false;   -- the cursor row itself was taken
    r_time  timestamptz;
    r_inst  text;
    r_id    bigint;
    r_cum   double precision;
    r_d     double precision;
    r_hit   boolean;
    b_time  timestamptz;            -- boundary (oldest) row of the window
    b_inst  text;
    b_id    bigint;
    b_w     double precision;       -- its counted weight
    cur     integer := least(chunk, 4096); -- chunk size: doubles up to chunk
BEGIN
    IF NOT (target > 0) THEN
        RETURN;
    END IF;
    LOOP
        -- One row: the first row of the chunk where the running sum reaches
        -- what is left of target, or else the chunk's last (oldest) row.
        SELECT q.t, q.i, q.n, q.cum, q.d, q.hit
          INTO r_time, r_inst, r_id, r_cum, r_d, r_hit
        FROM (
            SELECT c.t, c.i, c.n, c.d, c.cum, c.rn, (c.cum >= target - acc) AS hit
            FROM (
                SELECT s.t, s.i, s.n, s.d,
                       sum(s.d) OVER (ORDER BY s.t DESC, s.i DESC, s.n DESC ROWS UNBOUNDED PRECEDING) AS cum,
                       row_number() OVER (ORDER BY s.t DESC, s.i DESC, s.n DESC) AS rn
                FROM (
                    SELECT sh.time AS t, sh.instance AS i, sh.id AS n, sh.assigned_difficulty AS d
                    FROM shares sh
                    WHERE sh.time <= k_time
                      AND (sh.time, sh.instance, sh.id) <= (k_time, k_inst, k_id)
                      AND NOT (started AND sh.time = k_time AND sh.instance = k_inst AND sh.id = k_id)
                      AND sh.assigned_difficulty > 0
                    ORDER BY sh.time DESC, sh.instance DESC, sh.id DESC
                    LIMIT cur
                ) s
            ) c
        ) q
        ORDER BY q.hit DESC, CASE WHEN q.hit THEN q.rn ELSE -q.rn END
        LIMIT 1;
        IF NOT FOUND THEN
            EXIT; -- history exhausted: the window is every share walked
        END IF;
        b_time := r_time; b_inst := r_inst; b_id := r_id;
        IF r_hit THEN
            b_w := target - acc - (r_cum - r_d);
            EXIT;
        END IF;
        b_w := r_d;
        acc := acc + r_cum;
        k_time := r_time; k_inst := r_inst; k_id := r_id;
        started := true;
        cur := least(chunk, cur * 2);
    END LOOP;
    IF b_time IS NULL THEN
        RETURN; -- no shares at all
    END IF;
    RETURN QUERY
    SELECT sh.address,
           sum(CASE WHEN sh.time = b_time AND sh.instance = b_inst AND sh.id = b_id
                    THEN b_w ELSE sh.assigned_difficulty END),
           count(*)
    FROM shares sh
    WHERE sh.time >= b_time AND sh.time <= a_time
      AND (sh.time, sh.instance, sh.id) >= (b_time, b_inst, b_id)
      AND (sh.time, sh.instance, sh.id) <= (a_time, a_instance, a_id)
      AND sh.assigned_difficulty > 0
    GROUP BY sh.address;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION adit_pplns_window(timestamptz, text, bigint, double precision, integer);
DROP TABLE pool_utxos;
DROP VIEW balances;
DROP TABLE ledger;
DROP FUNCTION adit_ledger_immutable();
DROP TABLE payout_outputs;
DROP TABLE payouts;
DROP TABLE pplns_windows;
DROP INDEX blocks_window_pending;
ALTER TABLE blocks
    DROP COLUMN network_difficulty,
    DROP COLUMN submit_error,
    DROP COLUMN window_target,
    DROP COLUMN window_weight,
    DROP COLUMN window_shares,
    DROP COLUMN window_at,
    DROP COLUMN coinbase_txid,
    DROP COLUMN credited_at;
DROP INDEX shares_pplns;
