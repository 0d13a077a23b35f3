package jdclient_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/jdclient"
)

// poolScript is the pool payout script of the tests' Allocate.Success.
var poolScript = append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0xb0}, 20)...)

// poolOutputs is SRI's Allocate.Success output list: one 0-sat output.
func poolOutputs(t testing.TB, extra ...*wire.TxOut) []byte {
	t.Helper()
	var b bytes.Buffer
	outs := append([]*wire.TxOut{wire.NewTxOut(0, poolScript)}, extra...)
	if err := wire.WriteVarInt(&b, 0, uint64(len(outs))); err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if err := wire.WriteTxOut(&b, 0, 2, o); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// templateTx makes a transaction spending prev:0 (witness when wit).
func templateTx(t testing.TB, prev chainhash.Hash, wit bool, fee int64) (jdclient.TemplateTx, chainhash.Hash) {
	t.Helper()
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(wire.NewOutPoint(&prev, 0), nil, nil)
	if wit {
		in.Witness = wire.TxWitness{bytes.Repeat([]byte{0x30}, 71), bytes.Repeat([]byte{0x02}, 33)}
	} else {
		in.SignatureScript = []byte{0x51}
	}
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(1000, []byte{0x51}))
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return jdclient.TemplateTx{Data: b.Bytes(), TxID: tx.TxHash(), WTxID: tx.WitnessHash(), Fee: fee}, tx.TxHash()
}

// testTemplate has three transactions: a (witness), b spending a, c
// unrelated; CoinbaseValue is the subsidy plus their fees.
func testTemplate(t testing.TB) *jdclient.Template {
	t.Helper()
	a, ah := templateTx(t, chainhash.Hash{1}, true, 100)
	b, _ := templateTx(t, ah, false, 200)
	c, _ := templateTx(t, chainhash.Hash{2}, false, 400)
	tpl := &jdclient.Template{Version: 0x20000000, PrevHash: chainhash.Hash{9, 9}, Bits: 0x207fffff, Height: 300,
		CurTime: 1_700_000_000, MinTime: 1_699_999_000, CoinbaseValue: 50e8 + 700,
		Transactions: []jdclient.TemplateTx{a, b, c}}
	return tpl
}

