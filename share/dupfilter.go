package share

import (
	"encoding/binary"
	"sync"
)

// DefaultMaxSharesPerJob is the default cap of ValidatorConfig.MaxSharesPerJob.
const DefaultMaxSharesPerJob = 1 << 20

const (
	dupShards    = 32 // power of two
	dupMinSlots  = 64 // per shard, allocated on the shard's first insert
	dupShardBits = 5
)

// dupFilter remembers the header hashes accepted for one job, as 64-bit keys
// (the first 8 bytes of the hash, uniformly random for any hash: a false
// duplicate needs a 64-bit collision among one job's shares).
//
// Each shard is an open-addressing table (linear probing, load ≤ 3/4) under
// its own mutex, so an insert is O(1) expected and sessions rarely meet on a
// lock. Memory is bounded: a shard grows by doubling up to max/dupShards keys
// (8 B × 2 slots per key at worst); when it is full, insert reports dupFull
// and the validator treats the job as stale, never forgets an accepted share
// (which would let a miner replay it).
type dupFilter struct {
	shards  [dupShards]dupShard
	maxKeys int // per shard
}

type dupShard struct {
	mu    sync.Mutex
	n     int
	slots []uint64 // 0 = empty; key 0 is stored as 1
	_     [24]byte // keep shards on separate cache lines (8+8+24+24 = 64)
}

type dupVerdict uint8

const (
	dupNew dupVerdict = iota
	dupSeen
	dupFull
)

// init sets the cap and presizes every shard for about expect keys (the
// previous job's count), so a busy pool does not rehash on the hot path.
func (d *dupFilter) init(maxShares, expect int) {
	d.maxKeys = max(maxShares/dupShards, 1)
	per := min(expect, maxShares) / dupShards
	if per <= dupMinSlots*3/8 {
		return
	}
	slots := dupMinSlots
	for 3*slots < 4*per+4 { // keep the load below 3/4 with some headroom
		slots *= 2
	}
	for i := range d.shards {
		d.shards[i].slots = make([]uint64, slots)
	}
}

func dupKey(hash *[32]byte) uint64 {
	k := binary.LittleEndian.Uint64(hash[:8])
	if k == 0 {
		k = 1
	}
	return k
}

// insert records the hash and reports whether it was new.
func (d *dupFilter) insert(hash *[32]byte) dupVerdict {
	k := dupKey(hash)
	s := &d.shards[k&(dupShards-1)]
	s.mu.Lock()
	v := s.insertLocked(k, d.maxKeys)
	s.mu.Unlock()
	return v
}

func (s *dupShard) insertLocked(k uint64, maxKeys int) dupVerdict {
	if s.slots == nil {
		s.slots = make([]uint64, dupMinSlots)
	}
	mask := uint64(len(s.slots) - 1)
	for i := (k >> dupShardBits) & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case k:
			return dupSeen
		case 0:
			if s.n >= maxKeys {
				return dupFull
			}
			s.slots[i] = k
			s.n++
			if 4*s.n > 3*len(s.slots) {
				s.grow()
			}
			return dupNew
		}
	}
}

func (s *dupShard) grow() {
	old := s.slots
	s.slots = make([]uint64, 2*len(old))
	mask := uint64(len(s.slots) - 1)
	for _, k := range old {
		if k == 0 {
			continue
		}
		i := (k >> dupShardBits) & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = k
	}
}

// len returns the number of remembered keys (tests).
func (d *dupFilter) len() int {
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}
