//go:build integration

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/adit-pool/adit/pool/internal/regtest"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/jd"
	"github.com/adit-pool/adit/sv2/jdclient"
	"github.com/adit-pool/adit/sv2/keys"
)

// The [jd] timings of TestJDRefusals: short to keep the run bounded, long
// enough for a loaded machine.
const (
	jdTipWait     = 500 * time.Millisecond
	jdMissingWait = time.Second
	jdActiveLife  = 2 * time.Second
)

const (
	// jdExtranonce is the full extranonce of the daemon's extended
	// channels (the pool's 4-byte prefix and StartJDDaemon's 16-byte
	// extranonce_size): every declared job fits one.
	jdExtranonce = 20
	// jdNoBlocks is a block floor no share reaches: the bystander miner's
	// shares never move a tip, so every declaration sees one chain.
	jdNoBlocks = 1e12
	// sharesV2 counts the accepted SV2 shares.
	sharesV2 = `adit_shares_total{protocol="v2",result="accepted"}`
)

// jdWorld is what the JD refusal tests share: P and M (never peered) on one
// tip, aditd on P with its JDS, and coins for transactions no node has seen.
type jdWorld struct {
	d      *JDDaemon
	key    *keys.PublicKey
	p, m   *regtest.Node
	pc, mc *node.Client
	onlyM  *wire.MsgTx // in M's mempool only
	// spendable is a mature coinbase neither chain spends; spent one whose
	// output P's chain (and M's copy) has spent; immature the newest.
	spendable, spent, immature *wire.MsgTx
	user                       string       // of every JD connection and channel
	fee                        atomic.Int64 // the last unseen transaction's fee
}

// startJDWorld starts startJDPair's nodes, spends the height-2 coinbase in
// P's chain and mines until the height-3 one is mature (M copies the
// blocks; its own transaction stays in its mempool), then aditd on P with
// fixed share difficulty, no share a block, and jdExtra in [jd].
func startJDWorld(t *testing.T, jdExtra string) *jdWorld {
	t.Helper()
	ctx := context.Background()
	w := &jdWorld{user: NewTestAccount("jd-refusals").Address + ".jd"}
	w.p, w.m, w.pc, w.mc, w.onlyM = startJDPair(t)
	coinbase := func(h int64) *wire.MsgTx {
		tx, err := w.p.Coinbase(ctx, w.pc, h)
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	w.spent = coinbase(2)
	spend, err := w.p.Spend(w.spent, 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := regtest.Broadcast(ctx, w.pc, spend); err != nil {
		t.Fatal(err)
	}
	if _, err := w.pc.Generate(ctx, 3, ""); err != nil {
		t.Fatal(err)
	}
	CopyChain(t, w.pc, w.mc)
	tip, err := w.pc.GetBlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.spendable, w.immature = coinbase(3), coinbase(tip)
	w.fee.Store(20_000)
	w.d = StartJDDaemon(t, bins, NodeRPC{URL: w.p.RPCURL, User: w.p.User, Password: w.p.Password}, DaemonOptions{
		PayoutAddress: poolAddress,
		Extra: fmt.Sprintf("[vardiff]\nstart = %g\nmin = %g\nmax = %g\n\n[regtest]\nblock_floor_difficulty = %g\n",
			payoutShareDiff, payoutShareDiff, payoutShareDiff, float64(jdNoBlocks)),
	}, jdExtra)
	k, err := keys.ParsePublicKey(w.d.Authority)
	if err != nil {
		t.Fatal(err)
	}
	w.key = &k
	return w
}

// callCtx bounds one request to the daemon.
func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// tokenSource is a JD connection a token can be allocated on.
type tokenSource interface {
	token(t *testing.T) *jdclient.Token
}

// jdConn is a jdclient connection.
type jdConn struct{ *jdclient.Conn }

func (c jdConn) token(t *testing.T) *jdclient.Token {
	t.Helper()
	tok, err := c.AllocateToken(callCtx(t))
	if err != nil {
		t.Fatalf("AllocateMiningJobToken: %v", err)
	}
	return tok
}

// jd dials the JDS as user; the connection closes at t's end.
func (w *jdWorld) jd(t *testing.T, user string) jdConn {
	t.Helper()
	c, err := jdclient.Dial(callCtx(t), w.d.JDAddr, jdclient.Config{Client: client.Config{Authority: w.key}, UserIdentifier: user})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return jdConn{c}
}

// rawJD is a JD connection driven frame by frame, for what jdclient does not
// send: request ids are the test's, and ProvideMissingTransactions is
// answered (or not) by hand.
type rawJD struct {
	peer
	w    *jdWorld
	next uint32 // the last request_id
}

// peer is a frame connection driven message by message (sv2test.Peer
// fails the test that made it; this fails the caller's).
type peer struct{ fc sv2.FrameConn }

// send encodes and writes m.
func (p peer) send(t *testing.T, m codec.Message) {
	t.Helper()
	payload, err := codec.Marshal(m)
	if err == nil {
		err = p.fc.WriteFrame(codec.HeaderFor(m, len(payload)), payload)
	}
	if err != nil {
		t.Fatalf("send %T: %v", m, err)
	}
}

// raw dials addr (the JDS or the mining port) and sets up protocol with
// flags; the connection closes at t's end.
func (w *jdWorld) raw(t *testing.T, addr string, protocol codec.Protocol, flags uint32) peer {
	t.Helper()
	fc, _, err := client.DialSetup(callCtx(t), addr, client.Config{Authority: w.key, Flags: flags}, protocol)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fc.Close() })
	return peer{fc}
}

