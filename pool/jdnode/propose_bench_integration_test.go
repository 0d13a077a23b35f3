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

// unseenTxs is how many of a block's transactions the node has never
// seen in the unseen blocks (the declaration answered by
// ProvideMissingTransactions), and unseenBlocks how many such blocks are
// built: each may be proposed once while its unseen transactions are
// unseen (btcd caches the signatures a block proposal verifies).
const (
	unseenTxs    = 100
	unseenBlocks = 25
)

// proposal is what proposalSetup prepares on btcd's tip: blocks built the
// way a JDC builds a declared job (jdclient.Build, as the JDS rebuilds
// it: zero extranonce, the template's curtime, nonce 0; the proof of work
// is not checked in a proposal).
type proposal struct {
	c *node.Client
	// full holds the template's proposeTxs transactions, empty none.
	full, empty []byte
	// unseen are blocks of proposeTxs transactions of which unseenTxs
	// (every 20th position) are not in btcd's mempool: signed spends of a
	// second confirmed fan-out, fresh in every block.
	unseen [][]byte
}

// proposalSetup starts btcd with args and fills its mempool with
// proposeTxs independent spends.
func proposalSetup(b *testing.B, args ...string) *proposal {
	b.Helper()
	n := regtest.Start(b, regtest.Options{Args: args})
	c := n.Client(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := c.Generate(ctx, 102, ""); err != nil {
		b.Fatal(err)
	}
	// Two fan-outs, confirmed: the template's spends and the unseen ones.
	fan := func(height int64, outs int) *wire.MsgTx {
		cb, err := n.Coinbase(ctx, c, height)
		if err != nil {
			b.Fatal(err)
		}
		tx := fanOut(b, n, cb, outs, 1_000_000)
		if _, err := regtest.Broadcast(ctx, c, tx); err != nil {
			b.Fatal(err)
		}
		return tx
	}
	main, spare := fan(1, proposeTxs), fan(2, unseenTxs*unseenBlocks)
	if _, err := c.Generate(ctx, 1, ""); err != nil {
		b.Fatal(err)
	}
	for i := range proposeTxs {
		tx, err := n.Spend(main, uint32(i), 10_000)
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
	build := func(tpl *node.Template, exclude func(*jdclient.TemplateTx) bool) []byte {
		const enSize = 12
		j, err := jdclient.Build(tpl.Declarable(), jdPoolOutputs, jdclient.BuildConfig{Tag: "/adit-jd-bench/", ExtranonceSize: enSize, Exclude: exclude}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		en := make([]byte, enSize)
		root := share.MerkleRoot(share.DoubleSHA256(j.Share.Coinbase(en)), j.MerklePath)
		var h share.Header
		share.PutHeader(&h, j.Version, &j.PrevHash, &root, j.MinNTime, j.NBits, 0)
		return j.Share.Block(&h, en)
	}
	p := &proposal{c: c, full: build(tpl, nil), empty: build(tpl, func(*jdclient.TemplateTx) bool { return true })}
	for _, blk := range [][]byte{p.full, p.empty} {
		if reason, err := c.ProposeBlock(ctx, blk); reason != "" || err != nil {
			b.Fatalf("proposal of a %d-byte block: %q, %v", len(blk), reason, err)
		}
	}
	// The unseen blocks: every 20th template transaction replaced by a
	// spend of the second fan-out never sent to btcd (same fee, so the
	// coinbase value stands).
	for k := range unseenBlocks {
		u := *tpl
		u.Transactions = slices.Clone(tpl.Transactions)
		u.WitnessCommitment = nil // the template's commits to other transactions
		for i := 0; i < unseenTxs; i++ {
			tx, err := n.Spend(spare, uint32(k*unseenTxs+i), 10_000)
			if err != nil {
				b.Fatal(err)
			}
			var raw bytes.Buffer
			if err := tx.Serialize(&raw); err != nil {
				b.Fatal(err)
			}
			u.Transactions[i*(proposeTxs/unseenTxs)] = node.TemplateTx{Data: raw.Bytes(), TxID: tx.TxHash(), WTxID: tx.WitnessHash(),
				Fee: 10_000, HasWitness: true}
		}
		p.unseen = append(p.unseen, build(&u, nil))
	}
	return p
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
// has); "warm/txs=2000,unseen=100": 100 of the 2,000 are transactions btcd
// never saw (a declaration whose missing transactions the JDC provided),
// fresh in every iteration: run it with -benchtime 25x or fewer;
// "sigcache-off": btcd with --sigcachemaxsize=0, so every proposal
// verifies all 2,000 signatures. The other proposals change no state, so
// the same block is proposed b.N times. p50-ms and max-ms are over the
// iterations. "encode" is the client's share: the request's hex and JSON
// encoding alone.
func BenchmarkProposeBlock2000(b *testing.B) {
	for _, mode := range []struct {
		name string
		args []string
	}{{"warm", nil}, {"sigcache-off", []string{"--sigcachemaxsize=0"}}} {
		p := proposalSetup(b, mode.args...)
		runs := []struct {
			name   string
			blocks [][]byte
		}{{"txs=0", [][]byte{p.empty}}, {"txs=2000", [][]byte{p.full}}}
		if mode.name == "warm" {
			runs = append(runs, struct {
				name   string
				blocks [][]byte
			}{"txs=2000,unseen=100", p.unseen})
		}
		for _, r := range runs {
			b.Run(mode.name+"/"+r.name, func(b *testing.B) {
				ctx := context.Background()
				var times []time.Duration
				b.SetBytes(int64(len(r.blocks[0])))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					blk := r.blocks[0]
					if len(r.blocks) > 1 {
						if i >= len(r.blocks) {
							b.Fatalf("only %d blocks with unseen transactions: run with -benchtime %dx or fewer", len(r.blocks), len(r.blocks))
						}
						blk = r.blocks[i]
					}
					start := time.Now()
					reason, err := p.c.ProposeBlock(ctx, blk)
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
				b.SetBytes(int64(len(p.full)))
				b.ReportAllocs()
				for b.Loop() {
					req := map[string]any{"mode": "proposal", "data": hex.EncodeToString(p.full)}
					if _, err := json.Marshal([]any{req}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
