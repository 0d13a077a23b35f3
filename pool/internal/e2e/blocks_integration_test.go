//go:build integration

package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// Found blocks are as durable as shares. Each test makes one failure happen
// while the pool finds blocks (Postgres down; the daemon killed between
// submitting a block and recording it, with and without its journal; the
// node unreachable), then matures everything and checks that every block of
// the best chain paying the pool is in the blocks table exactly once and
// credited exactly as the independent PPLNS reference says.

const (
	foundSeries   = "adit_blocks_found_total"
	pendingSeries = "adit_blocks_pending"
)

// poolBlocksOnChain returns the best chain's blocks whose coinbase pays
// script, by hash, with their heights.
func poolBlocksOnChain(t *testing.T, c *node.Client, script []byte) map[chainhash.Hash]int64 {
	t.Helper()
	tip, err := c.GetBlockCount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[chainhash.Hash]int64{}
	for h := int64(1); h <= tip; h++ {
		hash, blk := BestBlock(t, c, h)
		for _, o := range blk.Transactions[0].TxOut {
			if o.Value > 0 && bytes.Equal(o.PkScript, script) {
				out[hash] = h
				break
			}
		}
	}
	return out
}

// checkBlocksCreditedOnce matures every block, then checks that the blocks
// table holds every pool block of the best chain (and the query
// finds no block share without its block), and that each is credited
// exactly as the reference says. It returns the reference credit per
// address.
func checkBlocksCreditedOnce(t *testing.T, env *PayoutEnv, c *node.Client) map[string]int64 {
	t.Helper()
	waitSnapshots(t, env)
	// The keeper writes a block's row once its submission has an outcome
	// (the journal holds it until then), which can be after its share
	// shipped: at rest no block share lacks its row.
	Eventually(t, 30*time.Second, "every block share has its row in blocks", func() bool {
		return env.Count(t, `SELECT count(*) FROM shares s LEFT JOIN blocks b ON b.hash = s.hash
			WHERE s.is_block AND b.id IS NULL`) == 0
	})
	if _, err := c.Generate(context.Background(), 101, ""); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 90*time.Second, "every block mature, orphaned or rejected", func() bool {
		return env.Count(t, `SELECT count(*) FROM blocks WHERE status NOT IN ('mature', 'orphaned', 'rejected')`) == 0
	})
	onChain := poolBlocksOnChain(t, c, env.Pool.Script)
	for hash, h := range onChain {
		if n := env.Count(t, `SELECT count(*) FROM blocks WHERE hash = $1 AND status = 'mature'`, hash[:]); n != 1 {
			t.Errorf("pool block %d %s of the best chain: %d mature rows, want 1", h, hash, n)
		}
	}
	if n := env.Count(t, `SELECT count(*) FROM blocks WHERE status = 'mature'`); n != int64(len(onChain)) {
		t.Errorf("%d mature blocks in the table, %d pool blocks in the best chain", n, len(onChain))
	}
	if n := env.Count(t, `SELECT count(*) FROM (SELECT block_hash FROM ledger WHERE kind IN ('credit', 'fee')
		GROUP BY block_hash, address, kind HAVING count(*) > 1) d`); n != 0 {
		t.Errorf("%d (block, address) pairs credited twice", n)
	}
	credits := checkCredits(t, env, c)
	t.Logf("%d pool blocks in the best chain, each recorded and credited once", len(onChain))
	return credits
}

// restartPostgres starts the stopped server again and drops the test's
// pooled connections, which the stop terminated.
func restartPostgres(env *PayoutEnv) {
	env.PG.Start()
	env.DB.Reset()
}

func stopMiner(t *testing.T, p *Process) {
	t.Helper()
	if err := p.Signal(syscall.SIGINT, 10*time.Second); err != nil {
		t.Fatalf("%s: %v", p.Name, err)
	}
}

// TestBlocksFoundDuringPostgresOutage: Postgres is down for at least 20 s
// while the pool finds blocks. They land in btcd's best chain at once and
// are recorded once Postgres is back, without a restart.
func TestBlocksFoundDuringPostgresOutage(t *testing.T) {
	start := time.Now()
	_, c, rpc := startNode(t)
	env := NewPayoutEnv(t)
	d := StartDaemon(t, bins, rpc, env.Options(payoutSettings(10*payoutShareDiff)))
	m := startMiner(t, d, NewTestAccount("outage"), "o", 3)
	Eventually(t, 90*time.Second, "a block recorded before the outage", func() bool {
		return env.Count(t, `SELECT count(*) FROM blocks`) >= 1
	})
	env.PG.Stop()
	outage := time.Now()
	foundBefore := d.Metric(foundSeries)
	Eventually(t, 120*time.Second, "20 s of outage and 3 blocks found in it", func() bool {
		return time.Since(outage) >= 20*time.Second && d.Metric(foundSeries) >= foundBefore+3
	})
	foundDuring := d.Metric(foundSeries) - foundBefore
	pending := d.Metric(pendingSeries)
	recordErrs := d.Metric("adit_block_record_errors_total")
	restartPostgres(env)
	t.Logf("Postgres down %v: %v blocks found, %v pending, %v failed record attempts",
		time.Since(outage).Round(time.Second), foundDuring, pending, recordErrs)
	if pending < 1 || recordErrs < 1 {
		t.Errorf("during the outage: %v blocks pending, %v record errors; want both > 0", pending, recordErrs)
	}
	stopMiner(t, m)
	Eventually(t, 90*time.Second, "every found block settled", func() bool {
		return d.Metric(pendingSeries) == 0
	})
	if n := env.Count(t, `SELECT count(*) FROM blocks`); float64(n) != d.Metric(foundSeries) {
		t.Errorf("%d blocks recorded, %v found", n, d.Metric(foundSeries))
	}
	checkBlocksCreditedOnce(t, env, c)
	t.Logf("done in %v", time.Since(start).Round(time.Second))
}

