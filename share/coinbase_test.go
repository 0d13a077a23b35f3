package share

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"github.com/adit-pool/adit/share/vectortest"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// partsFor returns CoinbaseParts that must lay out exactly what the test
// helper buildCoinbase (every byte by hand) does.
func partsFor(height int64, tag []byte, enSize int, outs []txOut) CoinbaseParts {
	script := AppendBIP34Height(nil, height)
	script = append(script, tag...)
	p := CoinbaseParts{Version: 2, ScriptSigPrefix: script, ExtranonceSize: enSize, Sequence: 0xffffffff}
	for _, o := range outs {
		p.Outputs = append(p.Outputs, TxOut{Value: o.value, Script: o.script})
	}
	return p
}

func TestCoinbasePartsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, h := range []int64{1, 2, 16, 17, 127, 128, 255, 256, 32767, 32768, 65535, 8388607, 8388608, 840000, 1 << 30, 1<<31 - 1, 1 << 40} {
		for _, en := range []int{1, 8, 12, 32} {
			tag := make([]byte, r.IntN(40))
			outs := []txOut{{value: int64(r.IntN(5e9)), script: append([]byte{0x00, 0x14}, make([]byte, 20)...)}}
			if r.IntN(2) == 0 {
				outs = append(outs, txOut{value: 0, script: witnessCommitmentScript(randHash(r))})
			}
			wantP, wantS := buildCoinbase(h, tag, en, outs)
			parts := partsFor(h, tag, en, outs)
			p, s, err := parts.Split()
			if err != nil {
				t.Fatalf("height %d: %v", h, err)
			}
			if !bytes.Equal(p, wantP) || !bytes.Equal(s, wantS) {
				t.Fatalf("height %d en %d:\n%x %x\n%x %x", h, en, p, s, wantP, wantS)
			}
			if got := parts.WitnessCommitment(); got != (len(outs) == 2) {
				t.Fatalf("witness commitment %v", got)
			}
			if v, err := parts.Value(); err != nil || v != outs[0].value {
				t.Fatalf("value %d, %v", v, err)
			}
		}
	}
}

func TestAppendBIP34Height(t *testing.T) {
	for _, c := range []struct {
		h    int64
		want string
	}{
		{-1, ""}, {0, "00"}, {1, "51"}, {16, "60"}, {17, "0111"}, {127, "017f"}, {128, "028000"},
		{255, "02ff00"}, {256, "020001"}, {32767, "02ff7f"}, {32768, "03008000"}, {840000, "0340d10c"},
		{1<<63 - 1, "08ffffffffffffff7f"}, {1 << 62, "080000000000000040"},
	} {
		if got := hex.EncodeToString(AppendBIP34Height(nil, c.h)); got != c.want {
			t.Errorf("height %d: %s, want %s", c.h, got, c.want)
		}
	}
	if got := AppendBIP34Height([]byte{0xaa}, 17); !bytes.Equal(got, []byte{0xaa, 0x01, 0x11}) {
		t.Fatalf("append: %x", got)
	}
	// 0x80 in the top byte needs a sign byte: 9 bytes for the largest int64s.
	if got := AppendBIP34Height(nil, 1<<63-1<<56+0x80<<48); len(got) != 9 || got[0] != 8 {
		t.Fatalf("%x", got)
	}
}

