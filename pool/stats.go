package pool

import (
	"slices"
	"sync"
	"time"

	"github.com/adit-pool/adit/share"
)

// HashrateWindow estimates a hashrate (the pool's, a worker's) from accepted share
// difficulties over the last ten minutes, in one-minute buckets.
type HashrateWindow struct {
	mu      sync.Mutex
	buckets [10]struct {
		minute int64
		work   float64
		shares int64
	}
}

// Add counts a share of difficulty at now.
func (w *HashrateWindow) Add(now time.Time, difficulty float64) {
	m := now.Unix() / 60
	w.mu.Lock()
	b := &w.buckets[m%int64(len(w.buckets))]
	if b.minute != m {
		b.minute, b.work, b.shares = m, 0, 0
	}
	b.work += difficulty
	b.shares++
	w.mu.Unlock()
}

// Rate returns hashes per second and the accepted shares in the window.
func (w *HashrateWindow) Rate(now time.Time) (hashesPerSecond float64, shares int64) {
	m := now.Unix() / 60
	var work float64
	w.mu.Lock()
	for _, b := range w.buckets {
		if m-b.minute < int64(len(w.buckets)) {
			work += b.work
			shares += b.shares
		}
	}
	w.mu.Unlock()
	// A difficulty-1 share takes 2^32 hashes on average.
	return work * 4294967296 / (float64(len(w.buckets)) * 60), shares
}

// declarers remembers which workers mine jobs they declared (Job
// Declaration): each worker's last declared share, for the API and the
// dashboard. At most maxDeclarers are kept; the oldest go first.
type declarers struct {
	mu   sync.Mutex
	last map[share.Worker]time.Time
}

const maxDeclarers = 4096

func (d *declarers) add(w share.Worker, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last == nil {
		d.last = map[share.Worker]time.Time{}
	}
	if _, ok := d.last[w]; !ok && len(d.last) >= maxDeclarers {
		var oldest share.Worker
		var t time.Time
		for k, v := range d.last {
			if t.IsZero() || v.Before(t) {
				oldest, t = k, v
			}
		}
		delete(d.last, oldest)
	}
	d.last[w] = at
}

// since returns the workers ("address.name") with a declared share at or
// after t, sorted, and forgets the others.
func (d *declarers) since(t time.Time) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []string{}
	for w, at := range d.last {
		if at.Before(t) {
			delete(d.last, w)
			continue
		}
		name := w.Address
		if w.Name != "" {
			name += "." + w.Name
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
