package node_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share/vectortest"
	"github.com/adit-pool/adit/sv2/jdclient"
)

// TestDeclarableCoreTemplates: Bitcoin Core v31.1 getblocktemplate replies
// become declared jobs whose witness commitment is Core's own (Build
// refuses a mismatch when it keeps every transaction) and whose block
// holds Core's transactions in Core's order.
func TestDeclarableCoreTemplates(t *testing.T) {
	// The pool's required outputs as Allocate.Success sends them: one
	// output of 0 sat to a P2WPKH script.
	script := append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0xb0}, 20)...)
	outputs := append(append([]byte{1}, make([]byte, 8)...), append([]byte{byte(len(script))}, script...)...)
	for _, f := range []string{"gbt-sample.json", "gbt-sample-with-tx.json"} {
		tpl, err := node.ParseTemplate(vectortest.ReadVector(t, "bitcoin-core-v31.1/"+f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		d := tpl.Declarable()
		j, err := jdclient.Build(d, outputs, jdclient.BuildConfig{Tag: "/adit-jdc/", ExtranonceSize: 12}, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(j.Txs) != len(tpl.Transactions) || j.PoolValue != tpl.CoinbaseValue || j.Height != tpl.Height {
			t.Fatalf("%s: %d txs, pool value %d, height %d; template %d txs, value %d, height %d",
				f, len(j.Txs), j.PoolValue, j.Height, len(tpl.Transactions), tpl.CoinbaseValue, tpl.Height)
		}
		for i, tx := range tpl.Transactions {
			if !bytes.Equal(j.Txs[i], tx.Data) || j.Wtxids[i] != tx.WTxID {
				t.Fatalf("%s: transaction %d differs from the template's", f, i)
			}
		}
		if tpl.WitnessCommitment == nil || !bytes.Contains(j.DeclareSuffix, tpl.WitnessCommitment) {
			t.Fatalf("%s: the declared coinbase lacks Core's witness commitment %x", f, tpl.WitnessCommitment)
		}
	}
}
