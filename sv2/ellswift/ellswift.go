// Package ellswift implements BIP324 ElligatorSwift encoding and decoding of
// secp256k1 x-coordinates on btcec's field arithmetic (secp256k1.FieldVal).
//
// It exists for speed: btcsuite's ellswift package performs several field
// inversions and square roots per call (one inversion of the constant 2 on
// every encoding attempt). Here every inversion is folded into the single
// exponentiation that each step needs anyway:
//
//   - a^((p-3)/4) yields the quadratic character of a (z²a = ±1), √a = a·z
//     and, when a is a square, 1/a = z²;
//   - √(a/b) = a·b·(a·b³)^((p-3)/4) (p ≡ 3 mod 4), so a square root of a
//     fraction costs no inversion.
//
// Decoding works on fractions (as libsecp256k1 does) and returns the affine
// point (x, y) with one exponentiation per candidate tried; encoding
// (XSwiftECInv) costs at most two exponentiations per attempt. (math/big's
// Jacobi symbol was tried for the rejection tests and is slower than an
// exponentiation here, and allocates.)
//
// The algorithms are those of BIP324's reference code; the results are
// identical, bit for bit, which the BIP324 vectors and differential tests
// against btcsuite's implementation check.
package ellswift

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Size is the size of an encoding: u ‖ t, 32 bytes each, big endian.
const Size = 64

type fe = btcec.FieldVal

var (
	// c0 = √-3, the root BIP324's reference code uses.
	c0 = mustFE("0a2d2ba93507f1df233770c2a797962cc61f6d15da14ecd47d8d27ae1cd5f852")
	// c1 = (c0-1)/2 and c2 = (-c0-1)/2 (the decoder's constants, as in
	// libsecp256k1); the encoder uses (1-c0)/2 = -c1 and (1+c0)/2 = -c2.
	c1 = mustFE("851695d49a83f8ef919bb86153cbcb16630fb68aed0a766a3ec693d68e6afa40")
	c2 = mustFE("7ae96a2b657c07106e64479eac3434e99cf0497512f58995c1396c28719501ee")
	// encK0 = (1-c0)/2 = -c1, encK1 = (1+c0)/2 = -c2.
	encK0, encK1 fe
	// half = 1/2 mod p = (p+1)/2.
	half = mustFE("7fffffffffffffffffffffffffffffffffffffffffffffffffffffff7ffffe18")
)

func init() {
	encK0.NegateVal(&c1, 1).Normalize()
	encK1.NegateVal(&c2, 1).Normalize()
}

func mustFE(s string) fe {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		panic("ellswift: bad constant " + s)
	}
	var f fe
	if f.SetByteSlice(b) {
		panic("ellswift: constant not reduced " + s)
	}
	return f
}

// powPm3d4 sets out = a^((p-3)/4), with (p-3)/4 = 2^254 - 2^30 - 245. The
// addition chain is libsecp256k1's (and decred's) square-root chain up to
// its last block, then ends in the bits 1011 instead of 1100. a must have a
// magnitude of at most 8; out has magnitude 1 and is not normalized.
func powPm3d4(out, val *fe) {
	var a, a2, a3, a6, a9, a11, a22, a44, a88, a176, a220, a223 fe
	a.Set(val)
	a2.SquareVal(&a).Mul(&a)            // 2^2 - 1
	a3.SquareVal(&a2).Mul(&a)           // 2^3 - 1
	sqrN(a6.Set(&a3), 3).Mul(&a3)       // 2^6 - 1
	sqrN(a9.Set(&a6), 3).Mul(&a3)       // 2^9 - 1
	sqrN(a11.Set(&a9), 2).Mul(&a2)      // 2^11 - 1
	sqrN(a22.Set(&a11), 11).Mul(&a11)   // 2^22 - 1
	sqrN(a44.Set(&a22), 22).Mul(&a22)   // 2^44 - 1
	sqrN(a88.Set(&a44), 44).Mul(&a44)   // 2^88 - 1
	sqrN(a176.Set(&a88), 88).Mul(&a88)  // 2^176 - 1
	sqrN(a220.Set(&a176), 44).Mul(&a44) // 2^220 - 1
	sqrN(a223.Set(&a220), 3).Mul(&a3)   // 2^223 - 1
	sqrN(out.Set(&a223), 23).Mul(&a22)  // 2^246 - 2^22 - 1
	sqrN(out, 5).Mul(&a)                // 2^251 - 2^27 - 2^5 + 1
	sqrN(out, 3).Mul(&a2)               // 2^254 - 2^30 - 2^8 + 11 (a2 = a^3)
}

func sqrN(f *fe, n int) *fe {
	for range n {
		f.Square()
	}
	return f
}

