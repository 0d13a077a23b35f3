package payout

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/jackc/pgx/v5/pgxpool"
)

// recordingBroadcaster passes transactions to a real node and remembers
// what it sent.
type recordingBroadcaster struct {
	next *node.Client
	sent []chainhash.Hash
}

func (r *recordingBroadcaster) SendRawTransaction(ctx context.Context, raw []byte) (chainhash.Hash, error) {
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return chainhash.Hash{}, err
	}
	r.sent = append(r.sent, tx.TxHash())
	return r.next.SendRawTransaction(ctx, raw)
}

func sumQuery(t *testing.T, db *pgxpool.Pool, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLifecycleOnRegtest drives the whole path against a real btcd regtest
// node and a real Postgres: a pool block is found (window snapshotted from
// the shares table), another recorded block is not in the best chain
// (orphaned: credits nothing), the chain grows to maturity (the real
// coinbase value is credited: fee plus PPLNS parts equal an independent
// computation), a payout is recorded but the process "crashes" before
// broadcasting it, and a restarted Payer rebroadcasts the very same
// transaction, which confirms and pays each miner exactly its ledger
// balance, once.
func TestLifecycleOnRegtest(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	c := startBtcd(t, key)
	db := testDB(t)
	const feeBP = 150
	tr, err := NewTracker(TrackerConfig{FeeBasisPoints: feeBP, FeeAccount: "pool-fee", PoolScript: key.PkScript(),
		PollInterval: time.Second}, db, []Chain{c}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}

	// A pool block at height 1 and its shares: three miners at 1:2:5.
	hashes, err := c.Generate(ctx, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	h1 := hashes[0]
	miners := []string{minerAddr(t, "a"), minerAddr(t, "b"), minerAddr(t, "c")}
	now := time.Now().UTC().Truncate(time.Millisecond)
	var shares []testShare
	for i := 0; i < 400; i++ {
		m := i % 8 // 1:2:5
		addr := miners[2]
		switch {
		case m == 0:
			addr = miners[0]
		case m <= 2:
			addr = miners[1]
		}
		shares = append(shares, testShare{time: now.Add(time.Duration(i-400) * time.Second), instance: "i",
			id: int64(i + 1), address: addr, diff: 0.5})
	}
	blockShare := testShare{time: now, instance: "i", id: 401, address: miners[2], diff: 0.5, hash: h1}
	shares = append(shares, blockShare)
	insertShares(t, db, shares)
	const netDiff = 75.25 // window 150.5: 301 shares, the boundary one half
	rec := share.Record{Time: now, Instance: "i", Worker: share.Worker{Address: miners[2], Name: "rig"},
		NetworkDifficulty: netDiff, Block: true, Hash: h1}
	if err := tr.Found(ctx, FoundBlock{Record: rec, Hash: h1, Height: 1, Reward: 1}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Submitted(ctx, h1, true, nil); err != nil {
		t.Fatal(err)
	}
	// A block the pool recorded that the best chain does not have.
	var lost chainhash.Hash
	lost[0] = 0x42
	if err := tr.Found(ctx, FoundBlock{Record: share.Record{Time: now, Instance: "i", NetworkDifficulty: netDiff},
		Hash: lost, Height: 1, Reward: 1}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	status := func(h chainhash.Hash) (s string) {
		if err := db.QueryRow(ctx, `SELECT status FROM blocks WHERE hash = $1`, h[:]).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := status(h1); s != StatusAccepted {
		t.Fatalf("block status %s, want accepted", s)
	}
	if s := status(lost); s != StatusOrphaned {
		t.Fatalf("lost block status %s, want orphaned", s)
	}

	// Not mature at 100 confirmations, mature at 101.
	if _, err := c.Generate(ctx, 99, ""); err != nil {
		t.Fatal(err)
	}
	if err := tr.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if n := sumQuery(t, db, `SELECT count(*) FROM ledger`); n != 0 {
		t.Fatalf("credited at 100 confirmations: %d rows", n)
	}
	if _, err := c.Generate(ctx, 1, ""); err != nil {
		t.Fatal(err)
	}
	if err := tr.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if s := status(h1); s != StatusMature {
		t.Fatalf("block status %s, want mature", s)
	}
	if err := tr.Poll(ctx); err != nil { // a second pass credits nothing more
		t.Fatal(err)
	}

	// Independent computation: the coinbase value from the node, the window
	// from the shares written above.
	raw, err := c.GetBlock(ctx, h1)
	if err != nil {
		t.Fatal(err)
	}
	var blk wire.MsgBlock
	if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	var reward int64
	for _, o := range blk.Transactions[0].TxOut {
		reward += o.Value
	}
	if reward != 50*btcutil.SatoshiPerBitcoin {
		t.Fatalf("regtest height-1 coinbase %d", reward)
	}
	sortNewestFirst(shares)
	var ws []WindowShare
	for _, s := range shares {
		ws = append(ws, WindowShare{s.address, s.diff})
	}
	window, total, n := Window(ws, 2*netDiff)
	if total != 150.5 || n != 301 {
		t.Fatalf("independent window: %v over %d shares", total, n)
	}
	fee, credits, err := Split(reward, feeBP, window)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"pool-fee": fee}
	for _, cr := range credits {
		want[cr.Address] = cr.Sats
	}
	ledger := NewLedger(db)
	bals, err := ledger.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	var sum int64
	for _, b := range bals {
		got[b.Address] = b.Sats
		sum += b.Sats
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || sum != reward {
		t.Fatalf("ledger %v (sum %d), want %v (reward %d)", got, sum, want, reward)
	}
	if n := sumQuery(t, db, `SELECT count(*) FROM ledger WHERE block_hash = $1`, lost[:]); n != 0 {
		t.Fatalf("orphan credited %d rows", n)
	}

	// Payout: recorded, then a crash before the broadcast.
	bc := &recordingBroadcaster{next: c}
	pcfg := PayerConfig{Network: &chaincfg.RegressionNetParams, Threshold: 100_000, FeeRate: 2, FeeAccount: "pool-fee"}
	p1, err := NewPayer(pcfg, db, key, c, bc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	po, err := p1.record(ctx)
	if err != nil || po == nil {
		t.Fatalf("record: %v %v", po, err)
	}
	if len(bc.sent) != 0 {
		t.Fatal("broadcast before the record committed")
	}
	for _, m := range miners {
		if b, _ := ledger.Balance(ctx, m); b != 0 {
			t.Fatalf("%s balance %d after the payout was recorded", m, b)
		}
	}
	// Restart: a new Payer reconciles (rebroadcasts the recorded bytes) and
	// finds nothing else to pay.
	p2, err := NewPayer(pcfg, db, key, c, bc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := p2.PayOnce(ctx)
	if err != nil || again != nil {
		t.Fatalf("second payout after restart: %v %v", again, err)
	}
	if len(bc.sent) != 1 || bc.sent[0] != po.Txid {
		t.Fatalf("broadcasts %v, want exactly the recorded %s", bc.sent, po.Txid)
	}
	if _, err := c.Generate(ctx, 1, ""); err != nil {
		t.Fatal(err)
	}
	if err := p2.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	var pstatus string
	if err := db.QueryRow(ctx, `SELECT status FROM payouts WHERE id = $1`, po.ID).Scan(&pstatus); err != nil {
		t.Fatal(err)
	}
	if pstatus != PayoutConfirmed {
		t.Fatalf("payout %s, want confirmed", pstatus)
	}
	if len(bc.sent) != 1 {
		t.Fatalf("rebroadcast after confirmation: %v", bc.sent)
	}

	// On the node: each miner's output holds exactly its credit (the pool
	// paid the fee).
	rawTx, err := c.GetRawTransaction(ctx, po.Txid)
	if err != nil {
		t.Fatal(err)
	}
	var ptx wire.MsgTx
	if err := ptx.Deserialize(bytes.NewReader(rawTx)); err != nil {
		t.Fatal(err)
	}
	paid := map[string]int64{}
	for _, o := range ptx.TxOut {
		_, addrs, _, err := txscript.ExtractPkScriptAddrs(o.PkScript, &chaincfg.RegressionNetParams)
		if err != nil || len(addrs) != 1 {
			t.Fatal(err)
		}
		paid[addrs[0].EncodeAddress()] += o.Value
	}
	for _, m := range miners {
		if paid[m] != want[m] {
			t.Fatalf("%s received %d, ledger credited %d", m, paid[m], want[m])
		}
	}
	// The books balance: Σ ledger = Σ the pool's unspent outputs.
	ledgerSum := sumQuery(t, db, `SELECT coalesce(sum(amount_sats), 0)::bigint FROM ledger`)
	utxoSum := sumQuery(t, db, `SELECT coalesce(sum(value_sats), 0)::bigint FROM pool_utxos WHERE spent_by IS NULL`)
	if ledgerSum != utxoSum || paid[key.Address()] != utxoSum {
		t.Fatalf("ledger %d, unspent pool outputs %d, change on chain %d", ledgerSum, utxoSum, paid[key.Address()])
	}

	minersPayTheFee(t, c, db, tr, key, miners, now)
}

// minersPayTheFee continues TestLifecycleOnRegtest: a second pool block
// matures and is paid under FeePolicyMiners. Each miner's output is its
// balance less its part of the transaction fee, the parts add up to the fee
// the chain sees (inputs − outputs), every balance settles to zero, and the
// fee account is not charged.
func minersPayTheFee(t *testing.T, c *node.Client, db *pgxpool.Pool, tr *Tracker, key *Key, miners []string, after time.Time) {
	t.Helper()
	ctx := context.Background()
	hashes, err := c.Generate(ctx, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	h2 := hashes[0]
	height, err := c.GetBlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var shares []testShare
	for i := 0; i < 80; i++ {
		shares = append(shares, testShare{time: after.Add(time.Duration(i+1) * time.Second), instance: "i",
			id: int64(1000 + i), address: miners[i%3], diff: 1})
	}
	shares[len(shares)-1].hash = h2
	insertShares(t, db, shares)
	rec := share.Record{Time: shares[len(shares)-1].time, Instance: "i",
		Worker: share.Worker{Address: miners[2], Name: "rig"}, NetworkDifficulty: 20, Block: true, Hash: h2}
	if err := tr.Found(ctx, FoundBlock{Record: rec, Hash: h2, Height: height, Reward: 1}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Submitted(ctx, h2, true, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generate(ctx, 100, ""); err != nil {
		t.Fatal(err)
	}
	if err := tr.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	ledger := NewLedger(db)
	before := map[string]int64{}
	for _, a := range append([]string{"pool-fee"}, miners...) {
		b, err := ledger.Balance(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		before[a] = b
	}
	for _, m := range miners {
		if before[m] <= 0 {
			t.Fatalf("%s not credited by the second block: %v", m, before)
		}
	}

	p, err := NewPayer(PayerConfig{Network: &chaincfg.RegressionNetParams, Threshold: 100_000, FeeRate: 5,
		FeeAccount: "pool-fee", FeePolicy: FeePolicyMiners}, db, key, c, c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	po, err := p.PayOnce(ctx)
	if err != nil || po == nil {
		t.Fatalf("PayOnce: %v %v", po, err)
	}
	if _, err := c.Generate(ctx, 1, ""); err != nil {
		t.Fatal(err)
	}
	if err := p.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}

	rawTx, err := c.GetRawTransaction(ctx, po.Txid)
	if err != nil {
		t.Fatal(err)
	}
	var ptx wire.MsgTx
	if err := ptx.Deserialize(bytes.NewReader(rawTx)); err != nil {
		t.Fatal(err)
	}
	var in, out int64
	for _, ti := range ptx.TxIn {
		prevRaw, err := c.GetRawTransaction(ctx, ti.PreviousOutPoint.Hash)
		if err != nil {
			t.Fatal(err)
		}
		var prev wire.MsgTx
		if err := prev.Deserialize(bytes.NewReader(prevRaw)); err != nil {
			t.Fatal(err)
		}
		in += prev.TxOut[ti.PreviousOutPoint.Index].Value
	}
	paid := map[string]int64{}
	for _, o := range ptx.TxOut {
		out += o.Value
		_, addrs, _, err := txscript.ExtractPkScriptAddrs(o.PkScript, &chaincfg.RegressionNetParams)
		if err != nil || len(addrs) != 1 {
			t.Fatal(err)
		}
		paid[addrs[0].EncodeAddress()] += o.Value
	}
	chainFee := in - out
	if chainFee != po.Fee || chainFee <= 0 {
		t.Fatalf("fee on chain %d, recorded %d", chainFee, po.Fee)
	}
	var parts int64
	for _, m := range miners {
		part := before[m] - paid[m]
		if part <= 0 || part > chainFee {
			t.Fatalf("%s: balance %d, received %d: fee part %d of %d", m, before[m], paid[m], part, chainFee)
		}
		parts += part
		if b, _ := ledger.Balance(ctx, m); b != 0 {
			t.Fatalf("%s balance %d after the payout", m, b)
		}
	}
	if parts != chainFee {
		t.Fatalf("miners' fee parts sum to %d, the fee is %d", parts, chainFee)
	}
	if b, _ := ledger.Balance(ctx, "pool-fee"); b != before["pool-fee"] {
		t.Fatalf("fee account %d after a miners-pay payout, was %d", b, before["pool-fee"])
	}
}

// TestLedgerImmutableAndOnce: ledger rows cannot be changed or deleted, and
// a block cannot be credited twice to the same address.
func TestLedgerImmutableAndOnce(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `INSERT INTO blocks (height, hash, found_at, finder_address, finder_worker, instance, share_id)
		VALUES (1, '\x01', now(), 'a', 'w', 'i', 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO ledger (address, kind, amount_sats, block_hash) VALUES ('a', 'credit', 5, '\x01')`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO ledger (address, kind, amount_sats, block_hash) VALUES ('a', 'credit', 5, '\x01')`,
		`UPDATE ledger SET amount_sats = 6`,
		`DELETE FROM ledger`,
		`INSERT INTO ledger (address, kind, amount_sats, block_hash) VALUES ('b', 'credit', -5, '\x01')`,
	} {
		if _, err := db.Exec(ctx, q); err == nil {
			t.Fatalf("%s: allowed", q)
		}
	}
}

func TestLoadKeyPermissions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pool.key")
	hexKey := "0101010101010101010101010101010101010101010101010101010101010101\n"
	if err := os.WriteFile(path, []byte(hexKey), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadKey(path, &chaincfg.RegressionNetParams)
	var kfe *KeyFileError
	if !errorsAs(err, &kfe) {
		t.Fatalf("0644 key file accepted: %v", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte("0101")) {
		t.Fatal("error leaks the key")
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKey(path, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v %#v", k, k, k); bytes.Contains([]byte(s), []byte("0101")) {
		t.Fatalf("formatting leaks the key: %s", s)
	}
	// A WIF for another network is refused.
	wif, _ := btcutil.NewWIF(k.priv, &chaincfg.MainNetParams, true)
	if err := os.WriteFile(path, []byte(wif.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(path, &chaincfg.RegressionNetParams); !errorsAs(err, &kfe) {
		t.Fatalf("mainnet WIF accepted on regtest: %v", err)
	}
}
