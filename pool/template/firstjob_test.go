package template_test

import (
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/template"
)

// TestSourceFirstJobID: jobs are numbered from FirstJobID+1, wrapping past
// the top of uint32, so a restarted daemon given a fresh random value does
// not reuse the job ids of its previous run.
func TestSourceFirstJobID(t *testing.T) {
	checkLeaks(t)
	f := newFakeNode(t, 10)
	src, _, stop := startSource(t, template.SourceConfig{Refresh: 20 * time.Millisecond, Poll: time.Hour,
		FirstJobID: 0xfffffffe}, f.client(t, "a"))
	defer stop()
	for _, want := range []uint32{0xffffffff, 0, 1} {
		if j := nextJob(t, src, 5*time.Second); j.ID != want {
			t.Fatalf("job id %#x, want %#x", j.ID, want)
		}
	}
}
