package payout

import (
	"context"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// copyBlocks submits src's best-chain blocks from..to to dst, so dst
// follows src's chain (or reorganises onto it) without a P2P link.
func copyBlocks(t *testing.T, src, dst *node.Client, from, to int64) {
	t.Helper()
	ctx := context.Background()
	for h := from; h <= to; h++ {
		hash, err := src.GetBlockHash(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := src.GetBlock(ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		if reason, err := dst.SubmitBlock(ctx, raw); err != nil || reason != "" {
			t.Fatalf("submitblock %d: %q %v", h, reason, err)
		}
	}
}

// TestPayoutReorg: a payout confirmed in a block that a reorganisation
// removes goes back to broadcast (its change unspendable again), confirms
// again in the new chain, and its satoshis are counted once.
func TestPayoutReorg(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	a, b := startBtcd(t, key), startBtcd(t, key)
	db := testDB(t)
	m := NewMetrics(prometheus.NewRegistry())
	tr, err := NewTracker(TrackerConfig{FeeBasisPoints: 100, FeeAccount: "pool-fee", PoolScript: key.PkScript(),
		PollInterval: time.Second}, db, []Chain{a}, nil, m)
	if err != nil {
		t.Fatal(err)
	}

	// A pool block at height 1, mature at 101.
	hashes, err := a.Generate(ctx, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	miners := []string{minerAddr(t, "a"), minerAddr(t, "b")}
	now := time.Now().UTC().Truncate(time.Millisecond)
	var shares []testShare
	for i := range 10 {
		shares = append(shares, testShare{time: now.Add(time.Duration(i-10) * time.Second), instance: "i",
			id: int64(i + 1), address: miners[i%2], diff: 1})
	}
	shares[9].hash = hashes[0]
	insertShares(t, db, shares)
	rec := share.Record{Time: shares[9].time, Instance: "i", Worker: share.Worker{Address: miners[1], Name: "rig"},
		NetworkDifficulty: 5, Block: true, Hash: hashes[0]}
	if err := tr.Found(ctx, FoundBlock{Record: rec, Hash: hashes[0], Height: 1, Reward: 1}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Submitted(ctx, hashes[0], true, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Generate(ctx, 100, ""); err != nil {
		t.Fatal(err)
	}
	if err := tr.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	base, err := a.GetBlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	copyBlocks(t, a, b, 1, base) // B now shares A's chain

	p, err := NewPayer(PayerConfig{Network: &chaincfg.RegressionNetParams, Threshold: 100_000, FeeRate: 2,
		FeeAccount: "pool-fee"}, db, key, a, a, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	po, err := p.PayOnce(ctx)
	if err != nil || po == nil {
		t.Fatalf("PayOnce: %v %v", po, err)
	}
	status := func() (s string, height *int64, block []byte, changeSpendable bool, unconfirmed int) {
		t.Helper()
		if err := db.QueryRow(ctx, `SELECT status, confirmed_height, confirmed_block, unconfirmed_count FROM payouts WHERE id = $1`,
			po.ID).Scan(&s, &height, &block, &unconfirmed); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(ctx, `SELECT coalesce(bool_and(spendable), false) FROM pool_utxos WHERE change_of = $1`,
			po.ID).Scan(&changeSpendable); err != nil {
			t.Fatal(err)
		}
		return
	}
	mined, err := a.Generate(ctx, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if s, h, blk, spendable, _ := status(); s != PayoutConfirmed || h == nil || *h != base+1 ||
		chainhash.Hash(blk) != mined[0] || !spendable {
		t.Fatalf("after its block: %s at %v, change spendable %v", s, h, spendable)
	}

	// B, without the payout, mines two blocks on the common tip; A
	// reorganises onto them.
	if _, err := b.Generate(ctx, 2, ""); err != nil {
		t.Fatal(err)
	}
	copyBlocks(t, b, a, base+1, base+2)
	bestB, _ := b.GetBestBlockHash(ctx)
	if bestA, _ := a.GetBestBlockHash(ctx); bestA != bestB {
		t.Fatalf("A did not reorganise onto B's chain: %s vs %s", bestA, bestB)
	}
	if err := p.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if s, h, _, spendable, n := status(); s != PayoutBroadcast || h != nil || spendable || n != 1 {
		t.Fatalf("after the reorganisation: %s at %v, change spendable %v, unconfirmed %d times", s, h, spendable, n)
	}
	// Open again, built at base, the tip now base+2.
	if got := testutil.ToFloat64(m.openBlocks); got != 2 {
		t.Fatalf("adit_payout_oldest_unconfirmed_blocks %v while the payout is open again, want 2", got)
	}

	// The same transaction (back in A's mempool, and rebroadcast) confirms
	// in the new chain.
	again, err := a.Generate(ctx, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if s, h, blk, spendable, _ := status(); s != PayoutConfirmed || h == nil || *h != base+3 ||
		chainhash.Hash(blk) != again[0] || !spendable {
		t.Fatalf("after the new block: %s at %v, change spendable %v", s, h, spendable)
	}
	if got := testutil.ToFloat64(m.openBlocks); got != 0 {
		t.Fatalf("adit_payout_oldest_unconfirmed_blocks %v with every payout confirmed", got)
	}
	if got := testutil.ToFloat64(m.payoutSats); got != float64(po.Paid) {
		t.Fatalf("adit_payout_satoshis_total %v, paid %d once", got, po.Paid)
	}
	if got := testutil.ToFloat64(m.payouts.WithLabelValues(PayoutUnconfirmed)); got != 1 {
		t.Fatalf("unconfirmed events %v", got)
	}
}
