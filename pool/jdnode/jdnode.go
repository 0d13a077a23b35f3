// Package jdnode is the pool side of Job Declaration: what the Job
// Declaration Server (sv2/jd) needs from the pool's node(s), built from the
// pool's current job, the mempool mirror, BIP23 block proposals and the
// pool's block submitter.
package jdnode

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/adit-pool/adit/pool/mempool"
	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2/jd"
	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg"
	"go.uber.org/zap"
)

// Proposer checks a block without accepting it (BIP23); *node.Client
// implements it.
type Proposer interface {
	Name() string
	ProposeBlock(ctx context.Context, block []byte) (string, error)
}

// BlockSubmitter submits a solved block to every pool node and confirms it;
// *template.Submitter implements it.
type BlockSubmitter interface {
	SubmitBlock(ctx context.Context, block []byte, hash [32]byte) (accepted bool, err error)
}

// JobFeed yields the pool's jobs, the newest first on subscription; the
// pool's share.Backend implements it.
type JobFeed interface {
	SubscribeJobs() (<-chan *share.Job, func())
}

// Config configures an Adapter. Every field is required.
type Config struct {
	// Params are the chain parameters, for the subsidy.
	Params *chaincfg.Params
	// Mirror is the mempool mirror: LookupTxs and AddTxs go to it, and it
	// is told of every new tip.
	Mirror *mempool.Mirror
	// Proposers are asked in order; the first that answers decides.
	Proposers []Proposer
	// Submitter sends found blocks to every node (the pool's own).
	Submitter BlockSubmitter
	// Jobs is the pool's job feed: the tip follows its newest job.
	Jobs JobFeed
}

// Adapter implements Node over the pool. Tip, LookupTxs and AddTxs never
// call a node; Propose and SubmitBlock do, on the caller's goroutine. It is
// safe for concurrent use.
type Adapter struct {
	cfg     Config
	log     *zap.Logger
	latest  atomic.Pointer[share.Job]
	running atomic.Bool

	mu      sync.Mutex
	changed chan struct{} // closed when latest moves to another PrevHash
}

var _ jd.Node = (*Adapter)(nil)

// New returns an Adapter. log may be nil.
func New(cfg Config, log *zap.Logger) (*Adapter, error) {
	switch {
	case cfg.Params == nil:
		return nil, errors.New("jdnode: no chain params")
	case cfg.Mirror == nil:
		return nil, errors.New("jdnode: no mempool mirror")
	case len(cfg.Proposers) == 0:
		return nil, errors.New("jdnode: no node to propose blocks to")
	case cfg.Submitter == nil:
		return nil, errors.New("jdnode: no block submitter")
	case cfg.Jobs == nil:
		return nil, errors.New("jdnode: no job feed")
	}
	if log == nil {
		log = zap.NewNop()
	}
	cfg.Proposers = append([]Proposer(nil), cfg.Proposers...)
	return &Adapter{cfg: cfg, log: log, changed: make(chan struct{})}, nil
}

// Run follows the job feed until ctx is cancelled, then returns nil: each
// job becomes the tip source, and a job on a new previous block tells the
// mirror (which prunes and refreshes). It does not run the mirror: run
// Mirror.Run beside it. Run may be called once.
func (a *Adapter) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("jdnode: Run called twice")
	}
	jobs, cancel := a.cfg.Jobs.SubscribeJobs()
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case j := <-jobs:
			a.SetJob(j)
		}
	}
}

// SetJob makes j the source of Tip and tells the mirror when j starts a new
// tip. Run calls it for every job; it is exported for callers that feed jobs
// themselves. A nil j is ignored.
func (a *Adapter) SetJob(j *share.Job) {
	if j == nil {
		return
	}
	old := a.latest.Swap(j)
	if old == nil || old.PrevHash != j.PrevHash {
		a.cfg.Mirror.NewTip(j.PrevHash)
		a.mu.Lock()
		close(a.changed)
		a.changed = make(chan struct{})
		a.mu.Unlock()
	}
}

// TipChanged implements Node: the channel is closed by the next job on
// another previous block.
func (a *Adapter) TipChanged() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

// Tip returns the next block's context from the pool's newest job; false
// before the first job.
func (a *Adapter) Tip() (jd.Tip, bool) {
	j := a.latest.Load()
	if j == nil || j.Height < 1 || j.Height > math.MaxInt32 {
		return jd.Tip{}, false
	}
	return jd.Tip{
		PrevHash: j.PrevHash,
		Height:   j.Height,
		Bits:     j.Bits,
		MinTime:  j.MinTime,
		CurTime:  j.CurTime,
		Subsidy:  blockchain.CalcBlockSubsidy(int32(j.Height), a.cfg.Params),
	}, true
}

// LookupTxs implements Node from the mirror (see mempool.Mirror.LookupTxs).
func (a *Adapter) LookupTxs(wtxids [][32]byte) ([][]byte, []int64) {
	return a.cfg.Mirror.LookupTxs(wtxids)
}

// AddTxs implements Node: the transactions stay findable until the next tip.
func (a *Adapter) AddTxs(txs [][]byte) {
	if n := a.cfg.Mirror.AddTxs(txs); n != len(txs) {
		a.log.Warn("declared transactions not all kept", zap.Int("given", len(txs)), zap.Int("kept", n))
	}
}

// Propose asks the proposers in order to check block (BIP23) and returns the
// first answer: "" when the node finds it valid, else the node's reason
// (btcd: "bad-prevblk" off its tip, then its CheckConnectBlockTemplate
// reasons such as "bad-txnmrklroot", "bad-cb-height"; Core:
// "inconclusive-not-best-prevblk", "bad-txns-nonfinal", ...). The proof of
// work is not checked. err is non-nil only when no proposer answered
// (transport or RPC failures, joined).
func (a *Adapter) Propose(ctx context.Context, block []byte) (string, error) {
	var errs []error
	for _, p := range a.cfg.Proposers {
		reason, err := p.ProposeBlock(ctx, block)
		if err == nil {
			return reason, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
		if ctx.Err() != nil {
			break
		}
	}
	return "", errors.Join(errs...)
}

// SubmitBlock implements Node with the pool's submitter: every node in
// parallel, then confirmation that one has the block as best.
func (a *Adapter) SubmitBlock(ctx context.Context, block []byte, hash [32]byte) (bool, error) {
	ok, err := a.cfg.Submitter.SubmitBlock(ctx, block, hash)
	var re *template.RejectedError
	if errors.As(err, &re) {
		// The nodes answered and none has it as best (a side-chain or
		// stale solution, or an invalid one): a refusal, not a failure.
		// The submitter logged their reasons.
		return false, nil
	}
	return ok, err
}
