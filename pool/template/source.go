package template

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"go.uber.org/zap"
)

// Source defaults and limits.
const (
	DefaultRefresh = 30 * time.Second
	DefaultPoll    = 500 * time.Millisecond
	// minUpdateGap throttles non-clean jobs caused by longpoll replies that
	// only carry new transactions.
	minUpdateGap   = time.Second
	pollTimeout    = 5 * time.Second
	retryMin       = 250 * time.Millisecond
	longpollMinGap = 100 * time.Millisecond
	longpollRetry  = 30 * time.Second
)

// SourceConfig configures a Source.
type SourceConfig struct {
	// Refresh is how often a non-clean job is built for an unchanged tip
	// (new transactions, a later ntime). Default DefaultRefresh.
	Refresh time.Duration
	// Poll is the fallback getbestblockhash poll interval. Default
	// DefaultPoll.
	Poll time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// IDs allocates the jobs' ids. The pool passes the one allocator it
	// also uses for private (declared) jobs, with a random start (see
	// share.NewJobIDs). Default: share.NewJobIDs(0).
	IDs *share.JobIDs
}

func (c *SourceConfig) withDefaults() {
	if c.Refresh <= 0 {
		c.Refresh = DefaultRefresh
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.IDs == nil {
		c.IDs = share.NewJobIDs(0)
	}
}

// Source turns the nodes' templates into a stream of jobs: a clean job at
// start and for every new best block, a non-clean one every Refresh for the
// same tip. New blocks are detected by a GBT longpoll per node, btcd's
// websocket notifications (nodes with Config.WebsocketNotify) and a
// getbestblockhash poll as the fallback; however many of them fire for one
// tip, it yields one clean job. Job ids come from SourceConfig.IDs.
//
// One goroutine (Run's) owns the job state; the watchers only wake it.
type Source struct {
	cfg   SourceConfig
	nodes []*node.Client
	b     *Builder
	log   *zap.Logger
	m     *Metrics

	jobs    chan *share.Job
	wake    chan struct{}
	updates chan *node.Template
	running atomic.Bool
}

// NewSource returns a Source over nodes (at least one). log and m may be nil.
func NewSource(cfg SourceConfig, nodes []*node.Client, b *Builder, log *zap.Logger, m *Metrics) (*Source, error) {
	if len(nodes) == 0 {
		return nil, errors.New("template: no nodes")
	}
	if b == nil {
		return nil, errors.New("template: nil builder")
	}
	cfg.withDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	for _, n := range nodes {
		m.nodeUp.WithLabelValues(n.Name()) // 0 until the first poll answers
	}
	return &Source{
		cfg:     cfg,
		nodes:   append([]*node.Client(nil), nodes...),
		b:       b,
		log:     log,
		m:       m,
		jobs:    make(chan *share.Job, 4),
		wake:    make(chan struct{}, 1),
		updates: make(chan *node.Template, len(nodes)),
	}, nil
}

// Jobs delivers the jobs in order. It is never closed; stop reading when Run
// has returned. Run blocks while the channel is full, so read it promptly.
func (s *Source) Jobs() <-chan *share.Job { return s.jobs }

// Run watches the nodes and emits jobs until ctx is cancelled, then waits
// for its goroutines and returns nil. Node failures are logged and retried,
// never returned. Run may be called once.
func (s *Source) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("template: Source.Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range s.nodes {
		wg.Go(func() { s.longpoll(ctx, n) })
		if n.Config().WebsocketNotify {
			wg.Go(func() { _ = n.NotifyBlocks(ctx, s.signal) })
		}
	}
	wg.Go(func() { s.poll(ctx) })
	s.loop(ctx)
	cancel()
	wg.Wait()
	return nil
}

// signal wakes the loop to check for a new tip; it never blocks.
func (s *Source) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

type trigger int

const (
	triggerRefresh  trigger = iota // interval or retry: always emit a job
	triggerSignal                  // maybe a new tip: emit only if it is
	triggerLongpoll                // a node's template changed
)

// loopState is owned by the loop goroutine.
type loopState struct {
	have    bool
	tip     chainhash.Hash
	height  int64
	fetched time.Time // when the newest job's template was received
	lastJob time.Time
	failing int
}

func (s *Source) loop(ctx context.Context) {
	var st loopState
	timer := time.NewTimer(0) // first fetch at once
	defer timer.Stop()
	age := time.NewTicker(time.Second)
	defer age.Stop()
	for {
		var (
			t       *node.Template
			err     error
			why     trigger
			fromAll = true
		)
		select {
		case <-ctx.Done():
			return
		case <-age.C:
			if st.have {
				s.m.templateAge.Set(s.cfg.Now().Sub(st.fetched).Seconds())
			}
			continue
		case <-timer.C:
			why = triggerRefresh
			t, err = s.fetch(ctx)
		case <-s.wake:
			why = triggerSignal
			t, err = s.fetch(ctx)
		case t = <-s.updates:
			why, fromAll = triggerLongpoll, false
		}
		now := s.cfg.Now()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.m.templateErrors.Inc()
			st.failing++
			retry := min(retryMin<<min(st.failing, 8), s.cfg.Refresh)
			// btcd refuses a template while a block is being connected
			// ("previous block must be the current chain tip"): one failure
			// right after a new block is routine, a second one is not.
			logf := s.log.Error
			if st.failing == 1 {
				logf = s.log.Warn
			}
			logf("no block template from any node", zap.Error(err), zap.Duration("retry_in", retry), zap.Int("failures", st.failing))
			resetTimer(timer, retry)
			continue
		}
		st.failing = 0
		clean, emit := s.decide(&st, t, why, fromAll, now)
		if !emit {
			continue
		}
		j, err := s.b.Build(t, s.cfg.IDs.Next(), clean, now)
		if err != nil {
			s.m.templateErrors.Inc()
			s.log.Error("cannot build job", zap.Error(err), zap.Int64("height", t.Height))
			resetTimer(timer, min(time.Second, s.cfg.Refresh))
			continue
		}
		st.have, st.tip, st.height, st.fetched, st.lastJob = true, t.PrevHash, t.Height, now, now
		s.m.templateAge.Set(0)
		s.m.jobs.WithLabelValues(fmt.Sprint(clean)).Inc()
		if clean {
			s.log.Info("new tip", zap.Int64("height", t.Height), zap.Stringer("prev", t.PrevHash),
				zap.Uint32("job", j.ID), zap.Int("txs", len(t.Transactions)))
		}
		select {
		case s.jobs <- j:
		case <-ctx.Done():
			return
		}
		resetTimer(timer, s.cfg.Refresh)
	}
}

