//go:build integration

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/adit-pool/adit/pool"
	"github.com/adit-pool/adit/pool/internal/regtest"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum/client"
)

// proxyFile is an adit-proxy configuration for tests and benchmarks: a
// farm whose node is farm, declaring to the daemon for user, its miners'
// difficulty fixed at diff.
type proxyFile struct {
	farm     NodeRPC
	user     string
	diff     float64
	level    string   // log level
	top      string   // more top-level keys
	nodeKeys []string // more [node] keys
	vardiff  string   // more [vardiff] keys
	extra    string   // appended: tables of its own
}

// writeProxyConfig writes f for d on free ports and returns the file and
// the proxy's Stratum V1 and HTTP addresses.
func writeProxyConfig(tb testing.TB, d *JDDaemon, f proxyFile) (path, stratumAddr, httpAddr string) {
	tb.Helper()
	stratumAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
	httpAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
	cfg := fmt.Sprintf(`retry = "1s"
%s
[pool]
jds = %q
mining = %q
authority_key = %q
user = %q

[node]
url = %q
user = %q
%s

[stratum]
listen = %q

[vardiff]
start = %g
min = %g
max = %g
%s

[http]
listen = %q

[log]
format = "json"
level = %q
%s
`, f.top, d.JDAddr, d.SV2Addr, d.Authority, f.user, f.farm.URL, f.farm.User, strings.Join(f.nodeKeys, "\n"), stratumAddr,
		f.diff, f.diff, f.diff, f.vardiff, httpAddr, f.level, f.extra)
	path = filepath.Join(tb.TempDir(), "adit-proxy.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path, stratumAddr, httpAddr
}

// startProxy starts adit-proxy for a farm whose node is farm, declaring to
// d for user (writeProxyConfig: refresh 2 s, debug log), and returns once
// the downstream Stratum V1 port accepts. extra is appended to the file
// (its own tables), nodeKeys to its [node] table.
func startProxy(t *testing.T, d *JDDaemon, farmRPC NodeRPC, user, extra string, nodeKeys ...string) (proc *Process, stratumAddr, httpAddr string) {
	t.Helper()
	path, stratumAddr, httpAddr := writeProxyConfig(t, d, proxyFile{farm: farmRPC, user: user, diff: payoutShareDiff / 4,
		level: "debug", top: `refresh = "2s"` + "\n", nodeKeys: nodeKeys, vardiff: `target_interval = "1s"`, extra: extra})
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

// farmWorld is a farm behind adit-proxy and the pool it declares to: the
// pool's node P and the farm's node M (startJDPair), Postgres with payouts,
// aditd with JD, and the proxy for the farm's account.
type farmWorld struct {
	p, m           *regtest.Node
	pc, mc         *node.Client
	onlyM          *wire.MsgTx
	env            *PayoutEnv
	d              *JDDaemon
	farm           TestAccount
	proxy          *Process
	stratum, httpd string
}

// startFarm starts a farmWorld with a shared regtest block floor; jdExtra
// goes to the pool's [jd], proxyExtra and nodeKeys to the proxy's file and
// its [node] table.
func startFarm(t *testing.T, name, jdExtra, proxyExtra string, nodeKeys ...string) *farmWorld {
	t.Helper()
	w := &farmWorld{farm: NewTestAccount(name)}
	w.p, w.m, w.pc, w.mc, w.onlyM = startJDPair(t)
	w.env = NewPayoutEnv(t)
	w.d = StartJDDaemon(t, bins, NodeRPC{URL: w.p.RPCURL, User: w.p.User, Password: w.p.Password},
		w.env.Options(payoutSettings(jdBlockFloor)), jdExtra)
	w.proxy, w.stratum, w.httpd = startProxy(t, w.d, NodeRPC{URL: w.m.RPCURL, User: w.m.User, Password: w.m.Password},
		w.farm.Address+".proxy", fmt.Sprintf("\n[regtest]\nblock_floor_difficulty = %g\n", jdBlockFloor)+proxyExtra, nodeKeys...)
	return w
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
	w := startFarm(t, "farm", "", "")
	pc, mc, onlyM, env, d, farmAcct, proxy, stratumAddr := w.pc, w.mc, w.onlyM, w.env, w.d, w.farm, w.proxy, w.stratum
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
	sendJunk(t, stratumAddr)
	for _, mp := range miners {
		stopMiner(t, mp)
	}
	// Junk never reaches the pool: every share it saw passed the proxy's
	// checks.
	for _, r := range []string{"job_not_found", "low_difficulty", "bad_extranonce", "bad_ntime", "duplicate"} {
		if v := d.Metric(`adit_shares_total{protocol="v2",result="` + r + `"}`); v != 0 {
			t.Errorf("the pool saw %v %s shares from the proxy", v, r)
		}
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

// proxyMinersBehind starts n V1 miners behind the proxy at addr.
func proxyMinersBehind(t *testing.T, addr string, n int) []*Process {
	t.Helper()
	var ms []*Process
	for i := range n {
		w := fmt.Sprintf("rig%d", i+1)
		ms = append(ms, Start(t, "adit-miner "+w, bins.Miner, nil, "-pool", addr,
			"-user", "farm."+w, "-threads", "1", "-share-rate", "8", "-json"))
	}
	return ms
}

// proxyMode is the proxy's running mode from its metrics ("" none).
func proxyMode(httpAddr string) string {
	m, err := Scrape(httpAddr)
	if err != nil {
		return ""
	}
	for _, mode := range []string{"jd", "pool", "solo", "backup"} {
		if m[`adit_proxy_mode{mode="`+mode+`"}`] == 1 {
			return mode
		}
	}
	return ""
}

// TestProxyFallsBackToPoolJobsAndReturns: the pool refuses the farm's
// declarations (at most 3 a minute per JD connection, then rate-limited),
// the proxy falls back to the pool's own jobs, and returns to declaring
// on a new connection. The farm's node follows the pool's chain (the
// test copies P's blocks to M, as peering would). Shares of both modes are
// credited to the farm.
func TestProxyFallsBackToPoolJobsAndReturns(t *testing.T) {
	w := startFarm(t, "farm-fallback", "declarations_per_minute = 3\n", "")
	pc, mc, env, d, farmAcct, addr, httpAddr := w.pc, w.mc, w.env, w.d, w.farm, w.stratum, w.httpd
	miners := proxyMinersBehind(t, addr, 2)
	Eventually(t, 2*time.Minute, "a fallback to pool jobs and a return to JD", func() bool {
		CopyChain(t, pc, mc)
		m, err := Scrape(httpAddr)
		// Each stay in pool mode is short (the return comes after retry,
		// 1 s): it may take more than one to ship a share on the pool's jobs.
		return err == nil && m[`adit_proxy_mode_switches_total{mode="pool"}`] >= 1 && m[`adit_proxy_mode_switches_total{mode="jd"}`] >= 2 &&
			proxyMode(httpAddr) == "jd" &&
			env.Count(t, `SELECT count(*) FROM shares WHERE NOT declared AND address = $1`, farmAcct.Address) > 0
	})
	for _, mp := range miners {
		stopMiner(t, mp)
	}
	if v := d.Metric(`adit_jd_declarations_total{result="rate-limited"}`); v < 1 {
		t.Errorf("the pool refused %v declarations as rate-limited", v)
	}
	declared := env.Count(t, `SELECT count(*) FROM shares WHERE declared AND address = $1`, farmAcct.Address)
	pooled := env.Count(t, `SELECT count(*) FROM shares WHERE NOT declared AND address = $1`, farmAcct.Address)
	t.Logf("farm shares in Postgres: %d on declared jobs, %d on the pool's jobs", declared, pooled)
	if declared == 0 || pooled == 0 {
		t.Errorf("want shares of both modes: %d declared, %d on pool jobs", declared, pooled)
	}
}

// TestProxySoloWhilePoolIsDown: the pool is killed; the proxy falls back
// (jd, then pool jobs, fail) to solo mining on the farm's node, whose blocks
// pay [solo] address; when the pool is back the proxy declares again. The
// solo blocks reach the pool's node as peering would (the test copies
// them).
func TestProxySoloWhilePoolIsDown(t *testing.T) {
	ctx := context.Background()
	_, pc, rpc := startNode(t)
	m, mc, _ := startNode(t)
	d := StartJDDaemon(t, bins, rpc, DaemonOptions{PayoutAddress: poolAddress,
		Extra: fmt.Sprintf("[vardiff]\nstart = %g\nmin = %g\nmax = %g\n", payoutShareDiff, payoutShareDiff, payoutShareDiff)}, "")
	_, addr, httpAddr := startProxy(t, d, NodeRPC{URL: m.RPCURL, User: m.User, Password: m.Password}, minerAddress1+".proxy",
		fmt.Sprintf("\n[solo]\naddress = %q\n", minerAddress2))
	miners := proxyMinersBehind(t, addr, 1)
	Eventually(t, 60*time.Second, "2 blocks on declared jobs", func() bool { return d.Metric("adit_jd_blocks_found_total") >= 2 })

	d.Kill()
	solo, err := pool.AddressScript(minerAddress2)
	if err != nil {
		t.Fatal(err)
	}
	Eventually(t, 90*time.Second, "solo mode and 2 solo blocks on the farm's node", func() bool {
		return proxyMode(httpAddr) == "solo" && len(poolBlocksOnChain(t, mc, solo)) >= 2
	})
	d2 := RestartDaemon(t, d.Daemon)
	Eventually(t, 90*time.Second, "back to jd and a block on a declared job", func() bool {
		CopyChain(t, mc, pc) // the solo blocks, as peering would bring them
		return proxyMode(httpAddr) == "jd" && d2.Metric("adit_jd_blocks_found_total") >= 1
	})
	for _, p := range miners {
		stopMiner(t, p)
	}
	tip, _ := mc.GetBlockCount(ctx)
	t.Logf("farm node at %d with %d solo blocks; switches: %v", tip, len(poolBlocksOnChain(t, mc, solo)),
		[]float64{ScrapeOne(httpAddr, `adit_proxy_mode_switches_total{mode="jd"}`),
			ScrapeOne(httpAddr, `adit_proxy_mode_switches_total{mode="pool"}`),
			ScrapeOne(httpAddr, `adit_proxy_mode_switches_total{mode="solo"}`)})
}

// TestProxyPoolJobsWhileFarmNodeIsDown: the farm's node stops; the proxy
// gives up declaring ([node] down_after) and mines the pool's own jobs,
// whose shares the pool credits to the farm.
func TestProxyPoolJobsWhileFarmNodeIsDown(t *testing.T) {
	w := startFarm(t, "farm-nodedown", "", "", `down_after = "3s"`)
	m, env, d, farmAcct, addr, httpAddr := w.m, w.env, w.d, w.farm, w.stratum, w.httpd
	miners := proxyMinersBehind(t, addr, 1)
	Eventually(t, 60*time.Second, "declared shares", func() bool {
		return proxyMode(httpAddr) == "jd" && d.Metric(`adit_shares_total{protocol="v2",result="accepted"}`) >= 3
	})
	m.Stop()
	Eventually(t, 60*time.Second, "pool mode with the farm's node down", func() bool { return proxyMode(httpAddr) == "pool" })
	before := d.Metric(`adit_shares_total{protocol="v2",result="accepted"}`)
	Eventually(t, 60*time.Second, "shares on the pool's jobs", func() bool {
		return d.Metric(`adit_shares_total{protocol="v2",result="accepted"}`) >= before+3
	})
	for _, mp := range miners {
		stopMiner(t, mp)
	}
	Eventually(t, 30*time.Second, "3 farm shares on the pool's jobs in Postgres", func() bool {
		return env.Count(t, `SELECT count(*) FROM shares WHERE NOT declared AND address = $1`, farmAcct.Address) >= 3
	})
}

// sendJunk submits shares a miner must never get credit for, through a V1
// connection to the proxy: an unknown job, a short extranonce2, a hash far
// above the target (the nonce that fails it), and a duplicate. Each is
// refused by the proxy itself.
func sendJunk(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, w := dialV1(ctx, t, client.Config{Addr: addr, Username: "farm.junk", Password: "x"})
	en2 := make([]byte, w.Extranonce2Size)
	root, _ := w.MerkleRoot(nil, en2)
	var h share.Header
	low := uint32(0)
	for ; ; low++ { // a nonce whose hash misses the share target
		w.Header(&h, &root, w.NTime, low, 0)
		if hash := share.DoubleSHA256(h[:]); !w.Target.Met(&hash) {
			break
		}
	}
	for _, j := range []struct {
		name  string
		job   string
		en2   []byte
		nonce uint32
	}{
		{"unknown job", "deadbeef", en2, low},
		{"short extranonce2", w.JobID, en2[1:], low},
		{"low difficulty", w.JobID, en2, low},
	} {
		ok, rerr, err := c.Submit(ctx, "farm.junk", j.job, j.en2, w.NTime, j.nonce, nil)
		if err != nil || ok || rerr == nil {
			t.Errorf("%s: accepted %v, %v, %v", j.name, ok, rerr, err)
		}
	}
}

// TestProxyServesSV2Miners: Stratum V2 miners (a standard and an extended
// channel, Noise with the farm's own authority key) behind the proxy mine
// the farm's declared jobs beside a V1 miner; their shares reach the pool
// on the proxy's one channel and blocks land.
func TestProxyServesSV2Miners(t *testing.T) {
	p, m, _, _, _ := startJDPair(t)
	d := StartJDDaemon(t, bins, NodeRPC{URL: p.RPCURL, User: p.User, Password: p.Password}, DaemonOptions{PayoutAddress: poolAddress,
		Extra: fmt.Sprintf("[vardiff]\nstart = %g\nmin = %g\nmax = %g\n\n[regtest]\nblock_floor_difficulty = %g\n",
			payoutShareDiff, payoutShareDiff, payoutShareDiff, jdBlockFloor)}, "")
	keyFile, authority := SV2Key(t, bins)
	sv2Addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	_, addr, httpAddr := startProxy(t, d, NodeRPC{URL: m.RPCURL, User: m.User, Password: m.Password}, minerAddress1+".proxy",
		fmt.Sprintf("\n[regtest]\nblock_floor_difficulty = %g\n\n[sv2]\nlisten = %q\nauthority_key_file = %q\n", jdBlockFloor, sv2Addr, keyFile))
	miners := proxyMinersBehind(t, addr, 1)
	for _, ch := range []string{"standard", "extended"} {
		miners = append(miners, Start(t, "adit-miner sv2 "+ch, bins.Miner, nil, "-sv2", "-pool", sv2Addr, "-authority-key", authority,
			"-channel", ch, "-user", "farm."+ch, "-threads", "1", "-share-rate", "8", "-json"))
	}
	Eventually(t, 90*time.Second, "V2 miners' shares through the proxy and 2 JD blocks", func() bool {
		return ScrapeOne(httpAddr, `adit_proxy_downstream_shares_total{protocol="v2",result="accepted"}`) >= 10 &&
			ScrapeOne(httpAddr, `adit_proxy_downstream_connections{protocol="v2"}`) == 2 &&
			d.Metric("adit_jd_blocks_found_total") >= 2
	})
	for _, mp := range miners {
		stopMiner(t, mp)
	}
	t.Logf("proxy: %v V1 and %v V2 downstream shares, %v forwarded; pool: %v JD blocks",
		ScrapeOne(httpAddr, `adit_proxy_downstream_shares_total{protocol="v1",result="accepted"}`),
		ScrapeOne(httpAddr, `adit_proxy_downstream_shares_total{protocol="v2",result="accepted"}`),
		ScrapeOne(httpAddr, "adit_proxy_forwarded_shares_total"), d.Metric("adit_jd_blocks_found_total"))
}

// dialV1 connects a Stratum V1 client (closed at the test's end) and waits
// for its first work.
func dialV1(ctx context.Context, t *testing.T, cfg client.Config) (*client.Client, *client.Work) {
	t.Helper()
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	select {
	case w := <-c.Work():
		return c, w
	case <-ctx.Done():
		t.Fatalf("no work from %s", cfg.Addr)
		return nil, nil
	}
}

// TestProxyRefreshesAnUnchangedTemplate: with no new block and a quiet
// mempool the farm's node keeps its template, and the proxy declares it
// again every refresh (2 s here), so no job outlives its 2^20 shares.
func TestProxyRefreshesAnUnchangedTemplate(t *testing.T) {
	w := startFarm(t, "farm-refresh", "", "")
	start := time.Now()
	Eventually(t, 30*time.Second, "4 declarations of an unchanged template", func() bool {
		return ScrapeOne(w.httpd, `adit_proxy_declared_jobs_total{result="accepted"}`) >= 4
	})
	if tip, err := w.mc.GetBlockCount(context.Background()); err != nil || tip != 101 {
		t.Fatalf("the farm's node moved to %d (%v): the template changed", tip, err)
	}
	t.Logf("4 declarations in %v", time.Since(start).Round(100*time.Millisecond))
}
