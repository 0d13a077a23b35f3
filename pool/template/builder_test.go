package template_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Block 100000 of mainnet, four transactions. The test checks the bytes
// against the block's well-known hash, so a corrupted file cannot pass.
const block100000Hash = "000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506"

func readBlock(t *testing.T, path string) ([]byte, *wire.MsgBlock) {
	t.Helper()
	h, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(h)))
	if err != nil {
		t.Fatal(err)
	}
	var b wire.MsgBlock
	if err := b.Deserialize(bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	return raw, &b
}

func serialize(t *testing.T, tx *wire.MsgTx, witness bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if witness {
		err = tx.Serialize(&buf)
	} else {
		err = tx.SerializeNoWitness(&buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRebuildBlock100000 rebuilds a real block from a share.Job: coinbase
// split around an "extranonce" at the end of its scriptSig, merkle branch
// from share.MerkleBranch, header from share.PutHeader.
func TestRebuildBlock100000(t *testing.T) {
	raw, b := readBlock(t, "testdata/block100000.hex")
	want, _ := chainhash.NewHashFromStr(block100000Hash)
	if got := chainhash.Hash(share.DoubleSHA256(raw[:80])); got != *want {
		t.Fatalf("testdata hash %v, want %v", got, want)
	}
	if len(raw) != 957 || len(b.Transactions) != 4 {
		t.Fatalf("%d bytes, %d transactions; want 957 and 4", len(raw), len(b.Transactions))
	}
	cb := serialize(t, b.Transactions[0], false)
	sig := b.Transactions[0].TxIn[0].SignatureScript
	// The coinbase is version ‖ 1 input ‖ outpoint ‖ len ‖ scriptSig ‖ ...:
	// take the scriptSig's last 4 bytes as the extranonce.
	const enSize = 4
	enEnd := 4 + 1 + 36 + 1 + len(sig)
	enStart := enEnd - enSize
	j := &share.Job{
		Height:         100000,
		PrevHash:       b.Header.PrevBlock,
		Version:        uint32(b.Header.Version),
		Bits:           b.Header.Bits,
		NetworkTarget:  share.TargetFromCompact(b.Header.Bits),
		CoinbasePrefix: cb[:enStart],
		CoinbaseSuffix: cb[enEnd:],
		ExtranonceSize: enSize,
	}
	for _, tx := range b.Transactions[1:] {
		j.Transactions = append(j.Transactions, serialize(t, tx, true))
		j.TxIDs = append(j.TxIDs, tx.TxHash())
	}
	j.MerkleBranch = share.MerkleBranch(j.TxIDs)
	if err := j.Validate(); err != nil {
		t.Fatal(err)
	}
	en := cb[enStart:enEnd]
	if !bytes.Equal(j.Coinbase(en), cb) {
		t.Fatal("coinbase does not reassemble")
	}
	root := share.MerkleRoot(share.DoubleSHA256(j.Coinbase(en)), j.MerkleBranch)
	if root != b.Header.MerkleRoot {
		t.Fatalf("merkle root %x, want %v", root, b.Header.MerkleRoot)
	}
	var h share.Header
	share.PutHeader(&h, j.Version, &j.PrevHash, &root, uint32(b.Header.Timestamp.Unix()), j.Bits, b.Header.Nonce)
	if hash := chainhash.Hash(share.DoubleSHA256(h[:])); hash != *want {
		t.Fatalf("header hash %v, want %v", hash, want)
	}
	hash := share.DoubleSHA256(h[:])
	if !j.NetworkTarget.Met(&hash) {
		t.Fatal("block hash does not meet its own target")
	}
	if !bytes.Equal(j.Block(&h, en), raw) {
		t.Fatal("Job.Block does not reproduce the raw block")
	}
}

var testPayout = append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0x11}, 20)...)

// witnessTx returns a (not validly signed) transaction with a witness.
func witnessTx(seed byte) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{seed}, Index: 1}, nil, [][]byte{{seed, 1, 2}, {3}}))
	tx.AddTxOut(wire.NewTxOut(5000, testPayout))
	return tx
}

func legacyTx(seed byte) *wire.MsgTx {
	tx := wire.NewMsgTx(1)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{seed}, Index: 0}, []byte{0x51}, nil))
	tx.AddTxOut(wire.NewTxOut(7000, testPayout))
	return tx
}

