package stratum

import (
	"context"
	"encoding/json"
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
)

// maxBadLines is how many consecutive unparseable lines a session tolerates.
const maxBadLines = 16

// maxWorkers bounds the workers one connection may authorize.
const maxWorkers = 256

// session serves one TCP connection. Three goroutines: the reader (reads
// lines, hands each to the owner and waits for it to be handled, so the line
// buffer is never copied), the writer (drains the bounded queue out with a
// deadline per batch) and the owner (run/loop: every piece of session state
// below is owned by it; it handles requests and jobs and tears down).
//
// Backpressure (see package sendq): a reply waits for room in the queue, so
// while the queue is full the owner does not ask for the next line and the
// reader does not read it; a miner that pipelines requests is answered at
// the pace it reads. A new job is taken from the subscription only when its
// notify fits, so jobs never wait behind replies; meanwhile a newer job
// replaces it in the subscription's one-slot mailbox. A miner that reads
// nothing for WriteTimeout is a slow consumer and is dropped.
type session struct {
	srv    *Server
	ctx    context.Context // the server's, set by run: ends waits for queue room
	conn   net.Conn
	id     uint64
	remote string
	log    *zap.Logger

	// Owner state.
	vardiff     share.Vardiff
	diff        float64
	vs          *share.Session // nil until subscribed
	release     func()         // extranonce release, nil until subscribed
	en2Size     int
	versionMask uint32
	workers     map[string]share.Worker
	extranonce  bool // miner accepts mining.set_extranonce
	streaming   bool // subscribed and authorized: difficulty and jobs flow
	jobs        <-chan *share.Job
	cancelJobs  func()
	curJob      *share.Job
	lastPrev    [32]byte
	drop        string // set when the session must end (e.g. slow consumer)
	badLines    int
	quiet       bool // the request being handled is a notification: no reply

	// offline has one func per authorized worker (share.Presence), called
	// at teardown.
	offline []func()

	// Scratch owned by the owner, reused per request.
	req Request
	sub share.Submission
	res share.Result
	en2 [MaxExtranonce2Size]byte

	// Plumbing.
	out     *sendq.Queue[[]byte] // to the writer; closed by the owner at teardown
	lines   chan []byte          // reader -> owner
	ack     chan struct{}        // owner -> reader: line handled
	readErr chan error           // reader's final error (buffered 1)
	done    chan struct{}        // closed when the owner stops handling lines
}

func newSession(srv *Server, c net.Conn) *session {
	id := srv.nextID.Add(1)
	remote := c.RemoteAddr().String()
	return &session{
		srv:     srv,
		conn:    c,
		id:      id,
		remote:  remote,
		log:     srv.log.With(zap.Uint64("session", id), zap.String("remote", remote)),
		workers: make(map[string]share.Worker),
		out:     sendq.New[[]byte](srv.cfg.SendQueue, srv.cfg.WriteTimeout),
		lines:   make(chan []byte),
		ack:     make(chan struct{}, 1),
		readErr: make(chan error, 1),
		done:    make(chan struct{}),
	}
}

// run serves the connection until it ends or ctx is cancelled, and returns
// only after the reader and writer goroutines have exited and every resource
// (extranonce, job subscription, socket) is released.
func (s *session) run(ctx context.Context) {
	s.ctx = ctx
	var wg sync.WaitGroup
	wg.Go(s.readLoop)
	wg.Go(s.writeLoop)

	reason := s.ownerLoop(ctx)
	close(s.done)
	switch reason {
	case srvmetrics.DiscSlowConsumer, srvmetrics.DiscWriteError, srvmetrics.DiscPanic, srvmetrics.DiscReadError, srvmetrics.DiscClientClosed:
		// Nothing more can or should reach the miner.
		s.conn.Close()
	}
	s.out.Close() // the writer flushes what is queued, bounded by its deadline
	<-s.out.Done()
	s.conn.Close()
	wg.Wait()

	if s.cancelJobs != nil {
		s.cancelJobs()
	}
	if s.release != nil {
		s.release()
	}
	for _, off := range s.offline {
		off()
	}
	s.srv.m.disconnects.WithLabelValues(reason).Inc()
	s.log.Debug("stratum session closed", zap.String("reason", reason))
}

