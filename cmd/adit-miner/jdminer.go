package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/share"
	sv2client "github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/jdclient"
)

// jdConfig makes a miner a Job Declarator Client: it builds its own jobs
// from its own node's templates, declares them to the pool's JDS and mines
// them on an extended channel of the pool (V2 names it), falling back to
// solo mining on its node when the pool refuses or disappears.
type jdConfig struct {
	// Addr is the JDS address.
	Addr string
	// Node is the miner's own node (GBT templates, submitblock).
	Node node.Config
	// SoloScript is the output script solo blocks pay.
	SoloScript []byte
	// Exclude are txids the policy leaves out of declared jobs.
	Exclude map[chainhash.Hash]bool
	// Tag is pushed into the coinbase scriptSig.
	Tag string
	// Retry is the pause between attempts to return to the pool.
	Retry time.Duration
	// BlockFloor, when set, is met too by a pool share that is a block
	// (the pool's [regtest] block_floor_difficulty): without it, on
	// regtest every share would be a block to this miner and not to the
	// pool.
	BlockFloor *share.Target
}

// fallbackError wraps what makes a JD session fall back to solo mining.
type fallbackError struct{ err error }

func (e *fallbackError) Error() string { return "fall back to solo: " + e.err.Error() }
func (e *fallbackError) Unwrap() error { return e.err }

// upstream is a working pool: the JDS connection and the mining channel.
type upstream struct {
	jd *jdclient.Conn
	c  *sv2client.Client
	ch *sv2client.Channel
}

func (u *upstream) close() {
	u.jd.Close()
	u.c.Close()
}

// runJD mines in JD mode until ctx ends: on the pool while it works, solo
// on the own node otherwise, retrying the pool every Retry.
func (m *miner) runJD(ctx context.Context) error {
	jd := m.cfg.JD
	nc, err := node.New(jd.Node, m.cfg.Log.Named("node"), nil)
	if err != nil {
		return err
	}
	defer nc.Close()
	tpls := &latestTemplate{next: make(chan struct{})}
	var wg sync.WaitGroup
	wctx, stop := context.WithCancel(ctx)
	wg.Go(func() { watchTemplates(wctx, nc, tpls, m.cfg.Log) })
	defer func() { stop(); wg.Wait() }()

	up, err := m.dialUpstream(ctx)
	for ctx.Err() == nil {
		if err == nil {
			m.rec.jd.setMode("pool")
			m.cfg.Log.Info("mining on the pool with declared jobs", zap.String("jds", jd.Addr), zap.String("pool", m.v2Addr))
			err = m.poolJD(ctx, up, nc, tpls)
			up.close()
			if ctx.Err() != nil {
				break
			}
		}
		m.rec.jd.fallback()
		m.rec.jd.setMode("solo")
		m.cfg.Log.Warn("falling back to solo mining on the own node", zap.Error(err))
		up, err = m.soloUntilPool(ctx, nc, tpls)
	}
	return nil
}

// dialUpstream connects to the JDS and the pool and opens the extended
// channel.
func (m *miner) dialUpstream(ctx context.Context) (*upstream, error) {
	timeout := m.cfg.Client.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	v2 := m.cfg.V2
	jd, err := jdclient.Dial(ctx, m.cfg.JD.Addr, jdclient.Config{
		Client:         sv2client.Config{Authority: v2.Authority, InsecureSkipVerify: v2.InsecureSkipVerify, Vendor: "adit-miner", Timeout: timeout},
		UserIdentifier: m.cfg.Client.Username,
	})
	if err != nil {
		m.rec.dialFailed()
		return nil, fmt.Errorf("jds: %w", err)
	}
	c, ch, err := m.dialV2(ctx, timeout)
	if err != nil {
		jd.Close()
		m.rec.dialFailed()
		return nil, fmt.Errorf("pool: %w", err)
	}
	return &upstream{jd: jd, c: c, ch: ch}, nil
}

// soloUntilPool mines solo until the pool works again (returning the
// upstream) or ctx ends (returning ctx's error).
func (m *miner) soloUntilPool(ctx context.Context, nc *node.Client, tpls *latestTemplate) (*upstream, error) {
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { m.solo(sctx, nc, tpls) })
	defer wg.Wait()
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(m.cfg.JD.Retry):
		}
		up, err := m.dialUpstream(ctx)
		if err == nil {
			m.cfg.Log.Info("the pool is back: leaving solo mining")
			return up, nil
		}
		m.cfg.Log.Debug("pool still unavailable", zap.Error(err))
	}
}

