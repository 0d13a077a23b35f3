package jd

import (
	"context"
	"errors"
	"fmt"
	"github.com/adit-pool/adit/stratum/srvmetrics"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/adit-pool/adit/stratum/sendq"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/noise"
)

// FlagDeclareTxData is the Job Declaration SetupConnection flag of
// full-template mode, which this server requires.
const FlagDeclareTxData uint32 = 1 << 0

// protocolVersion is the only Stratum V2 protocol version.
const protocolVersion = 2

// conn serves one JD connection after its handshake. Three goroutines as on
// the mining port: the reader (reads and decodes frames and hands the
// messages to the owner), the writer (drains the bounded send queue, see
// package sendq) and the owner (run/loop: every field below "Owner state"
// is its alone). Checks that wait for the node (proposals) run on
// goroutines of their own (work) and hand their result back to the owner
// as a func on results, so a PushSolution is never stuck behind a
// proposal.
type conn struct {
	srv    *Server
	nc     *noise.Conn
	id     uint64
	log    *zap.Logger
	ctx    context.Context // cancelled at teardown: ends the connection's proposals
	cancel context.CancelFunc

	// Owner state.
	setup        bool
	drop         string
	pending      map[uint32]*declaration // waiting for ProvideMissingTransactions.Success
	tipWaits     map[uint32]*declaration // waiting for the pool's tip (awaitTip)
	inFlight     int                     // declarations being checked
	allocs, decl bucket
	recent       []*Declaration // accepted, oldest first, at most SolutionJobs

	// Plumbing.
	out     *sendq.Queue[codec.Message]
	msgs    chan codec.Message // reader -> owner
	readErr chan error         // the reader's final error (buffered 1)
	results chan func()        // work -> owner
	done    chan struct{}      // closed when the owner stops
	work    sync.WaitGroup
}

func newConn(srv *Server, nc *noise.Conn) *conn {
	id := srv.nextID.Add(1)
	perMin := func(n int) bucket { return bucket{rate: float64(n) / 60, burst: float64(n), tokens: float64(n)} }
	return &conn{
		srv:      srv,
		nc:       nc,
		id:       id,
		log:      srv.log.With(zap.Uint64("conn", id), zap.Stringer("remote", nc.RemoteAddr())),
		pending:  make(map[uint32]*declaration),
		tipWaits: make(map[uint32]*declaration),
		allocs:   perMin(srv.cfg.AllocationsPerMinute),
		decl:     perMin(srv.cfg.DeclarationsPerMinute),
		out:      sendq.New[codec.Message](srv.cfg.SendQueue, srv.cfg.WriteTimeout),
		msgs:     make(chan codec.Message),
		readErr:  make(chan error, 1),
		results:  make(chan func()),
		done:     make(chan struct{}),
	}
}

// run serves the connection until it ends or ctx is cancelled and returns
// once every goroutine of it has exited and its tokens are dropped.
func (c *conn) run(ctx context.Context) {
	c.ctx, c.cancel = context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(c.reader)
	wg.Go(func() {
		if err := c.out.Run(sendq.Writer[codec.Message]{SetDeadline: c.nc.SetWriteDeadline, Write: c.nc.WriteMessage}); err != nil {
			c.log.Debug("jd write failed", zap.Error(err))
		}
	})
	reason := c.loop()
	close(c.done)
	c.cancel()
	for _, p := range c.pending {
		p.timer.Stop()
	}
	switch reason {
	case srvmetrics.DiscShutdown, srvmetrics.DiscProtocolError, srvmetrics.DiscSetupTimeout:
		// Flush what is queued (a refusal, an error reply) first.
	default:
		c.nc.Close()
	}
	c.out.Close()
	<-c.out.Done()
	c.nc.Close()
	wg.Wait()
	c.work.Wait()
	c.srv.tokens.dropConn(c.id)
	c.srv.m.disconnects.WithLabelValues(reason).Inc()
	c.log.Debug("jd connection closed", zap.String("reason", reason))
}

