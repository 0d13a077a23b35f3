package main

import (
	"context"
	"encoding/binary"
	"errors"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum/client"
	sv2client "github.com/adit-pool/adit/sv2/client"
)

// minerConfig configures one miner: one pool connection and its threads.
type minerConfig struct {
	Client client.Config
	// Threads is the number of hashing goroutines (at least 1).
	Threads int
	// ShareRate, when > 0, paces hashing so the miner finds about this many
	// shares per second at the pool's difficulty. Pacing only slows hashing
	// down; shares are never fabricated.
	ShareRate float64
	// Submitters is how many submissions may be in flight at once.
	Submitters int
	// Reconnect is the pause before redialing after a disconnect; 0 means
	// the miner stops instead.
	Reconnect time.Duration
	// DialSem, when non-nil, bounds concurrent handshakes across a fleet.
	DialSem chan struct{}
	// V2, when non-nil, makes the miner speak Stratum V2 (sv2miner.go);
	// Client then supplies the username, timeout and suggested difficulty.
	V2 *v2Config
	// JD, when non-nil (with V2), makes the miner a Job Declarator
	// Client (jdminer.go).
	JD  *jdConfig
	Log *zap.Logger
}

// hashesPerShare is the expected number of hashes per share at difficulty 1:
// 2^256 / diff1 = 2^48 / 0xffff.
const hashesPerShare = 281474976710656.0 / 65535.0

// scanBatch is how many nonces a thread hashes between checks for new work,
// cancellation and pacing.
const scanBatch = 1024

// versionChunk is how many nonces are hashed per rolled version value when
// version rolling is on (ASIC-style: version bits change often).
const versionChunk = 1 << 16

// found is a share a thread found, waiting to be submitted.
type found struct {
	work        job
	en2         []byte
	ntime       uint32
	nonce       uint32
	versionBits uint32
}

// workBox is one published job; next is closed when it is replaced.
type workBox struct {
	w        job
	received time.Time
	next     chan struct{}
}

// miner is one pool connection with its hashing threads and submitters.
type miner struct {
	cfg    minerConfig
	rec    *recorder
	box    atomic.Pointer[workBox]
	clean  atomic.Uint64 // Seq of the newest clean Work: older shares are stale
	shares chan found
	hashes atomic.Uint64
	// v2Addr is the SV2 pool address the next session dials: V2.Addr until
	// a pool's Reconnect names another (run's goroutine only).
	v2Addr string
	// v2Connected: the last SV2 session got its channel open (run's
	// goroutine only; set by sessionV2).
	v2Connected bool
}

func newMiner(cfg minerConfig, rec *recorder) *miner {
	if cfg.Threads < 1 {
		cfg.Threads = 1
	}
	if cfg.Submitters < 1 {
		cfg.Submitters = 4
	}
	m := &miner{cfg: cfg, rec: rec, shares: make(chan found, 256)}
	if cfg.V2 != nil {
		m.v2Addr = cfg.V2.Addr
	}
	return m
}

// run mines until ctx ends, redialing after disconnects when configured.
// An SV2 pool's Reconnect is a redirect, not a disconnect: the miner dials
// the address it names at once, even with Reconnect 0. Only when the
// session after such a redirect ends with Reconnect again, without having
// mined for redirectSettle, does the usual policy (pause, or stop) apply,
// so a pool cannot make it spin.
// redirectSettle is how long a session must have mined for a Reconnect
// at its end to count as a new redirect rather than the next in a row.
const redirectSettle = 30 * time.Second

func (m *miner) run(ctx context.Context) error {
	if m.cfg.JD != nil {
		return m.runJD(ctx)
	}
	redirected := false
	for {
		var err error
		started := time.Now()
		if m.cfg.V2 != nil {
			m.v2Connected = false
			err = m.sessionV2(ctx)
		} else {
			err = m.session(ctx)
		}
		if ctx.Err() != nil {
			return nil
		}
		m.rec.disconnected()
		var re *sv2client.ReconnectError
		if errors.As(err, &re) {
			next := re.Target(m.v2Addr)
			m.cfg.Log.Info("pool asked to reconnect", zap.String("from", m.v2Addr), zap.String("to", next))
			m.v2Addr = next
			if m.v2Connected && time.Since(started) >= redirectSettle {
				redirected = false // a session that mined a while ends a run of redirects
			}
			if !redirected {
				redirected = true
				continue
			}
		} else {
			redirected = false
			m.cfg.Log.Warn("pool session ended", zap.Error(err))
		}
		if m.cfg.Reconnect <= 0 {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(m.cfg.Reconnect):
		}
	}
}

