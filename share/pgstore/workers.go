package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// WorkerSeen is a row of the workers table: when a worker's shares were
// first and last shipped into Postgres (by any instance).
type WorkerSeen struct {
	Name      string
	FirstSeen time.Time
	LastSeen  time.Time
}

// Workers returns up to limit of address's workers by name (the table's
// primary key order, so the read is an index range over the address).
func Workers(ctx context.Context, pool *pgxpool.Pool, address string, limit int) ([]WorkerSeen, error) {
	rows, err := pool.Query(ctx, `SELECT worker, first_seen, last_seen FROM workers
		WHERE address = $1 ORDER BY worker LIMIT $2`, address, max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("pgstore: workers: %w", err)
	}
	ws, err := pgx.CollectRows(rows, pgx.RowToStructByPos[WorkerSeen])
	if err != nil {
		return nil, fmt.Errorf("pgstore: workers: %w", err)
	}
	return ws, nil
}
