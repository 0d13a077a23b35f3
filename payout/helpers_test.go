package payout

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/adit-pool/adit/migrations"
	"github.com/adit-pool/adit/share/pgstore/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// testDB starts a throwaway Postgres, applies the migrations and returns a
// pool closed at cleanup.
func testDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	srv := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := migrations.UpDSN(ctx, srv.DSN()); err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(context.Background(), srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

type testShare struct {
	time     time.Time
	instance string
	id       int64
	address  string
	diff     float64
	hash     [32]byte
}

// insertShares creates the partitions the shares need and copies them in.
func insertShares(t testing.TB, db *pgxpool.Pool, shares []testShare) {
	t.Helper()
	ctx := context.Background()
	days := map[string]bool{}
	for _, s := range shares {
		d := s.time.UTC().Format("2006-01-02")
		if !days[d] {
			days[d] = true
			if _, err := db.Exec(ctx, `SELECT adit_shares_ensure_partition($1::date)`, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, err := db.CopyFrom(ctx, pgx.Identifier{"shares"},
		[]string{"instance", "id", "time", "address", "worker", "protocol", "job_id", "height",
			"assigned_difficulty", "reached_difficulty", "network_difficulty", "is_block", "hash", "remote_addr"},
		pgx.CopyFromSlice(len(shares), func(i int) ([]any, error) {
			s := shares[i]
			return []any{s.instance, s.id, s.time, s.address, "w", int16(1), int64(1), int64(100),
				s.diff, s.diff, 1.0, false, s.hash[:], "127.0.0.1:1"}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
