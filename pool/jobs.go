package pool

import (
	"sync"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/prometheus/client_golang/prometheus"
)

// JobHub fans new jobs out to every subscribed session (the pool's, and a
// farm proxy's downstream miners). Each subscriber has a
// one-slot channel holding only the newest job, so a slow session skips jobs
// and never delays the others.
type JobHub struct {
	broadcast prometheus.Observer

	mu      sync.Mutex
	current *share.Job
	subs    map[chan *share.Job]struct{}
}

// NewJobHub returns a hub that observes each broadcast's duration.
func NewJobHub(broadcast prometheus.Observer) *JobHub {
	return &JobHub{broadcast: broadcast, subs: make(map[chan *share.Job]struct{})}
}

// Subscribe implements share.Backend.SubscribeJobs.
func (h *JobHub) Subscribe() (<-chan *share.Job, func()) {
	ch := make(chan *share.Job, 1)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	if h.current != nil {
		ch <- h.current
	}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, ch)
			h.mu.Unlock()
		})
	}
}

// Publish makes j current and offers it to every subscriber.
func (h *JobHub) Publish(j *share.Job) {
	start := time.Now()
	h.mu.Lock()
	h.current = j
	for ch := range h.subs {
		select {
		case <-ch: // drop the job the session has not taken yet
		default:
		}
		ch <- j // cannot block: only publish sends, under h.mu
	}
	n := len(h.subs)
	h.mu.Unlock()
	if n > 0 {
		h.broadcast.Observe(time.Since(start).Seconds())
	}
}

// Latest returns the current job, or nil.
func (h *JobHub) Latest() *share.Job {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.current
}
