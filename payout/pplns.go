package payout

import "sort"

// WindowShare is one share as PPLNS sees it: who is paid and the difficulty
// the share was assigned (its weight).
type WindowShare struct {
	Address    string
	Difficulty float64
}

// AddressWeight is one payout address's part of a PPLNS window: the summed
// weight of its shares in the window (the boundary share counted
// fractionally) and how many of its shares the window holds.
type AddressWeight struct {
	Address string
	Weight  float64
	Shares  int64
}

// Window computes a PPLNS window from shares ordered newest first (the
// block-finding share first). It takes shares while their difficulties sum
// to less than target; the share that crosses target counts only for the
// part that reaches it. If the shares run out first, all of them count in
// full (the whole reward goes to the shares that exist). Shares with a
// non-positive difficulty carry no weight and are skipped.
//
// The result is aggregated per address and sorted by address. total is the
// window's summed weight (target when the window filled, less otherwise) and
// n the number of shares it holds. Window is the reference the Postgres
// snapshot (SnapshotWindow) is tested against.
func Window(newestFirst []WindowShare, target float64) (weights []AddressWeight, total float64, n int64) {
	idx := make(map[string]int)
	acc := 0.0
	for _, s := range newestFirst {
		if !(target > acc) {
			break
		}
		if !(s.Difficulty > 0) {
			continue
		}
		w := s.Difficulty
		if acc+w >= target {
			w = target - acc
		}
		acc += w
		n++
		i, ok := idx[s.Address]
		if !ok {
			i = len(weights)
			idx[s.Address] = i
			weights = append(weights, AddressWeight{Address: s.Address})
		}
		weights[i].Weight += w
		weights[i].Shares++
	}
	sort.Slice(weights, func(a, b int) bool { return weights[a].Address < weights[b].Address })
	return weights, acc, n
}
