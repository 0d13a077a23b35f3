package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/adit-pool/adit/migrations"
	"github.com/adit-pool/adit/payout"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/pgstore/pgtest"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// fakeChain is a best chain of synthetic blocks (the tracker and the payer
// check hashes and read coinbases, never proof of work).
type fakeChain struct{ blocks []*wire.MsgBlock }

func (c *fakeChain) GetBlockCount(context.Context) (int64, error) {
	return int64(len(c.blocks) - 1), nil
}

func (c *fakeChain) GetBlockHash(_ context.Context, h int64) (chainhash.Hash, error) {
	if h < 0 || h >= int64(len(c.blocks)) {
		return chainhash.Hash{}, fmt.Errorf("no block at %d", h)
	}
	return c.blocks[h].BlockHash(), nil
}

func (c *fakeChain) GetBlock(_ context.Context, hash chainhash.Hash) ([]byte, error) {
	for _, b := range c.blocks {
		if b.BlockHash() == hash {
			var buf bytes.Buffer
			err := b.Serialize(&buf)
			return buf.Bytes(), err
		}
	}
	return nil, fmt.Errorf("no block %s", hash)
}

// add appends a block whose coinbase pays value to script, plus txs.
func (c *fakeChain) add(script []byte, value int64, txs ...*wire.MsgTx) *wire.MsgBlock {
	return c.put(int64(len(c.blocks)), script, value, txs...)
}

// put builds a block at height (not added to the chain when height is
// already taken: a competing block).
func (c *fakeChain) put(height int64, script []byte, value int64, txs ...*wire.MsgTx) *wire.MsgBlock {
	cb := wire.NewMsgTx(1)
	cb.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: wire.MaxPrevOutIndex}, []byte(fmt.Sprintf("h%d %x", height, script)), nil))
	cb.AddTxOut(wire.NewTxOut(value, script))
	root := cb.TxHash() // enough to tell blocks apart: nothing checks the merkle tree
	blk := wire.NewMsgBlock(wire.NewBlockHeader(1, &chainhash.Hash{}, &root, 0, uint32(height)))
	blk.AddTransaction(cb)
	for _, tx := range txs {
		blk.AddTransaction(tx)
	}
	if height == int64(len(c.blocks)) {
		c.blocks = append(c.blocks, blk)
	}
	return blk
}

type broadcaster struct {
	fail bool
	sent []*wire.MsgTx
}

func (b *broadcaster) SendRawTransaction(_ context.Context, raw []byte) (chainhash.Hash, error) {
	if b.fail {
		return chainhash.Hash{}, errors.New("node unreachable")
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return chainhash.Hash{}, err
	}
	b.sent = append(b.sent, &tx)
	return tx.TxHash(), nil
}

