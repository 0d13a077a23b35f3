package jd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2/codec"
)

// declaration is a DeclareMiningJob being checked (owner state).
type declaration struct {
	m        *codec.DeclareMiningJob
	tip      Tip
	cb       *DeclaredCoinbase
	txs      []*tx   // by wtxid_list position; nil while missing
	fees     []int64 // by position; -1 unknown
	byWtxid  map[[32]byte]int
	provided [][]byte // transactions the JDC supplied
	timer    *time.Timer
	tipBy    time.Time // the end of the wait for the pool's tip (awaitTip)
}

// reject is a declaration refused: the DeclareMiningJob.Error code and the
// error_details text.
type reject struct{ code, details string }

func (r *reject) Error() string { return r.code + ": " + r.details }

func rejectf(code, format string, args ...any) *reject {
	return &reject{code: code, details: fmt.Sprintf(format, args...)}
}

// replyError answers a declaration with DeclareMiningJob.Error; error_details
// is truncated to fit its B0_64K.
func (c *conn) replyError(reqID uint32, r *reject) {
	details := r.details
	if len(details) > codec.MaxB064K {
		details = details[:codec.MaxB064K]
	}
	c.srv.m.declarations.WithLabelValues(r.code).Inc()
	c.log.Debug("jd declaration refused", zap.Uint32("request_id", reqID), zap.String("code", r.code), zap.String("details", details))
	c.send(&codec.DeclareMiningJobError{RequestID: reqID, ErrorCode: r.code, ErrorDetails: []byte(details)})
}

// fail ends a declaration whose token was taken: the token is dropped (the
// JDC needs a new one, as SRI does) and the error sent.
func (c *conn) fail(p *declaration, r *reject) {
	c.inFlight--
	c.srv.tokens.finishDeclare(c.id, p.m.MiningJobToken, nil)
	c.replyError(p.m.RequestID, r)
}

// onDeclare checks a DeclareMiningJob up to the transactions: token,
// coinbase, height, payout, wtxid list; then asks for the transactions the
// mirror lacks, or goes on to the proposal.
func (c *conn) onDeclare(m *codec.DeclareMiningJob) {
	switch {
	case !c.decl.take(c.srv.deps.Now()):
		c.replyError(m.RequestID, rejectf(CodeRateLimited, "over %d declarations a minute", c.srv.cfg.DeclarationsPerMinute))
		return
	case c.inFlight >= c.srv.cfg.MaxPendingDeclarations:
		c.replyError(m.RequestID, rejectf(CodeRateLimited, "%d declarations are being checked already", c.inFlight))
		return
	case c.pending[m.RequestID] != nil:
		c.replyError(m.RequestID, rejectf(CodeInvalidJob, "request_id %d is waiting for its transactions", m.RequestID))
		return
	case c.tipWaits[m.RequestID] != nil:
		c.replyError(m.RequestID, rejectf(CodeInvalidJob, "request_id %d is waiting for the pool's chain tip", m.RequestID))
		return
	}
	if _, err := c.srv.tokens.beginDeclare(c.id, m.MiningJobToken); err != nil {
		c.replyError(m.RequestID, &reject{code: CodeInvalidMiningJobToken, details: err.Error()})
		return
	}
	c.inFlight++
	c.resolve(&declaration{m: m})
}

// resolve runs check, then asks for the transactions the mirror lacks or
// goes on to the proposal. A declaration on a block the pool's node does
// not have yet waits for it (awaitTip).
func (c *conn) resolve(p *declaration) {
	changed := c.srv.deps.Node.TipChanged() // before check reads the tip
	if r := c.check(p); r != nil {
		if p.cb != nil && p.cb.Height > p.tip.Height && c.awaitTip(p, changed) {
			return
		}
		c.fail(p, r)
		return
	}
	var missing []uint16
	for i, t := range p.txs {
		if t == nil {
			missing = append(missing, uint16(i))
		}
	}
	if len(missing) == 0 {
		c.propose(p)
		return
	}
	reqID := p.m.RequestID
	c.pending[reqID] = p
	p.timer = time.AfterFunc(c.srv.cfg.MissingTxsTimeout, func() {
		c.post(func() {
			if c.pending[reqID] == p {
				delete(c.pending, reqID)
				c.fail(p, rejectf(CodeMissingTxs, "no ProvideMissingTransactions.Success within %s", c.srv.cfg.MissingTxsTimeout))
			}
		})
	})
	c.srv.m.missingRounds.Inc()
	c.send(&codec.ProvideMissingTransactions{RequestID: reqID, UnknownTxPositionList: missing})
}

