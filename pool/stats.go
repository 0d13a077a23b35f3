package pool

import (
	"sync"
	"time"
)

// hashrateWindow estimates the pool's hashrate from accepted share
// difficulties over the last ten minutes, in one-minute buckets.
type hashrateWindow struct {
	mu      sync.Mutex
	buckets [10]struct {
		minute int64
		work   float64
		shares int64
	}
}

func (w *hashrateWindow) add(now time.Time, difficulty float64) {
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

// rate returns hashes per second and the accepted shares in the window.
func (w *hashrateWindow) rate(now time.Time) (hashesPerSecond float64, shares int64) {
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
