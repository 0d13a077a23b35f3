package client

import (
	"testing"

	"github.com/adit-pool/adit/sv2/codec"
)

// TestGroupMemberJobsBounded: a member of a group channel that receives
// many jobs under one prev hash keeps at most maxJobs of them (before, each
// activation added the group's job to the member for ever).
func TestGroupMemberJobsBounded(t *testing.T) {
	c := &Client{channels: map[uint32]*chanState{}, pending: map[uint32]chan openReply{},
		work: make(chan Work, 1), done: make(chan struct{})}
	close(c.done) // emitWork drops work instead of blocking
	c.opened(0, &chanState{Channel: Channel{ID: 2, GroupID: 1, Extended: true, ExtranonceSize: 8}})
	c.onPrevHash(&codec.SetNewPrevHash{ChannelID: 1, JobID: 0})
	ntime := uint32(1)
	for id := uint32(1); id <= 10*maxJobs; id++ {
		c.onJob(1, id, &codec.NewExtendedMiningJob{ChannelID: 1, JobID: id}, &ntime)
	}
	for _, id := range []uint32{1, 2} {
		if n := len(c.channels[id].jobs); n == 0 || n > maxJobs {
			t.Fatalf("channel %d keeps %d jobs, want 1..%d", id, n, maxJobs)
		}
	}
	if c.channels[2].active != 10*maxJobs {
		t.Fatalf("member follows job %d", c.channels[2].active)
	}
}
