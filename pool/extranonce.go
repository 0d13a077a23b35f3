package pool

import (
	"encoding/binary"
	"errors"
	"sync"
)

// ErrExtranonceExhausted means every extranonce prefix is in use.
var ErrExtranonceExhausted = errors.New("pool: extranonce prefix space exhausted")

// extranonceAllocator hands out unique 4-byte extranonce prefixes: one byte
// naming the daemon instance (so several daemons can share one database and
// never produce the same coinbase), then a 24-bit session counter. Stratum V1
// extranonce1 and Stratum V2 extranonce_prefix come from the same space.
type extranonceAllocator struct {
	instance byte
	space    uint32 // counter values available: 1<<24 (smaller in tests)

	mu    sync.Mutex
	next  uint32
	inUse map[uint32]struct{}
}

// PrefixSize is the length of every extranonce prefix the pool allocates.
const PrefixSize = 4

const counterSpace = 1 << 24

func newExtranonceAllocator(instance byte) *extranonceAllocator {
	return &extranonceAllocator{instance: instance, space: counterSpace, inUse: make(map[uint32]struct{})}
}

func (a *extranonceAllocator) allocate() ([]byte, func(), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.inUse) >= int(a.space) {
		return nil, nil, ErrExtranonceExhausted
	}
	for {
		c := a.next
		a.next = (a.next + 1) % a.space
		if _, busy := a.inUse[c]; busy {
			continue
		}
		a.inUse[c] = struct{}{}
		prefix := make([]byte, PrefixSize)
		binary.BigEndian.PutUint32(prefix, uint32(a.instance)<<24|c)
		var once sync.Once
		return prefix, func() {
			once.Do(func() {
				a.mu.Lock()
				delete(a.inUse, c)
				a.mu.Unlock()
			})
		}, nil
	}
}
