// Package client is a Stratum V1 mining client: it dials a pool, performs the
// handshake real firmware performs (mining.configure, subscribe, optional
// suggest_difficulty, extranonce.subscribe, multi_version, authorize), decodes
// the pool's notifications into hash-ready Work and correlates share
// submissions with their replies. It does no hashing itself beyond the
// helpers on Work, which use package share's functions, so a miner built on
// it hashes exactly what the pool validates. Integration tests use Call to
// script misbehaving clients.
package client
