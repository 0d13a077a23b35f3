// Package sendq is the bounded outbound queue of one connection, shared by
// the Stratum V1 and V2 sessions, and where both apply backpressure.
//
// A single writer goroutine drains the queue (Run) with a write deadline of
// the queue's timeout per write or batch; closing the queue lets it flush
// what is queued and exit. The session's owner goroutine pushes:
//
//   - Push, for replies to the connection's own requests, waits while the
//     queue is full. The owner handles one request at a time and the reader
//     waits for it, so a full queue stops the connection being read: a
//     client that pipelines many requests is slowed to the pace at which it
//     reads its replies, never dropped for asking a lot at once.
//   - HasRoom gates pool-initiated work (new jobs): the owner takes a job
//     from its subscription only when the queue has room for the messages
//     it fans out to, so a job never waits in the queue behind a backlog
//     and never blocks the job hub. Until then the job stays in the
//     subscription's one-slot mailbox, where a newer job replaces it.
//
// Every wait is bounded by the timeout: a slow consumer is a peer that does
// not read what it is sent within it. Then Push, or the writer's expired
// deadline, fails with ErrSlowConsumer and the session is dropped. The
// package imports nothing of the pool.
package sendq
