//go:build integration

package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/adit-pool/adit/pool/internal/regtest"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2/jdclient"
)

// jdPoolScript is the pool payout script of the JD tests' Allocate.Success.
var jdPoolScript = append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0xb0}, 20)...)

// jdPoolOutputs is SRI's Allocate.Success output list: 1, {0 sat, script}.
func jdPoolOutputs() []byte {
	return append(append([]byte{1}, make([]byte, 8)...), append([]byte{byte(len(jdPoolScript))}, jdPoolScript...)...)
}

// solve mines j with extranonce en at regtest difficulty and returns the
// block.
func solve(t *testing.T, j *jdclient.Job, en []byte) []byte {
	t.Helper()
	root := share.MerkleRoot(share.DoubleSHA256(j.Share.Coinbase(en)), j.MerklePath)
	var h share.Header
	for nonce := uint32(0); nonce < 1<<20; nonce++ {
		share.PutHeader(&h, j.Version, &j.PrevHash, &root, j.MinNTime, j.NBits, nonce)
		if hash := share.DoubleSHA256(h[:]); j.Share.NetworkTarget.Met(&hash) {
			return j.Share.Block(&h, en)
		}
	}
	t.Fatal("no nonce found")
	return nil
}

// propose asks btcd to check block as a BIP23 proposal (no PoW check):
// nil means valid, otherwise the reason.
func propose(t *testing.T, ctx context.Context, c *node.Client, block []byte) any {
	t.Helper()
	var res json.RawMessage
	if err := c.Call(ctx, "getblocktemplate", []any{map[string]any{"mode": "proposal", "data": hex.EncodeToString(block)}}, &res); err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(res, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestIntegrationDeclaredJobBlock builds declared jobs from real btcd
// templates (no transaction; a witness transaction and its child; the
// same with the parent excluded by policy) and proves the layout: btcd
// accepts the block made from prefix ‖ extranonce ‖ suffix and the
// template's transactions as a proposal and then, mined, via submitblock.
func TestIntegrationDeclaredJobBlock(t *testing.T) {
	n := regtest.Start(t, regtest.Options{})
	c := n.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.Generate(ctx, 101, ""); err != nil {
		t.Fatal(err)
	}
	outputs := jdPoolOutputs()
	const enSize = 12
	en := bytes.Repeat([]byte{0x42}, enSize)
	mineAndSubmit := func(name string, cfg jdclient.BuildConfig, wantTxs int) *wire.MsgBlock {
		t.Helper()
		tpl, err := c.GetBlockTemplate(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		cfg.ExtranonceSize = enSize
		cfg.Tag = "/adit-jdc-test/"
		j, err := jdclient.Build(tpl.Declarable(), outputs, cfg, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(j.Txs) != wantTxs {
			t.Fatalf("%s: %d transactions kept, want %d", name, len(j.Txs), wantTxs)
		}
		block := solve(t, j, en)
		if r := propose(t, ctx, c, block); r != nil {
			t.Fatalf("%s: proposal rejected: %v", name, r)
		}
		if reason, err := c.SubmitBlock(ctx, block); err != nil || reason != "" {
			t.Fatalf("%s: submitblock = %q, %v", name, reason, err)
		}
		var blk wire.MsgBlock
		if err := blk.Deserialize(bytes.NewReader(block)); err != nil {
			t.Fatal(err)
		}
		best, err := c.GetBestBlockHash(ctx)
		if err != nil || best != blk.BlockHash() {
			t.Fatalf("%s: best %v, %v; want %v", name, best, err, blk.BlockHash())
		}
		if blk.Transactions[0].TxOut[0].Value != j.PoolValue || !bytes.Equal(blk.Transactions[0].TxOut[0].PkScript, jdPoolScript) {
			t.Fatalf("%s: pool output %+v", name, blk.Transactions[0].TxOut[0])
		}
		// The declared (witness) coinbase is the block's, byte for byte.
		var cb bytes.Buffer
		if err := blk.Transactions[0].Serialize(&cb); err != nil {
			t.Fatal(err)
		}
		if want := append(append(append([]byte(nil), j.DeclarePrefix...), en...), j.DeclareSuffix...); !bytes.Equal(cb.Bytes(), want) {
			t.Fatalf("%s: block coinbase %x differs from the declared %x", name, cb.Bytes(), want)
		}
		return &blk
	}
	mineAndSubmit("empty", jdclient.BuildConfig{}, 0)

	// A witness transaction and a child of it.
	spend := func(prev *wire.MsgTx) *wire.MsgTx {
		t.Helper()
		tx, err := n.Spend(prev, 0, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := regtest.Broadcast(ctx, c, tx); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	cb1, err := n.Coinbase(ctx, c, 1)
	if err != nil {
		t.Fatal(err)
	}
	parent := spend(cb1)
	child := spend(parent)
	blk := mineAndSubmit("witness", jdclient.BuildConfig{}, 2)
	if blk.Transactions[1].TxHash() != parent.TxHash() || blk.Transactions[2].TxHash() != child.TxHash() {
		t.Fatal("block lacks the template's transactions")
	}

	// Excluded by policy: the parent goes, and with it the child; a third,
	// unrelated transaction stays.
	cb2, err := n.Coinbase(ctx, c, 2)
	if err != nil {
		t.Fatal(err)
	}
	parent = spend(cb2)
	spend(parent)
	cb3, err := n.Coinbase(ctx, c, 3)
	if err != nil {
		t.Fatal(err)
	}
	other := spend(cb3)
	ex := parent.TxHash()
	blk = mineAndSubmit("excluded", jdclient.BuildConfig{Exclude: func(tx *jdclient.TemplateTx) bool { return tx.TxID == ex }}, 1)
	if len(blk.Transactions) != 2 || blk.Transactions[1].TxHash() != other.TxHash() {
		t.Fatal("the excluded block does not hold just the unrelated transaction")
	}
}

// TestIntegrationJDMinerFallsBackToSolo: adit-miner -jd whose JDS and pool
// ports are closed falls back to solo mining on its own btcd: blocks
// paying -solo-address, tagged with -jd-tag, and a summary in mode solo
// with the fallback and the blocks counted.
func TestIntegrationJDMinerFallsBackToSolo(t *testing.T) {
	n := regtest.Start(t, regtest.Options{})
	c := n.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.Generate(ctx, 1, ""); err != nil {
		t.Fatal(err)
	}
	closed := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	miner := Start(t, "adit-miner -jd", bins.Miner, []string{"ADIT_NODE_PASS=" + n.Password},
		"-jd", "-jd-pool", closed, "-sv2", "-pool", closed, "-insecure-skip-verify",
		"-node-url", n.RPCURL, "-node-user", n.User, "-solo-address", minerAddress1, "-jd-tag", "/adit-jd-e2e/",
		"-jd-retry", "1s", "-user", minerAddress1+".jd", "-threads", "1", "-json")
	Eventually(t, 60*time.Second, "5 solo blocks", func() bool {
		h, err := c.GetBlockCount(ctx)
		return err == nil && h >= 6
	})
	if err := miner.Signal(syscall.SIGINT, 10*time.Second); err != nil {
		t.Fatalf("miner exit: %v", err)
	}
	s, err := ParseFleetSummary(miner.Output())
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode != "solo" || s.Fallbacks < 1 || s.BlocksSolo < 5 || s.BlocksPool != 0 {
		t.Fatalf("summary: mode %q, fallbacks %d, blocks solo %d pool %d", s.Mode, s.Fallbacks, s.BlocksSolo, s.BlocksPool)
	}
	payout, _ := btcutil.DecodeAddress(minerAddress1, &chaincfg.RegressionNetParams)
	want, _ := txscript.PayToAddrScript(payout)
	best, err := c.GetBlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for h := int64(2); h <= best; h++ {
		hash, err := c.GetBlockHash(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		blk := GetBlock(t, c, hash)
		cb := blk.Transactions[0]
		if !bytes.Contains(cb.TxIn[0].SignatureScript, []byte("/adit-jd-e2e/")) || !bytes.Equal(cb.TxOut[0].PkScript, want) {
			t.Fatalf("block %d: scriptSig %x pays %x, want the solo address", h, cb.TxIn[0].SignatureScript, cb.TxOut[0].PkScript)
		}
	}
}

// jdShareDiff and jdBlockFloor: one JD share in 10 is a block, for the
// pool (its [regtest] floor) and the miner (-jd-block-floor) alike.
const jdBlockFloor = 10 * payoutShareDiff

// startJDPair starts the pool's node P and the miner's node M, which never
// peer: 101 blocks on P (mined to the test key, not the pool) copied to M,
// and a transaction only M has, a spend of the height-1 coinbase. Blocks
// reach the other node only through the pool and the miner.
func startJDPair(t *testing.T) (p, m *regtest.Node, pc, mc *node.Client, onlyM *wire.MsgTx) {
	t.Helper()
	ctx := context.Background()
	p, pc, _ = startNode(t)
	m, mc, _ = startNode(t)
	if _, err := pc.Generate(ctx, 101, ""); err != nil {
		t.Fatal(err)
	}
	CopyChain(t, pc, mc)
	cb, err := m.Coinbase(ctx, mc, 1)
	if err != nil {
		t.Fatal(err)
	}
	if onlyM, err = m.Spend(cb, 0, 10_000); err != nil {
		t.Fatal(err)
	}
	if _, err := regtest.Broadcast(ctx, mc, onlyM); err != nil {
		t.Fatal(err)
	}
	var pool []string
	if err := pc.Call(ctx, "getrawmempool", nil, &pool); err != nil || len(pool) != 0 {
		t.Fatalf("P's mempool %v, %v: want it empty", pool, err)
	}
	return p, m, pc, mc, onlyM
}

// txBlock is the hash of the best-chain block holding txid on c (txindex),
// or "" while it is unconfirmed.
func txBlock(t *testing.T, c *node.Client, txid chainhash.Hash) string {
	t.Helper()
	var v struct {
		BlockHash string `json:"blockhash"`
	}
	if err := c.Call(context.Background(), "getrawtransaction", []any{txid.String(), 1}, &v); err != nil {
		return ""
	}
	return v.BlockHash
}

// TestJDDeclaredBlocksLandAndGetPaid is the Job Declaration happy path on
// two btcd nodes: adit-miner -jd builds its jobs from M, whose mempool holds
// a transaction P lacks; the JDS asks for it (ProvideMissingTransactions),
// proposes the block to P and accepts; the custom job's shares are accepted
// and land in Postgres marked declared; the blocks found on it (one holding
// the miner's transaction) reach both nodes' best chains paying the pool's
// script, and after maturity they are credited exactly as the PPLNS
// reference says and paid out.
func TestJDDeclaredBlocksLandAndGetPaid(t *testing.T) {
	start := time.Now()
	p, m, pc, mc, onlyM := startJDPair(t)
	env := NewPayoutEnv(t)
	d := StartJDDaemon(t, bins, NodeRPC{URL: p.RPCURL, User: p.User, Password: p.Password},
		env.Options(payoutSettings(jdBlockFloor)), "")
	acct := NewTestAccount("jd-miner")
	miner := Start(t, "adit-miner -jd", bins.Miner, []string{"ADIT_NODE_PASS=" + m.Password},
		append(d.JDMinerArgs(m, acct.Address+".jd", minerAddress1),
			"-jd-block-floor", fmt.Sprint(jdBlockFloor), "-threads", "1", "-share-rate", "5")...)

	var inBlock string
	Eventually(t, 2*time.Minute, "the miner's transaction in a block of both best chains, and 3 JD blocks", func() bool {
		if inBlock == "" {
			inBlock = txBlock(t, pc, onlyM.TxHash())
		}
		return inBlock != "" && txBlock(t, mc, onlyM.TxHash()) == inBlock &&
			d.Metric("adit_jd_blocks_found_total") >= 3
	})
	checkDeclaringOnAPI(t, d, acct.Address+".jd")
	stopMiner(t, miner)
	s, err := ParseFleetSummary(miner.Output())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("miner: mode %s, declared %d (refused %v), fallbacks %d, pool blocks %d; %v",
		s.Mode, s.DeclaredJobs.Accepted, s.DeclaredJobs.Rejected, s.Fallbacks, s.BlocksPool, time.Since(start).Round(time.Second))
	if s.Fallbacks != 0 || s.BlocksSolo != 0 {
		t.Errorf("the miner fell back to solo: %d fallbacks, %d solo blocks", s.Fallbacks, s.BlocksSolo)
	}
	for series, min := range map[string]float64{
		`adit_jd_declarations_total{result="accepted"}`:      1,
		"adit_jd_missing_tx_rounds_total":                    1,
		`adit_jd_custom_jobs_total{result="accepted"}`:       1,
		`adit_shares_total{protocol="v2",result="accepted"}`: 10,
	} {
		if v := d.Metric(series); v < min {
			t.Errorf("%s = %v, want >= %v", series, v, min)
		}
	}
	var h chainhash.Hash
	if err := chainhash.Decode(&h, inBlock); err != nil {
		t.Fatal(err)
	}
	blk := GetBlock(t, pc, h)
	if cb := blk.Transactions[0]; !bytes.Equal(cb.TxOut[0].PkScript, env.Pool.Script) || cb.TxOut[0].Value != CoinbaseValue(blk) {
		t.Errorf("the declared block's coinbase pays %x %d, want the pool's script the whole %d", cb.TxOut[0].PkScript, cb.TxOut[0].Value, CoinbaseValue(blk))
	}
	if n := env.Count(t, `SELECT count(*) FROM blocks WHERE hash = $1`, h[:]); n != 1 {
		t.Errorf("the block with the miner's transaction has %d rows in blocks", n)
	}
	if n := env.Count(t, `SELECT count(*) FROM shares WHERE declared`); n < 10 {
		t.Errorf("%d declared shares in Postgres", n)
	}
	if n := env.Count(t, `SELECT count(*) FROM shares WHERE NOT declared`); n != 0 {
		t.Errorf("%d shares not declared, the miner mined only custom jobs", n)
	}
	// Maturity on P, then credits and the payout.
	credits := checkBlocksCreditedOnce(t, env, pc)
	checkPaidOut(t, env, pc, []TestAccount{acct}, credits)
	t.Logf("done in %v", time.Since(start).Round(time.Second))
}

// TestJDMinerFallsBackAndReturns: adit-miner -jd mines declared jobs on
// the pool; the pool is killed and the miner solo-mines on its own node
// (blocks paying -solo-address); the pool is restarted and the miner
// declares and mines pool jobs again. The nodes never peer: the solo
// blocks are copied to the pool's node before the pool restarts, as a
// peering would bring them.
func TestJDMinerFallsBackAndReturns(t *testing.T) {
	ctx := context.Background()
	_, pc, rpc := startNode(t)
	m, mc, _ := startNode(t)
	d := StartJDDaemon(t, bins, rpc, DaemonOptions{PayoutAddress: poolAddress,
		Extra: "[vardiff]\nstart = 1e-5\nmin = 1e-5\nmax = 1e-5\n"}, "")
	miner := Start(t, "adit-miner -jd", bins.Miner, []string{"ADIT_NODE_PASS=" + m.Password},
		append(d.JDMinerArgs(m, minerAddress1+".jd", minerAddress2), "-jd-retry", "1s", "-threads", "1", "-share-rate", "2", "-log-level", "debug")...)
	Eventually(t, 60*time.Second, "2 blocks on declared jobs", func() bool {
		return d.Metric("adit_jd_blocks_found_total") >= 2
	})

	d.Kill()
	solo, _ := btcutil.DecodeAddress(minerAddress2, &chaincfg.RegressionNetParams)
	soloScript, _ := txscript.PayToAddrScript(solo)
	soloBlocks := func() int {
		n := 0
		tip, err := mc.GetBlockCount(ctx)
		if err != nil {
			return 0
		}
		for h := int64(2); h <= tip; h++ {
			if _, blk := BestBlock(t, mc, h); bytes.Equal(blk.Transactions[0].TxOut[0].PkScript, soloScript) {
				n++
			}
		}
		return n
	}
	Eventually(t, 60*time.Second, "2 solo blocks on the miner's node while the pool is down", func() bool {
		return soloBlocks() >= 2
	})
	stopped := soloBlocks()
	CopyChain(t, mc, pc)

	d2 := RestartDaemon(t, d.Daemon)
	Eventually(t, 60*time.Second, "a block on a declared job after the pool came back", func() bool {
		CopyChain(t, mc, pc) // solo blocks found since
		return d2.Metric("adit_jd_blocks_found_total") >= 1
	})
	stopMiner(t, miner)
	s, err := ParseFleetSummary(miner.Output())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("miner: mode %s, fallbacks %d, blocks solo %d, pool %d; solo blocks on chain %d when the pool restarted",
		s.Mode, s.Fallbacks, s.BlocksSolo, s.BlocksPool, stopped)
	if s.Mode != "pool" || s.Fallbacks < 1 || s.BlocksSolo < 2 || s.BlocksPool < 3 {
		t.Errorf("summary: mode %q, fallbacks %d, blocks solo %d, pool %d; want pool, >= 1, >= 2, >= 3",
			s.Mode, s.Fallbacks, s.BlocksSolo, s.BlocksPool)
	}
}

// checkDeclaringOnAPI asserts that /api/v1/pool names worker among the
// miners declaring their own work, with the JDS endpoint and declared
// shares.
func checkDeclaringOnAPI(t *testing.T, d *JDDaemon, worker string) {
	t.Helper()
	resp, err := http.Get("http://" + d.HTTPAddr + "/api/v1/pool")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		JD *struct {
			Endpoint  string   `json:"endpoint"`
			Shares    int64    `json:"declared_shares_last_10m"`
			Hashrate  float64  `json:"declared_hashrate_hs"`
			Declaring []string `json:"declaring_workers"`
		} `json:"job_declaration"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.JD == nil || st.JD.Endpoint != d.JDAddr || st.JD.Shares < 1 || st.JD.Hashrate <= 0 || !slices.Contains(st.JD.Declaring, worker) {
		t.Fatalf("/api/v1/pool job_declaration %+v: want endpoint %s, declared shares and %s declaring", st.JD, d.JDAddr, worker)
	}
}
