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
	mu sync.Mutex
	w  rateWindow
}

// Add counts a share of difficulty at now.
func (w *HashrateWindow) Add(now time.Time, difficulty float64) {
	w.mu.Lock()
	w.w.add(now, difficulty)
	w.mu.Unlock()
}

// Rate returns hashes per second and the accepted shares in the window.
func (w *HashrateWindow) Rate(now time.Time) (hashesPerSecond float64, shares int64) {
	return w.RateSince(now, time.Time{})
}

// RateSince is Rate averaged over the time since since (the counting
// began) when that is shorter than the window.
func (w *HashrateWindow) RateSince(now, since time.Time) (hashesPerSecond float64, shares int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.rate(now, since)
}

// rateWindow is the buckets of a HashrateWindow, without a lock.
type rateWindow struct {
	buckets [10]minuteBucket
}

func (w *rateWindow) add(now time.Time, difficulty float64) {
	m := now.Unix() / 60
	b := &w.buckets[m%int64(len(w.buckets))]
	if b.minute != m {
		*b = minuteBucket{minute: m}
	}
	b.work += difficulty
	b.shares++
}

// rate is the hashrate over the window's ten minutes, or over the time
// since since when that is shorter (a worker that connected a minute ago
// is not averaged over ten), but at least minRateSpan.
func (w *rateWindow) rate(now, since time.Time) (hashesPerSecond float64, shares int64) {
	m := now.Unix() / 60
	var work float64
	for _, b := range w.buckets {
		if m-b.minute < int64(len(w.buckets)) {
			work += b.work
			shares += b.shares
		}
	}
	span := time.Duration(len(w.buckets)) * time.Minute
	if d := now.Sub(since); d < span {
		span = max(d, minRateSpan)
	}
	// A difficulty-1 share takes 2^32 hashes on average.
	return work * 4294967296 / span.Seconds(), shares
}

// minRateSpan keeps the first shares of a new worker (or daemon) from
// reading as a burst.
const minRateSpan = 10 * time.Second

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

// HashrateHistory keeps accepted share difficulty per minute for the last
// 24 hours (1440 one-minute buckets, about 35 KiB): the pool hashrate
// history of /api/v1/pool/hashrate. It counts this daemon's shares since it
// started; it is not read back from the database.
type HashrateHistory struct {
	mu      sync.Mutex
	start   int64 // the minute of the first Add or of Started
	buckets [historyMinutes]minuteBucket
}

const historyMinutes = 24 * 60

type minuteBucket struct {
	minute int64
	work   float64
	shares int64
}

// Started marks when the history begins (the daemon's start): buckets
// starting before it are partial and left out of every series.
func (h *HashrateHistory) Started(now time.Time) {
	h.mu.Lock()
	h.start = (now.Unix() + 59) / 60 // the first whole minute
	h.mu.Unlock()
}

// Since is when the history begins (zero before Started or the first Add).
func (h *HashrateHistory) Since() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.start == 0 {
		return time.Time{}
	}
	return time.Unix(h.start*60, 0).UTC()
}

// Add counts a share of difficulty at now.
func (h *HashrateHistory) Add(now time.Time, difficulty float64) {
	m := now.Unix() / 60
	h.mu.Lock()
	if h.start == 0 {
		h.start = m
	}
	b := &h.buckets[m%historyMinutes]
	if b.minute != m {
		*b = minuteBucket{minute: m}
	}
	b.work += difficulty
	b.shares++
	h.mu.Unlock()
}

// HashratePoint is one bucket of a hashrate series.
type HashratePoint struct {
	// Start is the bucket's first second.
	Start time.Time
	// Hashrate is hashes per second over the bucket.
	Hashrate float64
	// Shares are the accepted shares in the bucket.
	Shares int64
}

// Series returns the n complete buckets of width minutes (1 to 1440,
// dividing 1440) that end at the last complete minute before now, oldest
// first, leaving out buckets that start before the history does.
func (h *HashrateHistory) Series(now time.Time, width, n int) []HashratePoint {
	if width < 1 || n < 1 || width*n > historyMinutes {
		return nil
	}
	cur := now.Unix() / 60
	// Buckets are aligned to multiples of width minutes (UTC), so a series
	// reads the same whenever it is asked within a bucket.
	end := cur - cur%int64(width) // first minute of the current, partial bucket
	out := make([]HashratePoint, 0, n)
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := n; i >= 1; i-- {
		first := end - int64(i*width)
		if h.start == 0 || first < h.start {
			continue
		}
		var work float64
		var shares int64
		for m := first; m < first+int64(width); m++ {
			if b := &h.buckets[m%historyMinutes]; b.minute == m {
				work += b.work
				shares += b.shares
			}
		}
		out = append(out, HashratePoint{
			Start:    time.Unix(first*60, 0).UTC(),
			Hashrate: work * 4294967296 / float64(width*60),
			Shares:   shares,
		})
	}
	return out
}
