package pool

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/blocklog"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// scriptedSubmitter answers submissions from a script: each call takes the
// next answer (the last one repeats).
type scriptedSubmitter struct {
	mu         sync.Mutex
	answers    []submission
	calls      int
	superseded bool
}

func (s *scriptedSubmitter) SubmitBlock(context.Context, []byte, [32]byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.answers[min(s.calls, len(s.answers)-1)]
	s.calls++
	return a.accepted, a.err
}

func (s *scriptedSubmitter) Superseded(context.Context, int64, [32]byte) (bool, error) {
	return s.superseded, nil
}

func (s *scriptedSubmitter) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// memStore is a BlockStore that fails while down, and counts each block's
// found rows and outcomes as a database with a unique hash would.
type memStore struct {
	mu       sync.Mutex
	down     bool
	found    map[[32]byte]int
	outcomes map[[32]byte][]bool
}

func newMemStore() *memStore {
	return &memStore{found: map[[32]byte]int{}, outcomes: map[[32]byte][]bool{}}
}

var errDown = errors.New("database down")

func (m *memStore) Found(_ context.Context, b FoundBlock) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errDown
	}
	m.found[b.Hash]++
	return nil
}

func (m *memStore) Submitted(_ context.Context, h [32]byte, accepted bool, _ error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errDown
	}
	m.outcomes[h] = append(m.outcomes[h], accepted)
	return nil
}

func (m *memStore) setDown(v bool) { m.mu.Lock(); m.down = v; m.mu.Unlock() }

func (m *memStore) state(h [32]byte) (int, []bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.found[h], append([]bool(nil), m.outcomes[h]...)
}

func testKeeper(t *testing.T, dir string, store BlockStore, sub BlockSubmitter) (*blockKeeper, func()) {
	t.Helper()
	j, err := blocklog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	k, err := newBlockKeeper(j, store, sub, zap.NewNop(), newBlockMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	k.minRetry, k.maxRetry = time.Millisecond, 5*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = k.Run(ctx); close(done) }()
	return k, func() { cancel(); <-done }
}

func testFoundBlock(nonce byte) (FoundBlock, []byte) {
	block := make([]byte, 81)
	block[79] = nonce
	h := share.DoubleSHA256(block[:80])
	return FoundBlock{Hash: h, Height: 10, Reward: 50, Record: share.Record{
		Time: time.Now(), Worker: share.Worker{Address: "a"}, Block: true, Hash: h}}, block
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func journalLen(t *testing.T, dir string) int {
	t.Helper()
	j, err := blocklog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, bad, err := j.Load()
	if err != nil || len(bad) > 0 {
		t.Fatal(err, bad)
	}
	return len(e)
}

// A block whose nodes are unreachable and whose database is down is
// journaled, resubmitted until a node takes it, recorded once the database
// is back, then removed from the journal.
func TestKeeperRetriesUntilSettled(t *testing.T) {
	dir := t.TempDir()
	store := newMemStore()
	store.setDown(true)
	sub := &scriptedSubmitter{answers: []submission{
		{err: errors.New("connection refused")},
		{err: &template.RejectedError{Reasons: map[string]string{"a": ""}, Unreachable: []string{"b"}}},
		{accepted: true},
	}}
	k, stop := testKeeper(t, dir, store, sub)
	defer stop()
	fb, block := testFoundBlock(1)
	k.Found(fb, block)
	if n := journalLen(t, dir); n != 1 {
		t.Fatalf("journal holds %d entries after Found, want 1", n)
	}
	waitFor(t, "three submissions", func() bool { return sub.Calls() >= 3 })
	if n, _ := store.state(fb.Hash); n != 0 {
		t.Fatal("recorded while the database is down")
	}
	if journalLen(t, dir) != 1 {
		t.Fatal("journal entry removed before the block was recorded")
	}
	store.setDown(false)
	waitFor(t, "the block settled", func() bool { return !k.Journaled(fb.Hash) })
	n, outcomes := store.state(fb.Hash)
	if n != 1 || len(outcomes) != 1 || !outcomes[0] {
		t.Fatalf("found rows %d, outcomes %v; want 1 and [true]", n, outcomes)
	}
	if sub.Calls() != 3 {
		t.Fatalf("%d submissions, want 3 (no resubmission once accepted)", sub.Calls())
	}
	if journalLen(t, dir) != 0 {
		t.Fatal("settled block left in the journal")
	}
}

// A keeper stopped with a block unsettled leaves it in the journal; the
// next keeper on the same directory finishes it, submitting only what is
// still pending.
func TestKeeperResumesFromJournal(t *testing.T) {
	dir := t.TempDir()
	store := newMemStore()
	store.setDown(true)
	sub := &scriptedSubmitter{answers: []submission{{accepted: true}}}
	k, stop := testKeeper(t, dir, store, sub)
	fb, block := testFoundBlock(2)
	k.Found(fb, block)
	waitFor(t, "the submission", func() bool { return sub.Calls() == 1 })
	stop()
	if journalLen(t, dir) != 1 {
		t.Fatal("unsettled block not in the journal after stop")
	}
	store.setDown(false)
	sub2 := &scriptedSubmitter{answers: []submission{{accepted: true}}}
	k2, stop2 := testKeeper(t, dir, store, sub2)
	defer stop2()
	if !k2.Journaled(fb.Hash) {
		t.Fatal("resumed block not reported as journaled")
	}
	waitFor(t, "the resumed block settled", func() bool {
		n, o := store.state(fb.Hash)
		return n == 1 && len(o) == 1 && !k2.Journaled(fb.Hash)
	})
	if sub2.Calls() != 0 {
		t.Fatalf("an accepted block was submitted again after the restart (%d calls)", sub2.Calls())
	}
	if journalLen(t, dir) != 0 {
		t.Fatal("settled block left in the journal")
	}
}

// Rejections: every node answered (no retry), or another block holds the
// height while a node is still unreachable (stale, no retry).
func TestKeeperRejectedAndStale(t *testing.T) {
	for name, sub := range map[string]*scriptedSubmitter{
		"all answered": {answers: []submission{{err: &template.RejectedError{Reasons: map[string]string{"a": "bad-prevblk"}}}}},
		"superseded": {answers: []submission{{err: &template.RejectedError{Reasons: map[string]string{"a": ""},
			Unreachable: []string{"b"}}}}, superseded: true},
	} {
		t.Run(name, func(t *testing.T) {
			store := newMemStore()
			k, stop := testKeeper(t, t.TempDir(), store, sub)
			defer stop()
			fb, block := testFoundBlock(3)
			k.Found(fb, block)
			waitFor(t, "settled", func() bool { return !k.Journaled(fb.Hash) })
			n, o := store.state(fb.Hash)
			if n != 1 || len(o) != 1 || o[0] || sub.Calls() != 1 {
				t.Fatalf("found %d, outcomes %v, submissions %d; want 1, [false], 1", n, o, sub.Calls())
			}
		})
	}
}
