package sv2

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum/sendq"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/noise"
)

// session serves one connection after its handshake. Three goroutines: the
// reader (reads whole frames, each freshly allocated, and hands them to the
// owner), the writer (encodes and writes queued messages, each under a write
// deadline) and the owner (run/ownerLoop: every field below "Owner state" is
// touched only by it; it handles messages and jobs and tears down).
type session struct {
	srv    *Server
	conn   FrameConn
	id     uint64
	remote string
	log    *zap.Logger

	// Owner state.
	setup        bool
	flags        uint32 // the client's SetupConnection flags
	channels     map[uint32]*channel
	lastChanID   uint32
	groupID      uint32 // 0 until a standard channel joins the group
	groupMembers int
	std          stdExtranonces
	jobs         <-chan *share.Job
	cancelJobs   func()
	curJob       *share.Job
	lastPrev     [32]byte
	drop         string
	batch        *time.Timer
	batchArmed   bool
	sub          share.Submission
	res          share.Result

	// Plumbing.
	out     *sendq.Queue[codec.Message] // to the writer; closed by the owner at teardown
	frames  chan frame                  // reader -> owner
	readErr chan error                  // reader's final error (buffered 1)
	done    chan struct{}               // closed when the owner stops handling frames
}

type frame struct {
	h       codec.Header
	payload []byte
}

func newSession(srv *Server, c FrameConn) *session {
	id := srv.nextID.Add(1)
	remote := c.RemoteAddr().String()
	return &session{
		srv:      srv,
		conn:     c,
		id:       id,
		remote:   remote,
		log:      srv.log.With(zap.Uint64("session", id), zap.String("remote", remote)),
		channels: make(map[uint32]*channel),
		out:      sendq.New[codec.Message](srv.cfg.SendQueue),
		frames:   make(chan frame),
		readErr:  make(chan error, 1),
		done:     make(chan struct{}),
	}
}

// run serves the connection until it ends or ctx is cancelled, and returns
// only after the reader and writer have exited and every resource
// (extranonces, job subscription, socket) is released.
func (s *session) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(s.readLoop)
	wg.Go(s.writeLoop)

	reason := s.ownerLoop(ctx)
	close(s.done)
	switch reason {
	case discShutdown:
		// Acknowledge what was accepted, then ask the miner to come back
		// (empty host and port 0: the same server).
		s.safely(s.flushAll)
		s.drop = ""
		s.send(&codec.Reconnect{})
	case discSlowConsumer, discWriteError, discPanic, discReadError, discClientClosed, discIdleTimeout:
		s.conn.Close()
	}
	s.out.Close() // the writer flushes what is queued, bounded by its deadline
	<-s.out.Done()
	s.conn.Close()
	wg.Wait()

	if s.cancelJobs != nil {
		s.cancelJobs()
	}
	for id := range s.channels {
		s.closeChannel(id)
	}
	if s.groupID != 0 {
		s.srv.m.channels.WithLabelValues(chanGroup).Dec()
	}
	s.std.releaseAll()
	if s.batch != nil {
		s.batch.Stop()
	}
	s.srv.m.disconnects.WithLabelValues(reason).Inc()
	s.log.Debug("sv2 session closed", zap.String("reason", reason))
}

// safely runs f, logging instead of propagating a panic (teardown only).
func (s *session) safely(f func()) {
	defer func() {
		if r := recover(); r != nil {
			s.srv.m.panics.Inc()
			s.log.Error("sv2 session panic during teardown", zap.Any("panic", r), zap.Stack("stack"))
		}
	}()
	f()
}

// ownerLoop is the owner's event loop; it returns the disconnect reason. A
// panic in a handler is recovered here and ends only this session.
func (s *session) ownerLoop(ctx context.Context) (reason string) {
	defer func() {
		if r := recover(); r != nil {
			s.srv.m.panics.Inc()
			s.log.Error("sv2 session panic", zap.Any("panic", r), zap.Stack("stack"))
			reason = discPanic
		}
	}()
	setupTimer := time.NewTimer(s.srv.cfg.HandshakeTimeout)
	defer setupTimer.Stop()
	setupC := setupTimer.C
	for {
		var batchC <-chan time.Time
		if s.batchArmed {
			batchC = s.batch.C
		}
		select {
		case <-ctx.Done():
			return discShutdown
		case err := <-s.readErr:
			return s.readFailed(err)
		case <-s.out.Done():
			return discWriteError
		case <-setupC:
			return discSetupTimeout
		case f := <-s.frames:
			s.handleFrame(ctx, f)
		case j := <-s.jobs:
			s.onJob(j)
		case <-batchC:
			s.batchArmed = false
			s.flushAll()
		}
		if setupC != nil && len(s.channels) > 0 {
			setupTimer.Stop()
			setupC = nil
		}
		if s.drop != "" {
			return s.drop
		}
	}
}

// readFailed classifies the reader's error into a disconnect reason.
func (s *session) readFailed(err error) string {
	switch {
	case errors.Is(err, noise.ErrFrameTooLarge):
		s.protocolError(perrFrameTooLarge, err)
		return discProtocolError
	case errors.Is(err, noise.ErrDecrypt):
		s.protocolError(perrDecrypt, err)
		return discProtocolError
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return discClientClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return discIdleTimeout
	case errors.Is(err, io.ErrUnexpectedEOF):
		s.protocolError(perrDecode, err)
		return discProtocolError
	}
	var fe *codec.FieldError
	if errors.As(err, &fe) {
		s.protocolError(perrDecode, err)
		return discProtocolError
	}
	return discReadError
}

// readLoop reads frames and hands each to the owner.
func (s *session) readLoop() {
	for {
		s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
		h, payload, err := s.conn.ReadFrame()
		if err != nil {
			s.readErr <- err
			return
		}
		select {
		case s.frames <- frame{h, payload}:
		case <-s.done:
			return
		}
	}
}

// writeLoop writes queued messages until out is closed (after flushing) or
// a write fails.
func (s *session) writeLoop() {
	err := s.out.Run(sendq.Writer[codec.Message]{
		SetDeadline: s.conn.SetWriteDeadline,
		Timeout:     s.srv.cfg.WriteTimeout,
		Write:       func(m codec.Message) error { return writeMessage(s.conn, m) },
	})
	if err != nil {
		s.log.Debug("sv2 write failed", zap.Error(err))
	}
}

// send queues m for the writer; m must not be modified afterwards. A full
// queue marks the miner as a slow consumer.
func (s *session) send(m codec.Message) {
	if s.drop != "" {
		return
	}
	if !s.out.Push(m) {
		s.drop = discSlowConsumer
	}
}

// protocolError counts a protocol violation and ends the session once the
// queued replies are flushed.
func (s *session) protocolError(reason string, err error) {
	s.srv.m.protocolErrors.WithLabelValues(reason).Inc()
	pe := &ProtocolError{Reason: reason, Err: err}
	s.log.Debug("sv2 protocol error", zap.Error(pe))
	if s.drop == "" {
		s.drop = discProtocolError
	}
}

func newStoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}
