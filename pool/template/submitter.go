package template

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"go.uber.org/zap"
)

// confirmAttempts and confirmDelay bound how long SubmitBlock waits for the
// block to show up as a node's best block after submitblock returned.
const (
	confirmAttempts = 5
	confirmDelay    = 200 * time.Millisecond
)

// ErrHashMismatch means the hash passed to SubmitBlock is not the hash of
// the block's header.
var ErrHashMismatch = errors.New("template: block hash does not match its header")

// RejectedError reports a block no node put in its best chain. Reasons maps
// node name to what that node said ("" for a null submitblock reply: the
// block is valid but not on the best chain, e.g. it lost a race).
// Unreachable names the nodes whose submitblock call failed (transport or
// RPC error): they may still take the block when asked again.
type RejectedError struct {
	Hash        chainhash.Hash
	Reasons     map[string]string
	Unreachable []string
}

func (e *RejectedError) Error() string {
	names := make([]string, 0, len(e.Reasons))
	for n := range e.Reasons {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "template: block %s not in any best chain:", e.Hash)
	for _, n := range names {
		r := e.Reasons[n]
		if r == "" {
			r = "accepted but not best (side chain or stale)"
		}
		fmt.Fprintf(&b, " %s: %s;", n, r)
	}
	for _, n := range e.Unreachable {
		fmt.Fprintf(&b, " %s: unreachable;", n)
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Submitter sends solved blocks to every node. It is safe for concurrent use.
type Submitter struct {
	nodes []*node.Client
	log   *zap.Logger
	m     *Metrics
}

// NewSubmitter returns a Submitter over nodes. log and m may be nil.
func NewSubmitter(nodes []*node.Client, log *zap.Logger, m *Metrics) *Submitter {
	if log == nil {
		log = zap.NewNop()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Submitter{nodes: append([]*node.Client(nil), nodes...), log: log, m: m}
}

// SubmitBlock sends block to every node in parallel, then confirms that at
// least one node has it in its best chain (submitblock answers null for a
// side-chain block too). hash is the block hash in internal byte order (the
// raw SHA256d of the header).
//
// accepted is true when a node confirms the block; err is then nil even if
// other nodes failed (they are logged). Otherwise err is a *RejectedError
// when the nodes answered but none has the block as best (metric result
// "rejected"), or the joined transport/RPC errors (result "error").
func (s *Submitter) SubmitBlock(ctx context.Context, block []byte, hash [32]byte) (accepted bool, err error) {
	h := chainhash.Hash(hash)
	result := ResultError
	defer func() { s.m.submitted.WithLabelValues(result).Inc() }()
	if len(block) < 80 || share.DoubleSHA256(block[:80]) != hash {
		return false, ErrHashMismatch
	}
	if len(s.nodes) == 0 {
		return false, errors.New("template: no nodes to submit to")
	}

	reasons := make([]string, len(s.nodes))
	errs := make([]error, len(s.nodes))
	var wg sync.WaitGroup
	for i, n := range s.nodes {
		wg.Go(func() { reasons[i], errs[i] = n.SubmitBlock(ctx, block) })
	}
	wg.Wait()
	answered := false
	for i, n := range s.nodes {
		switch {
		case errs[i] != nil:
			s.log.Error("submitblock failed", zap.String("node", n.Name()), zap.Stringer("hash", h), zap.Error(errs[i]))
		case reasons[i] != "":
			answered = true
			s.log.Warn("submitblock rejected", zap.String("node", n.Name()), zap.Stringer("hash", h), zap.String("reason", reasons[i]))
		default:
			answered = true
		}
	}

	for attempt := 0; attempt < confirmAttempts; attempt++ {
		if attempt > 0 && !sleep(ctx, confirmDelay) {
			break
		}
		if name, ok := s.confirm(ctx, h); ok {
			result = ResultAccepted
			s.log.Info("block accepted", zap.Stringer("hash", h), zap.String("node", name))
			return true, nil
		}
	}
	if !answered {
		return false, errors.Join(errs...)
	}
	result = ResultRejected
	re := &RejectedError{Hash: h, Reasons: make(map[string]string)}
	for i, n := range s.nodes {
		if errs[i] == nil {
			re.Reasons[n.Name()] = reasons[i]
		} else {
			re.Unreachable = append(re.Unreachable, n.Name())
		}
	}
	s.log.Error("block not accepted", zap.Stringer("hash", h), zap.Error(re))
	return false, re
}

// Superseded reports whether a node's best chain holds another block at
// height: a block the nodes did not all answer for can then never become
// best, and need not be submitted again. It is an error only when no node
// answered.
func (s *Submitter) Superseded(ctx context.Context, height int64, hash [32]byte) (bool, error) {
	h := chainhash.Hash(hash)
	var errs []error
	for _, n := range s.nodes {
		at, err := n.GetBlockHash(ctx, height)
		if err != nil {
			// Past the node's tip (or unreachable): not superseded there.
			if tip, terr := n.GetBlockCount(ctx); terr == nil && tip < height {
				continue
			}
			errs = append(errs, fmt.Errorf("%s: %w", n.Name(), err))
			continue
		}
		if at != h {
			return true, nil
		}
	}
	if len(errs) == len(s.nodes) {
		return false, errors.Join(errs...)
	}
	return false, nil
}

// confirm reports whether any node has h in its best chain, and which.
func (s *Submitter) confirm(ctx context.Context, h chainhash.Hash) (string, bool) {
	found := make([]bool, len(s.nodes))
	var wg sync.WaitGroup
	for i, n := range s.nodes {
		wg.Go(func() { found[i] = inBestChain(ctx, n, h) })
	}
	wg.Wait()
	for i, ok := range found {
		if ok {
			return s.nodes[i].Name(), true
		}
	}
	return "", false
}

// inBestChain reports whether n's best chain contains h: it is the tip, or
// its header has a confirmation (Core reports -1 off the best chain; btcd
// answers an error) and the best chain's block at its height is h.
func inBestChain(ctx context.Context, n *node.Client, h chainhash.Hash) bool {
	best, err := n.GetBestBlockHash(ctx)
	if err == nil && best == h {
		return true
	}
	hdr, err := n.GetBlockHeader(ctx, h)
	if err != nil || hdr.Confirmations < 1 {
		return false
	}
	at, err := n.GetBlockHash(ctx, hdr.Height)
	return err == nil && at == h
}