// testTemplate returns a template whose witness commitment is correct for
// its transactions (computed the way btcd does).
func testTemplate(t *testing.T, height int64, txs ...*wire.MsgTx) *node.Template {
	t.Helper()
	tpl := &node.Template{
		Version:       0x20000000,
		PrevHash:      chainhash.Hash{0xaa, 0xbb},
		CoinbaseValue: 50_0000_0000 + 1234,
		Bits:          0x207fffff,
		Height:        height,
		CurTime:       1_700_000_000,
		MinTime:       1_699_999_000,
	}
	tpl.Target = share.TargetFromCompact(tpl.Bits)
	witness := false
	all := []*btcutil.Tx{btcutil.NewTx(wire.NewMsgTx(1))} // stand-in coinbase: its wtxid counts as zero
	for _, tx := range txs {
		tpl.Transactions = append(tpl.Transactions, node.TemplateTx{
			Data: serialize(t, tx, true), TxID: tx.TxHash(), WTxID: tx.WitnessHash(), HasWitness: tx.HasWitness(),
		})
		witness = witness || tx.HasWitness()
		all = append(all, btcutil.NewTx(tx))
	}
	if witness {
		root := blockchain.CalcMerkleRoot(all, true)
		var pre [64]byte
		copy(pre[:32], root[:])
		tpl.WitnessCommitment = node.WitnessCommitmentScript(share.DoubleSHA256(pre[:]))
	}
	return tpl
}

func TestBuildCoinbaseLayout(t *testing.T) {
	heights := []int64{1, 2, 16, 17, 127, 128, 255, 256, 32767, 32768, 65535, 8388607, 8388608, 840000, 1 << 30}
	for _, withWitness := range []bool{false, true} {
		for _, height := range heights {
			txs := []*wire.MsgTx{legacyTx(1), legacyTx(2)}
			if withWitness {
				txs = append(txs, witnessTx(3))
			}
			tpl := testTemplate(t, height, txs...)
			b, err := template.NewBuilder(template.BuilderConfig{PayoutScript: testPayout, PoolTag: "/adit/", ExtranonceSize: 12})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Unix(1_700_000_100, 0)
			j, err := b.Build(tpl, 7, true, now)
			if err != nil {
				t.Fatal(err)
			}
			checkJob(t, j, tpl, 12)
			if !j.Clean || j.ID != 7 || !j.Created.Equal(now) || j.Witness != withWitness {
				t.Fatalf("job header fields: %+v", j)
			}
			// The height as btcd reads it, and as Core writes it.
			en := bytes.Repeat([]byte{0xee}, 12)
			var cb wire.MsgTx
			if err := cb.Deserialize(bytes.NewReader(j.Coinbase(en))); err != nil {
				t.Fatal(err)
			}
			got, err := blockchain.ExtractCoinbaseHeight(btcutil.NewTx(&cb))
			if err != nil || int64(got) != height {
				t.Fatalf("height %d: btcd extracts %d, %v", height, got, err)
			}
			want, _ := txscript.NewScriptBuilder().AddInt64(height).Script()
			if !bytes.HasPrefix(cb.TxIn[0].SignatureScript, want) {
				t.Fatalf("height %d: scriptSig %x does not start with %x", height, cb.TxIn[0].SignatureScript, want)
			}
			if height <= 16 && cb.TxIn[0].SignatureScript[0] != byte(txscript.OP_1-1+height) {
				t.Fatalf("height %d not OP_%d", height, height)
			}
			// Assemble a whole block and let btcd check the witness commitment
			// and merkle root.
			root := share.MerkleRoot(share.DoubleSHA256(j.Coinbase(en)), j.MerkleBranch)
			var h share.Header
			share.PutHeader(&h, j.Version, &j.PrevHash, &root, j.CurTime, j.Bits, 0)
			blk, err := btcutil.NewBlockFromBytes(j.Block(&h, en))
			if err != nil {
				t.Fatal(err)
			}
			if blk.MsgBlock().Header.MerkleRoot != chainhash.Hash(root) {
				t.Fatal("merkle root mismatch")
			}
			if calc := blockchain.CalcMerkleRoot(blk.Transactions(), false); calc != chainhash.Hash(root) {
				t.Fatalf("btcd merkle root %v, job %x", calc, root)
			}
			if err := blockchain.ValidateWitnessCommitment(blk); err != nil {
				t.Fatalf("witness commitment: %v", err)
			}
		}
	}
}