func TestCoinbasePartsCheck(t *testing.T) {
	p2wpkh := append([]byte{0x00, 0x14}, make([]byte, 20)...)
	good := func() CoinbaseParts {
		return CoinbaseParts{Version: 2, ScriptSigPrefix: []byte{0x51, 0x08}, ExtranonceSize: 8, Sequence: 0xffffffff,
			Outputs: []TxOut{{Value: 5e9, Script: p2wpkh}}}
	}
	for _, c := range []struct {
		name string
		mod  func(*CoinbaseParts)
		ok   bool
	}{
		{"good", func(*CoinbaseParts) {}, true},
		{"scriptSig of 2 bytes", func(p *CoinbaseParts) { p.ScriptSigPrefix, p.ExtranonceSize = []byte{0x51}, 1 }, true},
		{"scriptSig of 1 byte", func(p *CoinbaseParts) { p.ScriptSigPrefix, p.ExtranonceSize = nil, 1 }, false},
		{"scriptSig of 100 bytes", func(p *CoinbaseParts) { p.ScriptSigPrefix = make([]byte, 92) }, true},
		{"scriptSig of 101 bytes", func(p *CoinbaseParts) { p.ScriptSigPrefix = make([]byte, 93) }, false},
		{"prefix of 255 bytes", func(p *CoinbaseParts) { p.ScriptSigPrefix = make([]byte, 255) }, false},
		{"extranonce 0", func(p *CoinbaseParts) { p.ExtranonceSize = 0 }, false},
		{"extranonce 32", func(p *CoinbaseParts) { p.ExtranonceSize = 32 }, true},
		{"extranonce 33", func(p *CoinbaseParts) { p.ExtranonceSize = 33 }, false},
		{"no outputs", func(p *CoinbaseParts) { p.Outputs = nil }, false},
		{"negative value", func(p *CoinbaseParts) { p.Outputs[0].Value = -1 }, false},
		{"MaxMoney", func(p *CoinbaseParts) { p.Outputs[0].Value = MaxMoney }, true},
		{"above MaxMoney", func(p *CoinbaseParts) { p.Outputs[0].Value = MaxMoney + 1 }, false},
		{"sum above MaxMoney", func(p *CoinbaseParts) {
			p.Outputs = append(p.Outputs, TxOut{Value: MaxMoney - 5e9 + 1, Script: p2wpkh})
		}, false},
		{"sum that would overflow int64", func(p *CoinbaseParts) {
			p.Outputs = []TxOut{{Value: 1<<63 - 1}, {Value: 1<<63 - 1}}
		}, false},
	} {
		p := good()
		c.mod(&p)
		err := p.Check()
		if (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
		if _, _, serr := p.Split(); (serr == nil) != c.ok {
			t.Errorf("%s: Split %v", c.name, serr)
		}
		if err != nil && !errors.Is(err, ErrInvalidCoinbase) {
			t.Errorf("%s: %v is not ErrInvalidCoinbase", c.name, err)
		}
	}
}

func TestParseOutputs(t *testing.T) {
	p2wpkh := "160014" + "1111111111111111111111111111111111111111"
	long := make([]byte, 300)
	for _, c := range []struct {
		name string
		hex  string
		want []TxOut
	}{
		{"none", "00", []TxOut{}},
		{"one", "01" + "00f2052a01000000" + p2wpkh, []TxOut{{5e9, mustHex(t, p2wpkh)[1:]}}},
		{"empty script", "01" + "0100000000000000" + "00", []TxOut{{1, []byte{}}}},
		{"two", "02" + "0000000000000000" + "00" + "ffffffffffffffff" + "0151", []TxOut{{0, []byte{}}, {-1, []byte{0x51}}}},
		{"script length 0xfd", "01" + "0000000000000000" + "fd2c01" + hex.EncodeToString(long), []TxOut{{0, long}}},
	} {
		got, err := ParseOutputs(mustHex(t, c.hex))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(got) != len(c.want) {
			t.Fatalf("%s: %d outputs", c.name, len(got))
		}
		for i := range got {
			if got[i].Value != c.want[i].Value || !bytes.Equal(got[i].Script, c.want[i].Script) {
				t.Fatalf("%s: output %d %+v", c.name, i, got[i])
			}
		}
		if enc := AppendOutputs(nil, got); hex.EncodeToString(enc) != c.hex {
			t.Fatalf("%s: re-encodes to %x", c.name, enc)
		}
	}
	for _, c := range []struct{ name, hex string }{
		{"empty", ""},
		{"count truncated", "fd01"},
		{"count non-canonical fd", "fd0100" + "0000000000000000" + "00"},
		{"count non-canonical fe", "fe01000000" + "0000000000000000" + "00"},
		{"count non-canonical ff", "ff0100000000000000" + "0000000000000000" + "00"},
		{"count beyond the bytes", "02" + "0000000000000000" + "00"},
		{"huge count", "ffffffffffffffffff"},
		{"value truncated", "01" + "00000000000000"},
		{"script length missing", "01" + "0000000000000000"},
		{"script length truncated", "01" + "0000000000000000" + "fd01"},
		{"script length non-canonical", "01" + "0000000000000000" + "fd0100" + "51"},
		{"script overruns", "01" + "0000000000000000" + "0251"},
		{"huge script length", "01" + "0000000000000000" + "ffffffffffffffffff"},
		{"trailing byte", "01" + "0000000000000000" + "0151" + "00"},
		{"value truncated in the second", "02" + "0000000000000000" + "00" + "000000000000000000"[:14]},
	} {
		if outs, err := ParseOutputs(mustHex(t, c.hex)); err == nil || !errors.Is(err, ErrBadOutputs) {
			t.Errorf("%s: %v, %v", c.name, outs, err)
		}
	}
	// The scripts do not alias the input.
	in := mustHex(t, "01"+"0000000000000000"+"0151")
	outs, err := ParseOutputs(in)
	if err != nil {
		t.Fatal(err)
	}
	in[10] = 0x52
	if outs[0].Script[0] != 0x51 {
		t.Fatal("script aliases the input")
	}
}

// FuzzParseOutputs: any accepted input is exactly what AppendOutputs writes
// for the decoded outputs (canonical, no trailing bytes), and decoding never
// panics or allocates beyond the input's size.
func FuzzParseOutputs(f *testing.F) {
	f.Add(mustHex(f, "0200f2052a01000000160014ebe1b7dcc293ccaa0ee743a86f89df8258c208fc0000000000000000266a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9"))
	f.Add([]byte{0})
	f.Add([]byte{0xfd, 0xfd, 0x00})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0xfd, 0xfc, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		outs, err := ParseOutputs(b)
		if err != nil {
			if !errors.Is(err, ErrBadOutputs) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(outs) > len(b)/minOutputSize {
			t.Fatalf("%d outputs from %d bytes", len(outs), len(b))
		}
		if enc := AppendOutputs(nil, outs); !bytes.Equal(enc, b) {
			t.Fatalf("round trip\n%x\n%x", enc, b)
		}
	})
}

