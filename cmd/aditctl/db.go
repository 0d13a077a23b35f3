package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/adit-pool/adit/payout"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dbFlags adds -dsn to fs; the DSN defaults to $ADIT_DATABASE_DSN.
func dbFlags(fs *flag.FlagSet) *string {
	return fs.String("dsn", "", "Postgres DSN (default: $ADIT_DATABASE_DSN)")
}

func openDB(ctx context.Context, dsn string, getenv func(string) string) (*pgxpool.Pool, error) {
	if dsn == "" {
		dsn = getenv("ADIT_DATABASE_DSN")
	}
	if dsn == "" {
		return nil, errors.New("no database: pass -dsn or set ADIT_DATABASE_DSN")
	}
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	return db, nil
}

// dbCommand runs one of the database subcommands.
func dbCommand(cmd string, args []string, out io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	dsn := dbFlags(fs)
	limit := fs.Int("limit", 100, "maximum rows")
	var address, status *string
	switch cmd {
	case "ledger":
		address = fs.String("address", "", "payout address (required)")
	case "payouts":
		status = fs.String("status", "", "only payouts with this status: pending (not yet confirmed), confirmed")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", cmd, fs.Args())
	}
	if *limit < 1 {
		return fmt.Errorf("%s: -limit must be positive", cmd)
	}
	if cmd == "ledger" && *address == "" {
		return errors.New("ledger: -address is required")
	}
	if status != nil && *status != "" && *status != "pending" && *status != "confirmed" {
		return fmt.Errorf("payouts: -status %q is neither pending nor confirmed", *status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := openDB(ctx, *dsn, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	switch cmd {
	case "blocks":
		err = listBlocks(ctx, db, tw, *limit)
	case "balances":
		err = listBalances(ctx, db, tw)
	case "ledger":
		err = listLedger(ctx, db, tw, *address, *limit)
	case "payouts":
		err = listPayouts(ctx, db, tw, *status, *limit)
	}
	if err != nil {
		return err
	}
	return tw.Flush()
}

// hashString prints a raw-order hash in the usual (reversed) display order.
func hashString(raw []byte) string {
	if len(raw) != chainhash.HashSize {
		return fmt.Sprintf("%x", raw)
	}
	var h chainhash.Hash
	copy(h[:], raw)
	return h.String()
}

func btc(sats int64) string {
	sign := ""
	if sats < 0 {
		sign, sats = "-", -sats
	}
	return fmt.Sprintf("%s%d.%08d", sign, sats/1e8, sats%1e8)
}

func listBlocks(ctx context.Context, db *pgxpool.Pool, w io.Writer, limit int) error {
	rows, err := db.Query(ctx, `SELECT height, hash, status, reward_sats, confirmations, found_at, finder_address
		FROM blocks ORDER BY height DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return fmt.Errorf("blocks: %w", err)
	}
	fmt.Fprintln(w, "HEIGHT\tHASH\tSTATUS\tREWARD_SATS\tCONFIRMATIONS\tFOUND\tFINDER")
	var (
		height, confs int64
		hash          []byte
		status        string
		reward        *int64
		found         time.Time
		finder        string
	)
	_, err = pgx.ForEachRow(rows, []any{&height, &hash, &status, &reward, &confs, &found, &finder}, func() error {
		r := "-"
		if reward != nil {
			r = fmt.Sprint(*reward)
		}
		_, err := fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", height, hashString(hash), status, r, confs,
			found.UTC().Format(time.RFC3339), finder)
		return err
	})
	if err != nil {
		return fmt.Errorf("blocks: %w", err)
	}
	return nil
}

func listBalances(ctx context.Context, db *pgxpool.Pool, w io.Writer) error {
	bs, err := payout.NewLedger(db).Balances(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "ADDRESS\tBALANCE_SATS\tBTC")
	var total int64
	for _, b := range bs {
		total += b.Sats
		fmt.Fprintf(w, "%s\t%d\t%s\n", b.Address, b.Sats, btc(b.Sats))
	}
	_, err = fmt.Fprintf(w, "TOTAL\t%d\t%s\n", total, btc(total))
	return err
}

func listLedger(ctx context.Context, db *pgxpool.Pool, w io.Writer, address string, limit int) error {
	l := payout.NewLedger(db)
	bal, err := l.Balance(ctx, address)
	if err != nil {
		return err
	}
	es, err := l.History(ctx, address, limit)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "address %s balance %d sats (%s BTC)\n", address, bal, btc(bal))
	fmt.Fprintln(w, "ID\tTIME\tKIND\tAMOUNT_SATS\tBLOCK\tPAYOUT")
	for _, e := range es {
		block, po := "-", "-"
		if e.BlockHash != nil {
			block = hashString(e.BlockHash)
		}
		if e.PayoutID != nil {
			po = fmt.Sprint(*e.PayoutID)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\t%s\n", e.ID, e.Time.UTC().Format(time.RFC3339), e.Kind, e.Sats, block, po)
	}
	return nil
}

func listPayouts(ctx context.Context, db *pgxpool.Pool, w io.Writer, status string, limit int) error {
	where := ""
	switch status {
	case "pending":
		where = "WHERE p.status <> 'confirmed'"
	case "confirmed":
		where = "WHERE p.status = 'confirmed'"
	}
	rows, err := db.Query(ctx, `SELECT p.id, p.status, p.txid, p.paid_sats, p.fee_sats,
			(SELECT count(*) FROM payout_outputs o WHERE o.payout_id = p.id), p.created_at, p.confirmed_height
		FROM payouts p `+where+` ORDER BY p.id DESC LIMIT $1`, limit)
	if err != nil {
		return fmt.Errorf("payouts: %w", err)
	}
	fmt.Fprintln(w, "ID\tSTATUS\tTXID\tPAID_SATS\tFEE_SATS\tOUTPUTS\tCREATED\tCONFIRMED_HEIGHT")
	var (
		id, paid, fee, n int64
		st               string
		txid             []byte
		created          time.Time
		confHeight       *int64
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &st, &txid, &paid, &fee, &n, &created, &confHeight}, func() error {
		ch := "-"
		if confHeight != nil {
			ch = fmt.Sprint(*confHeight)
		}
		_, err := fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", id, st, hashString(txid), paid, fee, n,
			created.UTC().Format(time.RFC3339), ch)
		return err
	})
	if err != nil {
		return fmt.Errorf("payouts: %w", err)
	}
	return nil
}

// dbUsage documents the database subcommands.
var dbUsage = strings.TrimLeft(`
  blocks   [-dsn DSN] [-limit N]                 found blocks: height, hash, status, reward, confirmations
  balances [-dsn DSN]                            every non-zero ledger balance
  ledger   -address A [-dsn DSN] [-limit N]      an address's balance and ledger rows, newest first
  payouts  [-status pending|confirmed] [-dsn DSN] [-limit N]
                                                 payout transactions with their txids
  (the DSN defaults to $ADIT_DATABASE_DSN)`, "\n")
