package sharetest

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/adit-pool/adit/share"
)

// Backend implements share.Backend in memory. Set the exported fields
// before the first session starts; they are read without locking.
type Backend struct {
	// V receives every published job.
	V *share.Validator
	// Difficulty is every session's starting difficulty.
	Difficulty float64
	// FixedDifficulty makes sessions ignore suggested and minimum
	// difficulties (a pool that keeps its own).
	FixedDifficulty bool
	// Retarget, when non-nil, is asked after each accepted share of a
	// session (n counts from 1) whether to switch to a new difficulty.
	Retarget func(n int) (float64, bool)
	// Prefix, when non-nil, returns the extranonce of the n-th allocation
	// (n counts from 1); the default is n as 4 big-endian bytes.
	Prefix func(n uint32) []byte

	mu        sync.Mutex
	records   []share.Record
	acceptErr error
	subs      map[int]chan *share.Job
	nextSub   int
	cur       *share.Job
	nextEN    uint32
	allocated int
	released  int
	online    map[string]int // share.Presence: "v1 address.worker" → open
}

// NewBackend returns a Backend publishing to v with every session starting
// at difficulty diff.
func NewBackend(v *share.Validator, diff float64) *Backend {
	return &Backend{V: v, Difficulty: diff, subs: map[int]chan *share.Job{}}
}

// Accept records rec, or returns the error set by FailAccepts.
func (b *Backend) Accept(_ context.Context, rec *share.Record, _ *share.Result) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.acceptErr != nil {
		return b.acceptErr
	}
	b.records = append(b.records, *rec)
	return nil
}

// Authorize splits "address.worker". It refuses addresses starting with
// "bad" and panics for the user "panic" (to test the servers' recovery).
func (b *Backend) Authorize(user, _ string) (share.Worker, error) {
	if user == "panic" {
		panic("sharetest: panic in Authorize")
	}
	addr, name, _ := strings.Cut(user, ".")
	if strings.HasPrefix(addr, "bad") {
		return share.Worker{}, errors.New("unknown payout address")
	}
	return share.Worker{Address: addr, Name: name}, nil
}

// NewVardiff returns a Vardiff at Difficulty.
func (b *Backend) NewVardiff() share.Vardiff {
	return &Vardiff{D: b.Difficulty, Fixed: b.FixedDifficulty, Retarget: b.Retarget}
}

// AllocateExtranonce hands out the next extranonce; its release func
// counts once however often it is called.
func (b *Backend) AllocateExtranonce() ([]byte, func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextEN++
	b.allocated++
	p := binary.BigEndian.AppendUint32(nil, b.nextEN)
	if b.Prefix != nil {
		p = b.Prefix(b.nextEN)
	}
	var once sync.Once
	return p, func() {
		once.Do(func() {
			b.mu.Lock()
			b.released++
			b.mu.Unlock()
		})
	}, nil
}

// SubscribeJobs returns a channel holding the newest published job.
func (b *Backend) SubscribeJobs() (<-chan *share.Job, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan *share.Job, 1)
	if b.cur != nil {
		ch <- b.cur
	}
	id := b.nextSub
	b.nextSub++
	b.subs[id] = ch
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, id)
		b.mu.Unlock()
	}
}

// Publish adds j to the validator and delivers it (newest only) to every
// subscriber, as the pool does. A test that needs the window between the
// two (the validator has the job, the sessions have not been sent it) calls
// V.AddJob and later Deliver itself.
func (b *Backend) Publish(j *share.Job) {
	b.V.AddJob(j)
	b.Deliver(j)
}

// Deliver makes j the current job and hands it (newest only) to every
// subscriber without adding it to the validator.
func (b *Backend) Deliver(j *share.Job) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cur = j
	for _, ch := range b.subs {
		select {
		case <-ch:
		default:
		}
		ch <- j
	}
}

// FailAccepts makes Accept return err (nil: accept again).
func (b *Backend) FailAccepts(err error) {
	b.mu.Lock()
	b.acceptErr = err
	b.mu.Unlock()
}

// Records returns a copy of the accepted-share records so far.
func (b *Backend) Records() []share.Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]share.Record(nil), b.records...)
}

var _ share.Presence = (*Backend)(nil)

// Online implements share.Presence: Online counts "protocol address.name"
// open; offline, however often called, undoes it once.
func (b *Backend) Online(w share.Worker, p share.Protocol) func() {
	key := p.String() + " " + w.Address + "." + w.Name
	b.mu.Lock()
	if b.online == nil {
		b.online = map[string]int{}
	}
	b.online[key]++
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			if b.online[key]--; b.online[key] == 0 {
				delete(b.online, key)
			}
			b.mu.Unlock()
		})
	}
}

// OnlineWorkers returns what Online counts as open now ("v1 address.name"
// → sessions or channels).
func (b *Backend) OnlineWorkers() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int, len(b.online))
	for k, v := range b.online {
		out[k] = v
	}
	return out
}

// Stats counts extranonce allocations, their releases, and the current
// job subscribers.
type Stats struct{ Allocated, Released, Subscribers int }

// Stats returns the current counts.
func (b *Backend) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Allocated: b.allocated, Released: b.released, Subscribers: len(b.subs)}
}

// Vardiff is a simple share.Vardiff: a difficulty that changes only by a
// suggestion, a minimum, or Retarget after the n-th share. Fixed ignores
// suggestions and minimums.
type Vardiff struct {
	D, Min   float64
	Fixed    bool
	Retarget func(n int) (float64, bool)
	n        int
}

// Difficulty returns the current difficulty.
func (v *Vardiff) Difficulty() float64 { return v.D }

// Suggest moves to d (not below Min) unless Fixed.
func (v *Vardiff) Suggest(d float64) float64 {
	if !v.Fixed {
		v.D = max(d, v.Min)
	}
	return v.D
}

// SetMinimum raises the floor (and the difficulty to it) unless Fixed.
func (v *Vardiff) SetMinimum(d float64) {
	if !v.Fixed {
		v.Min = d
		v.D = max(v.D, d)
	}
}

// OnShare counts a share and applies Retarget.
func (v *Vardiff) OnShare(time.Time) (float64, bool) {
	v.n++
	if v.Retarget != nil {
		if d, ok := v.Retarget(v.n); ok {
			v.D = d
			return d, true
		}
	}
	return v.D, false
}