func (w *jdWorld) rawJD(t *testing.T) *rawJD {
	return &rawJD{peer: w.raw(t, w.d.JDAddr, codec.ProtocolJobDeclaration, jdclient.FlagDeclareTxData), w: w}
}

func (r *rawJD) token(t *testing.T) *jdclient.Token {
	t.Helper()
	r.next++
	r.send(t, &codec.AllocateMiningJobToken{UserIdentifier: r.w.user, RequestID: r.next})
	ok := expect[*codec.AllocateMiningJobTokenSuccess](t, r.peer)
	if ok.RequestID != r.next {
		t.Fatalf("AllocateMiningJobToken.Success for request %d, sent %d", ok.RequestID, r.next)
	}
	return &jdclient.Token{Token: ok.MiningJobToken, Outputs: ok.CoinbaseTxOutputs}
}

// declareUnseen declares a job from M's template plus a transaction no node
// has and returns it, its token and the JDS's ProvideMissingTransactions,
// which must ask for that transaction.
func (r *rawJD) declareUnseen(t *testing.T) (*jdclient.Job, *jdclient.Token, *codec.ProvideMissingTransactions) {
	t.Helper()
	tok := r.token(t)
	j := r.w.build(t, tok.Outputs, jobMod{tpl: withTxs(r.w.unseen(t, r.w.spendable))})
	r.next++
	r.send(t, j.Declare(r.next, tok.Token))
	pmt := expect[*codec.ProvideMissingTransactions](t, r.peer)
	last := uint16(len(j.Txs) - 1)
	if pmt.RequestID != r.next || len(pmt.UnknownTxPositionList) == 0 || pmt.UnknownTxPositionList[len(pmt.UnknownTxPositionList)-1] != last {
		t.Fatalf("ProvideMissingTransactions %+v, want request %d asking for position %d", pmt, r.next, last)
	}
	return j, tok, pmt
}

// provide is the honest answer to pmt for j.
func provide(pmt *codec.ProvideMissingTransactions, j *jdclient.Job) *codec.ProvideMissingTransactionsSuccess {
	txs := make([][]byte, len(pmt.UnknownTxPositionList))
	for i, pos := range pmt.UnknownTxPositionList {
		txs[i] = j.Txs[pos]
	}
	return &codec.ProvideMissingTransactionsSuccess{RequestID: pmt.RequestID, TransactionList: txs}
}

// poolPushes are the messages a mining connection gets unasked; expect
// skips them.
var poolPushes = map[codec.MsgType]bool{codec.TypeNewExtendedMiningJob: true, codec.TypeNewMiningJob: true,
	codec.TypeSetNewPrevHash: true, codec.TypeSetTarget: true, codec.TypeSetExtranoncePrefix: true}

// expect reads p's next message but the pool's pushes, within 15 s, and
// fails unless it is a T.
func expect[T codec.Message](t *testing.T, p peer) T {
	t.Helper()
	for {
		p.fc.SetReadDeadline(time.Now().Add(15 * time.Second))
		h, payload, err := p.fc.ReadFrame()
		var m codec.Message
		if err == nil {
			m, err = codec.DecodeMessage(h, payload)
		}
		if err != nil {
			var want T
			t.Fatalf("waiting for %T: %v", want, err)
		}
		if poolPushes[m.MsgType()] {
			continue
		}
		v, ok := m.(T)
		if !ok {
			t.Fatalf("got %T %+v, want %T", m, m, v)
		}
		return v
	}
}

// miningConn is a work-selection mining connection and its extended
// channel.
type miningConn struct {
	c  *client.Client
	ch *client.Channel
}

// mining connects to the mining port with REQUIRES_WORK_SELECTION (as a
// JDC does), opens an extended channel for user and drains the pool's
// work; it closes at t's end.
func (w *jdWorld) mining(t *testing.T, user string) miningConn {
	t.Helper()
	c, err := client.Dial(callCtx(t), w.d.SV2Addr, client.Config{Authority: w.key,
		Flags: sv2.FlagRequiresWorkSelection | sv2.FlagRequiresVersionRolling})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		for {
			select {
			case <-c.Work():
			case <-c.Done():
				return
			}
		}
	}()
	ch, err := c.OpenExtended(callCtx(t), user, 1e6, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ch.ExtranoncePrefix) + ch.ExtranonceSize; n != jdExtranonce {
		t.Fatalf("extended channel with a %d-byte extranonce, the tests declare %d", n, jdExtranonce)
	}
	return miningConn{c, ch}
}

// set sends j's SetCustomMiningJob with token on the channel, changed by
// change (when not nil).
func (mc miningConn) set(t *testing.T, j *jdclient.Job, token []byte, change func(*codec.SetCustomMiningJob)) (*client.Work, error) {
	t.Helper()
	m := j.CustomJob(mc.ch.ID, token)
	if change != nil {
		change(m)
	}
	return mc.c.SetCustomMiningJob(callCtx(t), m)
}

// jobMod changes a declaration: the template it is built from, the pool's
// outputs, or the built job.
type jobMod struct {
	tpl    func(*node.Template)
	outs   func([]byte) []byte
	job    func(*jdclient.Job)
	enSize int // the declared extranonce area; 0: jdExtranonce, the channel's
}

