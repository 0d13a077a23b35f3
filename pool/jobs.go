package pool

import (
	"sync"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/prometheus/client_golang/prometheus"
)

// jobHub fans new jobs out to every subscribed session. Each subscriber has a
// one-slot channel holding only the newest job, so a slow session skips jobs
// and never delays the others.
type jobHub struct {
	broadcast prometheus.Observer

	mu      sync.Mutex
	current *share.Job
	subs    map[chan *share.Job]struct{}
}

func newJobHub(broadcast prometheus.Observer) *jobHub {
	return &jobHub{broadcast: broadcast, subs: make(map[chan *share.Job]struct{})}
}

// subscribe implements share.Backend.SubscribeJobs.
func (h *jobHub) subscribe() (<-chan *share.Job, func()) {
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

// publish makes j current and offers it to every subscriber.
func (h *jobHub) publish(j *share.Job) {
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

// latest returns the current job, or nil.
func (h *jobHub) latest() *share.Job {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.current
}
