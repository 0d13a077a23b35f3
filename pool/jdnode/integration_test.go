//go:build integration

package jdnode_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/internal/regtest"
	"github.com/adit-pool/adit/pool/jdnode"
	"github.com/adit-pool/adit/pool/mempool"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
)

// spendCoinbase signs a P2WPKH spend of the coinbase of the block at height
// (paid to the harness key by btcd's generate) back to the harness key.
func spendCoinbase(t *testing.T, ctx context.Context, c *node.Client, n *regtest.Node, height int64) *wire.MsgTx {
	t.Helper()
	h, err := c.GetBlockHash(ctx, height)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.GetBlock(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := btcutil.NewBlockFromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	prev := blk.Transactions()[0].MsgTx().TxOut[0]
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(blk.Transactions()[0].Hash(), 0), nil, nil))
	tx.AddTxOut(wire.NewTxOut(prev.Value-10_000, n.MiningScript))
	fetcher := txscript.NewCannedPrevOutputFetcher(prev.PkScript, prev.Value)
	wit, err := txscript.WitnessSignature(tx, txscript.NewTxSigHashes(tx, fetcher), 0, prev.Value,
		prev.PkScript, txscript.SigHashAll, n.MiningKey, true)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].Witness = wit
	return tx
}

// serialize returns the wire serialization of a transaction or a block.
func serialize(t *testing.T, v interface{ Serialize(io.Writer) error }) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := v.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// mine finds a nonce for j and returns the block and its hash.
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

// recommit recomputes the witness commitment and the merkle root of a block
// whose transactions were changed, so that a proposal reaches the checks of
// the transactions themselves.
func recommit(t *testing.T, b *wire.MsgBlock) {
	t.Helper()
	txs := make([]*btcutil.Tx, len(b.Transactions))
	for i, tx := range b.Transactions {
		txs[i] = btcutil.NewTx(tx)
	}
	wroot := blockchain.CalcMerkleRoot(txs, true)
	var reserved [32]byte
	commit := chainhash.DoubleHashB(append(wroot[:], reserved[:]...))
	cb := b.Transactions[0]
	for _, out := range cb.TxOut {
		if len(out.PkScript) == 38 && bytes.HasPrefix(out.PkScript, []byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}) {
			copy(out.PkScript[6:], commit)
		}
	}
	b.Header.MerkleRoot = blockchain.CalcMerkleRoot(txs, false)
}

