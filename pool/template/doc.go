// Package template turns node block templates into share.Jobs and owns the
// flow of work: Builder lays out the coinbase (BIP34 height, pool tag,
// extranonce area, payout and witness commitment outputs) and merkle branch;
// Source watches one or more nodes (GBT longpoll, btcd websocket, a short
// best-block poll) and emits a clean job for every new tip and a refreshed
// job on an interval; Submitter sends solved blocks to every node and
// confirms them. It does not know about miners, sessions or protocols.
package template
