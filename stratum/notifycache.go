package stratum

import (
	"sync"

	"github.com/adit-pool/adit/share"
)

// notifyCacheSize bounds how many jobs keep their encoded notify lines.
const notifyCacheSize = 64

// notifyCache holds the encoded mining.notify lines of recent jobs, shared by
// every session: the bytes differ between sessions only by the clean flag.
// Cached lines are immutable; writers may hold them after eviction.
type notifyCache struct {
	mu    sync.RWMutex
	lines map[*share.Job]*[2][]byte // [0] not clean, [1] clean
	order [notifyCacheSize]*share.Job
	next  int
}

// line returns the notify line for j with the given clean flag.
func (c *notifyCache) line(j *share.Job, clean bool) []byte {
	idx := 0
	if clean {
		idx = 1
	}
	c.mu.RLock()
	e := c.lines[j]
	c.mu.RUnlock()
	if e != nil {
		return e[idx]
	}
	n := NotifyFromJob(j, false)
	var built [2][]byte
	built[0] = AppendNotify(nil, &n)
	n.Clean = true
	built[1] = AppendNotify(nil, &n)

	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.lines[j]; e != nil { // another session won the race
		return e[idx]
	}
	if c.lines == nil {
		c.lines = make(map[*share.Job]*[2][]byte, notifyCacheSize)
	}
	if old := c.order[c.next]; old != nil {
		delete(c.lines, old)
	}
	c.order[c.next] = j
	c.next = (c.next + 1) % notifyCacheSize
	c.lines[j] = &built
	return built[idx]
}
