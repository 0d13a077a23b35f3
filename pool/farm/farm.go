// Package farm is adit-proxy's core: a mining farm's own pool for its
// Stratum V1 miners, whose jobs are the farm's own templates declared to
// the upstream pool. It is the share.Backend of a Stratum V1 server (the
// pool's own, unchanged): every downstream share is validated locally by
// the share validator, and those meeting the upstream channel's target are
// forwarded on one extended channel.
//
// Modes, in the order of preference (see Config.Modes): jd (the farm's
// templates, declared through pool/jdc), pool (the pool's own jobs on an
// extended channel), solo (the farm's templates paying SoloScript, blocks
// to the farm's node only) and backup (another pool's jobs). The farm runs
// the first mode that works, falls to the next when it fails (a refused
// declaration, the pool or the farm's node gone), and returns to a
// preferred one when it works again (probed every Retry). A found block
// goes to the farm's node at once, in jd mode to the JDS too
// (PushSolution), and upstream as a share.
//
// Extranonce: every local job has the same extranonce area, Extranonce =
// 4 + the downstream extranonce2 size bytes: a miner's extranonce1 is its
// MinerPrefix-byte slot, zero padded to 4. An upstream channel gives a
// prefix P (the pool's) and n ≥ Extranonce rollable bytes; local jobs carry
// P and n − Extranonce zero bytes at the end of their coinbase prefix, so a
// share's upstream extranonce is those zeros ‖ extranonce1 ‖ extranonce2.
// Slots and jobs do not depend on the upstream, so downstream miners keep
// mining across reconnections and mode switches.
package farm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
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
	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum"
	"github.com/adit-pool/adit/sv2"
	sv2client "github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/jdclient"
	"github.com/adit-pool/adit/sv2/noise"
)

// Mode names.
const (
	ModeJD     = "jd"
	ModePool   = "pool"
	ModeSolo   = "solo"
	ModeBackup = "backup"
)

// Config is a Farm's configuration.
type Config struct {
	// Modes are the modes to run, most preferred first (ModeJD, ModePool,
	// ModeSolo, ModeBackup); default jd, pool, solo, then backup when
	// Backup is set.
	Modes []string
	// Upstream is the pool: its JDS and mining port, authority key and the
	// identity it credits (the farm's address.worker). Pool mode uses its
	// mining port alone.
	Upstream jdc.DialConfig
	// Backup is another pool's mining port for backup mode (JDS unused).
	Backup *jdc.DialConfig
	// Node is the farm's own node: templates, and its blocks.
	Node node.Config
	// SoloScript is what solo blocks pay; nil leaves solo mode out.
	SoloScript []byte
	// Tag is the coinbase scriptSig tag; Exclude the transaction policy
	// (see Policy; a transaction left out takes its descendants along).
	Tag     string
	Exclude func(tx *jdclient.TemplateTx) bool
	// Retry is the pause before probing a preferred mode again, and before
	// declaring a template again after stale-chain-tip. Default 5 s.
	Retry time.Duration
	// Stratum is the downstream Stratum V1 listener; Vardiff its miners'
	// difficulty.
	Stratum stratum.Config
	Vardiff pool.VardiffConfig
	// SV2, when set, is a downstream Stratum V2 listener too (standard and
	// extended channels), with SV2Keys the farm's own Noise certificates.
	SV2     *sv2.Config
	SV2Keys noise.KeySource
	// MinerPrefix is how many extranonce bytes tell the downstream miners
	// apart (1 to 4, default 2: 65,536 miners).
	MinerPrefix int
	// BlockFloor (test networks only, 0: none) is a difficulty a share must
	// also meet to be a block: the pool's [regtest] block_floor_difficulty.
	BlockFloor float64
	// NodeTimeout is how long the farm's node may not answer before the
	// modes built on its templates (jd, solo) give up. Default 30 s.
	NodeTimeout time.Duration
	// Refresh is how often jd and solo mode make a fresh job from the
	// current template when it does not change (a job takes at most 2^20
	// shares). Default 30 s.
	Refresh time.Duration
}

