package payout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
)

// Read-side queries for the pool's HTTP API: every one is a bounded keyset
// page over a primary key or an index (newest first), never an offset.

// MaxPage bounds every page the queries below return.
const MaxPage = 1000

// Block is one row of the blocks table.
type Block struct {
	ID     int64
	Height int64
	// Hash is raw (internal) byte order.
	Hash        [32]byte
	FoundAt     time.Time
	SubmittedAt *time.Time
	Status      string
	// RewardSats is the template's coinbase value until the block matures,
	// then its actual coinbase value.
	RewardSats *int64
	// Confirmations as the tracker last saw them (it stops counting at
	// maturity).
	Confirmations     int64
	FinderAddress     string
	FinderWorker      string
	NetworkDifficulty *float64
	SubmitError       *string
	// The PPLNS window snapshot (nil until taken).
	WindowTarget *float64
	WindowWeight *float64
	WindowShares *int64
	WindowAt     *time.Time
	// CoinbaseTxid (raw order) and CreditedAt are set at maturity.
	CoinbaseTxid []byte
	CreditedAt   *time.Time
}

// BlockCursor is a position in the blocks' newest-first order (height
// descending, then id descending): the page after it starts with the first
// block ordered after (Height, ID). ID 0 means "below Height".
type BlockCursor struct {
	Height int64
	ID     int64
}

const blockColumns = `id, height, hash, found_at, submitted_at, status, reward_sats, confirmations,
	finder_address, finder_worker, network_difficulty, submit_error,
	window_target, window_weight, window_shares, window_at, coinbase_txid, credited_at`

func scanBlock(r pgx.CollectableRow) (Block, error) {
	var b Block
	var h []byte
	err := r.Scan(&b.ID, &b.Height, &h, &b.FoundAt, &b.SubmittedAt, &b.Status, &b.RewardSats, &b.Confirmations,
		&b.FinderAddress, &b.FinderWorker, &b.NetworkDifficulty, &b.SubmitError,
		&b.WindowTarget, &b.WindowWeight, &b.WindowShares, &b.WindowAt, &b.CoinbaseTxid, &b.CreditedAt)
	if err == nil && len(h) != 32 {
		err = fmt.Errorf("block %d: hash of %d bytes", b.ID, len(h))
	}
	copy(b.Hash[:], h)
	return b, err
}

// Blocks returns up to limit blocks newest first (height descending, then
// id), starting after before (nil: from the newest).
func (l *Ledger) Blocks(ctx context.Context, before *BlockCursor, limit int) ([]Block, error) {
	limit = clampPage(limit)
	h, id := int64(math.MaxInt64), int64(math.MaxInt64)
	if before != nil {
		h, id = before.Height, before.ID
	}
	rows, err := l.db.Query(ctx, `SELECT `+blockColumns+` FROM blocks
		WHERE height <= $1 AND (height, id) < ($1, $2)
		ORDER BY height DESC, id DESC LIMIT $3`, h, id, limit)
	if err != nil {
		return nil, fmt.Errorf("payout: blocks: %w", err)
	}
	bs, err := pgx.CollectRows(rows, scanBlock)
	if err != nil {
		return nil, fmt.Errorf("payout: blocks: %w", err)
	}
	return bs, nil
}

// LastBlock returns the newest block (highest height), nil when there is
// none.
func (l *Ledger) LastBlock(ctx context.Context) (*Block, error) {
	bs, err := l.Blocks(ctx, nil, 1)
	if err != nil || len(bs) == 0 {
		return nil, err
	}
	return &bs[0], nil
}

// PayoutRecord is one payout transaction as recorded.
type PayoutRecord struct {
	ID int64
	// Txid is raw (internal) byte order.
	Txid            [32]byte
	Status          string // pending, broadcast, confirmed
	FeeSats         int64
	FeePolicy       string
	PaidSats        int64 // sum of the outputs to miners
	CreatedHeight   int64
	ConfirmedHeight *int64
	CreatedAt       time.Time
	BroadcastAt     *time.Time
	ConfirmedAt     *time.Time
	// Outputs are the payments to miners, by vout, at most the number asked
	// for; OutputCount is how many there are in all.
	Outputs     []PayoutOutput
	OutputCount int
}

const payoutColumns = `p.id, p.txid, p.status, p.fee_sats, p.fee_policy, p.paid_sats, p.created_height,
	p.confirmed_height, p.created_at, p.broadcast_at, p.confirmed_at`

func scanPayout(r pgx.CollectableRow) (PayoutRecord, error) {
	var p PayoutRecord
	var txid []byte
	err := r.Scan(&p.ID, &txid, &p.Status, &p.FeeSats, &p.FeePolicy, &p.PaidSats, &p.CreatedHeight,
		&p.ConfirmedHeight, &p.CreatedAt, &p.BroadcastAt, &p.ConfirmedAt)
	copy(p.Txid[:], txid)
	return p, err
}

// Payouts returns up to limit payouts newest first (id descending) with
// ids below beforeID (0: from the newest), each with at most maxOutputs
// outputs (by vout).
func (l *Ledger) Payouts(ctx context.Context, beforeID int64, limit, maxOutputs int) ([]PayoutRecord, error) {
	limit = clampPage(limit)
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	rows, err := l.db.Query(ctx, `SELECT `+payoutColumns+` FROM payouts p
		WHERE p.id < $1 ORDER BY p.id DESC LIMIT $2`, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("payout: payouts: %w", err)
	}
	ps, err := pgx.CollectRows(rows, scanPayout)
	if err != nil {
		return nil, fmt.Errorf("payout: payouts: %w", err)
	}
	if err := l.payoutOutputs(ctx, ps, maxOutputs); err != nil {
		return nil, err
	}
	return ps, nil
}