// checkJob parses the job's coinbase with wire and checks every field.
func checkJob(t *testing.T, j *share.Job, tpl *node.Template, enSize int) {
	t.Helper()
	if err := j.Validate(); err != nil {
		t.Fatal(err)
	}
	en := bytes.Repeat([]byte{0xc3}, enSize)
	cbBytes := j.Coinbase(en)
	var cb wire.MsgTx
	rd := bytes.NewReader(cbBytes)
	if err := cb.Deserialize(rd); err != nil || rd.Len() != 0 {
		t.Fatalf("coinbase does not parse: %v (%d trailing)", err, rd.Len())
	}
	if cb.Version != 2 || cb.LockTime != 0 || len(cb.TxIn) != 1 {
		t.Fatalf("coinbase shape: %+v", cb)
	}
	in := cb.TxIn[0]
	if in.PreviousOutPoint.Hash != (chainhash.Hash{}) || in.PreviousOutPoint.Index != 0xffffffff || in.Sequence != 0xffffffff {
		t.Fatalf("coinbase input: %+v", in)
	}
	sig := in.SignatureScript
	if len(sig) < 2 || len(sig) > 100 {
		t.Fatalf("scriptSig %d bytes", len(sig))
	}
	if !bytes.HasSuffix(sig, en) || sig[len(sig)-enSize-1] != byte(enSize) {
		t.Fatalf("scriptSig %x does not end with a push of the extranonce", sig)
	}
	if !bytes.HasSuffix(j.CoinbasePrefix, sig[:len(sig)-enSize]) || !bytes.HasPrefix(j.CoinbaseSuffix, []byte{0xff, 0xff, 0xff, 0xff}) {
		t.Fatal("prefix/suffix split is not around the extranonce")
	}
	// The scriptSig is a valid sequence of pushes.
	if _, err := txscript.PushedData(sig); err != nil {
		t.Fatalf("scriptSig %x: %v", sig, err)
	}
	if len(cb.TxOut) < 1 || !bytes.Equal(cb.TxOut[0].PkScript, testPayout) || cb.TxOut[0].Value != tpl.CoinbaseValue {
		t.Fatalf("payout output %+v", cb.TxOut)
	}
	if tpl.WitnessCommitment != nil {
		if len(cb.TxOut) != 2 || cb.TxOut[1].Value != 0 || !bytes.Equal(cb.TxOut[1].PkScript, tpl.WitnessCommitment) || !j.Witness {
			t.Fatalf("commitment output %+v", cb.TxOut)
		}
	} else if len(cb.TxOut) != 1 || j.Witness {
		t.Fatalf("unexpected outputs %+v", cb.TxOut)
	}
	if j.Height != tpl.Height || j.PrevHash != tpl.PrevHash || j.Version != tpl.Version || j.Bits != tpl.Bits ||
		j.NetworkTarget != share.TargetFromCompact(tpl.Bits) || j.MinTime != tpl.MinTime || j.CurTime != tpl.CurTime ||
		j.CoinbaseValue != tpl.CoinbaseValue || j.ExtranonceSize != enSize {
		t.Fatalf("job fields differ from template: %+v", j)
	}
	if len(j.Transactions) != len(tpl.Transactions) {
		t.Fatal("transaction count")
	}
	for i := range tpl.Transactions {
		if !bytes.Equal(j.Transactions[i], tpl.Transactions[i].Data) || j.TxIDs[i] != tpl.Transactions[i].TxID {
			t.Fatalf("transaction %d differs", i)
		}
	}
}

func TestBuildTagTruncation(t *testing.T) {
	long := strings.Repeat("é", 60) // 120 bytes, multi-byte runes
	for _, enSize := range []int{1, 8, 12, 32} {
		b, err := template.NewBuilder(template.BuilderConfig{PayoutScript: testPayout, PoolTag: long, ExtranonceSize: enSize})
		if err != nil {
			t.Fatal(err)
		}
		tpl := testTemplate(t, 1<<30)
		j, err := b.Build(tpl, 1, false, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		checkJob(t, j, tpl, enSize)
		var cb wire.MsgTx
		if err := cb.Deserialize(bytes.NewReader(j.Coinbase(make([]byte, enSize)))); err != nil {
			t.Fatal(err)
		}
		pushes, _ := txscript.PushedData(cb.TxIn[0].SignatureScript)
		if len(pushes) != 3 || !strings.HasPrefix(long, string(pushes[1])) || len(pushes[1]) == 0 {
			t.Fatalf("en %d: pushes %x", enSize, pushes)
		}
		// The tag fills the room (up to a single-byte push of 75), less at
		// most one byte where a 2-byte rune did not fit.
		room := min(100-5-1-1-enSize, 75)
		if n := len(pushes[1]); n != room && n != room-1 {
			t.Fatalf("en %d: tag %d bytes, want %d", enSize, n, room)
		}
	}
	// No tag at all.
	b, err := template.NewBuilder(template.BuilderConfig{PayoutScript: testPayout, ExtranonceSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	tpl := testTemplate(t, 3)
	j, err := b.Build(tpl, 1, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	checkJob(t, j, tpl, 8)
}

func TestBuilderConfigValidate(t *testing.T) {
	bad := []template.BuilderConfig{
		{PayoutScript: nil, ExtranonceSize: 8},
		{PayoutScript: testPayout, ExtranonceSize: 0},
		{PayoutScript: testPayout, ExtranonceSize: 33},
		{PayoutScript: make([]byte, 10001), ExtranonceSize: 8},
	}
	for i, c := range bad {
		if _, err := template.NewBuilder(c); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
	b, _ := template.NewBuilder(template.BuilderConfig{PayoutScript: testPayout, ExtranonceSize: 8})
	if _, err := b.Build(&node.Template{Height: 0}, 1, true, time.Now()); err == nil {
		t.Error("height 0 accepted")
	}
}
