-- +goose Up
-- The API reads an address's balance and ledger pages (issue 11). The
-- ledger_address index found an address's rows but not their amounts, so a
-- balance visited one heap page per row: 30 ms warm and 130 ms cold for an
-- address with 15,000 rows in a 7.5M-row ledger. Covering the columns the
-- API reads makes the balance an index-only scan (2 ms for the same
-- address) and serves an address's payout rows without the heap.
-- The build holds a lock that blocks ledger writes (credits at maturity,
-- payouts) for its duration: seconds per million rows.
DROP INDEX ledger_address;
CREATE INDEX ledger_address ON ledger (address, id) INCLUDE (amount_sats, kind, payout_id);

-- +goose Down
DROP INDEX ledger_address;
CREATE INDEX ledger_address ON ledger (address, id);
