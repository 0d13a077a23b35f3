package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/adit-pool/adit/stratum/client"
	"github.com/adit-pool/adit/stratum/client/clienttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDeposit(t *testing.T) {
	cases := []struct{ v, mask, want uint32 }{
		{0, 0x1fffe000, 0},
		{1, 0x1fffe000, 0x2000},
		{0xffff, 0x1fffe000, 0x1fffe000},
		{0b101, 0b1010_1000, 0b1000_1000},
		{0xffffffff, 0xffffffff, 0xffffffff},
	}
	for _, c := range cases {
		if got := deposit(c.v, c.mask); got != c.want {
			t.Errorf("deposit(%x, %x) = %x, want %x", c.v, c.mask, got, c.want)
		}
	}
}

func TestEN2Ranges(t *testing.T) {
	// Ranges of different threads never overlap.
	for _, size := range []int{1, 2, 4, 8, 12} {
		for _, threads := range []int{1, 3, 300} {
			var prevEnd uint64
			for i := range threads {
				start, n := en2Range(size, i, threads)
				if n == 0 {
					t.Fatalf("size %d threads %d: thread %d gets nothing", size, threads, i)
				}
				if size == 1 && threads > 256 {
					continue // shared round-robin
				}
				if i > 0 && start < prevEnd {
					t.Fatalf("size %d threads %d: thread %d starts at %d < %d", size, threads, i, start, prevEnd)
				}
				prevEnd = start + n
			}
		}
	}
	en2 := make([]byte, 10)
	putEN2(en2, 0x0102030405060708)
	if !bytes.Equal(en2, []byte{0, 0, 1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("putEN2 = %x", en2)
	}
	short := make([]byte, 2)
	putEN2(short, 0x0a0b)
	if !bytes.Equal(short, []byte{0x0a, 0x0b}) {
		t.Fatalf("putEN2 short = %x", short)
	}
}

func TestFleetUsername(t *testing.T) {
	if got := fleetUsername("bcrt1qabc.rig", 3); got != "bcrt1qabc.rig-3" {
		t.Fatal(got)
	}
	if got := fleetUsername("bcrt1qabc", 3); got != "bcrt1qabc.3" {
		t.Fatal(got)
	}
}

func testFleet(pool *clienttest.Pool, miners, threads int, cc client.Config) fleetConfig {
	cc.Addr, cc.Username, cc.Timeout = pool.Addr(), "bcrt1qtest.w", 5*time.Second
	return fleetConfig{Miners: miners, Base: minerConfig{Client: cc, Threads: threads, Reconnect: 0}}
}

// TestMinerFindsShares: the real miner finds and submits shares at
// difficulty 1e-4 that a real share.Validator accepts, within seconds.
func TestMinerFindsShares(t *testing.T) {
	for _, tc := range []struct {
		name string
		cc   client.Config
	}{
		{"plain", client.Config{}},
		{"bitaxe-quirks", client.Config{VersionRolling: true, RequestMask: 0xffffffff, SuggestDifficulty: 0.0001,
			ExtranonceSubscribe: true, MultiVersion: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := clienttest.NewPool(t, clienttest.Config{Difficulty: 1e-4})
			cfg := testFleet(pool, 1, 2, tc.cc)
			cfg.MaxShares = 5
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			s := runFleet(ctx, cfg, zap.NewNop())
			if ctx.Err() != nil {
				t.Fatalf("timed out: %+v", s)
			}
			if s.Accepted < 5 || len(s.Rejected) != 0 || s.IOErrors != 0 {
				t.Fatalf("summary %+v, pool rejected %v", s, pool.Rejected())
			}
			if pool.Accepted() < 5 {
				t.Fatalf("pool accepted %d", pool.Accepted())
			}
			t.Logf("5 shares in %v, %.2f MH/s, p50 %.3f ms", time.Since(start), s.Hashrate/1e6, s.LatencyP50Ms)
		})
	}
}

// TestMinerFollowsCleanJobs: after a clean job, the miner moves to it; only
// shares already in flight at the switch may be stale.
func TestMinerFollowsCleanJobs(t *testing.T) {
	pool := clienttest.NewPool(t, clienttest.Config{Difficulty: 1e-4})
	cfg := testFleet(pool, 1, 2, client.Config{VersionRolling: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan summary)
	go func() { done <- runFleet(ctx, cfg, zap.NewNop()) }()
	waitFor(t, func() bool { return pool.Accepted() >= 2 })
	for id := uint32(2); id <= 4; id++ {
		pool.Broadcast(clienttest.Job(id, 12, true))
		base := pool.Accepted()
		waitFor(t, func() bool { return pool.Accepted() >= base+2 })
	}
	cancel()
	s := <-done
	// A share in flight when a new block arrives is honestly stale (21):
	// the pool moved first (how many depends on the hash rate, but fewer
	// than were accepted). Nothing else may be rejected.
	if rej := pool.Rejected(); len(rej) > 1 || rej[21] >= pool.Accepted() {
		t.Fatalf("pool rejected %v (summary %+v)", rej, s)
	}
}

// TestFleetPaced: several miners on their own connections, paced to a share
// rate, report per-miner totals that add up.
func TestFleetPaced(t *testing.T) {
	// Shares are cheap (~430 hashes at 1e-7) so that even a slow, loaded
	// machine could make far more than the paced rate: the count then
	// shows the pacing, not the machine's speed.
	pool := clienttest.NewPool(t, clienttest.Config{Difficulty: 1e-7})
	cfg := testFleet(pool, 4, 1, client.Config{})
	cfg.Base.ShareRate = 2
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s := runFleet(ctx, cfg, zap.NewNop())
	// 4 miners × 2 shares/s × 3 s ≈ 24 expected; unpaced it would be thousands.
	if s.Accepted < 4 || s.Accepted > 60 {
		t.Fatalf("accepted %d, want about 24 (summary %+v)", s.Accepted, s)
	}
	if uint64(pool.Accepted()) != s.Accepted || len(s.Rejected) != 0 {
		t.Fatalf("pool accepted %d rejected %v, summary %+v", pool.Accepted(), pool.Rejected(), s)
	}
	var out bytes.Buffer
	s.writeText(&out)
	if !strings.Contains(out.String(), "accepted") || !strings.Contains(out.String(), "p99") {
		t.Fatalf("text summary:\n%s", out.String())
	}
	if _, err := json.Marshal(s); err != nil {
		t.Fatal(err)
	}
}

func TestRunCommand(t *testing.T) {
	pool := clienttest.NewPool(t, clienttest.Config{Difficulty: 1e-4})
	var stdout, stderr bytes.Buffer
	code := run([]string{"-pool", pool.Addr(), "-user", "bcrt1qtest.cli", "-threads", "1", "-max-shares", "2",
		"-duration", "30s", "-mask", "ffffffff", "-json", "-log-level", "warn"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	var s summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("%v in %q", err, stdout.String())
	}
	if s.Accepted < 2 {
		t.Fatalf("summary %+v", s)
	}
	if code := run([]string{"-pool", pool.Addr()}, &stdout, &stderr); code != 2 {
		t.Fatalf("missing -user: exit %d", code)
	}
	if code := run([]string{"-user", "u", "-mask", "xyz"}, &stdout, &stderr); code != 2 {
		t.Fatalf("bad -mask: exit %d", code)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
