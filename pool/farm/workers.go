package farm

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/adit-pool/adit/pool"
	"github.com/adit-pool/adit/share"
)

// workers are the farm's per-worker statistics: every accepted downstream
// share counts, forwarded or not. At most maxWorkers are kept; the one
// silent longest goes first.
type workers struct {
	mu sync.Mutex
	by map[string]*workerStats
}

type workerStats struct {
	shares   uint64
	last     time.Time
	hashrate pool.HashrateWindow
}

const maxWorkers = 100_000

func newWorkers() *workers { return &workers{by: map[string]*workerStats{}} }

func (w *workers) add(rec *share.Record) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.by[rec.Worker.Name]
	if s == nil {
		if len(w.by) >= maxWorkers {
			w.evict()
		}
		s = &workerStats{}
		w.by[rec.Worker.Name] = s
	}
	s.shares++
	s.last = rec.Time
	s.hashrate.Add(rec.Time, rec.AssignedDifficulty)
}

func (w *workers) evict() {
	var oldest string
	var at time.Time
	for name, s := range w.by {
		if at.IsZero() || s.last.Before(at) {
			oldest, at = name, s.last
		}
	}
	delete(w.by, oldest)
}

// WorkerStatus is one worker on the status page.
type WorkerStatus struct {
	Name      string    `json:"name"`
	Shares    uint64    `json:"shares"`
	Hashrate  float64   `json:"hashrate_hs"` // over the last 10 minutes
	LastShare time.Time `json:"last_share"`
}

// list returns every worker, by name.
func (w *workers) list(now time.Time) []WorkerStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]WorkerStatus, 0, len(w.by))
	for name, s := range w.by {
		hr, _ := s.hashrate.Rate(now)
		out = append(out, WorkerStatus{Name: name, Shares: s.shares, Hashrate: hr, LastShare: s.last})
	}
	slices.SortFunc(out, func(a, b WorkerStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}