// Farm serves the downstream miners. Create it with New, run it with Run.
type Farm struct {
	cfg        Config
	modes      []string
	log        *zap.Logger
	m          *metrics
	validator  *share.Validator
	ids        *share.JobIDs
	hub        *pool.JobHub
	stratum    *stratum.Server
	sv2        *sv2.Server // nil without Config.SV2
	nc         *node.Client
	tpls       *jdc.Templates
	slots      *slots
	worker     share.Worker // what Authorize returns: the farm's own address
	workers    *workers
	extranonce int // every local job's extranonce area

	mu      sync.Mutex
	runs    uint64               // mode runs started
	owner   uint64               // the run whose jobs the miners get
	cleaned uint64               // the run whose first job was published
	mode    string               // the owner's mode, "" while none works
	jobs    map[uint32]*localJob // by local job id, the newest maxJobs
	order   []uint32             // local job ids, oldest first
	prev    [32]byte             // the newest local job's prev hash
}

// localJob is a downstream job and where its shares go.
type localJob struct {
	job *share.Job
	up  *upstream // nil: solo (nothing forwarded)
	// work is the upstream job (custom or the pool's) the local job is.
	work sv2client.Work
	// pad are the zero bytes between the channel's prefix and the
	// downstream extranonce.
	pad int
}

// upstream is one running pool session: its connection, channel and the
// channel's current target; jd is set in jd mode.
type upstream struct {
	c  *sv2client.Client
	ch *sv2client.Channel
	jd *jdclient.Conn

	mu     sync.Mutex
	target share.Target
	closed bool
}

func (u *upstream) currentTarget() (share.Target, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.target, !u.closed
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
	if cfg.NodeTimeout <= 0 {
		cfg.NodeTimeout = 30 * time.Second
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 30 * time.Second
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
	modes, err := cfg.modes()
	if err != nil {
		return nil, err
	}
	nc, err := node.New(cfg.Node, log.Named("node"), nil)
	if err != nil {
		return nil, fmt.Errorf("farm: %w", err)
	}
	m, err := newMetrics(reg, modes)
	if err != nil {
		return nil, err
	}
	var vcfg share.ValidatorConfig
	if cfg.BlockFloor > 0 {
		floor := share.TargetFromDifficulty(cfg.BlockFloor)
		vcfg.BlockFloor = &floor
	}
	sc := cfg.Stratum.WithDefaults()
	f := &Farm{
		cfg:        cfg,
		modes:      modes,
		log:        log,
		m:          m,
		validator:  share.NewValidator(vcfg),
		ids:        share.NewJobIDs(rand.Uint32()),
		hub:        pool.NewJobHub(m.broadcast),
		nc:         nc,
		tpls:       jdc.NewTemplates(),
		slots:      newSlots(cfg.MinerPrefix),
		worker:     share.Worker{Address: addr},
		workers:    newWorkers(),
		extranonce: 4 + sc.Extranonce2Size,
		jobs:       make(map[uint32]*localJob),
	}
	f.stratum, err = stratum.NewServer(sc, stratum.Deps{
		Validator: f.validator, Backend: f, Log: log.Named("stratum"), Registerer: reg,
		Shares:      m.downstream.MustCurryWith(prometheus.Labels{"protocol": share.ProtocolV1.String()}),
		Connections: m.connections.WithLabelValues(share.ProtocolV1.String()),
	})
	if err != nil {
		return nil, fmt.Errorf("farm: %w", err)
	}
	if cfg.SV2 != nil {
		f.sv2, err = sv2.NewServer(*cfg.SV2, sv2.Deps{
			Validator: f.validator, Backend: f, Keys: cfg.SV2Keys, Log: log.Named("sv2"), Registerer: reg,
			Shares:      m.downstream.MustCurryWith(prometheus.Labels{"protocol": share.ProtocolV2.String()}),
			Connections: m.connections.WithLabelValues(share.ProtocolV2.String()),
		})
		if err != nil {
			return nil, fmt.Errorf("farm: %w", err)
		}
	}
	return f, nil
}

// modes returns the modes in order, checked.
func (c Config) modes() ([]string, error) {
	modes := c.Modes
	if len(modes) == 0 {
		modes = []string{ModeJD, ModePool}
		if c.SoloScript != nil {
			modes = append(modes, ModeSolo)
		}
		if c.Backup != nil {
			modes = append(modes, ModeBackup)
		}
	}
	seen := map[string]bool{}
	for _, m := range modes {
		switch {
		case seen[m]:
			return nil, fmt.Errorf("farm: mode %q listed twice", m)
		case m == ModeSolo && c.SoloScript == nil:
			return nil, errors.New("farm: solo mode needs a solo payout script")
		case m == ModeBackup && c.Backup == nil:
			return nil, errors.New("farm: backup mode needs a backup pool")
		case m != ModeJD && m != ModePool && m != ModeSolo && m != ModeBackup:
			return nil, fmt.Errorf("farm: unknown mode %q (jd, pool, solo, backup)", m)
		}
		seen[m] = true
	}
	return modes, nil
}

// Addr is the downstream V1 listener's address once Run listens (nil
// before).
func (f *Farm) Addr() net.Addr { return f.stratum.Addr() }

// SV2Addr is the downstream V2 listener's address once Run listens (nil
// before or without one).
func (f *Farm) SV2Addr() net.Addr {
	if f.sv2 == nil {
		return nil
	}
	return f.sv2.Addr()
}

// Mode is the running mode, "" while none works.
func (f *Farm) Mode() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mode
}

