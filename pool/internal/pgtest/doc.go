// Package pgtest gives the pool's tests and local tooling throwaway
// PostgreSQL 15 clusters. It re-exports share/pgstore/pgtest (the
// implementation lives there so that share/pgstore and migrations, which
// Go's internal rule keeps out of pool/internal, can use it too).
package pgtest