// sriJobFactory is job-factory.json (SRI JobFactory tests).
type sriJobFactory struct {
	Vectors []struct {
		Test    string `json:"test"`
		PoolTag struct {
			PoolTag string `json:"pool_tag"`
		} `json:"job_factory"`
		Template struct {
			Version           uint32 `json:"version"`
			CoinbaseTxVersion uint32 `json:"coinbase_tx_version"`
			CoinbasePrefix    string `json:"coinbase_prefix"`
			Sequence          uint32 `json:"coinbase_tx_input_sequence"`
			ValueRemaining    int64  `json:"coinbase_tx_value_remaining"`
			OutputsCount      int    `json:"coinbase_tx_outputs_count"`
			Outputs           string `json:"coinbase_tx_outputs"`
			LockTime          uint32 `json:"coinbase_tx_locktime"`
		} `json:"template"`
		RewardOutputs []struct {
			ValueSat     int64  `json:"value_sat"`
			ScriptPubkey string `json:"script_pubkey"`
		} `json:"coinbase_reward_outputs"`
		Custom *struct {
			Version        uint32 `json:"version"`
			PrevHash       string `json:"prev_hash"`
			MinNTime       uint32 `json:"min_ntime"`
			NBits          uint32 `json:"nbits"`
			TxVersion      uint32 `json:"coinbase_tx_version"`
			CoinbasePrefix string `json:"coinbase_prefix"`
			Sequence       uint32 `json:"coinbase_tx_input_n_sequence"`
			Outputs        string `json:"coinbase_tx_outputs"`
			LockTime       uint32 `json:"coinbase_tx_locktime"`
		} `json:"derived_set_custom_mining_job"`
		Expected struct {
			Prefix  string `json:"coinbase_tx_prefix"`
			Suffix  string `json:"coinbase_tx_suffix"`
			Derived struct {
				PrefixWitness string `json:"coinbase_tx_prefix_with_bip141"`
				SuffixWitness string `json:"coinbase_tx_suffix_with_bip141"`
			} `json:"derived"`
		} `json:"expected_job"`
	} `json:"vectors"`
}

