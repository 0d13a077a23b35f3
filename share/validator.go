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
	// Now is the clock; defaults to time.Now. A session reads it only when a
	// share's ntime is beyond the limit it computed at its last reading, so
	// the clock is assumed not to step backwards by much (a backward step
	// briefly widens the future-ntime window by the size of the step).
	Now func() time.Time
	// MaxSharesPerJob bounds the duplicate filter of each job (about 16 bytes
	// per accepted share at worst). A job that has accepted this many shares
	// answers RejectStale: the miner must move to a newer job. Default
	// DefaultMaxSharesPerJob.
	MaxSharesPerJob int
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

// liveJob is a published job with its per-job precomputation (done once, in
// AddJob, before the job becomes visible) and its duplicate filter.
type liveJob struct {
	id   uint32
	job  *Job
	cb   coinbaseHasher
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
	if cfg.MaxSharesPerJob <= 0 {
		cfg.MaxSharesPerJob = DefaultMaxSharesPerJob
	}
	v := &Validator{cfg: cfg}
	v.snap.Store(&jobTable{})
	return v
}

// newLiveJob precomputes j's coinbase midstate and padding and sizes its
// duplicate filter for about expect shares (prev's count, when there is one).
func (v *Validator) newLiveJob(j *Job, prev *liveJob) *liveJob {
	lj := &liveJob{id: j.ID, job: j, cb: newCoinbaseHasher(j.CoinbasePrefix, max(j.ExtranonceSize, 0), j.CoinbaseSuffix)}
	expect := 0
	if prev != nil {
		expect = prev.dups.len()
	}
	lj.dups.init(v.cfg.MaxSharesPerJob, expect)
	return lj
}

// AddJob publishes a template job, one every session may be sent. A job
// whose PrevHash differs from the current tip makes every older job stale
// at the validator (Job). The coinbase midstate and padding are precomputed
// here, so j must not be modified afterwards. A job private to one session
// is added with Session.AddPrivateJob instead.
func (v *Validator) AddJob(j *Job) {
	v.mu.Lock()
	defer v.mu.Unlock()
	old := v.snap.Load()
	var prev *liveJob
	if n := len(old.jobs); n > 0 {
		prev = old.jobs[n-1]
	}
	lj := v.newLiveJob(j, prev)
	jobs := old.jobs
	if len(jobs) >= v.cfg.KeepJobs {
		jobs = jobs[len(jobs)-v.cfg.KeepJobs+1:]
	}
	next := &jobTable{tip: j.PrevHash, jobs: make([]*liveJob, 0, len(jobs)+1)}
	next.jobs = append(next.jobs, jobs...)
	next.jobs = append(next.jobs, lj)
	v.snap.Store(next)
}

// Job returns a live template job by id (nil if unknown; private jobs are
// found only through their Session.Job) and whether it is stale at
// the validator: a newer job on another chain tip has been published. Shares
// are not judged by this (see Session.Validate): a session calls a share
// stale only once it has itself been sent the job that made it so.
func (v *Validator) Job(id uint32) (j *Job, stale bool) {
	t := v.snap.Load()
	if lj := t.find(id); lj != nil {
		return lj.job, lj.job.PrevHash != t.tip
	}
	return nil, false
}

// Latest returns the newest template job, or nil. It is never a private job.
func (v *Validator) Latest() *Job {
	t := v.snap.Load()
	if len(t.jobs) == 0 {
		return nil
	}
	return t.jobs[len(t.jobs)-1].job
}

func (t *jobTable) find(id uint32) *liveJob {
	for i := len(t.jobs) - 1; i >= 0; i-- {
		if t.jobs[i].id == id {
			return t.jobs[i]
		}
	}
	return nil
}