// session runs one connection: dial, then hash and submit until the
// connection or ctx ends. Every goroutine it starts has returned when it
// returns.
func (m *miner) session(ctx context.Context) error {
	c, err := m.dial(ctx)
	if err != nil {
		m.rec.dialFailed()
		return err
	}
	m.rec.connected(1)
	defer m.rec.connected(-1)
	m.cfg.Log.Debug("connected", zap.String("pool", m.cfg.Client.Addr), zap.Uint32("version_mask", c.VersionMask()))
	m.box.Store(&workBox{next: make(chan struct{})})
	m.clean.Store(0)

	// Shutdown order: hashing threads and the dispatcher stop at once;
	// submitters finish the submission in flight (so the counts match what
	// the pool recorded); then the connection closes.
	g, gctx := errgroup.WithContext(ctx)
	var submitters sync.WaitGroup
	submitters.Add(m.cfg.Submitters) // before anything can Wait on it
	g.Go(func() error {
		<-gctx.Done()
		submitters.Wait()
		c.Close()
		return nil
	})
	g.Go(func() error {
		for {
			select {
			case w, ok := <-c.Work():
				if !ok {
					return c.Err()
				}
				m.publish(v1Job{w})
			case <-gctx.Done():
				return nil
			}
		}
	})
	for i := range m.cfg.Threads {
		g.Go(func() error { m.hashLoop(gctx, i); return nil })
	}
	for range m.cfg.Submitters {
		g.Go(func() error {
			defer submitters.Done()
			m.submitLoop(gctx, c)
			return nil
		})
	}
	err = g.Wait()
	if err == nil {
		err = errors.New("session stopped")
	}
	return err
}

func (m *miner) dial(ctx context.Context) (*client.Client, error) {
	if m.cfg.DialSem != nil {
		select {
		case m.cfg.DialSem <- struct{}{}:
			defer func() { <-m.cfg.DialSem }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return client.Dial(ctx, m.cfg.Client)
}

// publish makes w the current work. Only the session's dispatcher calls it.
func (m *miner) publish(w job) {
	if w.clean() {
		m.clean.Store(w.seq())
	}
	old := m.box.Swap(&workBox{w: w, received: time.Now(), next: make(chan struct{})})
	close(old.next)
	m.cfg.Log.Debug("new work", zap.String("job", w.id()), zap.Bool("clean", w.clean()),
		zap.Float64("difficulty", w.difficulty()))
}

// hashLoop is one hashing thread: it mines the current work until it is
// replaced, then moves on, until ctx ends.
func (m *miner) hashLoop(ctx context.Context, idx int) {
	t := &thread{m: m, idx: idx}
	for ctx.Err() == nil {
		b := m.box.Load()
		if b.w != nil {
			t.mine(ctx, b)
		}
		// Out of work (or none yet): wait for the next job.
		if m.box.Load() == b {
			select {
			case <-b.next:
			case <-ctx.Done():
			}
		}
	}
}

// thread is one hashing goroutine's state.
type thread struct {
	m       *miner
	idx     int
	scratch []byte
	hdr     share.Header
	// en2Next is the next unused offset in the thread's extranonce2 range.
	// It carries over from one Work to the next: a pool may resend the same
	// job (after a difficulty change, say), and restarting from the same
	// extranonce2 would re-find the same shares: duplicates.
	en2Next uint64

	// pacing
	hps        float64 // target hashes per second (0: unpaced)
	paceStart  time.Time
	paceHashes uint64
}

// en2Range returns the first extranonce2 counter value of thread idx and how
// many it owns, for an extranonce2 of size bytes (only the low 8 bytes count).
func en2Range(size, idx, threads int) (start, count uint64) {
	n := min(size, 8)
	space := uint64(0) // 0 means 2^64
	if n < 8 {
		space = 1 << (8 * n)
	}
	return slotRange(space, idx, threads)
}

// slotRange splits space values (0: 2^64) among threads and returns
// thread idx's first value and how many it owns.
func slotRange(space uint64, idx, threads int) (start, count uint64) {
	if space == 0 {
		count = ^uint64(0) / uint64(threads)
	} else {
		count = space / uint64(threads)
	}
	if count == 0 { // more threads than values: share them round-robin
		return uint64(idx) % space, 1
	}
	return uint64(idx) * count, count
}

// putEN2 writes counter big-endian into the low bytes of en2.
func putEN2(en2 []byte, counter uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], counter)
	n := min(len(en2), 8)
	copy(en2[len(en2)-n:], b[8-n:])
}

