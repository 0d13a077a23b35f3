package farm_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/adit-pool/adit/pool"
	"github.com/adit-pool/adit/pool/farm"
	"github.com/adit-pool/adit/sv2/jdclient"
)

// Addresses and scripts: a BIP173 test vector and its script, a regtest
// P2WPKH, a P2PKH script.
const (
	mainP2WPKH    = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
	regtestP2WPKH = "bcrt1qw33wssd42d8z5hvy7m2qq522yt2ttjz7xlqtaq"
)

var (
	mainScript = []byte("\x00\x14\x75\x1e\x76\xe8\x19\x91\x96\xd4\x54\x94\x1c\x45\xd1\xb3\xa3\x23\xf1\x43\x3b\xd6")
	p2pkh      = append(append([]byte{0x76, 0xa9, 0x14}, make([]byte, 20)...), 0x88, 0xac)
)

// policyTx is a template transaction spending prev:0 (a P2WPKH-like
// witness) to scripts, with fee.
func policyTx(t testing.TB, prev chainhash.Hash, fee int64, scripts ...[]byte) jdclient.TemplateTx {
	t.Helper()
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(wire.NewOutPoint(&prev, 0), nil, nil)
	in.Witness = wire.TxWitness{bytes.Repeat([]byte{0x30}, 71), bytes.Repeat([]byte{0x02}, 33)}
	tx.AddTxIn(in)
	for _, s := range scripts {
		tx.AddTxOut(wire.NewTxOut(10_000, s))
	}
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return jdclient.TemplateTx{Data: b.Bytes(), TxID: tx.TxHash(), WTxID: tx.WitnessHash(), Fee: fee}
}

func vsize(t testing.TB, tx jdclient.TemplateTx) int64 {
	t.Helper()
	var msg wire.MsgTx
	if err := msg.Deserialize(bytes.NewReader(tx.Data)); err != nil {
		t.Fatal(err)
	}
	return farm.VSize(&msg)
}

// TestVSize: ceil(weight/4), weight as btcd's consensus code counts it.
func TestVSize(t *testing.T) {
	other := p2pkh
	for outs := 1; outs <= 4; outs++ {
		scripts := make([][]byte, outs)
		for i := range scripts {
			scripts[i] = other
		}
		tx := policyTx(t, chainhash.Hash{1}, 0, scripts...)
		var msg wire.MsgTx
		if err := msg.Deserialize(bytes.NewReader(tx.Data)); err != nil {
			t.Fatal(err)
		}
		w := blockchain.GetTransactionWeight(btcutil.NewTx(&msg))
		if got, want := farm.VSize(&msg), (w+3)/4; got != want {
			t.Errorf("%d outputs: vsize %d, want %d (weight %d)", outs, got, want, w)
		}
	}
	// A legacy transaction: vsize is its size.
	msg := wire.NewMsgTx(1)
	msg.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{2}, 0), []byte{0x51}, nil))
	msg.AddTxOut(wire.NewTxOut(1, other))
	if got := farm.VSize(msg); got != int64(msg.SerializeSize()) {
		t.Errorf("legacy vsize %d, size %d", got, msg.SerializeSize())
	}
}

