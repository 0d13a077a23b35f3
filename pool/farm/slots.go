package farm

import (
	"errors"
	"sync"
)

// slots hands out the downstream miners' extranonce prefixes: size-byte
// big-endian numbers, freed ones reused first.
type slots struct {
	size int

	mu   sync.Mutex
	next uint64 // never handed out yet from here on
	free []uint64
}

func newSlots(size int) *slots { return &slots{size: size} }

// errNoSlot is take's error when every slot is in use.
var errNoSlot = errors.New("farm: every downstream extranonce slot is in use")

// take reserves a slot; release frees it (once; later calls do nothing).
func (s *slots) take() ([]byte, func(), error) {
	s.mu.Lock()
	var v uint64
	switch {
	case len(s.free) > 0:
		v = s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
	case s.next < 1<<(8*s.size):
		v = s.next
		s.next++
	default:
		s.mu.Unlock()
		return nil, nil, errNoSlot
	}
	s.mu.Unlock()
	b := make([]byte, s.size)
	for i := s.size - 1; i >= 0; i-- {
		b[i] = byte(v >> (8 * (s.size - 1 - i)))
	}
	var once sync.Once
	return b, func() {
		once.Do(func() {
			s.mu.Lock()
			s.free = append(s.free, v)
			s.mu.Unlock()
		})
	}, nil
}