// TestNewJobSRIJobFactory builds SRI's pool job (template + reward outputs
// + pool tag) and its job from a SetCustomMiningJob (coinbase_prefix and the
// serialized output vector used verbatim) with NewJob and compares the
// coinbase split, witness form and value with the reference's.
func TestNewJobSRIJobFactory(t *testing.T) {
	raw := vectortest.ReadVector(t, "sri-channels/job-factory.json")
	var f sriJobFactory
	if err := json.Unmarshal(raw, &f); err != nil || len(f.Vectors) != 2 {
		t.Fatalf("%v, %d vectors", err, len(f.Vectors))
	}
	const enSize, height = 32, 2 // coinbase_prefix 5200: OP_2, then OP_0
	for _, v := range f.Vectors {
		t.Run(v.Test, func(t *testing.T) {
			spec := JobSpec{ID: 1, Height: height, Bits: 0x207fffff, Version: v.Template.Version, Created: time.Unix(1, 0)}
			if v.Custom == nil { // the pool's own job
				script := mustHex(t, v.Template.CoinbasePrefix)
				tag := "Sv2/" + v.PoolTag.PoolTag + "//"
				script = append(append(append(script, byte(len(tag))), tag...), enSize)
				var outs []TxOut
				for _, o := range v.RewardOutputs {
					outs = append(outs, TxOut{Value: o.ValueSat, Script: mustHex(t, o.ScriptPubkey)})
				}
				tplOuts, err := ParseOutputs(append(appendVarInt(nil, uint64(v.Template.OutputsCount)), mustHex(t, v.Template.Outputs)...))
				if err != nil {
					t.Fatal(err)
				}
				spec.Coinbase = CoinbaseParts{Version: v.Template.CoinbaseTxVersion, ScriptSigPrefix: script, ExtranonceSize: enSize,
					Sequence: v.Template.Sequence, Outputs: append(outs, tplOuts...), LockTime: v.Template.LockTime}
			} else {
				c := v.Custom
				outs, err := ParseOutputs(mustHex(t, c.Outputs))
				if err != nil {
					t.Fatal(err)
				}
				spec.Version, spec.PrevHash, spec.MinTime, spec.CurTime, spec.Bits = c.Version, mustHex32(t, c.PrevHash), c.MinNTime, c.MinNTime, c.NBits
				spec.Coinbase = CoinbaseParts{Version: c.TxVersion, ScriptSigPrefix: mustHex(t, c.CoinbasePrefix), ExtranonceSize: enSize,
					Sequence: c.Sequence, Outputs: outs, LockTime: c.LockTime}
				spec.Declared = true
			}
			j, err := NewJob(spec)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(j.CoinbasePrefix) != v.Expected.Prefix || hex.EncodeToString(j.CoinbaseSuffix) != v.Expected.Suffix {
				t.Fatalf("split\n%x\n%s\n%x\n%s", j.CoinbasePrefix, v.Expected.Prefix, j.CoinbaseSuffix, v.Expected.Suffix)
			}
			en := bytes.Repeat([]byte{0x5a}, enSize)
			want := v.Expected.Derived.PrefixWitness + hex.EncodeToString(en) + v.Expected.Derived.SuffixWitness
			if !j.Witness || hex.EncodeToString(witnessCoinbase(j.Coinbase(en))) != want {
				t.Fatal("witness coinbase differs")
			}
			if j.CoinbaseValue != v.Template.ValueRemaining || j.Declared != (v.Custom != nil) || j.TransactionsUnknown {
				t.Fatalf("value %d declared %v unknown %v", j.CoinbaseValue, j.Declared, j.TransactionsUnknown)
			}
		})
	}
}