// PayoutByTxid returns the payout with txid (raw order) and up to
// maxOutputs of its outputs; ErrUnknownPayout when there is none.
func (l *Ledger) PayoutByTxid(ctx context.Context, txid [32]byte, maxOutputs int) (*PayoutRecord, error) {
	rows, err := l.db.Query(ctx, `SELECT `+payoutColumns+` FROM payouts p WHERE p.txid = $1`, txid[:])
	if err != nil {
		return nil, fmt.Errorf("payout: payout: %w", err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanPayout)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrUnknownPayout
	}
	if err != nil {
		return nil, fmt.Errorf("payout: payout: %w", err)
	}
	ps := []PayoutRecord{p}
	if err := l.payoutOutputs(ctx, ps, maxOutputs); err != nil {
		return nil, err
	}
	return &ps[0], nil
}

// payoutOutputs fills each payout's outputs (the first maxOutputs by vout,
// over the (payout_id, vout) index) and output count (an index-only count
// per payout).
func (l *Ledger) payoutOutputs(ctx context.Context, ps []PayoutRecord, maxOutputs int) error {
	if len(ps) == 0 {
		return nil
	}
	ids := make([]int64, len(ps))
	byID := make(map[int64]*PayoutRecord, len(ps))
	for i := range ps {
		ids[i] = ps[i].ID
		byID[ps[i].ID] = &ps[i]
		ps[i].Outputs = []PayoutOutput{}
	}
	rows, err := l.db.Query(ctx, `SELECT ids.id, cnt.n, o.address, o.vout, o.amount_sats, o.settled_sats
		FROM unnest($1::bigint[]) AS ids(id)
		CROSS JOIN LATERAL (SELECT count(*) AS n FROM payout_outputs c WHERE c.payout_id = ids.id) cnt
		LEFT JOIN LATERAL (SELECT * FROM payout_outputs po WHERE po.payout_id = ids.id
			ORDER BY po.vout LIMIT $2) o ON true
		ORDER BY ids.id, o.vout`, ids, max(maxOutputs, 0))
	if err != nil {
		return fmt.Errorf("payout: payout outputs: %w", err)
	}
	var (
		id, count       int64
		addr            *string
		vout            *uint32
		amount, settled *int64
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &count, &addr, &vout, &amount, &settled}, func() error {
		p := byID[id]
		if p == nil {
			return nil
		}
		p.OutputCount = int(count)
		if addr != nil && vout != nil && amount != nil && settled != nil {
			p.Outputs = append(p.Outputs, PayoutOutput{Address: *addr, Vout: *vout, Sats: *amount, Settled: *settled})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("payout: payout outputs: %w", err)
	}
	return nil
}

// AddressPayout is one payment to an address.
type AddressPayout struct {
	PayoutID        int64
	Txid            [32]byte // raw order
	Status          string
	Vout            uint32
	AmountSats      int64
	SettledSats     int64
	CreatedAt       time.Time
	ConfirmedHeight *int64
	ConfirmedAt     *time.Time
}

// AddressPayouts returns up to limit payments to address, newest first,
// with payout ids below beforeID (0: from the newest). It walks the
// address's ledger rows (the ledger_address index), where every payment has
// its payout row.
func (l *Ledger) AddressPayouts(ctx context.Context, address string, beforeID int64, limit int) ([]AddressPayout, error) {
	limit = clampPage(limit)
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	rows, err := l.db.Query(ctx, `SELECT p.id, p.txid, p.status, o.vout, o.amount_sats, o.settled_sats,
			p.created_at, p.confirmed_height, p.confirmed_at
		FROM ledger lg
		JOIN payouts p ON p.id = lg.payout_id
		JOIN payout_outputs o ON o.payout_id = lg.payout_id AND o.address = lg.address
		WHERE lg.address = $1 AND lg.kind = 'payout' AND lg.payout_id < $2
		ORDER BY lg.payout_id DESC LIMIT $3`, address, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("payout: address payouts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AddressPayout, error) {
		var a AddressPayout
		var txid []byte
		err := r.Scan(&a.PayoutID, &txid, &a.Status, &a.Vout, &a.AmountSats, &a.SettledSats,
			&a.CreatedAt, &a.ConfirmedHeight, &a.ConfirmedAt)
		copy(a.Txid[:], txid)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("payout: address payouts: %w", err)
	}
	return out, nil
}

// HistoryPage returns up to limit of an address's ledger rows newest first
// with ids below beforeID (0: from the newest).
func (l *Ledger) HistoryPage(ctx context.Context, address string, beforeID int64, limit int) ([]Entry, error) {
	limit = clampPage(limit)
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	rows, err := l.db.Query(ctx, `SELECT id, address, kind, amount_sats, block_hash, payout_id, created_at
		FROM ledger WHERE address = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, address, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("payout: history: %w", err)
	}
	es, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Entry])
	if err != nil {
		return nil, fmt.Errorf("payout: history: %w", err)
	}
	return es, nil
}

func clampPage(limit int) int {
	return min(max(limit, 1), MaxPage)
}
