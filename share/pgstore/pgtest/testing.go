package pgtest

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// dirPattern names the temporary directories of test clusters.
const dirPattern = "adit-pgtest-"

// ownerFile, in a test cluster's directory, holds the PID of the test
// process that owns the cluster.
const ownerFile = "owner.pid"

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
	reapOrphans(os.TempDir())
	dir, err := os.MkdirTemp("", dirPattern)
	if err != nil {
		t.Fatalf("pgtest: temp dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("pgtest: owner file: %v", err)
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

// reapOrphans stops and removes the test clusters under tmp whose owning
// test process is gone: a test binary killed by a timeout or a signal never
// runs its cleanup, and its server would run on. Clusters of live
// processes, and directories without an owner file (being created, or not
// ours), are left alone. Errors are ignored: reaping is best effort.
func reapOrphans(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, dirPattern+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		c, err := NewCluster(dir, 0)
		if err != nil {
			continue
		}
		c.running = true // unknown: Stop asks pg_ctl, which knows
		_ = c.Destroy()
	}
}

// processAlive reports whether a process with this PID exists (one we may
// not signal counts as alive).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
