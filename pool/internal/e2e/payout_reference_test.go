//go:build integration

package e2e

import (
	"bytes"
	"context"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"
)

// The PPLNS reference below is written from the design (§4) on purpose
// without package payout: it reads the shares table and computes, in exact
// rational arithmetic, what each block must credit.

// refShare is a row of the shares table as the reference reads it.
type refShare struct {
	time     time.Time
	instance string
	id       int64
	address  string
	diff     float64
	netDiff  float64
	hash     []byte
}

// refAnchor is a block's recorded time and network difficulty.
type refAnchor struct {
	at      time.Time
	netDiff float64
}

// loadShares returns every share, newest first by (time, instance, id).
func loadShares(t *testing.T, e *PayoutEnv) []refShare {
	t.Helper()
	rows, err := e.DB.Query(context.Background(), `SELECT time, instance, id, address, assigned_difficulty,
		network_difficulty, hash FROM shares ORDER BY time DESC, instance DESC, id DESC`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []refShare
	for rows.Next() {
		var s refShare
		if err := rows.Scan(&s.time, &s.instance, &s.id, &s.address, &s.diff, &s.netDiff, &s.hash); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// refCredits computes a block's ledger: the fee account's fee and each
// miner's credit. The window starts at the share whose hash is the block's
// and walks back summing assigned difficulties up to factor × the network
// difficulty of that share; the share crossing the target counts for the
// part that reaches it; if the history runs out, every share counts in full.
// The fee (floor of reward × bp / 10000) comes first; the rest is divided
// in proportion to the weights, floors first, then one satoshi each to the
// largest remainders (ties: smaller address first).
//
// A block whose share never reached the table (recovered from the chain
// after a crash before its share was logged) has its window end at anchor:
// the newest share at or before the block's recorded time, as the tracker
// anchors it, with the block's own network difficulty.
//
// tied are the addresses whose last satoshi depends on a remainder tie
// (within 1e-6 sat of the cut): the tracker's weights are float64 sums, so
// an exact tie here can fall either way there (Split breaks exact ties by
// address, but its inputs differ from these by rounding).
func refCredits(t *testing.T, shares []refShare, blockHash []byte, anchor refAnchor, factor float64, reward, bp int64) (fee int64, credits map[string]int64, windowShares int, tied map[string]bool) {
	t.Helper()
	start := -1
	var netDiff float64
	for i, s := range shares {
		if bytes.Equal(s.hash, blockHash) {
			start, netDiff = i, s.netDiff
			break
		}
	}
	if start < 0 {
		t.Logf("block share %x not in the shares table: window anchored at %v", blockHash, anchor.at)
		start, netDiff = len(shares), anchor.netDiff
		for i, s := range shares {
			if !s.time.After(anchor.at) {
				start = i
				break
			}
		}
	}
	target := new(big.Rat).SetFloat64(factor * netDiff)
	acc := new(big.Rat)
	weights := map[string]*big.Rat{}
	for _, s := range shares[start:] {
		if acc.Cmp(target) >= 0 {
			break
		}
		if !(s.diff > 0) {
			continue
		}
		w := new(big.Rat).SetFloat64(s.diff)
		if next := new(big.Rat).Add(acc, w); next.Cmp(target) >= 0 {
			w.Sub(target, acc)
		}
		acc.Add(acc, w)
		if weights[s.address] == nil {
			weights[s.address] = new(big.Rat)
		}
		weights[s.address].Add(weights[s.address], w)
		windowShares++
	}

	feeBig := new(big.Int).Mul(big.NewInt(reward), big.NewInt(bp))
	feeBig.Quo(feeBig, big.NewInt(10_000))
	fee = feeBig.Int64()
	rest := reward - fee
	credits = map[string]int64{}
	if len(weights) == 0 {
		return reward, credits, 0, nil
	}
	type part struct {
		addr string
		q    int64
		rem  *big.Rat
	}
	var parts []part
	var given int64
	for a, w := range weights {
		exact := new(big.Rat).Mul(new(big.Rat).SetInt64(rest), w)
		exact.Quo(exact, acc)
		q := new(big.Int).Quo(exact.Num(), exact.Denom()) // floor: exact >= 0
		rem := new(big.Rat).Sub(exact, new(big.Rat).SetInt(q))
		parts = append(parts, part{a, q.Int64(), rem})
		given += q.Int64()
	}
	sort.Slice(parts, func(i, j int) bool {
		if c := parts[i].rem.Cmp(parts[j].rem); c != 0 {
			return c > 0
		}
		return parts[i].addr < parts[j].addr
	})
	cut := int(rest - given)
	for k := range cut {
		parts[k].q++
	}
	for _, p := range parts {
		if p.q > 0 {
			credits[p.addr] = p.q
		}
	}
	if cut > 0 && cut < len(parts) {
		eps := big.NewRat(1, 1_000_000)
		near := func(a, b *big.Rat) bool { return new(big.Rat).Abs(new(big.Rat).Sub(a, b)).Cmp(eps) < 0 }
		if near(parts[cut-1].rem, parts[cut].rem) {
			tied = map[string]bool{}
			for _, p := range parts {
				if near(p.rem, parts[cut].rem) {
					tied[p.addr] = true
				}
			}
		}
	}
	return fee, credits, windowShares, tied
}

// matchesUpToTies reports whether got equals want but for a satoshi moved
// between tied addresses (refCredits), the total unchanged.
func matchesUpToTies(got, want map[string]int64, tied map[string]bool) bool {
	var dg, dw int64
	for k, v := range got {
		dg += v
		if w := want[k]; w != v && !(tied[strings.TrimPrefix(k, "credit:")] && (w-v == 1 || v-w == 1)) {
			return false
		}
	}
	for k, w := range want {
		dw += w
		if _, ok := got[k]; !ok && !(tied[strings.TrimPrefix(k, "credit:")] && w == 1) {
			return false
		}
	}
	return dg == dw
}
