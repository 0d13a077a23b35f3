//go:build integration

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/internal/regtest"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/stratum"
	"github.com/adit-pool/adit/stratum/client"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Regtest addresses of keys derived from fixed strings (test coins only).
const (
	poolAddress   = "bcrt1qw33wssd42d8z5hvy7m2qq522yt2ttjz7xlqtaq"
	minerAddress1 = "bcrt1qc0vts3a5e8p9lfepcdf44js99skfy5c79u80et"
	minerAddress2 = "bcrt1q2spd96ak9qjc3acy6fdu9gg5cyk4ejfzw4zqgh"
)

var bins Binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "adit-e2e-bin")
	if err != nil {
		panic(err)
	}
	bins, err = Build(dir)
	if err != nil {
		os.RemoveAll(dir)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func startNode(t *testing.T) (*regtest.Node, *node.Client, NodeRPC) {
	t.Helper()
	n := regtest.Start(t, regtest.Options{})
	return n, n.Client(t), NodeRPC{URL: n.RPCURL, User: n.User, Password: n.Password}
}

// TestDaemonAndMinerFindBlocks: the daemon plus adit-miner find at least 10
// blocks that btcd accepts, each coinbase paying the configured address.
func TestDaemonAndMinerFindBlocks(t *testing.T) {
	_, rpcClient, rpc := startNode(t)
	d := StartDaemon(t, bins, rpc, DaemonOptions{
		PayoutAddress: poolAddress,
		Extra:         "[vardiff]\nstart = 0.001\nmin = 0.0001\ntarget_interval = \"2s\"\n",
	})
	ctx := context.Background()
	startHeight, err := rpcClient.GetBlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	miner := Start(t, "adit-miner", bins.Miner, nil, "-pool", d.StratumAddr, "-user", minerAddress1+".cpu", "-threads", "1", "-json")
	Eventually(t, 90*time.Second, "10 blocks accepted by btcd", func() bool {
		return d.Metric(`adit_blocks_submitted_total{result="accepted"}`) >= 10
	})
	if err := miner.Signal(syscall.SIGINT, 10*time.Second); err != nil {
		t.Fatalf("miner exit: %v", err)
	}
	if found := d.Metric("adit_blocks_found_total"); found < 10 {
		t.Fatalf("adit_blocks_found_total = %v", found)
	}

	payout, _ := btcutil.DecodeAddress(poolAddress, &chaincfg.RegressionNetParams)
	wantScript, _ := txscript.PayToAddrScript(payout)
	best, err := rpcClient.GetBlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pool := 0
	for h := startHeight + 1; h <= best; h++ {
		hash, err := rpcClient.GetBlockHash(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := rpcClient.GetBlock(ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		var blk wire.MsgBlock
		if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
		cb := blk.Transactions[0]
		if !bytes.Contains(cb.TxIn[0].SignatureScript, []byte("/adit-e2e/")) {
			continue // not mined through the pool
		}
		pool++
		if !bytes.Equal(cb.TxOut[0].PkScript, wantScript) {
			t.Errorf("block %d coinbase pays %x, want %x", h, cb.TxOut[0].PkScript, wantScript)
		}
	}
	if pool < 10 {
		t.Fatalf("%d pool blocks in the best chain, want >= 10", pool)
	}
	t.Logf("%d blocks mined through the pool, best height %d", pool, best)
}

// minerSummary is the part of adit-miner's -json summary the tests read.
type minerSummary struct {
	Accepted    uint64            `json:"accepted"`
	Rejected    map[string]uint64 `json:"rejected_by_code"`
	Disconnects uint64            `json:"disconnects"`
}

func parseSummary(t *testing.T, out string) minerSummary {
	t.Helper()
	i := bytes.LastIndex([]byte(out), []byte("\n{"))
	if i < 0 {
		t.Fatalf("no JSON summary in miner output:\n%s", tail(out, 20))
	}
	var s minerSummary
	if err := json.NewDecoder(bytes.NewReader([]byte(out[i+1:]))).Decode(&s); err != nil {
		t.Fatalf("miner summary: %v", err)
	}
	return s
}

// TestMisbehavingClient: a scripted client gets the right error code for each
// kind of bad request while honest miners beside it keep getting accepted,
// and a retarget in the middle of a job does not reject honest shares.
func TestMisbehavingClient(t *testing.T) {
	_, rpcClient, rpc := startNode(t)
	// Shares must reach difficulty 1 to be blocks, so the scripted shares
	// below are judged by the share target only (regtest blocks are trivial).
	d := StartDaemon(t, bins, rpc, DaemonOptions{
		PayoutAddress: poolAddress,
		Extra: "[vardiff]\nstart = 0.0001\nmin = 0.0001\ntarget_interval = \"1s\"\nretarget_shares = 4\n" +
			"[regtest]\nblock_floor_difficulty = 1000\n",
	})
	honest := Start(t, "honest-miners", bins.Miner, nil, "-pool", d.StratumAddr, "-user", minerAddress2+".honest",
		"-fleet", "3", "-threads", "1", "-json", "-version-rolling")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, w := dialV1(ctx, t, client.Config{
		Addr: d.StratumAddr, Username: minerAddress1 + ".script", Password: "x",
		SuggestDifficulty: 0.0001, VersionRolling: true,
	})
	worker := minerAddress1 + ".script"
	meets := func(h *[32]byte) bool { return w.Target.Met(h) }
	sol, ok := Search(w, 1, 50_000_000, meets)
	if !ok {
		t.Fatal("no share found")
	}
	expect := func(what string, wantCode int, accepted bool, rerr *client.RPCError, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		switch {
		case wantCode == 0 && (!accepted || rerr != nil):
			t.Fatalf("%s: want accepted, got %v", what, rerr)
		case wantCode != 0 && (rerr == nil || rerr.Code != wantCode):
			t.Fatalf("%s: want error %d, got accepted=%v err=%v", what, wantCode, accepted, rerr)
		}
	}
	submit := func(what string, wantCode int, workerName string, s Solution, vbits *uint32) {
		t.Helper()
		acc, rerr, err := c.Submit(ctx, workerName, w.JobID, s.Extranonce2, s.NTime, s.Nonce, vbits)
		expect(what, wantCode, acc, rerr, err)
	}
	submit("honest share", 0, worker, sol, nil)
	submit("duplicate", stratum.CodeDuplicate, worker, sol, nil)
	submit("unauthorized worker", stratum.CodeUnauthorized, minerAddress1+".nobody", sol, nil)

	low, ok := Search(w, 2, 1000, func(h *[32]byte) bool { return !w.Target.Met(h) })
	if !ok {
		t.Fatal("no low-difficulty hash found")
	}
	submit("low difficulty", stratum.CodeLowDifficulty, worker, low, nil)

	badVersion := uint32(0x00000001) // outside every mask
	submit("version bits outside the mask", stratum.CodeOther, worker, sol, &badVersion)

	future := sol
	future.NTime = uint32(time.Now().Unix()) + 3*3600
	submit("ntime too far ahead", stratum.CodeOther, worker, future, nil)

	_, rerr, err := c.Call(ctx, "mining.no_such_method")
	if err != nil || rerr == nil || rerr.Code != stratum.CodeOther {
		t.Fatalf("unknown method: rerr=%v err=%v", rerr, err)
	}

	// A new block makes the job stale.
	if _, err := rpcClient.Generate(ctx, 1, ""); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 20*time.Second, "a clean job after the new block", func() bool {
		select {
		case nw := <-c.Work():
			return nw.Clean
		default:
			return false
		}
	})
	stale, ok := Search(w, 3, 50_000_000, meets)
	if !ok {
		t.Fatal("no share found")
	}
	submit("stale share", stratum.CodeJobNotFound, worker, stale, nil)

	// A connection that submits without subscribing gets 25.
	if code := rawSubmitCode(t, d.StratumAddr); code != stratum.CodeNotSubscribed {
		t.Fatalf("submit before subscribe: code %d, want %d", code, stratum.CodeNotSubscribed)
	}

	// Let the honest miners run through a few retargets, then stop them.
	Eventually(t, 60*time.Second, "honest miners retargeted", func() bool {
		return d.Metric(`adit_shares_total{protocol="v1",result="accepted"}`) > 60
	})
	if err := honest.Signal(syscall.SIGINT, 10*time.Second); err != nil {
		t.Fatalf("honest miners exit: %v", err)
	}
	s := parseSummary(t, honest.Output())
	if s.Accepted == 0 || s.Disconnects != 0 {
		t.Fatalf("honest miners disturbed: %+v", s)
	}
	for code, n := range s.Rejected {
		// A share racing the new block may be stale; nothing else is honest.
		if code != "21" {
			t.Errorf("honest miners got %d rejections with code %s", n, code)
		}
	}
	if lowDiff := d.Metric(`adit_shares_total{protocol="v1",result="low_difficulty"}`); lowDiff != 1 {
		t.Errorf("low-difficulty rejections = %v, want exactly the scripted one (retargets must not reject honest shares)", lowDiff)
	}
}

// rawSubmitCode sends mining.submit on a fresh connection with no handshake
// and returns the error code of the reply.
func rawSubmitCode(t *testing.T, addr string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := `{"id":7,"method":"mining.submit","params":["w","00000001","0000000000000000","5f5e1000","00000000"]}` + "\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	line, err := stratum.NewLineReader(conn, 1<<16).ReadLine()
	if err != nil {
		t.Fatal(err)
	}
	var resp stratum.Response
	if err := json.Unmarshal(line, &resp); err != nil || resp.Error == nil {
		t.Fatalf("reply %q: %v", line, err)
	}
	return resp.Error.Code
}
