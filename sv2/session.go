package sv2

import (
	"context"
	"errors"
	"github.com/adit-pool/adit/stratum/srvmetrics"
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
//
// Backpressure (see package sendq): a reply waits for room in the queue, and
// while the owner waits it takes no frame from the reader, which then stops
// reading; a miner that pipelines requests is answered at the pace it reads.
// A new job is taken from the subscription only when the queue has room for
// all it fans out to (jobMessages), or is empty when that is more than the
// queue holds; so jobs never wait behind replies, and meanwhile a newer job
// replaces it in the subscription's one-slot mailbox. A fan-out larger than
// the queue (many channels outside the group) then waits for room message
// by message like a reply. A miner that reads nothing for WriteTimeout is a
// slow consumer and is dropped.
type session struct {
	srv    *Server
	ctx    context.Context // the server's, set by run: ends waits for queue room
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
		out:      sendq.New[codec.Message](srv.cfg.SendQueue, srv.cfg.WriteTimeout),
		frames:   make(chan frame),
		readErr:  make(chan error, 1),
		done:     make(chan struct{}),
	}
}

// run serves the connection until it ends or ctx is cancelled, and returns
// only after the reader and writer have exited and every resource
// (extranonces, job subscription, socket) is released.
func (s *session) run(ctx context.Context) {
	s.ctx = ctx
	var wg sync.WaitGroup
	wg.Go(s.readLoop)
	wg.Go(s.writeLoop)

	reason := s.ownerLoop(ctx)
	close(s.done)
	switch reason {
	case srvmetrics.DiscShutdown:
		// Acknowledge what was accepted, then ask the miner to come back
		// (empty host and port 0: the same server).
		s.safely(s.flushAll)
		s.drop = ""
		s.send(&codec.Reconnect{})
	case srvmetrics.DiscSlowConsumer, srvmetrics.DiscWriteError, srvmetrics.DiscPanic, srvmetrics.DiscReadError, srvmetrics.DiscClientClosed, srvmetrics.DiscIdleTimeout:
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
			reason = srvmetrics.DiscPanic
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
		jobs, room := s.jobs, (<-chan struct{})(nil)
		if s.jobs != nil && !s.out.HasRoom(s.jobMessages()) {
			jobs, room = nil, s.out.Room()
		}
		select {
		case <-ctx.Done():
			return srvmetrics.DiscShutdown
		case err := <-s.readErr:
			return s.readFailed(err)
		case <-s.out.Done():
			return sendq.Reason(s.out.Err())
		case <-setupC:
			return srvmetrics.DiscSetupTimeout
		case f := <-s.frames:
			s.handleFrame(ctx, f)
		case j := <-jobs:
			s.onJob(j)
		case <-room: // the writer made room: look at jobs again
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
		return srvmetrics.DiscProtocolError
	case errors.Is(err, noise.ErrDecrypt):
		s.protocolError(perrDecrypt, err)
		return srvmetrics.DiscProtocolError
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return srvmetrics.DiscClientClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return srvmetrics.DiscIdleTimeout
	case errors.Is(err, io.ErrUnexpectedEOF):
		s.protocolError(perrDecode, err)
		return srvmetrics.DiscProtocolError
	}
	var fe *codec.FieldError
	if errors.As(err, &fe) {
		s.protocolError(perrDecode, err)
		return srvmetrics.DiscProtocolError
	}
	return srvmetrics.DiscReadError
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
		Write:       func(m codec.Message) error { return writeMessage(s.conn, m) },
	})
	if err != nil {
		s.log.Debug("sv2 write failed", zap.Error(err))
	}
}

// send queues m for the writer; m must not be modified afterwards. While
// the queue is full it waits for the writer (this is the backpressure on the
// reader), for at most WriteTimeout: then, or if the writer has failed, the
// session is marked to drop.
func (s *session) send(m codec.Message) {
	if s.drop != "" {
		return
	}
	if err := s.out.Push(s.ctx, m); err != nil {
		s.drop = srvmetrics.DiscShutdown
		if s.ctx.Err() == nil {
			s.drop = sendq.Reason(err)
		}
	}
}

// protocolError counts a protocol violation and ends the session once the
// queued replies are flushed.
func (s *session) protocolError(reason string, err error) {
	s.srv.m.protocolErrors.WithLabelValues(reason).Inc()
	pe := &ProtocolError{Reason: reason, Err: err}
	s.log.Debug("sv2 protocol error", zap.Error(pe))
	if s.drop == "" {
		s.drop = srvmetrics.DiscProtocolError
	}
}

func newStoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}