// build lays out a job for the pool's outputs from M's current template,
// changed by mod.
func (w *jdWorld) build(t *testing.T, outputs []byte, mod jobMod) *jdclient.Job {
	t.Helper()
	tpl, err := w.mc.GetBlockTemplate(callCtx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if mod.tpl != nil {
		mod.tpl(tpl)
	}
	if mod.outs != nil {
		outputs = mod.outs(outputs)
	}
	enSize := jdExtranonce
	if mod.enSize != 0 {
		enSize = mod.enSize
	}
	j, err := jdclient.Build(tpl.Declarable(), outputs, jdclient.BuildConfig{Tag: "/jd-refusals/", ExtranonceSize: enSize}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if mod.job != nil {
		mod.job(j)
	}
	return j
}

// declare declares a job from M's template with tok on c and returns it
// with the active token of DeclareMiningJob.Success.
func (w *jdWorld) declare(t *testing.T, c jdConn, tok *jdclient.Token) (*jdclient.Job, []byte) {
	t.Helper()
	j := w.build(t, tok.Outputs, jobMod{})
	active, err := c.Declare(callCtx(t), j, tok.Token)
	if err != nil {
		t.Fatalf("Declare: %v", err)
	}
	return j, active
}

// unseen returns a signed spend of prev's output 0 with a fee no other
// transaction of the test has: a transaction no node or mirror has seen.
func (w *jdWorld) unseen(t *testing.T, prev *wire.MsgTx) *wire.MsgTx {
	t.Helper()
	tx, err := w.m.Spend(prev, 0, w.fee.Add(1000))
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// serialize is tx's full (witness) serialization.
func serialize(t *testing.T, tx *wire.MsgTx) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withTxs appends txs to a template after its own (their fees left out of
// the coinbase value; the witness commitment left to Build).
func withTxs(txs ...*wire.MsgTx) func(*node.Template) {
	return func(tpl *node.Template) {
		for _, tx := range txs {
			var b bytes.Buffer
			tx.Serialize(&b) // a bytes.Buffer takes every write
			tpl.Transactions = append(tpl.Transactions, node.TemplateTx{Data: b.Bytes(), TxID: tx.TxHash(),
				WTxID: tx.WitnessHash(), HasWitness: tx.HasWitness()})
		}
		tpl.WitnessCommitment = nil
	}
}

// rewriteOutputs changes a CompactSize-prefixed output list through f.
func rewriteOutputs(f func([]share.TxOut)) func([]byte) []byte {
	return func(b []byte) []byte {
		outs, err := share.ParseOutputs(b)
		if err != nil {
			panic(err)
		}
		f(outs)
		return share.AppendOutputs(nil, outs)
	}
}

// prefixByte sets byte i of the declared coinbase prefix (4 bytes of
// version, marker 0 and flag 1, the input count at 6, the outpoint at 7).
func prefixByte(i int, v byte) func(*jdclient.Job) {
	return func(j *jdclient.Job) {
		j.DeclarePrefix = bytes.Clone(j.DeclarePrefix)
		j.DeclarePrefix[i] = v
	}
}

// longScriptSig pads the declared scriptSig (before the extranonce push)
// to one byte over the consensus limit.
func longScriptSig(j *jdclient.Job) {
	const lenAt = 4 + 2 + 1 + 36 // version, marker and flag, input count, outpoint
	p := j.DeclarePrefix
	n := jd.MaxScriptSig + 1 - int(p[lenAt])
	out := append(bytes.Clone(p[:lenAt]), p[lenAt]+byte(n))
	out = append(out, p[lenAt+1:len(p)-1]...)
	out = append(out, bytes.Repeat([]byte{0x61}, n)...) // OP_NOP
	j.DeclarePrefix = append(out, p[len(p)-1])
}

// refusedWith checks an error reply: its code, and that error_details say
// why (Adit always does; SRI sends none).
func refusedWith(t *testing.T, code, want string, details []byte) {
	t.Helper()
	if code != want {
		t.Fatalf("refused with %q (%s), want %q", code, details, want)
	}
	if len(details) == 0 {
		t.Errorf("%s without error_details", code)
	}
	t.Logf("%s: %s", code, details)
}

// declareRefused checks that a jdclient Declare got DeclareMiningJob.Error
// code and returns its details.
func declareRefused(t *testing.T, err error, code string) string {
	t.Helper()
	var de *jdclient.DeclareError
	if !errors.As(err, &de) {
		t.Fatalf("Declare: %v, want DeclareMiningJob.Error %s", err, code)
	}
	refusedWith(t, de.Code, code, de.Details)
	return string(de.Details)
}

// customRefused checks that SetCustomMiningJob got
// SetCustomMiningJob.Error code.
func customRefused(t *testing.T, err error, code string) {
	t.Helper()
	var ce *client.CustomJobError
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("SetCustomMiningJob: %v, want SetCustomMiningJob.Error %s", err, code)
	}
}

// closeJD closes a JD connection and waits until the JDS has dropped it
// and its tokens (it counts disconnects: no other JD connection may be
// closing meanwhile).
func (w *jdWorld) closeJD(t *testing.T, c interface{ Close() error }) {
	t.Helper()
	const closed = `adit_jd_disconnects_total{reason="client_closed"}`
	before := w.d.Metric(closed)
	c.Close()
	Eventually(t, 10*time.Second, "the JDS dropped the closed connection", func() bool {
		return w.d.Metric(closed) > before
	})
}

// check runs f as subtest name, then checks that conn still serves (a
// token is allocated on it) and the bystander miner's shares are still
// accepted.
func (w *jdWorld) check(t *testing.T, name string, conn tokenSource, f func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		before := w.d.Metric(sharesV2)
		f(t)
		if t.Failed() {
			return
		}
		conn.token(t)
		Eventually(t, 20*time.Second, "the bystander miner's shares accepted", func() bool {
			return w.d.Metric(sharesV2) > before
		})
	})
}

// TestJDRefusals drives the JDS and the mining port of a real aditd over
// Noise with every bad case of SV2-JD.md §7 (items 4-11, 14): each gets its
// exact error code, the connection it came on keeps serving, and a
// bystander adit-miner -jd on M keeps mining declared jobs with its shares
// accepted, never falling back. One daemon and node pair serve all cases.
func TestJDRefusals(t *testing.T) {
	start := time.Now()
	w := startJDWorld(t, fmt.Sprintf("tip_wait = %q\nmissing_txs_timeout = %q\nactive_token_lifetime = %q\n",
		jdTipWait, jdMissingWait, jdActiveLife))
	miner := Start(t, "adit-miner -jd", bins.Miner, []string{"ADIT_NODE_PASS=" + w.m.Password},
		append(w.d.JDMinerArgs(w.m, NewTestAccount("jd-bystander").Address+".jd", minerAddress1),
			"-jd-block-floor", fmt.Sprint(float64(jdNoBlocks)), "-threads", "1", "-share-rate", "5")...)
	Eventually(t, 30*time.Second, "the bystander miner's declared shares accepted", func() bool {
		return w.d.Metric(`adit_jd_custom_jobs_total{result="accepted"}`) >= 1 && w.d.Metric(sharesV2) >= 1
	})
	t.Logf("set up in %v", time.Since(start).Round(time.Millisecond))

	t.Run("declare", w.declareCases)
	t.Run("missing transactions", w.missingTxCases)
	t.Run("custom job", w.customJobCases)
	t.Run("channels", w.channelCases)
	t.Run("isolation", w.isolationCases)

	stopMiner(t, miner)
	s, err := ParseFleetSummary(miner.Output())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bystander miner: %d shares accepted, %d declared jobs", s.Accepted, s.DeclaredJobs.Accepted)
	if s.Mode != "pool" || s.Fallbacks != 0 || len(s.DeclaredJobs.Rejected) != 0 {
		t.Errorf("bystander miner: mode %q, %d fallbacks, declarations refused %v", s.Mode, s.Fallbacks, s.DeclaredJobs.Rejected)
	}
	if n := w.d.Metric("adit_jd_session_panics_total"); n != 0 {
		t.Errorf("%v JD connections panicked", n)
	}
	t.Logf("done in %v", time.Since(start).Round(time.Millisecond))
}

// declareCases: DeclareMiningJob refusals (§7 items 5-9), each on a
// connection of its own.
func (w *jdWorld) declareCases(t *testing.T) {
	// Transactions the pool's node must refuse: a double spend of an
	// output P's chain spent, a spend of an output that never existed, a
	// bad signature, a spend of an immature coinbase.
	nowhere := wire.NewMsgTx(2)
	nowhere.AddTxOut(wire.NewTxOut(50_000_000, w.m.MiningScript))
	badSig := w.unseen(t, w.spendable)
	badSig.TxIn[0].Witness[0][10] ^= 1
	// A transaction of a million bytes, no witness: 4M weight units alone.
	huge := wire.NewMsgTx(2)
	huge.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{1}, 0), nil, nil))
	huge.AddTxOut(wire.NewTxOut(0, append([]byte{txscript.OP_RETURN}, make([]byte, jd.MaxBlockWeight/4)...)))
	cases := []struct {
		name string
		mod  jobMod
		// token, when set, replaces the token allocated on c.
		token func(t *testing.T, c jdConn) []byte
		code  string
		// reason, when set, is the node's reason error_details must hold.
		reason string
		held   bool // waits tip_wait for the pool's tip first
	}{
		{name: "payout to another script", code: jd.CodeInvalidCoinbaseTx,
			mod: jobMod{outs: rewriteOutputs(func(o []share.TxOut) { o[0].Script = w.m.MiningScript })}},
		{name: "payout below the subsidy", code: jd.CodeInvalidCoinbaseTx,
			mod: jobMod{tpl: func(tpl *node.Template) { tpl.CoinbaseValue = 1000 }}},
		{name: "coinbase value above subsidy and fees", code: jd.CodeInvalidJob, reason: "bad-cb-value",
			mod: jobMod{tpl: func(tpl *node.Template) { tpl.CoinbaseValue++ }}},
		{name: "height of the previous tip", code: jd.CodeStaleChainTip,
			mod: jobMod{tpl: func(tpl *node.Template) { tpl.Height-- }}},
		{name: "height past the pool's tip", code: jd.CodeStaleChainTip, held: true,
			mod: jobMod{tpl: func(tpl *node.Template) { tpl.Height++ }}},
		{name: "double spend", code: jd.CodeInvalidJob, reason: "bad-txns-missinginput", mod: jobMod{tpl: withTxs(w.unseen(t, w.spent))}},
		{name: "missing input", code: jd.CodeInvalidJob, reason: "bad-txns-missinginput", mod: jobMod{tpl: withTxs(w.unseen(t, nowhere))}},
		{name: "bad signature", code: jd.CodeInvalidJob, reason: "bad-script-validate", mod: jobMod{tpl: withTxs(badSig)}},
		{name: "immature coinbase spend", code: jd.CodeInvalidJob, reason: "bad-txns-maturity", mod: jobMod{tpl: withTxs(w.unseen(t, w.immature))}},
		{name: "block over 4M weight units", code: jd.CodeInvalidJob, mod: jobMod{tpl: withTxs(huge)}},
		{name: "repeated wtxid", code: jd.CodeInvalidJob,
			mod: jobMod{job: func(j *jdclient.Job) { j.Wtxids = append(j.Wtxids, j.Wtxids[0]) }}},
		{name: "more wtxids than a block holds", code: jd.CodeInvalidJob,
			mod: jobMod{job: func(j *jdclient.Job) {
				for i := len(j.Wtxids); i <= jd.DefaultMaxWtxids; i++ {
					j.Wtxids = append(j.Wtxids, codec.U256{byte(i), byte(i >> 8), 0xee})
				}
			}}},
		{name: "scriptSig over 100 bytes", code: jd.CodeInvalidJob, mod: jobMod{job: longScriptSig}},
		{name: "two inputs", code: jd.CodeInvalidCoinbaseTxInput, mod: jobMod{job: prefixByte(6, 2)}},
		{name: "no input", code: jd.CodeInvalidCoinbaseTxInput, mod: jobMod{job: prefixByte(5, 0)}},
		{name: "not a coinbase", code: jd.CodeInvalidCoinbaseTx, mod: jobMod{job: prefixByte(7, 1)}},
		{name: "unparsable prefix", code: jd.CodeInvalidCoinbaseTx,
			mod: jobMod{job: func(j *jdclient.Job) { j.DeclarePrefix = j.DeclarePrefix[:20] }}},
		{name: "malformed token", code: jd.CodeInvalidMiningJobToken,
			token: func(*testing.T, jdConn) []byte { return []byte{1, 2, 3} }},
		{name: "never allocated token", code: jd.CodeInvalidMiningJobToken,
			token: func(*testing.T, jdConn) []byte { return bytes.Repeat([]byte{0x5a}, jd.TokenSize) }},
		{name: "token of another connection", code: jd.CodeInvalidMiningJobToken,
			token: func(t *testing.T, _ jdConn) []byte { return w.jd(t, w.user).token(t).Token }},
		{name: "token already declared", code: jd.CodeInvalidMiningJobToken,
			token: func(t *testing.T, c jdConn) []byte {
				tok := c.token(t)
				w.declare(t, c, tok)
				return tok.Token
			}},
		{name: "token of a refused declaration", code: jd.CodeInvalidMiningJobToken,
			token: func(t *testing.T, c jdConn) []byte {
				tok := c.token(t)
				j := w.build(t, tok.Outputs, jobMod{tpl: func(tpl *node.Template) { tpl.Height-- }})
				_, err := c.Declare(callCtx(t), j, tok.Token)
				declareRefused(t, err, jd.CodeStaleChainTip)
				return tok.Token
			}},
		{name: "active token", code: jd.CodeInvalidMiningJobToken,
			token: func(t *testing.T, c jdConn) []byte { _, active := w.declare(t, c, c.token(t)); return active }},
	}
	for _, tc := range cases {
		c := w.jd(t, w.user)
		w.check(t, tc.name, c, func(t *testing.T) {
			tok := c.token(t)
			if tc.token != nil {
				tok.Token = tc.token(t, c)
			}
			j := w.build(t, tok.Outputs, tc.mod)
			waits := w.d.Metric("adit_jd_tip_waits_total")
			sent := time.Now()
			_, err := c.Declare(callCtx(t), j, tok.Token)
			took := time.Since(sent)
			if details := declareRefused(t, err, tc.code); !strings.Contains(details, tc.reason) {
				t.Errorf("error_details %q lack the node's reason %q", details, tc.reason)
			}
			held := w.d.Metric("adit_jd_tip_waits_total") - waits
			switch {
			case tc.held && (held != 1 || took < jdTipWait):
				t.Errorf("refused after %v with %v tip waits, want one wait of %v", took, held, jdTipWait)
			case !tc.held && held != 0:
				t.Errorf("%v tip waits, want the refusal at once", held)
			}
		})
	}
}

