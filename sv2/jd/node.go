package jd

import "context"

// Node is the pool side the JDS needs (implemented in pool/, never imported
// here). Implementations are safe for concurrent use.
type Node interface {
	// Tip is the pool node's view of the next block: prev hash (internal
	// byte order), height of the next block, nbits, min time and cur time,
	// and the subsidy for that height. ok is false while there is none.
	Tip() (Tip, bool)
	// TipChanged returns a channel closed when Tip next reports another
	// PrevHash; take it before reading Tip so no change is missed.
	TipChanged() <-chan struct{}
	// LookupTxs returns, for each wtxid (internal byte order), the full
	// (witness) serialization and the fee in sats from the pool's mempool
	// mirror, or nil/-1 when unknown. Never does RPC on the caller's
	// goroutine beyond the mirror.
	LookupTxs(wtxids [][32]byte) (txs [][]byte, fees []int64)
	// Propose checks a whole serialized block with the node (BIP23
	// proposal). reason "" means valid; otherwise the node's reject
	// reason. err is a transport failure.
	Propose(ctx context.Context, block []byte) (reason string, err error)
	// SubmitBlock sends a solved block to every pool node in parallel and
	// reports whether one has it in its best chain.
	SubmitBlock(ctx context.Context, block []byte, hash [32]byte) (accepted bool, err error)
	// AddTxs tells the mirror about transactions a JDC provided for an
	// accepted declaration (so they can be found again).
	AddTxs(txs [][]byte)
}

// Tip is the next block as the pool's node sees it.
type Tip struct {
	PrevHash         [32]byte
	Height           int64
	Bits             uint32
	MinTime, CurTime uint32
	Subsidy          int64
}

// staleReasons are the node reject reasons that mean the declaration was
// built on another tip (SV2-JD.md §7 setup notes): btcd's and Core's.
var staleReasons = map[string]bool{
	"bad-prevblk":                   true, // btcd, before the checks
	"inconclusive-not-best-prvblk":  true, // btcd (sic)
	"inconclusive-not-best-prevblk": true, // Core
	"bad-cb-height":                 true,
	"bad-txns-unfinalizedtx":        true, // btcd
	"bad-txns-nonfinal":             true, // Core
}

// ProposalCode maps a node's proposal reject reason to the
// DeclareMiningJob.Error code: stale-chain-tip for a reason that means
// another tip, invalid-job for any other.
func ProposalCode(reason string) string {
	if staleReasons[reason] {
		return CodeStaleChainTip
	}
	return CodeInvalidJob
}
