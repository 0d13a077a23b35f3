package pool

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/blocklog"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// BlockSubmitter sends a solved block to the node(s) and confirms it.
type BlockSubmitter interface {
	// SubmitBlock reports accepted when a node has the block in its best
	// chain; otherwise err is a *template.RejectedError when nodes answered
	// (its Unreachable lists those that did not), or why none answered.
	SubmitBlock(ctx context.Context, block []byte, hash [32]byte) (accepted bool, err error)
	// Superseded reports whether a node's best chain holds another block at
	// height.
	Superseded(ctx context.Context, height int64, hash [32]byte) (bool, error)
}

// FoundBlock describes a share that solved a block.
type FoundBlock struct {
	Record share.Record
	Hash   [32]byte
	Height int64
	Reward int64
}

// BlockStore records found blocks and their submission outcome. Both calls
// must be idempotent: the keeper repeats them until they succeed, also
// across restarts. The log-only implementation is used without a database.
type BlockStore interface {
	Found(ctx context.Context, b FoundBlock) error
	Submitted(ctx context.Context, hash [32]byte, accepted bool, submitErr error) error
}

// blockKeeper owns every found block until it is settled: submitted to the
// nodes until one has it in its best chain or it is known rejected or
// superseded, and recorded (found row, then outcome) in the BlockStore.
//
// Durability: Found writes the block to the journal (fsynced) before the
// first submission and before it returns, so neither a submitted block nor
// the share that found it (appended to the share log after) exists without
// its journal entry; the write costs the block one small-file fsync (about
// a millisecond on an SSD) before it reaches the nodes. Every change of state
// is written to the journal before the next step, and an entry is removed
// only once settled, so a restart (Run loads the journal) carries on
// wherever a crash stopped it. Submitting and recording are idempotent
// (submitblock of a known block; the store's ON CONFLICT), so repeating a
// step a crash interrupted is harmless: a block is recorded exactly once.
// A lost journal (a failed write, a replaced disk) is covered by the
// tracker's chain reconciliation at start.
//
// Each block has one goroutine (its owner) from Found or Run until it is
// settled or the keeper stops; the owner alone reads and writes its entry.
type blockKeeper struct {
	log       *zap.Logger
	journal   *blocklog.Log // nil: in memory only (no share log configured)
	store     BlockStore
	submitter BlockSubmitter
	m         *blockMetrics
	// minRetry and maxRetry bound the wait between attempts (doubling).
	minRetry, maxRetry time.Duration

	// resume holds the journal's unsettled blocks until Run takes them.
	resume []*blocklog.Entry

	// ctx is the owners' context, cancelled when Run's context is done.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	owners map[[32]byte]struct{}
	wg     sync.WaitGroup
}

type blockMetrics struct {
	found         prometheus.Counter // adit_blocks_found_total
	foundDeclared prometheus.Counter // adit_jd_blocks_found_total
	pending       prometheus.Gauge   // adit_blocks_pending
	retries       prometheus.Counter // adit_block_submit_retries_total
	journalErrors prometheus.Counter // adit_block_journal_errors_total
	recordErrors  prometheus.Counter // adit_block_record_errors_total
}

func newBlockMetrics(reg prometheus.Registerer) *blockMetrics {
	m := &blockMetrics{
		found: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_blocks_found_total", Help: "Shares that solved a block.",
		}),
		foundDeclared: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_jd_blocks_found_total", Help: "Blocks found on custom (declared) jobs; also counted in adit_blocks_found_total.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "adit_blocks_pending", Help: "Found blocks not yet settled (submission outcome known and recorded in the database).",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_block_submit_retries_total", Help: "Block submissions repeated because a node did not answer.",
		}),
		journalErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_block_journal_errors_total", Help: "Failed writes of the local found-block journal.",
		}),
		recordErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_block_record_errors_total", Help: "Failed attempts to record a found block or its outcome in the database (retried).",
		}),
	}
	reg.MustRegister(m.found, m.foundDeclared, m.pending, m.retries, m.journalErrors, m.recordErrors)
	return m
}

