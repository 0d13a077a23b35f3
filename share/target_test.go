package share

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func bigHex(t *testing.T, s string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		t.Fatalf("bad hex %q", s)
	}
	return n
}

func TestTargetFromDifficulty(t *testing.T) {
	diff1Hex := "00000000ffff0000000000000000000000000000000000000000000000000000"
	if got := TargetFromDifficulty(1).Big(); got.Cmp(bigHex(t, diff1Hex)) != 0 {
		t.Fatalf("difficulty 1: got %x", got)
	}
	if got, want := TargetFromDifficulty(2).Big(), new(big.Int).Rsh(bigHex(t, diff1Hex), 1); got.Cmp(want) != 0 {
		t.Fatalf("difficulty 2: got %x want %x", got, want)
	}
	if got, want := TargetFromDifficulty(65536).Big(), new(big.Int).Rsh(bigHex(t, diff1Hex), 16); got.Cmp(want) != 0 {
		t.Fatalf("difficulty 65536: got %x want %x", got, want)
	}

	for _, d := range []float64{1e-4, 1e-6, 0.5, 3.3, 1e-4 * 3, 12345.678, 1e12, 1e15} {
		tgt := TargetFromDifficulty(d)
		// exact quotient diff1 / d with d's exact binary value
		q := new(big.Rat).SetFrac(diff1, big.NewInt(1))
		q.Quo(q, new(big.Rat).SetFloat64(d))
		want := new(big.Int).Quo(q.Num(), q.Denom())
		diff := new(big.Int).Sub(tgt.Big(), want)
		diff.Abs(diff)
		// 256-bit intermediate precision: allow a relative error of 2^-200
		lim := new(big.Int).Rsh(want, 200)
		if diff.Cmp(lim) > 0 && diff.Cmp(big.NewInt(1)) > 0 {
			t.Errorf("difficulty %g: target %x, want %x", d, tgt.Big(), want)
		}
		if back := tgt.Difficulty(); math.Abs(back-d)/d > 1e-12 {
			t.Errorf("difficulty %g round trip gives %g", d, back)
		}
		if d < 1 && !TargetFromDifficulty(1).Less(tgt) {
			t.Errorf("fractional difficulty %g should give a target above diff1", d)
		}
	}

	// The ESP32 case: 1e-4 is 10000 × diff1 (within float rounding of 1e-4).
	tgt := TargetFromDifficulty(1e-4)
	approx := new(big.Int).Mul(diff1, big.NewInt(10000))
	rel := new(big.Float).Quo(new(big.Float).SetInt(new(big.Int).Sub(tgt.Big(), approx)), new(big.Float).SetInt(approx))
	if f, _ := rel.Float64(); math.Abs(f) > 1e-15 {
		t.Fatalf("1e-4 target off by %g relative", f)
	}

	for _, d := range []float64{0, -1, math.NaN(), math.Inf(-1), 1e-80} {
		if got := TargetFromDifficulty(d); got != MaxTarget {
			t.Errorf("difficulty %g: got %x, want MaxTarget", d, got.Big())
		}
	}
	if got := TargetFromDifficulty(math.Inf(1)); got != (Target{}) {
		t.Errorf("+Inf difficulty: got %x, want zero", got.Big())
	}
	if d := (Target{}).Difficulty(); !math.IsInf(d, 1) {
		t.Errorf("zero target difficulty = %g", d)
	}
}

