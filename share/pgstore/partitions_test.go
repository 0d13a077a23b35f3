package pgstore

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestEnsurePartitionConcurrent: many creators of the same new day's
// partition (the maintenance loop, every shipper's batches, several
// daemons) all succeed; exactly one partition exists afterwards.
func TestEnsurePartitionConcurrent(t *testing.T) {
	_, pool := setup(t)
	ctx := context.Background()
	for round := range 20 {
		d := dayOf(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)) + day(round)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if round%2 == 0 {
					errs <- ensurePartition(ctx, pool, d)
				} else {
					errs <- EnsurePartitions(ctx, pool, d.time(), 1)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhrelid = to_regclass($1)`,
			partitionName(d)).Scan(&n); err != nil || n != 1 {
			t.Fatalf("round %d: partition %s attached %d times (%v)", round, partitionName(d), n, err)
		}
	}
}
