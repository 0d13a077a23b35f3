package jd

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/adit-pool/adit/share/sharetest"
	"github.com/adit-pool/adit/sv2/codec"
)

func TestProvideMissingTransactions(t *testing.T) {
	e := start(t, Config{})
	known, unknown1, unknown2 := makeTx(1, true), makeTx(2, true), makeTx(3, false)
	e.node.addMempool(known, 100)
	c := e.setupClient()

	// An answer for an unknown request_id is ignored; the connection stays.
	c.write(&codec.ProvideMissingTransactionsSuccess{RequestID: 999, TransactionList: [][]byte{unknown1}})

	askFor := func(req uint32) *codec.DeclareMiningJob {
		t.Helper()
		m := job(req, c.allocate("u", req), testSubsidy, known, unknown1, unknown2)
		c.write(m)
		p, ok := c.read().(*codec.ProvideMissingTransactions)
		if !ok || p.RequestID != req || len(p.UnknownTxPositionList) != 2 || p.UnknownTxPositionList[0] != 1 || p.UnknownTxPositionList[1] != 2 {
			t.Fatalf("PMT %+v", p)
		}
		return m
	}
	answer := func(req uint32, code string, txs ...[]byte) {
		t.Helper()
		c.write(&codec.ProvideMissingTransactionsSuccess{RequestID: req, TransactionList: txs})
		r := c.read()
		if code == "" {
			if s, ok := r.(*codec.DeclareMiningJobSuccess); !ok || s.RequestID != req {
				t.Fatalf("got %#v", r)
			}
			return
		}
		if s, ok := r.(*codec.DeclareMiningJobError); !ok || s.ErrorCode != code || s.RequestID != req {
			t.Fatalf("got %#v, want %s", r, code)
		}
	}
	askFor(1)
	answer(1, "", unknown2, unknown1) // any order
	if e.metric("adit_jd_missing_tx_rounds_total") != 1 {
		t.Fatal("round not counted")
	}
	e.node.mu.Lock()
	added := len(e.node.added)
	e.node.mu.Unlock()
	if added != 2 {
		t.Fatalf("AddTxs got %d", added)
	}
	askFor(2)
	answer(2, CodeMissingTxs, unknown1)
	askFor(3)
	answer(3, CodeInvalidJob, unknown1, unknown2, makeTx(9, false)) // undeclared
	askFor(4)
	answer(4, CodeInvalidJob, unknown1, unknown1, unknown2) // duplicate
	askFor(5)
	cbP, cbS := defaultSpec(testHeight, 1).build()
	answer(5, CodeInvalidJob, unknown1, append(append(cbP, make([]byte, 16)...), cbS...)) // a coinbase
	askFor(6)
	answer(6, CodeInvalidJob, []byte{1, 2, 3}) // unparsable
	// The tip moves between the declaration and the answer.
	askFor(7)
	e.node.mu.Lock()
	e.node.tip.PrevHash[0]++
	e.node.mu.Unlock()
	answer(7, CodeStaleChainTip, unknown1, unknown2)
}

func TestMissingTxsTimeout(t *testing.T) {
	e := start(t, Config{MissingTxsTimeout: 50 * time.Millisecond})
	c := e.setupClient()
	c.write(job(1, c.allocate("u", 1), testSubsidy, makeTx(1, false)))
	if _, ok := c.read().(*codec.ProvideMissingTransactions); !ok {
		t.Fatal("no PMT")
	}
	if r, ok := c.read().(*codec.DeclareMiningJobError); !ok || r.ErrorCode != CodeMissingTxs {
		t.Fatalf("%#v", r)
	}
}

