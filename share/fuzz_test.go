package share

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// FuzzValidateDifferential checks the optimized validator (midstates,
// merkle-root cache, fixed 256-bit compares, either SHA-256 path) against
// refValidate (crypto/sha256 and math/big, every byte built by hand) on
// random jobs, extranonces, nonces, ntimes, version bits and targets.
func FuzzValidateDifferential(f *testing.F) {
	for i := uint64(0); i < 16; i++ {
		f.Add(i, uint32(i*7919), uint32(i<<13), []byte{byte(i), 1, 2, 3}, uint16(i))
	}
	f.Fuzz(func(t *testing.T, seed uint64, nonce, vbits uint32, en []byte, knobs uint16) {
		r := rand.New(rand.NewPCG(seed, uint64(knobs)))
		saved := useSHANI
		defer func() { useSHANI = saved }()
		useSHANI = haveSHANI && knobs&1 == 1

		enSize := 1 + r.IntN(32)
		pfxLen := r.IntN(enSize + 1)
		if knobs&2 != 0 { // let the fuzzer's extranonce decide the length
			pfxLen = max(enSize-len(en), 0)
		}
		prefix := make([]byte, pfxLen)
		for i := range prefix {
			prefix[i] = byte(r.Uint32())
		}
		randTarget := func() Target {
			switch r.IntN(4) {
			case 0:
				return MaxTarget
			case 1:
				return Target{}
			default:
				var t Target
				for i := range t {
					t[i] = r.Uint64()
				}
				t[3] >>= r.UintN(64)
				return t
			}
		}
		now := time.Unix(1_700_000_000+int64(r.IntN(1000)), 0)
		job := newTestJob(r, jobSpec{id: uint32(r.IntN(5)), prev: randHash(r), levels: r.IntN(14), enSize: enSize,
			tagLen: r.IntN(90), outputs: 1 + r.IntN(6), minTime: uint32(now.Unix()) - uint32(r.IntN(3000)),
			netTgt: randTarget(), witness: r.IntN(2) == 0, version: r.Uint32()})
		var floor *Target
		if r.IntN(3) == 0 {
			fl := randTarget()
			floor = &fl
		}
		v := NewValidator(ValidatorConfig{BlockFloor: floor, Now: func() time.Time { return now }})
		v.AddJob(job)
		target := randTarget()
		s := v.NewSession(prefix, target)
		masks := []uint32{0, 0x1fffe000, 0x1fffffe0, 0xffffffff, r.Uint32()}
		s.SetVersionMask(masks[r.IntN(len(masks))])
		s.JobSent(job)

		sub := Submission{JobID: job.ID, Extranonce: en, Nonce: nonce, VersionBits: vbits, HasVersion: knobs&4 != 0}
		switch r.IntN(4) {
		case 0:
			sub.NTime = job.MinTime + uint32(r.IntN(10000))
		case 1:
			sub.NTime = uint32(now.Unix()) + MaxFutureNTime - 3 + uint32(r.IntN(6))
		default:
			sub.NTime = uint32(now.Unix()) - uint32(r.IntN(100))
		}
		if sub.HasVersion && r.IntN(2) == 0 {
			sub.VersionBits &= s.VersionMask()
		}
		in := refInput{job: job, prefix: prefix, mask: s.VersionMask(), target: target, floor: floor, now: now, tipIsJob: true}
		check := func(sub Submission, dupExpected bool) {
			t.Helper()
			in.sub = sub
			want := refValidate(in)
			var res Result
			s.Validate(&sub, &res)
			wantReason := want.reason
			if dupExpected && wantReason == Accepted {
				wantReason = RejectDuplicate
			}
			if res.Reason != wantReason {
				t.Fatalf("reason %v, reference %v", res.Reason, wantReason)
			}
			if want.reason == Accepted || want.reason == RejectLowDifficulty {
				if res.Header != want.header || res.Hash != want.hash {
					t.Fatalf("header/hash differ from reference\n%x\n%x", res.Header, want.header)
				}
			}
			if res.Reason == Accepted {
				if res.Block != want.block || (res.BlockData != nil) != want.block {
					t.Fatalf("block %v, reference %v", res.Block, want.block)
				}
			}
		}
		check(sub, false)
		check(sub, true) // resubmission: duplicate when the first was accepted
		// another nonce/version on the same (cached) extranonce
		sub2 := sub
		sub2.Nonce++
		sub2.VersionBits ^= s.VersionMask() & 0x2000
		check(sub2, false)
		// a different extranonce, then back to the first (cache hit, new version)
		if len(en) > 0 {
			sub3 := sub
			sub3.Extranonce = append([]byte(nil), en...)
			sub3.Extranonce[0] ^= 0xff
			check(sub3, false)
			sub4 := sub
			sub4.Nonce += 2
			sub4.VersionBits ^= s.VersionMask() & 0x4000
			check(sub4, false)
		}
	})
}