// missingTxCases: ProvideMissingTransactions answered badly or not at all
// (§7 item 4), on one raw connection; SetCustomMiningJob while the
// declaration waits.
func (w *jdWorld) missingTxCases(t *testing.T) {
	r := w.rawJD(t)
	for _, tc := range []struct {
		name string
		// answer is the transaction_list sent; nil: no answer at all.
		answer func(t *testing.T, pmt *codec.ProvideMissingTransactions, j *jdclient.Job) [][]byte
		code   string
	}{
		{"answer without the transaction", func(*testing.T, *codec.ProvideMissingTransactions, *jdclient.Job) [][]byte {
			return [][]byte{}
		}, jd.CodeMissingTxs},
		{"no answer", nil, jd.CodeMissingTxs},
		{"an undeclared transaction", func(t *testing.T, _ *codec.ProvideMissingTransactions, _ *jdclient.Job) [][]byte {
			return [][]byte{serialize(t, w.unseen(t, w.spendable))}
		}, jd.CodeInvalidJob},
		{"the transaction twice", func(_ *testing.T, pmt *codec.ProvideMissingTransactions, j *jdclient.Job) [][]byte {
			tx := j.Txs[pmt.UnknownTxPositionList[0]]
			return [][]byte{tx, tx}
		}, jd.CodeInvalidJob},
		{"a coinbase", func(t *testing.T, _ *codec.ProvideMissingTransactions, _ *jdclient.Job) [][]byte {
			return [][]byte{serialize(t, w.spendable)}
		}, jd.CodeInvalidJob},
	} {
		w.check(t, tc.name, r, func(t *testing.T) {
			j, _, pmt := r.declareUnseen(t)
			if tc.answer != nil {
				r.send(t, &codec.ProvideMissingTransactionsSuccess{RequestID: pmt.RequestID, TransactionList: tc.answer(t, pmt, j)})
			}
			e := expect[*codec.DeclareMiningJobError](t, r.peer)
			if e.RequestID != pmt.RequestID {
				t.Fatalf("DeclareMiningJob.Error for request %d, want %d", e.RequestID, pmt.RequestID)
			}
			refusedWith(t, e.ErrorCode, tc.code, e.ErrorDetails)
		})
	}
	// The reply to nothing is dropped: the next message on the connection
	// answers the allocation check makes.
	w.check(t, "answer to an unknown request_id", r, func(t *testing.T) {
		r.send(t, &codec.ProvideMissingTransactionsSuccess{RequestID: 0xbeef, TransactionList: [][]byte{serialize(t, w.unseen(t, w.spendable))}})
	})
	// The allocated token of a declaration still being checked: the attempt
	// burns it, so the declaration ends refused once answered.
	w.check(t, "SetCustomMiningJob while the transactions are missing", r, func(t *testing.T) {
		j, tok, pmt := r.declareUnseen(t)
		_, err := w.mining(t, w.user).set(t, j, tok.Token, nil)
		customRefused(t, err, jd.CodeJobNotYetValidated)
		r.send(t, provide(pmt, j))
		e := expect[*codec.DeclareMiningJobError](t, r.peer)
		refusedWith(t, e.ErrorCode, jd.CodeInvalidMiningJobToken, e.ErrorDetails)
	})
}