// TestBlocksDaemonKilledBetweenSubmitAndRecord: with Postgres down, the
// daemon is SIGKILLed right after btcd answered a submitblock, so the block
// is in the chain and in no table. Restarted, the journal records it. Then
// the same again, but the journal is deleted before the restart (as if the
// kill had come before it was written): the chain reconciliation at start
// records it.
func TestBlocksDaemonKilledBetweenSubmitAndRecord(t *testing.T) {
	start := time.Now()
	n, c, _ := startNode(t)
	proxy := NewRPCProxy(t, n.RPCURL)
	rpc := NodeRPC{URL: proxy.URL, User: n.User, Password: n.Password}
	env := NewPayoutEnv(t)
	opts := env.Options(payoutSettings(10 * payoutShareDiff))
	var cur atomic.Pointer[Daemon]
	d := StartDaemon(t, bins, rpc, opts)
	cur.Store(d)
	journal := filepath.Join(env.ShareLogDir, "blocks")

	killAfterSubmit := func(round string, dropJournal bool) {
		t.Helper()
		best, err := c.GetBestBlockHash(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		env.PG.Stop()
		proxy.ArmAfter("submitblock", func() { cur.Load().Kill() })
		m := startMiner(t, cur.Load(), NewTestAccount("kill-"+round), round, 3)
		Eventually(t, 90*time.Second, round+": the daemon killed after a submitblock", func() bool {
			return proxy.Fired() && cur.Load().Exited()
		})
		proxy.Disarm()
		stopMiner(t, m)
		tip, err := c.GetBestBlockHash(context.Background())
		if err != nil || tip == best {
			t.Fatalf("%s: the submitted block is not btcd's tip (tip %s, before %s, %v)", round, tip, best, err)
		}
		entry := filepath.Join(journal, tip.String()+".block")
		if _, err := os.Stat(entry); err != nil {
			t.Fatalf("%s: the submitted block is not journaled after the kill: %v", round, err)
		}
		if dropJournal {
			// As if the kill had come before the journal write (other
			// blocks found at the same moment keep their entries: their
			// shares may be in the share log, which follows the journal).
			if err := os.Remove(entry); err != nil {
				t.Fatal(err)
			}
		}
		restartPostgres(env)
		if env.Count(t, `SELECT count(*) FROM blocks WHERE hash = $1`, tip[:]) != 0 {
			t.Fatalf("%s: block %s recorded before the restart", round, tip)
		}
		d := RestartDaemon(t, cur.Load())
		cur.Store(d)
		Eventually(t, 60*time.Second, round+": the killed daemon's block recorded after the restart", func() bool {
			return env.Count(t, `SELECT count(*) FROM blocks WHERE hash = $1`, tip[:]) == 1
		})
		how := "resuming found block from the journal"
		if dropJournal {
			how = "recovered a pool block from the chain"
		}
		Eventually(t, 30*time.Second, round+": the restart says how it recovered the block", func() bool {
			return bytes.Contains([]byte(d.Output()), []byte(how))
		})
		Eventually(t, 60*time.Second, round+": nothing pending", func() bool { return d.Metric(pendingSeries) == 0 })
		t.Logf("%s: block %s recorded after the restart (%s) at %v", round, tip, how, time.Since(start).Round(time.Second))
	}
	killAfterSubmit("journal", false)
	killAfterSubmit("chain", true)
	checkBlocksCreditedOnce(t, env, c)
	t.Logf("done in %v", time.Since(start).Round(time.Second))
}

// TestBlocksFoundWhileNodeDown: the pool's only node becomes unreachable
// (a proxy in front of it resets every request) while miners keep mining
// the last job. A block found then cannot be submitted; the keeper retries
// it until the node is back, and it lands and is credited once.
func TestBlocksFoundWhileNodeDown(t *testing.T) {
	start := time.Now()
	n, c, _ := startNode(t)
	proxy := NewRPCProxy(t, n.RPCURL)
	rpc := NodeRPC{URL: proxy.URL, User: n.User, Password: n.Password}
	env := NewPayoutEnv(t)
	d := StartDaemon(t, bins, rpc, env.Options(payoutSettings(10*payoutShareDiff)))
	m := startMiner(t, d, NewTestAccount("nodedown"), "n", 3)
	Eventually(t, 90*time.Second, "a block accepted before the node goes down", func() bool {
		return d.Metric(`adit_blocks_submitted_total{result="accepted"}`) >= 1
	})
	tipBefore, err := c.GetBlockCount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	proxy.SetDown(true)
	down := time.Now()
	foundBefore := d.Metric(foundSeries)
	Eventually(t, 90*time.Second, "a block found and retried while the node is down", func() bool {
		return d.Metric(foundSeries) > foundBefore && d.Metric("adit_block_submit_retries_total") >= 1
	})
	stopMiner(t, m)
	if h, _ := c.GetBlockCount(context.Background()); h != tipBefore {
		t.Fatalf("the node's tip moved from %d to %d while it was unreachable", tipBefore, h)
	}
	retries := d.Metric("adit_block_submit_retries_total")
	proxy.SetDown(false)
	t.Logf("node down %v: %v blocks found, %v retries", time.Since(down).Round(time.Second),
		d.Metric(foundSeries)-foundBefore, retries)
	Eventually(t, 90*time.Second, "the block found while the node was down in its best chain", func() bool {
		h, err := c.GetBlockCount(context.Background())
		return err == nil && h > tipBefore && d.Metric(pendingSeries) == 0
	})
	checkBlocksCreditedOnce(t, env, c)
	t.Logf("done in %v", time.Since(start).Round(time.Second))
}
