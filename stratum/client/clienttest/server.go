package clienttest

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum"
)

// Server is the real Stratum V1 server (stratum.NewServer) with a real
// share.Validator and an in-memory share.Backend, listening on a loopback
// port. Every session starts at a fixed difficulty; Retarget, when set,
// changes it after the n-th accepted share of a session.
type Server struct {
	Srv     *stratum.Server
	V       *share.Validator
	backend *memBackend
	cancel  context.CancelFunc
	done    chan error
}

// ServerConfig configures StartServer.
type ServerConfig struct {
	// Difficulty is every session's starting difficulty (default 1e-4).
	Difficulty float64
	// Retarget, when non-nil, is asked after each accepted share of a session
	// (n counts from 1) whether to switch to a new difficulty.
	Retarget func(n int) (float64, bool)
	// Stratum is the server configuration (Listen is ignored).
	Stratum stratum.Config
}

// StartServer starts a Server with one job published and stops it at test
// cleanup, failing the test if Serve returns an error.
func StartServer(tb testing.TB, cfg ServerConfig) *Server {
	tb.Helper()
	if cfg.Difficulty == 0 {
		cfg.Difficulty = 1e-4
	}
	v := share.NewValidator(share.ValidatorConfig{})
	b := &memBackend{v: v, diff: cfg.Difficulty, retarget: cfg.Retarget, subs: map[int]chan *share.Job{}}
	srv, err := stratum.NewServer(cfg.Stratum, stratum.Deps{Validator: v, Backend: b})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	b.Publish(Job(1, 4+8, true))
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Srv: srv, V: v, backend: b, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-s.done; err != nil {
			tb.Errorf("stratum Serve: %v", err)
		}
	})
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string {
	for s.Srv.Addr() == nil {
		time.Sleep(time.Millisecond)
	}
	return s.Srv.Addr().String()
}

// Publish adds j to the validator and broadcasts it to every session.
func (s *Server) Publish(j *share.Job) { s.backend.Publish(j) }

// Records returns the accepted-share records so far.
func (s *Server) Records() []share.Record {
	s.backend.mu.Lock()
	defer s.backend.mu.Unlock()
	return append([]share.Record(nil), s.backend.records...)
}

// memBackend implements share.Backend in memory.
type memBackend struct {
	v        *share.Validator
	diff     float64
	retarget func(n int) (float64, bool)

	mu      sync.Mutex
	records []share.Record
	subs    map[int]chan *share.Job
	nextSub int
	cur     *share.Job
	nextEN  uint32
}

func (b *memBackend) Accept(_ context.Context, rec *share.Record, _ *share.Result) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records = append(b.records, *rec)
	return nil
}

func (b *memBackend) Authorize(user, _ string) (share.Worker, error) {
	addr, name, _ := strings.Cut(user, ".")
	return share.Worker{Address: addr, Name: name}, nil
}

func (b *memBackend) NewVardiff() share.Vardiff {
	return &fixedVardiff{d: b.diff, retarget: b.retarget}
}

func (b *memBackend) AllocateExtranonce() ([]byte, func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextEN++
	return binary.BigEndian.AppendUint32(nil, b.nextEN), func() {}, nil
}

func (b *memBackend) SubscribeJobs() (<-chan *share.Job, func()) {
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

// Publish adds j to the validator and delivers it (newest only) to every
// subscriber.
func (b *memBackend) Publish(j *share.Job) {
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

// fixedVardiff keeps a difficulty until retarget says otherwise.
type fixedVardiff struct {
	d, min   float64
	n        int
	retarget func(n int) (float64, bool)
}

func (v *fixedVardiff) Difficulty() float64 { return v.d }
func (v *fixedVardiff) Suggest(d float64) float64 {
	v.d = max(d, v.min)
	return v.d
}
func (v *fixedVardiff) SetMinimum(d float64) { v.min = d; v.d = max(v.d, d) }
func (v *fixedVardiff) OnShare(time.Time) (float64, bool) {
	v.n++
	if v.retarget != nil {
		if d, ok := v.retarget(v.n); ok {
			v.d = d
			return d, true
		}
	}
	return v.d, false
}
