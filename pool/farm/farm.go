// Package farm is adit-proxy's core: a mining farm's own pool for its
// Stratum V1 miners, whose jobs are the farm's own templates declared to
// the upstream pool. It is the share.Backend of a Stratum V1 server (the
// pool's own, unchanged): jobs come from the farm's node through the Job
// Declarator Client (pool/jdc), every downstream share is validated locally
// by the share validator, and those meeting the upstream channel's target
// are forwarded on the one extended channel; a block goes to the farm's
// node and to the pool's JDS (PushSolution) at once, and upstream as a
// share.
//
// Extranonce: the upstream channel gives a prefix P (the pool's) and n
// rollable bytes. Local jobs carry P at the end of their coinbase prefix,
// so each downstream miner's extranonce1 is a MinerPrefix-byte slot of the
// n (zero padded) and its extranonce2 the rest: a share's upstream
// extranonce is extranonce1 ‖ extranonce2. The slots do not depend on P, so
// downstream miners keep them across upstream reconnections.
package farm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/adit-pool/adit/pool"
	"github.com/adit-pool/adit/pool/jdc"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum"
	sv2client "github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/jdclient"
)

// Config is a Farm's configuration.
type Config struct {
	// Upstream is the pool: its JDS and mining port, authority key and the
	// identity it credits (the farm's address.worker).
	Upstream jdc.DialConfig
	// Node is the farm's own node: templates, and its blocks.
	Node node.Config
	// Tag is the coinbase scriptSig tag; Exclude the transaction policy
	// (a txid left out takes its descendants along).
	Tag     string
	Exclude func(tx *jdclient.TemplateTx) bool
	// Retry is the pause before redialling the pool, and before declaring
	// a template again after stale-chain-tip. Default 5 s.
	Retry time.Duration
	// Stratum is the downstream Stratum V1 listener; Vardiff its miners'
	// difficulty.
	Stratum stratum.Config
	Vardiff pool.VardiffConfig
	// MinerPrefix is how many extranonce bytes tell the downstream miners
	// apart (default 2: 65,536 miners).
	MinerPrefix int
	// BlockFloor (test networks only, 0: none) is a difficulty a share must
	// also meet to be a block: the pool's [regtest] block_floor_difficulty.
	BlockFloor float64
}

// Farm serves the downstream miners. Create it with New, run it with Run.
type Farm struct {
	cfg       Config
	log       *zap.Logger
	m         *metrics
	validator *share.Validator
	ids       *share.JobIDs
	hub       *pool.JobHub
	stratum   *stratum.Server
	nc        *node.Client
	tpls      *jdc.Templates
	slots     *slots
	worker    share.Worker // what Authorize returns: the farm's own address

	mu     sync.Mutex
	up     *jdc.Upstream
	target share.Target         // the upstream channel's current target
	jobs   map[uint32]*localJob // by local job id, the newest maxJobs
	order  []uint32             // local job ids, oldest first
	prev   [32]byte             // the newest local job's prev hash
}

// localJob is a downstream job and the upstream custom job it stands for.
type localJob struct {
	up   *jdc.Upstream
	work sv2client.Work
	job  *share.Job
}

// maxJobs bounds the local jobs kept for forwarding shares.
const maxJobs = 32

var _ share.Backend = (*Farm)(nil)

