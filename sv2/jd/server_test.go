package jd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/keys"
	"github.com/adit-pool/adit/sv2/noise"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testHeight  = 1000
	testSubsidy = 5_000_000_000
	easyBits    = 0x207fffff
)

// fakeNode is the pool side in memory.
type fakeNode struct {
	mu        sync.Mutex
	tip       Tip
	changed   chan struct{}
	txs       map[[32]byte][]byte
	fees      map[[32]byte]int64
	reason    string
	err       error
	onPropose func(n *fakeNode) // runs under mu
	proposed  [][]byte
	submitted [][]byte
	hashes    [][32]byte
	added     [][]byte
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		tip: Tip{PrevHash: [32]byte{0xab, 1}, Height: testHeight, Bits: easyBits, MinTime: 1_700_000_000, CurTime: 1_700_000_100, Subsidy: testSubsidy},
		txs: map[[32]byte][]byte{}, fees: map[[32]byte]int64{}, changed: make(chan struct{}),
	}
}

func (n *fakeNode) TipChanged() <-chan struct{} { n.mu.Lock(); defer n.mu.Unlock(); return n.changed }

// setTip moves the tip as the pool's job feed would.
func (n *fakeNode) setTip(t Tip) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.tip = t
	close(n.changed)
	n.changed = make(chan struct{})
}

func (n *fakeNode) Tip() (Tip, bool) { n.mu.Lock(); defer n.mu.Unlock(); return n.tip, true }

func (n *fakeNode) LookupTxs(w [][32]byte) ([][]byte, []int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	txs, fees := make([][]byte, len(w)), make([]int64, len(w))
	for i, id := range w {
		fees[i] = -1
		if t, ok := n.txs[id]; ok {
			txs[i], fees[i] = t, n.fees[id]
		}
	}
	return txs, fees
}

func (n *fakeNode) Propose(ctx context.Context, block []byte) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.proposed = append(n.proposed, block)
	if n.onPropose != nil {
		n.onPropose(n)
	}
	return n.reason, n.err
}

func (n *fakeNode) SubmitBlock(ctx context.Context, block []byte, hash [32]byte) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.submitted = append(n.submitted, block)
	n.hashes = append(n.hashes, hash)
	return true, nil
}

func (n *fakeNode) AddTxs(txs [][]byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.added = append(n.added, txs...)
}