// Run serves until ctx ends: the downstream listener, the farm node's
// templates and the modes.
func (f *Farm) Run(ctx context.Context) error {
	defer f.nc.Close()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return f.stratum.Run(ctx) })
	if f.sv2 != nil {
		g.Go(func() error { return f.sv2.Run(ctx) })
	}
	g.Go(func() error { f.tpls.Watch(ctx, f.nc, f.log.Named("templates")); return nil })
	g.Go(func() error { f.supervise(ctx); return nil })
	return g.Wait()
}

// handover is how long a mode left for a preferred one keeps its upstream
// open: shares on its jobs still in flight are forwarded, not lost.
const handover = 5 * time.Second

// modeRun is one run of a mode; only the newest run's jobs reach the
// miners (see publish).
type modeRun struct{ id uint64 }

// supervise runs the most preferred mode that works until ctx ends: a mode
// that fails hands over to the next (each switch logged and counted), and
// while a less preferred one runs the preferred ones are probed every Retry;
// a mode left for a preferred one stops handover after it (make before
// break). A mode that fails soon after it started waits twice as long
// before it is tried again, up to 32 × Retry.
func (f *Farm) supervise(ctx context.Context) {
	n := len(f.modes)
	backoff := make([]time.Duration, n)
	notBefore := make([]time.Time, n)
	for i := range backoff {
		backoff[i] = f.cfg.Retry
	}
	var leaving sync.WaitGroup
	defer leaving.Wait()
	for ctx.Err() == nil {
		i := slices.IndexFunc(notBefore, func(t time.Time) bool { return !time.Now().Before(t) })
		if i < 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(slices.MinFunc(notBefore, time.Time.Compare))):
			}
			continue
		}
		mode := f.modes[i]
		f.mu.Lock()
		f.runs++
		r := &modeRun{id: f.runs}
		f.mu.Unlock()
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		started := time.Now()
		go func() { done <- f.runMode(mctx, mode, r) }()
		better := make(chan int, 1)
		waiting := slices.Clone(notBefore)
		go func() {
			if j, ok := f.probe(mctx, i, waiting); ok {
				better <- j
			}
		}()
		select {
		case j := <-better:
			f.log.Info("returning to a preferred mode", zap.String("from", mode), zap.String("to", f.modes[j]))
			leaving.Go(func() {
				select {
				case <-time.After(handover):
				case <-ctx.Done():
				}
				cancel()
				<-done
			})
			continue
		case err := <-done:
			cancel()
			if ctx.Err() != nil {
				return
			}
			if time.Since(started) < 4*backoff[i] {
				backoff[i] = min(2*backoff[i], 32*f.cfg.Retry)
			} else {
				backoff[i] = f.cfg.Retry
			}
			notBefore[i] = time.Now().Add(backoff[i])
			f.log.Warn("mode failed: falling back", zap.String("mode", mode), zap.Error(err), zap.Duration("retry_in", backoff[i]))
		}
	}
}

