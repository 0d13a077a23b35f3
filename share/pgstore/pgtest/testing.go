package pgtest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// dirPattern names the temporary directories of test clusters.
const dirPattern = "adit-pgtest-"

// ownerLock, in a test cluster's directory, is flock'ed by the test
// process that owns the cluster for as long as it lives (the kernel drops
// the lock when the process dies, however it dies).
const ownerLock = "owner.lock"

// Server is a Cluster owned by one test. Its Start and Stop fail the test on
// error instead of returning it.
type Server struct {
	*Cluster
	t     testing.TB
	owner *os.File // holds the ownerLock flock
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
	owner, err := lockOwner(dir)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("pgtest: owner lock: %v", err)
	}
	c, err := StartCluster(dir, 0)
	if err != nil {
		os.RemoveAll(dir)
		owner.Close()
		t.Fatalf("%v", err)
	}
	s := &Server{Cluster: c, t: t, owner: owner}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: server log %s:\n%s", c.LogPath(), c.ServerLog())
		}
		if err := c.Destroy(); err != nil {
			t.Errorf("pgtest: destroy: %v", err)
		}
		owner.Close()
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

// lockOwner takes the ownerLock of dir and returns the file holding it.
// The lock is taken on a temporary name and then renamed into place, so a
// reaper never sees an unlocked ownerLock of a live cluster.
func lockOwner(dir string) (*os.File, error) {
	tmp := filepath.Join(dir, ownerLock+".new")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, ownerLock)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// reapOrphans stops and removes the test clusters under tmp whose owning
// test process is gone (their ownerLock can be taken): a test binary
// killed by a timeout or a signal never runs its cleanup, and its server
// would run on. Clusters whose owner lives, and directories without an
// ownerLock (being created, or not ours), are left alone. Errors are
// ignored: reaping is best effort.
func reapOrphans(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, dirPattern+"*"))
	for _, dir := range dirs {
		f, err := os.OpenFile(filepath.Join(dir, ownerLock), os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // held: the owner lives
			continue
		}
		if c, err := NewCluster(dir, 0); err == nil {
			c.running = true // unknown: Stop asks pg_ctl, which knows
			_ = c.Destroy()
		}
		f.Close()
	}
}