// assemble parses prefix ‖ extranonce ‖ suffix as a transaction.
func assemble(t testing.TB, prefix, en, suffix []byte) *wire.MsgTx {
	t.Helper()
	raw := append(append(append([]byte(nil), prefix...), en...), suffix...)
	var tx wire.MsgTx
	r := bytes.NewReader(raw)
	if err := tx.Deserialize(r); err != nil {
		t.Fatalf("coinbase does not parse: %v", err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d trailing bytes", r.Len())
	}
	return &tx
}

func TestBuildLayout(t *testing.T) {
	tpl := testTemplate(t)
	const enSize = 16
	j, err := jdclient.Build(tpl, poolOutputs(t), jdclient.BuildConfig{Tag: "/adit-jdc/", ExtranonceSize: enSize}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	en := bytes.Repeat([]byte{0xe7}, enSize)
	cb := assemble(t, j.DeclarePrefix, en, j.DeclareSuffix)
	if !blockchain.IsCoinBaseTx(cb) || cb.Version != 2 || cb.LockTime != 0 || cb.TxIn[0].Sequence != 0xffffffff {
		t.Fatalf("not the coinbase layout: %+v", cb)
	}
	if !bytes.HasSuffix(cb.TxIn[0].SignatureScript, en) || !bytes.Equal(cb.TxIn[0].SignatureScript, append(append([]byte(nil), j.ScriptSigPrefix...), en...)) {
		t.Fatalf("scriptSig %x does not end with the extranonce after %x", cb.TxIn[0].SignatureScript, j.ScriptSigPrefix)
	}
	if h, err := blockchain.ExtractCoinbaseHeight(btcutil.NewTx(cb)); err != nil || h != 300 {
		t.Fatalf("BIP34 height %d, %v", h, err)
	}
	if w := cb.TxIn[0].Witness; len(w) != 1 || !bytes.Equal(w[0], make([]byte, 32)) {
		t.Fatalf("witness %x", w)
	}
	if len(cb.TxOut) != 2 || !bytes.Equal(cb.TxOut[0].PkScript, poolScript) || cb.TxOut[0].Value != tpl.CoinbaseValue || cb.TxOut[1].Value != 0 {
		t.Fatalf("outputs %+v", cb.TxOut)
	}
	if len(j.DeclarePrefix) < 43 {
		t.Fatalf("declared prefix is %d bytes; SRI's JDS needs 43", len(j.DeclarePrefix))
	}
	// The stripped coinbase (share.Job) is the same transaction.
	if got := share.DoubleSHA256(j.Share.Coinbase(en)); got != cb.TxHash() {
		t.Fatal("share.Job coinbase txid differs from the declared coinbase's")
	}
	// What the mining client rebuilds from SetCustomMiningJob is the same
	// non-witness coinbase: the pool validates shares with it.
	p, s := client.CustomJobCoinbase(j.CustomJob(7, []byte{1}), enSize)
	if !bytes.Equal(p, j.Share.CoinbasePrefix) || !bytes.Equal(s, j.Share.CoinbaseSuffix) {
		t.Fatalf("SetCustomMiningJob coinbase\n%x ‖ %x\ndiffers from\n%x ‖ %x", p, s, j.Share.CoinbasePrefix, j.Share.CoinbaseSuffix)
	}
	// The block from the parts: merkle root and witness commitment hold.
	var h share.Header
	root := share.MerkleRoot(cb.TxHash(), j.MerklePath)
	share.PutHeader(&h, j.Version, &j.PrevHash, &root, j.MinNTime, j.NBits, 0)
	var blk wire.MsgBlock
	if err := blk.Deserialize(bytes.NewReader(j.Share.Block(&h, en))); err != nil {
		t.Fatal(err)
	}
	b := btcutil.NewBlock(&blk)
	if got := blockchain.CalcMerkleRoot(b.Transactions(), false); got != blk.Header.MerkleRoot {
		t.Fatalf("merkle root %v, header has %v", got, blk.Header.MerkleRoot)
	}
	if err := blockchain.ValidateWitnessCommitment(b); err != nil {
		t.Fatal(err)
	}
	for i, w := range j.Wtxids {
		if chainhash.Hash(w) != tpl.Transactions[i].WTxID || !bytes.Equal(j.Txs[i], tpl.Transactions[i].Data) {
			t.Fatalf("wtxid_list[%d] / txs[%d] differ from the template", i, i)
		}
	}
	// With the node's commitment given, it must match ours.
	tpl.WitnessCommitment = cb.TxOut[1].PkScript
	if _, err := jdclient.Build(tpl, poolOutputs(t), jdclient.BuildConfig{ExtranonceSize: enSize}, time.Now()); err != nil {
		t.Fatal(err)
	}
	tpl.WitnessCommitment = append([]byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed, 1}, make([]byte, 31)...) // another commitment
	if _, err := jdclient.Build(tpl, poolOutputs(t), jdclient.BuildConfig{ExtranonceSize: enSize}, time.Now()); err == nil {
		t.Fatal("a wrong node commitment was accepted")
	}
}

// TestBuildExclude: the policy's transaction and its descendant go, with
// their fees; the pool's extra outputs keep their order and values. The
// policy sees each transaction whole, but not the descendant of one it
// left out.
func TestBuildExclude(t *testing.T) {
	tpl := testTemplate(t)
	a := tpl.Transactions[0].TxID
	extra := wire.NewTxOut(1000, []byte{0x6a, 0x01, 0x01})
	var asked []jdclient.TemplateTx
	j, err := jdclient.Build(tpl, poolOutputs(t, extra), jdclient.BuildConfig{ExtranonceSize: 8,
		Exclude: func(tx *jdclient.TemplateTx) bool {
			asked = append(asked, *tx)
			return tx.TxID == a
		}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c := tpl.Transactions[2]; len(asked) != 2 || asked[0].TxID != a ||
		asked[1].TxID != c.TxID || asked[1].Fee != c.Fee || !bytes.Equal(asked[1].Data, c.Data) {
		t.Errorf("policy asked about %+v, want a and c whole (not a's child b)", asked)
	}
	if len(j.Txs) != 1 || !bytes.Equal(j.Txs[0], tpl.Transactions[2].Data) || len(j.Excluded) != 2 {
		t.Fatalf("kept %d, excluded %v", len(j.Txs), j.Excluded)
	}
	cb := assemble(t, j.DeclarePrefix, make([]byte, 8), j.DeclareSuffix)
	want := tpl.CoinbaseValue - 300 - 1000
	if j.PoolValue != want || cb.TxOut[0].Value != want || cb.TxOut[1].Value != 1000 || !bytes.Equal(cb.TxOut[1].PkScript, extra.PkScript) {
		t.Fatalf("outputs %+v, pool value %d, want %d", cb.TxOut, j.PoolValue, want)
	}
	if len(j.MerklePath) != 1 || j.MerklePath[0] != tpl.Transactions[2].TxID {
		t.Fatalf("merkle path %x", j.MerklePath)
	}
}

func TestBuildRefuses(t *testing.T) {
	tpl := testTemplate(t)
	for name, c := range map[string]struct {
		outputs []byte
		en      int
	}{
		"no outputs":       {[]byte{0}, 8},
		"trailing bytes":   {append(poolOutputs(t), 0), 8},
		"truncated":        {poolOutputs(t)[:5], 8},
		"overfunded extra": {poolOutputs(t, wire.NewTxOut(60e8, []byte{0x51})), 8},
		"extranonce 0":     {poolOutputs(t), 0},
		"extranonce 33":    {poolOutputs(t), 33},
	} {
		if _, err := jdclient.Build(tpl, c.outputs, jdclient.BuildConfig{ExtranonceSize: c.en}, time.Now()); err == nil {
			t.Errorf("%s: built", name)
		}
	}
	// A long tag is truncated to the 100-byte scriptSig.
	j, err := jdclient.Build(tpl, poolOutputs(t), jdclient.BuildConfig{Tag: string(bytes.Repeat([]byte("é"), 80)), ExtranonceSize: 32}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(j.ScriptSigPrefix) + 32; n != 100 && n != 99 {
		t.Fatalf("scriptSig %d bytes", n)
	}
}