// probe returns the most preferred mode before index cur that would work
// now (checked every Retry, skipping those not to be tried before their
// notBefore), or false when ctx ends first.
func (f *Farm) probe(ctx context.Context, cur int, notBefore []time.Time) (int, bool) {
	if cur == 0 {
		return 0, false
	}
	t := time.NewTicker(f.cfg.Retry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, false
		case <-t.C:
		}
		for j := 0; j < cur; j++ {
			if !time.Now().Before(notBefore[j]) && f.works(ctx, f.modes[j]) {
				return j, true
			}
		}
	}
}

// works reports whether mode could run now: its pool answers, and the
// farm's node does for the modes that need templates.
func (f *Farm) works(ctx context.Context, mode string) bool {
	if (mode == ModeJD || mode == ModeSolo) && !f.nodeAnswers(ctx) {
		return false
	}
	var err error
	switch mode {
	case ModeJD:
		var up *jdc.Upstream
		if up, err = jdc.Dial(ctx, f.cfg.Upstream); err == nil {
			up.Close()
		}
	case ModePool, ModeBackup:
		var c *sv2client.Client
		if c, err = sv2client.Dial(ctx, f.poolDial(mode).Pool, f.clientConfig(f.poolDial(mode))); err == nil {
			c.Close()
		}
	}
	return err == nil
}

// runMode runs mode until it fails (or ctx ends) and returns why.
func (f *Farm) runMode(ctx context.Context, mode string, r *modeRun) error {
	var err error
	switch mode {
	case ModeJD:
		err = f.runJD(ctx, r)
	case ModePool, ModeBackup:
		err = f.runPool(ctx, mode, r)
	case ModeSolo:
		err = f.runSolo(ctx, r)
	}
	f.mu.Lock()
	last := f.owner == r.id
	old := f.mode
	if last {
		f.mode = ""
	}
	f.mu.Unlock()
	if last {
		f.m.setMode(old, "")
	}
	return err
}

// setMode makes r the run whose jobs the miners get, in mode, and counts
// the switch.
func (f *Farm) setMode(r *modeRun, mode string) {
	f.mu.Lock()
	old := f.mode
	f.owner, f.mode = r.id, mode
	f.mu.Unlock()
	f.m.setMode(old, mode)
	f.log.Info("mode", zap.String("mode", mode), zap.String("was", old))
}

// nodeAnswers reports whether the farm's node answers an RPC now.
func (f *Farm) nodeAnswers(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, min(2*time.Second, f.cfg.NodeTimeout))
	defer cancel()
	_, err := f.nc.GetBlockCount(ctx)
	return err == nil
}

// nodeWatch fails with an error once the farm's node has not answered for
// NodeTimeout, for the modes built on its templates.
func (f *Farm) nodeWatch(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if f.nodeAnswers(ctx) {
			last = time.Now()
		} else if time.Since(last) > f.cfg.NodeTimeout {
			return fmt.Errorf("farm: the farm's node has not answered for %s", f.cfg.NodeTimeout)
		}
	}
}

// runJD declares the farm's templates to the pool and forwards shares.
func (f *Farm) runJD(ctx context.Context, r *modeRun) error {
	if err := f.waitNode(ctx); err != nil {
		return err
	}
	up, err := jdc.Dial(ctx, f.cfg.Upstream)
	if err != nil {
		return err
	}
	defer up.Close()
	u := &upstream{c: up.Mining, ch: up.Channel, jd: up.JD, target: up.Channel.Target}
	pad, err := f.padding(up.Channel)
	if err != nil {
		return err
	}
	f.setMode(r, ModeJD)
	g, gctx := errgroup.WithContext(ctx)
	d := &jdc.Declarer{Up: up, Tag: f.cfg.Tag, Exclude: f.cfg.Exclude, Retry: f.cfg.Retry, Refresh: f.cfg.Refresh, Log: f.log.Named("jdc"),
		Result: f.m.declared,
		OnJob:  func(w *sv2client.Work, j *jdclient.Job) { f.publishUpstream(r, u, w, j.Share, pad, true) }}
	g.Go(func() error {
		if err := d.Run(gctx, f.tpls); err != nil {
			return err
		}
		return gctx.Err()
	})
	g.Go(func() error { return f.follow(gctx, u, nil) })
	g.Go(func() error { return f.nodeWatch(gctx) })
	err = g.Wait()
	u.close()
	return err
}

