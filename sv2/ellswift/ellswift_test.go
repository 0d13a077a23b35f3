package ellswift

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	btcellswift "github.com/btcsuite/btcd/btcec/v2/ellswift"

	"github.com/adit-pool/adit/share/vectortest"
)

func feHex(t testing.TB, s string) fe {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad field element %q", s)
	}
	var f fe
	f.SetByteSlice(b)
	f.Normalize()
	return f
}

func hexFE(f *fe) string {
	var c fe
	c.Set(f).Normalize()
	return hex.EncodeToString(c.Bytes()[:])
}

func onCurve(t testing.TB, x, y *fe) {
	t.Helper()
	var l, r fe
	l.SquareVal(y).Normalize()
	r.SquareVal(x).Mul(x).AddInt(7).Normalize()
	if !l.Equals(&r) {
		t.Fatalf("(%s, %s) is not on the curve", hexFE(x), hexFE(y))
	}
}

var pBig, _ = new(big.Int).SetString("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f", 16)

func TestConstants(t *testing.T) {
	var sq, m3 fe
	sq.SquareVal(&c0).Normalize()
	m3.SetInt(3).Negate(1).Normalize()
	if !sq.Equals(&m3) {
		t.Fatal("c0² != -3")
	}
	var two fe
	two.SetInt(2)
	if two.Mul(&half).Normalize(); !two.IsOne() {
		t.Fatal("2·half != 1")
	}
	// c1 = (c0-1)/2, c2 = (-c0-1)/2
	var x fe
	x.SetInt(1).Negate(1).Add(&c0).Mul(&half).Normalize()
	if !x.Equals(&c1) {
		t.Fatal("c1")
	}
	var y fe
	y.Set(&c0).AddInt(1).Normalize().Negate(1).Mul(&half).Normalize()
	if !y.Equals(&c2) {
		t.Fatal("c2")
	}
}

// powPm3d4 against math/big.
func TestPowPm3d4(t *testing.T) {
	e := new(big.Int).Sub(pBig, big.NewInt(3))
	e.Rsh(e, 2)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		var b [32]byte
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if i < 3 {
			b = [32]byte{31: byte(i)}
		}
		var a, z fe
		a.SetByteSlice(b[:])
		a.Normalize()
		powPm3d4(&z, &a)
		want := new(big.Int).Exp(new(big.Int).SetBytes(a.Bytes()[:]), e, pBig)
		if got := hexFE(&z); got != hex.EncodeToString(want.FillBytes(make([]byte, 32))) {
			t.Fatalf("a=%x: got %s want %x", b, got, want)
		}
		_, chi := character(&a)
		if want := big.Jacobi(new(big.Int).SetBytes(a.Bytes()[:]), pBig); chi != want {
			t.Fatalf("character(%x) = %d, want %d", b, chi, want)
		}
	}
}

func TestDecodeVectors(t *testing.T) {
	rows := vectortest.ReadVectorCSV(t, "bip324/ellswift_decode_test_vectors.csv")
	if len(rows) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range rows {
		b, _ := hex.DecodeString(v["ellswift"])
		var enc [Size]byte
		copy(enc[:], b)
		x, y, err := DecodeBytes(&enc)
		if err != nil || hexFE(&x) != v["x"] {
			t.Errorf("%s (%s): x = %s (%v), want %s", v["ellswift"], v["comment"], hexFE(&x), err, v["x"])
			continue
		}
		onCurve(t, &x, &y)
	}
	t.Logf("%d decode vectors", len(rows))
}

func TestXSwiftECInvVectors(t *testing.T) {
	rows := vectortest.ReadVectorCSV(t, "bip324/xswiftec_inv_test_vectors.csv")
	if len(rows) == 0 {
		t.Fatal("no vectors")
	}
	n := 0
	for _, v := range rows {
		u, x := feHex(t, v["u"]), feHex(t, v["x"])
		for c := range 8 {
			want := v["case"+string(rune('0'+c))+"_t"]
			got, ok := XSwiftECInv(&u, &x, c)
			switch {
			case want == "" && ok:
				t.Errorf("u=%s x=%s case %d: got t=%s, want none (%s)", v["u"], v["x"], c, hexFE(&got), v["comment"])
			case want != "" && !ok:
				t.Errorf("u=%s x=%s case %d: got none, want %s (%s)", v["u"], v["x"], c, want, v["comment"])
			case want != "" && hexFE(&got) != want:
				t.Errorf("u=%s x=%s case %d: got %s, want %s (%s)", v["u"], v["x"], c, hexFE(&got), want, v["comment"])
			case want != "":
				// The encoding decodes back to x.
				dx, dy, err := Decode(&u, &got)
				if err != nil || !dx.Equals(&x) {
					t.Errorf("u=%s case %d: t decodes to %s, want %s", v["u"], c, hexFE(&dx), v["x"])
				}
				onCurve(t, &dx, &dy)
			}
			n++
		}
	}
	t.Logf("%d (u, x, case) checks", n)
}

func randFE(r *rand.Rand) fe {
	var b [32]byte
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	var f fe
	f.SetByteSlice(b[:])
	f.Normalize()
	return f
}

