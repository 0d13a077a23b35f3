// Package connlimit holds the connection admission limits shared by the
// Stratum V1 and V2 servers: a cap on open connections in total and per
// remote IP. It imports nothing of the pool; callers count refusals by the
// exported reason values, which are bounded metric label values.
package connlimit
