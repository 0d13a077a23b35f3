package share

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

// streamBuf is streamed through the compression function 64 bytes at a time.
var streamBuf = make([]byte, 64*1024)

func benchBlock(b *testing.B) {
	b.SetBytes(64)
	s := sha256IV
	n := len(streamBuf) / 64
	b.ResetTimer()
	for i := 0; i < b.N; {
		k := min(n, b.N-i)
		sha256Block(&s, streamBuf[:64*k])
		i += k
	}
	sinkState = s
}

var sinkState [8]uint32

// BenchmarkSHA256Block is the floor: one 64-byte compression with the
// implementation the validator uses (SHA-NI when the CPU has it), measured by
// streaming a 64 KiB buffer through it. ns/op is per 64-byte block.
func BenchmarkSHA256Block(b *testing.B) { benchBlock(b) }

// BenchmarkSHA256BlockGeneric is the same with the pure-Go fallback.
func BenchmarkSHA256BlockGeneric(b *testing.B) {
	saved := useSHANI
	useSHANI = false
	defer func() { useSHANI = saved }()
	benchBlock(b)
}

// BenchmarkSHA256BlockStdlib streams the buffer through crypto/sha256 (which
// also uses SHA-NI on amd64) for comparison; ns/op is per 64-byte block.
func BenchmarkSHA256BlockStdlib(b *testing.B) {
	b.SetBytes(64)
	h := sha256.New()
	n := len(streamBuf) / 64
	b.ResetTimer()
	for i := 0; i < b.N; {
		k := min(n, b.N-i)
		h.Write(streamBuf[:64*k])
		i += k
	}
}

// BenchmarkStdlibSHA256dHeader is a whole-header SHA256d via crypto/sha256:
// what the validator would cost without midstates (3 compressions + overhead).
func BenchmarkStdlibSHA256dHeader(b *testing.B) {
	var hdr [80]byte
	for i := 0; i < b.N; i++ {
		hdr[76] = byte(i)
		first := sha256.Sum256(hdr[:])
		sinkHash = sha256.Sum256(first[:])
	}
}

// BenchmarkHashHeader is the validator's header hash from a midstate
// (2 compressions) plus the first block (1 compression).
func BenchmarkHashHeader(b *testing.B) {
	var hdr [80]byte
	var tail headerTail
	tail.init()
	for i := 0; i < b.N; i++ {
		hdr[0] = byte(i)
		mid := sha256IV
		sha256Block(&mid, hdr[:64])
		tail[12] = byte(i)
		hashHeader(&sinkHash, &mid, &tail)
	}
}

var sinkHash [32]byte

// benchSetup is the benchmark job: a 12-level merkle branch and a coinbase
// of about 250 bytes (BIP34 height, a 40-byte pool tag, 4+4 bytes of
// extranonce, three P2WPKH payouts and a witness commitment), a session with
// the default BIP310 mask and an accept-everything share target.
type benchSetup struct {
	v                *Validator
	s                *Session
	job              *Job
	r                *rand.Rand
	prev             [32]byte
	cbLen, blocksNew int
	private          bool // jobs are the session's private jobs
}

func newBenchSetup(b *testing.B, maxShares int) *benchSetup {
	return newBenchSetupFor(b, maxShares, false)
}

func newBenchSetupFor(b *testing.B, maxShares int, private bool) *benchSetup {
	bs := &benchSetup{r: rand.New(rand.NewPCG(42, 42)), private: private}
	now := time.Unix(1_700_000_000, 0)
	bs.v = NewValidator(ValidatorConfig{Now: func() time.Time { return now }, MaxSharesPerJob: maxShares})
	bs.prev = randHash(bs.r)
	bs.s = bs.v.NewSession([]byte{1, 2, 3, 4}, MaxTarget)
	bs.s.SetVersionMask(0x1fffe000)
	bs.nextJob(1)
	bs.cbLen = len(bs.job.CoinbasePrefix) + bs.job.ExtranonceSize + len(bs.job.CoinbaseSuffix)
	lj := bs.s.find(bs.v.snap.Load(), bs.job.ID)
	// compressions for a new extranonce: coinbase blocks after the per-job
	// midstate + its second hash, 3 per branch level, 3 for the header.
	bs.blocksNew = len(lj.cb.tail)/64 + 1 + 3*len(bs.job.MerkleBranch) + 3
	return bs
}

func (bs *benchSetup) nextJob(id uint32) {
	bs.job = newTestJob(bs.r, jobSpec{id: id, prev: bs.prev, levels: 12, enSize: 8, tagLen: 40, outputs: 3,
		minTime: 1_700_000_000 - 600, netTgt: Target{}, witness: true})
	if bs.private {
		bs.s.AddPrivateJob(bs.job)
		return
	}
	bs.v.AddJob(bs.job)
	bs.s.JobSent(bs.job)
}

// sharesPerJob is how many accepted shares a benchmark job takes before the
// next job replaces it: its duplicate filter then holds 8 Ki hashes (~128 KiB,
// L2-resident), a pool doing ~270 shares/s (1500–3000 miners) with 30 s jobs.
// BenchmarkValidateShareBigPool shows the cost at 128 Ki shares per job, where
// the filter (2 MiB) no longer fits in L2 and every insert is a cache miss.
var sharesPerJob = 1 << 13

