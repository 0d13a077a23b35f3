package share

import (
	"context"
	"time"
)

// Protocol names the wire protocol a share arrived on.
type Protocol uint8

// Protocols. The String forms are the `protocol` metric label and the value
// stored with every share.
const (
	ProtocolV1 Protocol = 1
	ProtocolV2 Protocol = 2
)

func (p Protocol) String() string {
	switch p {
	case ProtocolV1:
		return "v1"
	case ProtocolV2:
		return "v2"
	}
	return "unknown"
}

// Worker identifies who is paid for a share: a payout address and a free-form
// worker name from the `address.worker` username.
type Worker struct {
	Address string
	Name    string
}

// Record is written for every accepted share. It is self-contained: pruning
// jobs or sessions never changes what a record says.
type Record struct {
	// ID is unique per Instance; the share log assigns it.
	ID       uint64
	Time     time.Time
	Instance string
	Worker   Worker
	Protocol Protocol
	JobID    uint32
	Height   int64
	// AssignedDifficulty is the share's PPLNS weight.
	AssignedDifficulty float64
	ReachedDifficulty  float64
	NetworkDifficulty  float64
	Block              bool
	// Declared is true when the share's job was declared by the miner
	// (Job.Declared: a Stratum V2 custom job), not built by the pool.
	Declared bool
	// Hash is the header hash (raw order).
	Hash       [32]byte
	RemoteAddr string
}

// NewRecord fills a Record from an accepted Result.
func NewRecord(now time.Time, w Worker, p Protocol, remote string, r *Result) Record {
	return Record{
		Time:               now,
		Worker:             w,
		Protocol:           p,
		JobID:              r.Job.ID,
		Height:             r.Job.Height,
		AssignedDifficulty: r.AssignedDifficulty,
		ReachedDifficulty:  r.ReachedDifficulty,
		NetworkDifficulty:  r.Job.NetworkTarget.Difficulty(),
		Block:              r.Block,
		Declared:           r.Job.Declared,
		Hash:               r.Hash,
		RemoteAddr:         remote,
	}
}

// Acceptor takes accepted shares from the protocol layers. Accept returns only
// once the record is durable (the miner may then be told "accepted"); when
// res.Block is set it has also started the block submission. An error means
// the share could not be recorded and must not be acknowledged.
type Acceptor interface {
	Accept(ctx context.Context, rec *Record, res *Result) error
}

// Vardiff adjusts one session's (or channel's) difficulty toward a target
// share interval. Implementations are not safe for concurrent use.
type Vardiff interface {
	// Difficulty is the current difficulty.
	Difficulty() float64
	// Suggest applies a miner's suggested difficulty, clamped to the limits,
	// and returns the resulting difficulty.
	Suggest(d float64) float64
	// SetMinimum raises the floor for this session (BIP310 minimum-difficulty).
	SetMinimum(d float64)
	// OnShare records an accepted share at now and reports a new difficulty
	// when a retarget is due.
	OnShare(now time.Time) (next float64, changed bool)
}
