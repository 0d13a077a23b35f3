package stratum

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"

	"github.com/adit-pool/adit/share"
)

// testVardiff is a real (if simple) vardiff: a fixed difficulty that a test
// hook may change after the n-th accepted share.
type testVardiff struct {
	d, min   float64
	n        int
	retarget func(n int) (float64, bool)
}

func (v *testVardiff) Difficulty() float64 { return v.d }
func (v *testVardiff) Suggest(d float64) float64 {
	v.d = max(d, v.min)
	return v.d
}
func (v *testVardiff) SetMinimum(d float64) {
	v.min = d
	v.d = max(v.d, d)
}
func (v *testVardiff) OnShare(time.Time) (float64, bool) {
	v.n++
	if v.retarget != nil {
		if d, ok := v.retarget(v.n); ok {
			v.d = d
			return d, true
		}
	}
	return v.d, false
}

// testBackend implements share.Backend in memory.
type testBackend struct {
	v         *share.Validator
	startDiff float64
	retarget  func(n int) (float64, bool)

	mu        sync.Mutex
	records   []share.Record
	acceptErr error
	subs      map[int]chan *share.Job
	nextSub   int
	cur       *share.Job
	nextEN    uint32
	allocated int
	released  int
}

func newTestBackend(v *share.Validator, diff float64) *testBackend {
	return &testBackend{v: v, startDiff: diff, subs: map[int]chan *share.Job{}}
}

func (b *testBackend) Accept(_ context.Context, rec *share.Record, _ *share.Result) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.acceptErr != nil {
		return b.acceptErr
	}
	b.records = append(b.records, *rec)
	return nil
}

func (b *testBackend) Authorize(user, _ string) (share.Worker, error) {
	if user == "panic" {
		panic("test panic in Authorize")
	}
	addr, name, _ := strings.Cut(user, ".")
	if strings.HasPrefix(addr, "bad") {
		return share.Worker{}, errors.New("unknown payout address")
	}
	return share.Worker{Address: addr, Name: name}, nil
}

func (b *testBackend) NewVardiff() share.Vardiff {
	return &testVardiff{d: b.startDiff, retarget: b.retarget}
}

func (b *testBackend) AllocateExtranonce() ([]byte, func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextEN++
	b.allocated++
	var once sync.Once
	return binary.BigEndian.AppendUint32(nil, b.nextEN), func() {
		once.Do(func() {
			b.mu.Lock()
			b.released++
			b.mu.Unlock()
		})
	}, nil
}

func (b *testBackend) SubscribeJobs() (<-chan *share.Job, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan *share.Job, 1)
	if b.cur != nil {
		ch <- b.cur
	}
	id := b.nextSub
	b.nextSub++
	b.subs[id] = ch
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, id)
		b.mu.Unlock()
	}
}

// publish adds j to the validator and delivers it (newest only) to every
// subscriber.
func (b *testBackend) publish(j *share.Job) {
	b.v.AddJob(j)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cur = j
	for _, ch := range b.subs {
		select {
		case <-ch:
		default:
		}
		ch <- j
	}
}

func (b *testBackend) stats() (records []share.Record, allocated, released, subs int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]share.Record(nil), b.records...), b.allocated, b.released, len(b.subs)
}

// Network bits for test jobs: hardBits never yields a block at share
// difficulties (so low-difficulty rejects are deterministic); regtestBits
// makes about half of all hashes blocks.
const (
	hardBits    = 0x1d00ffff
	regtestBits = 0x207fffff
)

// testJob builds a real job: a serialized coinbase split around an 8-byte
// extranonce at the end of its scriptSig, no transactions unless given.
func testJob(id uint32, prev byte, now time.Time, bits uint32, txs ...[]byte) *share.Job {
	prefix := []byte{1, 0, 0, 0, 1}                 // version, one input
	prefix = append(prefix, make([]byte, 32)...)    // null prevout hash
	prefix = append(prefix, 0xff, 0xff, 0xff, 0xff) // prevout index
	prefix = append(prefix, 12, 3, 1, 0, 0)         // scriptSig len, BIP34 height 1
	suffix := []byte{0xff, 0xff, 0xff, 0xff, 1}     // sequence, one output
	suffix = binary.LittleEndian.AppendUint64(suffix, 50e8)
	suffix = append(suffix, 1, 0x51, 0, 0, 0, 0) // OP_TRUE, locktime
	j := &share.Job{
		ID:             id,
		Height:         1,
		Version:        0x20000000,
		Bits:           bits,
		NetworkTarget:  share.TargetFromCompact(bits),
		MinTime:        uint32(now.Unix()) - 600,
		CurTime:        uint32(now.Unix()),
		CoinbasePrefix: prefix,
		CoinbaseSuffix: suffix,
		ExtranonceSize: 8,
		CoinbaseValue:  50e8,
		Created:        now,
	}
	j.PrevHash[0], j.PrevHash[31] = prev, 0x5a
	for _, tx := range txs {
		j.Transactions = append(j.Transactions, tx)
		j.TxIDs = append(j.TxIDs, share.DoubleSHA256(tx))
	}
	j.MerkleBranch = share.MerkleBranch(j.TxIDs)
	if err := j.Validate(); err != nil {
		panic(err)
	}
	return j
}