// New checks cfg and builds the farm and its downstream server; reg
// receives the metrics (nil: none).
func New(cfg Config, log *zap.Logger, reg prometheus.Registerer) (*Farm, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 5 * time.Second
	}
	if cfg.MinerPrefix == 0 {
		cfg.MinerPrefix = 2
	}
	if cfg.MinerPrefix < 1 || cfg.MinerPrefix > 4 {
		return nil, fmt.Errorf("farm: miner prefix %d bytes, want 1 to 4", cfg.MinerPrefix)
	}
	if err := cfg.Vardiff.Validate(); err != nil {
		return nil, fmt.Errorf("farm: %w", err)
	}
	addr, _, _ := strings.Cut(cfg.Upstream.User, ".")
	if addr == "" {
		return nil, errors.New("farm: the upstream user (the farm's address.worker) is required")
	}
	nc, err := node.New(cfg.Node, log.Named("node"), nil)
	if err != nil {
		return nil, fmt.Errorf("farm: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	var vcfg share.ValidatorConfig
	if cfg.BlockFloor > 0 {
		floor := share.TargetFromDifficulty(cfg.BlockFloor)
		vcfg.BlockFloor = &floor
	}
	f := &Farm{
		cfg:       cfg,
		log:       log,
		m:         m,
		validator: share.NewValidator(vcfg),
		ids:       share.NewJobIDs(rand.Uint32()),
		hub:       pool.NewJobHub(m.broadcast),
		nc:        nc,
		tpls:      jdc.NewTemplates(),
		slots:     newSlots(cfg.MinerPrefix),
		worker:    share.Worker{Address: addr},
		jobs:      make(map[uint32]*localJob),
	}
	f.stratum, err = stratum.NewServer(cfg.Stratum.WithDefaults(), stratum.Deps{
		Validator: f.validator, Backend: f, Log: log.Named("stratum"), Registerer: reg,
		Shares: m.downstream, Connections: m.connections,
	})
	if err != nil {
		return nil, fmt.Errorf("farm: %w", err)
	}
	return f, nil
}

// Addr is the downstream listener's address once Run listens (nil before).
func (f *Farm) Addr() net.Addr { return f.stratum.Addr() }

// Run serves until ctx ends: the downstream listener, the farm node's
// templates, and the pool (redialled every Retry while it is away; the
// downstream miners get no new work meanwhile).
func (f *Farm) Run(ctx context.Context) error {
	defer f.nc.Close()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return f.stratum.Run(ctx) })
	g.Go(func() error { f.tpls.Watch(ctx, f.nc, f.log.Named("templates")); return nil })
	g.Go(func() error { f.upstreamLoop(ctx); return nil })
	return g.Wait()
}

