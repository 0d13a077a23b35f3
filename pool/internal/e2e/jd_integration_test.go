//go:build integration

package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
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
		j, err := jdclient.Build(tpl, outputs, cfg, time.Now())
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
	blk = mineAndSubmit("excluded", jdclient.BuildConfig{Exclude: func(h chainhash.Hash) bool { return h == ex }}, 1)
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
