package clienttest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
	"github.com/adit-pool/adit/stratum"
)

// Server is the real Stratum V1 server (stratum.NewServer) with a real
// share.Validator and an in-memory share.Backend, listening on a loopback
// port. Every session starts at a fixed difficulty; Retarget, when set,
// changes it after the n-th accepted share of a session.
type Server struct {
	Srv     *stratum.Server
	V       *share.Validator
	backend *sharetest.Backend
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
	b := sharetest.NewBackend(v, cfg.Difficulty)
	b.Retarget = cfg.Retarget
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
func (s *Server) Records() []share.Record { return s.backend.Records() }