// poolJD mines declared jobs on the pool until an error that needs a
// fallback, the pool or the JDS going away, or ctx's end.
func (m *miner) poolJD(ctx context.Context, up *upstream, nc *node.Client, tpls *latestTemplate) error {
	jd := m.cfg.JD
	enSize := len(up.ch.ExtranoncePrefix) + up.ch.ExtranonceSize
	var mu sync.Mutex
	declared := map[uint32]*jdclient.Job{} // by custom job id
	loop := func(ctx context.Context) error {
		var spare []*jdclient.Token
		token := func() (*jdclient.Token, error) {
			// Keep one spare: a new template needs no round trip first.
			for len(spare) < 2 {
				t, err := up.jd.AllocateToken(ctx)
				if err != nil {
					return nil, err
				}
				spare = append(spare, t)
			}
			t := spare[0]
			spare = spare[1:]
			return t, nil
		}
		var seen uint64
		// After stale-chain-tip the same template is declared again every
		// Retry until a new one comes: the pool's node may be a block behind
		// the own node, and the own node may not move for a while.
		var again time.Duration
		for {
			tpl, seq, err := tpls.wait(ctx, up.jd.Done(), seen, again)
			if err != nil {
				return err
			}
			seen, again = seq, 0
			tok, err := token()
			if err != nil {
				return &fallbackError{fmt.Errorf("AllocateMiningJobToken: %w", err)}
			}
			j, err := jdclient.Build(tpl.Declarable(), tok.Outputs, jdclient.BuildConfig{Tag: jd.Tag, ExtranonceSize: enSize,
				Exclude: func(h chainhash.Hash) bool { return jd.Exclude[h] }}, time.Now())
			if err != nil {
				return &fallbackError{err}
			}
			active, err := up.jd.Declare(ctx, j, tok.Token)
			var de *jdclient.DeclareError
			switch {
			case errors.As(err, &de):
				m.rec.jd.declared(de.Code)
				if de.Code == jdclient.CodeStaleChainTip {
					m.cfg.Log.Info("declared job refused as stale: declaring again on the next template or in -jd-retry",
						zap.Int64("height", j.Height), zap.ByteString("details", de.Details))
					again = jd.Retry
					continue
				}
				return &fallbackError{err}
			case err != nil:
				return &fallbackError{err}
			}
			w, err := up.c.SetCustomMiningJob(ctx, j.CustomJob(up.ch.ID, active))
			var ce *sv2client.CustomJobError
			switch {
			case errors.As(err, &ce):
				m.rec.jd.declared(ce.Code)
				if ce.Code == jdclient.CodeStaleChainTip {
					again = jd.Retry
					continue
				}
				return &fallbackError{err}
			case err != nil:
				return &fallbackError{err}
			}
			m.rec.jd.declared("")
			mu.Lock()
			if len(declared) >= 64 {
				clear(declared)
			}
			declared[w.JobID] = j
			mu.Unlock()
			m.cfg.Log.Debug("custom job set", zap.Int64("height", j.Height), zap.Uint32("job", w.JobID),
				zap.Int("txs", len(j.Txs)), zap.Int("excluded", len(j.Excluded)))
		}
	}
	found := func(v *v2Job, f found) {
		mu.Lock()
		j := declared[v.w.JobID]
		mu.Unlock()
		if j == nil {
			return
		}
		var h share.Header
		v.header(&h, nil, f.en2, f.ntime)
		version := v.rolledVersion(f.versionBits)
		binary.LittleEndian.PutUint32(h[0:], version)
		binary.LittleEndian.PutUint32(h[76:], f.nonce)
		hash := share.DoubleSHA256(h[:])
		if !j.Share.NetworkTarget.Met(&hash) || (jd.BlockFloor != nil && !jd.BlockFloor.Met(&hash)) {
			return
		}
		en := append(append([]byte(nil), v.w.ExtranoncePrefix...), f.en2...)
		// Counted as found: the pool (PushSolution, the share) may have
		// brought it to the own node first, which then calls it a duplicate.
		m.rec.jd.block("pool")
		m.submitBlock(ctx, nc, j.Share.Block(&h, en), hash, "pool")
		if err := up.jd.PushSolution(&codec.PushSolution{Extranonce: en, PrevHash: v.w.PrevHash, Nonce: f.nonce,
			NTime: f.ntime, NBits: v.w.NBits, Version: version}); err != nil {
			m.cfg.Log.Warn("PushSolution failed", zap.Error(err))
		}
	}
	err := m.mineV2(ctx, up.c, up.ch, v2Hooks{accept: func(w *sv2client.Work) bool { return w.Custom }, run: loop, found: found})
	var fe *fallbackError
	if errors.As(err, &fe) {
		return fe.err
	}
	return err
}

