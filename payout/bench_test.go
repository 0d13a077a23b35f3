package payout

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkSnapshot10M measures the PPLNS snapshot (Tracker.Snapshot: the
// keyset walk, the aggregation and the insert of the per-address rows) over a
// shares table of 10 million rows in 10 daily partitions, 1000 miners, for
// windows of 10 k, 100 k and 1 M shares and for a window longer than the
// whole history (all 10 M shares count).
//
//	go test -run '^$' -bench Snapshot10M -benchtime 5x ./payout
func BenchmarkSnapshot10M(b *testing.B) {
	const total = 10_000_000
	tr := testTracker(b, TrackerConfig{})
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	setup := time.Now()
	if _, err := tr.db.Exec(ctx, `SELECT adit_shares_ensure_partitions($1::date, 10)`, start); err != nil {
		b.Fatal(err)
	}
	// 10 M shares ~86 ms apart over 10 days, difficulty 1 (window size in
	// shares = target), 1000 addresses, two instances.
	if _, err := tr.db.Exec(ctx, `
		INSERT INTO shares (instance, id, time, address, worker, protocol, job_id, height,
		                    assigned_difficulty, reached_difficulty, network_difficulty,
		                    is_block, hash, remote_addr)
		SELECT 'i' || (g % 2), g, $1::timestamptz + g * interval '86 milliseconds',
		       'bc1qminer' || (g * 7919 % 1000), 'w', 1, 1, 1, 1, 1, 1, false,
		       '\x00'::bytea, '127.0.0.1:1'
		FROM generate_series(1, $2::bigint) g`, start, total); err != nil {
		b.Fatal(err)
	}
	if _, err := tr.db.Exec(ctx, `VACUUM ANALYZE shares`); err != nil {
		b.Fatal(err)
	}
	b.Logf("setup: %d shares loaded and vacuumed in %v", total, time.Since(setup).Round(time.Second))
	newest := start.Add(total * 86 * time.Millisecond)
	seq := 0
	for _, size := range []int64{10_000, 100_000, 1_000_000, 20_000_000} {
		name := fmt.Sprintf("window=%d", size)
		if size > total {
			name = "window=all"
		}
		b.Run(name, func(b *testing.B) {
			var n int64
			for i := 0; i < b.N; i++ {
				seq++
				var h [32]byte
				h[0], h[1], h[2] = byte(seq), byte(seq>>8), 0xbe
				b.StopTimer()
				if _, err := tr.db.Exec(ctx, `INSERT INTO blocks (height, hash, found_at, finder_address, finder_worker,
					instance, share_id, network_difficulty, window_target) VALUES ($1, $2, $3, 'x', 'w', 'i1', 0, $4, $5)`,
					seq, h[:], newest, float64(size)/2, float64(size)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := tr.Snapshot(ctx, h, true); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := tr.db.QueryRow(ctx, `SELECT window_shares FROM blocks WHERE hash = $1`, h[:]).Scan(&n); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(n), "shares")
		})
	}
}
