package share

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

func TestDoubleSHA256(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if DoubleSHA256(b) != refSHA256d(b) {
			t.Fatalf("len %d: mismatch", n)
		}
	}
}

// The genesis block header hashes to its well-known id.
func TestGenesisHeader(t *testing.T) {
	var prev [32]byte
	root := reverse32(mustHex32(t, "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"))
	var h Header
	PutHeader(&h, 1, &prev, &root, 1231006505, 0x1d00ffff, 2083236893)
	got := DoubleSHA256(h[:])
	want := reverse32(mustHex32(t, "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"))
	if got != want {
		t.Fatalf("genesis hash %x", reverse32(got))
	}
	if tg := TargetFromCompact(0x1d00ffff); !tg.Met(&got) {
		t.Fatal("genesis meets its own target")
	}
}

func reverse32(b [32]byte) [32]byte {
	for i := 0; i < 16; i++ {
		b[i], b[31-i] = b[31-i], b[i]
	}
	return b
}

// bruteMerkleRoot computes the root of leaves the way bitcoind does.
func bruteMerkleRoot(leaves [][32]byte) [32]byte {
	level := append([][32]byte(nil), leaves...)
	for len(level) > 1 {
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		next := make([][32]byte, len(level)/2)
		for i := range next {
			next[i] = refSHA256d(append(level[2*i][:], level[2*i+1][:]...))
		}
		level = next
	}
	return level[0]
}

func TestMerkleBranchBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for n := 0; n <= 70; n++ {
		txids := make([][32]byte, n)
		for i := range txids {
			txids[i] = randHash(r)
		}
		cb := randHash(r)
		branch := MerkleBranch(txids)
		want := bruteMerkleRoot(append([][32]byte{cb}, txids...))
		if got := MerkleRoot(cb, branch); got != want {
			t.Fatalf("%d txs: root %x want %x", n, got, want)
		}
		// branch length is ceil(log2(n+1))
		l := 0
		for (1 << l) < n+1 {
			l++
		}
		if len(branch) != l {
			t.Fatalf("%d txs: branch length %d want %d", n, len(branch), l)
		}
	}
}

// Job.Block must produce a block that btcd parses, whose coinbase is the
// job's coinbase (with the BIP141 witness reserved value when Witness), and
// whose merkle root is the header's.
func TestJobBlockSerialization(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, witness := range []bool{false, true} {
		for _, levels := range []int{0, 1, 3, 9} {
			j := newTestJob(r, jobSpec{id: 1, levels: levels, enSize: 8, tagLen: 12, witness: witness, txBodies: true, netTgt: MaxTarget})
			if err := j.Validate(); err != nil {
				t.Fatal(err)
			}
			en := []byte{1, 2, 3, 4, 5, 6, 7, 8}
			cb := j.Coinbase(en)
			root := MerkleRoot(DoubleSHA256(cb), j.MerkleBranch)
			var h Header
			PutHeader(&h, 0x20000000, &j.PrevHash, &root, 1700000000, j.Bits, 42)
			raw := j.Block(&h, en)

			var blk wire.MsgBlock
			if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
				t.Fatalf("witness=%v levels=%d: btcd cannot parse block: %v", witness, levels, err)
			}
			if got := blk.SerializeSize(); got != len(raw) {
				t.Fatalf("trailing bytes: parsed %d of %d", got, len(raw))
			}
			if len(blk.Transactions) != len(j.Transactions)+1 {
				t.Fatalf("tx count %d", len(blk.Transactions))
			}
			cbtx := blk.Transactions[0]
			if cbtx.TxHash() != chainhash.Hash(DoubleSHA256(cb)) {
				t.Fatal("coinbase txid differs")
			}
			if witness != cbtx.HasWitness() {
				t.Fatalf("coinbase witness = %v, want %v", cbtx.HasWitness(), witness)
			}
			if witness {
				w := cbtx.TxIn[0].Witness
				if len(w) != 1 || !bytes.Equal(w[0], make([]byte, 32)) {
					t.Fatalf("witness reserved value: %x", w)
				}
			}
			var nb bytes.Buffer
			if err := cbtx.SerializeNoWitness(&nb); err != nil || !bytes.Equal(nb.Bytes(), cb) {
				t.Fatal("non-witness coinbase differs from Job.Coinbase")
			}
			hashes := make([][32]byte, len(blk.Transactions))
			for i, tx := range blk.Transactions {
				hashes[i] = tx.TxHash()
				if i > 0 && hashes[i] != j.TxIDs[i-1] {
					t.Fatalf("tx %d id differs", i)
				}
			}
			if [32]byte(blk.Header.MerkleRoot) != bruteMerkleRoot(hashes) || [32]byte(blk.Header.MerkleRoot) != root {
				t.Fatal("merkle root mismatch")
			}
			if [32]byte(blk.Header.BlockHash()) != DoubleSHA256(h[:]) {
				t.Fatal("header hash mismatch")
			}
		}
	}
}

func TestWitnessCoinbaseLayout(t *testing.T) {
	cb, _ := hex.DecodeString("02000000" + "01" + "00" + "00000000")
	w := witnessCoinbase(cb)
	want := "02000000" + "0001" + "01" + "00" + "0120" + zeros(64) + "00000000"
	if hex.EncodeToString(w) != want {
		t.Fatalf("got %x", w)
	}
}
