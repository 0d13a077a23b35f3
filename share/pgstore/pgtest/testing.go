package pgtest

import (
	"os"
	"testing"
)

// Server is a Cluster owned by one test. Its Start and Stop fail the test on
// error instead of returning it.
type Server struct {
	*Cluster
	t testing.TB
}

// Start initialises and starts a fresh cluster on a free port for t. The
// cluster is stopped and its directory removed by t.Cleanup; if t failed the
// server log is dumped with t.Log first. Missing Postgres binaries fail the
// test (never skip).
func Start(t testing.TB) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "adit-pgtest-")
	if err != nil {
		t.Fatalf("pgtest: temp dir: %v", err)
	}
	c, err := StartCluster(dir, 0)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("%v", err)
	}
	s := &Server{Cluster: c, t: t}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: server log %s:\n%s", c.LogPath(), c.ServerLog())
		}
		if err := c.Destroy(); err != nil {
			t.Errorf("pgtest: destroy: %v", err)
		}
	})
	return s
}

// Stop stops the server, failing the test on error.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.Cluster.Stop(); err != nil {
		s.t.Fatalf("%v", err)
	}
}

// Start (re)starts the server on the same port and data directory, failing
// the test on error.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.Cluster.Start(); err != nil {
		s.t.Fatalf("%v", err)
	}
}
