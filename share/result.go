package share

// RejectReason says why a share was not accepted. The zero value means accepted.
type RejectReason uint8

// Reject reasons. Their String forms are the `result` label of share metrics.
const (
	Accepted RejectReason = iota
	RejectJobNotFound
	RejectStale
	RejectDuplicate
	RejectLowDifficulty
	RejectBadExtranonce
	RejectBadNTime
	RejectBadVersion
	RejectUnauthorized
	RejectNotSubscribed
	RejectInternal
	numReasons
)

var reasonNames = [numReasons]string{
	Accepted:            "accepted",
	RejectJobNotFound:   "job_not_found",
	RejectStale:         "stale",
	RejectDuplicate:     "duplicate",
	RejectLowDifficulty: "low_difficulty",
	RejectBadExtranonce: "bad_extranonce",
	RejectBadNTime:      "bad_ntime",
	RejectBadVersion:    "bad_version",
	RejectUnauthorized:  "unauthorized",
	RejectNotSubscribed: "not_subscribed",
	RejectInternal:      "internal_error",
}

// String returns the reason's metric label.
func (r RejectReason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// AllReasons lists every reason, for pre-initialising metric label sets.
func AllReasons() []RejectReason {
	out := make([]RejectReason, numReasons)
	for i := range out {
		out[i] = RejectReason(i)
	}
	return out
}

// Submission is a share as the protocol layer decoded it. Extranonce is the
// miner-chosen part of the extranonce (the session's prefix is prepended by
// the Session); it is only read during Validate.
type Submission struct {
	JobID      uint32
	Extranonce []byte
	NTime      uint32
	Nonce      uint32
	// VersionBits are the rolled version bits; only used when HasVersion.
	VersionBits uint32
	HasVersion  bool
}

// Result is the validator's verdict on one Submission.
type Result struct {
	Reason RejectReason
	// Job is the job the share named (nil when it was not found).
	Job *Job
	// Header is the header the share hashed to and Hash its SHA256d, raw order.
	Header Header
	Hash   [32]byte
	// AssignedDifficulty is the difficulty the share was judged against (the
	// easiest target in force for its job); Reached is what the hash achieved.
	AssignedDifficulty float64
	ReachedDifficulty  float64
	// Block is true when the hash meets the network target (and the block
	// floor, if one is configured): submit Block(...) to the node at once.
	Block bool
	// BlockData is the serialized block when Block is set (the only
	// allocation a share can cost), ready for submitblock; nil when the
	// job's transactions are unknown (Job.TransactionsUnknown).
	BlockData []byte
	// ExtranoncePrefix (the session's) and Extranonce (the miner's) make
	// the share's extranonce area, for an Acceptor that passes the share on
	// (a proxy). They alias the session's and the submission's memory:
	// valid until Accept returns, never to be modified.
	ExtranoncePrefix, Extranonce []byte
}

// Accepted reports whether the share was accepted.
func (r *Result) Accepted() bool { return r.Reason == Accepted }
