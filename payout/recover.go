package payout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// RecoverFromChain reconciles the blocks table with the chain: every block
// among the best chain's newest RecoverDepth whose coinbase pays the pool
// script and that the table lacks is recorded, exactly as Found would (the
// table's unique hash makes a second record impossible). It covers a daemon
// killed after submitting a block and before it journaled or recorded it.
//
// The finder is the block's share when Postgres has it (by hash, within
// three hours of the header time); otherwise the block is recorded at its
// header time with an empty finder, instance as its instance, and its
// window is anchored at that time at once. Call it once this instance's
// share log has shipped what it held at start, so a block share that
// exists is found. skip names blocks not to touch (the
// pool's journal still owns them and records them with their share). It
// returns the blocks it recorded.
func (t *Tracker) RecoverFromChain(ctx context.Context, instance string, skip func(hash [32]byte) bool) ([]FoundBlock, error) {
	chain, tip, err := t.tip(ctx)
	if err != nil {
		return nil, err
	}
	from := max(1, tip-t.cfg.RecoverDepth+1)
	hashes := make([][]byte, 0, tip-from+1)
	heights := make(map[chainhash.Hash]int64, tip-from+1)
	for h := from; h <= tip; h++ {
		hash, err := chain.GetBlockHash(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("payout: recover: block hash at %d: %w", h, err)
		}
		heights[hash] = h
		hashes = append(hashes, hash[:])
	}
	rows, err := t.db.Query(ctx, `SELECT hash FROM blocks WHERE hash = ANY($1)`, hashes)
	if err != nil {
		return nil, fmt.Errorf("payout: recover: %w", err)
	}
	known, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chainhash.Hash, error) {
		var b []byte
		var h chainhash.Hash
		err := r.Scan(&b)
		copy(h[:], b)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("payout: recover: %w", err)
	}
	for _, h := range known {
		delete(heights, h)
	}
	var recovered []FoundBlock
	for _, hb := range hashes {
		hash := chainhash.Hash(hb)
		height, ok := heights[hash]
		if !ok || (skip != nil && skip(hash)) {
			continue
		}
		raw, err := chain.GetBlock(ctx, hash)
		if err != nil {
			return recovered, fmt.Errorf("payout: recover: get block %s: %w", hash, err)
		}
		hdr, cb, err := headerAndCoinbase(raw)
		if err != nil {
			return recovered, fmt.Errorf("payout: recover: block %s: %w", hash, err)
		}
		var reward int64
		pays := false
		for _, o := range cb.TxOut {
			reward += o.Value
			if o.Value > 0 && bytes.Equal(o.PkScript, t.cfg.PoolScript) {
				pays = true
			}
		}
		if !pays {
			continue
		}
		fb := FoundBlock{Hash: hash, Height: height, Reward: reward}
		if err := t.blockShare(ctx, &fb, hdr.Timestamp); err != nil {
			return recovered, err
		}
		shareFound := !fb.Record.Time.IsZero()
		if !shareFound {
			fb.Record = share.Record{
				Time: hdr.Timestamp, Instance: instance, Height: height, Block: true, Hash: hash,
				NetworkDifficulty: share.TargetFromCompact(hdr.Bits).Difficulty(),
			}
		}
		inserted, err := t.found(ctx, fb)
		if err != nil {
			return recovered, err
		}
		if !inserted {
			continue
		}
		t.log.Warn("recovered a pool block from the chain that the database did not have",
			zap.Int64("height", height), zap.Stringer("hash", hash), zap.Int64("reward_sats", reward),
			zap.String("finder", fb.Record.Worker.Address), zap.Bool("share_found", shareFound))
		recovered = append(recovered, fb)
		if !shareFound {
			// The caller has shipped the share log: the share will not
			// arrive, so the window is anchored at the block's time now.
			if _, err := t.Snapshot(ctx, hash, true); err != nil {
				return recovered, err
			}
		}
	}
	return recovered, nil
}

// blockShare fills fb.Record from the block's share in Postgres, if there.
func (t *Tracker) blockShare(ctx context.Context, fb *FoundBlock, near time.Time) error {
	r := &fb.Record
	var (
		proto     int16
		id, jobID int64
	)
	err := t.db.QueryRow(ctx, `SELECT time, instance, id, address, worker, protocol, job_id,
			assigned_difficulty, reached_difficulty, network_difficulty, remote_addr
		FROM shares WHERE hash = $1 AND is_block
		  AND time BETWEEN $2::timestamptz - interval '3 hours' AND $2::timestamptz + interval '3 hours'
		ORDER BY time LIMIT 1`, fb.Hash[:], near).Scan(&r.Time, &r.Instance, &id, &r.Worker.Address, &r.Worker.Name,
		&proto, &jobID, &r.AssignedDifficulty, &r.ReachedDifficulty, &r.NetworkDifficulty, &r.RemoteAddr)
	if errors.Is(err, pgx.ErrNoRows) {
		*r = share.Record{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("payout: recover: block share: %w", err)
	}
	r.ID, r.JobID, r.Protocol, r.Height, r.Block, r.Hash = uint64(id), uint32(jobID), share.Protocol(proto), fb.Height, true, fb.Hash
	return nil
}

// headerAndCoinbase decodes a serialized block's header and first
// transaction only.
func headerAndCoinbase(raw []byte) (*wire.BlockHeader, *wire.MsgTx, error) {
	r := bytes.NewReader(raw)
	var hdr wire.BlockHeader
	if err := hdr.Deserialize(r); err != nil {
		return nil, nil, err
	}
	n, err := wire.ReadVarInt(r, 0)
	if err != nil {
		return nil, nil, err
	}
	if n == 0 {
		return nil, nil, ErrNoCoinbase
	}
	var cb wire.MsgTx
	if err := cb.Deserialize(r); err != nil {
		return nil, nil, err
	}
	if !blockchain.IsCoinBaseTx(&cb) {
		return nil, nil, ErrNoCoinbase
	}
	return &hdr, &cb, nil
}
