// Package node is the pool's JSON-RPC client for Bitcoin Core and btcd:
// block templates (getblocktemplate with longpoll), block submission, chain
// queries and btcd's websocket block notifications. It speaks the wire
// dialect both nodes accept (JSON-RPC 1.0, numeric ids, positional params)
// and parses templates into validated, typed fields; it knows nothing about
// jobs, shares or miners.
package node