// newBlockKeeper returns a keeper over journal (nil: in memory only) and
// reads the journal's unsettled blocks, which Run resumes.
func newBlockKeeper(journal *blocklog.Log, store BlockStore, sub BlockSubmitter, log *zap.Logger, m *blockMetrics) (*blockKeeper, error) {
	k := &blockKeeper{
		log: log, journal: journal, store: store, submitter: sub, m: m,
		minRetry: time.Second, maxRetry: 30 * time.Second,
		owners: make(map[[32]byte]struct{}),
	}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	if journal == nil {
		return k, nil
	}
	entries, bad, err := journal.Load()
	if err != nil {
		return nil, err
	}
	for _, b := range bad {
		m.journalErrors.Inc()
		log.Error("found-block journal entry unreadable", zap.Error(b))
	}
	k.resume = entries
	return k, nil
}

// Found takes a block a share solved: it journals the block (fsynced), then
// starts submitting it, and returns.
func (k *blockKeeper) Found(fb FoundBlock, block []byte) {
	k.m.found.Inc()
	if fb.Record.Declared {
		k.m.foundDeclared.Inc()
	}
	k.log.Info("block found", zap.Bool("declared", fb.Record.Declared), zap.Int64("height", fb.Height), zap.String("hash", displayHash(fb.Hash)),
		zap.String("address", fb.Record.Worker.Address), zap.String("worker", fb.Record.Worker.Name))
	e := &blocklog.Entry{Hash: fb.Hash, Height: fb.Height, Reward: fb.Reward, Record: fb.Record, Block: block}
	ctx := k.start(e.Hash)
	if ctx == nil {
		return // already owned (the same block twice cannot happen: the duplicate filter)
	}
	k.persist(e)
	go k.own(ctx, e)
}

// Run resumes every unsettled block of the journal and returns when
// ctx is done and every owner has stopped. Blocks found after that are
// still journaled, for the next start to submit; their owners stop at once.
func (k *blockKeeper) Run(ctx context.Context) error {
	k.mu.Lock()
	resume := k.resume
	k.resume = nil
	k.mu.Unlock()
	for _, e := range resume {
		k.log.Info("resuming found block from the journal", zap.Int64("height", e.Height),
			zap.String("hash", displayHash(e.Hash)), zap.String("outcome", string(e.Outcome)),
			zap.Bool("recorded", e.Recorded), zap.Int("attempts", e.Attempts))
		if c := k.start(e.Hash); c != nil {
			go k.own(c, e)
		}
	}
	<-ctx.Done()
	k.cancel()
	k.wg.Wait()
	return nil
}

