package payout

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Ledger entry kinds.
const (
	KindCredit = "credit" // +: a miner's PPLNS share of a mature block
	KindFee    = "fee"    // +: the pool fee of a mature block
	KindPayout = "payout" // -: a balance settled by a payout transaction
	KindTxFee  = "txfee"  // -: a payout's fee charged to the fee account
)

// Balance is an address's ledger sum.
type Balance struct {
	Address string
	Sats    int64
}

// Entry is one immutable ledger row.
type Entry struct {
	ID      int64
	Address string
	Kind    string
	Sats    int64
	// BlockHash is set for credit and fee rows (raw byte order).
	BlockHash []byte
	// PayoutID is set for payout and txfee rows.
	PayoutID *int64
	Time     time.Time
}

// Ledger reads balances and history. It never writes: rows are written by
// the Tracker (credits) and the Payer (payouts) only.
type Ledger struct{ db *pgxpool.Pool }

// NewLedger returns a Ledger over db.
func NewLedger(db *pgxpool.Pool) *Ledger { return &Ledger{db: db} }

// Balances returns every non-zero balance, sorted by address.
func (l *Ledger) Balances(ctx context.Context) ([]Balance, error) {
	rows, err := l.db.Query(ctx, `SELECT address, balance_sats FROM balances WHERE balance_sats <> 0 ORDER BY address`)
	if err != nil {
		return nil, fmt.Errorf("payout: balances: %w", err)
	}
	bs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Balance])
	if err != nil {
		return nil, fmt.Errorf("payout: balances: %w", err)
	}
	return bs, nil
}

// Balance returns one address's balance (zero when it has no rows).
func (l *Ledger) Balance(ctx context.Context, address string) (int64, error) {
	var s int64
	if err := l.db.QueryRow(ctx, `SELECT coalesce(sum(amount_sats), 0)::bigint FROM ledger WHERE address = $1`, address).Scan(&s); err != nil {
		return 0, fmt.Errorf("payout: balance: %w", err)
	}
	return s, nil
}

// History returns an address's ledger rows, newest first, at most limit.
func (l *Ledger) History(ctx context.Context, address string, limit int) ([]Entry, error) {
	rows, err := l.db.Query(ctx, `SELECT id, address, kind, amount_sats, block_hash, payout_id, created_at
		FROM ledger WHERE address = $1 ORDER BY id DESC LIMIT $2`, address, limit)
	if err != nil {
		return nil, fmt.Errorf("payout: history: %w", err)
	}
	es, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Entry])
	if err != nil {
		return nil, fmt.Errorf("payout: history: %w", err)
	}
	return es, nil
}

// totalOwed is the sum of all balances except the fee account's.
func totalOwed(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, feeAccount string) (int64, error) {
	var s int64
	if err := q.QueryRow(ctx, `SELECT coalesce(sum(amount_sats), 0)::bigint FROM ledger WHERE address <> $1`, feeAccount).Scan(&s); err != nil {
		return 0, fmt.Errorf("payout: total owed: %w", err)
	}
	return s, nil
}
