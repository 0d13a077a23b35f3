package stratum

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
)

// testEnv is a running server with a fresh registry.
type testEnv struct {
	t       *testing.T
	srv     *Server
	backend *sharetest.Backend
	reg     *prometheus.Registry
	addr    string
	cancel  context.CancelFunc
	done    chan error
}

func startServer(t *testing.T, cfg Config, b *sharetest.Backend) *testEnv {
	t.Helper()
	reg := prometheus.NewRegistry()
	shares := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "adit_shares_total", Help: "x"}, []string{"protocol", "result"})
	conns := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "adit_connections", Help: "x"}, []string{"protocol"})
	reg.MustRegister(shares, conns)
	srv, err := NewServer(cfg, Deps{
		Validator:   b.V,
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

// metric returns the value of a metric with the given labels.
func (e *testEnv) metric(name string, labels ...string) float64 {
	e.t.Helper()
	return sharetest.Metric(e.t, e.reg, name, labels...)
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
