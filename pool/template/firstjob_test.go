package template_test

import (
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/share"
)

// TestSourceJobIDs: jobs take their ids from the given allocator, wrapping
// past the top of uint32, so a restarted daemon given a fresh random start
// does not reuse the job ids of its previous run, and ids taken by others
// (private jobs) are skipped.
func TestSourceJobIDs(t *testing.T) {
	checkLeaks(t)
	f := newFakeNode(t, 10)
	ids := share.NewJobIDs(0xfffffffe)
	src, _, stop := startSource(t, template.SourceConfig{Refresh: 20 * time.Millisecond, Poll: time.Hour,
		IDs: ids}, f.client(t, "a"))
	defer stop()
	for _, want := range []uint32{0xffffffff, 0, 1} {
		if j := nextJob(t, src, 5*time.Second); j.ID != want {
			t.Fatalf("job id %#x, want %#x", j.ID, want)
		}
	}
	taken := ids.Next() // as a custom job would, while the source runs
	for after := false; !after; {
		j := nextJob(t, src, 5*time.Second)
		if j.ID == taken {
			t.Fatalf("job id %#x was taken by another job", taken)
		}
		after = j.ID == taken+1
	}
}