// testEnv is a running server with a fresh registry.
type testEnv struct {
	t       *testing.T
	srv     *Server
	backend *testBackend
	reg     *prometheus.Registry
	addr    string
	cancel  context.CancelFunc
	done    chan error
}

func startServer(t *testing.T, cfg Config, b *testBackend) *testEnv {
	t.Helper()
	reg := prometheus.NewRegistry()
	shares := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "adit_shares_total", Help: "x"}, []string{"protocol", "result"})
	conns := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "adit_connections", Help: "x"}, []string{"protocol"})
	reg.MustRegister(shares, conns)
	srv, err := NewServer(cfg, Deps{
		Validator:   b.v,
		Backend:     b,
		Log:         zaptest.NewLogger(t),
		Registerer:  reg,
		Shares:      shares.MustCurryWith(prometheus.Labels{"protocol": "v1"}),
		Connections: conns.WithLabelValues("v1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &testEnv{t: t, srv: srv, backend: b, reg: reg, addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(e.stop)
	return e
}

// stop cancels the server and waits for Serve to return (idempotent).
func (e *testEnv) stop() {
	e.cancel()
	if e.done != nil {
		if err := <-e.done; err != nil {
			e.t.Errorf("Serve: %v", err)
		}
		e.done = nil
	}
}

// metric returns the value of a counter or gauge with the given labels.
func (e *testEnv) metric(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// message is any line the server sends.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *Error          `json:"error"`
	raw    string
}

// testMiner is a minimal V1 client speaking over real TCP.
type testMiner struct {
	t       *testing.T
	c       net.Conn
	lr      *LineReader
	id      int
	pending []message // notifications read while waiting for a response
	en1     []byte
	en2Size int
	diff    float64
}

func dial(t *testing.T, addr string) *testMiner {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &testMiner{t: t, c: c, lr: NewLineReader(c, 1<<22)}
}

func (m *testMiner) write(line string) {
	m.t.Helper()
	if _, err := m.c.Write([]byte(line + "\n")); err != nil {
		m.t.Fatal(err)
	}
}

func (m *testMiner) request(method string, params ...any) int {
	m.t.Helper()
	m.id++
	if params == nil {
		params = []any{}
	}
	b, err := json.Marshal(map[string]any{"id": m.id, "method": method, "params": params})
	if err != nil {
		m.t.Fatal(err)
	}
	m.write(string(b))
	return m.id
}

func (m *testMiner) read() (message, error) {
	m.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := m.lr.ReadLine()
	if err != nil {
		return message{}, err
	}
	var msg message
	if err := json.Unmarshal(line, &msg); err != nil {
		m.t.Fatalf("server sent invalid JSON %q: %v", line, err)
	}
	msg.raw = string(line)
	return msg, nil
}

// response reads until the response to id, queueing notifications.
func (m *testMiner) response(id int) message {
	m.t.Helper()
	for {
		msg, err := m.read()
		if err != nil {
			m.t.Fatalf("waiting for response %d: %v", id, err)
		}
		if msg.Method != "" {
			m.pending = append(m.pending, msg)
			continue
		}
		if string(msg.ID) != fmt.Sprint(id) {
			m.t.Fatalf("response id %s, want %d: %s", msg.ID, id, msg.raw)
		}
		return msg
	}
}

func (m *testMiner) call(method string, params ...any) message {
	m.t.Helper()
	return m.response(m.request(method, params...))
}

// wantResult asserts a successful response with the given JSON result.
func (m *testMiner) wantResult(msg message, result string) {
	m.t.Helper()
	if msg.Error != nil || string(msg.Result) != result {
		m.t.Fatalf("got %s, want result %s", msg.raw, result)
	}
}

// wantError asserts an error response with the given code.
func (m *testMiner) wantError(msg message, code int) {
	m.t.Helper()
	if msg.Error == nil || msg.Error.Code != code || string(msg.Result) != "null" {
		m.t.Fatalf("got %s, want error %d", msg.raw, code)
	}
}

// notification returns the next notification (queued first).
func (m *testMiner) notification() message {
	m.t.Helper()
	if len(m.pending) > 0 {
		msg := m.pending[0]
		m.pending = m.pending[1:]
		return msg
	}
	msg, err := m.read()
	if err != nil {
		m.t.Fatalf("waiting for notification: %v", err)
	}
	if msg.Method == "" {
		m.t.Fatalf("unexpected response %s", msg.raw)
	}
	return msg
}

// nextJob reads notifications until a mining.notify, tracking difficulty.
func (m *testMiner) nextJob() Notify {
	m.t.Helper()
	for {
		msg := m.notification()
		switch msg.Method {
		case MethodSetDifficulty:
			var p []float64
			if err := json.Unmarshal(msg.Params, &p); err != nil || len(p) != 1 {
				m.t.Fatalf("bad set_difficulty %s", msg.raw)
			}
			m.diff = p[0]
		case MethodNotify:
			n, err := ParseNotify(msg.Params)
			if err != nil {
				m.t.Fatal(err)
			}
			return n
		}
	}
}

// handshake subscribes and authorizes worker and returns the first job.
func (m *testMiner) handshake(worker string) Notify {
	m.t.Helper()
	msg := m.call(MethodSubscribe, "test-miner/1.0")
	var res []json.RawMessage
	if err := json.Unmarshal(msg.Result, &res); err != nil || len(res) != 3 {
		m.t.Fatalf("subscribe reply %s", msg.raw)
	}
	var en1 string
	json.Unmarshal(res[1], &en1)
	m.en1, _ = hex.DecodeString(en1)
	json.Unmarshal(res[2], &m.en2Size)
	m.wantResult(m.call(MethodAuthorize, worker, "x"), "true")
	return m.nextJob()
}

// work is one share candidate.
type work struct {
	n           Notify
	en2         []byte
	ntime       uint32
	nonce       uint32
	versionBits uint32
	hasVersion  bool
}

// hash computes the header hash of w from the notify alone, as a miner does.
func (m *testMiner) hash(w *work) [32]byte {
	cb := append(append(append(append([]byte{}, w.n.Coinb1...), m.en1...), w.en2...), w.n.Coinb2...)
	root := share.MerkleRoot(share.DoubleSHA256(cb), w.n.MerkleBranch)
	version := w.n.Version
	if w.hasVersion {
		version = version&^0x1fffe000 | w.versionBits
	}
	var h share.Header
	share.PutHeader(&h, version, &w.n.PrevHash, &root, w.ntime, w.n.Bits, w.nonce)
	return share.DoubleSHA256(h[:])
}

// mine searches nonces from w.nonce until the hash meets (or, with
// meet=false, misses) difficulty d.
func (m *testMiner) mine(w work, d float64, meet bool) work {
	m.t.Helper()
	target := share.TargetFromDifficulty(d)
	if w.en2 == nil {
		w.en2 = make([]byte, m.en2Size)
	}
	if w.ntime == 0 {
		w.ntime = w.n.NTime
	}
	for i := 0; i < 1<<22; i++ {
		h := m.hash(&w)
		if target.Met(&h) == meet {
			return w
		}
		w.nonce++
	}
	m.t.Fatal("no nonce found")
	return w
}

func (m *testMiner) submit(worker string, w work) message {
	m.t.Helper()
	params := []any{worker, FormatJobID(w.n.JobID), hex.EncodeToString(w.en2),
		fmt.Sprintf("%08x", w.ntime), fmt.Sprintf("%08x", w.nonce)}
	if w.hasVersion {
		params = append(params, fmt.Sprintf("%08x", w.versionBits))
	}
	return m.call(MethodSubmit, params...)
}

// waitClosed reads until the server closes the connection.
func (m *testMiner) waitClosed() []message {
	m.t.Helper()
	var got []message
	for {
		msg, err := m.read()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				m.t.Fatal("connection not closed by server")
			}
			return got
		}
		got = append(got, msg)
	}
}