func (n *fakeNode) addMempool(raw []byte, fee int64) [32]byte {
	t, err := parseTx(raw)
	if err != nil {
		panic(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.txs[t.WTxID], n.fees[t.WTxID] = raw, fee
	return t.WTxID
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }
func newClock() *fakeClock               { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }
func wtxidOf(raw []byte) [32]byte        { t, _ := parseTx(raw); return t.WTxID }
func (e *env) metric(name string, l ...string) float64 {
	return sharetest.Metric(e.t, e.reg, name, l...)
}

type env struct {
	t     testing.TB
	srv   *Server
	node  *fakeNode
	clock *fakeClock
	reg   *prometheus.Registry
	stop  func()
}

func start(t *testing.T, cfg Config) *env {
	t.Helper()
	return startLogged(t, cfg, zaptest.NewLogger(t))
}

// startLogged is start with the server logging to log (benchmarks pass a
// no-op logger: zaptest writes every Debug line to the test log).
func startLogged(t testing.TB, cfg Config, log *zap.Logger) *env {
	t.Helper()
	auth, err := keys.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	e := &env{t: t, node: newFakeNode(), clock: newClock(), reg: prometheus.NewRegistry()}
	e.srv, err = NewServer(cfg, Deps{Node: e.node, Keys: &noise.KeyRotator{Authority: auth}, PoolScript: poolScript,
		Log: log, Registerer: e.reg, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Run(ctx) }()
	sharetest.Eventually(t, "listening", func() bool { return e.srv.Addr() != nil })
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(e.stop)
	return e
}

type client struct {
	t  testing.TB
	nc *noise.Conn
}

func (e *env) dial() *client {
	e.t.Helper()
	c, err := net.Dial("tcp", e.srv.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	in := noise.Initiator{InsecureSkipVerify: true, MaxFrameLength: 1 << 22}
	nc, err := in.Handshake(context.Background(), c)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { nc.Close() })
	return &client{t: e.t, nc: nc}
}

func (c *client) write(m codec.Message) {
	c.t.Helper()
	if err := c.nc.WriteMessage(m); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() codec.Message {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, m, err := c.nc.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// closed reports whether the server closed the connection.
func (c *client) closed() bool {
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.nc.ReadMessage()
	return err != nil
}

func (e *env) setupClient() *client {
	c := e.dial()
	c.write(&codec.SetupConnection{Protocol: 1, MinVersion: 2, MaxVersion: 2, Flags: FlagDeclareTxData})
	if m, ok := c.read().(*codec.SetupConnectionSuccess); !ok || m.UsedVersion != 2 || m.Flags != 0 {
		e.t.Fatalf("setup: %+v", m)
	}
	return c
}

func (c *client) allocate(user string, req uint32) []byte {
	c.t.Helper()
	c.write(&codec.AllocateMiningJobToken{UserIdentifier: user, RequestID: req})
	m, ok := c.read().(*codec.AllocateMiningJobTokenSuccess)
	if !ok || m.RequestID != req {
		c.t.Fatalf("allocate: %+v", m)
	}
	return m.MiningJobToken
}

// job returns a DeclareMiningJob paying the pool subsidy + fees over txs.
func job(req uint32, tok []byte, value int64, txs ...[]byte) *codec.DeclareMiningJob {
	var w [][32]byte
	for _, t := range txs {
		w = append(w, wtxidOf(t))
	}
	s := defaultSpec(testHeight, value)
	s.outs = append(s.outs, commitOutput(w))
	p, x := s.build()
	return &codec.DeclareMiningJob{RequestID: req, MiningJobToken: tok, Version: 0x20000000,
		CoinbaseTxPrefix: p, CoinbaseTxSuffix: x, WtxidList: w}
}

func (c *client) declareOK(m *codec.DeclareMiningJob) []byte {
	c.t.Helper()
	c.write(m)
	r := c.read()
	s, ok := r.(*codec.DeclareMiningJobSuccess)
	if !ok || s.RequestID != m.RequestID {
		c.t.Fatalf("declare: %#v", r)
	}
	return s.NewMiningJobToken
}

func (c *client) declareErr(m *codec.DeclareMiningJob, code string) *codec.DeclareMiningJobError {
	c.t.Helper()
	c.write(m)
	r := c.read()
	s, ok := r.(*codec.DeclareMiningJobError)
	if !ok || s.RequestID != m.RequestID || s.ErrorCode != code {
		c.t.Fatalf("declare: got %#v, want error %s", r, code)
	}
	return s
}

func TestSetupConnection(t *testing.T) {
	e := start(t, Config{})
	for _, c := range []struct {
		m    codec.SetupConnection
		code string
	}{
		{codec.SetupConnection{Protocol: 1, MinVersion: 2, MaxVersion: 2, Flags: 0}, CodeMissingDeclareTxDataFlag},
		{codec.SetupConnection{Protocol: 0, MinVersion: 2, MaxVersion: 2, Flags: 1}, CodeUnsupportedProtocol},
		{codec.SetupConnection{Protocol: 1, MinVersion: 3, MaxVersion: 4, Flags: 1}, CodeProtocolVersionMismatch},
	} {
		cl := e.dial()
		cl.write(&c.m)
		if m, ok := cl.read().(*codec.SetupConnectionError); !ok || m.ErrorCode != c.code || m.Flags != 0 {
			t.Fatalf("%+v: %+v", c.m, m)
		}
		if !cl.closed() {
			t.Fatal("connection kept after a refused setup")
		}
	}
	e.setupClient()
	cl := e.dial()
	cl.write(&codec.AllocateMiningJobToken{UserIdentifier: "u", RequestID: 1})
	if !cl.closed() {
		t.Fatal("a message before SetupConnection kept the connection")
	}
}

func TestAllocate(t *testing.T) {
	e := start(t, Config{})
	c := e.setupClient()
	c.write(&codec.AllocateMiningJobToken{UserIdentifier: "alice", RequestID: 77})
	m := c.read().(*codec.AllocateMiningJobTokenSuccess)
	want := append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(poolScript))}, poolScript...)
	if m.RequestID != 77 || len(m.MiningJobToken) != TokenSize || !bytes.Equal(m.CoinbaseTxOutputs, want) {
		t.Fatalf("%+v", m)
	}
	if c.allocate("alice", 78) == nil || bytes.Equal(c.allocate("alice", 79), m.MiningJobToken) {
		t.Fatal("tokens repeat")
	}
}

func TestDeclareHappyPathActivateAndPushSolution(t *testing.T) {
	e := start(t, Config{})
	t1, t2 := makeTx(1, true), makeTx(2, false)
	e.node.addMempool(t1, 300)
	e.node.addMempool(t2, 200)
	c := e.setupClient()
	tok := c.allocate("alice", 1)
	m := job(5, tok, testSubsidy+500, t1, t2)
	active := c.declareOK(m)
	if e.metric("adit_jd_declarations_total", "result", "accepted") != 1 {
		t.Fatal("not counted")
	}
	// The proposed block: header on the tip, real merkle root, coinbase
	// in witness form, the transactions in order.
	e.node.mu.Lock()
	block := e.node.proposed[0]
	e.node.mu.Unlock()
	checkBlock(t, block, e.node.tip.PrevHash, 0x20000000, e.node.tip.CurTime, 0, [][]byte{t1, t2})

	// The declaration is taken once, by the user of the allocation.
	if _, err := e.srv.Activate(active, "bob"); ErrorCode(err) != CodeInvalidMiningJobToken {
		t.Fatalf("other user: %v", err)
	}
	c.allocate("alice", 2)
	tok3 := c.allocate("alice", 3)
	active = c.declareOK(job(6, tok3, testSubsidy+500, t1, t2))
	d, err := e.srv.Activate(active, "alice")
	if err != nil || d.Height != testHeight || d.CoinbaseValue != testSubsidy+500 || len(d.TxIDs) != 2 || d.Fees != 500 {
		t.Fatalf("activate: %+v %v", d, err)
	}
	if _, err := e.srv.Activate(active, "alice"); ErrorCode(err) != CodeInvalidMiningJobToken {
		t.Fatalf("replayed: %v", err)
	}
	// The custom job matches field by field.
	sc := customJob(d)
	if code, det := CheckCustomJob(d, sc, poolScript); code != "" {
		t.Fatalf("CheckCustomJob: %s %s", code, det)
	}

	// PushSolution: find a nonce meeting the easy target, push it, and
	// check the submitted block.
	en := bytes.Repeat([]byte{9}, 16)
	var nonce uint32
	for ; ; nonce++ {
		if _, h, _ := d.Block(0x20000000, 1_700_000_200, nonce, en); func() bool { tg := shareTarget(easyBits); return tg.Met(&h) }() {
			break
		}
	}
	c.write(&codec.PushSolution{Extranonce: en, PrevHash: d.PrevHash, Nonce: nonce, NTime: 1_700_000_200, NBits: easyBits, Version: 0x20000000})
	sharetest.Eventually(t, "submitted", func() bool { e.node.mu.Lock(); defer e.node.mu.Unlock(); return len(e.node.submitted) == 1 })
	e.node.mu.Lock()
	sub, hash := e.node.submitted[0], e.node.hashes[0]
	e.node.mu.Unlock()
	if share.DoubleSHA256(sub[:80]) != hash || !func() bool { tg := shareTarget(easyBits); return tg.Met(&hash) }() {
		t.Fatal("submitted hash")
	}
	checkBlock(t, sub, d.PrevHash, 0x20000000, 1_700_000_200, nonce, [][]byte{t1, t2})
	if !bytes.Contains(sub, en) {
		t.Fatal("the extranonce is not in the submitted coinbase")
	}
	// A solution that matches nothing is counted, not submitted.
	c.write(&codec.PushSolution{Extranonce: en, PrevHash: [32]byte{1}, NBits: easyBits})
	sharetest.Eventually(t, "no_match", func() bool { return e.metric("adit_jd_solutions_total", "result", "no_match") == 1 })
}

// checkBlock parses a serialized block and checks its header and structure.
func checkBlock(t *testing.T, b []byte, prev [32]byte, version, ntime, nonce uint32, txs [][]byte) {
	t.Helper()
	if binary.LittleEndian.Uint32(b) != version || !bytes.Equal(b[4:36], prev[:]) ||
		binary.LittleEndian.Uint32(b[68:]) != ntime || binary.LittleEndian.Uint32(b[72:]) != easyBits ||
		binary.LittleEndian.Uint32(b[76:]) != nonce {
		t.Fatalf("header %x", b[:80])
	}
	r := &byteReader{b: b, off: 80}
	n := r.varint("n", 1<<20)
	if int(n) != len(txs)+1 {
		t.Fatalf("%d transactions", n)
	}
	// The coinbase: parse it by finding where the first tx begins.
	rest := b[r.off:]
	cbLen := len(rest)
	for _, tx := range txs {
		cbLen -= len(tx)
	}
	cb, err := parseTx(rest[:cbLen])
	if err != nil || !cb.Coinbase || !cb.Witness {
		t.Fatalf("coinbase: %+v %v", cb, err)
	}
	ids := [][32]byte{}
	off := cbLen
	for _, tx := range txs {
		if !bytes.Equal(rest[off:off+len(tx)], tx) {
			t.Fatal("transactions out of order")
		}
		pt, _ := parseTx(tx)
		ids = append(ids, pt.TxID)
		off += len(tx)
	}
	root := share.MerkleRoot(cb.TxID, share.MerkleBranch(ids))
	if !bytes.Equal(b[36:68], root[:]) {
		t.Fatal("merkle root")
	}
}

// customJob is the SetCustomMiningJob an honest JDC sends for d.
func customJob(d *Declaration) *codec.SetCustomMiningJob {
	return &codec.SetCustomMiningJob{ChannelID: 1, RequestID: 1, Version: d.Version, PrevHash: d.PrevHash, NBits: d.Bits,
		CoinbaseTxVersion: d.CoinbaseTxVersion, CoinbasePrefix: append([]byte(nil), d.ScriptSig[:d.Coinbase.ExtranonceOffset]...),
		CoinbaseTxInputNSequence: d.Sequence, CoinbaseTxOutputs: d.Outputs, CoinbaseTxLocktime: d.Locktime,
		MerklePath: d.MerkleBranch}
}