// awaitTip holds a declaration whose coinbase height is ahead of the
// pool's tip: the miner's node often has a new block a moment before the
// pool's job feed does, and refusing would send the miner a stale-chain-tip
// for a tip that is current. The checks run again when the pool's tip next
// changes, until TipWait after the declaration arrived; awaitTip reports
// false once that time is up (the caller refuses with the check's code).
func (c *conn) awaitTip(p *declaration, changed <-chan struct{}) bool {
	now := time.Now()
	if p.tipBy.IsZero() {
		p.tipBy = now.Add(c.srv.cfg.TipWait)
	}
	wait := p.tipBy.Sub(now)
	if wait <= 0 {
		return false
	}
	reqID := p.m.RequestID
	c.tipWaits[reqID] = p
	c.srv.m.tipWaits.Inc()
	c.work.Go(func() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-changed:
		case <-t.C:
		case <-c.done:
			return
		}
		c.post(func() {
			if c.tipWaits[reqID] == p {
				delete(c.tipWaits, reqID)
				c.resolve(p)
			}
		})
	})
	return true
}

// check runs the checks that need no transaction data and resolves what
// the mirror knows.
func (c *conn) check(p *declaration) *reject {
	tip, ok := c.srv.deps.Node.Tip()
	if !ok {
		return rejectf(CodeInternalError, "the pool has no chain tip yet")
	}
	p.tip = tip
	cb, err := ParseDeclaredCoinbase(p.m.CoinbaseTxPrefix, p.m.CoinbaseTxSuffix)
	if err != nil {
		var ce *CoinbaseError
		if errors.As(err, &ce) {
			return &reject{code: ce.Code, details: ce.Msg}
		}
		return rejectf(CodeInvalidCoinbaseTx, "%v", err)
	}
	p.cb = cb
	if cb.Height != tip.Height {
		return rejectf(CodeStaleChainTip, "coinbase height %d, the next block is %d", cb.Height, tip.Height)
	}
	if why := checkPayout(cb.Outs, c.srv.deps.PoolScript, tip.Subsidy); why != "" {
		return rejectf(CodeInvalidCoinbaseTx, "%s", why)
	}
	list := p.m.WtxidList
	if len(list) > c.srv.cfg.MaxWtxids {
		return rejectf(CodeInvalidJob, "%d wtxids, at most %d", len(list), c.srv.cfg.MaxWtxids)
	}
	p.byWtxid = make(map[[32]byte]int, len(list))
	for i, w := range list {
		if j, dup := p.byWtxid[w]; dup {
			return rejectf(CodeInvalidJob, "wtxid_list[%d] repeats wtxid_list[%d]", i, j)
		}
		p.byWtxid[w] = i
	}
	p.txs = make([]*tx, len(list))
	p.fees = make([]int64, len(list))
	if len(list) == 0 {
		return nil
	}
	raws, fees := c.srv.deps.Node.LookupTxs(list)
	for i := range list {
		p.fees[i] = -1
		if i >= len(raws) || raws[i] == nil {
			continue
		}
		t, err := parseTx(raws[i])
		if err != nil || t.WTxID != list[i] || t.Coinbase {
			c.log.Warn("jd mirror returned a transaction that does not match its wtxid", zap.Int("position", i), zap.Error(err))
			continue
		}
		p.txs[i] = t
		if i < len(fees) {
			p.fees[i] = fees[i]
		}
	}
	return nil
}

// onProvided takes the answer to a ProvideMissingTransactions: every
// transaction must be one of the declared wtxids, not a coinbase, given
// once; the declaration fails with missing-txs if one is still missing,
// and with stale-chain-tip if the tip moved meanwhile. An answer for an
// unknown request_id is ignored.
func (c *conn) onProvided(m *codec.ProvideMissingTransactionsSuccess) {
	p := c.pending[m.RequestID]
	if p == nil {
		c.log.Debug("jd ProvideMissingTransactions.Success for no pending declaration", zap.Uint32("request_id", m.RequestID))
		return
	}
	delete(c.pending, m.RequestID)
	p.timer.Stop()
	given := make(map[int]bool, len(m.TransactionList))
	for i, raw := range m.TransactionList {
		t, err := parseTx(raw)
		if err != nil {
			c.fail(p, rejectf(CodeInvalidJob, "transaction_list[%d]: %v", i, err))
			return
		}
		pos, declared := p.byWtxid[t.WTxID]
		switch {
		case t.Coinbase:
			c.fail(p, rejectf(CodeInvalidJob, "transaction_list[%d] is a coinbase", i))
			return
		case !declared:
			c.fail(p, rejectf(CodeInvalidJob, "transaction_list[%d] (wtxid %x) was not declared", i, t.WTxID))
			return
		case given[pos]:
			c.fail(p, rejectf(CodeInvalidJob, "transaction_list[%d] repeats a transaction", i))
			return
		}
		given[pos] = true
		if p.txs[pos] == nil {
			p.txs[pos] = t
			p.provided = append(p.provided, raw)
		}
	}
	for i, t := range p.txs {
		if t == nil {
			c.fail(p, rejectf(CodeMissingTxs, "wtxid_list[%d] (%x) was not provided", i, p.m.WtxidList[i]))
			return
		}
	}
	if tip, ok := c.srv.deps.Node.Tip(); !ok || tip.PrevHash != p.tip.PrevHash {
		c.fail(p, rejectf(CodeStaleChainTip, "the chain tip moved while the transactions were provided"))
		return
	}
	c.propose(p)
}

