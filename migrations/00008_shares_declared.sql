-- +goose Up
-- Whether a share's job was declared by the miner (Stratum V2 custom job,
-- Job Declaration) rather than built by the pool from its own template.
-- A constant default makes this a catalog-only change on every partition.
ALTER TABLE shares ADD COLUMN declared boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE shares DROP COLUMN declared;