// Differential: decoding agrees with btcsuite's XSwiftEC on random inputs,
// including the special values 0 and p-ish.
func TestDecodeMatchesBtcsuite(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		u, tt := randFE(r), randFE(r)
		switch i % 10 {
		case 0:
			u.SetInt(0)
		case 1:
			tt.SetInt(0)
		}
		x, y, err := Decode(&u, &tt)
		if err != nil {
			t.Fatal(err)
		}
		onCurve(t, &x, &y)
		u2, t2 := u, tt
		want, err := btcellswift.XSwiftEC(&u2, &t2)
		if err != nil {
			t.Fatal(err)
		}
		if !x.Equals(want) {
			t.Fatalf("u=%s t=%s: %s, btcsuite %s", hexFE(&u), hexFE(&tt), hexFE(&x), hexFE(want))
		}
	}
}

// Differential: XSwiftECInv agrees with btcsuite's on random valid x, u and
// every case.
func TestXSwiftECInvMatchesBtcsuite(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	found := 0
	for range 300 {
		var k btcec.ModNScalar
		b := randFE(r)
		k.SetBytes(b.Bytes())
		var p btcec.JacobianPoint
		btcec.ScalarBaseMultNonConst(&k, &p)
		p.ToAffine()
		x := p.X
		u := randFE(r)
		for c := range 8 {
			got, ok := XSwiftECInv(&u, &x, c)
			u2, x2 := u, x
			want := btcellswift.XSwiftECInv(&u2, &x2, c)
			if ok != (want != nil) || ok && !got.Equals(want) {
				t.Fatalf("u=%s x=%s case %d: got %s/%v, btcsuite %v", hexFE(&u), hexFE(&x), c, hexFE(&got), ok, want)
			}
			if ok {
				found++
			}
		}
	}
	t.Logf("%d encodings found in %d tries", found, 300*8)
}

// Property: Encode's output decodes to the same x for random keys, and the
// encodings are distinct.
func TestEncodeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	rng := rand.NewChaCha8([32]byte{9})
	seen := map[[Size]byte]bool{}
	for range 1000 {
		var k btcec.ModNScalar
		b := randFE(r)
		if k.SetBytes(b.Bytes()); k.IsZero() {
			continue
		}
		var p btcec.JacobianPoint
		btcec.ScalarBaseMultNonConst(&k, &p)
		p.ToAffine()
		var enc [Size]byte
		if err := Encode(rng, &p.X, &enc); err != nil {
			t.Fatal(err)
		}
		x, y, err := DecodeBytes(&enc)
		if err != nil || !x.Equals(&p.X) {
			t.Fatalf("encoding %x decodes to %s, want %s", enc, hexFE(&x), hexFE(&p.X))
		}
		if !y.Equals(&p.Y) {
			var ny fe
			ny.NegateVal(&p.Y, 1).Normalize()
			if !y.Equals(&ny) {
				t.Fatal("decoded y is neither root")
			}
		}
		// btcsuite agrees.
		var u, tt fe
		u.SetByteSlice(enc[:32])
		tt.SetByteSlice(enc[32:])
		if bx, err := btcellswift.XSwiftEC(&u, &tt); err != nil || !bx.Equals(&p.X) {
			t.Fatal("btcsuite decodes the encoding elsewhere")
		}
		if seen[enc] {
			t.Fatal("repeated encoding")
		}
		seen[enc] = true
	}
}

func TestEncodeRandomnessErrors(t *testing.T) {
	var p btcec.JacobianPoint
	var k btcec.ModNScalar
	k.SetInt(1)
	btcec.ScalarBaseMultNonConst(&k, &p)
	p.ToAffine()
	var enc [Size]byte
	if err := Encode(bytes.NewReader(make([]byte, 10)), &p.X, &enc); !errors.Is(err, ErrRandomness) {
		t.Fatalf("short read: %v", err)
	}
	// All-zero randomness: u = 0 every time, never accepted.
	if err := Encode(bytes.NewReader(make([]byte, 33*MaxAttempts)), &p.X, &enc); !errors.Is(err, ErrRandomness) {
		t.Fatalf("zero randomness: %v", err)
	}
}

func BenchmarkEncode(b *testing.B) {
	var k btcec.ModNScalar
	k.SetInt(12345)
	var p btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&k, &p)
	p.ToAffine()
	rng := rand.NewChaCha8([32]byte{1})
	var enc [Size]byte
	b.ReportAllocs()
	for b.Loop() {
		if err := Encode(rng, &p.X, &enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeBtcsuite(b *testing.B) {
	var k btcec.ModNScalar
	k.SetInt(12345)
	var p btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&k, &p)
	p.ToAffine()
	rng := rand.NewChaCha8([32]byte{1})
	var buf [33]byte
	b.ReportAllocs()
	for b.Loop() {
		for {
			rng.Read(buf[:])
			var u fe
			u.SetByteSlice(buf[:32])
			u.Normalize()
			x := p.X
			if btcellswift.XSwiftECInv(&u, &x, int(buf[32]&7)) != nil {
				break
			}
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	enc := [Size]byte{1, 2, 3, 40: 5}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeBytes(&enc); err != nil {
			b.Fatal(err)
		}
	}
}
