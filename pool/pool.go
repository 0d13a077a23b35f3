package pool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/adit-pool/adit/payout"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/blocklog"
	"github.com/adit-pool/adit/stratum"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/noise"
	"github.com/btcsuite/btcd/txscript"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// Deps are the injected process-wide facilities.
type Deps struct {
	Log        *zap.Logger
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
}

// Pool is the running daemon: template source, job broadcast, protocol
// servers and HTTP endpoints.
type Pool struct {
	cfg       Config
	log       *zap.Logger
	gatherer  prometheus.Gatherer
	m         *metrics
	validator *share.Validator
	jobIDs    *share.JobIDs
	// payoutScript is what the pool's coinbases, and every declared one, pay.
	payoutScript []byte // every job's id, template or (later) declared
	hub          *JobHub
	backend      *backend
	blocks       *blockKeeper
	source       *template.Source
	stratum      *stratum.Server
	sv2          *sv2.Server     // nil when Stratum V2 is off
	jd           *jobDeclaration // nil when Job Declaration is off
	storage      *storage
	hashrate     HashrateWindow
	history      HashrateHistory // per minute, 24 h: /api/v1/pool/hashrate
	workers      *workerBook     // who is connected, per-worker hashrate
	declaredRate HashrateWindow  // shares on declared (JD) jobs
	declarers    declarers
	started      time.Time // when New ran: the in-memory statistics begin
	// sv2Authority is the SV2 authority public key (base58check), "" when
	// Stratum V2 is off.
	sv2Authority string

	mu       sync.Mutex
	httpAddr net.Addr
}