// customJobCases: SetCustomMiningJob refusals (§7 items 6, 8, 10): every
// field differing from the declaration, each with jd.CheckCustomJob's
// code, alone and with every later field (the §1.6 order), and token
// misuse; then a custom job accepted on the same channel.
func (w *jdWorld) customJobCases(t *testing.T) {
	mc, other := w.mining(t, w.user), w.mining(t, w.user)
	// consumed is a declaration whose token a SetCustomMiningJob used.
	consumed := func(t *testing.T, c jdConn) (*jdclient.Job, []byte) {
		j, active := w.declare(t, c, c.token(t))
		if _, err := mc.set(t, j, active, nil); err != nil {
			t.Fatal(err)
		}
		return j, active
	}
	// fields are the fields CheckCustomJob compares, in its (§1.6) order,
	// each changed from the declaration, with the code it gets.
	fields := []struct {
		name, code string
		change     func(*codec.SetCustomMiningJob)
	}{
		{name: "prev hash", code: jd.CodeStaleChainTip, change: func(m *codec.SetCustomMiningJob) { m.PrevHash[0] ^= 1 }},
		{name: "nbits", code: jd.CodeInvalidNBits, change: func(m *codec.SetCustomMiningJob) { m.NBits-- }},
		{name: "version", code: jd.CodeInvalidVersion, change: func(m *codec.SetCustomMiningJob) { m.Version ^= 1 << 28 }},
		{name: "coinbase tx version", code: jd.CodeInvalidCoinbaseTxVersion, change: func(m *codec.SetCustomMiningJob) { m.CoinbaseTxVersion = 1 }},
		{name: "coinbase prefix", code: jd.CodeInvalidCoinbasePrefix, change: func(m *codec.SetCustomMiningJob) {
			m.CoinbasePrefix = bytes.Clone(m.CoinbasePrefix)
			m.CoinbasePrefix[len(m.CoinbasePrefix)-2] ^= 1 // the tag's last byte
		}},
		{name: "nSequence", code: jd.CodeInvalidCoinbaseTxInputNSequence, change: func(m *codec.SetCustomMiningJob) { m.CoinbaseTxInputNSequence-- }},
		{name: "outputs underpay the pool", code: jd.CodeInvalidCoinbaseTxOutputs, change: func(m *codec.SetCustomMiningJob) {
			m.CoinbaseTxOutputs = rewriteOutputs(func(o []share.TxOut) { o[0].Value-- })(m.CoinbaseTxOutputs)
		}},
		{name: "outputs pay another script", code: jd.CodeInvalidCoinbaseTxOutputs, change: func(m *codec.SetCustomMiningJob) {
			m.CoinbaseTxOutputs = rewriteOutputs(func(o []share.TxOut) { o[0].Script = w.m.MiningScript })(m.CoinbaseTxOutputs)
		}},
		{name: "outputs reordered", code: jd.CodeInvalidCoinbaseTxOutputs, change: func(m *codec.SetCustomMiningJob) {
			m.CoinbaseTxOutputs = rewriteOutputs(func(o []share.TxOut) { o[0], o[1] = o[1], o[0] })(m.CoinbaseTxOutputs)
		}},
		{name: "locktime", code: jd.CodeInvalidCoinbaseTxLocktime, change: func(m *codec.SetCustomMiningJob) { m.CoinbaseTxLocktime = 1 }},
		{name: "merkle path", code: jd.CodeInvalidMerklePath, change: func(m *codec.SetCustomMiningJob) {
			m.MerklePath = append(append([][32]byte(nil), m.MerklePath...), [32]byte{1})
		}},
	}
	type customCase struct {
		name string
		// token, when set, gives the job and token instead of a fresh
		// declaration on c.
		token  func(t *testing.T, c jdConn) (*jdclient.Job, []byte)
		on     *miningConn // nil: mc
		change func(*codec.SetCustomMiningJob)
		code   string
	}
	var cases []customCase
	for _, f := range fields {
		cases = append(cases, customCase{name: f.name, code: f.code, change: f.change})
	}
	// The order: with this field and every later one changed, this
	// field's code wins.
	for i, f := range fields[:len(fields)-1] {
		cases = append(cases, customCase{name: f.name + " and every later field", code: f.code, change: func(m *codec.SetCustomMiningJob) {
			for _, later := range fields[i:] {
				later.change(m)
			}
		}})
	}
	cases = append(cases, []customCase{
		{name: "allocated token", code: jd.CodeInvalidMiningJobToken, token: func(t *testing.T, c jdConn) (*jdclient.Job, []byte) {
			tok := c.token(t)
			return w.build(t, tok.Outputs, jobMod{}), tok.Token
		}},
		{name: "consumed token", code: jd.CodeInvalidMiningJobToken, token: consumed},
		{name: "declared for another extranonce size", code: jd.CodeInvalidCoinbasePrefix, token: func(t *testing.T, c jdConn) (*jdclient.Job, []byte) {
			tok := c.token(t)
			j := w.build(t, tok.Outputs, jobMod{enSize: jdExtranonce - 4})
			active, err := c.Declare(callCtx(t), j, tok.Token)
			if err != nil {
				t.Fatalf("Declare: %v", err)
			}
			return j, active
		}},
		{name: "token of a refused custom job", code: jd.CodeInvalidMiningJobToken, token: func(t *testing.T, c jdConn) (*jdclient.Job, []byte) {
			j, active := w.declare(t, c, c.token(t))
			_, err := mc.set(t, j, active, func(m *codec.SetCustomMiningJob) { m.CoinbaseTxLocktime = 1 })
			customRefused(t, err, jd.CodeInvalidCoinbaseTxLocktime)
			return j, active
		}},
		{name: "consumed token on another connection", code: jd.CodeInvalidMiningJobToken, token: consumed, on: &other},
		{name: "expired token", code: jd.CodeInvalidMiningJobToken, token: func(t *testing.T, c jdConn) (*jdclient.Job, []byte) {
			j, active := w.declare(t, c, c.token(t))
			time.Sleep(jdActiveLife + time.Second) // the token's lifetime, not a poll
			return j, active
		}},
		{name: "token of a closed connection", code: jd.CodeInvalidMiningJobToken, token: func(t *testing.T, _ jdConn) (*jdclient.Job, []byte) {
			c := w.jd(t, w.user)
			j, active := w.declare(t, c, c.token(t))
			w.closeJD(t, c)
			return j, active
		}},
		{name: "token of another user", code: jd.CodeInvalidMiningJobToken, token: func(t *testing.T, _ jdConn) (*jdclient.Job, []byte) {
			c := w.jd(t, NewTestAccount("jd-other-user").Address+".jd")
			return w.declare(t, c, c.token(t))
		}},
	}...)
	for _, tc := range cases {
		c := w.jd(t, w.user)
		w.check(t, tc.name, c, func(t *testing.T) {
			var j *jdclient.Job
			var token []byte
			if tc.token != nil {
				j, token = tc.token(t, c)
			} else {
				j, token = w.declare(t, c, c.token(t))
			}
			on := mc
			if tc.on != nil {
				on = *tc.on
			}
			_, err := on.set(t, j, token, tc.change)
			customRefused(t, err, tc.code)
		})
	}
	c := w.jd(t, w.user)
	w.check(t, "a declared job after the refusals", c, func(t *testing.T) {
		j, active := w.declare(t, c, c.token(t))
		work, err := mc.set(t, j, active, nil)
		if err != nil || !work.Custom {
			t.Fatalf("SetCustomMiningJob: %+v, %v", work, err)
		}
	})
}