// waitNode waits up to NodeTimeout for a template from the farm's node.
func (f *Farm) waitNode(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, f.cfg.NodeTimeout)
	defer cancel()
	if _, _, err := f.tpls.Wait(wctx, nil, 0, 0); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("farm: no template from the farm's node within %s", f.cfg.NodeTimeout)
	}
	return nil
}

func (u *upstream) close() {
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
}

// poolDial is the dial configuration of pool or backup mode.
func (f *Farm) poolDial(mode string) jdc.DialConfig {
	if mode == ModeBackup {
		return *f.cfg.Backup
	}
	return f.cfg.Upstream
}

// clientConfig is the mining connection of pool and backup mode; version
// rolling is required (the downstream miners roll).
func (f *Farm) clientConfig(d jdc.DialConfig) sv2client.Config {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return sv2client.Config{Authority: d.Authority, InsecureSkipVerify: d.InsecureSkipVerify,
		Vendor: "adit-proxy", Timeout: timeout, Flags: sv2.FlagRequiresVersionRolling}
}

// runPool mines the pool's (or the backup pool's) own jobs on an extended
// channel, like a translator.
func (f *Farm) runPool(ctx context.Context, mode string, r *modeRun) error {
	d := f.poolDial(mode)
	cc := f.clientConfig(d)
	c, err := sv2client.Dial(ctx, d.Pool, cc)
	if err != nil {
		return err
	}
	defer c.Close()
	octx, cancel := context.WithTimeout(ctx, cc.Timeout)
	ch, err := c.OpenExtended(octx, d.User, d.Hashrate, uint16(f.extranonce))
	cancel()
	if err != nil {
		return err
	}
	pad, err := f.padding(ch)
	if err != nil {
		return err
	}
	u := &upstream{c: c, ch: ch, target: ch.Target}
	f.setMode(r, mode)
	err = f.follow(ctx, u, func(w sv2client.Work) {
		j, err := poolJob(&w)
		if err != nil {
			f.log.Warn("pool job unusable", zap.Error(err))
			return
		}
		f.publishUpstream(r, u, &w, j, pad, false)
	})
	u.close()
	return err
}