func key(t *testing.T, name string) *payout.Key {
	seed := sha256.Sum256([]byte("aditctl test " + name))
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	k, err := payout.NewKey(priv, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// insertShares copies n shares of difficulty 1 for addrs in turn, the last
// one being the block-finding share (hash), ending at end.
func insertShares(t *testing.T, db *pgxpool.Pool, firstID int64, end time.Time, addrs []string, n int, hash chainhash.Hash) share.Record {
	t.Helper()
	ctx := context.Background()
	if _, err := db.Exec(ctx, `SELECT adit_shares_ensure_partition($1::date)`, end.UTC().Format("2006-01-02")); err != nil {
		t.Fatal(err)
	}
	rows := make([][]any, n)
	for i := range rows {
		h := sha256.Sum256([]byte(fmt.Sprint(firstID + int64(i))))
		if i == n-1 {
			h = hash
		}
		ts := end.Add(time.Duration(i-n+1) * time.Millisecond)
		rows[i] = []any{"ctl", firstID + int64(i), ts, addrs[i%len(addrs)], "w", int16(1), int64(1), int64(100),
			1.0, 1.0, 1.0, i == n-1, h[:], "127.0.0.1:1"}
	}
	if _, err := db.CopyFrom(ctx, pgx.Identifier{"shares"},
		[]string{"instance", "id", "time", "address", "worker", "protocol", "job_id", "height",
			"assigned_difficulty", "reached_difficulty", "network_difficulty", "is_block", "hash", "remote_addr"},
		pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	return share.Record{ID: uint64(firstID + int64(n) - 1), Time: end, Instance: "ctl",
		Worker: share.Worker{Address: addrs[(n-1)%len(addrs)], Name: "w"}, AssignedDifficulty: 1,
		NetworkDifficulty: 1, Block: true, Hash: hash}
}

// TestDBCommands builds a history through package payout (a mature block
// paid by a confirmed payout, a second mature block whose payout is still
// pending, an orphaned block) and checks what each subcommand prints.
func TestDBCommands(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	if err := migrations.UpDSN(ctx, srv.DSN()); err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(ctx, srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)

	poolKey := key(t, "pool")
	alice, bob := key(t, "alice").Address(), key(t, "bob").Address()
	other := key(t, "other").PkScript()
	chain := &fakeChain{}
	for range 5 {
		chain.add(other, 50e8)
	}
	// Block A at height 5 and B at 6 pay the pool; C competes with the
	// block at 7 and loses.
	blkA := chain.add(poolKey.PkScript(), 50e8)
	blkB := chain.add(poolKey.PkScript(), 50e8+1234)
	chain.add(other, 50e8)
	blkC := chain.put(7, poolKey.PkScript(), 50e8)

	tr, err := payout.NewTracker(payout.TrackerConfig{FeeBasisPoints: 100, FeeAccount: "pool-fee",
		PoolScript: poolKey.PkScript()}, db, []payout.Chain{chain}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for i, b := range []struct {
		blk    *wire.MsgBlock
		height int64
	}{{blkA, 5}, {blkB, 6}, {blkC, 7}} {
		rec := insertShares(t, db, int64(1+i*10), now.Add(time.Duration(i)*time.Second), []string{alice, bob, alice}, 3, b.blk.BlockHash())
		if err := tr.Found(ctx, payout.FoundBlock{Record: rec, Hash: b.blk.BlockHash(), Height: b.height, Reward: 50e8}); err != nil {
			t.Fatal(err)
		}
		if err := tr.Submitted(ctx, b.blk.BlockHash(), true, nil); err != nil {
			t.Fatal(err)
		}
	}
	for chain.add(other, 50e8); len(chain.blocks) < 106; chain.add(other, 50e8) {
	}
	if err := tr.Poll(ctx); err != nil { // tip 105: A mature, B 100 confirmations, C orphaned
		t.Fatal(err)
	}
	bc := &broadcaster{}
	payer, err := payout.NewPayer(payout.PayerConfig{Network: &chaincfg.RegressionNetParams, Threshold: 10_000,
		FeeRate: 2, FeeAccount: "pool-fee"}, db, poolKey, chain, bc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	po1, err := payer.PayOnce(ctx)
	if err != nil || po1 == nil {
		t.Fatalf("first payout: %v %v", po1, err)
	}
	chain.add(other, 50e8, bc.sent[0]) // 106: confirms payout 1, matures B
	if err := tr.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	bc.fail = true
	po2, err := payer.PayOnce(ctx) // confirms payout 1, records payout 2, broadcast fails
	if po2 == nil || err == nil {
		t.Fatalf("second payout: want it recorded with a broadcast error, got %v, %v", po2, err)
	}

	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		env := func(k string) string {
			if k == "ADIT_DATABASE_DSN" {
				return srv.DSN()
			}
			return ""
		}
		if err := run(args, &out, env); err != nil {
			t.Fatalf("aditctl %v: %v", args, err)
		}
		return out.String()
	}
	lines := func(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }
	fields := func(line string) []string { return strings.Fields(line) }

	blocks := lines(run("blocks"))
	if len(blocks) != 4 || fields(blocks[0])[0] != "HEIGHT" {
		t.Fatalf("blocks:\n%s", strings.Join(blocks, "\n"))
	}
	wantBlocks := []string{
		fmt.Sprintf("7 %s orphaned 5000000000 0", blkC.BlockHash()),
		fmt.Sprintf("6 %s mature 5000001234 101", blkB.BlockHash()),
		// Confirmations stop being tracked once a block is mature.
		fmt.Sprintf("5 %s mature 5000000000 101", blkA.BlockHash()),
	}
	for i, w := range wantBlocks {
		if got := strings.Join(fields(blocks[i+1])[:5], " "); got != w {
			t.Errorf("blocks row %d: %q, want %q", i, got, w)
		}
	}

	// Every balance is zero after the payouts except the fee account's.
	bal := lines(run("balances", "-dsn", srv.DSN()))
	var fee int64
	if err := db.QueryRow(ctx, `SELECT sum(amount_sats) FROM ledger WHERE address = 'pool-fee'`).Scan(&fee); err != nil {
		t.Fatal(err)
	}
	if len(bal) != 3 || !strings.HasPrefix(bal[1], "pool-fee") || fields(bal[1])[1] != fmt.Sprint(fee) ||
		fields(bal[2])[1] != fmt.Sprint(fee) {
		t.Errorf("balances:\n%s\n(fee account %d)", strings.Join(bal, "\n"), fee)
	}

	led := lines(run("ledger", "-address", alice))
	if !strings.Contains(led[0], "balance 0 sats") || len(led) != 6 {
		t.Fatalf("ledger:\n%s", strings.Join(led, "\n"))
	}
	// Newest first: payout 2, credit B, payout 1, credit A.
	for i, w := range []string{"payout", "credit", "payout", "credit"} {
		if f := fields(led[i+2]); f[2] != w {
			t.Errorf("ledger row %d kind %s, want %s", i, f[2], w)
		}
	}
	if f := fields(led[5]); f[4] != blkA.BlockHash().String() || f[5] != "-" {
		t.Errorf("ledger credit row: %v", f)
	}
	if f := fields(led[4]); f[4] != "-" || f[5] != fmt.Sprint(po1.ID) {
		t.Errorf("ledger payout row: %v", f)
	}

	pays := lines(run("payouts"))
	if len(pays) != 3 {
		t.Fatalf("payouts:\n%s", strings.Join(pays, "\n"))
	}
	if f := fields(pays[1]); f[1] != "pending" || f[7] != "-" {
		t.Errorf("payout 2: %v", f)
	}
	if f := fields(pays[2]); f[0] != fmt.Sprint(po1.ID) || f[1] != "confirmed" || f[2] != po1.Txid.String() || f[7] != "106" {
		t.Errorf("payout 1: %v, want txid %s", f, po1.Txid)
	}
	if p := lines(run("payouts", "-status", "confirmed")); len(p) != 2 || fields(p[1])[2] != po1.Txid.String() {
		t.Errorf("payouts -status confirmed:\n%s", strings.Join(p, "\n"))
	}
	if p := lines(run("payouts", "-status", "pending")); len(p) != 2 || fields(p[1])[1] != "pending" {
		t.Errorf("payouts -status pending:\n%s", strings.Join(p, "\n"))
	}
	t.Logf("aditctl blocks:\n%s", run("blocks"))
	t.Logf("aditctl payouts:\n%s", run("payouts"))
}

func TestDBCommandErrors(t *testing.T) {
	none := func(string) string { return "" }
	for _, args := range [][]string{
		{"blocks"},                         // no DSN
		{"ledger", "-dsn", "postgres://x"}, // no address
		{"payouts", "-status", "lost", "-dsn", "postgres://x"},
		{"balances", "-limit", "0", "-dsn", "postgres://x"},
	} {
		if err := run(args, &bytes.Buffer{}, none); err == nil {
			t.Errorf("aditctl %v: no error", args)
		}
	}
}