func TestDeclareRefusals(t *testing.T) {
	e := start(t, Config{MaxWtxids: 3})
	c := e.setupClient()
	tx1 := makeTx(1, false)
	e.node.addMempool(tx1, 10)
	spec := func(f func(*cbSpec)) *codec.DeclareMiningJob {
		m := job(1, c.allocate("u", 1), testSubsidy)
		s := defaultSpec(testHeight, testSubsidy)
		f(&s)
		m.CoinbaseTxPrefix, m.CoinbaseTxSuffix = s.build()
		return m
	}
	other := []byte{0x51}
	for name, tc := range map[string]struct {
		m    *codec.DeclareMiningJob
		code string
	}{
		"payout missing":    {spec(func(s *cbSpec) { s.outs = []txOut{{testSubsidy, other}} }), CodeInvalidCoinbaseTx},
		"payout shared":     {spec(func(s *cbSpec) { s.outs = []txOut{{testSubsidy, poolScript}, {5, other}} }), CodeInvalidCoinbaseTx},
		"underfunded":       {spec(func(s *cbSpec) { s.outs = []txOut{{testSubsidy - 1, poolScript}} }), CodeInvalidCoinbaseTx},
		"value too high":    {spec(func(s *cbSpec) { s.outs = []txOut{{testSubsidy + 1, poolScript}} }), CodeInvalidJob},
		"old height":        {spec(func(s *cbSpec) { s.height = testHeight - 1 }), CodeStaleChainTip},
		"scriptSig too big": {spec(func(s *cbSpec) { s.tag = bytes.Repeat([]byte{1}, 95) }), CodeInvalidJob},
		"short prefix": {func() *codec.DeclareMiningJob {
			m := spec(func(*cbSpec) {})
			m.CoinbaseTxPrefix = m.CoinbaseTxPrefix[:30]
			return m
		}(), CodeInvalidCoinbaseTx},
		"two inputs": {func() *codec.DeclareMiningJob {
			m := spec(func(*cbSpec) {})
			m.CoinbaseTxPrefix[6] = 2
			return m
		}(), CodeInvalidCoinbaseTxInput},
		"trailing": {func() *codec.DeclareMiningJob {
			m := spec(func(*cbSpec) {})
			m.CoinbaseTxSuffix = append(m.CoinbaseTxSuffix, 0)
			return m
		}(), CodeInvalidCoinbaseTx},
		"duplicate wtxids": {job(1, c.allocate("u", 1), testSubsidy+20, tx1, tx1), CodeInvalidJob},
		"too many wtxids":  {job(1, c.allocate("u", 1), testSubsidy, tx1, makeTx(2, false), makeTx(3, false), makeTx(4, false)), CodeInvalidJob},
		"bad commitment": {func() *codec.DeclareMiningJob {
			m := job(1, c.allocate("u", 1), testSubsidy+10, tx1)
			m.WtxidList = nil // the commitment covers tx1
			return m
		}(), CodeInvalidJob},
	} {
		t.Run(name, func(t *testing.T) {
			r := c.declareErr(tc.m, tc.code)
			if len(r.ErrorDetails) == 0 {
				t.Error("no error_details")
			}
			// The token is gone after an error.
			c.declareErr(tc.m, CodeInvalidMiningJobToken)
		})
	}
}

func TestNodeReasons(t *testing.T) {
	e := start(t, Config{})
	c := e.setupClient()
	for _, tc := range []struct {
		reason string
		err    error
		move   bool
		code   string
	}{
		{"bad-txns-inputs-missingorspent", nil, false, CodeInvalidJob},
		{"bad-prevblk", nil, false, CodeStaleChainTip},
		{"inconclusive-not-best-prvblk", nil, false, CodeStaleChainTip},
		{"bad-txns-nonfinal", nil, false, CodeStaleChainTip},
		{"", nil, true, CodeStaleChainTip},
		{"", errors.New("connection refused"), false, CodeInternalError},
	} {
		e.node.mu.Lock()
		e.node.reason, e.node.err = tc.reason, tc.err
		e.node.onPropose = nil
		if tc.move {
			e.node.onPropose = func(n *fakeNode) { n.tip.PrevHash[5]++ }
		}
		e.node.mu.Unlock()
		r := c.declareErr(job(1, c.allocate("u", 1), testSubsidy), tc.code)
		want := tc.reason
		if tc.err != nil {
			want = tc.err.Error()
		}
		if !strings.Contains(string(r.ErrorDetails), want) {
			t.Errorf("%+v: details %q", tc, r.ErrorDetails)
		}
	}
	if e.metric("adit_jd_declarations_total", "result", CodeStaleChainTip) != 4 {
		t.Error("stale declarations not counted")
	}
}

