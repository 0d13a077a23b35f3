package pgtest

import (
	"testing"

	impl "github.com/adit-pool/adit/share/pgstore/pgtest"
)

// Cluster is one Postgres cluster in its own directory; see
// share/pgstore/pgtest.Cluster.
type Cluster = impl.Cluster

// Server is a Cluster owned by one test; see share/pgstore/pgtest.Server.
type Server = impl.Server

// DefaultBinDir is where the Postgres 15 server binaries are looked for.
const DefaultBinDir = impl.DefaultBinDir

// ErrNoPostgres means the Postgres 15 server binaries are not installed.
var ErrNoPostgres = impl.ErrNoPostgres

// StartCluster initialises (if needed) and starts a cluster in dir on
// 127.0.0.1:port (0 = a free port). It does not depend on package testing.
func StartCluster(dir string, port int) (*Cluster, error) { return impl.StartCluster(dir, port) }

// NewCluster prepares a cluster without initialising or starting it.
func NewCluster(dir string, port int) (*Cluster, error) { return impl.NewCluster(dir, port) }

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) { return impl.FreePort() }

// Start starts a fresh cluster for t, removed by t.Cleanup; it fails the test
// if Postgres is not installed.
func Start(t testing.TB) *Server { t.Helper(); return impl.Start(t) }
