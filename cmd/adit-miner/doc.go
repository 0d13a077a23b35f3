// Command adit-miner is a real CPU miner and load generator for Stratum V1
// and Stratum V2 pools. Every thread hashes real block headers with double
// SHA-256 (through package share, so it hashes exactly what the pool
// validates) and submits the shares that meet the pool's target. Over Stratum
// V2 it speaks Noise, verifies the pool's certificate against the authority
// public key, mines on a standard (header-only) or extended channel, and
// follows the pool's Reconnect to the host and port it names.
// Fleet mode (-fleet N) runs N independent miners, each with its own
// connection, paced to a target share rate, optionally mixing V1 and V2
// miners, and prints a summary: accepted and rejected shares by error code,
// per worker and per protocol, shares per second and submit→reply latency
// percentiles.
//
// Usage:
//
//	adit-miner -pool 127.0.0.1:3333 -user ADDRESS.worker [-threads N]
//	adit-miner -sv2 -pool 127.0.0.1:34254 -authority-key KEY -channel standard -user ADDRESS.worker
//	adit-miner -pool 127.0.0.1:3333 -user ADDRESS.load -fleet 200 -share-rate 2 -duration 60s -json
//	adit-miner -pool 127.0.0.1:3333 -sv2-pool 127.0.0.1:34254 -authority-key KEY -fleet 200 -v2-fraction 0.5 -user ADDRESS.load
package main