func TestTokenMisuse(t *testing.T) {
	e := start(t, Config{})
	a, b := e.setupClient(), e.setupClient()
	tokA := a.allocate("alice", 1)
	a.declareErr(job(1, []byte{1, 2, 3}, testSubsidy), CodeInvalidMiningJobToken)                    // malformed
	a.declareErr(job(1, bytes.Repeat([]byte{7}, TokenSize), testSubsidy), CodeInvalidMiningJobToken) // never allocated
	b.declareErr(job(1, tokA, testSubsidy), CodeInvalidMiningJobToken)                               // foreign
	active := a.declareOK(job(1, tokA, testSubsidy))
	a.declareErr(job(2, tokA, testSubsidy), CodeInvalidMiningJobToken)   // already declared
	a.declareErr(job(3, active, testSubsidy), CodeInvalidMiningJobToken) // an active token

	// Activate: allocated but not active; user mismatch burns it; expired.
	if _, err := e.srv.Activate(a.allocate("alice", 4), "alice"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("allocated: %v", err)
	}
	if _, err := e.srv.Activate(active, "mallory"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("user: %v", err)
	}
	if _, err := e.srv.Activate(active, "alice"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("burnt: %v", err)
	}
	act2 := a.declareOK(job(5, a.allocate("alice", 5), testSubsidy))
	e.clock.Add(e.srv.Config().ActiveTokenLifetime)
	if _, err := e.srv.Activate(act2, "alice"); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired: %v", err)
	}
	// An allocated token past its lifetime cannot be declared.
	old := a.allocate("alice", 6)
	e.clock.Add(e.srv.Config().AllocatedTokenLifetime)
	a.declareErr(job(6, old, testSubsidy), CodeInvalidMiningJobToken)
	if e.metric("adit_jd_activations_total", "result", CodeInvalidMiningJobToken) != 4 {
		t.Error("activations not counted")
	}
}

func TestNotYetValidated(t *testing.T) {
	e := start(t, Config{})
	c := e.setupClient()
	tok := c.allocate("u", 1)
	c.write(job(1, tok, testSubsidy, makeTx(1, false)))
	if _, ok := c.read().(*codec.ProvideMissingTransactions); !ok {
		t.Fatal("no PMT")
	}
	if _, err := e.srv.Activate(tok, "u"); ErrorCode(err) != CodeJobNotYetValidated {
		t.Fatalf("%v", err)
	}
	// The declaration cannot complete: its token was burnt.
	c.write(&codec.ProvideMissingTransactionsSuccess{RequestID: 1, TransactionList: [][]byte{makeTx(1, false)}})
	if r, ok := c.read().(*codec.DeclareMiningJobError); !ok || r.ErrorCode != CodeInvalidMiningJobToken {
		t.Fatalf("%#v", r)
	}
}

func TestIsolation(t *testing.T) {
	e := start(t, Config{})
	a, b := e.setupClient(), e.setupClient()
	tx := makeTx(1, false)
	ma, mb := job(7, a.allocate("a", 7), testSubsidy, tx), job(7, b.allocate("b", 7), testSubsidy, tx)
	a.write(ma)
	b.write(mb)
	for _, c := range []*client{a, b} {
		if p, ok := c.read().(*codec.ProvideMissingTransactions); !ok || p.RequestID != 7 {
			t.Fatalf("%+v", p)
		}
	}
	for _, c := range []*client{b, a} {
		c.write(&codec.ProvideMissingTransactionsSuccess{RequestID: 7, TransactionList: [][]byte{tx}})
		if s, ok := c.read().(*codec.DeclareMiningJobSuccess); !ok || s.RequestID != 7 {
			t.Fatalf("%#v", s)
		}
	}
	// A disconnect purges the connection's tokens; the server goes on.
	active := a.declareOK(job(8, a.allocate("a", 8), testSubsidy))
	a.allocate("a", 9)
	before := e.metric("adit_jd_tokens")
	a.nc.Close()
	sharetest.Eventually(t, "purged", func() bool { return e.metric("adit_jd_tokens") == before-3 })
	if _, err := e.srv.Activate(active, "a"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("%v", err)
	}
	b.declareOK(job(9, b.allocate("b", 9), testSubsidy))
}