// propose checks the whole block locally (assemble), then has the node
// check it (BIP23 proposal) on a work goroutine; the answer comes back to
// the owner as finish.
func (c *conn) propose(p *declaration) {
	d, block, r := assemble(p)
	if r != nil {
		c.fail(p, r)
		return
	}
	ctx := c.ctx
	c.work.Go(func() {
		reason, err := c.srv.proposeBlock(ctx, block)
		after, ok := c.srv.deps.Node.Tip()
		moved := !ok || after.PrevHash != p.tip.PrevHash
		c.post(func() { c.finish(p, d, reason, err, moved) })
	})
}

// assemble runs the checks of a whole block that need no node (weight,
// coinbase value against the fees, witness commitment) on a declaration
// whose transactions are all known, and builds its Declaration and the
// block to propose (zero extranonce).
func assemble(p *declaration) (*Declaration, []byte, *reject) {
	weight := 4*80 + 4*len(share.AppendVarInt(nil, uint64(len(p.txs)+1))) + p.cb.Weight()
	fees := int64(0)
	txids := make([][32]byte, len(p.txs))
	raws := make([][]byte, len(p.txs))
	for i, t := range p.txs {
		weight += t.Weight()
		txids[i], raws[i] = t.TxID, t.Raw
		if fees >= 0 && p.fees[i] >= 0 && p.fees[i] <= MaxMoney {
			fees += p.fees[i]
		} else {
			fees = -1
		}
	}
	if weight > MaxBlockWeight {
		return nil, nil, rejectf(CodeInvalidJob, "block weight %d exceeds %d", weight, MaxBlockWeight)
	}
	if fees >= 0 && p.cb.Value > p.tip.Subsidy+fees {
		return nil, nil, rejectf(CodeInvalidJob, "coinbase value %d exceeds subsidy %d + fees %d", p.cb.Value, p.tip.Subsidy, fees)
	}
	if why := checkWitnessCommitment(p.cb, p.txs); why != "" {
		return nil, nil, rejectf(CodeInvalidJob, "%s", why)
	}
	d := &Declaration{
		PrevHash: p.tip.PrevHash, Bits: p.tip.Bits, Height: p.tip.Height, Subsidy: p.tip.Subsidy,
		MinTime: p.tip.MinTime, CurTime: p.tip.CurTime, Version: p.m.Version,
		CoinbaseTxVersion: p.cb.Version, ScriptSig: p.cb.ScriptSig, Sequence: p.cb.Sequence,
		Outputs: p.cb.Outputs, Locktime: p.cb.Locktime, CoinbaseValue: p.cb.Value, Coinbase: p.cb,
		TxIDs: txids, Transactions: raws, MerkleBranch: share.MerkleBranch(txids), Fees: fees,
	}
	block, _, err := d.Block(d.Version, d.CurTime, 0, make([]byte, p.cb.ExtranonceSize))
	if err != nil {
		return nil, nil, rejectf(CodeInternalError, "%v", err)
	}
	return d, block, nil
}

// finish answers a declaration once the node has judged its block.
// error_details always carries the node's reason.
func (c *conn) finish(p *declaration, d *Declaration, reason string, err error, moved bool) {
	switch {
	case err != nil:
		c.fail(p, rejectf(CodeInternalError, "block proposal failed: %v", err))
		return
	case moved:
		if reason == "" {
			reason = "valid"
		}
		c.fail(p, rejectf(CodeStaleChainTip, "the chain tip moved during the block proposal; node: %s", reason))
		return
	case reason != "":
		c.fail(p, &reject{code: ProposalCode(reason), details: reason})
		return
	}
	c.inFlight--
	d.Declared = c.srv.deps.Now()
	tok, err := c.srv.tokens.finishDeclare(c.id, p.m.MiningJobToken, d)
	if err != nil {
		c.replyError(p.m.RequestID, &reject{code: CodeInvalidMiningJobToken, details: err.Error()})
		return
	}
	if len(p.provided) > 0 {
		c.srv.deps.Node.AddTxs(p.provided)
	}
	c.remember(d)
	c.srv.m.declarations.WithLabelValues(resultAccepted).Inc()
	c.log.Debug("jd declaration accepted", zap.Uint32("request_id", p.m.RequestID), zap.Int64("height", d.Height), zap.Int("txs", len(d.TxIDs)))
	c.send(&codec.DeclareMiningJobSuccess{RequestID: p.m.RequestID, NewMiningJobToken: tok})
}

// proposeBlock runs one proposal under the server's proposal limit and
// ProposalTimeout, and times it.
func (s *Server) proposeBlock(ctx context.Context, block []byte) (string, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ProposalTimeout)
	defer cancel()
	select {
	case s.propSem <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for a proposal slot: %w", ctx.Err())
	}
	defer func() { <-s.propSem }()
	reason, err := s.deps.Node.Propose(ctx, block)
	s.m.proposalSecs.Observe(time.Since(start).Seconds())
	return reason, err
}

// shareTarget expands nbits.
func shareTarget(bits uint32) share.Target { return share.TargetFromCompact(bits) }
