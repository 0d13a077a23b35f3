package payout

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// seedAPIRows writes blocks (two at height 12, one at each other height),
// payouts with outputs and ledger rows directly, as the tracker and payer
// would have.
func seedAPIRows(t *testing.T, db *pgxpool.Pool) (blockIDs map[[32]byte]int64) {
	t.Helper()
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	blockIDs = map[[32]byte]int64{}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	heights := []int64{10, 11, 12, 12, 13}
	statuses := []string{"mature", "mature", "orphaned", "accepted", "submitted"}
	for i, h := range heights {
		var hash [32]byte
		hash[0] = byte(i + 1)
		var id int64
		if err := db.QueryRow(ctx, `INSERT INTO blocks (height, hash, found_at, status, reward_sats, confirmations,
				finder_address, finder_worker, instance, share_id, network_difficulty, window_target)
			VALUES ($1, $2, $3, $4, 5000000000, 3, 'bcrt1qfinder', 'rig', 'i', $5, 1.5, 3)
			RETURNING id`, h, hash[:], t0.Add(time.Duration(i)*time.Minute), statuses[i], i).Scan(&id); err != nil {
			t.Fatal(err)
		}
		blockIDs[hash] = id
		exec(`INSERT INTO ledger (address, kind, amount_sats, block_hash) VALUES ('alice', 'credit', $1, $2)`, 1000+i, hash[:])
	}
	// Three payouts; the second pays alice and 149 others.
	for p := 1; p <= 3; p++ {
		var txid [32]byte
		txid[31] = byte(p)
		var id int64
		if err := db.QueryRow(ctx, `INSERT INTO payouts (txid, raw_tx, status, fee_sats, fee_policy, paid_sats,
				created_height, scanned_height, confirmed_height)
			VALUES ($1, '\x00', $2, 200, 'pool', 100000, 100, 100, $3) RETURNING id`,
			txid[:], map[bool]string{true: "confirmed", false: "broadcast"}[p < 3], map[bool]any{true: int64(100 + p), false: nil}[p < 3]).Scan(&id); err != nil {
			t.Fatal(err)
		}
		n := 1
		if p == 2 {
			n = 150
		}
		for o := 0; o < n; o++ {
			addr := fmt.Sprintf("m%03d", o)
			if o == 0 {
				addr = "alice"
			}
			exec(`INSERT INTO payout_outputs (payout_id, address, vout, amount_sats, settled_sats) VALUES ($1, $2, $3, 700, 700)`, id, addr, o)
			exec(`INSERT INTO ledger (address, kind, amount_sats, payout_id) VALUES ($1, 'payout', -700, $2)`, addr, id)
		}
	}
	return blockIDs
}

func TestAPIQueries(t *testing.T) {
	db := testDB(t)
	seedAPIRows(t, db)
	l := NewLedger(db)
	ctx := context.Background()

	// Blocks: newest first by height, the two at height 12 by id; pages of
	// two walk all five exactly once.
	var walked []string
	var cur *BlockCursor
	for page := 0; page < 5; page++ {
		bs, err := l.Blocks(ctx, cur, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			walked = append(walked, fmt.Sprintf("%d/%s", b.Height, b.Status))
		}
		if len(bs) < 2 {
			break
		}
		cur = &BlockCursor{Height: bs[len(bs)-1].Height, ID: bs[len(bs)-1].ID}
	}
	if got := fmt.Sprint(walked); got != "[13/submitted 12/accepted 12/orphaned 11/mature 10/mature]" {
		t.Fatalf("blocks walked %s", got)
	}
	if bs, err := l.Blocks(ctx, &BlockCursor{Height: 12}, 10); err != nil || len(bs) != 2 || bs[0].Height != 11 {
		t.Fatalf("below height 12: %d blocks, %v", len(bs), err)
	}
	last, err := l.LastBlock(ctx)
	if err != nil || last == nil || last.Height != 13 || *last.RewardSats != 5e9 || last.FinderWorker != "rig" || *last.NetworkDifficulty != 1.5 {
		t.Fatalf("last block %+v, %v", last, err)
	}

	// Payouts: newest first, outputs cut at the asked number.
	ps, err := l.Payouts(ctx, 0, 10, 100)
	if err != nil || len(ps) != 3 {
		t.Fatalf("payouts %d, %v", len(ps), err)
	}
	if ps[0].Status != "broadcast" || ps[0].ConfirmedHeight != nil || ps[1].OutputCount != 150 || len(ps[1].Outputs) != 100 ||
		ps[1].Outputs[99].Vout != 99 || ps[2].OutputCount != 1 || ps[2].Outputs[0].Address != "alice" {
		t.Fatalf("payouts %+v", ps)
	}
	older, err := l.Payouts(ctx, ps[0].ID, 1, 0)
	if err != nil || len(older) != 1 || older[0].ID != ps[1].ID || len(older[0].Outputs) != 0 || older[0].OutputCount != 150 {
		t.Fatalf("payouts before %d: %+v, %v", ps[0].ID, older, err)
	}
	one, err := l.PayoutByTxid(ctx, ps[1].Txid, 1000)
	if err != nil || one.ID != ps[1].ID || len(one.Outputs) != 150 {
		t.Fatalf("payout by txid: %+v, %v", one, err)
	}
	if _, err := l.PayoutByTxid(ctx, [32]byte{9}, 10); !errors.Is(err, ErrUnknownPayout) {
		t.Fatalf("unknown txid: %v", err)
	}

	// An address's payouts and ledger, paged by id.
	ap, err := l.AddressPayouts(ctx, "alice", 0, 2)
	if err != nil || len(ap) != 2 || ap[0].PayoutID != ps[0].ID || ap[1].PayoutID != ps[1].ID || ap[0].AmountSats != 700 {
		t.Fatalf("alice's payouts %+v, %v", ap, err)
	}
	ap, err = l.AddressPayouts(ctx, "alice", ap[1].PayoutID, 2)
	if err != nil || len(ap) != 1 || ap[0].PayoutID != ps[2].ID || ap[0].Status != "confirmed" {
		t.Fatalf("alice's older payouts %+v, %v", ap, err)
	}
	if ap, err := l.AddressPayouts(ctx, "m149", 0, 10); err != nil || len(ap) != 1 || ap[0].Vout != 149 {
		t.Fatalf("m149's payouts %+v, %v", ap, err)
	}
	h1, err := l.HistoryPage(ctx, "alice", 0, 5)
	if err != nil || len(h1) != 5 {
		t.Fatalf("alice's ledger %d, %v", len(h1), err)
	}
	h2, err := l.HistoryPage(ctx, "alice", h1[4].ID, 5)
	if err != nil || len(h2) != 3 || h2[0].ID >= h1[4].ID || h2[2].Kind != KindCredit {
		t.Fatalf("alice's older ledger %+v, %v", h2, err)
	}
	if bal, err := l.Balance(ctx, "alice"); err != nil || bal != 1000+1001+1002+1003+1004-3*700 {
		t.Fatalf("alice's balance %d, %v", bal, err)
	}
}
