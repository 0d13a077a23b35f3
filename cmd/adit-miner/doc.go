// Command adit-miner is a real CPU miner and load generator for Stratum V1
// pools. Every thread hashes real block headers with double SHA-256 (through
// package share, so it hashes exactly what the pool validates) and submits
// the shares that meet the pool's target. Fleet mode (-fleet N) runs N
// independent miners, each with its own connection, paced to a target share
// rate, and prints a summary: accepted and rejected shares by error code,
// shares per second and submit→reply latency percentiles.
//
// Usage:
//
//	adit-miner -pool 127.0.0.1:3333 -user ADDRESS.worker [-threads N]
//	adit-miner -pool 127.0.0.1:3333 -user ADDRESS.load -fleet 200 -share-rate 2 -duration 60s -json
package main
