package share

// Backend is what the pool hands a protocol server (stratum, sv2): the only
// way a protocol package reaches pool internals. Implementations are safe for
// concurrent use by many sessions.
type Backend interface {
	Acceptor
	// Authorize checks an `address.worker` username (and password, which
	// pools conventionally ignore or parse for options) and returns who is
	// paid for the session's shares. The error text is shown to the miner.
	Authorize(username, password string) (Worker, error)
	// NewVardiff returns a difficulty controller for one session or channel.
	NewVardiff() Vardiff
	// AllocateExtranonce reserves a unique extranonce prefix (Stratum V1
	// extranonce1 / SV2 extranonce_prefix) of the configured size, including
	// the instance prefix. release returns it; it is safe to call once.
	AllocateExtranonce() (prefix []byte, release func(), err error)
	// SubscribeJobs delivers the current job at once and every new job after
	// it. The channel holds only the newest job: a slow reader skips jobs, never
	// blocks the broadcast. cancel stops delivery and closes nothing.
	SubscribeJobs() (jobs <-chan *Job, cancel func())
}

// Presence is optionally implemented by a Backend that follows which workers
// are connected. A protocol server calls Online once for each worker a
// session authorizes (a Stratum V1 mining.authorize, a Stratum V2 channel)
// and calls the returned offline exactly once when that session or channel
// ends. Online is called from session owners and must not block.
type Presence interface {
	Online(w Worker, p Protocol) (offline func())
}
