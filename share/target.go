package share

import (
	"encoding/binary"
	"math"
	"math/big"
	"math/bits"
)

// Target is a 256-bit unsigned threshold stored as four 64-bit limbs, least
// significant first. A hash meets a target when, read as a little-endian
// 256-bit integer, it is less than or equal to the target.
type Target [4]uint64

// MaxTarget is the most permissive target (2^256-1): every hash meets it.
var MaxTarget = Target{math.MaxUint64, math.MaxUint64, math.MaxUint64, math.MaxUint64}

// diff1 is the pool difficulty-1 target, 0x00000000ffff0000...0000 (bdiff).
var diff1 = func() *big.Int {
	d := new(big.Int).SetUint64(0xffff)
	return d.Lsh(d, 208)
}()

// diff1Float is diff1 as a float64, for reached-difficulty estimates.
var diff1Float, _ = new(big.Float).SetInt(diff1).Float64()

// Met reports whether hash (raw SHA256d output, little-endian number) is <= t.
func (t *Target) Met(hash *[32]byte) bool {
	for i := 3; i >= 0; i-- {
		h := binary.LittleEndian.Uint64(hash[i*8:])
		if h != t[i] {
			return h < t[i]
		}
	}
	return true
}

// Less reports whether t is strictly harder (smaller) than u.
func (t Target) Less(u Target) bool {
	for i := 3; i >= 0; i-- {
		if t[i] != u[i] {
			return t[i] < u[i]
		}
	}
	return false
}

// Easier returns the more permissive (larger) of t and u.
func Easier(t, u Target) Target {
	if t.Less(u) {
		return u
	}
	return t
}

// Big returns the target as a big.Int.
func (t Target) Big() *big.Int {
	var be [32]byte
	for i := 0; i < 4; i++ {
		binary.BigEndian.PutUint64(be[24-8*i:], t[i])
	}
	return new(big.Int).SetBytes(be[:])
}

// TargetFromBig converts a non-negative big.Int, saturating at MaxTarget.
func TargetFromBig(b *big.Int) Target {
	if b.Sign() <= 0 {
		return Target{}
	}
	if b.BitLen() > 256 {
		return MaxTarget
	}
	var be [32]byte
	b.FillBytes(be[:])
	var t Target
	for i := 0; i < 4; i++ {
		t[i] = binary.BigEndian.Uint64(be[24-8*i:])
	}
	return t
}

// LE returns the target as 32 little-endian bytes (the Stratum V2 U256 form).
func (t Target) LE() [32]byte {
	var le [32]byte
	for i := 0; i < 4; i++ {
		binary.LittleEndian.PutUint64(le[8*i:], t[i])
	}
	return le
}

// TargetFromLE reads 32 little-endian bytes.
func TargetFromLE(le [32]byte) Target {
	var t Target
	for i := 0; i < 4; i++ {
		t[i] = binary.LittleEndian.Uint64(le[8*i:])
	}
	return t
}

// TargetFromDifficulty returns diff1/difficulty. Fractional difficulties give
// targets above diff1; difficulties <= 0 or NaN give MaxTarget.
func TargetFromDifficulty(difficulty float64) Target {
	if !(difficulty > 0) || math.IsInf(difficulty, 0) {
		if math.IsInf(difficulty, 1) {
			return Target{}
		}
		return MaxTarget
	}
	q := new(big.Float).SetPrec(256).SetInt(diff1)
	q.Quo(q, new(big.Float).SetPrec(256).SetFloat64(difficulty))
	i, _ := q.Int(nil)
	return TargetFromBig(i)
}

// Difficulty returns diff1/t as a float64 (0 target gives +Inf).
func (t Target) Difficulty() float64 {
	f := t.float()
	if f == 0 {
		return math.Inf(1)
	}
	return diff1Float / f
}

// float returns t as a float64, truncated to 53 bits. It avoids the branch
// Go emits for uint64→float64, whose outcome (the top bit) is random for
// hashes and mispredicts half the time.
func (t Target) float() float64 {
	for i := 3; i >= 0; i-- {
		if t[i] == 0 {
			continue
		}
		lz := bits.LeadingZeros64(t[i])
		hi := t[i] << lz
		if i > 0 && lz > 0 {
			hi |= t[i-1] >> (64 - lz)
		}
		// scale by 2^(64i-lz+11), an exact power of two built from its exponent
		return float64(int64(hi>>11)) * math.Float64frombits(uint64(1023+64*i-lz+11)<<52)
	}
	return 0
}

// HashDifficulty returns the difficulty a hash reached: diff1 / hash.
func HashDifficulty(hash *[32]byte) float64 {
	var t Target
	for i := 0; i < 4; i++ {
		t[i] = binary.LittleEndian.Uint64(hash[i*8:])
	}
	return t.Difficulty()
}

// TargetFromCompact expands a compact "nbits" value. Negative or overflowing
// encodings yield the zero target (nothing meets it).
func TargetFromCompact(bits uint32) Target {
	mantissa := bits & 0x007fffff
	exponent := uint(bits >> 24)
	if bits&0x00800000 != 0 && mantissa != 0 {
		return Target{}
	}
	var b *big.Int
	if exponent <= 3 {
		b = new(big.Int).SetUint64(uint64(mantissa >> (8 * (3 - exponent))))
	} else {
		b = new(big.Int).SetUint64(uint64(mantissa))
		b.Lsh(b, 8*(exponent-3))
	}
	if b.BitLen() > 256 {
		return Target{}
	}
	return TargetFromBig(b)
}
