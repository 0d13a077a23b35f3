package pool

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/chaincfg"
	"go.uber.org/zap"
)

// ShareLog makes accepted shares durable. Append returns once rec is written
// per the log's fsync policy and assigns rec.ID.
type ShareLog interface {
	Append(ctx context.Context, rec *share.Record) error
}

// backend implements share.Backend for the protocol servers.
type backend struct {
	log       *zap.Logger
	params    *chaincfg.Params
	instance  string
	vardiff   *VardiffConfig
	hub       *JobHub
	extranonc *extranonceAllocator
	shareLog  ShareLog // nil: shares are counted but not persisted
	blocks    *blockKeeper
	m         *metrics
	hashrate  *HashrateWindow
	history   *HashrateHistory
	workers   *workerBook
	// declaredRate and declarers follow the shares on declared jobs.
	declaredRate *HashrateWindow
	declarers    *declarers
}

var (
	_ share.Backend  = (*backend)(nil)
	_ share.Presence = (*backend)(nil)
)

// Online implements share.Presence: the worker book counts w connected.
func (b *backend) Online(w share.Worker, p share.Protocol) (offline func()) {
	return b.workers.online(w, p, time.Now())
}

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

func (b *backend) SubscribeJobs() (<-chan *share.Job, func()) { return b.hub.Subscribe() }

// Accept hands a block to the block keeper first (it submits at once and
// returns once the block is journaled), then makes the share durable, so an
// acknowledged block share always has its block journaled.
func (b *backend) Accept(ctx context.Context, rec *share.Record, res *share.Result) error {
	rec.Instance = b.instance
	b.hashrate.Add(rec.Time, rec.AssignedDifficulty)
	b.history.Add(rec.Time, rec.AssignedDifficulty)
	b.workers.share(rec.Worker, rec.Time, rec.AssignedDifficulty)
	if rec.Declared {
		b.declaredRate.Add(rec.Time, rec.AssignedDifficulty)
		b.declarers.add(rec.Worker, rec.Time)
	}
	if res.Block {
		b.blocks.Found(FoundBlock{Record: *rec, Hash: res.Hash, Height: res.Job.Height, Reward: res.Job.CoinbaseValue}, res.BlockData)
	}
	if b.shareLog == nil {
		return nil
	}
	if err := b.shareLog.Append(ctx, rec); err != nil {
		b.m.acceptErrors.Inc()
		b.log.Error("share not recorded", zap.Error(err), zap.String("address", rec.Worker.Address))
		return err
	}
	return nil
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