// channelCases: SetCustomMiningJob on a channel the connection does not
// have, and a standard channel on a work-selection connection (§7 items
// 10, 11), on one raw mining connection, which then opens an extended
// channel and has a custom job accepted.
func (w *jdWorld) channelCases(t *testing.T) {
	r := w.raw(t, w.d.SV2Addr, codec.ProtocolMining, sv2.FlagRequiresWorkSelection|sv2.FlagRequiresVersionRolling)
	c := w.jd(t, w.user)
	var anyTarget codec.U256
	for i := range anyTarget {
		anyTarget[i] = 0xff
	}
	w.check(t, "unknown channel", c, func(t *testing.T) {
		j, active := w.declare(t, c, c.token(t))
		m := j.CustomJob(0xdead, active)
		m.RequestID = 1
		r.send(t, m)
		e := expect[*codec.SetCustomMiningJobError](t, r)
		if e.ChannelID != 0xdead || e.RequestID != 1 || e.ErrorCode != sv2.CodeInvalidChannelID {
			t.Fatalf("SetCustomMiningJob.Error %+v, want channel 0xdead request 1 %s", e, sv2.CodeInvalidChannelID)
		}
	})
	w.check(t, "standard channel", c, func(t *testing.T) {
		r.send(t, &codec.OpenStandardMiningChannel{RequestID: 2, UserIdentity: w.user, NominalHashRate: 1e6, MaxTarget: anyTarget})
		e := expect[*codec.OpenMiningChannelError](t, r)
		if e.RequestID != 2 || e.ErrorCode != sv2.CodeStandardChannelsNotSupportedForCustomWork {
			t.Fatalf("OpenMiningChannel.Error %+v, want request 2 %s", e, sv2.CodeStandardChannelsNotSupportedForCustomWork)
		}
	})
	w.check(t, "an extended channel after the refusals", c, func(t *testing.T) {
		r.send(t, &codec.OpenExtendedMiningChannel{RequestID: 3, UserIdentity: w.user, NominalHashRate: 1e6, MaxTarget: anyTarget})
		ok := expect[*codec.OpenExtendedMiningChannelSuccess](t, r)
		j, active := w.declare(t, c, c.token(t))
		m := j.CustomJob(ok.ChannelID, active)
		m.RequestID = 4
		r.send(t, m)
		if s := expect[*codec.SetCustomMiningJobSuccess](t, r); s.RequestID != 4 || s.ChannelID != ok.ChannelID {
			t.Fatalf("SetCustomMiningJob.Success %+v, want request 4 on channel %d", s, ok.ChannelID)
		}
	})
}

