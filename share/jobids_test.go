package share

import (
	"sync"
	"testing"
)

// TestJobIDsUnique: concurrent callers (the template source and custom-job
// paths) never get the same id, and ids wrap past the top of uint32.
func TestJobIDsUnique(t *testing.T) {
	ids := NewJobIDs(0xffffffff - 500)
	const workers, each = 4, 1000
	got := make([][]uint32, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				got[w] = append(got[w], ids.Next())
			}
		})
	}
	wg.Wait()
	seen := make(map[uint32]bool)
	for _, g := range got {
		for i, id := range g {
			if seen[id] {
				t.Fatalf("id %#x handed out twice", id)
			}
			if i > 0 && id == g[i-1] {
				t.Fatal("not increasing")
			}
			seen[id] = true
		}
	}
	if len(seen) != workers*each || !seen[0xffffffff] || !seen[0] || !seen[0xffffffff-500+1] || seen[0xffffffff-500] {
		t.Fatalf("%d ids; wrap/first id wrong", len(seen))
	}
}
