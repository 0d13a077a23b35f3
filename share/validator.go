package share

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// MaxFutureNTime is how far past the validator's clock a share's ntime may be.
const MaxFutureNTime = 7200

// ValidatorConfig configures a Validator.
type ValidatorConfig struct {
	// KeepJobs is how many recent jobs stay known (older ones answer
	// job-not-found). Default 32.
	KeepJobs int
	// BlockFloor, when non-nil, is an extra target a hash must also meet to be
	// a block candidate. It exists for regtest load tests only; the pool's
	// config refuses it on other networks.
	BlockFloor *Target
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
}

// Validator holds the live jobs and judges shares against them. It is safe
// for concurrent use: lookups read an immutable snapshot, so sessions never
// contend on a lock except the per-job duplicate filter shards.
type Validator struct {
	cfg  ValidatorConfig
	mu   sync.Mutex // serialises writers of snap
	snap atomic.Pointer[jobTable]
}

type jobTable struct {
	tip  [32]byte
	jobs []*liveJob // oldest first
}

type liveJob struct {
	job  *Job
	dups dupFilter
}

// NewValidator returns a Validator with no jobs.
func NewValidator(cfg ValidatorConfig) *Validator {
	if cfg.KeepJobs <= 0 {
		cfg.KeepJobs = 32
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Validator{cfg: cfg}
	v.snap.Store(&jobTable{})
	return v
}

// AddJob publishes a job. A job whose PrevHash differs from the current tip
// makes every older job stale.
func (v *Validator) AddJob(j *Job) {
	v.mu.Lock()
	defer v.mu.Unlock()
	old := v.snap.Load()
	jobs := old.jobs
	if len(jobs) >= v.cfg.KeepJobs {
		jobs = jobs[len(jobs)-v.cfg.KeepJobs+1:]
	}
	next := &jobTable{tip: j.PrevHash, jobs: make([]*liveJob, 0, len(jobs)+1)}
	next.jobs = append(next.jobs, jobs...)
	next.jobs = append(next.jobs, &liveJob{job: j})
	v.snap.Store(next)
}

// Job returns a live job by id (nil if unknown) and whether it is stale.
func (v *Validator) Job(id uint32) (j *Job, stale bool) {
	t := v.snap.Load()
	if lj := t.find(id); lj != nil {
		return lj.job, lj.job.PrevHash != t.tip
	}
	return nil, false
}

// Latest returns the newest job, or nil.
func (v *Validator) Latest() *Job {
	t := v.snap.Load()
	if len(t.jobs) == 0 {
		return nil
	}
	return t.jobs[len(t.jobs)-1].job
}

func (t *jobTable) find(id uint32) *liveJob {
	for i := len(t.jobs) - 1; i >= 0; i-- {
		if t.jobs[i].job.ID == id {
			return t.jobs[i]
		}
	}
	return nil
}

// dupFilter remembers the header hashes accepted for one job. Keys are the
// first 8 bytes of the hash (uniformly random for any hash; a false duplicate
// needs a 64-bit collision). Sharded to keep sessions from contending.
type dupFilter struct {
	shards [16]struct {
		sync.Mutex
		seen map[uint64]struct{}
	}
}

// insert records key and reports whether it was new.
func (d *dupFilter) insert(hash *[32]byte) bool {
	key := binary.LittleEndian.Uint64(hash[:8])
	s := &d.shards[key&15]
	s.Lock()
	defer s.Unlock()
	if _, ok := s.seen[key]; ok {
		return false
	}
	if s.seen == nil {
		s.seen = make(map[uint64]struct{}, 64)
	}
	s.seen[key] = struct{}{}
	return true
}

// Session is the validator's state for one Stratum V1 connection or one
// Stratum V2 channel: its extranonce prefix, version-rolling mask, the target
// each job is judged against and a small merkle-root cache. It is not safe
// for concurrent use: the session's reader goroutine owns it.
type Session struct {
	v       *Validator
	prefix  []byte
	mask    uint32
	current Target
	targets map[uint32]Target
	roots   [4]rootEntry
	nextRot int
	scratch []byte
}

type rootEntry struct {
	job  *Job
	en   [32]byte // miner extranonce, zero-padded
	n    int
	root [32]byte
}

// NewSession returns session state with the given extranonce prefix (copied)
// and the initial share target.
func (v *Validator) NewSession(prefix []byte, target Target) *Session {
	return &Session{
		v:       v,
		prefix:  append([]byte(nil), prefix...),
		current: target,
		targets: make(map[uint32]Target),
	}
}

// Prefix returns the session's extranonce prefix.
func (s *Session) Prefix() []byte { return s.prefix }

// SetPrefix changes the extranonce prefix (mining.set_extranonce, SV2
// SetExtranoncePrefix) and drops cached merkle roots.
func (s *Session) SetPrefix(p []byte) {
	s.prefix = append(s.prefix[:0], p...)
	s.roots = [4]rootEntry{}
}

// SetVersionMask sets the bits the miner may roll (0 disables rolling).
func (s *Session) SetVersionMask(mask uint32) { s.mask = mask }

// VersionMask returns the negotiated mask.
func (s *Session) VersionMask() uint32 { return s.mask }

// Target returns the current share target.
func (s *Session) Target() Target { return s.current }

// SetTarget changes the share target. Jobs the miner already holds are judged
// at the easier of the target they were sent with and the new one, so a
// difficulty change racing in-flight work never rejects honest shares.
func (s *Session) SetTarget(t Target) {
	s.current = t
	for id, old := range s.targets {
		s.targets[id] = Easier(old, t)
	}
}

// JobSent records that j is being sent to the miner under the current target,
// and forgets targets of jobs the validator no longer holds.
func (s *Session) JobSent(j *Job) {
	s.targets[j.ID] = s.current
	if len(s.targets) > s.v.cfg.KeepJobs {
		t := s.v.snap.Load()
		for id := range s.targets {
			if t.find(id) == nil {
				delete(s.targets, id)
			}
		}
	}
}

// Validate judges sub and writes the verdict into res. The common case (a
// known job, a cached extranonce) performs one header hash and no allocation.
func (s *Session) Validate(sub *Submission, res *Result) {
	*res = Result{}
	t := s.v.snap.Load()
	lj := t.find(sub.JobID)
	if lj == nil {
		res.Reason = RejectJobNotFound
		return
	}
	job := lj.job
	res.Job = job
	if job.PrevHash != t.tip {
		res.Reason = RejectStale
		return
	}
	target, ok := s.targets[job.ID]
	if !ok {
		// The job was never sent to this session.
		res.Reason = RejectJobNotFound
		return
	}
	if len(s.prefix)+len(sub.Extranonce) != job.ExtranonceSize {
		res.Reason = RejectBadExtranonce
		return
	}
	if sub.NTime < job.MinTime || int64(sub.NTime) > s.v.cfg.Now().Unix()+MaxFutureNTime {
		res.Reason = RejectBadNTime
		return
	}
	version := job.Version
	if sub.HasVersion {
		if sub.VersionBits&^s.mask != 0 {
			res.Reason = RejectBadVersion
			return
		}
		version = (job.Version &^ s.mask) | (sub.VersionBits & s.mask)
	}
	root := s.merkleRoot(job, sub.Extranonce)
	PutHeader(&res.Header, version, &job.PrevHash, root, sub.NTime, job.Bits, sub.Nonce)
	res.Hash = DoubleSHA256(res.Header[:])
	res.AssignedDifficulty = target.Difficulty()
	// A block is never rejected, even when the share target is harder than
	// the network's (possible on regtest/testnet): check it first.
	block := job.NetworkTarget.Met(&res.Hash) &&
		(s.v.cfg.BlockFloor == nil || s.v.cfg.BlockFloor.Met(&res.Hash))
	if !block && !target.Met(&res.Hash) {
		res.Reason = RejectLowDifficulty
		return
	}
	if !lj.dups.insert(&res.Hash) {
		res.Reason = RejectDuplicate
		return
	}
	res.ReachedDifficulty = HashDifficulty(&res.Hash)
	res.Block = block
	if res.Block {
		res.BlockData = job.Block(&res.Header, s.FullExtranonce(sub.Extranonce))
	}
}

// VersionBitsFromHeader converts a full header version, as Stratum V2
// submits it, into Submission.VersionBits for a session with the given mask:
// Validate then accepts the share exactly when version differs from
// jobVersion only in bits inside mask, and hashes version itself.
func VersionBitsFromHeader(jobVersion, mask, version uint32) uint32 {
	return version ^ (jobVersion &^ mask)
}

// FullExtranonce returns prefix ‖ minerPart (allocates; for block assembly).
func (s *Session) FullExtranonce(minerPart []byte) []byte {
	return append(append(make([]byte, 0, len(s.prefix)+len(minerPart)), s.prefix...), minerPart...)
}

// merkleRoot returns the merkle root for job and the miner's extranonce part,
// from the cache when possible.
func (s *Session) merkleRoot(job *Job, en []byte) *[32]byte {
	for i := range s.roots {
		e := &s.roots[i]
		if e.job == job && e.n == len(en) && string(e.en[:e.n]) == string(en) {
			return &e.root
		}
	}
	e := &s.roots[s.nextRot]
	s.nextRot = (s.nextRot + 1) % len(s.roots)
	e.job, e.n = job, copy(e.en[:], en)
	s.scratch = append(s.scratch[:0], job.CoinbasePrefix...)
	s.scratch = append(s.scratch, s.prefix...)
	s.scratch = append(s.scratch, en...)
	s.scratch = append(s.scratch, job.CoinbaseSuffix...)
	e.root = MerkleRoot(DoubleSHA256(s.scratch), job.MerkleBranch)
	return &e.root
}