// Randomised run of the same differential check without the fuzzing engine,
// so plain `go test` covers many cases on both implementations.
func TestValidateDifferentialRandom(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(99, 100))
		for i := 0; i < n; i++ {
			target := MaxTarget
			if i%3 == 0 {
				target = Target{0, 0, 0, r.Uint64() >> r.UintN(64)}
			}
			f := newFixture(t, ValidatorConfig{})
			f.job = newTestJob(r, jobSpec{id: 7, prev: f.job.PrevHash, levels: r.IntN(14), enSize: 6 + r.IntN(27),
				tagLen: r.IntN(90), outputs: 1 + r.IntN(5), minTime: f.job.MinTime, netTgt: Target{0, 0, 0, r.Uint64() >> 1}})
			f.v.AddJob(f.job)
			f.s.SetVersionMask(0x1fffe000)
			f.s.SetTarget(target)
			f.s.JobSent(f.job)
			for k := 0; k < 4; k++ {
				en := make([]byte, f.job.ExtranonceSize-4)
				binary.LittleEndian.PutUint16(en, uint16(k%2))
				sub := Submission{JobID: 7, Extranonce: en, NTime: uint32(f.now.Unix()), Nonce: r.Uint32(),
					HasVersion: true, VersionBits: r.Uint32() & 0x1fffe000}
				if k == 3 {
					sub.VersionBits = 0 // back to a version seen before
				}
				want := f.ref(sub, target)
				var res Result
				f.s.Validate(&sub, &res)
				if res.Reason != want.reason || res.Hash != want.hash || res.Header != want.header ||
					(res.Reason == Accepted && res.Block != want.block) {
					t.Fatalf("case %d/%d: got %v block=%v, reference %v block=%v", i, k, res.Reason, res.Block, want.reason, want.block)
				}
			}
		}
	})
}

func TestDupFilterBoundedAndConcurrent(t *testing.T) {
	var d dupFilter
	d.init(dupShards*100, 0)
	r := rand.New(rand.NewPCG(1, 1))
	var keys [][32]byte
	full := 0
	for i := 0; i < dupShards*200; i++ {
		h := randHash(r)
		switch d.insert(&h) {
		case dupNew:
			keys = append(keys, h)
		case dupSeen:
			t.Fatal("fresh random key reported seen")
		case dupFull:
			full++
		}
	}
	if d.len() != len(keys) || d.len() > dupShards*100 || full == 0 {
		t.Fatalf("len %d keys %d full %d", d.len(), len(keys), full)
	}
	for i := range keys {
		if d.insert(&keys[i]) != dupSeen {
			t.Fatal("remembered key forgotten")
		}
	}
	for i := range d.shards {
		if sl := len(d.shards[i].slots); sl > 256 {
			t.Fatalf("shard %d grew to %d slots for 100 keys", i, sl)
		}
	}

	// concurrent inserts of overlapping keys: each key is new exactly once
	var c dupFilter
	c.init(1<<20, 0)
	hashes := make([][32]byte, 20000)
	for i := range hashes {
		hashes[i] = randHash(r)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	news := 0
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := range hashes {
				if c.insert(&hashes[i]) == dupNew {
					n++
				}
			}
			mu.Lock()
			news += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if news != len(hashes) {
		t.Fatalf("%d new inserts for %d keys", news, len(hashes))
	}
}

func TestValidatorFullJobIsStale(t *testing.T) {
	f := newFixture(t, ValidatorConfig{MaxSharesPerJob: dupShards})
	stale := 0
	for n := uint32(0); n < 500; n++ {
		var res Result
		sub := f.sub(n)
		f.s.Validate(&sub, &res)
		if res.Reason == RejectStale {
			stale++
		} else if res.Reason != Accepted {
			t.Fatal(res.Reason)
		}
	}
	if stale == 0 {
		t.Fatal("a full duplicate filter must refuse further shares")
	}
}
