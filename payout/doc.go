// Package payout turns found blocks into miners' coins: it tracks each block
// through its lifecycle (found, submitted, accepted or rejected, mature or
// orphaned), snapshots the PPLNS window when a block is found, credits the
// block's actual coinbase value to an immutable Postgres ledger when it
// matures, and pays balances above a threshold in transactions it builds and
// signs itself, recorded before broadcast and reconciled by txid after a
// crash.
//
// It depends on share records, pgx and btcd only; the node it talks to is
// reached through the small Chain and Broadcaster interfaces, which
// *node.Client implements. Money is int64 satoshis everywhere.
package payout
