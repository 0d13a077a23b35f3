package payout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// Chain is the read side of a node the Tracker and the Payer need.
// *node.Client implements it.
type Chain interface {
	GetBlockCount(ctx context.Context) (int64, error)
	GetBlockHash(ctx context.Context, height int64) (chainhash.Hash, error)
	// GetBlock returns a block's serialization.
	GetBlock(ctx context.Context, hash chainhash.Hash) ([]byte, error)
}

// FoundBlock describes a share that solved a block. Its fields match
// pool.FoundBlock, so the pool converts with payout.FoundBlock(b).
type FoundBlock struct {
	// Record is the block-finding share. Its ID may still be zero (the share
	// log assigns it after the block is submitted): the snapshot finds the
	// share by (Time, Instance, Hash).
	Record share.Record
	// Hash is the block hash in raw (internal) byte order.
	Hash   [32]byte
	Height int64
	// Reward is the template's coinbase value: provisional; the credited
	// amount is the mature block's actual coinbase value.
	Reward int64
}

// Tracker follows the pool's blocks from found to mature or orphaned,
// snapshots their PPLNS windows and credits mature blocks to the ledger. All
// state is in Postgres: a restarted Tracker carries on where it stopped.
// Found and Submitted implement the pool's BlockStore; they and Poll are
// safe for concurrent use (Postgres row locks serialise them per block).
type Tracker struct {
	cfg    TrackerConfig
	db     *pgxpool.Pool
	chains []Chain
	log    *zap.Logger
	m      *Metrics
}

// NewTracker returns a Tracker over db (migrated with package migrations)
// and the nodes in chains (tried in order; the first that answers serves a
// whole poll). log and m may be nil.
func NewTracker(cfg TrackerConfig, db *pgxpool.Pool, chains []Chain, log *zap.Logger, m *Metrics) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil {
		return nil, ErrNilDB
	}
	if len(chains) == 0 {
		return nil, &ConfigError{"nodes", "no node to track blocks with"}
	}
	if log == nil {
		log = zap.NewNop()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Tracker{cfg: cfg.withDefaults(), db: db, chains: chains, log: log.Named("payout"), m: m}, nil
}

// Found records a block the pool found (status found; idempotent per hash)
// and tries to snapshot its PPLNS window at once; if the block-finding share
// is not in Postgres yet, Poll takes the snapshot later.
func (t *Tracker) Found(ctx context.Context, b FoundBlock) error {
	_, err := t.found(ctx, b)
	return err
}

// found inserts b unless its hash is recorded and reports whether it did.
func (t *Tracker) found(ctx context.Context, b FoundBlock) (inserted bool, err error) {
	rec := &b.Record
	target := t.cfg.PPLNSFactor * rec.NetworkDifficulty
	if math.IsNaN(target) || math.IsInf(target, 0) || target < 0 {
		target = 0
	}
	tag, err := t.db.Exec(ctx, `
		INSERT INTO blocks (height, hash, found_at, status, reward_sats, finder_address, finder_worker,
		                    instance, share_id, network_difficulty, window_target)
		VALUES ($1, $2, $3, 'found', $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (hash) DO NOTHING`,
		b.Height, b.Hash[:], rec.Time, max(b.Reward, 0), rec.Worker.Address, rec.Worker.Name,
		rec.Instance, int64(rec.ID), rec.NetworkDifficulty, target)
	if err != nil {
		return false, fmt.Errorf("payout: record found block: %w", err)
	}
	inserted = tag.RowsAffected() == 1
	if inserted {
		t.log.Info("block recorded", zap.Int64("height", b.Height), zap.Stringer("hash", chainhash.Hash(b.Hash)))
	}
	if _, err := t.Snapshot(ctx, b.Hash, false); err != nil {
		t.log.Warn("window snapshot deferred", zap.Stringer("hash", chainhash.Hash(b.Hash)), zap.Error(err))
	}
	return inserted, nil
}