// TestNewJobEqualsHandBuilt: NewJob from the parts of a test job yields the
// job the hand-built helper makes, field by field.
func TestNewJobEqualsHandBuilt(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 20 {
		tag := []byte("/adit/")
		outs := []txOut{{value: int64(r.IntN(5e9)), script: []byte{0x51}}, {value: 0, script: witnessCommitmentScript(randHash(r))}}
		if i%2 == 0 {
			outs = outs[:1]
		}
		height := int64(1 + r.IntN(1_000_000))
		var txs [][]byte
		var txids [][32]byte
		for range r.IntN(40) {
			tx := fakeTx(r)
			txs, txids = append(txs, tx), append(txids, DoubleSHA256(tx))
		}
		p, s := buildCoinbase(height, tag, 12, outs)
		want := &Job{ID: uint32(i), Height: height, PrevHash: randHash(r), Version: 0x20000000, Bits: 0x1703a30c,
			NetworkTarget: TargetFromCompact(0x1703a30c), MinTime: 100, CurTime: 200, CoinbasePrefix: p, CoinbaseSuffix: s,
			ExtranonceSize: 12, CoinbaseValue: outs[0].value, Witness: len(outs) == 2, MerkleBranch: MerkleBranch(txids),
			Transactions: txs, TxIDs: txids, Clean: i%3 == 0, Created: time.Unix(int64(i), 0)}
		got, err := NewJob(JobSpec{ID: want.ID, Height: height, PrevHash: want.PrevHash, Version: want.Version, Bits: want.Bits,
			MinTime: 100, CurTime: 200, Coinbase: partsFor(height, tag, 12, outs), Transactions: txs, TxIDs: txids,
			Clean: want.Clean, Created: want.Created})
		if err != nil {
			t.Fatal(err)
		}
		if !jobsEqual(got, want) {
			t.Fatalf("job %d:\n%+v\n%+v", i, got, want)
		}
	}
}

func jobsEqual(a, b *Job) bool {
	return a.ID == b.ID && a.Height == b.Height && a.PrevHash == b.PrevHash && a.Version == b.Version &&
		a.Bits == b.Bits && a.NetworkTarget == b.NetworkTarget && a.MinTime == b.MinTime && a.CurTime == b.CurTime &&
		bytes.Equal(a.CoinbasePrefix, b.CoinbasePrefix) && bytes.Equal(a.CoinbaseSuffix, b.CoinbaseSuffix) &&
		a.ExtranonceSize == b.ExtranonceSize && a.CoinbaseValue == b.CoinbaseValue && a.Witness == b.Witness &&
		slices.Equal(a.MerkleBranch, b.MerkleBranch) && slices.EqualFunc(a.Transactions, b.Transactions, bytes.Equal) &&
		slices.Equal(a.TxIDs, b.TxIDs) && a.TransactionsUnknown == b.TransactionsUnknown && a.Clean == b.Clean &&
		a.Declared == b.Declared && a.Created.Equal(b.Created)
}