func TestTargetFromCompact(t *testing.T) {
	cases := []struct {
		bits uint32
		want string
	}{
		{0x1d00ffff, "00000000ffff0000000000000000000000000000000000000000000000000000"},
		{0x207fffff, "7fffff0000000000000000000000000000000000000000000000000000000000"},
		{0x1b00d7c0, "000000000000d7c0000000000000000000000000000000000000000000000000"},
		{0x1703a30c, "00000000000000000003a30c0000000000000000000000000000000000000000"},
		{0x03123456, "123456"},
		{0x02123456, "1234"},
		{0x01123456, "12"},
		{0x00123456, "0"},
		{0x1d80ffff, "0"}, // negative
		{0x04923456, "0"}, // negative
		{0x04800000, "0"}, // sign bit with zero mantissa: zero anyway
		{0x2300ffff, "0"}, // 0xffff << 256: overflow
		{0x22000001, "1" + zeros(2*31)},
		{0x2100ffff, "ffff" + zeros(2*30)},
	}
	for _, c := range cases {
		got := TargetFromCompact(c.bits).Big()
		if got.Cmp(bigHex(t, c.want)) != 0 {
			t.Errorf("bits %08x: got %x want %s", c.bits, got, c.want)
		}
	}
	if TargetFromCompact(0x1d00ffff) != TargetFromDifficulty(1) {
		t.Fatal("nbits 1d00ffff must equal the difficulty-1 target")
	}
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

func TestTargetMetBoundary(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	one := big.NewInt(1)
	for i := 0; i < 2000; i++ {
		var tgt Target
		for k := range tgt {
			tgt[k] = r.Uint64()
		}
		// Sometimes make limbs equal/zero to exercise the per-limb compare.
		switch i % 4 {
		case 1:
			tgt[3] = 0
		case 2:
			tgt[3], tgt[2] = 0, 0
		}
		tb := tgt.Big()
		for _, delta := range []int64{-1, 0, 1} {
			h := new(big.Int).Add(tb, big.NewInt(delta))
			if h.Sign() < 0 || h.BitLen() > 256 {
				continue
			}
			hle := TargetFromBig(h).LE()
			want := delta <= 0
			if got := tgt.Met(&hle); got != want {
				t.Fatalf("target %x hash %x: Met=%v want %v", tb, h, got, want)
			}
		}
		// random hash vs big.Int compare
		hash := randHash(r)
		want := refLEInt(hash[:]).Cmp(tb) <= 0
		if got := tgt.Met(&hash); got != want {
			t.Fatalf("random: Met=%v want %v", got, want)
		}
		_ = one
	}
	var zero [32]byte
	if z := (Target{}); !z.Met(&zero) {
		t.Fatal("zero hash meets the zero target")
	}
	ff := MaxTarget.LE()
	if !MaxTarget.Met(&ff) {
		t.Fatal("MaxTarget is met by every hash")
	}
}

func TestTargetRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1000; i++ {
		var tgt Target
		for k := range tgt {
			tgt[k] = r.Uint64()
		}
		if got := TargetFromLE(tgt.LE()); got != tgt {
			t.Fatalf("LE round trip: %v != %v", got, tgt)
		}
		if got := TargetFromBig(tgt.Big()); got != tgt {
			t.Fatalf("Big round trip: %v != %v", got, tgt)
		}
		le := tgt.LE()
		if refLEInt(le[:]).Cmp(tgt.Big()) != 0 {
			t.Fatal("LE bytes are not the little-endian number")
		}
	}
	// Vector: SRI target_le / target_be
	le := mustHex32(t, "3104eb68f33ec52543b08e36ef535c3204eb68f33ec52543b08e36ef535c3204")
	if got := TargetFromLE(le).Big(); got.Cmp(bigHex(t, "04325c53ef368eb04325c53ef368eb04325c53ef368eb04325c53ef368eb0431")) != 0 {
		t.Fatalf("TargetFromLE vector: %x", got)
	}
	if TargetFromBig(big.NewInt(-5)) != (Target{}) {
		t.Fatal("negative big should give zero target")
	}
	if TargetFromBig(new(big.Int).Lsh(big.NewInt(1), 256)) != MaxTarget {
		t.Fatal("2^256 should saturate")
	}
}

func TestEasierLess(t *testing.T) {
	a, b := TargetFromDifficulty(10), TargetFromDifficulty(1)
	if !a.Less(b) || b.Less(a) || a.Less(a) {
		t.Fatal("Less")
	}
	if Easier(a, b) != b || Easier(b, a) != b {
		t.Fatal("Easier")
	}
	h := TargetFromDifficulty(1).LE()
	if d := HashDifficulty(&h); math.Abs(d-1) > 1e-12 {
		t.Fatalf("HashDifficulty(diff1) = %g", d)
	}
}

func TestTargetFloatPrecision(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for i := 0; i < 5000; i++ {
		var tgt Target
		for k := range tgt {
			tgt[k] = r.Uint64() >> r.UintN(64)
		}
		for k := 3; k > i%4; k-- {
			tgt[k] = 0
		}
		want, _ := new(big.Float).SetInt(tgt.Big()).Float64()
		got := tgt.float()
		if want == 0 {
			if got != 0 {
				t.Fatal("zero")
			}
			continue
		}
		if math.Abs(got-want)/want > 0x1p-51 {
			t.Fatalf("%x: float %g want %g", tgt.Big(), got, want)
		}
	}
}
