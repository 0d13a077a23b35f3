package pool

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/chaincfg"
	"go.uber.org/zap"
)

// ShareLog makes accepted shares durable. Append returns once rec is written
// per the log's fsync policy and assigns rec.ID.
type ShareLog interface {
	Append(ctx context.Context, rec *share.Record) error
}

// BlockSubmitter sends a solved block to the node(s) and confirms it.
type BlockSubmitter interface {
	SubmitBlock(ctx context.Context, block []byte, hash [32]byte) (accepted bool, err error)
}

// FoundBlock describes a share that solved a block.
type FoundBlock struct {
	Record share.Record
	Hash   [32]byte
	Height int64
	Reward int64
}

// BlockStore records found blocks and their submission outcome. The
// log-only implementation is used until the database is configured.
type BlockStore interface {
	Found(ctx context.Context, b FoundBlock) error
	Submitted(ctx context.Context, hash [32]byte, accepted bool, submitErr error) error
}

// backend implements share.Backend for the protocol servers.
type backend struct {
	log       *zap.Logger
	params    *chaincfg.Params
	instance  string
	vardiff   *VardiffConfig
	hub       *jobHub
	extranonc *extranonceAllocator
	shareLog  ShareLog // nil: shares are counted but not persisted
	blocks    BlockStore
	submitter BlockSubmitter
	m         *metrics
	hashrate  *hashrateWindow

	// submits tracks block submissions still running; bgCtx outlives the
	// session that found the block so a disconnect cannot cancel it.
	submits sync.WaitGroup
	bgCtx   context.Context
}

var _ share.Backend = (*backend)(nil)

// Authorize accepts `address` or `address.worker` with an address valid for
// the configured network.
func (b *backend) Authorize(username, _ string) (share.Worker, error) {
	addr, worker, _ := strings.Cut(strings.TrimSpace(username), ".")
	if addr == "" {
		return share.Worker{}, errors.New("username must be a payout address, optionally followed by .worker")
	}
	if len(worker) > 64 {
		return share.Worker{}, errors.New("worker name longer than 64 characters")
	}
	if _, err := DecodeAddress(addr, b.params); err != nil {
		return share.Worker{}, fmt.Errorf("invalid payout address: %v", err)
	}
	return share.Worker{Address: addr, Name: worker}, nil
}

func (b *backend) NewVardiff() share.Vardiff { return newVardiff(b.vardiff) }

func (b *backend) AllocateExtranonce() ([]byte, func(), error) { return b.extranonc.allocate() }

func (b *backend) SubscribeJobs() (<-chan *share.Job, func()) { return b.hub.subscribe() }

// Accept submits a block candidate at once (before anything else can delay
// it), then makes the share durable, then records the block with the
// share's log id.
func (b *backend) Accept(ctx context.Context, rec *share.Record, res *share.Result) error {
	rec.Instance = b.instance
	b.hashrate.add(rec.Time, rec.AssignedDifficulty)
	var submitted <-chan submitResult
	if res.Block {
		submitted = b.submitBlock(res)
	}
	var err error
	if b.shareLog != nil {
		if err = b.shareLog.Append(ctx, rec); err != nil {
			b.m.acceptErrors.Inc()
			b.log.Error("share not recorded", zap.Error(err), zap.String("address", rec.Worker.Address))
		}
	}
	if res.Block {
		b.recordBlock(*rec, res, submitted)
	}
	return err
}

type submitResult struct {
	accepted bool
	err      error
}

// submitBlock sends the solved block to the nodes in the background. The
// submission runs on the pool's context, so the finding miner disconnecting
// cannot cancel it.
func (b *backend) submitBlock(res *share.Result) <-chan submitResult {
	b.m.blocksFound.Inc()
	b.log.Info("block found", zap.Int64("height", res.Job.Height), zap.String("hash", displayHash(res.Hash)))
	out := make(chan submitResult, 1)
	block, hash := res.BlockData, res.Hash
	b.submits.Add(1)
	go func() {
		defer b.submits.Done()
		accepted, err := b.submitter.SubmitBlock(b.bgCtx, block, hash)
		out <- submitResult{accepted, err}
	}()
	return out
}

// recordBlock stores the found block, then its submission outcome.
func (b *backend) recordBlock(rec share.Record, res *share.Result, submitted <-chan submitResult) {
	fb := FoundBlock{Record: rec, Hash: res.Hash, Height: res.Job.Height, Reward: res.Job.CoinbaseValue}
	b.submits.Add(1)
	go func() {
		defer b.submits.Done()
		ctx := b.bgCtx
		if err := b.blocks.Found(ctx, fb); err != nil {
			b.log.Error("block not recorded", zap.Error(err), zap.String("hash", displayHash(fb.Hash)))
		}
		r := <-submitted
		if err := b.blocks.Submitted(ctx, fb.Hash, r.accepted, r.err); err != nil {
			b.log.Error("block submission not recorded", zap.Error(err), zap.String("hash", displayHash(fb.Hash)))
		}
	}()
}

// displayHash renders a raw-order hash the way block explorers show it.
func displayHash(h [32]byte) string {
	var r [32]byte
	for i := range h {
		r[i] = h[31-i]
	}
	return fmt.Sprintf("%x", r)
}

// logBlockStore records blocks in the log only.
type logBlockStore struct{ log *zap.Logger }

func (s logBlockStore) Found(_ context.Context, b FoundBlock) error {
	s.log.Info("block recorded", zap.Int64("height", b.Height), zap.String("hash", displayHash(b.Hash)),
		zap.Int64("reward_sats", b.Reward))
	return nil
}

func (s logBlockStore) Submitted(_ context.Context, hash [32]byte, accepted bool, err error) error {
	if err != nil || !accepted {
		s.log.Warn("block not accepted by the node", zap.String("hash", displayHash(hash)), zap.Error(err))
		return nil
	}
	s.log.Info("block accepted by the node", zap.String("hash", displayHash(hash)))
	return nil
}