// deposit spreads the low bits of v over the set bits of mask (PDEP).
func deposit(v, mask uint32) uint32 {
	var out uint32
	for m := mask; m != 0; m &= m - 1 {
		bit := m & -m
		if v&1 != 0 {
			out |= bit
		}
		v >>= 1
	}
	return out
}

// mine hashes b's work: for each of the thread's unused extranonce2 values (ntime
// rolled forward with the clock), every nonce, and with version rolling
// every rolled version per nonce chunk. It returns when the work is replaced,
// ctx ends or the thread's search space is exhausted.
func (t *thread) mine(ctx context.Context, b *workBox) {
	w := b.w
	t.setPace(w)
	mask := w.versionMask()
	if w.extranonceSize() == 0 && mask != 0 {
		t.mineHeaderOnly(ctx, b)
		return
	}
	start, count := en2Range(w.extranonceSize(), t.idx, t.m.cfg.Threads)
	en2 := make([]byte, w.extranonceSize())
	for range count {
		putEN2(en2, start+t.en2Next%count)
		t.en2Next++
		ntime := w.ntime() + uint32(time.Since(b.received)/time.Second)
		t.scratch = w.header(&t.hdr, t.scratch, en2, ntime)
		if mask == 0 {
			if t.scan(ctx, b, en2, ntime, 0, 0, 1<<32) {
				return
			}
			continue
		}
		rolls := uint64(1) << bits.OnesCount32(mask)
		for base := uint64(0); base < 1<<32; base += versionChunk {
			for r := uint64(0); r < rolls; r++ {
				vbits := deposit(uint32(r), mask)
				binary.LittleEndian.PutUint32(t.hdr[0:4], w.rolledVersion(vbits))
				if t.scan(ctx, b, en2, ntime, vbits, uint32(base), versionChunk) {
					return
				}
			}
		}
	}
}

// mineHeaderOnly hashes work without an extranonce of the miner's own (an
// SV2 standard channel): the thread's share of the rolled versions takes
// the extranonce's place, each with a full nonce range, carried over from
// one job to the next like the extranonce.
func (t *thread) mineHeaderOnly(ctx context.Context, b *workBox) {
	w := b.w
	mask := w.versionMask()
	start, count := slotRange(uint64(1)<<bits.OnesCount32(mask), t.idx, t.m.cfg.Threads)
	for range count {
		vbits := deposit(uint32(start+t.en2Next%count), mask)
		t.en2Next++
		ntime := w.ntime() + uint32(time.Since(b.received)/time.Second)
		t.scratch = w.header(&t.hdr, t.scratch, nil, ntime)
		binary.LittleEndian.PutUint32(t.hdr[0:4], w.rolledVersion(vbits))
		if t.scan(ctx, b, nil, ntime, vbits, 0, 1<<32) {
			return
		}
	}
}