// ownerLoop is the owner goroutine's event loop; it returns the disconnect
// reason. A panic in a handler is recovered here and ends only this session.
func (s *session) ownerLoop(ctx context.Context) (reason string) {
	defer func() {
		if r := recover(); r != nil {
			s.srv.m.panics.Inc()
			s.log.Error("stratum session panic", zap.Any("panic", r), zap.Stack("stack"))
			reason = srvmetrics.DiscPanic
		}
	}()
	s.vardiff = s.srv.deps.Backend.NewVardiff()
	s.diff = s.vardiff.Difficulty()

	handshake := time.NewTimer(s.srv.cfg.HandshakeTimeout)
	defer handshake.Stop()
	handshakeC := handshake.C
	for {
		jobs, room := s.jobs, (<-chan struct{})(nil)
		if s.jobs != nil && !s.out.HasRoom(1) { // onJob queues one notify
			jobs, room = nil, s.out.Room()
		}
		select {
		case <-ctx.Done():
			return srvmetrics.DiscShutdown
		case err := <-s.readErr:
			return s.readFailed(err)
		case <-s.out.Done():
			return sendq.Reason(s.out.Err())
		case <-handshakeC:
			return discHandshake
		case line := <-s.lines:
			s.handleLine(ctx, line)
			s.ack <- struct{}{}
		case j := <-jobs:
			s.onJob(j)
		case <-room: // the writer made room: look at jobs again
		}
		if s.streaming && handshakeC != nil {
			handshake.Stop()
			handshakeC = nil
		}
		if s.drop != "" {
			return s.drop
		}
	}
}

// readFailed classifies the reader's error into a disconnect reason.
func (s *session) readFailed(err error) string {
	switch {
	case errors.Is(err, ErrLineTooLong):
		s.srv.m.protocolErrors.WithLabelValues(perrLineTooLong).Inc()
		s.replyError(nil, CodeOther, "line too long")
		return discLineTooLong
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return srvmetrics.DiscClientClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return srvmetrics.DiscIdleTimeout
	}
	return srvmetrics.DiscReadError
}

// readLoop reads lines and hands each to the owner, waiting until it has
// been handled (the slice aliases the LineReader's buffer).
func (s *session) readLoop() {
	lr := NewLineReader(s.conn, s.srv.cfg.MaxLineBytes)
	for {
		s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
		line, err := lr.ReadLine()
		if err != nil {
			s.readErr <- err
			return
		}
		select {
		case s.lines <- line:
		case <-s.done:
			return
		}
		select {
		case <-s.ack:
		case <-s.done:
			return
		}
	}
}

// writeLoop writes queued messages, batching whatever is queued into one
// flush with one write deadline. It exits when out is closed (after flushing)
// or on the first write error.
func (s *session) writeLoop() {
	bw := newBatchWriter(s.conn)
	err := s.out.Run(sendq.Writer[[]byte]{
		SetDeadline: s.conn.SetWriteDeadline,
		Write:       func(msg []byte) error { bw.add(msg); return nil },
		Flush:       bw.flush,
	})
	if err != nil {
		s.log.Debug("stratum write failed", zap.Error(err))
	}
}

// send queues one complete line for the writer; msg must not be modified
// afterwards. While the queue is full it waits for the writer (this is the
// backpressure on the reader), for at most WriteTimeout: then, or if the
// writer has failed, the session is marked to drop.
func (s *session) send(msg []byte) {
	if s.drop != "" {
		return
	}
	if err := s.out.Push(s.ctx, msg); err != nil {
		s.drop = srvmetrics.DiscShutdown
		if s.ctx.Err() == nil {
			s.drop = sendq.Reason(err)
		}
	}
}

var resultTrue = []byte("true")

// reply queues a successful response; nothing is sent while handling a
// notification (see isNotification).
func (s *session) reply(id json.RawMessage, result []byte) {
	if s.quiet {
		return
	}
	s.send(AppendResponse(make([]byte, 0, len(id)+len(result)+40), id, result, nil))
}

// replyError queues an error response; like reply it is silent while
// handling a notification.
func (s *session) replyError(id json.RawMessage, code int, msg string) {
	if s.quiet {
		return
	}
	e := Error{Code: code, Message: msg}
	s.send(AppendResponse(make([]byte, 0, len(id)+len(msg)+56), id, nil, &e))
}

// protocolError counts a protocol error and replies with error 20.
func (s *session) protocolError(id json.RawMessage, reason, msg string) {
	s.srv.m.protocolErrors.WithLabelValues(reason).Inc()
	s.replyError(id, CodeOther, msg)
}
