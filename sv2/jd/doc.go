// Package jd is the Stratum V2 Job Declaration Server: its own Noise
// listener, SetupConnection for the Job Declaration protocol (full-template
// mode only), mining job tokens, DeclareMiningJob checked strictly (the
// whole coinbase, the pool's payout, the transactions, then a BIP23 block
// proposal to the pool's node), and PushSolution rebuilt into a block and
// submitted. It exports the declarations it accepted (Server.Activate,
// CheckCustomJob) for the mining server's SetCustomMiningJob.
//
// It speaks the protocol only and never imports package pool: the pool's
// node and mempool mirror are reached through the Node interface, as the
// mining servers reach the pool through share.Backend. It imports the
// standard library, share, sv2/codec, sv2/noise, the shared server plumbing
// in stratum/{acceptloop,connlimit,sendq,srvmetrics}, prometheus and zap.
package jd
