// Package e2e runs the real daemon and the real CPU miner as processes
// against a real btcd regtest node, for the integration tests (build tag
// integration). The helpers here build the binaries, start and stop the
// processes on free loopback ports and read the daemon's Prometheus metrics.
package e2e
