//go:build integration

package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// startProxy writes an adit-proxy configuration for a farm whose node is
// farm, declaring to d for user, and starts it; it returns once the
// downstream Stratum V1 port accepts.
func startProxy(t *testing.T, d *JDDaemon, farmRPC NodeRPC, user, extra string) (proc *Process, stratumAddr, httpAddr string) {
	t.Helper()
	stratumAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	httpAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	cfg := fmt.Sprintf(`retry = "1s"

[pool]
jds = %q
mining = %q
authority_key = %q
user = %q

[node]
url = %q
user = %q

[stratum]
listen = %q

[vardiff]
start = %g
min = %g
max = %g
target_interval = "1s"

[http]
listen = %q

[log]
format = "json"
level = "debug"
%s
`, d.JDAddr, d.SV2Addr, d.Authority, user, farmRPC.URL, farmRPC.User, stratumAddr,
		payoutShareDiff/4, payoutShareDiff/4, payoutShareDiff/4, httpAddr, extra)
	path := filepath.Join(t.TempDir(), "adit-proxy.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	proc = Start(t, "adit-proxy", bins.Proxy, []string{"ADIT_PROXY_NODE_PASSWORD=" + farmRPC.Password}, "-config", path)
	Eventually(t, 30*time.Second, "adit-proxy accepts miners", func() bool {
		if proc.Exited() {
			t.Fatalf("adit-proxy exited:\n%s", tail(proc.Output(), 40))
		}
		c, err := net.DialTimeout("tcp", stratumAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return proc, stratumAddr, httpAddr
}

// TestProxyFarmBlocksLandAndGetPaid: two unmodified-protocol Stratum V1
// miners (adit-miner) behind adit-proxy mine the farm's own templates: the
// proxy builds them from the farm's node M, whose mempool has a
// transaction the pool's node P lacks, declares them to the pool's JDS and
// forwards the shares that meet the upstream target on one extended
// channel. The blocks (one with M's transaction) land in both nodes' best
// chains, and after maturity the farm's address is credited exactly as the
// PPLNS reference says and paid out.
func TestProxyFarmBlocksLandAndGetPaid(t *testing.T) {
	start := time.Now()
	p, m, pc, mc, onlyM := startJDPair(t)
	env := NewPayoutEnv(t)
	d := StartJDDaemon(t, bins, NodeRPC{URL: p.RPCURL, User: p.User, Password: p.Password},
		env.Options(payoutSettings(jdBlockFloor)), "")
	farmAcct := NewTestAccount("farm")
	proxy, stratumAddr, _ := startProxy(t, d, NodeRPC{URL: m.RPCURL, User: m.User, Password: m.Password}, farmAcct.Address+".proxy",
		fmt.Sprintf("\n[regtest]\nblock_floor_difficulty = %g\n", jdBlockFloor))
	var miners []*Process
	for _, w := range []string{"rig1", "rig2"} {
		miners = append(miners, Start(t, "adit-miner "+w, bins.Miner, nil, "-pool", stratumAddr,
			"-user", "farm."+w, "-threads", "1", "-share-rate", "8", "-json"))
	}
	var inBlock string
	Eventually(t, 2*time.Minute, "the farm's transaction in a block of both best chains, and 3 JD blocks", func() bool {
		if proxy.Exited() {
			t.Fatalf("adit-proxy exited:\n%s", tail(proxy.Output(), 40))
		}
		if inBlock == "" {
			inBlock = txBlock(t, pc, onlyM.TxHash())
		}
		return inBlock != "" && txBlock(t, mc, onlyM.TxHash()) == inBlock && d.Metric("adit_jd_blocks_found_total") >= 3
	})
	for _, mp := range miners {
		stopMiner(t, mp)
	}
	t.Logf("blocks after %v: pool %v JD blocks, %v declared, %v v2 shares accepted", time.Since(start).Round(time.Second),
		d.Metric("adit_jd_blocks_found_total"), d.Metric(`adit_jd_declarations_total{result="accepted"}`),
		d.Metric(`adit_shares_total{protocol="v2",result="accepted"}`))
	var h chainhash.Hash
	if err := chainhash.Decode(&h, inBlock); err != nil {
		t.Fatal(err)
	}
	if n := env.Count(t, `SELECT count(*) FROM blocks WHERE hash = $1`, h[:]); n != 1 {
		t.Errorf("the block with the farm's transaction has %d rows in blocks", n)
	}
	if n := env.Count(t, `SELECT count(DISTINCT address) FROM shares WHERE declared`); n != 1 {
		t.Errorf("declared shares from %d addresses, want the farm's alone", n)
	}
	credits := checkBlocksCreditedOnce(t, env, pc)
	checkPaidOut(t, env, pc, []TestAccount{farmAcct}, credits)
	t.Logf("done in %v", time.Since(start).Round(time.Second))
}
