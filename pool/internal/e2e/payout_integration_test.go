//go:build integration

package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// Payout tests. Shares have one fixed difficulty (vardiff start = min =
// max) so a share's weight is the same for every miner and the hashrate
// ratio is the share-rate ratio. On regtest the network difficulty is about
// 4.66e-10, so the PPLNS factor is raised to make the window span tens of
// shares: 2e5 × 4.66e-10 ≈ 9.3e-5 ≈ 46.6 shares of 2e-6.
const (
	payoutShareDiff = 2e-6
	payoutFactor    = 2e5
	feeBP           = 100
	feeAccount      = "pool-fee"
)

func payoutSettings(blockFloor float64) PayoutSettings {
	return PayoutSettings{
		ShareDifficulty: payoutShareDiff,
		BlockFloor:      blockFloor,
		PPLNSFactor:     payoutFactor,
		FeeBasisPoints:  feeBP,
		FeeAccount:      feeAccount,
		Threshold:       10_000, // payout.MinThreshold
		Interval:        "2s",
		PollInterval:    "300ms",
	}
}

type dbBlock struct {
	hash          chainhash.Hash
	height        int64
	status        string
	reward        int64
	windowShares  int64
	confirmations int64
}

func loadBlocks(t *testing.T, e *PayoutEnv) []dbBlock {
	t.Helper()
	rows, err := e.DB.Query(context.Background(), `SELECT hash, height, status, coalesce(reward_sats, 0),
		coalesce(window_shares, 0), confirmations FROM blocks ORDER BY height, hash`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []dbBlock
	for rows.Next() {
		var b dbBlock
		var h []byte
		if err := rows.Scan(&h, &b.height, &b.status, &b.reward, &b.windowShares, &b.confirmations); err != nil {
			t.Fatal(err)
		}
		copy(b.hash[:], h)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// blockLedger returns a block's ledger rows as "kind:address" → sats.
func blockLedger(t *testing.T, e *PayoutEnv, hash chainhash.Hash) map[string]int64 {
	t.Helper()
	rows, err := e.DB.Query(context.Background(), `SELECT kind, address, amount_sats FROM ledger WHERE block_hash = $1`, hash[:])
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var kind, addr string
		var v int64
		if err := rows.Scan(&kind, &addr, &v); err != nil {
			t.Fatal(err)
		}
		out[kind+":"+addr] += v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func ledgerSum(t *testing.T, e *PayoutEnv, address, kind string) int64 {
	t.Helper()
	q := `SELECT sum(amount_sats)::bigint FROM ledger WHERE address = $1`
	args := []any{address}
	if kind != "" {
		q += ` AND kind = $2`
		args = append(args, kind)
	}
	return e.Count(t, q, args...)
}

// startMiner runs one adit-miner paced at rate shares/s.
func startMiner(t *testing.T, d *Daemon, acct TestAccount, worker string, rate float64) *Process {
	return Start(t, "adit-miner "+worker, bins.Miner, nil, "-pool", d.StratumAddr,
		"-user", acct.Address+"."+worker, "-threads", "1", "-share-rate", fmt.Sprint(rate), "-json")
}

// waitSnapshots waits until every found block's share reached Postgres and
// its window is snapshotted, and every block has been answered by the node.
func waitSnapshots(t *testing.T, e *PayoutEnv) {
	t.Helper()
	Eventually(t, 30*time.Second, "every block snapshotted and submitted", func() bool {
		return e.Count(t, `SELECT count(*) FROM blocks WHERE window_at IS NULL OR status = 'found'`) == 0
	})
}

// checkCredits compares every block's ledger rows with the reference
// computation, and its status with the node's best chain. It returns the
// expected total credit per address.
func checkCredits(t *testing.T, e *PayoutEnv, c *node.Client) map[string]int64 {
	t.Helper()
	shares := loadShares(t, e)
	perAddr := map[string]int{}
	for _, s := range shares {
		perAddr[s.address]++
	}
	t.Logf("shares in Postgres per address: %v", perAddr)
	want := map[string]int64{}
	mature := 0
	for _, b := range loadBlocks(t, e) {
		atHeight, blk := BestBlock(t, c, b.height)
		got := blockLedger(t, e, b.hash)
		if atHeight != b.hash {
			if b.status != "orphaned" && b.status != "rejected" {
				t.Errorf("block %d %s is not in the best chain but has status %s", b.height, b.hash, b.status)
			}
			if len(got) != 0 {
				t.Errorf("block %d %s (%s) credited %v", b.height, b.hash, b.status, got)
			}
			continue
		}
		if b.status != "mature" {
			t.Errorf("block %d %s in the best chain has status %s, want mature", b.height, b.hash, b.status)
			continue
		}
		mature++
		reward := CoinbaseValue(blk) // on the node, not the pool's idea of it
		if b.reward != reward {
			t.Errorf("block %d: reward_sats %d, coinbase on the node %d", b.height, b.reward, reward)
		}
		var anchor refAnchor
		if err := e.DB.QueryRow(context.Background(), `SELECT found_at, coalesce(network_difficulty, 0) FROM blocks WHERE hash = $1`,
			b.hash[:]).Scan(&anchor.at, &anchor.netDiff); err != nil {
			t.Fatal(err)
		}
		fee, credits, n, tied := refCredits(t, shares, b.hash[:], anchor, payoutFactor, reward, feeBP)
		if int64(n) != b.windowShares {
			t.Errorf("block %d: window holds %d shares, reference %d", b.height, b.windowShares, n)
		}
		exp := map[string]int64{}
		if fee > 0 {
			exp["fee:"+feeAccount] = fee
		}
		var sum int64 = fee
		for a, v := range credits {
			exp["credit:"+a] = v
			sum += v
		}
		if sum != reward {
			t.Fatalf("reference does not sum to the reward: %d != %d", sum, reward)
		}
		switch {
		case fmt.Sprint(sortedMap(got)) == fmt.Sprint(sortedMap(exp)):
			t.Logf("block %d: reward %d, window %d shares, ledger %v matches the reference", b.height, reward, n, sortedMap(got))
		case matchesUpToTies(got, exp, tied):
			t.Logf("block %d: ledger %v matches the reference %v up to a satoshi between tied remainders %v",
				b.height, sortedMap(got), sortedMap(exp), tied)
			credits = map[string]int64{}
			for k, v := range got {
				if a, ok := strings.CutPrefix(k, "credit:"); ok {
					credits[a] = v
				}
			}
		default:
			t.Errorf("block %d %s ledger:\n got %v\nwant %v", b.height, b.hash, sortedMap(got), sortedMap(exp))
		}
		for a, v := range credits {
			want[a] += v
		}
	}
	if mature == 0 {
		t.Fatal("no mature block to check")
	}
	return want
}

func sortedMap(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return out
}

// checkPaidOut waits until every miner's balance is paid out in a
// transaction the pool broadcast, confirms it with one block and checks
// the payments on chain (checkPaidOnChain).
func checkPaidOut(t *testing.T, e *PayoutEnv, c *node.Client, miners []TestAccount, credits map[string]int64) {
	t.Helper()
	Eventually(t, 60*time.Second, "payouts recorded and broadcast for every miner", func() bool {
		for _, m := range miners {
			if ledgerSum(t, e, m.Address, "") != 0 {
				return false
			}
		}
		return e.Count(t, `SELECT count(*) FROM payouts WHERE status = 'pending'`) == 0 &&
			e.Count(t, `SELECT count(*) FROM payouts`) > 0
	})
	if _, err := c.Generate(context.Background(), 1, ""); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 60*time.Second, "payouts confirmed", func() bool {
		return e.Count(t, `SELECT count(*) FROM payouts WHERE status <> 'confirmed'`) == 0
	})
	checkPaidOnChain(t, e, c, miners, credits)
}

// checkPaidOnChain asserts, on the node, that every recorded payout is in
// the best chain exactly once and that each miner's address received
// exactly its credits (the ledger settled every balance to zero).
func checkPaidOnChain(t *testing.T, e *PayoutEnv, c *node.Client, miners []TestAccount, credits map[string]int64) {
	t.Helper()
	scripts := make([][]byte, len(miners))
	for i, m := range miners {
		scripts[i] = m.Script
	}
	received, txs := ReceivedOnChain(t, c, scripts)
	for _, m := range miners {
		got := received[hex.EncodeToString(m.Script)]
		credited := ledgerSum(t, e, m.Address, "credit")
		paid := -ledgerSum(t, e, m.Address, "payout")
		bal := ledgerSum(t, e, m.Address, "")
		t.Logf("%s: credited %d, ledger payouts %d, balance %d, received on chain %d", m.Address, credited, paid, bal, got)
		if credited != credits[m.Address] || got != credits[m.Address] || paid != got || bal != 0 {
			t.Errorf("%s: credited %d (reference %d), ledger payouts %d, balance %d, on chain %d",
				m.Address, credited, credits[m.Address], paid, bal, got)
		}
	}
	rows, err := e.DB.Query(context.Background(), `SELECT txid, paid_sats, status FROM payouts ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id []byte
		var paid int64
		var status string
		if err := rows.Scan(&id, &paid, &status); err != nil {
			t.Fatal(err)
		}
		var txid chainhash.Hash
		copy(txid[:], id)
		n++
		if status != "confirmed" || txs[txid] != paid {
			t.Errorf("payout %s: status %s, pays miners %d, on chain %d", txid, status, paid, txs[txid])
		}
	}
	if len(txs) != n {
		t.Errorf("%d transactions pay the miners on chain, %d payouts recorded", len(txs), n)
	}
}

// TestPayoutPPLNS: three miners at 1:2:5 find blocks through the daemon;
// after 101 confirmations the ledger holds exactly what an independent
// PPLNS computation over the shares table says, and after the payout
// confirms each address holds exactly that on the node.
func TestPayoutPPLNS(t *testing.T) {
	start := time.Now()
	_, c, rpc := startNode(t)
	env := NewPayoutEnv(t)
	// One share in 50 is a block: a few blocks a minute at 8 shares/s.
	d := StartDaemon(t, bins, rpc, env.Options(payoutSettings(50*payoutShareDiff)))
	miners := []TestAccount{NewTestAccount("miner-1"), NewTestAccount("miner-2"), NewTestAccount("miner-5")}
	var procs []*Process
	for i, rate := range []float64{1, 2, 5} {
		procs = append(procs, startMiner(t, d, miners[i], fmt.Sprintf("r%g", rate), rate))
	}
	// Two blocks, the last one with more shares before it than a window
	// holds, so a full window with a fractional boundary share is checked
	// (early blocks may have a partial window: all their shares count).
	Eventually(t, 2*time.Minute, "2 blocks accepted by btcd, the last with a full window", func() bool {
		return d.Metric(`adit_blocks_submitted_total{result="accepted"}`) >= 2 &&
			env.Count(t, `SELECT count(*) FROM shares WHERE time < (SELECT max(found_at) FROM blocks)`) > 50
	})
	for _, p := range procs {
		if err := p.Signal(syscall.SIGINT, 10*time.Second); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
	}
	t.Logf("blocks found after %v", time.Since(start).Round(time.Second))
	waitSnapshots(t, env)

	ctx := context.Background()
	if _, err := c.Generate(ctx, 101, ""); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 60*time.Second, "every block mature or orphaned", func() bool {
		return env.Count(t, `SELECT count(*) FROM blocks WHERE status NOT IN ('mature', 'orphaned', 'rejected')`) == 0
	})
	credits := checkCredits(t, env, c)
	checkPaidOut(t, env, c, miners, credits)
	if v := d.Metric(`adit_blocks{status="mature"}`); v < 2 {
		t.Errorf(`adit_blocks{status="mature"} = %v`, v)
	}
	t.Logf("done in %v", time.Since(start).Round(time.Second))
}

// TestPayoutCrashBeforeBroadcast: the daemon is SIGKILLed after it recorded
// a payout and before the transaction reached the node (a proxy in front of
// btcd kills it on sendrawtransaction and drops the call). Restarted, it
// rebroadcasts the recorded transaction unchanged: one txid, each balance
// paid once, the amounts on chain equal to the ledger.
func TestPayoutCrashBeforeBroadcast(t *testing.T) {
	start := time.Now()
	n, c, _ := startNode(t)
	proxy := NewRPCProxy(t, n.RPCURL)
	rpc := NodeRPC{URL: proxy.URL, User: n.User, Password: n.Password}
	env := NewPayoutEnv(t)
	opts := env.Options(payoutSettings(10 * payoutShareDiff))

	var cur atomic.Pointer[Daemon]
	proxy.Arm("sendrawtransaction", func() { cur.Load().Kill() })
	d := StartDaemon(t, bins, rpc, opts)
	cur.Store(d)
	miners := []TestAccount{NewTestAccount("crash-a"), NewTestAccount("crash-b")}
	pa := startMiner(t, d, miners[0], "a", 2)
	pb := startMiner(t, d, miners[1], "b", 3)
	Eventually(t, 90*time.Second, "a block accepted by btcd", func() bool {
		return d.Metric(`adit_blocks_submitted_total{result="accepted"}`) >= 1
	})
	for _, p := range []*Process{pa, pb} {
		if err := p.Signal(syscall.SIGINT, 10*time.Second); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
	}
	waitSnapshots(t, env)
	ctx := context.Background()
	if _, err := c.Generate(ctx, 101, ""); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 60*time.Second, "the daemon killed on its first broadcast", func() bool {
		return proxy.Fired() && d.Exited()
	})
	blocksAtKill := env.Count(t, `SELECT count(*) FROM blocks`)
	matureAtKill := env.Count(t, `SELECT count(*) FROM blocks WHERE status IN ('mature', 'orphaned', 'rejected')`)

	var (
		id     int64
		txidB  []byte
		rawTx  []byte
		status string
	)
	if err := env.DB.QueryRow(ctx, `SELECT id, txid, raw_tx, status FROM payouts ORDER BY id`).Scan(&id, &txidB, &rawTx, &status); err != nil {
		t.Fatalf("no payout recorded before the kill: %v", err)
	}
	if got := env.Count(t, `SELECT count(*) FROM payouts`); got != 1 || status != "pending" {
		t.Fatalf("at the kill: %d payouts, first %s; want one pending", got, status)
	}
	var txid chainhash.Hash
	copy(txid[:], txidB)
	if _, err := c.GetRawTransaction(ctx, txid); err == nil {
		t.Fatalf("payout %s reached the node before the kill", txid)
	}
	t.Logf("killed after recording payout %d (%s) at %v", id, txid, time.Since(start).Round(time.Second))

	proxy.Disarm()
	d2 := StartDaemon(t, bins, rpc, opts)
	Eventually(t, 30*time.Second, "the recorded payout rebroadcast", func() bool {
		_, err := c.GetRawTransaction(ctx, txid)
		return err == nil
	})
	if _, err := c.Generate(ctx, 1, ""); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 30*time.Second, "payouts confirmed", func() bool {
		return env.Count(t, `SELECT count(*) FROM payouts WHERE status <> 'confirmed'`) == 0
	})
	var txidAfter, rawAfter []byte
	if err := env.DB.QueryRow(ctx, `SELECT txid, raw_tx FROM payouts WHERE id = $1`, id).Scan(&txidAfter, &rawAfter); err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(txidAfter) != hex.EncodeToString(txidB) || hex.EncodeToString(rawAfter) != hex.EncodeToString(rawTx) {
		t.Fatal("the recorded payout was rebuilt")
	}
	if matureAtKill == blocksAtKill {
		if got := env.Count(t, `SELECT count(*) FROM payouts`); got != 1 {
			t.Errorf("%d payouts after the restart, want the one recorded before the kill", got)
		}
	}
	credits := checkCredits(t, env, c)
	checkPaidOnChain(t, env, c, miners, credits)
	if strings.Contains(d2.Output(), `"level":"error"`) {
		t.Logf("restarted daemon logged errors:\n%s", tail(d2.Output(), 40))
	}
	t.Logf("done in %v", time.Since(start).Round(time.Second))
}

// TestPayoutReorgOrphansBlock: the pool finds blocks on node A; node B,
// isolated, mines a longer chain from genesis; once B is connected A
// reorganises onto it, the pool's blocks become orphaned and credit nothing,
// while a block the pool finds afterwards on the new chain is credited.
func TestPayoutReorgOrphansBlock(t *testing.T) {
	start := time.Now()
	nodeA, a, rpc := startNode(t)
	nodeB, b, _ := startNode(t)
	env := NewPayoutEnv(t)
	d := StartDaemon(t, bins, rpc, env.Options(payoutSettings(10*payoutShareDiff)))
	acct := NewTestAccount("reorg")
	mineOne := func(worker string) {
		t.Helper()
		before := d.Metric(`adit_blocks_submitted_total{result="accepted"}`)
		m := startMiner(t, d, acct, worker, 5)
		Eventually(t, 90*time.Second, "a pool block accepted by node A", func() bool {
			return d.Metric(`adit_blocks_submitted_total{result="accepted"}`) > before
		})
		if err := m.Signal(syscall.SIGINT, 10*time.Second); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		waitSnapshots(t, env)
	}
	mineOne("before")
	ctx := context.Background()
	old := loadBlocks(t, env)
	tipA, err := a.GetBlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, blk := range old {
		if at, _ := BestBlock(t, a, blk.height); at != blk.hash {
			t.Fatalf("pool block %d %s not in A's best chain before the reorg", blk.height, blk.hash)
		}
	}
	// B, never connected, mines a longer chain.
	if _, err := b.Generate(ctx, int(tipA)+2, ""); err != nil {
		t.Fatal(err)
	}
	tipB, _ := b.GetBlockCount(ctx)
	bestB, _ := b.GetBestBlockHash(ctx)
	if err := a.Call(ctx, "addnode", []any{nodeB.P2PAddr, "add"}, nil); err != nil {
		t.Fatalf("addnode: %v", err)
	}
	Eventually(t, 60*time.Second, "node A reorganised onto B's chain", func() bool {
		h, err := a.GetBestBlockHash(ctx)
		return err == nil && h == bestB
	})
	Eventually(t, 30*time.Second, "the pool's blocks orphaned", func() bool {
		return env.Count(t, `SELECT count(*) FROM blocks WHERE status = 'orphaned'`) == int64(len(old))
	})
	t.Logf("%d pool blocks up to height %d orphaned by B's chain of %d (A %s, B %s) after %v",
		len(old), tipA, tipB, nodeA.P2PAddr, nodeB.P2PAddr, time.Since(start).Round(time.Second))

	// A block on the new chain, then maturity for everything.
	mineOne("after")
	if _, err := a.Generate(ctx, 101, ""); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 60*time.Second, "the new block mature", func() bool {
		return env.Count(t, `SELECT count(*) FROM blocks WHERE status NOT IN ('mature', 'orphaned', 'rejected')`) == 0
	})
	credits := checkCredits(t, env, a) // orphans: status orphaned, no ledger rows
	for _, blk := range old {
		if n := env.Count(t, `SELECT count(*) FROM ledger WHERE block_hash = $1`, blk.hash[:]); n != 0 {
			t.Errorf("orphaned block %s has %d ledger rows", blk.hash, n)
		}
		if st := env.Count(t, `SELECT count(*) FROM blocks WHERE hash = $1 AND status = 'orphaned'`, blk.hash[:]); st != 1 {
			t.Errorf("block %s is no longer orphaned", blk.hash)
		}
	}
	if n := env.Count(t, `SELECT count(*) FROM pool_utxos WHERE block_hash = ANY($1)`, hashes(old)); n != 0 {
		t.Errorf("%d outputs of orphaned blocks became spendable", n)
	}
	var total int64
	for _, v := range credits {
		total += v
	}
	if credited := env.Count(t, `SELECT sum(amount_sats)::bigint FROM ledger WHERE kind IN ('credit', 'fee')`); credited != total+env.Count(t, `SELECT sum(amount_sats)::bigint FROM ledger WHERE kind = 'fee'`) {
		t.Errorf("ledger credits %d, reference %d plus fees", credited, total)
	}
	t.Logf("done in %v", time.Since(start).Round(time.Second))
}

func hashes(bs []dbBlock) [][]byte {
	out := make([][]byte, len(bs))
	for i, b := range bs {
		out[i] = append([]byte(nil), b.hash[:]...)
	}
	return out
}