// upstreamLoop keeps one upstream session going until ctx ends.
func (f *Farm) upstreamLoop(ctx context.Context) {
	for ctx.Err() == nil {
		up, err := jdc.Dial(ctx, f.cfg.Upstream)
		if err != nil {
			f.log.Warn("the pool is unavailable", zap.Error(err), zap.Duration("retry_in", f.cfg.Retry))
		} else {
			f.log.Info("declaring jobs to the pool", zap.String("jds", f.cfg.Upstream.JDS), zap.String("pool", f.cfg.Upstream.Pool),
				zap.Int("extranonce", up.ExtranonceSize()), zap.Int("miner_extranonce2", up.Channel.ExtranonceSize-f.cfg.MinerPrefix))
			err = f.session(ctx, up)
			up.Close()
			if ctx.Err() != nil {
				return
			}
			f.log.Warn("upstream session ended", zap.Error(err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(f.cfg.Retry):
		}
	}
}

// session runs one upstream: the declarations, and the channel's targets
// and share results.
func (f *Farm) session(ctx context.Context, up *jdc.Upstream) error {
	if up.Channel.ExtranonceSize < f.cfg.MinerPrefix+2 {
		return fmt.Errorf("farm: the pool's channel rolls %d extranonce bytes, the farm needs at least %d", up.Channel.ExtranonceSize, f.cfg.MinerPrefix+2)
	}
	f.mu.Lock()
	f.up, f.target = up, up.Channel.Target
	f.mu.Unlock()
	f.m.upstream.Set(1)
	defer func() {
		f.mu.Lock()
		f.up = nil
		f.mu.Unlock()
		f.m.upstream.Set(0)
	}()
	g, gctx := errgroup.WithContext(ctx)
	d := &jdc.Declarer{Up: up, Tag: f.cfg.Tag, Exclude: f.cfg.Exclude, Retry: f.cfg.Retry, Log: f.log.Named("jdc"),
		Result: func(code string) { f.m.declared(code) },
		OnJob:  func(w *sv2client.Work, j *jdclient.Job) { f.publish(up, w, j) }}
	g.Go(func() error {
		if err := d.Run(gctx, f.tpls); err != nil {
			return err
		}
		return gctx.Err()
	})
	g.Go(func() error {
		for {
			select {
			case w := <-up.Mining.Work():
				if w.Custom && w.ChannelID == up.Channel.ID {
					f.mu.Lock()
					f.target = w.Target
					f.mu.Unlock()
				}
			case r := <-up.Mining.Results():
				f.m.result(r)
			case <-up.Mining.Done():
				return fmt.Errorf("pool connection ended: %w", up.Mining.Err())
			case <-gctx.Done():
				return gctx.Err()
			}
		}
	})
	return g.Wait()
}

// publish makes the pool's custom job w (declared as j) the downstream
// miners' job: j's coinbase with the channel's extranonce prefix moved into
// the coinbase prefix.
func (f *Farm) publish(up *jdc.Upstream, w *sv2client.Work, j *jdclient.Job) {
	lj := *j.Share
	lj.ID = f.ids.Next()
	lj.CoinbasePrefix = append(append([]byte(nil), j.Share.CoinbasePrefix...), w.ExtranoncePrefix...)
	lj.ExtranonceSize = j.Share.ExtranonceSize - len(w.ExtranoncePrefix)
	lj.Created = time.Now()
	f.mu.Lock()
	lj.Clean = lj.PrevHash != f.prev
	f.prev = lj.PrevHash
	f.mu.Unlock()
	if err := lj.Validate(); err != nil {
		f.log.Error("declared job unusable downstream", zap.Error(err))
		return
	}
	f.mu.Lock()
	f.jobs[lj.ID] = &localJob{up: up, work: *w, job: &lj}
	f.order = append(f.order, lj.ID)
	if len(f.order) > maxJobs {
		delete(f.jobs, f.order[0])
		f.order = f.order[1:]
	}
	f.mu.Unlock()
	f.validator.AddJob(&lj)
	f.hub.Publish(&lj)
	f.m.jobs.Inc()
}

// Authorize implements share.Backend: any name is one of the farm's
// miners; the shares are the farm's, credited upstream to its address.
func (f *Farm) Authorize(username, _ string) (share.Worker, error) {
	w := f.worker
	w.Name = username
	return w, nil
}

// NewVardiff implements share.Backend.
func (f *Farm) NewVardiff() share.Vardiff { return pool.NewVardiff(&f.cfg.Vardiff) }

// AllocateExtranonce implements share.Backend: a free miner slot.
func (f *Farm) AllocateExtranonce() ([]byte, func(), error) { return f.slots.take() }

// SubscribeJobs implements share.Backend.
func (f *Farm) SubscribeJobs() (<-chan *share.Job, func()) { return f.hub.Subscribe() }

// Accept implements share.Backend: the share counts locally; one meeting
// the upstream target goes upstream on the job's channel, and a block goes
// to the farm's node and the JDS at once.
func (f *Farm) Accept(ctx context.Context, rec *share.Record, res *share.Result) error {
	f.mu.Lock()
	lj := f.jobs[res.Job.ID]
	target := f.target
	current := f.up
	f.mu.Unlock()
	if lj == nil {
		return nil
	}
	en := make([]byte, 0, len(res.ExtranoncePrefix)+len(res.Extranonce))
	en = append(append(en, res.ExtranoncePrefix...), res.Extranonce...)
	version := binary.LittleEndian.Uint32(res.Header[0:4])
	ntime := binary.LittleEndian.Uint32(res.Header[68:72])
	nonce := binary.LittleEndian.Uint32(res.Header[76:80])
	if res.Block {
		f.m.blocks.Inc()
		f.log.Info("block found", zap.Int64("height", res.Job.Height), zap.Stringer("hash", chainhash.Hash(res.Hash)),
			zap.String("worker", rec.Worker.Name))
		f.submitBlock(res.BlockData, res.Hash)
		full := append(append([]byte(nil), lj.work.ExtranoncePrefix...), en...)
		if err := lj.up.JD.PushSolution(&codec.PushSolution{Extranonce: full, PrevHash: lj.work.PrevHash, Nonce: nonce,
			NTime: ntime, NBits: lj.work.NBits, Version: version}); err != nil {
			f.log.Warn("PushSolution failed", zap.Error(err))
		}
	}
	if lj.up != current || !(res.Block || target.Met(&res.Hash)) {
		return nil // below the pool's target, or for a pool session that ended
	}
	if _, err := lj.up.Mining.Submit(&lj.work, en, ntime, nonce, version); err != nil {
		f.log.Warn("forwarding a share failed", zap.Error(err))
		return nil // the pool is going away; the share stays counted here
	}
	f.m.forwarded.Inc()
	return nil
}

// submitBlock sends a block to the farm's node on a goroutine of its own.
func (f *Farm) submitBlock(block []byte, hash [32]byte) {
	if block == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		reason, err := f.nc.SubmitBlock(ctx, block)
		if err != nil || reason != "" {
			f.log.Warn("the farm's node refused the block", zap.Stringer("hash", chainhash.Hash(hash)),
				zap.String("reason", reason), zap.Error(err))
		}
	}()
}
