// Package pgtest starts throwaway PostgreSQL 15 clusters for tests and local
// tooling: initdb into a private directory, listen on 127.0.0.1 and a chosen
// port with unix sockets inside that directory, trust authentication and no
// fsync. The core (Cluster, StartCluster) has no dependency on package
// testing; Start wraps it for tests with t.Cleanup and a server-log dump on
// failure. When run as root the server runs as the "postgres" user through
// runuser, since Postgres refuses to run as root.
//
// It lives here, not only in pool/internal/pgtest, because Go's internal rule
// would keep share/pgstore and migrations from importing the latter;
// pool/internal/pgtest re-exports it for the pool's own tests.
package pgtest