// submitBlock submits a block to the own node and logs the outcome; it
// reports whether the node took it.
func (m *miner) submitBlock(ctx context.Context, nc *node.Client, block []byte, hash [32]byte, mode string) bool {
	reason, err := nc.SubmitBlock(context.WithoutCancel(ctx), block)
	h := chainhash.Hash(hash)
	if err != nil || reason != "" {
		m.cfg.Log.Warn("own node refused the block", zap.String("mode", mode), zap.Stringer("hash", &h),
			zap.String("reason", reason), zap.Error(err))
		return false
	}
	m.cfg.Log.Info("block found", zap.String("mode", mode), zap.Stringer("hash", &h))
	return true
}

// solo mines the own node's templates, paying SoloScript, until ctx ends.
func (m *miner) solo(ctx context.Context, nc *node.Client, tpls *latestTemplate) {
	b, err := template.NewBuilder(template.BuilderConfig{PayoutScript: m.cfg.JD.SoloScript, PoolTag: m.cfg.JD.Tag, ExtranonceSize: 8})
	if err != nil {
		m.cfg.Log.Error("solo mining impossible", zap.Error(err))
		<-ctx.Done()
		return
	}
	m.drainShares()
	m.box.Store(&workBox{next: make(chan struct{})})
	m.clean.Store(0)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var seen uint64
		var prev [32]byte
		for {
			tpl, seq, err := tpls.wait(gctx, nil, seen, 0)
			if err != nil {
				return nil
			}
			seen = seq
			j, err := b.Build(tpl, uint32(seq), tpl.PrevHash != prev, time.Now())
			if err != nil {
				m.cfg.Log.Warn("solo job", zap.Error(err))
				continue
			}
			prev = tpl.PrevHash
			m.publish(&soloJob{j: j, n: seq})
		}
	})
	for i := range m.cfg.Threads {
		g.Go(func() error { m.hashLoop(gctx, i); return nil })
	}
	g.Go(func() error {
		for {
			f, ok := m.nextShare(gctx)
			if !ok {
				return nil
			}
			sj := f.work.(*soloJob)
			var h share.Header
			sj.header(&h, nil, f.en2, f.ntime)
			binary.LittleEndian.PutUint32(h[76:], f.nonce)
			if m.submitBlock(gctx, nc, sj.j.Block(&h, f.en2), share.DoubleSHA256(h[:]), "solo") {
				m.rec.jd.block("solo")
				// The rest of this template's solutions are at a height
				// the node has now.
				m.clean.Store(sj.n + 1)
			}
		}
	})
	g.Wait()
}

// drainShares discards shares a previous session left queued.
func (m *miner) drainShares() {
	for {
		select {
		case <-m.shares:
		default:
			return
		}
	}
}

// soloJob is a solo-mining job on the own node: every share is a block.
type soloJob struct {
	j *share.Job
	n uint64
}

func (s *soloJob) id() string                  { return "solo-" + strconv.FormatUint(s.n, 10) }
func (s *soloJob) seq() uint64                 { return s.n }
func (s *soloJob) clean() bool                 { return s.j.Clean }
func (s *soloJob) target() *share.Target       { return &s.j.NetworkTarget }
func (s *soloJob) difficulty() float64         { return s.j.NetworkTarget.Difficulty() }
func (s *soloJob) ntime() uint32               { return s.j.CurTime }
func (s *soloJob) extranonceSize() int         { return s.j.ExtranonceSize }
func (s *soloJob) versionMask() uint32         { return 0 }
func (s *soloJob) rolledVersion(uint32) uint32 { return s.j.Version }

func (s *soloJob) header(h *share.Header, scratch, en []byte, ntime uint32) []byte {
	scratch = append(append(append(scratch[:0], s.j.CoinbasePrefix...), en...), s.j.CoinbaseSuffix...)
	root := share.MerkleRoot(share.DoubleSHA256(scratch), s.j.MerkleBranch)
	share.PutHeader(h, s.j.Version, &s.j.PrevHash, &root, ntime, s.j.Bits, 0)
	return scratch
}

