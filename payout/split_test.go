package payout

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"sort"
	"testing"
)

// randomWeights draws a window of 1..maxN addresses with weights spanning
// many orders of magnitude (ESP32 difficulties to ASIC ones).
func randomWeights(r *rand.Rand, maxN int) []AddressWeight {
	n := 1 + r.IntN(maxN)
	ws := make([]AddressWeight, n)
	for i := range ws {
		var w float64
		switch r.IntN(4) {
		case 0:
			w = math.Ldexp(r.Float64()+0.01, -r.IntN(40)) // tiny
		case 1:
			w = float64(1 + r.IntN(5)) // equal-ish: forces remainder ties
		case 2:
			w = r.Float64() * 1e12
		default:
			w = r.ExpFloat64() * 1e6
		}
		ws[i] = AddressWeight{Address: fmt.Sprintf("addr%04d", r.IntN(n*2)), Weight: w, Shares: 1}
	}
	return ws
}

func randomReward(r *rand.Rand) int64 {
	switch r.IntN(4) {
	case 0:
		return r.Int64N(100)
	case 1:
		return 312_500_000 + r.Int64N(50_000_000) // subsidy + fees
	case 2:
		return 2_100_000_000_000_000 // every bitcoin there will ever be
	default:
		return r.Int64N(math.MaxInt64)
	}
}

// TestSplitProperties checks, over many random windows and rewards: the
// parts sum exactly to the reward, nothing is negative, the fee is exactly
// floor(reward×bp/10000), and every miner is within one satoshi of its exact
// proportional share of the rest.
func TestSplitProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 2026))
	iters := 20000
	if testing.Short() {
		iters = 2000
	}
	for it := 0; it < iters; it++ {
		ws := randomWeights(r, 60)
		reward := randomReward(r)
		bp := r.Int64N(MaxBasisPoints + 1)
		if it%10 == 0 {
			bp = 0
		}
		fee, credits, err := Split(reward, bp, ws)
		if err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
		// Fee exact.
		wantFee := new(big.Int).Mul(big.NewInt(reward), big.NewInt(bp))
		wantFee.Quo(wantFee, big.NewInt(MaxBasisPoints))
		if wantFee.Int64() != fee {
			t.Fatalf("iteration %d: fee %d, want %s", it, fee, wantFee)
		}
		// Exact shares by big.Rat.
		merged := map[string]*big.Rat{}
		total := new(big.Rat)
		for _, w := range ws {
			x := new(big.Rat).SetFloat64(w.Weight)
			if merged[w.Address] == nil {
				merged[w.Address] = new(big.Rat)
			}
			merged[w.Address].Add(merged[w.Address], x)
			total.Add(total, x)
		}
		rest := new(big.Rat).SetInt64(reward - fee)
		sum := fee
		got := map[string]int64{}
		prev := ""
		for _, c := range credits {
			if c.Sats <= 0 {
				t.Fatalf("iteration %d: non-positive credit %+v", it, c)
			}
			if c.Address <= prev {
				t.Fatalf("iteration %d: credits not sorted/unique at %q", it, c.Address)
			}
			prev = c.Address
			got[c.Address] = c.Sats
			sum += c.Sats
		}
		if sum != reward {
			t.Fatalf("iteration %d: parts sum to %d, reward %d", it, sum, reward)
		}
		for a, w := range merged {
			exact := new(big.Rat).Mul(rest, w)
			exact.Quo(exact, total)
			diff := new(big.Rat).Sub(exact, new(big.Rat).SetInt64(got[a]))
			if diff.Abs(diff).Cmp(big.NewRat(1, 1)) >= 0 {
				t.Fatalf("iteration %d: %s got %d, exact %s", it, a, got[a], exact.FloatString(3))
			}
		}
	}
}

// TestSplitDeterministic: the input order does not change the result.
func TestSplitDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for it := 0; it < 2000; it++ {
		ws := randomWeights(r, 30)
		reward := randomReward(r)
		_, a, err := Split(reward, 150, ws)
		if err != nil {
			t.Fatal(err)
		}
		r.Shuffle(len(ws), func(i, j int) { ws[i], ws[j] = ws[j], ws[i] })
		_, b, err := Split(reward, 150, ws)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("order changed the split:\n%v\n%v", a, b)
		}
	}
}

func TestSplitTiesAndErrors(t *testing.T) {
	// 10 sats among three equal weights: 4/3/3, the extra satoshi to the
	// smallest address.
	fee, cs, err := Split(10, 0, []AddressWeight{{Address: "c", Weight: 1}, {Address: "a", Weight: 1}, {Address: "b", Weight: 1}})
	if err != nil || fee != 0 {
		t.Fatal(fee, err)
	}
	want := []Credit{{"a", 4}, {"b", 3}, {"c", 3}}
	if fmt.Sprint(cs) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", cs, want)
	}
	// 100 % fee: everything to the fee account.
	fee, cs, err = Split(12345, MaxBasisPoints, []AddressWeight{{Address: "a", Weight: 1}})
	if err != nil || fee != 12345 || len(cs) != 0 {
		t.Fatal(fee, cs, err)
	}
	if _, _, err := Split(1, 0, nil); !errors.Is(err, ErrEmptyWindow) {
		t.Fatalf("empty window: %v", err)
	}
	if _, _, err := Split(1, 0, []AddressWeight{{Address: "a", Weight: math.NaN()}, {Address: "b", Weight: -1}}); !errors.Is(err, ErrEmptyWindow) {
		t.Fatalf("unusable weights: %v", err)
	}
	if _, _, err := Split(-1, 0, []AddressWeight{{Address: "a", Weight: 1}}); !errors.Is(err, ErrNegativeReward) {
		t.Fatalf("negative reward: %v", err)
	}
	if _, err := Fee(1, 10001); !errors.Is(err, ErrFeeBasisPoints) {
		t.Fatalf("fee bp: %v", err)
	}
	if f, _ := Fee(math.MaxInt64, MaxBasisPoints); f != math.MaxInt64 {
		t.Fatalf("fee overflow: %d", f)
	}
}

func TestWindow(t *testing.T) {
	shares := []WindowShare{
		{"a", 4}, {"b", 2}, {"a", 1}, {"c", 8}, {"b", 100},
	}
	ws, total, n := Window(shares, 10) // 4+2+1 = 7, then 3 of c's 8
	want := []AddressWeight{{"a", 5, 2}, {"b", 2, 1}, {"c", 3, 1}}
	if fmt.Sprint(ws) != fmt.Sprint(want) || total != 10 || n != 4 {
		t.Fatalf("got %v total %v n %d", ws, total, n)
	}
	// History shorter than the window: everything counts in full.
	ws, total, n = Window(shares, 1e9)
	if total != 115 || n != 5 || len(ws) != 3 {
		t.Fatalf("short history: %v %v %d", ws, total, n)
	}
	// Exact boundary: the share that reaches target exactly counts in full
	// and nothing after it.
	_, total, n = Window(shares, 7)
	if total != 7 || n != 3 {
		t.Fatalf("exact boundary: %v %d", total, n)
	}
	if ws, _, _ := Window(nil, 1); len(ws) != 0 {
		t.Fatal(ws)
	}
	sort.Slice(ws, func(i, j int) bool { return false })
}