// New wires the pool from a validated configuration. It opens the share log
// and, when configured, connects to the database and applies migrations; it
// opens no listening sockets (Run does), and Run releases all of it when it
// returns.
func New(cfg Config, deps Deps) (_ *Pool, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	params, _ := cfg.ChainParams()
	payout, err := DecodeAddress(cfg.PayoutAddress, params)
	if err != nil {
		return nil, err
	}
	script, err := txscript.PayToAddrScript(payout)
	if err != nil {
		return nil, fmt.Errorf("payout_address: %w", err)
	}
	log := deps.Log
	p := &Pool{cfg: cfg, log: log, gatherer: deps.Gatherer, m: newMetrics(deps.Registerer), payoutScript: script,
		workers: newWorkerBook(), started: time.Now()}
	p.history.Started(p.started)

	vcfg := share.ValidatorConfig{}
	if d := cfg.Regtest.BlockFloorDifficulty; d > 0 {
		floor := share.TargetFromDifficulty(d)
		vcfg.BlockFloor = &floor
	}
	p.validator = share.NewValidator(vcfg)
	// Job ids from before a restart must not name this run's jobs:
	// otherwise a share found on an old job is judged against a new job
	// with the same id, and, with extranonces also handed out again from
	// the start, can repeat a share the previous run accepted (the
	// duplicate filter starts empty).
	p.jobIDs = share.NewJobIDs(rand.Uint32())
	p.hub = NewJobHub(p.m.jobBroadcast)

	nodeMetrics := node.NewMetrics(deps.Registerer)
	var nodes []*node.Client
	for i, nc := range cfg.Nodes {
		name := nc.Name
		if name == "" {
			name = fmt.Sprintf("node%d", i)
		}
		c, err := node.New(node.Config{
			Name: name, URL: nc.URL, User: nc.User, Password: nc.Password,
			Timeout: nc.Timeout.D(), WebsocketNotify: nc.Websocket,
		}, log.Named("node").With(zap.String("node", name)), nodeMetrics)
		if err != nil {
			return nil, fmt.Errorf("node[%d]: %w", i, err)
		}
		nodes = append(nodes, c)
	}
	builder, err := template.NewBuilder(template.BuilderConfig{
		PayoutScript:   script,
		PoolTag:        cfg.PoolTag,
		ExtranonceSize: PrefixSize + cfg.ExtranonceSize,
	})
	if err != nil {
		return nil, err
	}
	tmetrics := template.NewMetrics(deps.Registerer)
	p.source, err = template.NewSource(template.SourceConfig{
		Refresh: cfg.Templates.Refresh.D(),
		Poll:    cfg.Templates.Poll.D(),
		IDs:     p.jobIDs,
	}, nodes, builder, log.Named("templates"), tmetrics)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	defer cancel()
	p.storage, err = openStorage(sctx, &p.cfg, params, nodes, log, deps.Registerer)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.storage.close()
		}
	}()
	var blocks BlockStore = logBlockStore{log: log.Named("blocks")}
	if p.storage.tracker != nil {
		blocks = trackerBlocks{p.storage.tracker}
	}
	var (
		shareLog ShareLog
		journal  *blocklog.Log
	)
	if p.storage.shareLog != nil {
		shareLog = p.storage.shareLog
		// Inside the share log's directory, so its lock covers the journal.
		if journal, err = blocklog.Open(filepath.Join(cfg.ShareLog.Dir, "blocks")); err != nil {
			return nil, err
		}
	}
	submitter := template.NewSubmitter(nodes, log.Named("submit"), tmetrics)
	p.blocks, err = newBlockKeeper(journal, blocks, submitter, log.Named("blocks"), newBlockMetrics(deps.Registerer))
	if err != nil {
		return nil, err
	}
	p.backend = &backend{
		log:       log.Named("shares"),
		params:    params,
		instance:  cfg.Instance,
		vardiff:   &p.cfg.Vardiff,
		hub:       p.hub,
		extranonc: newExtranonceAllocator(cfg.InstanceID),
		shareLog:  shareLog,
		blocks:    p.blocks,
		m:         p.m,
		hashrate:  &p.hashrate,
		history:   &p.history,
		workers:   p.workers,

		declaredRate: &p.declaredRate,
		declarers:    &p.declarers,
	}
	sc, err := cfg.Stratum.Server(cfg.Vardiff.Start)
	if err != nil {
		return nil, err
	}
	p.stratum, err = stratum.NewServer(sc, stratum.Deps{
		Validator:   p.validator,
		Backend:     p.backend,
		Log:         log.Named("stratum"),
		Registerer:  deps.Registerer,
		Shares:      p.m.shares.MustCurryWith(prometheus.Labels{"protocol": share.ProtocolV1.String()}),
		Connections: p.m.connections.WithLabelValues(share.ProtocolV1.String()),
	})
	if err != nil {
		return nil, err
	}
	if cfg.SV2.Listen != "" || cfg.SV2.PlaintextListen != "" {
		sc, keySource, err := cfg.SV2.Server()
		if err != nil {
			return nil, err
		}
		if r, ok := keySource.(*noise.KeyRotator); ok && r.Authority != nil {
			p.sv2Authority = r.Authority.PublicKey().String()
		}
		// One key source: the JDS presents the mining port's certificates.
		if cfg.JD.Listen != "" {
			p.jd, err = newJobDeclaration(&p.cfg, params, nodes, p.backend, submitter, keySource, script, log.Named("jd"), deps.Registerer)
			if err != nil {
				return nil, err
			}
		}
		if p.sv2, err = p.newSV2Server(deps, sc, keySource); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// newSV2Server builds the Stratum V2 server on the same validator and
// backend as Stratum V1.
func (p *Pool) newSV2Server(deps Deps, sc sv2.Config, keySource noise.KeySource) (*sv2.Server, error) {
	return sv2.NewServer(sc, sv2.Deps{
		Validator:   p.validator,
		Backend:     p.backend,
		Keys:        keySource,
		CustomJobs:  p.customJobs(),
		Log:         p.log.Named("sv2"),
		Registerer:  deps.Registerer,
		Shares:      p.m.shares.MustCurryWith(prometheus.Labels{"protocol": share.ProtocolV2.String()}),
		Connections: p.m.connections.WithLabelValues(share.ProtocolV2.String()),
	})
}

// customJobs is the mining server's door to Job Declaration, nil when off.
func (p *Pool) customJobs() sv2.CustomJobs {
	if p.jd == nil {
		return nil
	}
	return &customJobs{jds: p.jd.server, poolScript: p.payoutScript, ids: p.jobIDs, now: time.Now}
}

// Run serves until ctx is cancelled, then drains the sessions, waits for
// running block submissions and returns. It returns early with an error if a
// listener cannot be opened.
func (p *Pool) Run(ctx context.Context) error {
	httpLn, err := net.Listen("tcp", p.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	p.mu.Lock()
	p.httpAddr = httpLn.Addr()
	p.mu.Unlock()

	// The block keeper outlives the sessions, so a block found while they
	// drain is still submitted and recorded.
	bgCtx, cancelBG := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBG()
	keeperDone := make(chan error, 1)
	go func() { keeperDone <- p.blocks.Run(bgCtx) }()

	defer p.storage.close()
	g, gctx := errgroup.WithContext(ctx)
	p.storage.run(gctx, g)
	firstJob := make(chan struct{})
	g.Go(func() error { return p.source.Run(gctx) })
	if t := p.storage.tracker; t != nil {
		g.Go(func() error { p.recoverBlocks(gctx, t); return nil })
	}
	g.Go(func() error { return p.publishJobs(gctx, firstJob) })
	g.Go(func() error { p.sweepWorkers(gctx); return nil })
	// Miners are let in only once there is work to hand them.
	serveMiners := func(run func(context.Context) error) func() error {
		return func() error {
			select {
			case <-firstJob:
				return ignoreCanceled(run(gctx))
			case <-gctx.Done():
				return nil
			}
		}
	}
	g.Go(serveMiners(p.stratum.Run))
	if p.sv2 != nil {
		g.Go(serveMiners(p.sv2.Run))
	}
	if p.jd != nil {
		p.jd.run(gctx, g, serveMiners)
	}
	srv := &http.Server{Handler: p.httpHandler(p.gatherer), ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		if err := srv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	p.log.Info("pool running", zap.String("http", httpLn.Addr().String()), zap.String("network", p.cfg.Network))
	err = g.Wait()
	// Give unsettled blocks a bounded time to settle; the journal keeps
	// whatever is left for the next start.
	if !p.blocks.drain(10 * time.Second) {
		p.log.Warn("found blocks still unsettled at shutdown; the journal keeps them")
	}
	cancelBG()
	if kerr := <-keeperDone; kerr != nil && err == nil {
		err = kerr
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// recoverBlocks reconciles the blocks table with the chain once, retrying
// until a node and the database answer: pool blocks a crash kept from the
// journal are recorded (and so credited) exactly once.
func (p *Pool) recoverBlocks(ctx context.Context, t *payout.Tracker) {
	const retry = 10 * time.Second
	if !p.storage.waitShipped(ctx, 5*time.Minute) {
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("the share log has not shipped what it held at start; reconciling blocks with the chain anyway")
	}
	for {
		got, err := t.RecoverFromChain(ctx, p.cfg.Instance, p.blocks.Journaled)
		if err == nil {
			p.log.Info("blocks reconciled with the chain", zap.Int("recovered", len(got)))
			return
		}
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("block reconciliation with the chain failed; retrying", zap.Error(err), zap.Duration("in", retry))
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

// sweepWorkers forgets idle workers from the worker book every minute.
func (p *Pool) sweepWorkers(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p.workers.sweep(now)
		}
	}
}

// publishJobs moves jobs from the template source to the validator, then to
// the sessions (in that order, so a share on a new job always validates).
// firstJob is closed after the first job is published.
func (p *Pool) publishJobs(ctx context.Context, firstJob chan<- struct{}) error {
	var once sync.Once
	for {
		select {
		case <-ctx.Done():
			return nil
		case j := <-p.source.Jobs():
			p.validator.AddJob(j)
			p.hub.Publish(j)
			once.Do(func() { close(firstJob) })
			p.m.jobsPublished.WithLabelValues(fmt.Sprint(j.Clean)).Inc()
			p.log.Debug("job published", zap.Uint32("id", j.ID), zap.Int64("height", j.Height), zap.Bool("clean", j.Clean))
		}
	}
}

// StratumAddr is the Stratum V1 listen address once Run has started.
func (p *Pool) StratumAddr() string {
	if p.stratum == nil {
		return p.cfg.Stratum.Listen
	}
	if a := p.stratum.Addr(); a != nil {
		return a.String()
	}
	return p.cfg.Stratum.Listen
}

// SV2Addrs are the Stratum V2 encrypted and plaintext listen addresses once
// Run has started them ("" when off or not yet listening).
func (p *Pool) SV2Addrs() (encrypted, plaintext string) {
	if p.sv2 == nil {
		return "", ""
	}
	if a := p.sv2.Addr(); a != nil {
		encrypted = a.String()
	}
	if a := p.sv2.PlaintextAddr(); a != nil {
		plaintext = a.String()
	}
	return encrypted, plaintext
}

// HTTPAddr is the HTTP listen address once Run has started ("" before).
func (p *Pool) HTTPAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.httpAddr == nil {
		return ""
	}
	return p.httpAddr.String()
}
