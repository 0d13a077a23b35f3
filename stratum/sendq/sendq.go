package sendq

import "time"

// Queue is a bounded queue of messages for one connection's writer.
//
// Concurrency contract: Push and Close are called by the owner only (one
// goroutine), never Push after Close; Run is called once, by the writer
// goroutine; Done may be read by anyone.
type Queue[T any] struct {
	ch   chan T
	done chan struct{}
}

// New returns a queue that holds up to size messages.
func New[T any](size int) *Queue[T] {
	return &Queue[T]{ch: make(chan T, size), done: make(chan struct{})}
}

// Push queues v without blocking. It reports false if the queue is full (v
// is not queued): the peer is not reading fast enough.
func (q *Queue[T]) Push(v T) bool {
	select {
	case q.ch <- v:
		return true
	default:
		return false
	}
}

// Close ends the queue: Run writes what is still queued and returns.
func (q *Queue[T]) Close() { close(q.ch) }

// Done is closed when Run has returned.
func (q *Queue[T]) Done() <-chan struct{} { return q.done }

// Writer tells Run how to write.
type Writer[T any] struct {
	// SetDeadline (e.g. net.Conn.SetWriteDeadline) is called with
	// now+Timeout before each write, or before each batch when Flush is set.
	SetDeadline func(time.Time) error
	Timeout     time.Duration
	// Write writes one message or, when Flush is set, buffers it.
	Write func(T) error
	// Flush, when set, makes Run batch: after the first message it Writes
	// every message already queued, then calls Flush once.
	Flush func() error
}

// Run drains the queue until it is closed and empty, or until the first
// error from Write or Flush, which it returns. Done is closed on return.
func (q *Queue[T]) Run(w Writer[T]) error {
	defer close(q.done)
	for v := range q.ch {
		w.SetDeadline(time.Now().Add(w.Timeout))
		if err := w.Write(v); err != nil {
			return err
		}
		if w.Flush == nil {
			continue
		}
		if err := q.drain(w.Write); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// drain writes whatever is queued now, without waiting for more.
func (q *Queue[T]) drain(write func(T) error) error {
	for {
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
}
