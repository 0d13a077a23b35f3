//go:build integration

package template_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/internal/regtest"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
)

// payoutScript is a P2WPKH script distinct from btcd's mining address, so a
// block paying it is provably ours.
var payoutScript = append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0xad}, 20)...)

func newBuilder(t *testing.T) *template.Builder {
	t.Helper()
	b, err := template.NewBuilder(template.BuilderConfig{PayoutScript: payoutScript, PoolTag: "/adit-test/", ExtranonceSize: 12})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mine brute-forces a nonce for job and returns the block and its hash.
func mine(t *testing.T, j *share.Job) ([]byte, [32]byte) {
	t.Helper()
	en := bytes.Repeat([]byte{0x5a}, j.ExtranonceSize)
	root := share.MerkleRoot(share.DoubleSHA256(j.Coinbase(en)), j.MerkleBranch)
	var h share.Header
	for nonce := uint32(0); nonce < 1<<24; nonce++ {
		share.PutHeader(&h, j.Version, &j.PrevHash, &root, j.CurTime, j.Bits, nonce)
		hash := share.DoubleSHA256(h[:])
		if j.NetworkTarget.Met(&hash) {
			return j.Block(&h, en), hash
		}
	}
	t.Fatal("no nonce found")
	return nil, [32]byte{}
}

func submitAndCheck(t *testing.T, ctx context.Context, c *node.Client, j *share.Job) *wire.MsgBlock {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := template.NewMetrics(reg)
	sub := template.NewSubmitter([]*node.Client{c}, zaptest.NewLogger(t), m)
	block, hash := mine(t, j)
	ok, err := sub.SubmitBlock(ctx, block, hash)
	if err != nil || !ok {
		t.Fatalf("SubmitBlock = %v, %v", ok, err)
	}
	if got := metricValue(t, reg, "adit_blocks_submitted_total", template.ResultAccepted); got != 1 {
		t.Fatalf("accepted counter = %v", got)
	}
	best, err := c.GetBestBlockHash(ctx)
	if err != nil || best != chainhash.Hash(hash) {
		t.Fatalf("best = %v, %v; want %v", best, err, chainhash.Hash(hash))
	}
	raw, err := c.GetBlock(ctx, best)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, block) {
		t.Fatal("node's block differs from the submitted bytes")
	}
	var mb wire.MsgBlock
	if err := mb.Deserialize(bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	cb := mb.Transactions[0]
	if !bytes.Equal(cb.TxOut[0].PkScript, payoutScript) || cb.TxOut[0].Value != j.CoinbaseValue {
		t.Fatalf("coinbase pays %x %d, want %x %d", cb.TxOut[0].PkScript, cb.TxOut[0].Value, payoutScript, j.CoinbaseValue)
	}
	hdr, err := c.GetBlockHeader(ctx, best)
	if err != nil || hdr.Height != j.Height || hdr.Confirmations != 1 || !hdr.Time.Equal(mb.Header.Timestamp) {
		t.Fatalf("header = %+v, %v", hdr, err)
	}
	return &mb
}

func TestIntegrationMineBlock(t *testing.T) {
	n := regtest.Start(t, regtest.Options{})
	c := n.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Heights 1..16 exercise the OP_N height encoding: mine block 1..3 ourselves.
	for i := 0; i < 3; i++ {
		tpl, err := c.GetBlockTemplate(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		j, err := newBuilder(t).Build(tpl, uint32(i+1), true, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		submitAndCheck(t, ctx, c, j)
	}
	if _, err := c.Generate(ctx, 15, ""); err != nil {
		t.Fatal(err)
	}
	// Height 19 needs a one-byte push.
	tpl, err := c.GetBlockTemplate(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if tpl.Height != 19 {
		t.Fatalf("height %d", tpl.Height)
	}
	j, err := newBuilder(t).Build(tpl, 9, true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	submitAndCheck(t, ctx, c, j)
}

func TestIntegrationWitnessBlock(t *testing.T) {
	n := regtest.Start(t, regtest.Options{})
	c := n.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.Generate(ctx, 101, ""); err != nil {
		t.Fatal(err)
	}
	// Spend block 1's coinbase (paid to the harness key, P2WPKH).
	cb, err := n.Coinbase(ctx, c, 1)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := n.Spend(cb, 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := regtest.Broadcast(ctx, c, tx)
	if err != nil {
		t.Fatal(err)
	}
	txid := tx.TxHash()
	tpl, err := c.GetBlockTemplate(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(tpl.Transactions) != 1 || tpl.Transactions[0].TxID != txid || !tpl.Transactions[0].HasWitness {
		t.Fatalf("template transactions = %+v, want the witness tx %v", tpl.Transactions, txid)
	}
	if len(tpl.WitnessCommitment) != 38 {
		t.Fatalf("witness commitment = %x", tpl.WitnessCommitment)
	}
	j, err := newBuilder(t).Build(tpl, 1, true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !j.Witness {
		t.Fatal("job.Witness = false")
	}
	mb := submitAndCheck(t, ctx, c, j)
	if len(mb.Transactions) != 2 || mb.Transactions[1].TxHash() != txid {
		t.Fatal("block lacks the witness transaction")
	}
	if w := mb.Transactions[0].TxIn[0].Witness; len(w) != 1 || !bytes.Equal(w[0], make([]byte, 32)) {
		t.Fatalf("coinbase witness = %x", w)
	}
	raw2, err := c.GetRawTransaction(ctx, txid)
	if err != nil || !bytes.Equal(raw2, raw) {
		t.Fatalf("getrawtransaction = %x, %v", raw2, err)
	}
}

func TestIntegrationSource(t *testing.T) {
	n := regtest.Start(t, regtest.Options{})
	c := n.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.Generate(ctx, 2, ""); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := template.NewMetrics(reg)
	// A long poll interval: the longpoll and the websocket must deliver.
	src, err := template.NewSource(template.SourceConfig{Refresh: time.Hour, Poll: time.Hour},
		[]*node.Client{c}, newBuilder(t), zaptest.NewLogger(t), m)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- src.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	next := func() *share.Job {
		t.Helper()
		select {
		case j := <-src.Jobs():
			return j
		case <-time.After(20 * time.Second):
			t.Fatal("no job")
			return nil
		}
	}
	j := next()
	if !j.Clean || j.Height != 3 {
		t.Fatalf("first job clean=%v height=%d", j.Clean, j.Height)
	}
	// Several signals (websocket, longpoll) for one block: one clean job.
	for round := 0; round < 3; round++ {
		start := time.Now()
		if _, err := c.Generate(ctx, 1, ""); err != nil {
			t.Fatal(err)
		}
		k := next()
		if !k.Clean || k.Height != j.Height+1 || k.ID <= j.ID {
			t.Fatalf("job after block: clean=%v height=%d id=%d (prev %d/%d)", k.Clean, k.Height, k.ID, j.Height, j.ID)
		}
		t.Logf("new-block job after %v", time.Since(start))
		j = k
	}
	select {
	case k := <-src.Jobs():
		if k.Height == j.Height && k.Clean {
			t.Fatalf("duplicate clean job %d for height %d", k.ID, k.Height)
		}
	case <-time.After(500 * time.Millisecond):
	}
	// A block found through the pool's own path.
	submitAndCheck(t, ctx, c, j)
	k := next()
	if !k.Clean || k.Height != j.Height+1 {
		t.Fatalf("job after own block: clean=%v height=%d", k.Clean, k.Height)
	}
}