// scan hashes count nonces from first with the header in t.hdr and queues
// every share meeting the work's target. It reports whether the thread must
// stop (new work or ctx ended).
func (t *thread) scan(ctx context.Context, b *workBox, en2 []byte, ntime, vbits, first uint32, count uint64) bool {
	target := b.w.target()
	nonce := first
	// Paced, a batch is at most a tenth of a second of hashing: at the tiny
	// rates of a regtest network target (solo -jd mining), a full batch
	// would be a sleep of minutes between batches.
	batch := uint64(scanBatch)
	if t.hps > 0 {
		batch = max(1, min(batch, uint64(t.hps/10)))
	}
	for done := uint64(0); done < count; {
		n := min(batch, count-done)
		for range n {
			binary.LittleEndian.PutUint32(t.hdr[76:], nonce)
			hash := share.DoubleSHA256(t.hdr[:])
			if target.Met(&hash) {
				t.m.queue(found{work: b.w, en2: append([]byte(nil), en2...), ntime: ntime, nonce: nonce, versionBits: vbits})
			}
			nonce++
		}
		done += n
		t.m.hashes.Add(n)
		if ctx.Err() != nil || t.m.box.Load() != b {
			return true
		}
		if t.hps > 0 && t.pace(ctx, b, n) {
			return true
		}
	}
	return false
}

// setPace sets the thread's hash rate for the miner's share rate at w's
// difficulty, restarting the pacing clock.
func (t *thread) setPace(w job) {
	t.hps = 0
	if r := t.m.cfg.ShareRate; r > 0 {
		t.hps = r * w.difficulty() * hashesPerShare / float64(t.m.cfg.Threads)
	}
	t.paceStart, t.paceHashes = time.Now(), 0
}

// pace sleeps until n more hashes are due at the thread's rate. It reports
// whether the thread must stop.
func (t *thread) pace(ctx context.Context, b *workBox, n uint64) bool {
	t.paceHashes += n
	due := t.paceStart.Add(time.Duration(float64(t.paceHashes) / t.hps * float64(time.Second)))
	d := time.Until(due)
	if d < -time.Second {
		// Far behind (CPU-bound): do not try to catch up in a burst.
		t.paceStart, t.paceHashes = time.Now(), 0
		return false
	}
	if d < time.Millisecond {
		return false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return false
	case <-b.next:
		return true
	case <-ctx.Done():
		return true
	}
}

// queue hands a share to the submitters without blocking the thread.
func (m *miner) queue(f found) {
	select {
	case m.shares <- f:
	default:
		m.rec.dropped()
	}
}

// nextShare returns the next queued share whose work is not stale
// (counting those dropped as stale), or false when ctx ends.
func (m *miner) nextShare(ctx context.Context) (found, bool) {
	for {
		select {
		case f := <-m.shares:
			if f.work.seq() >= m.clean.Load() {
				return f, true
			}
			m.rec.staleDropped()
		case <-ctx.Done():
			return found{}, false
		}
	}
}

// submitLoop submits queued shares until ctx ends; queued shares are then
// discarded, but a submission in flight completes. Shares of work that a
// clean job has replaced are dropped: the pool would call them stale.
func (m *miner) submitLoop(ctx context.Context, c *client.Client) {
	worker := m.cfg.Client.Username
	timeout := m.cfg.Client.Timeout
	if timeout <= 0 {
		timeout = client.DefaultTimeout
	}
	for {
		f, ok := m.nextShare(ctx)
		if !ok {
			return
		}
		w := f.work.(v1Job).Work
		var vb *uint32
		if w.VersionMask != 0 {
			vb = &f.versionBits
		}
		// Not cancelled by shutdown: an in-flight submission gets its reply
		// (or the timeout, or the end of the connection).
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		t0 := time.Now()
		ok, rerr, err := c.Submit(sctx, worker, w.JobID, f.en2, f.ntime, f.nonce, vb)
		lat := time.Since(t0)
		cancel()
		m.rec.result(worker, ok, rerr, err, lat)
		switch {
		case err != nil:
			m.cfg.Log.Warn("submit failed", zap.String("job", w.JobID), zap.Error(err))
		case ok:
			m.cfg.Log.Debug("share accepted", zap.String("job", w.JobID), zap.Duration("latency", lat))
		default:
			m.cfg.Log.Info("share rejected", zap.String("job", w.JobID), zap.Int("code", rerr.Code),
				zap.String("message", rerr.Message))
		}
	}
}
