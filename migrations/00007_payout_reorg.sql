-- +goose Up
-- A payout counts as confirmed once a best-chain block holds it, but that
-- block can still be reorganised away: the payer then moves the payout back
-- to 'broadcast' (and rebroadcasts it) and counts that here, so the paid
-- satoshis are counted once however often the transaction confirms.
ALTER TABLE payouts ADD COLUMN unconfirmed_count integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE payouts DROP COLUMN unconfirmed_count;