// Session is the validator's state for one Stratum V1 connection or one
// Stratum V2 channel: its extranonce prefix, version-rolling mask, the target
// each job is judged against and a small merkle-root cache. It is not safe
// for concurrent use: the session's reader goroutine owns it.
type Session struct {
	v        *Validator
	prefix   []byte
	mask     uint32
	current  Target
	sent     []sentJob // jobs sent to the miner, in sending order
	tip      [32]byte  // PrevHash of the newest job sent
	epoch    uint32    // jobs sent on a new tip so far (0: none sent yet)
	roots    [4]rootEntry
	nextRot  int
	scratch  []byte     // coinbase blocks for a new extranonce
	tail     headerTail // header bytes 64..80 and their fixed padding
	ntimeMax int64      // clock reading + MaxFutureNTime, refreshed on demand

	// Private jobs (AddPrivateJob): a ring of the newest PrivateJobs, slots
	// [0, nPriv) in use; their ids apart so a lookup reads one cache line.
	privIDs  [PrivateJobs]uint32
	priv     [PrivateJobs]*liveJob
	nPriv    int
	nextPriv int // the slot the next new private job takes
}

// PrivateJobs is how many private jobs a Session keeps: adding one more
// forgets the oldest (its shares then answer RejectJobNotFound).
const PrivateJobs = 8

// sentJob is the target a job was sent with (eased by later SetTarget calls)
// and the session's epoch when it was last sent.
type sentJob struct {
	id     uint32
	epoch  uint32
	target Target
	diff   float64
}

// rootEntry caches, per (job, miner extranonce), the merkle root and the
// header's first 64 bytes with the SHA-256 midstate for the last version seen.
type rootEntry struct {
	lj         *liveJob
	n          int
	en         [32]byte // miner extranonce, zero-padded
	root       [32]byte
	first      [64]byte // version ‖ prevhash ‖ root[:28]
	mid        [8]uint32
	midVersion uint32
	midOK      bool
}

// NewSession returns session state with the given extranonce prefix (copied)
// and the initial share target.
func (v *Validator) NewSession(prefix []byte, target Target) *Session {
	s := &Session{
		v:       v,
		prefix:  append([]byte(nil), prefix...),
		current: target,
	}
	s.tail.init()
	return s
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
	for i := range s.sent {
		e := &s.sent[i]
		e.target = Easier(e.target, t)
		e.diff = e.target.Difficulty()
	}
}

// AddPrivateJob makes j a job of this session only (a Stratum V2 custom job
// for one channel, Job Declaration): shares on it are judged by Validate
// exactly like shares on template jobs, found by the same ids (which
// therefore come from the pool's one JobIDs), and no other session can
// submit against it. The newest PrivateJobs stay known; a job with the id
// of one held replaces it. Its coinbase midstate is precomputed here, so j
// must not be modified afterwards.
//
// AddPrivateJob also records j as sent (JobSent), so the stale rule is the
// same: a private job on a new PrevHash makes every job sent to this
// session before it stale. The caller queues the reply that hands j to the
// miner (SetCustomMiningJob.Success) in the same owner step.
func (s *Session) AddPrivateJob(j *Job) {
	var prev *liveJob // the newest so far: its share count sizes j's filter
	if s.nPriv > 0 {
		prev = s.priv[(s.nextPriv+PrivateJobs-1)%PrivateJobs]
	}
	slot := -1
	for i := 0; i < s.nPriv; i++ {
		if s.privIDs[i] == j.ID {
			slot = i
		}
	}
	if slot < 0 {
		slot = s.nextPriv
		s.nextPriv = (s.nextPriv + 1) % PrivateJobs
		s.nPriv = max(s.nPriv, slot+1)
	}
	s.priv[slot], s.privIDs[slot] = s.v.newLiveJob(j, prev), j.ID
	s.JobSent(j)
}

// privateJob returns the session's private job id, or nil.
func (s *Session) privateJob(id uint32) *liveJob {
	for i := 0; i < s.nPriv; i++ {
		if s.privIDs[i] == id {
			return s.priv[i]
		}
	}
	return nil
}

