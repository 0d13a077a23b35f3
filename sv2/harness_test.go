package sv2_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/keys"
	"github.com/adit-pool/adit/sv2/noise"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestBackend is an in-memory backend whose sessions keep diff whatever
// hash rate a channel declares.
func newTestBackend(v *share.Validator, diff float64) *sharetest.Backend {
	b := sharetest.NewBackend(v, diff)
	b.FixedDifficulty = true
	return b
}

type testEnv struct {
	t         *testing.T
	srv       *sv2.Server
	backend   *sharetest.Backend
	reg       *prometheus.Registry
	authority keys.PublicKey
	cancel    context.CancelFunc
	done      chan error
}

func startServer(t *testing.T, cfg sv2.Config, b *sharetest.Backend) *testEnv {
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
		Validator:   b.V,
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
	sharetest.Eventually(t, "listening", func() bool {
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

// metric returns the value of a metric with the given labels.
func (e *testEnv) metric(name string, labels ...string) float64 {
	e.t.Helper()
	return sharetest.Metric(e.t, e.reg, name, labels...)
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