// drain waits up to timeout for every owned block to settle and reports
// whether they did.
func (k *blockKeeper) drain(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		k.mu.Lock()
		n := len(k.owners)
		k.mu.Unlock()
		if n == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Journaled reports whether the keeper owns hash right now (or will, once
// Run resumes it from the journal).
func (k *blockKeeper) Journaled(hash [32]byte) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.owners[hash]; ok {
		return true
	}
	for _, e := range k.resume {
		if e.Hash == hash {
			return true
		}
	}
	return false
}

// start registers an owner for hash and returns its context, or nil when
// the block is already owned.
func (k *blockKeeper) start(hash [32]byte) context.Context {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.owners[hash]; ok {
		return nil
	}
	k.owners[hash] = struct{}{}
	k.wg.Add(1)
	k.m.pending.Inc()
	return k.ctx
}

func (k *blockKeeper) done(hash [32]byte) {
	k.mu.Lock()
	delete(k.owners, hash)
	k.mu.Unlock()
	k.m.pending.Dec()
	k.wg.Done()
}

type submission struct {
	accepted bool
	err      error
}

func (k *blockKeeper) submit(ctx context.Context, block []byte, hash [32]byte) submission {
	accepted, err := k.submitter.SubmitBlock(ctx, block, hash)
	return submission{accepted, err}
}

// own drives e until it is settled or ctx is done.
func (k *blockKeeper) own(ctx context.Context, e *blocklog.Entry) {
	defer k.done(e.Hash)
	log := k.log.With(zap.Int64("height", e.Height), zap.String("hash", displayHash(e.Hash)))
	delay := k.minRetry
	for {
		if e.Outcome == blocklog.Pending {
			if e.Attempts > 0 {
				k.m.retries.Inc()
			}
			s := k.submit(ctx, e.Block, e.Hash)
			e.Attempts++
			e.Outcome, e.Reason = k.judge(ctx, e, s)
			switch e.Outcome {
			case blocklog.Accepted:
				log.Info("block in a best chain", zap.Int("attempts", e.Attempts))
			case blocklog.Rejected:
				log.Error("block rejected", zap.String("reason", e.Reason), zap.Int("attempts", e.Attempts))
			default:
				log.Warn("block submission will be retried", zap.String("reason", e.Reason),
					zap.Int("attempts", e.Attempts), zap.Duration("in", delay))
			}
			k.persist(e)
		}
		if !e.Recorded {
			if err := k.store.Found(ctx, FoundBlock{Record: e.Record, Hash: e.Hash, Height: e.Height, Reward: e.Reward}); err != nil {
				k.m.recordErrors.Inc()
				log.Warn("block not recorded yet; retrying", zap.Error(err), zap.Duration("in", delay))
			} else {
				e.Recorded = true
				k.persist(e)
			}
		}
		if e.Recorded && e.Outcome != blocklog.Pending && !e.OutcomeRecorded {
			var serr error
			if e.Outcome == blocklog.Rejected {
				serr = errors.New(e.Reason)
			}
			if err := k.store.Submitted(ctx, e.Hash, e.Outcome == blocklog.Accepted, serr); err != nil {
				k.m.recordErrors.Inc()
				log.Warn("block outcome not recorded yet; retrying", zap.Error(err), zap.Duration("in", delay))
			} else {
				e.OutcomeRecorded = true
			}
		}
		if e.Settled() {
			if k.journal != nil {
				if err := k.journal.Remove(e.Hash); err != nil {
					k.m.journalErrors.Inc()
					log.Error("settled block left in the journal (harmless: it is settled again at the next start)", zap.Error(err))
				}
			}
			return
		}
		select {
		case <-ctx.Done():
			log.Info("stopping with the block unsettled; the journal keeps it for the next start",
				zap.String("outcome", string(e.Outcome)), zap.Bool("recorded", e.Recorded))
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, k.maxRetry)
	}
}

// judge turns a submission into an outcome: accepted; rejected when every
// node answered and none took it, or when another block holds its height;
// pending (retry) while some node could not be asked.
func (k *blockKeeper) judge(ctx context.Context, e *blocklog.Entry, s submission) (blocklog.Outcome, string) {
	if s.accepted {
		return blocklog.Accepted, ""
	}
	if s.err == nil {
		s.err = errors.New("not in a best chain")
	}
	if errors.Is(s.err, template.ErrHashMismatch) {
		return blocklog.Rejected, s.err.Error()
	}
	var re *template.RejectedError
	if errors.As(s.err, &re) && len(re.Unreachable) == 0 {
		return blocklog.Rejected, s.err.Error()
	}
	if sup, err := k.submitter.Superseded(ctx, e.Height, e.Hash); err == nil && sup {
		return blocklog.Rejected, "stale: another block holds height in a best chain (" + s.err.Error() + ")"
	}
	return blocklog.Pending, s.err.Error()
}

// persist writes e to the journal; a failure is logged and counted, and
// the block carries on in memory.
func (k *blockKeeper) persist(e *blocklog.Entry) {
	if k.journal == nil {
		return
	}
	if err := k.journal.Put(e); err != nil {
		k.m.journalErrors.Inc()
		k.log.Error("found block not journaled: it survives a restart only through chain reconciliation",
			zap.String("hash", displayHash(e.Hash)), zap.Error(err))
	}
}