// find returns the job id names for this session: a private job of its
// own, else a template job in t.
func (s *Session) find(t *jobTable, id uint32) *liveJob {
	if lj := s.privateJob(id); lj != nil {
		return lj
	}
	return t.find(id)
}

// Job returns the job id names for this session (one of its private jobs or
// a live template job), or nil. It does not say whether the job was sent.
func (s *Session) Job(id uint32) *Job {
	if lj := s.find(s.v.snap.Load(), id); lj != nil {
		return lj.job
	}
	return nil
}

// JobSent records that j is being sent to the miner under the current target,
// and forgets targets of jobs the session no longer holds.
//
// It also decides staleness, which is a property of what this session (one
// V1 connection, one V2 channel) was sent, never of the validator's newest
// job alone. The rule: a share on job J is RejectStale exactly when, after J
// was last recorded with JobSent, this session recorded a job on a different
// PrevHash than the job recorded just before it (a job on a new chain tip).
// Until then shares on J are judged in full, so a block found on the old tip
// in that window is still a block candidate.
//
// Sent means queued for writing, in the order of the connection's writes:
// the caller calls JobSent and, in the same step of its owner goroutine (no
// share is judged in between), queues the message that tells the miner to
// leave the older jobs, ahead of the reply to any later share. For V1 that
// message is the mining.notify with clean_jobs true; for V2 the job followed
// by the SetNewPrevHash that activates it. The miner therefore always
// receives that message before any stale-share reply. A job on the same tip
// leaves older jobs valid.
func (s *Session) JobSent(j *Job) {
	if s.epoch == 0 || j.PrevHash != s.tip {
		s.epoch++
		s.tip = j.PrevHash
	}
	if e := s.sentFor(j.ID); e != nil {
		e.target, e.diff, e.epoch = s.current, s.current.Difficulty(), s.epoch
		return
	}
	if len(s.sent) >= s.v.cfg.KeepJobs {
		t := s.v.snap.Load()
		keep := s.sent[:0]
		for _, e := range s.sent {
			if s.find(t, e.id) != nil {
				keep = append(keep, e)
			}
		}
		clear(s.sent[len(keep):])
		s.sent = keep
	}
	s.sent = append(s.sent, sentJob{id: j.ID, epoch: s.epoch, target: s.current, diff: s.current.Difficulty()})
}

func (s *Session) sentFor(id uint32) *sentJob {
	for i := len(s.sent) - 1; i >= 0; i-- {
		if s.sent[i].id == id {
			return &s.sent[i]
		}
	}
	return nil
}

