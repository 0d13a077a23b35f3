// Package sendq is the bounded outbound queue of one connection, shared by
// the Stratum V1 and V2 sessions: the owner pushes without ever blocking (a
// full queue means a slow consumer, to be dropped), a single writer goroutine
// drains it with a write deadline, and closing the queue lets the writer
// flush what is queued and exit. It imports nothing of the pool.
package sendq