// isolationCases: JD connections do not disturb each other (§7 item 14):
// the same request_ids on two connections, a connection closed while its
// declaration waits for transactions, a PushSolution meanwhile.
func (w *jdWorld) isolationCases(t *testing.T) {
	a, b := w.rawJD(t), w.rawJD(t)
	w.check(t, "same request_id on two connections", a, func(t *testing.T) {
		ja, _, pa := a.declareUnseen(t)
		jb, _, pb := b.declareUnseen(t)
		if pa.RequestID != pb.RequestID {
			t.Fatalf("request ids %d and %d, the case wants them equal", pa.RequestID, pb.RequestID)
		}
		a.send(t, provide(pa, ja))
		b.send(t, provide(pb, jb))
		sa, sb := expect[*codec.DeclareMiningJobSuccess](t, a.peer), expect[*codec.DeclareMiningJobSuccess](t, b.peer)
		if sa.RequestID != pa.RequestID || sb.RequestID != pb.RequestID || bytes.Equal(sa.NewMiningJobToken, sb.NewMiningJobToken) {
			t.Fatalf("DeclareMiningJob.Success %+v and %+v", sa, sb)
		}
	})
	w.check(t, "connection closed during ProvideMissingTransactions", a, func(t *testing.T) {
		gone := w.rawJD(t)
		gone.declareUnseen(t)
		w.closeJD(t, gone.fc)
		j, _, pmt := a.declareUnseen(t)
		a.send(t, provide(pmt, j))
		expect[*codec.DeclareMiningJobSuccess](t, a.peer)
	})
	w.check(t, "PushSolution during ProvideMissingTransactions", a, func(t *testing.T) {
		unmatched := w.d.Metric(`adit_jd_solutions_total{result="no_match"}`)
		j, _, pmt := a.declareUnseen(t)
		// On no tip: at regtest difficulty a solution for an accepted
		// declaration is found by chance.
		a.send(t, &codec.PushSolution{Extranonce: make([]byte, jdExtranonce), NTime: j.MinNTime, NBits: j.NBits, Version: j.Version})
		a.send(t, provide(pmt, j))
		expect[*codec.DeclareMiningJobSuccess](t, a.peer)
		Eventually(t, 10*time.Second, "the solution counted as matching nothing", func() bool {
			return w.d.Metric(`adit_jd_solutions_total{result="no_match"}`) == unmatched+1
		})
	})
}

