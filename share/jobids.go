package share

import "sync/atomic"

// JobIDs allocates the job ids of one pool process. Template jobs and
// private (declared) jobs draw from the same JobIDs, so an id names at most
// one live job whichever kind it is: ids repeat only after 2^32 allocations.
// It is safe for concurrent use.
type JobIDs struct {
	last atomic.Uint32
}

// NewJobIDs returns an allocator whose first id is start+1 (wrapping). A
// daemon passes a random start, so that ids from before a restart, which
// miners may still submit against, do not name (different) jobs of this run.
func NewJobIDs(start uint32) *JobIDs {
	a := &JobIDs{}
	a.last.Store(start)
	return a
}

// Next returns a new id: the previous one plus one, wrapping past
// 0xffffffff to 0.
func (a *JobIDs) Next() uint32 { return a.last.Add(1) }
