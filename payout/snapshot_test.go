package payout

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/jackc/pgx/v5"
)

func testTracker(t testing.TB, cfg TrackerConfig, chains ...Chain) *Tracker {
	t.Helper()
	if cfg.FeeAccount == "" {
		cfg.FeeAccount = "pool-fee"
	}
	if cfg.PoolScript == nil {
		cfg.PoolScript = []byte{0x00, 0x14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	}
	if len(chains) == 0 {
		chains = []Chain{nil}
	}
	tr, err := NewTracker(cfg, testDB(t), chains, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// sortNewestFirst orders shares the way PPLNS walks them: by (time,
// instance, id), newest first.
func sortNewestFirst(ss []testShare) {
	slices.SortFunc(ss, func(a, b testShare) int {
		if c := b.time.Compare(a.time); c != 0 {
			return c
		}
		if a.instance != b.instance {
			if b.instance < a.instance {
				return -1
			}
			return 1
		}
		return int(b.id - a.id)
	})
}

func windowFromDB(t *testing.T, tr *Tracker, hash [32]byte) []AddressWeight {
	t.Helper()
	rows, err := tr.db.Query(context.Background(),
		`SELECT address, weight, shares FROM pplns_windows WHERE block_hash = $1 ORDER BY address`, hash[:])
	if err != nil {
		t.Fatal(err)
	}
	ws, err := pgx.CollectRows(rows, pgx.RowToStructByPos[AddressWeight])
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// TestSnapshotMatchesIndependentWindow: the Postgres snapshot equals the
// window computed in Go from the same shares, for windows inside one chunk,
// across many chunks, exactly at a share boundary, and longer than history;
// with time ties across instances and shares spread over several daily
// partitions.
func TestSnapshotMatchesIndependentWindow(t *testing.T) {
	tr := testTracker(t, TrackerConfig{SnapshotChunk: 7})
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	var shares []testShare
	ids := map[string]int64{}
	for i := 0; i < 3000; i++ {
		inst := []string{"a", "b", "c"}[r.IntN(3)]
		ids[inst]++
		s := testShare{
			// about 3 s apart on average over ~2.5 hours, ties on purpose
			time:     base.Add(time.Duration(r.IntN(9000)) * time.Second).Truncate(time.Second),
			instance: inst,
			id:       ids[inst],
			address:  fmt.Sprintf("miner%02d", r.IntN(12)),
			// dyadic difficulties: every sum is exact in float64, so Go and
			// Postgres agree bit for bit
			diff: math.Ldexp(float64(1+r.IntN(64)), -r.IntN(8)),
		}
		for j := range s.hash {
			s.hash[j] = byte(r.Uint32())
		}
		shares = append(shares, s)
	}
	insertShares(t, tr.db, shares)
	sortNewestFirst(shares)

	cases := []struct {
		name   string
		anchor int // index in newest-first order
		target float64
	}{
		{"inside one chunk", 10, 3},
		{"many chunks", 100, 2000},
		{"whole history shorter", 50, 1e12},
		{"newest share", 0, 500},
		{"oldest share", len(shares) - 1, 10},
	}
	// Exactly at a boundary: target = sum of the first k shares.
	exact := 0.0
	for _, s := range shares[200:230] {
		exact += s.diff
	}
	cases = append(cases, struct {
		name   string
		anchor int
		target float64
	}{"exact boundary", 200, exact})
	// Exactly at the end of a chunk (4 chunks of 7): the boundary is the
	// chunk's last row, counted in full.
	exact = 0
	for _, s := range shares[300:328] {
		exact += s.diff
	}
	cases = append(cases, struct {
		name   string
		anchor int
		target float64
	}{"exact boundary at a chunk's end", 300, exact})
	// History ends exactly at the end of a chunk.
	cases = append(cases, struct {
		name   string
		anchor int
		target float64
	}{"history ends at a chunk's end", len(shares) - 21, 1e12})

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := shares[c.anchor]
			hash := a.hash
			fb := FoundBlock{
				Record: share.Record{Time: a.time, Instance: a.instance, Worker: share.Worker{Address: a.address},
					NetworkDifficulty: c.target / DefaultPPLNSFactor},
				Hash: hash, Height: int64(1000 + i), Reward: 1,
			}
			if err := tr.Found(ctx, fb); err != nil {
				t.Fatal(err)
			}
			var ws []WindowShare
			for _, s := range shares[c.anchor:] {
				ws = append(ws, WindowShare{Address: s.address, Difficulty: s.diff})
			}
			want, _, _ := Window(ws, c.target)
			got := windowFromDB(t, tr, hash)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("snapshot differs from the independent window:\n got %v\nwant %v", got, want)
			}
			// Idempotent: a second snapshot leaves it alone.
			if taken, err := tr.Snapshot(ctx, hash, false); err != nil || !taken {
				t.Fatal(taken, err)
			}
		})
	}
}

// TestSnapshotWaitsForShare: a block whose share is not in Postgres yet gets
// no window until the share arrives (or SnapshotWait passes: then it is
// anchored at the block's time).
func TestSnapshotWaitsForShare(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tr := testTracker(t, TrackerConfig{Clock: clock, SnapshotWait: time.Minute})
	ctx := context.Background()
	old := []testShare{
		{time: now.Add(-10 * time.Second), instance: "i", id: 1, address: "x", diff: 1},
		{time: now.Add(-5 * time.Second), instance: "i", id: 2, address: "y", diff: 2},
	}
	insertShares(t, tr.db, old)
	var h1, h2 [32]byte
	h1[0], h2[0] = 1, 2
	rec := share.Record{Time: now, Instance: "i", NetworkDifficulty: 100}
	if err := tr.Found(ctx, FoundBlock{Record: rec, Hash: h1, Height: 1}); err != nil {
		t.Fatal(err)
	}
	if taken, err := tr.Snapshot(ctx, h1, false); err != nil || taken {
		t.Fatalf("snapshot taken before the share arrived: %v %v", taken, err)
	}
	// The shipper delivers the share: the next attempt takes the window.
	insertShares(t, tr.db, []testShare{{time: now, instance: "i", id: 3, address: "z", diff: 4, hash: h1}})
	if err := tr.snapshotPending(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(windowFromDB(t, tr, h1)); got != "[{x 1 1} {y 2 1} {z 4 1}]" {
		t.Fatal(got)
	}
	// A share that never arrives: after SnapshotWait the window ends at the
	// block's time.
	rec.Time = now.Add(time.Second)
	if err := tr.Found(ctx, FoundBlock{Record: rec, Hash: h2, Height: 2}); err != nil {
		t.Fatal(err)
	}
	if err := tr.snapshotPending(ctx); err != nil {
		t.Fatal(err)
	}
	if ws := windowFromDB(t, tr, h2); len(ws) != 0 {
		t.Fatal("forced too early", ws)
	}
	now = now.Add(2 * time.Minute)
	if err := tr.snapshotPending(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(windowFromDB(t, tr, h2)); got != "[{x 1 1} {y 2 1} {z 4 1}]" {
		t.Fatal(got)
	}
}