// Validate judges sub and writes the verdict into res: RejectJobNotFound
// for a job neither this session (private jobs) nor the validator holds, or
// that was never sent to this session, RejectStale for a job sent before
// the newest job on a new chain tip that this session was sent (see
// JobSent) unless the share solves a block (a block candidate on the old
// tip is judged in full), else the full check. It
// does not allocate (except BlockData when the share solves a block). A
// share on a cached extranonce costs one header hash: 3 SHA-256
// compressions, or 2 when the version is the one last seen for that
// extranonce; a new extranonce adds the coinbase blocks after the per-job
// midstate and 3 compressions per merkle branch level.
func (s *Session) Validate(sub *Submission, res *Result) {
	*res = Result{}
	lj := s.find(s.v.snap.Load(), sub.JobID)
	if lj == nil {
		res.Reason = RejectJobNotFound
		return
	}
	job := lj.job
	res.Job = job
	sj := s.sentFor(job.ID)
	if sj == nil {
		// The job was never sent to this session.
		res.Reason = RejectJobNotFound
		return
	}
	// stale: this session has been sent a job on a newer tip since. Such a
	// share is still hashed: one that solves a block is judged in full,
	// because the new tip may be that very block (a Job Declaration miner
	// submits its block to its own node and the pool, and the block can
	// reach the pool's node first) or it may lose a race that is the
	// node's to decide. Every other stale share is RejectStale, whatever
	// else is wrong with it.
	stale := sj.epoch != s.epoch
	if len(s.prefix)+len(sub.Extranonce) != job.ExtranonceSize || len(sub.Extranonce) > len(rootEntry{}.en) {
		res.Reason = staleOr(stale, RejectBadExtranonce)
		return
	}
	if sub.NTime < job.MinTime || !s.ntimeOK(sub.NTime) {
		res.Reason = staleOr(stale, RejectBadNTime)
		return
	}
	version := job.Version
	if sub.HasVersion {
		if sub.VersionBits&^s.mask != 0 {
			res.Reason = staleOr(stale, RejectBadVersion)
			return
		}
		version = (job.Version &^ s.mask) | (sub.VersionBits & s.mask)
	}

	e := s.rootFor(lj, sub.Extranonce)
	if !e.midOK || e.midVersion != version {
		binary.LittleEndian.PutUint32(e.first[:4], version)
		e.mid = sha256IV
		sha256Block(&e.mid, e.first[:])
		e.midVersion, e.midOK = version, true
	}
	tail := &s.tail
	copy(tail[:4], e.root[28:])
	binary.LittleEndian.PutUint32(tail[4:], sub.NTime)
	binary.LittleEndian.PutUint32(tail[8:], job.Bits)
	binary.LittleEndian.PutUint32(tail[12:], sub.Nonce)
	hashHeader(&res.Hash, &e.mid, tail)
	copy(res.Header[:64], e.first[:])
	copy(res.Header[64:], tail[:16])

	res.ExtranoncePrefix, res.Extranonce = s.prefix, sub.Extranonce
	res.AssignedDifficulty = sj.diff
	// A block is never rejected, even when the share target is harder than
	// the network's (possible on regtest/testnet): check it first.
	block := job.NetworkTarget.Met(&res.Hash) &&
		(s.v.cfg.BlockFloor == nil || s.v.cfg.BlockFloor.Met(&res.Hash))
	if !block && (stale || !sj.target.Met(&res.Hash)) {
		res.Reason = staleOr(stale, RejectLowDifficulty)
		return
	}
	switch lj.dups.insert(&res.Hash) {
	case dupSeen:
		res.Reason = RejectDuplicate
		return
	case dupFull:
		res.Reason = RejectStale
		return
	}
	res.ReachedDifficulty = HashDifficulty(&res.Hash)
	res.Block = block
	if block && !job.TransactionsUnknown {
		res.BlockData = job.Block(&res.Header, s.FullExtranonce(sub.Extranonce))
	}
}

// staleOr is RejectStale for a stale share, else r.
func staleOr(stale bool, r RejectReason) RejectReason {
	if stale {
		return RejectStale
	}
	return r
}

// ntimeOK reports ntime <= now + MaxFutureNTime, reading the clock only when
// ntime exceeds the limit computed at the previous reading.
func (s *Session) ntimeOK(ntime uint32) bool {
	if int64(ntime) <= s.ntimeMax {
		return true
	}
	s.ntimeMax = s.v.cfg.Now().Unix() + MaxFutureNTime
	return int64(ntime) <= s.ntimeMax
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

// rootFor returns the cache entry for job and the miner's extranonce part,
// computing the merkle root (coinbase from the job's midstate, then the
// branch) on a miss.
func (s *Session) rootFor(lj *liveJob, en []byte) *rootEntry {
	for i := range s.roots {
		e := &s.roots[i]
		if e.lj == lj && e.n == len(en) && string(e.en[:e.n]) == string(en) {
			return e
		}
	}
	e := &s.roots[s.nextRot]
	s.nextRot = (s.nextRot + 1) % len(s.roots)
	e.lj, e.n, e.midOK = lj, copy(e.en[:], en), false
	lj.cb.txid(&e.root, &s.scratch, s.prefix, en)
	branch := lj.job.MerkleBranch
	for i := range branch {
		merkleStep(&e.root, &branch[i])
	}
	copy(e.first[4:36], lj.job.PrevHash[:])
	copy(e.first[36:64], e.root[:28])
	return e
}