// loop is the owner's event loop; it returns the disconnect reason. A
// panic in a handler is recovered here and ends only this connection.
func (c *conn) loop() (reason string) {
	defer func() {
		if r := recover(); r != nil {
			c.srv.m.panics.Inc()
			c.log.Error("jd connection panic", zap.Any("panic", r), zap.Stack("stack"))
			reason = srvmetrics.DiscPanic
		}
	}()
	setup := time.NewTimer(c.srv.cfg.HandshakeTimeout)
	defer setup.Stop()
	for c.drop == "" {
		select {
		case <-c.ctx.Done():
			return srvmetrics.DiscShutdown
		case err := <-c.readErr:
			return c.readFailed(err)
		case <-c.out.Done():
			return sendq.Reason(c.out.Err())
		case <-setup.C:
			if !c.setup {
				return srvmetrics.DiscSetupTimeout
			}
		case m := <-c.msgs:
			c.handle(m)
		case f := <-c.results:
			f()
		}
	}
	return c.drop
}

// reader reads and decodes frames for the owner. Extension frames are
// counted and skipped; a frame that does not decode ends the connection.
func (c *conn) reader() {
	for {
		c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
		h, payload, err := c.nc.ReadFrame()
		var m codec.Message
		if err == nil {
			if h.Extension() != 0 {
				c.srv.m.protocolErrors.WithLabelValues(perrExtension).Inc()
				continue
			}
			m, err = codec.DecodeMessage(h, payload)
		}
		if err != nil {
			c.readErr <- err
			return
		}
		select {
		case c.msgs <- m:
		case <-c.done:
			return
		}
	}
}

// readFailed classifies the reader's error into a disconnect reason.
func (c *conn) readFailed(err error) string {
	var fe *codec.FieldError
	switch {
	case errors.Is(err, noise.ErrFrameTooLarge):
		return c.protocolError(perrFrameTooBig, err)
	case errors.Is(err, noise.ErrDecrypt):
		return c.protocolError(perrDecrypt, err)
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return srvmetrics.DiscClientClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return srvmetrics.DiscIdleTimeout
	case errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &fe), errors.Is(err, codec.ErrUnknownMessage):
		return c.protocolError(perrDecode, err)
	}
	return srvmetrics.DiscReadError
}

// protocolError counts a violation and marks the connection to close once
// its queued replies are written; it returns the disconnect reason.
func (c *conn) protocolError(reason string, err error) string {
	c.srv.m.protocolErrors.WithLabelValues(reason).Inc()
	c.log.Debug("jd protocol error", zap.String("reason", reason), zap.Error(err))
	if c.drop == "" {
		c.drop = srvmetrics.DiscProtocolError
	}
	return srvmetrics.DiscProtocolError
}

// send queues m, waiting for room as the mining sessions do; a peer that
// reads nothing for WriteTimeout is dropped.
func (c *conn) send(m codec.Message) {
	if c.drop != "" {
		return
	}
	if err := c.out.Push(c.ctx, m); err != nil {
		c.drop = srvmetrics.DiscShutdown
		if c.ctx.Err() == nil {
			c.drop = sendq.Reason(err)
		}
	}
}

// post hands f to the owner from a work goroutine or a timer; it is
// dropped when the owner has stopped.
func (c *conn) post(f func()) {
	select {
	case c.results <- f:
	case <-c.done:
	}
}