// character returns z = a^((p-3)/4) and the quadratic character of a: 1 for
// a non-zero square, -1 for a non-square, 0 for zero. When it is 1,
// √a = a·z and 1/a = z².
func character(a *fe) (z fe, chi int) {
	powPm3d4(&z, a)
	var c fe
	c.SquareVal(&z).Mul(a).Normalize() // a^((p-1)/2)
	switch {
	case c.IsOne():
		return z, 1
	case c.IsZero():
		return z, 0
	default:
		return z, -1
	}
}

// isSquareCurveX reports whether x³+7 is a square (x is a valid
// x-coordinate). x must have a magnitude of at most 8.
func isSquareCurveX(x *fe) bool {
	var g fe
	g.SquareVal(x).Mul(x).AddInt(7)
	_, chi := character(&g)
	return chi >= 0
}

// XSwiftECInv is BIP324's xswiftec_inv(x, u, case): it returns t such that
// (u, t) decodes to x under the given case (0..7), or ok = false when there
// is none. x must be a valid x-coordinate; u and x are not modified. The
// returned t is normalized.
func XSwiftECInv(u, x *fe, c int) (t fe, ok bool) {
	var uu, xx fe
	uu.Set(u).Normalize()
	xx.Set(x).Normalize()

	var v, w fe // v and w = √s, both magnitude ≤ 2
	if c&2 == 0 {
		// Fail if -x-u is a valid x: the decoder would pick x3 instead.
		var m fe
		m.Add2(&xx, &uu).Negate(2).Normalize()
		if isSquareCurveX(&m) {
			return t, false
		}
		// s = -(u³+7)/(u²+ux+x²) = a/b with a = -(u³+7), b = u²+ux+x²;
		// w = √s = a·b·(a·b³)^((p-3)/4), valid iff w²·b = a.
		var u2, a, b, ab, q, z fe
		u2.SquareVal(&uu)
		a.Mul2(&u2, &uu).AddInt(7).Normalize().Negate(1).Normalize()
		b.Mul2(&uu, &xx).Add(&u2)
		var x2 fe
		x2.SquareVal(&xx)
		b.Add(&x2).Normalize()
		ab.Mul2(&a, &b)
		q.SquareVal(&b).Mul(&ab) // a·b³
		powPm3d4(&z, &q)
		w.Mul2(&ab, &z).Normalize()
		var chk fe
		chk.SquareVal(&w).Mul(&b).Normalize()
		if !chk.Equals(&a) { // s is not a square (s ≠ 0: see BIP324)
			return t, false
		}
		v.Set(&xx)
	} else {
		// s = x-u; fail if s = 0 or s is not a square.
		var s, negU fe
		negU.NegateVal(&uu, 1)
		s.Add2(&xx, &negU).Normalize()
		if s.IsZero() {
			return t, false
		}
		// One exponentiation: s's character, √s and 1/s.
		z, chi := character(&s)
		if chi != 1 {
			return t, false
		}
		w.Mul2(&s, &z).Normalize() // √s
		var sInv fe
		sInv.SquareVal(&z) // 1/s
		// r = √(-s·(4(u³+7) + 3u²s)); fail if there is none.
		var u2, g, q, r fe
		u2.SquareVal(&uu)
		g.Mul2(&u2, &uu).AddInt(7).Normalize().MulInt(4) // magnitude 4
		q.Mul2(&u2, &s).MulInt(3).Add(&g).Normalize()
		q.Mul(&s).Negate(1).Normalize()
		if !r.SquareRootVal(&q) {
			return t, false
		}
		r.Normalize()
		if c&1 == 1 && r.IsZero() {
			return t, false
		}
		// v = (r/s - u)/2
		v.Mul2(&r, &sInv).Add(&negU).Normalize()
		v.Mul(&half).Normalize()
	}
	// t = ±w·(u·k + v), k = (1-c0)/2 for even cases, (1+c0)/2 for odd ones;
	// negated when case & 5 is 0 or 5.
	k := &encK0
	if c&1 == 1 {
		k = &encK1
	}
	var inner fe
	inner.Mul2(&uu, k).Add(&v).Normalize()
	t.Mul2(&w, &inner).Normalize()
	if c&5 == 0 || c&5 == 5 {
		t.Negate(1).Normalize()
	}
	return t, true
}

// ErrNoPoint is returned by Decode only if the field arithmetic is broken:
// BIP324 guarantees that every (u, t) decodes.
var ErrNoPoint = errors.New("ellswift: no valid x-coordinate (impossible)")