// TestJDPushSolution: a job declared from M's template (the JDS asks for
// the transaction only M has), solved here and sent only as PushSolution
// on the JD connection (no mining channel, nothing submitted to M) becomes
// P's best block, with that transaction; M never has it. A declaration
// waiting for its transactions meanwhile is refused stale-chain-tip once
// answered (§7 item 7), on a connection that keeps serving.
func TestJDPushSolution(t *testing.T) {
	w := startJDWorld(t, "")
	c := w.jd(t, w.user)
	tok := c.token(t)
	j := w.build(t, tok.Outputs, jobMod{})
	if _, err := c.Declare(callCtx(t), j, tok.Token); err != nil {
		t.Fatalf("Declare: %v", err)
	}
	if c.Provided() == 0 {
		t.Fatal("the JDS did not ask for M's transaction")
	}
	mBest, err := w.mc.GetBestBlockHash(callCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	// Another declaration waits for its transactions when the block lands.
	waiting := w.rawJD(t)
	wj, _, pmt := waiting.declareUnseen(t)
	en := bytes.Repeat([]byte{0x5c}, jdExtranonce)
	var blk wire.MsgBlock
	if err := blk.Deserialize(bytes.NewReader(solve(t, j, en))); err != nil {
		t.Fatal(err)
	}
	h := blk.Header
	if err := c.PushSolution(&codec.PushSolution{Extranonce: en, PrevHash: j.PrevHash, Nonce: h.Nonce,
		NTime: uint32(h.Timestamp.Unix()), NBits: h.Bits, Version: uint32(h.Version)}); err != nil {
		t.Fatal(err)
	}
	hash := h.BlockHash()
	Eventually(t, 20*time.Second, "the pushed block is P's best", func() bool {
		best, err := w.pc.GetBestBlockHash(context.Background())
		return err == nil && best == hash
	})
	waiting.send(t, provide(pmt, wj))
	e := expect[*codec.DeclareMiningJobError](t, waiting.peer)
	refusedWith(t, e.ErrorCode, jd.CodeStaleChainTip, e.ErrorDetails)
	waiting.token(t)
	if in := txBlock(t, w.pc, w.onlyM.TxHash()); in != hash.String() {
		t.Errorf("M's transaction is in block %q of P, want the pushed %v", in, hash)
	}
	if n := w.d.Metric(`adit_jd_solutions_total{result="accepted"}`); n != 1 {
		t.Errorf("adit_jd_solutions_total{result=\"accepted\"} = %v, want 1", n)
	}
	if best, err := w.mc.GetBestBlockHash(callCtx(t)); err != nil || best != mBest {
		t.Errorf("M's best block moved to %v (%v)", best, err)
	}
	if _, err := w.mc.GetBlock(callCtx(t), hash); err == nil {
		t.Error("M has the pushed block")
	}
}
