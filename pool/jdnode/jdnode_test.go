package jdnode_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/jdnode"
	"github.com/adit-pool/adit/pool/mempool"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2/jd"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"go.uber.org/goleak"
)

type proposer struct {
	name   string
	reason string
	err    error
	calls  int
}

func (p *proposer) Name() string { return p.name }
func (p *proposer) ProposeBlock(context.Context, []byte) (string, error) {
	p.calls++
	return p.reason, p.err
}

type submitter struct {
	got [32]byte
	err error
}

func (s *submitter) SubmitBlock(_ context.Context, _ []byte, h [32]byte) (bool, error) {
	s.got = h
	return s.err == nil, s.err
}

type feed struct {
	ch   chan *share.Job
	mu   sync.Mutex
	subs int
}

func (f *feed) SubscribeJobs() (<-chan *share.Job, func()) {
	f.mu.Lock()
	f.subs++
	f.mu.Unlock()
	return f.ch, func() {
		f.mu.Lock()
		f.subs--
		f.mu.Unlock()
	}
}

// emptySource is a node with an empty mempool and Core's getmempoolentry.
type emptySource struct{}

func (emptySource) GetRawMempool(context.Context) ([]chainhash.Hash, error) { return nil, nil }
func (emptySource) GetRawMempoolVerbose(context.Context) ([]node.MempoolEntry, error) {
	return nil, nil
}
func (emptySource) GetMempoolEntries(_ context.Context, ids []chainhash.Hash) ([]node.MempoolEntry, []error, error) {
	errs := make([]error, len(ids))
	for i := range errs {
		errs[i] = &node.RPCError{Code: node.CodeNotFound}
	}
	return make([]node.MempoolEntry, len(ids)), errs, nil
}
func (emptySource) GetRawTransactionsVerbose(context.Context, []chainhash.Hash) ([]node.RawTx, []error, error) {
	return nil, nil, errors.New("unexpected")
}

// declared is a minimal valid transaction serialization (one input, one
// output, no witness).
var declared = []byte{
	2, 0, 0, 0, // version
	1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
	1, 0xe8, 3, 0, 0, 0, 0, 0, 0, 1, 0x51,
	0, 0, 0, 0, // locktime
}

func TestAdapter(t *testing.T) {
	defer goleak.VerifyNone(t)
	mi, err := mempool.New(mempool.Config{}, emptySource{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p1 := &proposer{name: "down", err: errors.New("connection refused")}
	p2 := &proposer{name: "up", reason: "bad-txnmrklroot"}
	sub := &submitter{}
	f := &feed{ch: make(chan *share.Job, 1)}
	a, err := jdnode.New(jdnode.Config{Params: &chaincfg.RegressionNetParams, Mirror: mi,
		Proposers: []jdnode.Proposer{p1, p2}, Submitter: sub, Jobs: f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n jd.Node = a
	if _, ok := n.Tip(); ok {
		t.Fatal("tip before any job")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	// Regtest halves every 150 blocks: height 300 pays 12.5 BTC.
	f.ch <- &share.Job{PrevHash: [32]byte{1}, Height: 300, Bits: 0x207fffff, MinTime: 10, CurTime: 20}
	var tip jd.Tip
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ok bool
		if tip, ok = n.Tip(); ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	want := jd.Tip{PrevHash: [32]byte{1}, Height: 300, Bits: 0x207fffff, MinTime: 10, CurTime: 20, Subsidy: 1_250_000_000}
	if tip != want {
		t.Fatalf("tip %+v, want %+v", tip, want)
	}

	n.AddTxs([][]byte{declared})
	if mi.Len() != 1 {
		t.Fatalf("mirror len %d after AddTxs", mi.Len())
	}
	// The next tip releases it (once the mirror refreshes).
	a.SetJob(&share.Job{PrevHash: [32]byte{2}, Height: 301})
	if err := mi.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if mi.Len() != 0 {
		t.Fatalf("mirror len %d after the next tip", mi.Len())
	}

	if reason, err := n.Propose(ctx, []byte{1}); reason != "bad-txnmrklroot" || err != nil || p1.calls != 1 {
		t.Fatalf("Propose = %q, %v", reason, err)
	}
	p2.err = errors.New("timeout")
	if _, err := n.Propose(ctx, []byte{1}); err == nil {
		t.Fatal("Propose with every node down succeeded")
	}
	if ok, err := n.SubmitBlock(ctx, []byte{1}, [32]byte{5}); !ok || err != nil || sub.got != [32]byte{5} {
		t.Fatalf("SubmitBlock = %v, %v", ok, err)
	}
	// The nodes answered and none took it: refused, not failed.
	sub.err = &template.RejectedError{Reasons: map[string]string{"btcd": "duplicate"}}
	if ok, err := n.SubmitBlock(ctx, []byte{1}, [32]byte{5}); ok || err != nil {
		t.Fatalf("SubmitBlock of a refused block = %v, %v; want false, nil", ok, err)
	}
	sub.err = errors.New("connection refused")
	if ok, err := n.SubmitBlock(ctx, []byte{1}, [32]byte{5}); ok || err == nil {
		t.Fatalf("SubmitBlock with no node reachable = %v, %v; want an error", ok, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if f.subs != 0 {
		t.Fatalf("%d subscriptions left", f.subs)
	}
	if _, err := jdnode.New(jdnode.Config{}, nil); err == nil {
		t.Fatal("empty config accepted")
	}
}