func TestIntegrationMirrorAndProposals(t *testing.T) {
	n := regtest.Start(t, regtest.Options{})
	c := n.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.Generate(ctx, 103, ""); err != nil {
		t.Fatal(err)
	}
	var sent []*wire.MsgTx
	for h := int64(1); h <= 3; h++ {
		tx := spendCoinbase(t, ctx, c, n, h)
		if _, err := c.SendRawTransaction(ctx, serialize(t, tx)); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, tx)
	}

	reg := prometheus.NewRegistry()
	mi, err := mempool.New(mempool.Config{BatchSize: 2}, c, zaptest.NewLogger(t), mempool.NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	if err := mi.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if mi.Len() != 3 {
		t.Fatalf("mirror holds %d txs, want 3", mi.Len())
	}
	ids := []chainhash.Hash{sent[0].TxHash(), sent[1].TxHash(), sent[2].TxHash()}
	raws, errs, err := c.GetRawTransactionsVerbose(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	wtxids := make([][32]byte, 3)
	for i, tx := range sent {
		if errs[i] != nil || raws[i].WTxID != tx.WitnessHash() || raws[i].WTxID == raws[i].TxID {
			t.Fatalf("tx %d: node's hash %v, %v; want wtxid %v", i, raws[i].WTxID, errs[i], tx.WitnessHash())
		}
		wtxids[i] = raws[i].WTxID
	}
	got, fees := mi.LookupTxs(wtxids)
	for i, tx := range sent {
		if !bytes.Equal(got[i], serialize(t, tx)) || fees[i] != 10_000 {
			t.Fatalf("tx %d: mirror has %x fee %d", i, got[i], fees[i])
		}
	}

	// A block from a real template.
	tpl, err := c.GetBlockTemplate(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(tpl.Transactions) != 3 {
		t.Fatalf("template has %d txs", len(tpl.Transactions))
	}
	payout := append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0xad}, 20)...)
	b, err := template.NewBuilder(template.BuilderConfig{PayoutScript: payout, PoolTag: "/adit-jd-test/", ExtranonceSize: 12})
	if err != nil {
		t.Fatal(err)
	}
	j, err := b.Build(tpl, 1, true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	block, hash := mine(t, j)

	tm := template.NewMetrics(prometheus.NewRegistry())
	feed := &feed{ch: make(chan *share.Job, 1)}
	a, err := jdnode.New(jdnode.Config{Params: &chaincfg.RegressionNetParams, Mirror: mi,
		Proposers: []jdnode.Proposer{c}, Submitter: template.NewSubmitter([]*node.Client{c}, zaptest.NewLogger(t), tm), Jobs: feed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.SetJob(j)
	if tip, ok := a.Tip(); !ok || tip.Height != 104 || tip.PrevHash != j.PrevHash || tip.Subsidy != 5_000_000_000 || tip.Bits != tpl.Bits {
		t.Fatalf("tip %+v", tip)
	}
	if reason, err := a.Propose(ctx, block); reason != "" || err != nil {
		t.Fatalf("valid block: Propose = %q, %v", reason, err)
	}

	var mb wire.MsgBlock
	if err := mb.Deserialize(bytes.NewReader(block)); err != nil {
		t.Fatal(err)
	}
	propose := func(name string, mutate func(b *wire.MsgBlock)) string {
		t.Helper()
		var cp wire.MsgBlock
		if err := cp.Deserialize(bytes.NewReader(block)); err != nil {
			t.Fatal(err)
		}
		mutate(&cp)
		reason, err := a.Propose(ctx, serialize(t, &cp))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s: btcd says %q", name, reason)
		return reason
	}
	// What btcd 0.26.2 answers, recorded from this test (the merkle root and
	// witness commitment recomputed unless said otherwise):
	//   prev block not the tip            "bad-prevblk"
	//   a tx changed, merkle root stale   "bad-txnmrklroot"
	//   a tx spending a missing output    "bad-txns-missinginput"
	//   a tx whose signature fails        "bad-script-validate"
	//   the valid block once it is mined  "bad-prevblk" (the tip moved on)
	for _, tc := range []struct {
		name, want string
		mutate     func(b *wire.MsgBlock)
	}{
		{"wrong prev", "bad-prevblk", func(b *wire.MsgBlock) { b.Header.PrevBlock = chainhash.Hash{1} }},
		{"stale merkle root", "bad-txnmrklroot", func(b *wire.MsgBlock) { b.Transactions[1].TxOut[0].Value-- }},
		{"missing input", "bad-txns-missinginput", func(b *wire.MsgBlock) {
			b.Transactions[1].TxIn[0].PreviousOutPoint.Hash = chainhash.Hash{0xee}
			recommit(t, b)
		}},
		{"bad signature", "bad-script-validate", func(b *wire.MsgBlock) {
			b.Transactions[1].TxOut[0].Value-- // the signature no longer matches
			recommit(t, b)
		}},
	} {
		got := propose(tc.name, tc.mutate)
		if got != tc.want {
			t.Errorf("%s: reason %q, want %q", tc.name, got, tc.want)
		}
	}

	// The pool's submitter takes the valid block; the mirror drops the mined
	// transactions on the new tip, and forgets a declared tx then too.
	a.AddTxs([][]byte{serialize(t, spendCoinbase(t, ctx, c, n, 4))})
	if mi.Len() != 4 {
		t.Fatalf("mirror holds %d after AddTxs", mi.Len())
	}
	if ok, err := a.SubmitBlock(ctx, block, hash); !ok || err != nil {
		t.Fatalf("SubmitBlock = %v, %v", ok, err)
	}
	if reason, err := a.Propose(ctx, block); reason != "bad-prevblk" || err != nil {
		t.Fatalf("proposal of a block now in the chain = %q, %v", reason, err)
	} else {
		t.Logf("proposal of the block just mined: btcd says %q", reason)
	}
	tpl2, err := c.GetBlockTemplate(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	j2, err := b.Build(tpl2, 2, true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a.SetJob(j2)
	if err := mi.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if mi.Len() != 0 {
		t.Fatalf("mirror holds %d txs after the block that mined them", mi.Len())
	}
}
