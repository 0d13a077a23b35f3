// Package sv2 is the Stratum V2 mining-protocol server: Noise NX handshakes
// (off the accept loop, bounded), then per connection a reader, a writer
// with a bounded queue and an owner serving standard channels (grouped per
// connection unless REQUIRES_STANDARD_JOBS), extended channels and shares
// judged by package share, in the reference implementation's wire format,
// message order and error strings. Its building blocks live in sv2/codec,
// sv2/noise and sv2/keys; sv2/client is a small client for miners and
// tests. Job Declaration is to live in sv2/jd.
package sv2