// BenchmarkValidateShare: the common case, a share on a cached extranonce2.
// Every share rolls the version bits (as ASICs with BIP310 do), so the header
// costs the full 3 compressions; nonce and version differ on every share, so
// every share is accepted and inserted into the duplicate filter.
func BenchmarkValidateShare(b *testing.B) { benchValidateShare(b, false) }

// BenchmarkValidateSharePrivate is BenchmarkValidateShare on the session's
// private jobs (AddPrivateJob, as for a Stratum V2 custom job).
func BenchmarkValidateSharePrivate(b *testing.B) { benchValidateShare(b, true) }

func benchValidateShare(b *testing.B, private bool) {
	bs := newBenchSetupFor(b, 0, private)
	en := []byte{9, 9, 9, 9}
	sub := Submission{JobID: bs.job.ID, Extranonce: en, NTime: 1_700_000_000, HasVersion: true}
	var res Result
	b.ReportAllocs()
	b.ResetTimer()
	b.ReportMetric(3, "sha-blocks/op")
	for i := 0; i < b.N; i++ {
		if i%sharesPerJob == sharesPerJob-1 {
			bs.nextJob(uint32(i/sharesPerJob) + 2)
			sub.JobID = bs.job.ID
		}
		sub.Nonce = uint32(i)
		sub.VersionBits = uint32(i*0x9e3779b1) & 0x1fffe000
		bs.s.Validate(&sub, &res)
		if res.Reason != Accepted {
			b.Fatal(res.Reason)
		}
	}
}

// BenchmarkValidateShareNewExtranonce: the same job, a fresh extranonce2 for
// every share (coinbase hash from the per-job midstate, 12 branch levels,
// header).
func BenchmarkValidateShareNewExtranonce(b *testing.B) {
	bs := newBenchSetup(b, 0)
	en := make([]byte, 4)
	sub := Submission{JobID: bs.job.ID, Extranonce: en, NTime: 1_700_000_000, HasVersion: true}
	var res Result
	b.ReportAllocs()
	b.ResetTimer()
	b.ReportMetric(float64(bs.blocksNew), "sha-blocks/op")
	b.ReportMetric(float64(bs.cbLen), "coinbase-bytes")
	for i := 0; i < b.N; i++ {
		if i%sharesPerJob == sharesPerJob-1 {
			bs.nextJob(uint32(i/sharesPerJob) + 2)
			sub.JobID = bs.job.ID
		}
		binary.LittleEndian.PutUint32(en, uint32(i))
		sub.Nonce = uint32(i)
		sub.VersionBits = uint32(i*0x9e3779b1) & 0x1fffe000
		bs.s.Validate(&sub, &res)
		if res.Reason != Accepted {
			b.Fatal(res.Reason)
		}
	}
}

// BenchmarkValidateShareSameVersion: a cached extranonce2 and a miner that
// does not roll the version: the header's first-block midstate is reused
// (2 compressions).
func BenchmarkValidateShareSameVersion(b *testing.B) {
	bs := newBenchSetup(b, 0)
	sub := Submission{JobID: bs.job.ID, Extranonce: []byte{9, 9, 9, 9}, NTime: 1_700_000_000}
	var res Result
	b.ReportAllocs()
	b.ResetTimer()
	b.ReportMetric(2, "sha-blocks/op")
	for i := 0; i < b.N; i++ {
		if i%sharesPerJob == sharesPerJob-1 {
			bs.nextJob(uint32(i/sharesPerJob) + 2)
			sub.JobID = bs.job.ID
		}
		sub.Nonce = uint32(i)
		bs.s.Validate(&sub, &res)
		if res.Reason != Accepted {
			b.Fatal(res.Reason)
		}
	}
}

// BenchmarkValidateShareParallel: one session per goroutine, all on the same
// jobs (shared snapshot and duplicate filter).
func BenchmarkValidateShareParallel(b *testing.B) {
	bs := newBenchSetup(b, 1<<30)
	var id atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := id.Add(1)
		s := bs.v.NewSession([]byte{byte(n), byte(n >> 8), 0xaa, 0xbb}, MaxTarget)
		s.SetVersionMask(0x1fffe000)
		s.JobSent(bs.job)
		sub := Submission{JobID: bs.job.ID, Extranonce: []byte{9, 9, 9, 9}, NTime: 1_700_000_000, HasVersion: true}
		var res Result
		for i := uint32(0); pb.Next(); i++ {
			sub.Nonce = i
			sub.VersionBits = (i * 0x9e3779b1) & 0x1fffe000
			s.Validate(&sub, &res)
			if res.Reason != Accepted {
				b.Error(res.Reason)
				return
			}
		}
	})
}

// BenchmarkValidateShareBigPool is BenchmarkValidateShare with 128 Ki shares
// per job (~4400 shares/s with 30 s jobs): the duplicate filter outgrows L2.
func BenchmarkValidateShareBigPool(b *testing.B) {
	saved := sharesPerJob
	sharesPerJob = 1 << 17
	defer func() { sharesPerJob = saved }()
	BenchmarkValidateShare(b)
}