func TestNewJobRejects(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	tx := fakeTx(r)
	txid := DoubleSHA256(tx)
	good := func() JobSpec {
		return JobSpec{ID: 1, Height: 840000, Bits: 0x1703a30c, Version: 0x20000000,
			Coinbase:     partsFor(840000, []byte{0x04, 't', 'a', 'g', '!', 0x08}, 8, []txOut{{value: 1, script: []byte{0x51}}}),
			Transactions: [][]byte{tx}, TxIDs: [][32]byte{txid}}
	}
	if _, err := NewJob(good()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		mod  func(*JobSpec)
	}{
		{"height 0", func(s *JobSpec) { s.Height = 0 }},
		{"height not in the scriptSig", func(s *JobSpec) { s.Height = 840001 }},
		{"no height push", func(s *JobSpec) { s.Coinbase.ScriptSigPrefix = []byte{0x04, 't', 'a', 'g', '!'} }},
		{"zero target", func(s *JobSpec) { s.Bits = 0 }},
		{"negative target", func(s *JobSpec) { s.Bits = 0x1d800001 }},
		{"txids without transactions", func(s *JobSpec) { s.Transactions = nil }},
		{"transactions without txids", func(s *JobSpec) { s.TxIDs = nil }},
		{"branch not the txids'", func(s *JobSpec) { s.MerkleBranch = [][32]byte{{1}} }},
		{"branch too long", func(s *JobSpec) {
			s.Transactions, s.TxIDs, s.MerkleBranch = nil, nil, make([][32]byte, MaxMerkleBranch+1)
		}},
		{"bad coinbase", func(s *JobSpec) { s.Coinbase.Outputs[0].Value = -1 }},
		{"extranonce too long", func(s *JobSpec) { s.Coinbase.ExtranonceSize = 33 }},
	} {
		s := good()
		c.mod(&s)
		j, err := NewJob(s)
		if err == nil {
			t.Errorf("%s: accepted %+v", c.name, j)
		} else if !errors.Is(err, ErrInvalidJob) && !errors.Is(err, ErrInvalidCoinbase) {
			t.Errorf("%s: untyped %v", c.name, err)
		}
	}
	// The branch may be given along with the txids when it is theirs.
	s := good()
	s.MerkleBranch = [][32]byte{txid}
	if _, err := NewJob(s); err != nil {
		t.Fatal(err)
	}
}

// TestNewJobUnknownTransactions: a declared job whose transactions the pool
// does not hold validates shares like any other, reports a block, and
// yields no block data.
func TestNewJobUnknownTransactions(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	branch := [][32]byte{randHash(r), randHash(r)}
	j, err := NewJob(JobSpec{ID: 5, Height: 100, Bits: 0x207fffff, Version: 0x20000000, MinTime: 1,
		Coinbase:     partsFor(100, []byte{0x08}, 8, []txOut{{value: 5e9, script: []byte{0x51}}}),
		MerkleBranch: branch, Declared: true})
	if err != nil {
		t.Fatal(err)
	}
	if !j.TransactionsUnknown || j.Transactions != nil || !j.Declared {
		t.Fatalf("%+v", j)
	}
	var h Header
	if j.Block(&h, make([]byte, 8)) != nil {
		t.Fatal("Block assembled a block without its transactions")
	}
	// Without a branch, the coinbase is the whole block: nothing is unknown.
	j2, err := NewJob(JobSpec{ID: 6, Height: 100, Bits: 0x207fffff, Coinbase: partsFor(100, []byte{0x08}, 8, []txOut{{value: 1, script: []byte{0x51}}})})
	if err != nil || j2.TransactionsUnknown {
		t.Fatalf("%v %+v", err, j2)
	}
	if got := len(j2.Block(&h, make([]byte, 8))); got != 80+1+len(j2.Coinbase(make([]byte, 8))) {
		t.Fatalf("empty block of %d bytes", got)
	}

	v := NewValidator(ValidatorConfig{Now: func() time.Time { return time.Unix(1_700_000_000, 0) }})
	s := v.NewSession([]byte{1, 2, 3, 4}, MaxTarget)
	s.AddPrivateJob(j)
	for nonce := uint32(0); ; nonce++ { // regtest target: about one hash in two is a block
		var res Result
		s.Validate(&Submission{JobID: 5, Extranonce: []byte{0, 0, 0, 1}, NTime: 1_700_000_000, Nonce: nonce}, &res)
		if !res.Accepted() {
			t.Fatal(res.Reason)
		}
		if res.Block {
			if res.BlockData != nil || res.Job != j {
				t.Fatal("block data for unknown transactions")
			}
			break
		}
	}
}
