//go:build integration

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/adit-pool/adit/pool/internal/regtest"
)

// TestProxyPolicyLeavesTransactionsOut: adit-proxy's [policy] decides what
// the farm mines. The farm node M's mempool holds onlyM (about 90 sat/vB),
// a child of it below min_fee_rate, a spend listed in exclude_txids and a
// well-paying child of that one; the pool's node P has none of them. V1
// miners behind the proxy find JD blocks: onlyM lands in P's best chain,
// the other three in no block of either chain though they stay in M's
// mempool, offered in every template.
func TestProxyPolicyLeavesTransactionsOut(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	p, m, pc, mc, onlyM := startJDPair(t)
	spend := func(prev *wire.MsgTx, fee int64) *wire.MsgTx {
		t.Helper()
		tx, err := m.Spend(prev, 0, fee)
		if err == nil {
			_, err = regtest.Broadcast(ctx, mc, tx)
		}
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	cb2, err := m.Coinbase(ctx, mc, 2) // the last mature one, with onlyM's
	if err != nil {
		t.Fatal(err)
	}
	cheap := spend(onlyM, 500) // about 4.5 sat/vB
	banned := spend(cb2, 10_000)
	child := spend(banned, 20_000)

	d := StartJDDaemon(t, bins, NodeRPC{URL: p.RPCURL, User: p.User, Password: p.Password}, DaemonOptions{
		PayoutAddress: poolAddress,
		Extra: fmt.Sprintf("[vardiff]\nstart = %g\nmin = %g\nmax = %g\n\n[regtest]\nblock_floor_difficulty = %g\n",
			payoutShareDiff, payoutShareDiff, payoutShareDiff, jdBlockFloor),
	}, "")
	proxy, stratumAddr, _ := startProxy(t, d, NodeRPC{URL: m.RPCURL, User: m.User, Password: m.Password}, minerAddress1+".proxy",
		fmt.Sprintf("\n[regtest]\nblock_floor_difficulty = %g\n\n[policy]\nexclude_txids = [%q]\nmin_fee_rate = 20\n",
			jdBlockFloor, banned.TxHash().String()))
	var miners []*Process
	for _, w := range []string{"rig1", "rig2"} {
		miners = append(miners, Start(t, "adit-miner "+w, bins.Miner, nil, "-pool", stratumAddr,
			"-user", "farm."+w, "-threads", "1", "-share-rate", "8", "-json"))
	}
	Eventually(t, time.Minute, "the kept transaction in a block of both best chains, and 2 JD blocks", func() bool {
		if proxy.Exited() {
			t.Fatalf("adit-proxy exited:\n%s", tail(proxy.Output(), 40))
		}
		b := txBlock(t, pc, onlyM.TxHash())
		return b != "" && txBlock(t, mc, onlyM.TxHash()) == b && d.Metric("adit_jd_blocks_found_total") >= 2
	})
	for _, mp := range miners {
		stopMiner(t, mp)
	}
	t.Logf("%v JD blocks in %v", d.Metric("adit_jd_blocks_found_total"), time.Since(start).Round(time.Second))

	var mempool []string
	if err := mc.Call(ctx, "getrawmempool", nil, &mempool); err != nil {
		t.Fatal(err)
	}
	for name, tx := range map[string]*wire.MsgTx{"below min_fee_rate": cheap, "in exclude_txids": banned, "child of the excluded": child} {
		id := tx.TxHash()
		if b := txBlock(t, pc, id); b != "" {
			t.Errorf("the transaction %s is in P's block %s", name, b)
		}
		if b := txBlock(t, mc, id); b != "" {
			t.Errorf("the transaction %s is in M's block %s", name, b)
		}
		if !slices.Contains(mempool, id.String()) {
			t.Errorf("the transaction %s left M's mempool", name)
		}
	}
	// The proxy's declared jobs said so (jdc logs each custom job).
	if !strings.Contains(proxy.Output(), `"excluded":3`) {
		t.Errorf("no declared job left 3 transactions out:\n%s", tail(proxy.Output(), 20))
	}
}