func TestCheckCustomJob(t *testing.T) {
	e := start(t, Config{})
	c := e.setupClient()
	t1 := makeTx(1, true)
	e.node.addMempool(t1, 0)
	d, err := e.srv.Activate(c.declareOK(job(1, c.allocate("u", 1), testSubsidy, t1)), "u")
	if err != nil {
		t.Fatal(err)
	}
	reordered := appendOutputs(nil, []txOut{d.Coinbase.Outs[1], d.Coinbase.Outs[0]})
	stolen := appendOutputs(nil, []txOut{{testSubsidy, []byte{0x51}}})
	for _, tc := range []struct {
		f    func(m *codec.SetCustomMiningJob)
		code string
	}{
		{func(m *codec.SetCustomMiningJob) { m.PrevHash[0]++; m.NBits++ }, CodeStaleChainTip}, // prev hash first
		{func(m *codec.SetCustomMiningJob) { m.NBits++; m.Version++ }, CodeInvalidNBits},
		{func(m *codec.SetCustomMiningJob) { m.Version++ }, CodeInvalidVersion},
		{func(m *codec.SetCustomMiningJob) { m.CoinbaseTxVersion++ }, CodeInvalidCoinbaseTxVersion},
		{func(m *codec.SetCustomMiningJob) { m.CoinbasePrefix = append(m.CoinbasePrefix, 1) }, CodeInvalidCoinbasePrefix},
		{func(m *codec.SetCustomMiningJob) { m.CoinbaseTxInputNSequence = 0 }, CodeInvalidCoinbaseTxInputNSequence},
		{func(m *codec.SetCustomMiningJob) { m.CoinbaseTxOutputs = reordered }, CodeInvalidCoinbaseTxOutputs},
		{func(m *codec.SetCustomMiningJob) { m.CoinbaseTxLocktime = 5 }, CodeInvalidCoinbaseTxLocktime},
		{func(m *codec.SetCustomMiningJob) { m.MerklePath = nil }, CodeInvalidMerklePath},
	} {
		m := customJob(d)
		tc.f(m)
		if code, _ := CheckCustomJob(d, m, poolScript); code != tc.code {
			t.Errorf("got %q, want %q", code, tc.code)
		}
	}
	// The payout check again, on a declaration that (somehow) lacks it.
	bad := *d
	bad.Outputs = stolen
	m := customJob(&bad)
	if code, _ := CheckCustomJob(&bad, m, poolScript); code != CodeInvalidCoinbaseTxOutputs {
		t.Errorf("payout: %q", code)
	}
}

// TestDeclarationAheadOfTheTip: a declaration for the block after one the
// pool's job feed has not reported yet waits for it (TipWait) instead of
// being refused; once the wait is over it is stale-chain-tip. A declaration
// for an older height is refused at once.
func TestDeclarationAheadOfTheTip(t *testing.T) {
	e := start(t, Config{TipWait: 300 * time.Millisecond})
	c := e.setupClient()
	ahead := func(req uint32) *codec.DeclareMiningJob {
		s := defaultSpec(testHeight+1, testSubsidy)
		s.outs = append(s.outs, commitOutput(nil))
		p, x := s.build()
		return &codec.DeclareMiningJob{RequestID: req, MiningJobToken: c.allocate("u", req), Version: 0x20000000,
			CoinbaseTxPrefix: p, CoinbaseTxSuffix: x}
	}
	// The tip catches up while the declaration waits.
	c.write(ahead(1))
	sharetest.Eventually(t, "held", func() bool { return e.metric("adit_jd_tip_waits_total") == 1 })
	next := e.node.tip
	next.PrevHash[0]++
	next.Height++
	e.node.setTip(next)
	if r, ok := c.read().(*codec.DeclareMiningJobSuccess); !ok || r.RequestID != 1 {
		t.Fatalf("after the tip moved: %#v", r)
	}
	// Nothing moves: refused once TipWait is over, with the node's view.
	start := time.Now()
	m := ahead(2)
	m.CoinbaseTxPrefix, m.CoinbaseTxSuffix = func() ([]byte, []byte) {
		s := defaultSpec(testHeight+2, testSubsidy)
		s.outs = append(s.outs, commitOutput(nil))
		return s.build()
	}()
	c.write(m)
	r, ok := c.read().(*codec.DeclareMiningJobError)
	if !ok || r.ErrorCode != CodeStaleChainTip || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("after %v: %#v", time.Since(start), r)
	}
	// Behind the tip: at once.
	start = time.Now()
	m = ahead(3)
	m.CoinbaseTxPrefix, m.CoinbaseTxSuffix = func() ([]byte, []byte) {
		s := defaultSpec(testHeight, testSubsidy)
		s.outs = append(s.outs, commitOutput(nil))
		return s.build()
	}()
	c.write(m)
	if r, ok := c.read().(*codec.DeclareMiningJobError); !ok || r.ErrorCode != CodeStaleChainTip || time.Since(start) > 200*time.Millisecond {
		t.Fatalf("behind the tip, after %v: %#v", time.Since(start), r)
	}
}