// Decode is BIP324's xswiftec(u, t), extended to lift the result: it returns
// the affine point (x, y) with the decoded x-coordinate and one of its two
// y-coordinates, both normalized. u and t may be any field values (0 and
// values not normalized are fine); they are not modified.
func Decode(u, t *fe) (x, y fe, err error) {
	var u1, s, g, p, l, d, n fe
	u1.Set(u).Normalize()
	if u1.IsZero() {
		u1.SetInt(1)
	}
	var tt fe
	tt.Set(t).Normalize()
	if tt.IsZero() {
		s.SetInt(1)
	} else {
		s.SquareVal(&tt)
	}
	l.SquareVal(&u1)           // u²
	g.Mul2(&l, &u1).AddInt(7)  // u³+7
	p.Add2(&g, &s).Normalize() // g+s
	if p.IsZero() {
		s.MulInt(4)
		p.Add2(&g, &s).Normalize()
	}
	// x3 = (3su³ - (g+s)²) / (3su²)
	d.Mul2(&s, &l).MulInt(3)
	var p2 fe
	p2.SquareVal(&p).Negate(1)
	n.Mul2(&d, &u1).Add(&p2)
	if x, y, ok := liftFrac(&n, &d); ok {
		return x, y, nil
	}
	// x2 = u(c1·s + c2·g) / (g+s)
	var cs, cg fe
	cs.Mul2(&c1, &s)
	cg.Mul2(&c2, &g)
	n.Add2(&cs, &cg).Mul(&u1).Normalize()
	if x, y, ok := liftFrac(&n, &p); ok {
		return x, y, nil
	}
	// x1 = -(x2 + u) = -(n + u(g+s)) / (g+s)
	l.Mul2(&u1, &p)
	n.Add(&l).Negate(2).Normalize()
	if x, y, ok := liftFrac(&n, &p); ok {
		return x, y, nil
	}
	return x, y, ErrNoPoint
}

// liftFrac returns the affine point with x = n/d and a y-coordinate if
// n/d is a valid x-coordinate, with one exponentiation and no inversion:
// with a = n³+7d³ and r = a·d (a square iff x³+7 = a/d³ is), z = r^((p-3)/4)
// gives 1/d = a·z² and y = √r/d² = r·z/d². d must be non-zero.
func liftFrac(n, d *fe) (x, y fe, ok bool) {
	var n2, d2, a, t, r fe
	n2.SquareVal(n)
	d2.SquareVal(d)
	a.Mul2(&n2, n)           // n³
	t.Mul2(&d2, d).MulInt(7) // 7d³
	a.Add(&t).Normalize()    // n³+7d³
	r.Mul2(&a, d)
	z, chi := character(&r)
	if chi != 1 {
		return x, y, false
	}
	var z2, dInv fe
	z2.SquareVal(&z)
	dInv.Mul2(&a, &z2)
	x.Mul2(n, &dInv).Normalize()
	var dInv2 fe
	dInv2.SquareVal(&dInv)
	y.Mul2(&r, &z).Mul(&dInv2).Normalize()
	return x, y, true
}

// DecodeBytes decodes a 64-byte encoding. Values of u or t at or above p
// are reduced, as BIP324 specifies.
func DecodeBytes(enc *[Size]byte) (x, y fe, err error) {
	var u, t fe
	u.SetByteSlice(enc[:32])
	t.SetByteSlice(enc[32:])
	u.Normalize()
	t.Normalize()
	return Decode(&u, &t)
}

// MaxAttempts bounds Encode's rejection sampling. An attempt succeeds with
// probability about 1/4, so reaching the bound means the randomness source
// is broken.
const MaxAttempts = 256

// ErrRandomness wraps failures of Encode's randomness source.
var ErrRandomness = errors.New("ellswift: randomness source")

// Encode writes a uniformly random encoding of the valid x-coordinate x to
// out, drawing randomness from rng as BIP324's xelligatorswift does: for
// each attempt 33 bytes, u from the first 32 (reduced mod p; 0 is redrawn)
// and the case from the low 3 bits of the last.
func Encode(rng io.Reader, x *fe, out *[Size]byte) error {
	var buf [33]byte
	for range MaxAttempts {
		if _, err := io.ReadFull(rng, buf[:]); err != nil {
			return fmt.Errorf("%w: %v", ErrRandomness, err)
		}
		var u fe
		u.SetByteSlice(buf[:32])
		u.Normalize() // reduces a value ≥ p
		if u.IsZero() {
			continue
		}
		t, ok := XSwiftECInv(&u, x, int(buf[32]&7))
		if !ok {
			continue
		}
		u.PutBytesUnchecked(out[:32])
		t.PutBytesUnchecked(out[32:])
		return nil
	}
	return fmt.Errorf("%w: produced no encoding in %d attempts", ErrRandomness, MaxAttempts)
}
