// Package stratum is the server side of Stratum V1: a bounded line codec, the
// JSON-RPC message types and encoders, one session per TCP connection (reader,
// bounded writer, owner) and a listener with connection limits. It translates
// wire messages to and from the protocol-neutral types in package share and
// reaches the pool only through share.Backend; it never hashes, compares
// targets or persists shares itself. The codec and message types are exported
// so the client package (stratum/client) can reuse them.
package stratum
