package pool

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/adit-pool/adit/share"
)

// workerBook follows the workers of this daemon in memory: the sessions
// (Stratum V1 mining.authorize) and channels (Stratum V2) each has open,
// by protocol, told by the protocol servers through share.Presence, and its
// accepted shares over the last ten minutes (one-minute buckets) and last
// share, told by the backend. It answers "who is online" exactly and gives
// per-worker hashrate estimates without reading the shares table.
//
// It is sharded by payout address, so one address's workers are in one
// shard and a miner's page reads one shard. A worker is forgotten when it
// has nothing open and no share in workerForget; at most maxWorkersTracked
// workers are kept for their shares (workers with something open are always
// kept, and those are bounded by the servers' connection limits).
type workerBook struct {
	seed   maphash.Seed
	shards [workerShards]workerShard

	// The last counts, reused for countsTTL: the walk takes about 5 ms
	// per 100,000 workers and every dashboard asks every few seconds.
	countsMu                      sync.Mutex
	countsAt                      time.Time
	cachedV1, cachedV2, cachedAll onlineCounts
}

const countsTTL = time.Second

const (
	workerShards      = 16
	workerForget      = 10 * time.Minute
	maxWorkersTracked = 1 << 20
)

type workerShard struct {
	mu    sync.Mutex
	addrs map[string]map[string]*workerEntry // address → worker name → entry
	n     int                                // entries in the shard
}

type workerEntry struct {
	open      [3]int32 // by share.Protocol (1: v1, 2: v2)
	firstSeen time.Time
	lastShare time.Time
	window    rateWindow
}

func newWorkerBook() *workerBook {
	b := &workerBook{seed: maphash.MakeSeed()}
	for i := range b.shards {
		b.shards[i].addrs = map[string]map[string]*workerEntry{}
	}
	return b
}

func (b *workerBook) shard(address string) *workerShard {
	return &b.shards[maphash.String(b.seed, address)%workerShards]
}

// entry returns w's entry, creating it when create is set (and, for an
// entry that only counts shares, when the book has room). Called with the
// shard locked.
func (s *workerShard) entry(w share.Worker, now time.Time, create, always bool) *workerEntry {
	names := s.addrs[w.Address]
	if e := names[w.Name]; e != nil || !create {
		return e
	}
	if !always && s.n >= maxWorkersTracked/workerShards {
		return nil
	}
	if names == nil {
		names = map[string]*workerEntry{}
		s.addrs[w.Address] = names
	}
	e := &workerEntry{firstSeen: now}
	names[w.Name] = e
	s.n++
	return e
}

// online counts an open session or channel of w on protocol p; offline
// undoes it once.
func (b *workerBook) online(w share.Worker, p share.Protocol, now time.Time) (offline func()) {
	if int(p) >= len(workerEntry{}.open) {
		p = 0
	}
	s := b.shard(w.Address)
	s.mu.Lock()
	s.entry(w, now, true, true).open[p]++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if e := s.entry(w, now, false, false); e != nil && e.open[p] > 0 {
				e.open[p]--
			}
			s.mu.Unlock()
		})
	}
}

// share counts an accepted share of w.
func (b *workerBook) share(w share.Worker, at time.Time, difficulty float64) {
	s := b.shard(w.Address)
	s.mu.Lock()
	if e := s.entry(w, at, true, false); e != nil {
		e.window.add(at, difficulty)
		if at.After(e.lastShare) {
			e.lastShare = at
		}
	}
	s.mu.Unlock()
}

// sweep forgets the workers with nothing open and no share since
// now - workerForget.
func (b *workerBook) sweep(now time.Time) {
	cutoff := now.Add(-workerForget)
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		for addr, names := range s.addrs {
			for name, e := range names {
				if e.open == [3]int32{} && e.lastShare.Before(cutoff) {
					delete(names, name)
					s.n--
				}
			}
			if len(names) == 0 {
				delete(s.addrs, addr)
			}
		}
		s.mu.Unlock()
	}
}

// onlineCounts are the miners (distinct payout addresses), workers
// (distinct address.worker) and sessions or channels connected.
type onlineCounts struct {
	Miners   int `json:"miners"`
	Workers  int `json:"workers"`
	Sessions int `json:"sessions"`
}

// cachedCounts returns counts, computed at most once per countsTTL.
func (b *workerBook) cachedCounts(now time.Time) (v1, v2, all onlineCounts) {
	b.countsMu.Lock()
	defer b.countsMu.Unlock()
	if d := now.Sub(b.countsAt); d < 0 || d >= countsTTL {
		b.cachedV1, b.cachedV2, b.cachedAll = b.counts()
		b.countsAt = now
	}
	return b.cachedV1, b.cachedV2, b.cachedAll
}

// counts returns what is connected per protocol (v1, v2) and in all
// (distinct across both: a worker on both protocols counts once).
func (b *workerBook) counts() (v1, v2, all onlineCounts) {
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		for _, names := range s.addrs {
			var on1, on2, onAny bool
			for _, e := range names {
				o1, o2 := e.open[share.ProtocolV1], e.open[share.ProtocolV2]
				if o1 > 0 {
					v1.Workers++
					v1.Sessions += int(o1)
					on1 = true
				}
				if o2 > 0 {
					v2.Workers++
					v2.Sessions += int(o2)
					on2 = true
				}
				if o1 > 0 || o2 > 0 {
					all.Workers++
					all.Sessions += int(o1 + o2)
					onAny = true
				}
			}
			if on1 {
				v1.Miners++
			}
			if on2 {
				v2.Miners++
			}
			if onAny {
				all.Miners++
			}
		}
		s.mu.Unlock()
	}
	return v1, v2, all
}

// workerState is what the book knows of one worker.
type workerState struct {
	Name string
	// Protocols it has open sessions or channels on ("v1", "v2").
	Protocols []string
	Sessions  int
	FirstSeen time.Time // when this daemon first saw it (connected or a share)
	LastShare time.Time // zero: no share since the daemon started
	// Hashrate is H/s over the last ten minutes, or since FirstSeen when
	// that is shorter.
	Hashrate float64
	Shares   int64 // accepted in the last ten minutes
}

// workers returns the address's workers the book knows, sorted by name.
func (b *workerBook) workers(address string, now time.Time) []workerState {
	s := b.shard(address)
	s.mu.Lock()
	out := make([]workerState, 0, len(s.addrs[address]))
	for name, e := range s.addrs[address] {
		ws := workerState{Name: name, FirstSeen: e.firstSeen, LastShare: e.lastShare, Protocols: []string{}}
		for _, p := range []share.Protocol{share.ProtocolV1, share.ProtocolV2} {
			if e.open[p] > 0 {
				ws.Protocols = append(ws.Protocols, p.String())
				ws.Sessions += int(e.open[p])
			}
		}
		ws.Hashrate, ws.Shares = e.window.rate(now, e.firstSeen)
		out = append(out, ws)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b workerState) int { return strings.Compare(a.Name, b.Name) })
	return out
}
