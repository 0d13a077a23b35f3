package jd

import (
	"errors"
	"testing"

	"go.uber.org/zap"

	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/noise"
)

// noKeys is a KeySource for tests that never handshake.
type noKeys struct{}

func (noKeys) CertifiedKey() (*noise.CertifiedKey, error) { return nil, errors.New("no key") }

// FuzzParseDeclaredCoinbase: any prefix and suffix either parse into a
// coinbase that round-trips through the transaction parser, or fail with a
// *CoinbaseError; never a panic.
func FuzzParseDeclaredCoinbase(f *testing.F) {
	for _, w := range []bool{false, true} {
		s := defaultSpec(testHeight, 5000)
		s.witness = w
		p, x := s.build()
		f.Add(p, x)
	}
	f.Add([]byte{1, 2, 3}, []byte{})
	f.Add([]byte{1, 0, 0, 0, 0}, []byte{0})
	f.Fuzz(func(t *testing.T, prefix, suffix []byte) {
		c, err := ParseDeclaredCoinbase(prefix, suffix)
		if err != nil {
			var ce *CoinbaseError
			if !errors.As(err, &ce) || ce.Code == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		en := make([]byte, c.ExtranonceSize)
		tx, err := parseTx(c.FullCoinbase(en))
		if err != nil {
			// The coinbase parser is stricter in shape (one input), never
			// laxer: what it accepts is a transaction.
			t.Fatalf("accepted coinbase does not parse as a transaction: %v", err)
		}
		if !tx.Coinbase || tx.TxID != c.TxID(en) || tx.Weight() != c.Weight() {
			t.Fatalf("coinbase %+v vs parsed %+v", c, tx)
		}
	})
}

// FuzzDeclareMiningJob decodes a DeclareMiningJob payload and runs the
// declaration checks against the fake node, as a connection does.
func FuzzDeclareMiningJob(f *testing.F) {
	t1 := makeTx(1, true)
	good := job(1, make([]byte, TokenSize), testSubsidy+100, t1)
	b, err := codec.Marshal(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:40])
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := codec.Decode(codec.Core(codec.TypeDeclareMiningJob), payload)
		if err != nil {
			return
		}
		node := newFakeNode()
		node.addMempool(t1, 100)
		srv, err := NewServer(Config{MaxWtxids: 64}, Deps{Node: node, Keys: noKeys{}, PoolScript: poolScript})
		if err != nil {
			t.Fatal(err)
		}
		c := &conn{srv: srv, log: zap.NewNop()}
		p := &declaration{m: m.(*codec.DeclareMiningJob)}
		if r := c.check(p); r != nil {
			if r.code == "" || r.details == "" {
				t.Fatalf("reject without code or details: %+v", r)
			}
			return
		}
		for _, tx := range p.txs {
			if tx == nil {
				return // would ask for it
			}
		}
		// All known: the local block checks and the block build.
		if why := checkWitnessCommitment(p.cb, p.txs); why == "" {
			d := &Declaration{Coinbase: p.cb, Bits: easyBits}
			if _, _, err := d.Block(0, 0, 0, make([]byte, p.cb.ExtranonceSize)); err != nil {
				t.Fatal(err)
			}
		}
	})
}
