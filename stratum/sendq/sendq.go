package sendq

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrSlowConsumer reports a peer that did not read what it was sent within
// the write timeout: a Push waited that long for room, or a write's
// deadline expired.
var ErrSlowConsumer = errors.New("sendq: slow consumer: peer did not read within the write timeout")

// ErrStopped is returned by Push when the writer has returned without an
// error of its own (only possible after Close, which Push must not follow).
var ErrStopped = errors.New("sendq: writer stopped")

// Disconnect reasons, as the servers' metric label values: see Reason.
const (
	SlowConsumer = "slow_consumer"
	WriteError   = "write_error"
)

// Reason classifies an error from Push or Err: SlowConsumer for
// ErrSlowConsumer, else WriteError. (A Push that failed because its ctx
// ended is the caller's to classify first.)
func Reason(err error) string {
	if errors.Is(err, ErrSlowConsumer) {
		return SlowConsumer
	}
	return WriteError
}

// Queue is a bounded queue of messages for one connection's writer.
//
// Concurrency contract: Push, HasRoom, Room and Close are used by the owner
// only (one goroutine), never Push after Close; Run is called once, by the
// writer goroutine; Done and, once Done is closed, Err may be used by anyone.
type Queue[T any] struct {
	ch      chan T
	room    chan struct{} // the writer took messages (buffered 1)
	done    chan struct{}
	err     error // Run's result, written before done is closed
	timeout time.Duration
	timer   *time.Timer // Push's wait bound; owner only, made on first wait
}

// New returns a queue that holds up to size messages. timeout is the write
// timeout: the deadline of each write (or batch) and the longest a Push
// waits for room.
func New[T any](size int, timeout time.Duration) *Queue[T] {
	return &Queue[T]{ch: make(chan T, size), room: make(chan struct{}, 1), done: make(chan struct{}), timeout: timeout}
}

// Push queues v, waiting while the queue is full. It returns nil once v is
// queued; ErrSlowConsumer if no room appeared within the timeout; the
// writer's error (see Err) if the writer has stopped; ctx.Err() if ctx ends
// first. A message that fits is queued even when ctx has ended, so replies
// produced during teardown are kept as long as there is room. Push does not
// allocate.
func (q *Queue[T]) Push(ctx context.Context, v T) error {
	select {
	case q.ch <- v:
		return nil
	default:
	}
	if q.timer == nil {
		q.timer = time.NewTimer(q.timeout)
	} else {
		q.timer.Reset(q.timeout)
	}
	defer q.timer.Stop()
	select {
	case q.ch <- v:
		return nil
	case <-q.done:
		if q.err != nil {
			return q.err
		}
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	case <-q.timer.C:
		return ErrSlowConsumer
	}
}

// HasRoom reports whether n more messages fit in the queue now, or, when n
// exceeds the queue's size, whether the queue is empty (the caller then
// Pushes the rest as the writer makes room). Only the owner pushes, so the
// answer stays true until it does.
func (q *Queue[T]) HasRoom(n int) bool {
	return cap(q.ch)-len(q.ch) >= min(n, cap(q.ch))
}

// Room receives after the writer has taken messages from the queue. An
// owner that found no room for something it does not push blocking (see
// HasRoom) waits on it, with its other events, to look again; a receive
// may be stale, so it checks HasRoom again rather than assume room.
func (q *Queue[T]) Room() <-chan struct{} { return q.room }

// tookSome tells a waiting owner that room appeared.
func (q *Queue[T]) tookSome() {
	select {
	case q.room <- struct{}{}:
	default:
	}
}

// Close ends the queue: Run writes what is still queued and returns.
func (q *Queue[T]) Close() { close(q.ch) }

// Done is closed when Run has returned.
func (q *Queue[T]) Done() <-chan struct{} { return q.done }

// Err returns Run's error once Done is closed (nil before): nil after a
// Close and a complete flush, an error wrapping ErrSlowConsumer when a write
// deadline expired, else the write error.
func (q *Queue[T]) Err() error {
	select {
	case <-q.done:
		return q.err
	default:
		return nil
	}
}

// Writer tells Run how to write.
type Writer[T any] struct {
	// SetDeadline (e.g. net.Conn.SetWriteDeadline) is called with
	// now+timeout before each write, or before each batch when Flush is set.
	SetDeadline func(time.Time) error
	// Write writes one message or, when Flush is set, buffers it.
	Write func(T) error
	// Flush, when set, makes Run batch: after the first message it Writes
	// the messages already queued, at most the queue's size in all, then
	// calls Flush once.
	Flush func() error
}

// Run drains the queue until it is closed and empty, or until the first
// error from Write or Flush, which it returns (wrapped in ErrSlowConsumer
// when it is an expired deadline) and which Err reports. Done is closed on
// return.
func (q *Queue[T]) Run(w Writer[T]) error {
	q.err = q.run(w)
	if errors.Is(q.err, os.ErrDeadlineExceeded) {
		q.err = fmt.Errorf("%w: %w", ErrSlowConsumer, q.err)
	}
	close(q.done)
	return q.err
}

func (q *Queue[T]) run(w Writer[T]) error {
	for v := range q.ch {
		q.tookSome()
		w.SetDeadline(time.Now().Add(q.timeout))
		if err := w.Write(v); err != nil {
			return err
		}
		if w.Flush == nil {
			continue
		}
		err := q.drain(w.Write)
		q.tookSome()
		if err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// drain writes what is queued now, without waiting for more and at most
// the queue's size less one (the batch's first message): the owner may keep
// pushing while the batch is gathered, and one deadline covers one batch.
func (q *Queue[T]) drain(write func(T) error) error {
	for range cap(q.ch) - 1 {
		select {
		case v, ok := <-q.ch:
			if !ok {
				return nil
			}
			if err := write(v); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}