// decide reports whether template t yields a job and whether it is clean.
func (s *Source) decide(st *loopState, t *node.Template, why trigger, fromAll bool, now time.Time) (clean, emit bool) {
	switch {
	case !st.have:
		return true, true
	case t.PrevHash != st.tip:
		// One node's longpoll may lag behind the tip another node reported;
		// only a fetch across all nodes may move the tip down.
		if !fromAll && t.Height < st.height {
			return false, false
		}
		return true, true
	case why == triggerRefresh:
		return false, true
	case why == triggerLongpoll:
		return false, now.Sub(st.lastJob) >= minUpdateGap
	default: // a signal for the tip we already have
		return false, false
	}
}

// fetch asks every node for a template in parallel and returns the highest
// one (the first node's on a tie).
func (s *Source) fetch(ctx context.Context) (*node.Template, error) {
	if len(s.nodes) == 1 {
		return s.nodes[0].GetBlockTemplate(ctx, "")
	}
	ts := make([]*node.Template, len(s.nodes))
	errs := make([]error, len(s.nodes))
	var wg sync.WaitGroup
	for i, n := range s.nodes {
		wg.Go(func() { ts[i], errs[i] = n.GetBlockTemplate(ctx, "") })
	}
	wg.Wait()
	var best *node.Template
	for i, t := range ts {
		if errs[i] != nil {
			s.log.Warn("getblocktemplate failed", zap.String("node", s.nodes[i].Name()), zap.Error(errs[i]))
			continue
		}
		if best == nil || t.Height > best.Height {
			best = t
		}
	}
	if best == nil {
		return nil, errors.Join(errs...)
	}
	return best, nil
}

// longpoll keeps a GBT longpoll open on n and forwards each changed template.
func (s *Source) longpoll(ctx context.Context, n *node.Client) {
	log := s.log.With(zap.String("node", n.Name()))
	backoff := time.Second
	id := ""
	for {
		t, err := n.GetBlockTemplate(ctx, id)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Warn("getblocktemplate longpoll failed", zap.Error(err), zap.Duration("retry_in", backoff))
			id = ""
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, longpollRetry)
			continue
		}
		backoff = time.Second
		if id != "" {
			select {
			case s.updates <- t:
			case <-ctx.Done():
				return
			}
		}
		if t.LongPollID == "" {
			log.Info("node offers no getblocktemplate longpoll")
			return
		}
		if t.LongPollID == id && !sleep(ctx, longpollMinGap) {
			return
		}
		id = t.LongPollID
	}
}

// poll checks every node's best block hash each Poll interval and wakes the
// loop when one changes. It also keeps each node's adit_node_up and, from
// one getblockheader per new best block, its adit_node_tip_height and
// adit_node_tip_timestamp_seconds.
func (s *Source) poll(ctx context.Context) {
	last := make([]chainhash.Hash, len(s.nodes))
	seen := make([]bool, len(s.nodes))
	known := make([]bool, len(s.nodes)) // last[i]'s header is in the metrics
	tick := time.NewTicker(s.cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for i, n := range s.nodes {
			pctx, cancel := context.WithTimeout(ctx, pollTimeout)
			h, err := n.GetBestBlockHash(pctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.m.nodeUp.WithLabelValues(n.Name()).Set(0)
				s.log.Debug("getbestblockhash failed", zap.String("node", n.Name()), zap.Error(err))
				continue
			}
			s.m.nodeUp.WithLabelValues(n.Name()).Set(1)
			if seen[i] && h != last[i] {
				s.signal()
			}
			if !seen[i] || h != last[i] {
				known[i] = false
			}
			last[i], seen[i] = h, true
			if !known[i] {
				known[i] = s.tipHeader(ctx, n, h)
			}
		}
	}
}

// tipHeader records n's best block h in the tip metrics; false (to try
// again at the next poll) when the header could not be read.
func (s *Source) tipHeader(ctx context.Context, n *node.Client, h chainhash.Hash) bool {
	hctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	hdr, err := n.GetBlockHeader(hctx, h)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Debug("getblockheader of the best block failed", zap.String("node", n.Name()), zap.Stringer("hash", h), zap.Error(err))
		}
		return false
	}
	s.m.tipHeight.WithLabelValues(n.Name()).Set(float64(hdr.Height))
	s.m.tipTime.WithLabelValues(n.Name()).Set(float64(hdr.Time.Unix()))
	return true
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	t.Reset(d)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
