package mempool_test

import (
	"context"
	"testing"

	"github.com/adit-pool/adit/pool/mempool"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

const benchPool = 20_000

func benchNode(b *testing.B, core bool) (*fakeNode, []fakeTx) {
	b.Helper()
	f := newFakeNode(core)
	txs := make([]fakeTx, benchPool)
	for i := range txs {
		txs[i] = makeTx(uint64(i), i%2 == 0)
	}
	f.add(txs...)
	return f, txs
}

func benchMirror(b *testing.B, f *fakeNode) *mempool.Mirror {
	b.Helper()
	mi, err := mempool.New(mempool.Config{MaxFetch: benchPool}, f.client(b), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	return mi
}

// BenchmarkRefreshIncremental: a 20,000-transaction mempool already
// mirrored; each refresh sees 200 new transactions (and 200 gone).
func BenchmarkRefreshIncremental(b *testing.B) {
	for _, core := range []bool{false, true} {
		b.Run(dialect(core), func(b *testing.B) {
			f, txs := benchNode(b, core)
			mi := benchMirror(b, f)
			ctx := context.Background()
			if err := mi.Refresh(ctx); err != nil {
				b.Fatal(err)
			}
			next := uint64(benchPool)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				gone := make([]fakeTx, 200)
				copy(gone, txs[:200])
				txs = txs[200:]
				ids := make([]chainhash.Hash, 0, 200)
				for _, tx := range gone {
					ids = append(ids, tx.txid)
				}
				for j := range 200 {
					tx := makeTx(next, j%2 == 0)
					next++
					txs = append(txs, tx)
					f.add(tx)
				}
				f.remove(ids...)
				b.StartTimer()
				if err := mi.Refresh(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if mi.Len() != benchPool {
				b.Fatalf("mirror len %d", mi.Len())
			}
		})
	}
}

// BenchmarkRefreshColdStart: an empty mirror fetching all of a
// 20,000-transaction mempool in one refresh (batches of 200).
func BenchmarkRefreshColdStart(b *testing.B) {
	for _, core := range []bool{false, true} {
		b.Run(dialect(core), func(b *testing.B) {
			f, _ := benchNode(b, core)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				mi := benchMirror(b, f)
				b.StartTimer()
				if err := mi.Refresh(ctx); err != nil {
					b.Fatal(err)
				}
				if mi.Len() != benchPool {
					b.Fatalf("mirror len %d", mi.Len())
				}
			}
		})
	}
}

// BenchmarkLookupTxs2000: 2,000 wtxids looked up in a 20,000-transaction
// mirror.
func BenchmarkLookupTxs2000(b *testing.B) { benchLookup(b, 0) }

// BenchmarkLookupTxs2000Miss100: the same with 100 of the 2,000 wtxids
// (every 20th) unknown to the mirror, as in a declaration answered by
// ProvideMissingTransactions.
func BenchmarkLookupTxs2000Miss100(b *testing.B) { benchLookup(b, 100) }

func benchLookup(b *testing.B, misses int) {
	f, txs := benchNode(b, true)
	mi := benchMirror(b, f)
	if err := mi.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	ids := make([][32]byte, 2000)
	for i := range ids {
		ids[i] = txs[i*10].wtxid
		if misses > 0 && i%(len(ids)/misses) == 0 {
			ids[i][0] ^= 0xff // not in the mirror
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, _ := mi.LookupTxs(ids)
		if got[1999] == nil || (misses > 0) != (got[0] == nil) {
			b.Fatal("wrong hits")
		}
	}
}
