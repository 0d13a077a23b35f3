package payout

import (
	"math"
	"math/big"
	"sort"
)

// MaxBasisPoints is 100 %.
const MaxBasisPoints = 10_000

// Credit is an amount credited to one address.
type Credit struct {
	Address string
	Sats    int64
}

// Fee returns the pool fee on reward: floor(reward × bp / 10000), computed
// without overflow for every int64 reward.
func Fee(reward, basisPoints int64) (int64, error) {
	if reward < 0 {
		return 0, ErrNegativeReward
	}
	if basisPoints < 0 || basisPoints > MaxBasisPoints {
		return 0, ErrFeeBasisPoints
	}
	q, r := reward/MaxBasisPoints, reward%MaxBasisPoints
	return q*basisPoints + r*basisPoints/MaxBasisPoints, nil
}

// Split divides reward satoshis: the pool fee (Fee) first, then the rest
// among weights in proportion to Weight, by largest remainder so that
// fee + Σ credits == reward exactly. Each credit is within one satoshi of its
// exact proportional share (computed in exact rational arithmetic from the
// float64 weights). Remainder ties go to the lexicographically smaller
// address, so the result is deterministic for a given input set in any order.
// Entries with the same address are merged (exactly); weights that are not positive
// and finite are ignored; zero credits are omitted. Credits are sorted by
// address.
//
// With no positive weight Split returns ErrEmptyWindow (the caller decides
// where the reward goes).
func Split(reward, basisPoints int64, weights []AddressWeight) (fee int64, credits []Credit, err error) {
	fee, err = Fee(reward, basisPoints)
	if err != nil {
		return 0, nil, err
	}
	rest := reward - fee

	// Exact integer weights: every finite float64 is mant × 2^exp; scale all
	// of them by the smallest exponent, then merge by address exactly.
	type term struct {
		mant int64
		exp  int
	}
	terms := make(map[string][]term, len(weights))
	minExp := math.MaxInt
	for _, w := range weights {
		if !(w.Weight > 0) || math.IsInf(w.Weight, 0) {
			continue
		}
		frac, exp := math.Frexp(w.Weight)
		tm := term{mant: int64(math.Ldexp(frac, 53)), exp: exp - 53} // exact: 53 bits
		terms[w.Address] = append(terms[w.Address], tm)
		minExp = min(minExp, tm.exp)
	}
	if len(terms) == 0 {
		return 0, nil, ErrEmptyWindow
	}
	addrs := make([]string, 0, len(terms))
	for a := range terms {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	ints := make([]*big.Int, len(addrs))
	total := new(big.Int)
	for i, a := range addrs {
		ints[i] = new(big.Int)
		for _, tm := range terms[a] {
			ints[i].Add(ints[i], new(big.Int).Lsh(big.NewInt(tm.mant), uint(tm.exp-minExp)))
		}
		total.Add(total, ints[i])
	}

	type part struct {
		i   int
		q   int64
		rem *big.Int
	}
	parts := make([]part, len(addrs))
	restBig := big.NewInt(rest)
	var given int64
	for i := range addrs {
		num := new(big.Int).Mul(restBig, ints[i])
		q, r := new(big.Int).QuoRem(num, total, new(big.Int))
		parts[i] = part{i: i, q: q.Int64(), rem: r}
		given += parts[i].q
	}
	left := rest - given // 0 <= left < len(addrs)
	order := make([]int, len(parts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		c := parts[order[a]].rem.Cmp(parts[order[b]].rem)
		if c != 0 {
			return c > 0
		}
		return addrs[order[a]] < addrs[order[b]]
	})
	for k := int64(0); k < left; k++ {
		parts[order[k]].q++
	}
	for i, a := range addrs {
		if parts[i].q > 0 {
			credits = append(credits, Credit{Address: a, Sats: parts[i].q})
		}
	}
	return fee, credits, nil
}