// Submitted records the outcome of submitting a block: submitted when the
// node accepted it, rejected otherwise (a rejected block is still watched for
// maturity, in case another node took it). A block that already moved on is
// left alone.
func (t *Tracker) Submitted(ctx context.Context, hash [32]byte, accepted bool, submitErr error) error {
	status := StatusSubmitted
	var errText *string
	if !accepted || submitErr != nil {
		status = StatusRejected
		s := "rejected by the node"
		if submitErr != nil {
			s = submitErr.Error()
		}
		errText = &s
	}
	tag, err := t.db.Exec(ctx, `
		UPDATE blocks SET status = $2, submitted_at = now(), submit_error = $3, updated_at = now()
		WHERE hash = $1 AND status = 'found'`, hash[:], status, errText)
	if err != nil {
		return fmt.Errorf("payout: record block submission: %w", err)
	}
	if tag.RowsAffected() == 0 {
		var exists bool
		if err := t.db.QueryRow(ctx, `SELECT true FROM blocks WHERE hash = $1`, hash[:]).Scan(&exists); errors.Is(err, pgx.ErrNoRows) {
			return ErrUnknownBlock
		} else if err != nil {
			return fmt.Errorf("payout: record block submission: %w", err)
		}
	}
	return nil
}

// Snapshot stores the PPLNS window of the block hash (once: a block with a
// snapshot is left alone and reported taken). The window ends at the
// block-finding share, found in the shares table by its time, instance and
// hash. If that share is not there yet, Snapshot does nothing and reports
// false, unless force is set: then the window ends at the block's found time.
func (t *Tracker) Snapshot(ctx context.Context, hash [32]byte, force bool) (taken bool, err error) {
	tx, err := t.db.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("payout: snapshot: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var (
		foundAt  time.Time
		instance string
		target   float64
		windowAt *time.Time
	)
	err = tx.QueryRow(ctx, `SELECT found_at, instance, coalesce(window_target, 0), window_at
		FROM blocks WHERE hash = $1 FOR UPDATE`, hash[:]).Scan(&foundAt, &instance, &target, &windowAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, ErrUnknownBlock
	}
	if err != nil {
		return false, fmt.Errorf("payout: snapshot: %w", err)
	}
	if windowAt != nil {
		return true, nil
	}
	var (
		aTime time.Time
		aInst string
		aID   int64
	)
	err = tx.QueryRow(ctx, `SELECT time, instance, id FROM shares
		WHERE time BETWEEN $1::timestamptz - interval '2 seconds' AND $1::timestamptz + interval '2 seconds'
		  AND instance = $2 AND hash = $3
		ORDER BY time, id LIMIT 1`, foundAt, instance, hash[:]).Scan(&aTime, &aInst, &aID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if !force {
			return false, nil
		}
		aTime, aInst, aID = foundAt, instance, math.MaxInt64
		t.log.Warn("block share not in the database; window anchored at the block's time",
			zap.Stringer("hash", chainhash.Hash(hash)))
	case err != nil:
		return false, fmt.Errorf("payout: snapshot anchor: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO pplns_windows (block_hash, address, weight, shares)
		SELECT $1, w.address, w.weight, w.shares FROM adit_pplns_window($2, $3, $4, $5, $6) w`,
		hash[:], aTime, aInst, aID, target, t.cfg.SnapshotChunk); err != nil {
		return false, fmt.Errorf("payout: snapshot window: %w", err)
	}
	var (
		weight float64
		n      int64
	)
	if err := tx.QueryRow(ctx, `UPDATE blocks SET window_at = $2, updated_at = now(),
			window_weight = (SELECT coalesce(sum(weight), 0) FROM pplns_windows WHERE block_hash = $1),
			window_shares = (SELECT coalesce(sum(shares), 0) FROM pplns_windows WHERE block_hash = $1)
		WHERE hash = $1 RETURNING window_weight, window_shares`, hash[:], t.cfg.Clock()).Scan(&weight, &n); err != nil {
		return false, fmt.Errorf("payout: snapshot: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("payout: snapshot commit: %w", err)
	}
	t.m.windowShares.Set(float64(n))
	t.log.Info("window snapshot taken", zap.Stringer("hash", chainhash.Hash(hash)),
		zap.Int64("shares", n), zap.Float64("weight", weight), zap.Float64("target", target))
	return true, nil
}

// Run polls the chain every PollInterval until ctx is done, then returns
// nil. Poll errors are logged and retried at the next tick.
func (t *Tracker) Run(ctx context.Context) error {
	tick := time.NewTicker(t.cfg.PollInterval)
	defer tick.Stop()
	for {
		if err := t.Poll(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("block poll failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

type trackedBlock struct {
	hash   chainhash.Hash
	height int64
	status string
}

// Poll runs one pass: pending window snapshots, then every block not yet
// final is checked against the best chain: accepted when its hash is at its
// height, orphaned when another block is there (a rejected block stays
// rejected), credited when it has Maturity confirmations.
func (t *Tracker) Poll(ctx context.Context) error {
	if err := t.snapshotPending(ctx); err != nil {
		return err
	}
	chain, tip, err := t.tip(ctx)
	if err != nil {
		return err
	}
	rows, err := t.db.Query(ctx, `SELECT hash, height, status FROM blocks
		WHERE status IN ('found', 'submitted', 'accepted')
		   OR (status = 'rejected' AND height > $1)
		ORDER BY height`, tip-t.cfg.Maturity)
	if err != nil {
		return fmt.Errorf("payout: poll blocks: %w", err)
	}
	blocks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (trackedBlock, error) {
		var b trackedBlock
		var h []byte
		if err := r.Scan(&h, &b.height, &b.status); err != nil {
			return b, err
		}
		copy(b.hash[:], h)
		return b, nil
	})
	if err != nil {
		return fmt.Errorf("payout: poll blocks: %w", err)
	}
	var firstErr error
	for _, b := range blocks {
		if err := t.check(ctx, chain, tip, b); err != nil {
			t.log.Warn("block check failed", zap.Stringer("hash", b.hash), zap.Error(err))
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if err := t.refreshMetrics(ctx); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}

func (t *Tracker) tip(ctx context.Context) (Chain, int64, error) {
	var lastErr error
	for _, c := range t.chains {
		tip, err := c.GetBlockCount(ctx)
		if err == nil {
			return c, tip, nil
		}
		lastErr = err
	}
	return nil, 0, fmt.Errorf("payout: no node answered: %w", lastErr)
}

func (t *Tracker) snapshotPending(ctx context.Context) error {
	rows, err := t.db.Query(ctx, `SELECT hash, found_at FROM blocks WHERE window_at IS NULL ORDER BY found_at`)
	if err != nil {
		return fmt.Errorf("payout: pending snapshots: %w", err)
	}
	type pending struct {
		hash    [32]byte
		foundAt time.Time
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pending, error) {
		var p pending
		var h []byte
		err := r.Scan(&h, &p.foundAt)
		copy(p.hash[:], h)
		return p, err
	})
	if err != nil {
		return fmt.Errorf("payout: pending snapshots: %w", err)
	}
	now := t.cfg.Clock()
	for _, p := range ps {
		if _, err := t.Snapshot(ctx, p.hash, now.Sub(p.foundAt) >= t.cfg.SnapshotWait); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tracker) check(ctx context.Context, chain Chain, tip int64, b trackedBlock) error {
	if b.height > tip {
		return nil // the node has not reached it (yet)
	}
	at, err := chain.GetBlockHash(ctx, b.height)
	if err != nil {
		return fmt.Errorf("payout: block hash at %d: %w", b.height, err)
	}
	if at != b.hash {
		if b.status == StatusRejected {
			return nil
		}
		_, err := t.db.Exec(ctx, `UPDATE blocks SET status = 'orphaned', confirmations = 0, updated_at = now()
			WHERE hash = $1 AND status IN ('found', 'submitted', 'accepted')`, b.hash[:])
		if err != nil {
			return fmt.Errorf("payout: orphan block: %w", err)
		}
		t.log.Warn("block orphaned", zap.Int64("height", b.height), zap.Stringer("hash", b.hash),
			zap.Stringer("best_chain_hash", at))
		return nil
	}
	confs := tip - b.height + 1
	if _, err := t.db.Exec(ctx, `UPDATE blocks SET status = 'accepted', confirmations = $2, updated_at = now()
		WHERE hash = $1 AND status IN ('found', 'submitted', 'accepted', 'rejected')`, b.hash[:], confs); err != nil {
		return fmt.Errorf("payout: accept block: %w", err)
	}
	if confs >= t.cfg.Maturity {
		return t.credit(ctx, chain, b.hash, confs)
	}
	return nil
}

// credit credits a mature block in one transaction: fee and PPLNS credits
// in the ledger, its coinbase outputs paying the pool as spendable outputs,
// status mature. The ledger's unique index makes a second credit impossible.
func (t *Tracker) credit(ctx context.Context, chain Chain, hash chainhash.Hash, confs int64) error {
	raw, err := chain.GetBlock(ctx, hash)
	if err != nil {
		return fmt.Errorf("payout: get block: %w", err)
	}
	var blk wire.MsgBlock
	if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
		return fmt.Errorf("payout: decode block %s: %w", hash, err)
	}
	if got := blk.BlockHash(); got != hash {
		return fmt.Errorf("payout: node returned block %s for %s", got, hash)
	}
	if len(blk.Transactions) == 0 {
		return ErrNoCoinbase
	}
	cb := blk.Transactions[0]
	var reward int64
	for _, o := range cb.TxOut {
		reward += o.Value
	}
	cbTxid := cb.TxHash()

	if _, err := t.Snapshot(ctx, hash, true); err != nil {
		return err
	}
	tx, err := t.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("payout: credit: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var status string
	if err := tx.QueryRow(ctx, `SELECT status FROM blocks WHERE hash = $1 FOR UPDATE`, hash[:]).Scan(&status); err != nil {
		return fmt.Errorf("payout: credit: %w", err)
	}
	if status != StatusAccepted {
		return nil // credited (or orphaned) meanwhile
	}
	rows, err := tx.Query(ctx, `SELECT address, weight, shares FROM pplns_windows WHERE block_hash = $1`, hash[:])
	if err != nil {
		return fmt.Errorf("payout: credit window: %w", err)
	}
	weights, err := pgx.CollectRows(rows, pgx.RowToStructByPos[AddressWeight])
	if err != nil {
		return fmt.Errorf("payout: credit window: %w", err)
	}
	fee, credits, err := Split(reward, t.cfg.FeeBasisPoints, weights)
	if errors.Is(err, ErrEmptyWindow) {
		t.log.Warn("empty PPLNS window: the whole reward goes to the fee account", zap.Stringer("hash", hash))
		fee, credits, err = reward, nil, nil
	}
	if err != nil {
		return fmt.Errorf("payout: credit split: %w", err)
	}
	ledgerRows := make([][]any, 0, len(credits)+1)
	if fee > 0 {
		ledgerRows = append(ledgerRows, []any{t.cfg.FeeAccount, "fee", fee, hash[:]})
	}
	for _, c := range credits {
		ledgerRows = append(ledgerRows, []any{c.Address, "credit", c.Sats, hash[:]})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger"},
		[]string{"address", "kind", "amount_sats", "block_hash"}, pgx.CopyFromRows(ledgerRows)); err != nil {
		return fmt.Errorf("payout: credit ledger: %w", err)
	}
	var poolOut int64
	for i, o := range cb.TxOut {
		if o.Value <= 0 || !bytes.Equal(o.PkScript, t.cfg.PoolScript) {
			continue
		}
		poolOut += o.Value
		if _, err := tx.Exec(ctx, `INSERT INTO pool_utxos (txid, vout, value_sats, pk_script, block_hash, spendable)
			VALUES ($1, $2, $3, $4, $5, true)`, cbTxid[:], i, o.Value, o.PkScript, hash[:]); err != nil {
			return fmt.Errorf("payout: credit outputs: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE blocks SET status = 'mature', reward_sats = $2, coinbase_txid = $3,
		credited_at = $4, confirmations = $5, updated_at = now() WHERE hash = $1`,
		hash[:], reward, cbTxid[:], t.cfg.Clock(), confs); err != nil {
		return fmt.Errorf("payout: credit: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("payout: credit commit: %w", err)
	}
	if poolOut != reward {
		t.log.Warn("coinbase pays outside the pool script: the ledger credits more than the pool can spend",
			zap.Stringer("hash", hash), zap.Int64("reward_sats", reward), zap.Int64("pool_sats", poolOut))
	}
	t.log.Info("block credited", zap.Stringer("hash", hash), zap.Int64("reward_sats", reward),
		zap.Int64("fee_sats", fee), zap.Int("miners", len(credits)))
	return nil
}

func (t *Tracker) refreshMetrics(ctx context.Context) error {
	rows, err := t.db.Query(ctx, `SELECT status, count(*) FROM blocks GROUP BY status`)
	if err != nil {
		return fmt.Errorf("payout: metrics: %w", err)
	}
	counts := map[string]float64{}
	var (
		s string
		n int64
	)
	_, err = pgx.ForEachRow(rows, []any{&s, &n}, func() error { counts[s] = float64(n); return nil })
	if err != nil {
		return fmt.Errorf("payout: metrics: %w", err)
	}
	for _, st := range blockStatuses {
		t.m.blocks.WithLabelValues(st).Set(counts[st])
	}
	owed, err := totalOwed(ctx, t.db, t.cfg.FeeAccount)
	if err != nil {
		return err
	}
	t.m.balances.Set(float64(owed))
	return nil
}
