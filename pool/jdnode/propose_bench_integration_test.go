//go:build integration

package jdnode_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/internal/regtest"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2/jdclient"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// proposeTxs is the size of the proposed block: 2,000 transactions, each
// an independent P2WPKH spend of one output of a confirmed fan-out
// transaction (btcd and Core bound unconfirmed chains, so no spend has a
// parent in the mempool).
const proposeTxs = 2000

// fanOut signs a transaction spending output 0 of prev (paying the harness
// key) into n equal outputs to the harness key, less fee.
func fanOut(b *testing.B, n *regtest.Node, prev *wire.MsgTx, outs int, fee int64) *wire.MsgTx {
	b.Helper()
	in := prev.TxOut[0]
	h := prev.TxHash()
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&h, 0), nil, nil))
	each := (in.Value - fee) / int64(outs)
	for range outs {
		tx.AddTxOut(wire.NewTxOut(each, n.MiningScript))
	}
	fetcher := txscript.NewCannedPrevOutputFetcher(in.PkScript, in.Value)
	wit, err := txscript.WitnessSignature(tx, txscript.NewTxSigHashes(tx, fetcher), 0, in.Value,
		in.PkScript, txscript.SigHashAll, n.MiningKey, true)
	if err != nil {
		b.Fatal(err)
	}
	tx.TxIn[0].Witness = wit
	return tx
}

// proposalSetup starts btcd with args, fills its mempool with proposeTxs
// independent spends and returns a client and two blocks on its tip built
// the way a JDC builds a declared job (jdclient.Build, as the JDS
// rebuilds it: zero extranonce, the template's curtime, nonce 0; the
// proof of work is not checked in a proposal): one with every template
// transaction and one with none.
func proposalSetup(b *testing.B, args ...string) (c *node.Client, full, empty []byte) {
	b.Helper()
	n := regtest.Start(b, regtest.Options{Args: args})
	c = n.Client(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := c.Generate(ctx, 101, ""); err != nil {
		b.Fatal(err)
	}
	cb, err := n.Coinbase(ctx, c, 1)
	if err != nil {
		b.Fatal(err)
	}
	fan := fanOut(b, n, cb, proposeTxs, 1_000_000)
	if _, err := regtest.Broadcast(ctx, c, fan); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Generate(ctx, 1, ""); err != nil {
		b.Fatal(err)
	}
	for i := range proposeTxs {
		tx, err := n.Spend(fan, uint32(i), 10_000)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := regtest.Broadcast(ctx, c, tx); err != nil {
			b.Fatalf("spend %d: %v", i, err)
		}
	}
	tpl, err := c.GetBlockTemplate(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	if len(tpl.Transactions) != proposeTxs {
		b.Fatalf("template holds %d transactions, want %d", len(tpl.Transactions), proposeTxs)
	}
	build := func(exclude func(chainhash.Hash) bool) []byte {
		const enSize = 12
		j, err := jdclient.Build(tpl, jdPoolOutputs, jdclient.BuildConfig{Tag: "/adit-jd-bench/", ExtranonceSize: enSize, Exclude: exclude}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		en := make([]byte, enSize)
		root := share.MerkleRoot(share.DoubleSHA256(j.Share.Coinbase(en)), j.MerklePath)
		var h share.Header
		share.PutHeader(&h, j.Version, &j.PrevHash, &root, j.MinNTime, j.NBits, 0)
		return j.Share.Block(&h, en)
	}
	full = build(nil)
	empty = build(func(chainhash.Hash) bool { return true })
	for _, blk := range [][]byte{full, empty} {
		if reason, err := c.ProposeBlock(ctx, blk); reason != "" || err != nil {
			b.Fatalf("proposal of a %d-byte block: %q, %v", len(blk), reason, err)
		}
	}
	return c, full, empty
}

// jdPoolOutputs is an AllocateMiningJobToken.Success output list: one
// output of 0 sat to a P2WPKH script.
var jdPoolOutputs = append(append([]byte{1}, make([]byte, 8)...), append([]byte{22, 0x00, 0x14}, bytes.Repeat([]byte{0xb1}, 20)...)...)

// BenchmarkProposeBlock2000 times node.Client.ProposeBlock (BIP23
// getblocktemplate {"mode":"proposal"}, what the JDS's proposal costs)
// against a real btcd regtest node, on a block of 2,000 real transactions
// from its own template and on the same tip's empty block (the RPC's fixed
// cost). "warm": btcd as run (its signature cache holds every mempool
// transaction's signatures, as for declared transactions the pool's node
// has); "sigcache-off": btcd with --sigcachemaxsize=0, so every proposal
// verifies all 2,000 signatures (as for transactions the node never saw,
// such as those a JDC provides). The proposal changes no state, so the
// same block is proposed b.N times. p50-ms and max-ms are over the
// iterations. "encode" is the client's share: the request's hex and JSON
// encoding alone.
func BenchmarkProposeBlock2000(b *testing.B) {
	for _, mode := range []struct {
		name string
		args []string
	}{{"warm", nil}, {"sigcache-off", []string{"--sigcachemaxsize=0"}}} {
		c, full, empty := proposalSetup(b, mode.args...)
		for _, blk := range []struct {
			name  string
			block []byte
		}{{"txs=0", empty}, {"txs=2000", full}} {
			b.Run(mode.name+"/"+blk.name, func(b *testing.B) {
				ctx := context.Background()
				var times []time.Duration
				b.SetBytes(int64(len(blk.block)))
				b.ReportAllocs()
				for b.Loop() {
					start := time.Now()
					reason, err := c.ProposeBlock(ctx, blk.block)
					times = append(times, time.Since(start))
					if reason != "" || err != nil {
						b.Fatalf("%q, %v", reason, err)
					}
				}
				slices.Sort(times)
				b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(times[len(times)-1].Microseconds())/1000, "max-ms")
			})
		}
		if mode.name == "warm" {
			b.Run("encode/txs=2000", func(b *testing.B) {
				b.SetBytes(int64(len(full)))
				b.ReportAllocs()
				for b.Loop() {
					req := map[string]any{"mode": "proposal", "data": hex.EncodeToString(full)}
					if _, err := json.Marshal([]any{req}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
