package blocklog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
)

func testEntry(nonce byte) *Entry {
	block := make([]byte, 120)
	block[79] = nonce
	h := share.DoubleSHA256(block[:80])
	return &Entry{
		Hash: h, Height: 170, Reward: 5_000_000_000, Block: block,
		Record: share.Record{
			ID: 7, Time: time.Date(2026, 12, 2, 6, 0, int(nonce), 123456789, time.UTC), Instance: "i1",
			Worker: share.Worker{Address: "bcrt1qexample", Name: "w1"}, Protocol: share.ProtocolV2,
			JobID: 9, Height: 170, AssignedDifficulty: 0.001, ReachedDifficulty: 3.5, NetworkDifficulty: 4.656542373906925e-10,
			Block: true, Hash: h, RemoteAddr: "127.0.0.1:5",
		},
	}
}

func TestPutLoadRemove(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := testEntry(2), testEntry(1)
	for _, e := range []*Entry{a, b} {
		if err := l.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	a.Outcome, a.Reason, a.Attempts, a.Recorded = Rejected, "bad-prevblk", 3, true
	if err := l.Put(a); err != nil {
		t.Fatal(err)
	}
	got, bad, err := l.Load()
	if err != nil || len(bad) != 0 {
		t.Fatalf("load: %v %v", err, bad)
	}
	if len(got) != 2 || got[0].Hash != b.Hash || got[1].Hash != a.Hash {
		t.Fatalf("load order: %+v", got)
	}
	g := got[1]
	if g.Outcome != Rejected || g.Reason != "bad-prevblk" || g.Attempts != 3 || !g.Recorded || g.OutcomeRecorded ||
		g.Record != a.Record || string(g.Block) != string(a.Block) || g.Reward != a.Reward || g.Height != a.Height {
		t.Fatalf("round trip:\n got %+v\nwant %+v", g, a)
	}
	if err := l.Remove(a.Hash); err != nil {
		t.Fatal(err)
	}
	if err := l.Remove(a.Hash); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	got, _, _ = l.Load()
	if len(got) != 1 || got[0].Hash != b.Hash {
		t.Fatalf("after remove: %+v", got)
	}
}

func TestDamagedEntryKeptAside(t *testing.T) {
	dir := t.TempDir()
	l, _ := Open(dir)
	e := testEntry(3)
	if err := l.Put(e); err != nil {
		t.Fatal(err)
	}
	p := l.path(e.Hash)
	data, _ := os.ReadFile(p)
	// Flip the worker name: valid JSON, wrong checksum.
	data = []byte(strings.Replace(string(data), `"w1"`, `"w2"`, 1))
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// A temporary file a crash left behind is removed at Open.
	if err := os.WriteFile(p+tmpSuffix, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, bad, err := l.Load()
	if err != nil || len(got) != 0 || len(bad) != 1 || !strings.Contains(bad[0].Error(), "checksum") {
		t.Fatalf("got %v, bad %v, err %v", got, bad, err)
	}
	if _, err := os.Stat(p + badSuffix); err != nil {
		t.Fatalf("damaged entry not kept aside: %v", err)
	}
	if _, err := os.Stat(p + tmpSuffix); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}
	ents, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if len(ents) != 0 {
		t.Fatalf("entries left: %v", ents)
	}
}

func TestHeaderMustMatchHash(t *testing.T) {
	l, _ := Open(t.TempDir())
	e := testEntry(4)
	e.Block[0] ^= 1 // the header no longer hashes to e.Hash
	if err := l.Put(e); err != nil {
		t.Fatal(err)
	}
	got, bad, err := l.Load()
	if err != nil || len(got) != 0 || len(bad) != 1 {
		t.Fatalf("got %v, bad %v, err %v", got, bad, err)
	}
}

// BenchmarkPut is the journal write a found block waits for before its
// first submission (two fsyncs). Run with BLOCKLOG_BENCH_DIR on the disk
// the share log uses; the default is the test's temporary directory.
func BenchmarkPut(b *testing.B) {
	dir := b.TempDir()
	if d := os.Getenv("BLOCKLOG_BENCH_DIR"); d != "" {
		dir = filepath.Join(d, fmt.Sprintf("blocklog-bench-%d", os.Getpid()))
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	l, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	e := testEntry(9)
	e.Block = append(e.Block, make([]byte, 4000)...) // a block with a few transactions
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := l.Put(e); err != nil {
			b.Fatal(err)
		}
	}
}
