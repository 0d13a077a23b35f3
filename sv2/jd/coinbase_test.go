package jd

import (
	"bytes"
	"errors"
	"testing"

	"github.com/adit-pool/adit/share"
)

func TestParseDeclaredCoinbase(t *testing.T) {
	for _, witness := range []bool{false, true} {
		s := defaultSpec(1000, 5000)
		s.witness = witness
		s.outs = append(s.outs, txOut{Value: 0, Script: []byte{0x6a}})
		p, x := s.build()
		c, err := ParseDeclaredCoinbase(p, x)
		if err != nil {
			t.Fatalf("witness %v: %v", witness, err)
		}
		if c.Height != 1000 || c.Value != 5000 || c.ExtranonceSize != 16 || c.Witness != witness ||
			c.Version != 2 || c.Sequence != 0xffffffff || len(c.Outs) != 2 || len(c.ScriptSig) != 3+5+16 {
			t.Fatalf("parsed %+v", c)
		}
		if !bytes.Equal(c.Outputs, appendOutputs(nil, s.outs)) {
			t.Fatalf("outputs %x", c.Outputs)
		}
		en := bytes.Repeat([]byte{7}, 16)
		full := c.FullCoinbase(en)
		tx, err := parseTx(full)
		if err != nil {
			t.Fatal(err)
		}
		if !tx.Coinbase || tx.TxID != c.TxID(en) || tx.Witness != witness || tx.Weight() != c.Weight() {
			t.Fatalf("coinbase tx %+v vs txid %x weight %d", tx, c.TxID(en), c.Weight())
		}
		if st, _ := parseTx(c.StrippedCoinbase(en)); st == nil || st.TxID != tx.TxID || st.Witness {
			t.Fatal("stripped coinbase differs")
		}
	}
}

func TestBIP34Heights(t *testing.T) {
	for _, h := range []int64{0, 1, 16, 17, 127, 128, 255, 256, 32767, 32768, 8388607, 8388608, 1 << 30} {
		got, err := bip34Height(append(share.AppendBIP34Height(nil, h), 0xaa, 0xbb))
		if err != nil || got != h {
			t.Errorf("height %d: got %d, %v", h, got, err)
		}
	}
	for _, bad := range [][]byte{
		{0x01, 0x05},       // 5 must be OP_5
		{0x02, 0x11, 0x00}, // 17 padded
		{0x01, 0x81},       // negative
		{0x03, 0x01},       // push not wholly present
		{0x4c, 0x01, 0x01}, // PUSHDATA1
		{},
	} {
		if h, err := bip34Height(bad); err == nil {
			t.Errorf("%x: height %d accepted", bad, h)
		}
	}
}

func TestParseDeclaredCoinbaseRefusals(t *testing.T) {
	good := defaultSpec(1000, 5000)
	gp, gs := good.build()
	mod := func(f func(*cbSpec)) ([]byte, []byte) {
		s := defaultSpec(1000, 5000)
		f(&s)
		return s.build()
	}
	longP, longS := mod(func(s *cbSpec) { s.tag = bytes.Repeat([]byte{1}, 90) })
	twoIn := append([]byte(nil), gp...)
	twoIn[6] = 2
	zeroIn := append(append([]byte(nil), gp[:4]...), 0x00, 0x00)
	notCb := append([]byte(nil), gp...)
	notCb[7] = 1
	bigEn, bigEnS := mod(func(s *cbSpec) { s.extranonce = 33 })
	past := append(append([]byte(nil), gp...), make([]byte, 17)...) // prefix runs past the scriptSig
	noOut, noOutS := mod(func(s *cbSpec) { s.outs = nil })
	tooMuch, tooMuchS := mod(func(s *cbSpec) { s.outs = []txOut{{MaxMoney, poolScript}, {1, poolScript}} })
	for _, c := range []struct {
		name           string
		prefix, suffix []byte
		code           string
	}{
		{"empty", nil, nil, CodeInvalidCoinbaseTx},
		{"three-byte prefix", []byte{1, 2, 3}, gs, CodeInvalidCoinbaseTx}, // regression, as in parseTx
		{"short prefix", gp[:20], gs, CodeInvalidCoinbaseTx},
		{"prefix ends in outpoint", gp[:42], gs, CodeInvalidCoinbaseTx},
		{"two inputs", twoIn, gs, CodeInvalidCoinbaseTxInput},
		{"zero inputs", zeroIn, gs, CodeInvalidCoinbaseTxInput},
		{"not a coinbase", notCb, gs, CodeInvalidCoinbaseTx},
		{"scriptSig over 100", longP, longS, CodeInvalidJob},
		{"extranonce over 32", bigEn, bigEnS, CodeInvalidCoinbaseTx},
		{"prefix past scriptSig", past, gs, CodeInvalidCoinbaseTx},
		{"trailing suffix byte", gp, append(append([]byte(nil), gs...), 0), CodeInvalidCoinbaseTx},
		{"short suffix", gp, gs[:len(gs)-1], CodeInvalidCoinbaseTx},
		{"no outputs", noOut, noOutS, CodeInvalidCoinbaseTx},
		{"value over 21M", tooMuch, tooMuchS, CodeInvalidCoinbaseTx},
		{"output count past end", gp, []byte{0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0x7f}, CodeInvalidCoinbaseTx},
	} {
		_, err := ParseDeclaredCoinbase(c.prefix, c.suffix)
		var ce *CoinbaseError
		if !errors.As(err, &ce) || ce.Code != c.code {
			t.Errorf("%s: err %v, want code %s", c.name, err, c.code)
		}
	}
}

func TestParseTxRefusals(t *testing.T) {
	good := makeTx(1, true)
	if tx, err := parseTx(good); err != nil || !tx.Witness || tx.Coinbase || tx.TxID == tx.WTxID {
		t.Fatalf("%+v %v", tx, err)
	}
	emptyWitness := makeTx(1, false)
	emptyWitness = append(append(append([]byte(nil), emptyWitness[:4]...), 0, 1), emptyWitness[4:len(emptyWitness)-4]...)
	emptyWitness = append(emptyWitness, 0, 0, 0, 0, 0)
	nonCanonical := append(append([]byte(nil), good[:6]...), 0xfd, 0x01, 0x00)
	nonCanonical = append(nonCanonical, good[7:]...)
	for name, b := range map[string][]byte{
		"trailing":      append(append([]byte(nil), good...), 0),
		"truncated":     good[:len(good)-1],
		"empty witness": emptyWitness,
		"non-canonical": nonCanonical,
		"bad flag":      append(append(append([]byte(nil), good[:5]...), 2), good[6:]...),
		"nothing":       nil,
	} {
		if _, err := parseTx(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCheckPayout(t *testing.T) {
	other := []byte{0x51}
	for _, c := range []struct {
		outs []txOut
		ok   bool
	}{
		{[]txOut{{100, poolScript}}, true},
		{[]txOut{{0, other}, {60, poolScript}, {40, poolScript}}, true},
		{[]txOut{{100, poolScript}, {1, other}}, false},
		{[]txOut{{0, poolScript}, {0, other}}, false},
		{[]txOut{{99, poolScript}}, false}, // below the subsidy
	} {
		if got := checkPayout(c.outs, poolScript, 100); (got == "") != c.ok {
			t.Errorf("%+v: %q", c.outs, got)
		}
	}
}
