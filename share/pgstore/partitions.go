package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// day is a UTC calendar day as days since the Unix epoch.
type day int64

func dayOf(t time.Time) day { return day(t.UTC().Unix() / 86400) }

func (d day) time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// EnsurePartitions creates the daily share partitions (UTC) for from's day
// and the ahead days after it, skipping those that exist.
func EnsurePartitions(ctx context.Context, pool *pgxpool.Pool, from time.Time, ahead int) error {
	d := dayOf(from).time()
	if _, err := pool.Exec(ctx, "SELECT adit_shares_ensure_partitions($1::date, $2)", d, ahead); err != nil {
		return fmt.Errorf("pgstore: ensure partitions: %w", err)
	}
	return nil
}

// ensurePartition creates the partition for one day.
func ensurePartition(ctx context.Context, pool *pgxpool.Pool, d day) error {
	if _, err := pool.Exec(ctx, "SELECT adit_shares_ensure_partition($1::date)", d.time()); err != nil {
		return fmt.Errorf("pgstore: ensure partition %s: %w", d.time().Format(time.DateOnly), err)
	}
	return nil
}

// DropPartitions drops every daily share partition whose whole day lies
// before cutoff and returns their names. Shares are only ever removed this
// way, never by DELETE.
func DropPartitions(ctx context.Context, pool *pgxpool.Pool, cutoff time.Time) ([]string, error) {
	rows, err := pool.Query(ctx, "SELECT adit_shares_drop_partitions($1)", cutoff)
	if err != nil {
		return nil, fmt.Errorf("pgstore: drop partitions: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("pgstore: drop partitions: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: drop partitions: %w", err)
	}
	return names, nil
}

// partitionName is the name of d's partition (see adit_shares_ensure_partition).
func partitionName(d day) string { return "shares_p" + d.time().Format("20060102") }
