package jd

import (
	"crypto/rand"
	"encoding/binary"
	"testing"

	"go.uber.org/zap"

	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/keys"
	"github.com/adit-pool/adit/sv2/noise"
)

// The DeclareMiningJob benchmarks (issue 9): a declaration of benchTxs
// transactions, split into the stages the server runs (check: coinbase,
// wtxid list, mirror answer, transaction parsing; assemble: weight, value,
// witness commitment, merkle branch, block bytes), then the whole server
// path over Noise on loopback with the fake node, whose proposal is
// instant (the real node's proposal is timed against btcd in
// pool/jdnode's BenchmarkProposeBlock2000, integration tag).
const (
	benchTxs     = 2000
	benchMissing = 100
	benchFee     = 2_000
)

// benchTx returns transaction i of a mainnet-like mix: 7 in 10 P2WPKH
// 1-in-2-out (223 bytes), 2 in 10 P2WPKH 2-in-2-out (372 bytes), 1 in 10
// legacy P2PKH 1-in-2-out (226 bytes); every one distinct.
func benchTx(i int) []byte {
	kind := i % 10
	witness, nIn := kind < 9, 1
	if kind == 7 || kind == 8 {
		nIn = 2
	}
	filler := func(n int, seed uint32) []byte {
		b := make([]byte, n)
		for j := range b {
			seed = seed*1664525 + 1013904223
			b[j] = byte(seed >> 24)
		}
		return b
	}
	b := binary.LittleEndian.AppendUint32(nil, 2)
	if witness {
		b = append(b, 0, 1)
	}
	b = append(b, byte(nIn))
	for in := range nIn {
		prev := filler(32, uint32(i)<<1|uint32(in))
		b = append(b, prev...)
		b = binary.LittleEndian.AppendUint32(b, uint32(in))
		if witness {
			b = append(b, 0)
		} else {
			b = append(b, 107, 72)
			b = append(b, filler(72, uint32(i)^0xabcdef)...)
			b = append(b, 33)
			b = append(b, filler(33, uint32(i)^0x123456)...)
		}
		b = binary.LittleEndian.AppendUint32(b, 0xfffffffd)
	}
	script := func(seed uint32) []byte {
		if witness {
			return append([]byte{0x00, 0x14}, filler(20, seed)...)
		}
		return append(append([]byte{0x76, 0xa9, 0x14}, filler(20, seed)...), 0x88, 0xac)
	}
	b = appendOutputs(b, []txOut{{Value: 50_000 + int64(i), Script: script(uint32(i) * 3)}, {Value: 1_234_567, Script: script(uint32(i)*3 + 1)}})
	if witness {
		for in := range nIn {
			b = append(b, 2, 72)
			b = append(b, filler(72, uint32(i)<<4|uint32(in))...)
			b = append(b, 33)
			b = append(b, filler(33, uint32(i)<<5|uint32(in))...)
		}
	}
	return binary.LittleEndian.AppendUint32(b, 0)
}

// benchDeclaration returns the transactions and a DeclareMiningJob over
// them paying the pool the subsidy and every fee, with its witness
// commitment.
func benchDeclaration(b testing.TB, n int) (txs [][]byte, m *codec.DeclareMiningJob) {
	b.Helper()
	w := make([][32]byte, n)
	for i := range n {
		raw := benchTx(i)
		t, err := parseTx(raw)
		if err != nil {
			b.Fatalf("benchTx(%d): %v", i, err)
		}
		txs = append(txs, raw)
		w[i] = t.WTxID
	}
	s := defaultSpec(testHeight, testSubsidy+int64(n)*benchFee)
	s.outs = append(s.outs, commitOutput(w))
	p, x := s.build()
	return txs, &codec.DeclareMiningJob{RequestID: 1, Version: 0x20000000, CoinbaseTxPrefix: p, CoinbaseTxSuffix: x, WtxidList: w}
}

func blockBytes(txs [][]byte) (n int64) {
	for _, t := range txs {
		n += int64(len(t))
	}
	return n
}

// staticNode answers LookupTxs with fixed slices at no cost, so check's
// figure is the JDS's own work (the mirror's lookup is
// pool/mempool's BenchmarkLookupTxs2000).
type staticNode struct {
	*fakeNode
	raws [][]byte
	fees []int64
}

func (n *staticNode) LookupTxs([][32]byte) ([][]byte, []int64) { return n.raws, n.fees }

// benchConn is a connection's owner state without a socket: enough for
// check and assemble.
func benchConn(b *testing.B, txs [][]byte) *conn {
	b.Helper()
	auth, err := keys.GenerateSecretKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	n := &staticNode{fakeNode: newFakeNode(), raws: txs, fees: make([]int64, len(txs))}
	for i := range n.fees {
		n.fees[i] = benchFee
	}
	srv, err := NewServer(Config{}, Deps{Node: n, Keys: &noise.KeyRotator{Authority: auth}, PoolScript: poolScript})
	if err != nil {
		b.Fatal(err)
	}
	return &conn{srv: srv, log: zap.NewNop()}
}