// latestTemplate holds the own node's newest template; next is closed
// when a newer one replaces it.
type latestTemplate struct {
	mu   sync.Mutex
	tpl  *node.Template
	seq  uint64
	next chan struct{}
}

func (l *latestTemplate) set(t *node.Template) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tpl = t
	l.seq++
	close(l.next)
	l.next = make(chan struct{})
}

// wait returns the newest template once its sequence number is above
// seen, or after again (when > 0) whatever it is, or an error when ctx
// ends or gone is closed.
func (l *latestTemplate) wait(ctx context.Context, gone <-chan struct{}, seen uint64, again time.Duration) (*node.Template, uint64, error) {
	var timeout <-chan time.Time
	if again > 0 {
		t := time.NewTimer(again)
		defer t.Stop()
		timeout = t.C
	}
	for {
		l.mu.Lock()
		t, seq, next := l.tpl, l.seq, l.next
		l.mu.Unlock()
		if seq > seen {
			return t, seq, nil
		}
		select {
		case <-next:
		case <-timeout:
			return t, seq, nil
		case <-gone:
			return nil, 0, errors.New("the job declarator connection ended")
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

// templatePoll bounds a longpoll: a node that never answers one is polled.
const templatePoll = 10 * time.Second

// watchTemplates follows the node's templates (GBT longpoll, bounded by
// templatePoll, then a plain poll) and stores each new one, a new tip or
// a new longpoll id, in l until ctx ends.
func watchTemplates(ctx context.Context, nc *node.Client, l *latestTemplate, log *zap.Logger) {
	var lpid string
	var prev chainhash.Hash
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, templatePoll)
		t, err := nc.GetBlockTemplate(cctx, lpid)
		cancel()
		if err != nil && ctx.Err() == nil && lpid != "" {
			t, err = nc.GetBlockTemplate(ctx, "")
		}
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("own node: getblocktemplate failed", zap.Error(err))
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		if t.PrevHash != prev || t.LongPollID != lpid || lpid == "" {
			log.Debug("own node template", zap.Int64("height", t.Height), zap.Stringer("prev", t.PrevHash),
				zap.Int("txs", len(t.Transactions)), zap.String("longpollid", t.LongPollID))
			l.set(t)
		}
		prev, lpid = t.PrevHash, t.LongPollID
	}
}

// jdRecorder counts a JD miner's modes, fallbacks, declarations and blocks.
type jdRecorder struct {
	mu sync.Mutex
	s  jdSummary
}

// jdSummary is the JD part of the summary (present in JD mode only).
type jdSummary struct {
	// Mode is the mode at the end: "pool" or "solo".
	Mode string `json:"mode"`
	// Fallbacks counts the switches to solo mining (a failed first
	// connection included).
	Fallbacks    uint64       `json:"fallbacks"`
	DeclaredJobs declaredJobs `json:"declared_jobs"`
	BlocksSolo   uint64       `json:"blocks_solo"`
	BlocksPool   uint64       `json:"blocks_pool"`
}

// declaredJobs counts jobs the pool took (DeclareMiningJob.Success and
// then SetCustomMiningJob.Success) and refusals of either by error code.
type declaredJobs struct {
	Accepted uint64            `json:"accepted"`
	Rejected map[string]uint64 `json:"rejected"`
}

func (r *jdRecorder) setMode(m string) {
	r.mu.Lock()
	r.s.Mode = m
	r.mu.Unlock()
}

func (r *jdRecorder) fallback() {
	r.mu.Lock()
	r.s.Fallbacks++
	r.mu.Unlock()
}

// declared counts an accepted job (code "") or a refusal.
func (r *jdRecorder) declared(code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if code == "" {
		r.s.DeclaredJobs.Accepted++
		return
	}
	if r.s.DeclaredJobs.Rejected == nil {
		r.s.DeclaredJobs.Rejected = map[string]uint64{}
	}
	r.s.DeclaredJobs.Rejected[code]++
}

func (r *jdRecorder) block(mode string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if mode == "solo" {
		r.s.BlocksSolo++
	} else {
		r.s.BlocksPool++
	}
}

func (r *jdRecorder) summary() *jdSummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.s
	s.DeclaredJobs.Rejected = map[string]uint64{}
	for c, n := range r.s.DeclaredJobs.Rejected {
		s.DeclaredJobs.Rejected[c] = n
	}
	return &s
}
