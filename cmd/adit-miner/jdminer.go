package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/adit-pool/adit/pool/jdc"
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

// runJD mines in JD mode until ctx ends: on the pool while it works, solo
// on the own node otherwise, retrying the pool every Retry.
func (m *miner) runJD(ctx context.Context) error {
	jd := m.cfg.JD
	nc, err := node.New(jd.Node, m.cfg.Log.Named("node"), nil)
	if err != nil {
		return err
	}
	defer nc.Close()
	tpls := jdc.NewTemplates()
	var wg sync.WaitGroup
	wctx, stop := context.WithCancel(ctx)
	wg.Go(func() { tpls.Watch(wctx, nc, m.cfg.Log) })
	defer func() { stop(); wg.Wait() }()

	up, err := m.dialUpstream(ctx)
	for ctx.Err() == nil {
		if err == nil {
			m.rec.jd.setMode("pool")
			m.cfg.Log.Info("mining on the pool with declared jobs", zap.String("jds", jd.Addr), zap.String("pool", m.v2Addr))
			err = m.poolJD(ctx, up, nc, tpls)
			up.Close()
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
func (m *miner) dialUpstream(ctx context.Context) (*jdc.Upstream, error) {
	v2 := m.cfg.V2
	up, err := jdc.Dial(ctx, jdc.DialConfig{JDS: m.cfg.JD.Addr, Pool: m.v2Addr, Authority: v2.Authority,
		InsecureSkipVerify: v2.InsecureSkipVerify, User: m.cfg.Client.Username, Hashrate: m.v2Hashrate(),
		Vendor: "adit-miner", Timeout: m.cfg.Client.Timeout})
	if err != nil {
		m.rec.dialFailed()
	}
	return up, err
}

// soloUntilPool mines solo until the pool works again (returning the
// upstream) or ctx ends (returning ctx's error).
func (m *miner) soloUntilPool(ctx context.Context, nc *node.Client, tpls *jdc.Templates) (*jdc.Upstream, error) {
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
func (m *miner) poolJD(ctx context.Context, up *jdc.Upstream, nc *node.Client, tpls *jdc.Templates) error {
	jd := m.cfg.JD
	d := &jdc.Declarer{Up: up, Tag: jd.Tag, Exclude: func(tx *jdclient.TemplateTx) bool { return jd.Exclude[tx.TxID] },
		Retry: jd.Retry, Result: m.rec.jd.declared, Log: m.cfg.Log}
	loop := func(ctx context.Context) error {
		if err := d.Run(ctx, tpls); err != nil {
			return fmt.Errorf("fall back to solo: %w", err)
		}
		return nil
	}
	found := func(v *v2Job, f found) {
		j := d.Job(v.w.JobID)
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
		if err := up.JD.PushSolution(&codec.PushSolution{Extranonce: en, PrevHash: v.w.PrevHash, Nonce: f.nonce,
			NTime: f.ntime, NBits: v.w.NBits, Version: version}); err != nil {
			m.cfg.Log.Warn("PushSolution failed", zap.Error(err))
		}
	}
	return m.mineV2(ctx, up.Mining, up.Channel, v2Hooks{accept: func(w *sv2client.Work) bool { return w.Custom }, run: loop, found: found})
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
func (m *miner) solo(ctx context.Context, nc *node.Client, tpls *jdc.Templates) {
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
			tpl, seq, err := tpls.Wait(gctx, nil, seen, 0)
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