// BenchmarkDeclareParse2000 is the parsing of a 2,000-transaction
// declaration: the coinbase and payout checks alone, the 2,000
// transactions alone (parseTx: bounds, txid and wtxid), and check as the
// server runs it (both, the duplicate-wtxid map, matching each mirror
// answer to its wtxid) with a mirror that answers at no cost. SetBytes is
// the transactions' bytes.
func BenchmarkDeclareParse2000(b *testing.B) {
	txs, m := benchDeclaration(b, benchTxs)
	b.Run("coinbase", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cb, err := ParseDeclaredCoinbase(m.CoinbaseTxPrefix, m.CoinbaseTxSuffix)
			if err != nil {
				b.Fatal(err)
			}
			if why := checkPayout(cb.Outs, poolScript, testSubsidy); why != "" {
				b.Fatal(why)
			}
		}
	})
	b.Run("txs", func(b *testing.B) {
		b.SetBytes(blockBytes(txs))
		b.ReportAllocs()
		for b.Loop() {
			for _, raw := range txs {
				if _, err := parseTx(raw); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("check", func(b *testing.B) {
		c := benchConn(b, txs)
		b.SetBytes(blockBytes(txs))
		b.ReportAllocs()
		for b.Loop() {
			p := &declaration{m: m}
			if r := c.check(p); r != nil {
				b.Fatal(r)
			}
			if p.txs[benchTxs-1] == nil {
				b.Fatal("a transaction was not resolved")
			}
		}
	})
}

// BenchmarkDeclareAssemble2000 is propose's local work on a checked
// 2,000-transaction declaration (assemble: weight and fees, the witness
// merkle root for the commitment, the txid merkle branch, the header's
// merkle root and the block's bytes), and its two merkle trees alone.
func BenchmarkDeclareAssemble2000(b *testing.B) {
	txs, m := benchDeclaration(b, benchTxs)
	c := benchConn(b, txs)
	p := &declaration{m: m}
	if r := c.check(p); r != nil {
		b.Fatal(r)
	}
	b.Run("assemble", func(b *testing.B) {
		b.SetBytes(blockBytes(txs))
		b.ReportAllocs()
		for b.Loop() {
			if _, block, r := assemble(p); r != nil || len(block) == 0 {
				b.Fatal(r)
			}
		}
	})
	b.Run("witness-commitment", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if why := checkWitnessCommitment(p.cb, p.txs); why != "" {
				b.Fatal(why)
			}
		}
	})
}

// BenchmarkDeclareServer2000 is a whole declaration through the server, as
// a JDC sees it: DeclareMiningJob written over Noise on loopback until
// DeclareMiningJob.Success is read, with every transaction in the (fake,
// in-memory) mirror, or with 100 of them missing, asked for with
// ProvideMissingTransactions and given in one
// ProvideMissingTransactions.Success. The fake node's proposal answers at
// once; token allocation and activation are outside the timing. Client
// and server share the process (and the machine's cores).
func BenchmarkDeclareServer2000(b *testing.B) {
	b.Run("mirror-hits", func(b *testing.B) { benchServer(b, 0) })
	b.Run("missing-100", func(b *testing.B) { benchServer(b, benchMissing) })
}

func benchServer(b *testing.B, missing int) {
	e := startLogged(b, Config{AllocationsPerMinute: 1 << 30, DeclarationsPerMinute: 1 << 30}, zap.NewNop())
	txs, m := benchDeclaration(b, benchTxs)
	var provide [][]byte
	for i, raw := range txs {
		if missing > 0 && i%(benchTxs/missing) == 0 {
			provide = append(provide, raw)
			continue
		}
		e.node.addMempool(raw, benchFee)
	}
	if len(provide) != missing {
		b.Fatalf("%d missing, want %d", len(provide), missing)
	}
	e.node.mu.Lock()
	e.node.onPropose = func(n *fakeNode) { n.proposed = n.proposed[:0] } // keep no block
	e.node.mu.Unlock()
	c := e.setupClient()
	b.SetBytes(blockBytes(txs))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		m.RequestID = uint32(i)
		m.MiningJobToken = c.allocate("bench", uint32(i))
		b.StartTimer()
		c.write(m)
		r := c.read()
		if missing > 0 {
			pmt, ok := r.(*codec.ProvideMissingTransactions)
			if !ok || len(pmt.UnknownTxPositionList) != missing {
				b.Fatalf("want ProvideMissingTransactions for %d, got %#v", missing, r)
			}
			c.write(&codec.ProvideMissingTransactionsSuccess{RequestID: m.RequestID, TransactionList: provide})
			r = c.read()
		}
		s, ok := r.(*codec.DeclareMiningJobSuccess)
		if !ok || s.RequestID != m.RequestID {
			b.Fatalf("declare: %#v", r)
		}
		b.StopTimer()
		// Burn the active token: it holds the declaration (its 2,000
		// transactions) for ActiveTokenLifetime otherwise.
		if _, err := e.srv.Activate(s.NewMiningJobToken, "bench"); err != nil {
			b.Fatal(err)
		}
		e.node.mu.Lock()
		e.node.added = e.node.added[:0]
		e.node.mu.Unlock()
		b.StartTimer()
	}
}
