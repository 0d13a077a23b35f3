-- +goose Up
-- The audit trail of `aditctl sharelog skip`: every time an operator moved an
-- instance's shipped position past a damaged stretch of its share log, one
-- row, written in the transaction that moved sharelog_positions. The shares
-- in the skipped bytes never reach Postgres; this table says which.
CREATE TABLE sharelog_skips (
    id              bigserial   PRIMARY KEY,
    instance        text        NOT NULL,
    log_id          text        NOT NULL,
    -- the shipped position before and after the skip
    from_segment    bigint      NOT NULL,
    from_offset     bigint      NOT NULL,
    to_segment      bigint      NOT NULL,
    to_offset       bigint      NOT NULL,
    -- where the damaged bytes start, and why the reader refused them
    damage_segment  bigint      NOT NULL,
    damage_offset   bigint      NOT NULL,
    reason          text        NOT NULL,
    -- the last record shipped before the damage and the first intact record
    -- after it (NULL: none yet); ids strictly between them are lost
    last_good_id    bigint      NOT NULL,
    next_good_id    bigint,
    skipped_at      timestamptz NOT NULL DEFAULT now(),
    skipped_by      text        NOT NULL DEFAULT current_user
);

-- +goose Down
DROP TABLE sharelog_skips;