// TestPolicyExclude: each rule, on its own and together.
func TestPolicyExclude(t *testing.T) {
	other, main := p2pkh, mainScript
	regtest, err := pool.AddressScript(regtestP2WPKH)
	if err != nil {
		t.Fatal(err)
	}
	plain := policyTx(t, chainhash.Hash{1}, 1000, other)
	toMain := policyTx(t, chainhash.Hash{2}, 1000, other, main)
	toRegtest := policyTx(t, chainhash.Hash{3}, 1000, regtest)
	toHex := policyTx(t, chainhash.Hash{4}, 1000, other, other, []byte{0x6a, 0x01, 0x02})
	v := vsize(t, plain)
	atRate := policyTx(t, chainhash.Hash{5}, 2*v, other) // exactly 2 sat/vB
	belowRate := atRate
	belowRate.Fee--
	garbage := jdclient.TemplateTx{Data: []byte{1, 2, 3}, TxID: chainhash.Hash{6}, Fee: 1 << 20}

	byScript := farm.PolicyConfig{ExcludeScripts: []string{mainP2WPKH, regtestP2WPKH, "6A0102"}}
	for _, c := range []struct {
		name string
		cfg  farm.PolicyConfig
		tx   jdclient.TemplateTx
		want bool
	}{
		{"no rules", farm.PolicyConfig{}, plain, false},
		{"no rules, unparsable", farm.PolicyConfig{}, garbage, false},
		{"txid listed", farm.PolicyConfig{ExcludeTxids: []string{plain.TxID.String()}}, plain, true},
		{"txid not listed", farm.PolicyConfig{ExcludeTxids: []string{toMain.TxID.String()}}, plain, false},
		{"mainnet address, second output", byScript, toMain, true},
		{"regtest address", byScript, toRegtest, true},
		{"hex script, third output", byScript, toHex, true},
		{"script not paid", byScript, plain, false},
		{"script rule, unparsable", byScript, garbage, true},
		{"fee rate at the minimum", farm.PolicyConfig{MinFeeRate: 2}, atRate, false},
		{"fee rate 1 sat below", farm.PolicyConfig{MinFeeRate: 2}, belowRate, true},
		{"fractional minimum, above", farm.PolicyConfig{MinFeeRate: 1.5}, belowRate, false},
		{"fractional minimum, below", farm.PolicyConfig{MinFeeRate: float64(2*v) / float64(v-1)}, atRate, true},
		{"zero fee, no minimum", farm.PolicyConfig{}, policyTx(t, chainhash.Hash{7}, 0, other), false},
		{"zero fee, minimum", farm.PolicyConfig{MinFeeRate: 0.001}, policyTx(t, chainhash.Hash{7}, 0, other), true},
		{"fee rule, unparsable", farm.PolicyConfig{MinFeeRate: 1}, garbage, true},
		{"all rules, none hit", farm.PolicyConfig{ExcludeTxids: []string{toMain.TxID.String()},
			ExcludeScripts: []string{mainP2WPKH}, MinFeeRate: 2}, atRate, false},
	} {
		p, err := farm.NewPolicy(c.cfg)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := p.Exclude(&c.tx); got != c.want {
			t.Errorf("%s: Exclude = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestPolicyDescendants: through jdclient.Build, a parent below the
// minimum fee rate takes its well-paying child along, and their fees come
// off the coinbase; an unrelated transaction stays.
func TestPolicyDescendants(t *testing.T) {
	other := p2pkh
	parent := policyTx(t, chainhash.Hash{1}, 10, other)
	child := policyTx(t, parent.TxID, 100_000, other)
	unrelated := policyTx(t, chainhash.Hash{2}, 5_000, other)
	tpl := &jdclient.Template{Version: 0x20000000, Bits: 0x207fffff, Height: 300, CurTime: 1_700_000_000,
		CoinbaseValue: 50e8 + 105_010, Transactions: []jdclient.TemplateTx{parent, child, unrelated}}
	p, err := farm.NewPolicy(farm.PolicyConfig{MinFeeRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	outputs := append(append([]byte{1}, make([]byte, 8)...), 1, 0x51)
	j, err := jdclient.Build(tpl, outputs, jdclient.BuildConfig{ExtranonceSize: 8, Exclude: p.Exclude}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Txs) != 1 || !bytes.Equal(j.Txs[0], unrelated.Data) {
		t.Errorf("kept %d transactions, want the unrelated one alone", len(j.Txs))
	}
	if len(j.Excluded) != 2 || j.Excluded[0] != parent.TxID || j.Excluded[1] != child.TxID {
		t.Errorf("excluded %v, want parent and child", j.Excluded)
	}
	if j.PoolValue != 50e8+5_000 {
		t.Errorf("pool value %d, want the subsidy and the unrelated fee", j.PoolValue)
	}
}

// TestPolicyConfigErrors: each bad value is refused, naming its key.
func TestPolicyConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  farm.PolicyConfig
		key  string
	}{
		{"bad txid", farm.PolicyConfig{ExcludeTxids: []string{"xyz"}}, "policy.exclude_txids"},
		{"bad address", farm.PolicyConfig{ExcludeScripts: []string{"bc1qnotanaddress"}}, "policy.exclude_scripts"},
		{"odd hex", farm.PolicyConfig{ExcludeScripts: []string{"76a"}}, "policy.exclude_scripts"},
		{"empty script", farm.PolicyConfig{ExcludeScripts: []string{""}}, "policy.exclude_scripts"},
		{"negative rate", farm.PolicyConfig{MinFeeRate: -1}, "policy.min_fee_rate"},
	} {
		_, err := farm.NewPolicy(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: error %v, want one naming %s", c.name, err, c.key)
		}
	}
}

// TestPolicyFromFile: the [policy] keys read from TOML reach
// Config.Exclude, and a bad one fails Farm naming the key.
func TestPolicyFromFile(t *testing.T) {
	kept := policyTx(t, chainhash.Hash{1}, 10_000, p2pkh)
	byTxid := policyTx(t, chainhash.Hash{2}, 10_000, p2pkh)
	byScript := policyTx(t, chainhash.Hash{3}, 10_000, mainScript)
	cheap := policyTx(t, chainhash.Hash{4}, 10, p2pkh)
	load := func(policy string) (farm.Config, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "adit-proxy.toml")
		body := `[pool]
jds = "127.0.0.1:1"
mining = "127.0.0.1:2"
insecure_skip_verify = true
user = "` + regtestP2WPKH + `.farm"

[node]
url = "http://127.0.0.1:3"

[stratum]
listen = "127.0.0.1:0"

[policy]
` + policy
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		fc, pass, err := farm.LoadConfig(path, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		return fc.Farm(pass)
	}
	cfg, err := load(`tag = "/farm/"
exclude_txids = ["` + byTxid.TxID.String() + `"]
exclude_scripts = ["` + mainP2WPKH + `"]
min_fee_rate = 1.5
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		tx   jdclient.TemplateTx
		want bool
	}{{"kept", kept, false}, {"by txid", byTxid, true}, {"by script", byScript, true}, {"by fee rate", cheap, true}} {
		if got := cfg.Exclude(&c.tx); got != c.want {
			t.Errorf("%s: Exclude = %v, want %v", c.name, got, c.want)
		}
	}
	if cfg.Tag != "/farm/" {
		t.Errorf("tag %q", cfg.Tag)
	}
	if _, err := load("min_fee_rate = -0.5\nexclude_scripts = [\"zz\"]\n"); err == nil ||
		!strings.Contains(err.Error(), "policy.min_fee_rate") || !strings.Contains(err.Error(), "policy.exclude_scripts") {
		t.Errorf("bad policy: %v", err)
	}
}
