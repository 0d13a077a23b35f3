// Package jdclient is the client side of Stratum V2 Job Declaration: a
// connection to a pool's Job Declaration Server (Conn: Noise dial with the
// pool's authority key pinned, SetupConnection protocol=1 with
// DECLARE_TX_DATA, AllocateMiningJobToken, DeclareMiningJob with answers to
// ProvideMissingTransactions, PushSolution) and the declared-job builder
// (Build: from a node template and the pool's required outputs, the
// coinbase split for DeclareMiningJob and the matching SetCustomMiningJob
// fields). It serves adit-miner's JD mode and the farm proxy; the mining
// side (SetCustomMiningJob on an extended channel) is sv2/client.
package jdclient
