package sv2_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/keys"
	"github.com/adit-pool/adit/sv2/noise"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type testVardiff struct{ d float64 }

func (v *testVardiff) Difficulty() float64               { return v.d }
func (v *testVardiff) Suggest(d float64) float64         { return v.d }
func (v *testVardiff) SetMinimum(float64)                {}
func (v *testVardiff) OnShare(time.Time) (float64, bool) { return v.d, false }

// testBackend implements share.Backend in memory.
type testBackend struct {
	v         *share.Validator
	startDiff float64
	prefix    func(n uint32) []byte // extranonce prefix for the n-th allocation

	mu        sync.Mutex
	records   []share.Record
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

func (b *testBackend) NewVardiff() share.Vardiff { return &testVardiff{d: b.startDiff} }

func (b *testBackend) AllocateExtranonce() ([]byte, func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextEN++
	b.allocated++
	p := binary.BigEndian.AppendUint32(nil, b.nextEN)
	if b.prefix != nil {
		p = b.prefix(b.nextEN)
	}
	var once sync.Once
	return p, func() {
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

const hardBits = 0x1d00ffff

// testJob builds a real job: a serialized coinbase split around an 8-byte
// extranonce at the end of its scriptSig.
func testJob(id uint32, prev byte, now time.Time, bits uint32, txs ...[]byte) *share.Job {
	prefix := []byte{1, 0, 0, 0, 1}
	prefix = append(prefix, make([]byte, 32)...)
	prefix = append(prefix, 0xff, 0xff, 0xff, 0xff)
	prefix = append(prefix, 13, 3, 1, 0, 0, 8) // scriptSig len, BIP34 height, push 8
	suffix := []byte{0xff, 0xff, 0xff, 0xff, 1}
	suffix = binary.LittleEndian.AppendUint64(suffix, 50e8)
	suffix = append(suffix, 1, 0x51, 0, 0, 0, 0)
	j := &share.Job{
		ID: id, Height: 1, Version: 0x20000000, Bits: bits, NetworkTarget: share.TargetFromCompact(bits),
		MinTime: uint32(now.Unix()) - 600, CurTime: uint32(now.Unix()),
		CoinbasePrefix: prefix, CoinbaseSuffix: suffix, ExtranonceSize: 8, CoinbaseValue: 50e8, Created: now,
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

type testEnv struct {
	t         *testing.T
	srv       *sv2.Server
	backend   *testBackend
	reg       *prometheus.Registry
	authority keys.PublicKey
	cancel    context.CancelFunc
	done      chan error
}

func startServer(t *testing.T, cfg sv2.Config, b *testBackend) *testEnv {
	t.Helper()
	reg := prometheus.NewRegistry()
	shares := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "adit_shares_total", Help: "x"}, []string{"protocol", "result"})
	conns := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "adit_connections", Help: "x"}, []string{"protocol"})
	reg.MustRegister(shares, conns)
	auth, err := keys.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	srv, err := sv2.NewServer(cfg, sv2.Deps{
		Validator:   b.v,
		Backend:     b,
		Keys:        &noise.KeyRotator{Authority: auth},
		Log:         zaptest.NewLogger(t),
		Registerer:  reg,
		Shares:      shares.MustCurryWith(prometheus.Labels{"protocol": "v2"}),
		Connections: conns.WithLabelValues("v2"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &testEnv{t: t, srv: srv, backend: b, reg: reg, authority: auth.PublicKey(), cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- srv.Run(ctx) }()
	eventually(t, "listening", func() bool {
		return srv.Addr() != nil && (cfg.PlaintextListen == "" || srv.PlaintextAddr() != nil)
	})
	t.Cleanup(e.stop)
	return e
}

func (e *testEnv) stop() {
	e.cancel()
	if e.done != nil {
		if err := <-e.done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
		e.done = nil
	}
}

func (e *testEnv) addr() string { return e.srv.Addr().String() }

// dial connects an honest client over Noise, verifying the authority.
func (e *testEnv) dial(flags uint32) *client.Client {
	e.t.Helper()
	auth := e.authority
	c, err := client.Dial(context.Background(), e.addr(), client.Config{Authority: &auth, Flags: flags, Vendor: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

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
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
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

func nextWork(t *testing.T, c *client.Client, chID uint32) client.Work {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case w := <-c.Work():
			if w.ChannelID == chID {
				return w
			}
		case <-timeout:
			t.Fatalf("no work for channel %d", chID)
		}
	}
}

func nextResult(t *testing.T, c *client.Client) client.Result {
	t.Helper()
	select {
	case r := <-c.Results():
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no share result")
	}
	return client.Result{}
}

// mine searches nonces from start for a header meeting (want=true) or
// missing (want=false) the target.
func mine(w *client.Work, extranonce []byte, version uint32, start uint32, want bool) uint32 {
	root := w.Root(extranonce)
	for n := start; ; n++ {
		h := w.Header(&root, w.MinNTime, n, version)
		hash := share.DoubleSHA256(h[:])
		if w.Target.Met(&hash) == want {
			return n
		}
	}
}
