package mempool_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/mempool"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

func newMirror(t *testing.T, f *fakeNode, cfg mempool.Config) (*mempool.Mirror, *mempool.Metrics) {
	t.Helper()
	m := mempool.NewMetrics(prometheus.NewRegistry())
	mi, err := mempool.New(cfg, f.client(t), zaptest.NewLogger(t), m)
	if err != nil {
		t.Fatal(err)
	}
	return mi, m
}

func refresh(t *testing.T, mi *mempool.Mirror) {
	t.Helper()
	if err := mi.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// wantFound checks that the mirror returns tx (with fee, -1 for unknown)
// by its wtxid, or nothing when fee is -2.
func wantFound(t *testing.T, mi *mempool.Mirror, tx fakeTx, fee int64) {
	t.Helper()
	txs, fees := mi.LookupTxs([][32]byte{tx.wtxid})
	switch {
	case fee == -2 && (txs[0] != nil || fees[0] != -1):
		t.Fatalf("tx %s still mirrored", tx.txid)
	case fee != -2 && (!bytes.Equal(txs[0], tx.raw) || fees[0] != fee):
		t.Fatalf("tx %s: got %d bytes fee %d, want %d bytes fee %d", tx.txid, len(txs[0]), fees[0], len(tx.raw), fee)
	}
}

func TestMirrorIncremental(t *testing.T) {
	for _, core := range []bool{false, true} {
		t.Run(dialect(core), func(t *testing.T) {
			f := newFakeNode(core)
			a, b, c := makeTx(1, true), makeTx(2, false), makeTx(3, true)
			f.add(a, b)
			mi, m := newMirror(t, f, mempool.Config{BatchSize: 1})
			refresh(t, mi)
			wantFound(t, mi, a, a.fee)
			wantFound(t, mi, b, b.fee)
			if mi.Len() != 2 || f.count("getrawtransaction") != 2 {
				t.Fatalf("len %d, %d fetches", mi.Len(), f.count("getrawtransaction"))
			}
			// By txid the witness tx is not found: the index is wtxids.
			if txs, _ := mi.LookupTxs([][32]byte{a.txid}); txs[0] != nil {
				t.Fatal("found a witness tx by its txid")
			}
			f.resetCounts()
			f.remove(a.txid)
			f.add(c)
			refresh(t, mi)
			wantFound(t, mi, a, -2)
			wantFound(t, mi, b, b.fee)
			wantFound(t, mi, c, c.fee)
			if f.count("getrawtransaction") != 1 {
				t.Fatalf("%d fetches for one new tx", f.count("getrawtransaction"))
			}
			if core && f.count("getmempoolentry") != 1 {
				t.Fatalf("%d getmempoolentry calls", f.count("getmempoolentry"))
			}
			want := float64(len(b.raw) + len(c.raw) + 2*256)
			if got := testutil.ToFloat64(mirrorGauge(m, "bytes")); got != want || mi.Bytes() != int64(want) {
				t.Fatalf("bytes gauge %v, Bytes %d, want %v", got, mi.Bytes(), want)
			}
			if got := testutil.ToFloat64(mirrorGauge(m, "txs")); got != 2 {
				t.Fatalf("txs gauge %v", got)
			}
		})
	}
}

func mirrorGauge(m *mempool.Metrics, name string) prometheus.Collector {
	return mempool.MetricForTest(m, name)
}

func TestMirrorAddTxsUntilNextTip(t *testing.T) {
	for _, core := range []bool{false, true} {
		t.Run(dialect(core), func(t *testing.T) {
			f := newFakeNode(core)
			mined, declared, both := makeTx(1, true), makeTx(2, true), makeTx(3, true)
			f.add(mined, both)
			mi, _ := newMirror(t, f, mempool.Config{})
			mi.NewTip([32]byte{1})
			if n := mi.AddTxs([][]byte{declared.raw, both.raw, {0x01, 0x02}}); n != 2 {
				t.Fatalf("AddTxs = %d", n)
			}
			wantFound(t, mi, declared, -1)
			wantFound(t, mi, both, -1)
			refresh(t, mi)
			// Known by txid (btcd) or by wtxid (Core): not fetched again,
			// and the node's fee fills in.
			if f.count("getrawtransaction") != 1 {
				t.Fatalf("%d fetches, want 1 (the mined tx only)", f.count("getrawtransaction"))
			}
			wantFound(t, mi, declared, -1)
			wantFound(t, mi, both, both.fee)
			wantFound(t, mi, mined, mined.fee)
			// The same tip again changes nothing.
			mi.NewTip([32]byte{1})
			refresh(t, mi)
			wantFound(t, mi, declared, -1)
			// A new block mines `mined`; the declared tx is released.
			f.remove(mined.txid)
			mi.NewTip([32]byte{2})
			refresh(t, mi)
			wantFound(t, mi, mined, -2)
			wantFound(t, mi, declared, -2)
			wantFound(t, mi, both, both.fee)
			if mi.Len() != 1 {
				t.Fatalf("len %d", mi.Len())
			}
		})
	}
}

func TestMirrorMaxBytes(t *testing.T) {
	f := newFakeNode(false)
	var txs []fakeTx
	for i := range 10 {
		txs = append(txs, makeTx(uint64(i), true))
		f.add(txs[i])
	}
	per := int64(len(txs[0].raw) + 256)
	mi, m := newMirror(t, f, mempool.Config{MaxBytes: 3*per + 10})
	refresh(t, mi)
	if mi.Len() != 3 || mi.Bytes() > 3*per+10 {
		t.Fatalf("len %d bytes %d", mi.Len(), mi.Bytes())
	}
	if got := testutil.ToFloat64(mempool.MetricForTest(m, "full")); got != 1 {
		t.Fatalf("full = %v", got)
	}
	// Full: no more fetching, still counted; AddTxs refused too.
	f.resetCounts()
	refresh(t, mi)
	if f.count("getrawtransaction") != 0 {
		t.Fatalf("%d fetches while full", f.count("getrawtransaction"))
	}
	if n := mi.AddTxs([][]byte{makeTx(99, true).raw}); n != 0 {
		t.Fatalf("AddTxs on a full mirror = %d", n)
	}
	if got := testutil.ToFloat64(mempool.MetricForTest(m, "full")); got != 3 {
		t.Fatalf("full = %v", got)
	}
	// The mempool shrinks: the next refresh prunes, the one after fetches.
	f.remove(txs[0].txid, txs[1].txid, txs[2].txid, txs[3].txid, txs[4].txid, txs[5].txid, txs[6].txid)
	refresh(t, mi)
	refresh(t, mi)
	for _, tx := range txs[7:] {
		wantFound(t, mi, tx, tx.fee)
	}
}

func TestMirrorMaxFetchAndBadTxs(t *testing.T) {
	for _, core := range []bool{false, true} {
		t.Run(dialect(core), func(t *testing.T) {
			f := newFakeNode(core)
			var txs []fakeTx
			for i := range 25 {
				txs = append(txs, makeTx(uint64(i), i%2 == 0))
				f.add(txs[i])
			}
			f.badWtxid[txs[3].txid] = true
			f.vanish[txs[4].txid] = true
			mi, _ := newMirror(t, f, mempool.Config{MaxFetch: 10, BatchSize: 4})
			refresh(t, mi)
			// 10 fetched; with Core (listing order kept) one lies, one is gone.
			// btcd's verbose listing is a map: any 10.
			if n := mi.Len(); n > 10 || n < 8 || (core && n != 8) {
				t.Fatalf("len %d after one capped refresh", n)
			}
			refresh(t, mi)
			refresh(t, mi)
			refresh(t, mi)
			if mi.Len() != 23 {
				t.Fatalf("len %d", mi.Len())
			}
			wantFound(t, mi, txs[3], -2)
			wantFound(t, mi, txs[4], -2)
			wantFound(t, mi, txs[24], txs[24].fee)
		})
	}
}

func TestMirrorRefreshError(t *testing.T) {
	c := newFakeNode(false).client(t)
	m := mempool.NewMetrics(prometheus.NewRegistry())
	mi, err := mempool.New(mempool.Config{}, c, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := mi.Refresh(ctx); err == nil {
		t.Fatal("Refresh on a cancelled context succeeded")
	}
	if got := testutil.ToFloat64(mempool.MetricForTest(m, "errors")); got != 1 {
		t.Fatalf("errors = %v", got)
	}
}

func TestMirrorRunRefreshesOnNewTip(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
	f := newFakeNode(true)
	a, b := makeTx(1, true), makeTx(2, true)
	f.add(a)
	mi, _ := newMirror(t, f, mempool.Config{Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mi.Run(ctx) }()
	waitFor(t, func() bool { return mi.Len() == 1 })
	f.add(b)
	f.remove(a.txid)
	mi.NewTip(chainhash.Hash{7})
	waitFor(t, func() bool {
		txs, _ := mi.LookupTxs([][32]byte{a.wtxid, b.wtxid})
		return txs[0] == nil && txs[1] != nil
	})
	if err := mi.Run(ctx); err == nil {
		t.Fatal("second Run accepted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []mempool.Config{{Interval: -1}, {MaxBytes: -1}, {BatchSize: -1}, {BatchSize: 1001}, {MaxFetch: -1}, {RefreshTimeout: -1}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := mempool.New(mempool.Config{}, nil, nil, nil); err == nil {
		t.Error("nil source accepted")
	}
}