func (c *conn) handle(m codec.Message) {
	if !c.setup {
		if s, ok := m.(*codec.SetupConnection); ok {
			c.onSetup(s)
		} else {
			c.protocolError(perrNoSetup, fmt.Errorf("%T before SetupConnection", m))
		}
		return
	}
	switch m := m.(type) {
	case *codec.AllocateMiningJobToken:
		c.onAllocate(m)
	case *codec.DeclareMiningJob:
		c.onDeclare(m)
	case *codec.ProvideMissingTransactionsSuccess:
		c.onProvided(m)
	case *codec.PushSolution:
		c.onPushSolution(m)
	case *codec.SetupConnection:
		c.protocolError(perrDoubleSetup, nil)
	default:
		c.protocolError(perrUnexpected, fmt.Errorf("%T from a client", m))
	}
}

// onSetup answers SetupConnection as the newest SRI JDS does: the Job
// Declaration protocol, version 2, and DECLARE_TX_DATA (full-template mode)
// required; a refusal is sent and the connection closed.
func (c *conn) onSetup(m *codec.SetupConnection) {
	code := ""
	switch {
	case m.Protocol != uint8(codec.ProtocolJobDeclaration):
		code = CodeUnsupportedProtocol
	case m.MinVersion > protocolVersion || m.MaxVersion < protocolVersion:
		code = CodeProtocolVersionMismatch
	case m.Flags&FlagDeclareTxData == 0:
		code = CodeMissingDeclareTxDataFlag
	}
	if code != "" {
		c.send(&codec.SetupConnectionError{Flags: 0, ErrorCode: code})
		c.protocolError(perrSetupRefused, errors.New(code))
		return
	}
	c.setup = true
	c.log.Debug("jd setup", zap.String("vendor", m.Vendor), zap.String("firmware", m.Firmware), zap.Uint32("flags", m.Flags))
	c.send(&codec.SetupConnectionSuccess{UsedVersion: protocolVersion, Flags: 0})
}

// onAllocate issues a token bound to this connection and user_identifier.
// The message has no error reply: a connection over its rate or token limit
// is closed.
func (c *conn) onAllocate(m *codec.AllocateMiningJobToken) {
	if !c.allocs.take(c.srv.deps.Now()) {
		c.protocolError(perrRateLimited, errors.New("AllocateMiningJobToken over the rate limit"))
		return
	}
	tok, err := c.srv.tokens.allocate(c.id, m.UserIdentifier, c.srv.cfg.MaxTokensPerConn)
	if err != nil {
		c.protocolError(perrRateLimited, err)
		return
	}
	c.send(&codec.AllocateMiningJobTokenSuccess{RequestID: m.RequestID, MiningJobToken: tok,
		CoinbaseTxOutputs: poolOutputs(c.srv.deps.PoolScript)})
}

// onPushSolution rebuilds the block from the most recent accepted
// declaration that gives a block with this solution (newest first, at most
// SolutionJobs) and submits it to the pool's nodes.
func (c *conn) onPushSolution(m *codec.PushSolution) {
	for i := len(c.recent) - 1; i >= 0; i-- {
		d := c.recent[i]
		if d.PrevHash != m.PrevHash || d.Bits != m.NBits || len(m.Extranonce) != d.Coinbase.ExtranonceSize {
			continue
		}
		block, hash, err := d.Block(m.Version, m.NTime, m.Nonce, m.Extranonce)
		if err != nil {
			continue
		}
		if target := shareTarget(d.Bits); !target.Met(&hash) {
			continue
		}
		c.log.Info("jd solution pushed", zap.String("hash", displayHash(hash)), zap.Int64("height", d.Height))
		c.srv.submitBlock(block, hash, c.log)
		return
	}
	c.srv.m.solutions.WithLabelValues(solNoMatch).Inc()
	c.log.Info("jd pushed solution matches no recent declaration", zap.Int("declarations", len(c.recent)))
}

// remember keeps d for PushSolution.
func (c *conn) remember(d *Declaration) {
	c.recent = append(c.recent, d)
	if n := len(c.recent) - c.srv.cfg.SolutionJobs; n > 0 {
		c.recent = append(c.recent[:0], c.recent[n:]...)
	}
}

// bucket is a token-bucket rate limit (owner only).
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *bucket) take(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