// follow drains the upstream's work and results until it ends: a custom
// job's Work (again after each SetTarget) updates the target; the pool's
// own jobs go to onPoolJob (pool mode).
func (f *Farm) follow(ctx context.Context, u *upstream, onPoolJob func(sv2client.Work)) error {
	for {
		select {
		case w := <-u.c.Work():
			if w.ChannelID != u.ch.ID {
				continue
			}
			u.mu.Lock()
			u.target = w.Target
			u.mu.Unlock()
			if !w.Custom && onPoolJob != nil {
				onPoolJob(w)
			}
		case r := <-u.c.Results():
			f.m.result(r)
		case <-u.c.Done():
			return fmt.Errorf("pool connection ended: %w", u.c.Err())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// runSolo mines the farm's templates paying SoloScript; blocks go to the
// farm's node.
func (f *Farm) runSolo(ctx context.Context, r *modeRun) error {
	if err := f.waitNode(ctx); err != nil {
		return err
	}
	b, err := template.NewBuilder(template.BuilderConfig{PayoutScript: f.cfg.SoloScript, PoolTag: f.cfg.Tag, ExtranonceSize: f.extranonce})
	if err != nil {
		return err
	}
	f.setMode(r, ModeSolo)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return f.nodeWatch(gctx) })
	g.Go(func() error {
		var seen uint64
		for {
			tpl, seq, err := f.tpls.Wait(gctx, nil, seen, f.cfg.Refresh)
			if err != nil {
				return err
			}
			seen = seq
			j, err := b.Build(tpl, f.ids.Next(), false, time.Now())
			if err != nil {
				f.log.Warn("solo job", zap.Error(err))
				continue
			}
			f.publish(r, j, nil, sv2client.Work{}, 0)
		}
	})
	return g.Wait()
}

// padding is how many zero bytes local jobs put between ch's prefix and
// the downstream extranonce.
func (f *Farm) padding(ch *sv2client.Channel) (int, error) {
	if ch.ExtranonceSize < f.extranonce {
		return 0, fmt.Errorf("farm: the pool's channel rolls %d extranonce bytes, the farm's miners need %d", ch.ExtranonceSize, f.extranonce)
	}
	return ch.ExtranonceSize - f.extranonce, nil
}

// publishUpstream makes an upstream job (a custom job declared as sj, or
// one of the pool's) the downstream job: sj's coinbase with the channel's
// extranonce prefix and the padding moved into the coinbase prefix.
func (f *Farm) publishUpstream(r *modeRun, u *upstream, w *sv2client.Work, sj *share.Job, pad int, declared bool) {
	lj := *sj
	lj.ID = f.ids.Next()
	lj.CoinbasePrefix = append(append(append([]byte(nil), sj.CoinbasePrefix...), w.ExtranoncePrefix...), make([]byte, pad)...)
	lj.ExtranonceSize = f.extranonce
	lj.Declared = declared
	f.publish(r, &lj, u, *w, pad)
}

// publish hands j to the downstream miners if r is the newest run (a run
// being left keeps forwarding shares, never publishes). The newest run's
// first job is clean: the miners drop the old run's work at once.
func (f *Farm) publish(r *modeRun, j *share.Job, u *upstream, w sv2client.Work, pad int) {
	j.Created = time.Now()
	f.mu.Lock()
	if r.id != f.owner {
		f.mu.Unlock()
		return
	}
	j.Clean = j.PrevHash != f.prev || f.cleaned != r.id
	f.prev, f.cleaned = j.PrevHash, r.id
	f.mu.Unlock()
	if err := j.Validate(); err != nil {
		f.log.Error("job unusable downstream", zap.Error(err))
		return
	}
	f.mu.Lock()
	f.jobs[j.ID] = &localJob{job: j, up: u, work: w, pad: pad}
	f.order = append(f.order, j.ID)
	if len(f.order) > maxJobs {
		delete(f.jobs, f.order[0])
		f.order = f.order[1:]
	}
	f.mu.Unlock()
	f.validator.AddJob(j)
	f.hub.Publish(j)
	f.m.jobs.Inc()
}

// poolJob is a share.Job for the pool's own job w (its transactions
// unknown, unless there are none: the pool assembles a block found on it).
func poolJob(w *sv2client.Work) (*share.Job, error) {
	height, err := coinbaseHeight(w.CoinbasePrefix)
	if err != nil {
		return nil, err
	}
	return &share.Job{
		Height: height, PrevHash: w.PrevHash, Version: w.Version, Bits: w.NBits,
		NetworkTarget: share.TargetFromCompact(w.NBits), MinTime: w.MinNTime, CurTime: w.MinNTime,
		CoinbasePrefix: w.CoinbasePrefix, CoinbaseSuffix: w.CoinbaseSuffix, ExtranonceSize: w.ExtranonceSize,
		// With no merkle path the block is the coinbase alone: known.
		MerkleBranch: w.MerklePath, TransactionsUnknown: len(w.MerklePath) > 0,
	}, nil
}

// coinbaseHeight reads the BIP34 height push at the start of the scriptSig
// of a (non-witness) coinbase prefix.
func coinbaseHeight(prefix []byte) (int64, error) {
	const scriptLenAt = 4 + 1 + 36 // version, input count, null outpoint
	if len(prefix) < scriptLenAt+2 || prefix[scriptLenAt] >= 0xfd {
		return 0, errors.New("farm: the pool's coinbase prefix is too short")
	}
	script := prefix[scriptLenAt+1:]
	switch op := script[0]; {
	case op >= 0x51 && op <= 0x60: // OP_1 .. OP_16
		return int64(op - 0x50), nil
	case op >= 1 && op <= 8 && len(script) > int(op):
		var b [8]byte
		copy(b[:], script[1:1+op])
		return int64(binary.LittleEndian.Uint64(b[:])), nil
	}
	return 0, errors.New("farm: no BIP34 height in the pool's coinbase")
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

// AllocateExtranonce implements share.Backend: a free miner slot, zero
// padded to 4 bytes.
func (f *Farm) AllocateExtranonce() ([]byte, func(), error) {
	slot, release, err := f.slots.take()
	if err != nil {
		return nil, nil, err
	}
	return append(slot, make([]byte, 4-len(slot))...), release, nil
}

// SubscribeJobs implements share.Backend.
func (f *Farm) SubscribeJobs() (<-chan *share.Job, func()) { return f.hub.Subscribe() }

// Accept implements share.Backend: the share counts locally (the worker's
// statistics); one meeting the upstream target goes upstream on its job's
// channel while that session lasts (a share for a session that ended is
// only counted: nobody could credit it), and a block goes to the farm's
// node (and the JDS) at once.
func (f *Farm) Accept(ctx context.Context, rec *share.Record, res *share.Result) error {
	f.workers.add(rec)
	f.mu.Lock()
	lj := f.jobs[res.Job.ID]
	f.mu.Unlock()
	if lj == nil {
		return nil
	}
	var target share.Target
	open := false
	if lj.up != nil {
		target, open = lj.up.currentTarget()
	}
	forward := open && (res.Block || target.Met(&res.Hash))
	if !res.Block && !forward {
		return nil // below the pool's target, solo, or for a pool session that ended
	}
	version := binary.LittleEndian.Uint32(res.Header[0:4])
	ntime := binary.LittleEndian.Uint32(res.Header[68:72])
	nonce := binary.LittleEndian.Uint32(res.Header[76:80])
	en := make([]byte, lj.pad, lj.pad+len(res.ExtranoncePrefix)+len(res.Extranonce))
	en = append(append(en, res.ExtranoncePrefix...), res.Extranonce...)
	if res.Block {
		f.m.blocks.Inc()
		f.log.Info("block found", zap.Int64("height", res.Job.Height), zap.Stringer("hash", chainhash.Hash(res.Hash)),
			zap.String("worker", rec.Worker.Name))
		f.submitBlock(res.BlockData, res.Hash)
		if lj.up != nil && lj.up.jd != nil {
			full := append(bytes.Clone(lj.work.ExtranoncePrefix), en...)
			if err := lj.up.jd.PushSolution(&codec.PushSolution{Extranonce: full, PrevHash: lj.work.PrevHash, Nonce: nonce,
				NTime: ntime, NBits: lj.work.NBits, Version: version}); err != nil {
				f.log.Warn("PushSolution failed", zap.Error(err))
			}
		}
	}
	if !forward {
		return nil
	}
	if _, err := lj.up.c.Submit(&lj.work, en, ntime, nonce, version); err != nil {
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
		if err == nil && (strings.Contains(reason, "already have") || reason == "duplicate") {
			// The pool's PushSolution got it to the farm's node first (btcd
			// says "already have block", Core "duplicate").
			f.log.Debug("the farm's node has the block already", zap.Stringer("hash", chainhash.Hash(hash)))
			return
		}
		if err != nil || reason != "" {
			f.log.Warn("the farm's node refused the block", zap.Stringer("hash", chainhash.Hash(hash)),
				zap.String("reason", reason), zap.Error(err))
		}
	}()
}

// Status is what the status page shows.
type Status struct {
	Mode       string         `json:"mode"` // "" while no mode works
	Modes      []string       `json:"modes"`
	Pool       string         `json:"pool"`
	JDS        string         `json:"jds"`
	Node       string         `json:"node"`
	Height     int64          `json:"height"` // of the newest job
	Workers    []WorkerStatus `json:"workers"`
	Hashrate   float64        `json:"hashrate_hs"` // the workers' sum, 10 minutes
	Downstream string         `json:"stratum"`
	SV2        string         `json:"stratum_v2,omitempty"`
}

// Status returns the farm's state now.
func (f *Farm) Status() Status {
	st := Status{Mode: f.Mode(), Modes: f.modes, Pool: f.cfg.Upstream.Pool, JDS: f.cfg.Upstream.JDS,
		Node: f.cfg.Node.URL, Workers: f.workers.list(time.Now())}
	if a := f.Addr(); a != nil {
		st.Downstream = a.String()
	}
	if a := f.SV2Addr(); a != nil {
		st.SV2 = a.String()
	}
	if j := f.hub.Latest(); j != nil {
		st.Height = j.Height
	}
	for _, w := range st.Workers {
		st.Hashrate += w.Hashrate
	}
	return st
}
