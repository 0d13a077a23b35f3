package jdclient_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/jdclient"
	"github.com/adit-pool/adit/sv2/sv2test"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// jds is a minimal scripted Job Declaration Server over plaintext frames.
type jds struct {
	t  *testing.T
	ln net.Listener
	fc sv2.FrameConn
	*sv2test.Peer
}

func newJDS(t *testing.T) *jds {
	t.Helper()
	return &jds{t: t, ln: sv2test.Listen(t)}
}

func (s *jds) read() codec.Message  { s.t.Helper(); return s.Read() }
func (s *jds) send(m codec.Message) { s.t.Helper(); s.Send(m) }

// dial connects a Conn and checks its SetupConnection.
func (s *jds) dial() *jdclient.Conn {
	s.t.Helper()
	type res struct {
		c   *jdclient.Conn
		err error
	}
	out := make(chan res, 1)
	go func() {
		c, err := jdclient.Dial(context.Background(), s.ln.Addr().String(), jdclient.Config{
			Client: client.Config{Plaintext: true, Timeout: 5 * time.Second}, UserIdentifier: "miner1"})
		out <- res{c, err}
	}()
	s.Peer = sv2test.Accept(s.t, s.ln)
	s.fc = s.FC
	setup, ok := s.read().(*codec.SetupConnection)
	if !ok || setup.Protocol != 1 || setup.Flags != jdclient.FlagDeclareTxData || setup.MinVersion != 2 {
		s.t.Fatalf("setup %+v", setup)
	}
	s.send(&codec.SetupConnectionSuccess{UsedVersion: 2})
	r := <-out
	if r.err != nil {
		s.t.Fatal(r.err)
	}
	s.t.Cleanup(func() { r.c.Close() })
	return r.c
}

// TestConnFlow: allocate, declare with one transaction the JDS lacks
// (answered from the job's list by position), a stale-chain-tip refusal,
// an out-of-range ProvideMissingTransactions, PushSolution, and pending
// requests failing when the JDS goes away.
func TestConnFlow(t *testing.T) {
	s := newJDS(t)
	c := s.dial()
	ctx := context.Background()
	outputs := poolOutputs(t)

	type tok struct {
		v   *jdclient.Token
		err error
	}
	tc := make(chan tok, 1)
	go func() { v, err := c.AllocateToken(ctx); tc <- tok{v, err} }()
	a := s.read().(*codec.AllocateMiningJobToken)
	if a.UserIdentifier != "miner1" {
		t.Fatalf("allocate %+v", a)
	}
	s.send(&codec.AllocateMiningJobTokenSuccess{RequestID: a.RequestID + 100, MiningJobToken: []byte{9}}) // unknown: ignored
	s.send(&codec.AllocateMiningJobTokenSuccess{RequestID: a.RequestID, MiningJobToken: []byte{1, 0, 0, 0, 0, 0, 0, 0}, CoinbaseTxOutputs: outputs})
	got := <-tc
	if got.err != nil || !bytes.Equal(got.v.Token, []byte{1, 0, 0, 0, 0, 0, 0, 0}) || !bytes.Equal(got.v.Outputs, outputs) {
		t.Fatalf("token %+v, %v", got.v, got.err)
	}

	j, err := jdclient.Build(testTemplate(t), got.v.Outputs, jdclient.BuildConfig{ExtranonceSize: 12}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	type decl struct {
		token []byte
		err   error
	}
	declare := func() <-chan decl {
		out := make(chan decl, 1)
		go func() { v, err := c.Declare(ctx, j, got.v.Token); out <- decl{v, err} }()
		return out
	}
	dc := declare()
	d := s.read().(*codec.DeclareMiningJob)
	if !bytes.Equal(d.CoinbaseTxPrefix, j.DeclarePrefix) || !bytes.Equal(d.CoinbaseTxSuffix, j.DeclareSuffix) ||
		len(d.WtxidList) != 3 || d.WtxidList[1] != j.Wtxids[1] || d.Version != j.Version || !bytes.Equal(d.MiningJobToken, got.v.Token) {
		t.Fatalf("declared %+v", d)
	}
	s.send(&codec.ProvideMissingTransactions{RequestID: d.RequestID, UnknownTxPositionList: []uint16{2, 0}})
	pmt := s.read().(*codec.ProvideMissingTransactionsSuccess)
	if pmt.RequestID != d.RequestID || len(pmt.TransactionList) != 2 || !bytes.Equal(pmt.TransactionList[0], j.Txs[2]) || !bytes.Equal(pmt.TransactionList[1], j.Txs[0]) {
		t.Fatalf("PMT answer %+v", pmt)
	}
	s.send(&codec.DeclareMiningJobSuccess{RequestID: d.RequestID, NewMiningJobToken: []byte{2}})
	if r := <-dc; r.err != nil || !bytes.Equal(r.token, []byte{2}) {
		t.Fatalf("declare = %x, %v", r.token, r.err)
	}
	if c.Provided() != 2 {
		t.Fatalf("provided %d", c.Provided())
	}

	dc = declare()
	d = s.read().(*codec.DeclareMiningJob)
	s.send(&codec.DeclareMiningJobError{RequestID: d.RequestID, ErrorCode: jdclient.CodeStaleChainTip})
	var de *jdclient.DeclareError
	if r := <-dc; !errors.As(r.err, &de) || de.Code != jdclient.CodeStaleChainTip {
		t.Fatalf("declare error = %v", r.err)
	}

	dc = declare()
	d = s.read().(*codec.DeclareMiningJob)
	s.send(&codec.ProvideMissingTransactions{RequestID: d.RequestID, UnknownTxPositionList: []uint16{3}})
	if r := <-dc; r.err == nil {
		t.Fatal("an out-of-range position was answered")
	}

	ps := &codec.PushSolution{Extranonce: bytes.Repeat([]byte{7}, 12), PrevHash: j.PrevHash, Nonce: 5, NTime: 6, NBits: j.NBits, Version: j.Version}
	if err := c.PushSolution(ps); err != nil {
		t.Fatal(err)
	}
	if p := s.read().(*codec.PushSolution); p.Nonce != 5 || p.NTime != 6 || !bytes.Equal(p.Extranonce, ps.Extranonce) {
		t.Fatalf("push %+v", p)
	}

	dc = declare()
	s.read()
	s.fc.Close()
	if r := <-dc; r.err == nil {
		t.Fatal("a declaration survived the connection")
	}
	<-c.Done()
	if _, err := c.AllocateToken(ctx); err == nil {
		t.Fatal("allocated on a closed connection")
	}
}

// TestDialRefused: a SetupConnection.Error is a *client.SetupError.
func TestDialRefused(t *testing.T) {
	s := newJDS(t)
	go func() {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		fc := sv2.NewPlainConn(nc, 1<<20)
		if _, _, err := fc.ReadFrame(); err != nil {
			return
		}
		m := &codec.SetupConnectionError{ErrorCode: "missing-declare-tx-data-flag"}
		p, _ := codec.Marshal(m)
		fc.WriteFrame(codec.HeaderFor(m, len(p)), p)
	}()
	_, err := jdclient.Dial(context.Background(), s.ln.Addr().String(), jdclient.Config{Client: client.Config{Plaintext: true, Timeout: 5 * time.Second}})
	var se *client.SetupError
	if !errors.As(err, &se) || se.Code != "missing-declare-tx-data-flag" {
		t.Fatalf("err = %v", err)
	}
}
