// Package share is the protocol-neutral core of the pool: the Job a miner works
// on, the Submission it sends back, the validator that judges it (header
// double-SHA256, merkle root, 256-bit target compare, duplicate filter) and the
// Record written for every accepted share. Protocol packages (stratum, sv2)
// translate their wire messages to and from these types; they never hash,
// compare targets or persist shares themselves.
package share
