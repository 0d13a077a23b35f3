package sendq

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder is a Writer backend that records deadlines, writes and flushes.
type recorder struct {
	mu        sync.Mutex
	deadlines int
	written   []int
	batches   [][]int
	pending   []int
	failAt    int // Write of this value fails; 0: never
	flushErr  error
}

func (r *recorder) writer(batch bool) Writer[int] {
	w := Writer[int]{
		SetDeadline: func(time.Time) error {
			r.mu.Lock()
			r.deadlines++
			r.mu.Unlock()
			return nil
		},
		Write: func(v int) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			if v == r.failAt {
				return errors.New("write failed")
			}
			if batch {
				r.pending = append(r.pending, v)
			} else {
				r.written = append(r.written, v)
			}
			return nil
		},
	}
	if batch {
		w.Flush = func() error {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.flushErr != nil {
				return r.flushErr
			}
			r.batches = append(r.batches, r.pending)
			r.written = append(r.written, r.pending...)
			r.pending = nil
			return nil
		}
	}
	return w
}

func TestPushFullQueueTimesOut(t *testing.T) {
	q := New[int](2, 20*time.Millisecond)
	ctx := context.Background()
	if q.Push(ctx, 1) != nil || q.Push(ctx, 2) != nil {
		t.Fatal("push into a queue with room failed")
	}
	if !q.HasRoom(0) || q.HasRoom(1) {
		t.Fatal("HasRoom on a full queue")
	}
	start := time.Now()
	if err := q.Push(ctx, 3); !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("push into a queue nobody drains: %v", err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("gave up after %v, before the timeout", d)
	}
	// The timer is reused: a second wait is bounded the same way.
	if err := q.Push(ctx, 3); !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("second push: %v", err)
	}
}

func TestPushCancelled(t *testing.T) {
	q := New[int](1, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Room: queued although ctx has ended.
	if err := q.Push(ctx, 1); err != nil {
		t.Fatalf("push with room after cancel: %v", err)
	}
	if err := q.Push(ctx, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("push into a full queue after cancel: %v", err)
	}
}

func TestHasRoom(t *testing.T) {
	q := New[int](4, time.Second)
	ctx := context.Background()
	q.Push(ctx, 1)
	q.Push(ctx, 2)
	if !q.HasRoom(2) || q.HasRoom(3) {
		t.Fatal("HasRoom with 2 of 4 queued")
	}
	// A fan-out larger than the queue needs an empty queue.
	if q.HasRoom(100) {
		t.Fatal("HasRoom(100) on a non-empty queue")
	}
	if !New[int](4, time.Second).HasRoom(100) {
		t.Fatal("HasRoom(100) on an empty queue")
	}
}

// TestPushWaitsForWriter: a full queue makes Push wait until the writer
// takes a message, not fail.
func TestPushWaitsForWriter(t *testing.T) {
	q := New[int](2, 10*time.Second)
	ctx := context.Background()
	q.Push(ctx, 1)
	q.Push(ctx, 2)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var r recorder
	w := r.writer(false)
	write := w.Write
	w.Write = func(v int) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		return write(v)
	}
	go q.Run(w)
	<-entered // the writer holds 1 and is stuck writing it
	if err := q.Push(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if q.HasRoom(1) {
		t.Fatal("queue not full")
	}
	pushed := make(chan error)
	go func() { pushed <- q.Push(ctx, 4) }() // must wait: full, writer stuck
	close(release)
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}
	q.Close()
	<-q.Done()
	if !slices.Equal(r.written, []int{1, 2, 3, 4}) || q.Err() != nil {
		t.Fatalf("written %v, err %v", r.written, q.Err())
	}
}

// TestPushAfterWriterFailed: Push reports the writer's error instead of
// waiting for room that will never come.
func TestPushAfterWriterFailed(t *testing.T) {
	q := New[int](1, time.Hour)
	ctx := context.Background()
	q.Push(ctx, 1)
	r := recorder{failAt: 1}
	q.Run(r.writer(false))
	q.Push(ctx, 2) // takes the slot the failed write freed
	if err := q.Push(ctx, 3); err == nil || err.Error() != "write failed" {
		t.Fatalf("push after the writer failed: %v", err)
	}
}

// timeoutErr is what a net.Conn write past its deadline returns.
type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Unwrap() error { return os.ErrDeadlineExceeded }

func TestDeadlineIsSlowConsumer(t *testing.T) {
	q := New[int](2, time.Second)
	q.Push(context.Background(), 1)
	w := Writer[int]{SetDeadline: func(time.Time) error { return nil }, Write: func(int) error { return timeoutErr{} }}
	err := q.Run(w)
	if !errors.Is(err, ErrSlowConsumer) || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(q.Err(), ErrSlowConsumer) {
		t.Fatalf("Run = %v, Err = %v; want a slow consumer", err, q.Err())
	}
}

// TestBatchBounded: a batch holds at most the queue's size, however fast
// the owner refills the queue while it is gathered.
func TestBatchBounded(t *testing.T) {
	q := New[int](4, time.Second)
	ctx := context.Background()
	var r recorder
	w := r.writer(true)
	write := w.Write
	next := 1
	for ; next <= 4; next++ {
		q.Push(ctx, next)
	}
	w.Write = func(v int) error {
		// Refill as fast as the writer takes (from the writer goroutine,
		// which real owners never are: it makes every batch meet the bound).
		if next <= 20 && q.Push(ctx, next) == nil {
			next++
		}
		return write(v)
	}
	done := make(chan struct{})
	go func() { q.Run(w); close(done) }()
	eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.written) == 20 })
	q.Close()
	<-done
	for _, b := range r.batches {
		if len(b) > 4 {
			t.Fatalf("batch of %d from a queue of 4: %v", len(b), r.batches)
		}
	}
}

// eventually polls cond for up to 10 s (sendq imports nothing of the pool,
// not even its test helpers).
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
	}
}

func TestPushNoAlloc(t *testing.T) {
	q := New[int](1, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx.Done()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range q.ch {
		}
	}()
	allocs := testing.AllocsPerRun(1000, func() {
		if err := q.Push(ctx, 1); err != nil {
			t.Fatal(err)
		}
	})
	q.Close()
	<-done
	if allocs != 0 {
		t.Fatalf("Push allocates %v times", allocs)
	}
}

func TestCloseFlushesQueued(t *testing.T) {
	for _, batch := range []bool{false, true} {
		q := New[int](8, time.Second)
		for i := 1; i <= 5; i++ {
			q.Push(context.Background(), i)
		}
		q.Close()
		var r recorder
		if err := q.Run(r.writer(batch)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-q.Done():
		default:
			t.Fatal("Done not closed after Run")
		}
		if !slices.Equal(r.written, []int{1, 2, 3, 4, 5}) {
			t.Fatalf("batch=%v written %v", batch, r.written)
		}
		if batch {
			// Everything was queued before Run: one batch, one deadline.
			if len(r.batches) != 1 || r.deadlines != 1 {
				t.Fatalf("batches %v deadlines %d", r.batches, r.deadlines)
			}
		} else if r.deadlines != 5 {
			t.Fatalf("deadlines %d, want one per message", r.deadlines)
		}
	}
}

func TestWriteErrorStopsRun(t *testing.T) {
	for _, batch := range []bool{false, true} {
		q := New[int](8, time.Second)
		for i := 1; i <= 4; i++ {
			q.Push(context.Background(), i)
		}
		r := recorder{failAt: 3}
		if err := q.Run(r.writer(batch)); err == nil {
			t.Fatalf("batch=%v: Run returned nil after a write error", batch)
		}
		<-q.Done()
	}
	q := New[int](8, time.Second)
	q.Push(context.Background(), 1)
	r := recorder{flushErr: errors.New("flush failed")}
	if err := q.Run(r.writer(true)); err != r.flushErr {
		t.Fatalf("Run = %v, want the flush error", err)
	}
	<-q.Done()
}

func TestConcurrentWriter(t *testing.T) {
	q := New[int](4, time.Second)
	var r recorder
	go q.Run(r.writer(true))
	sent := 0
	for i := 1; i <= 1000; i++ {
		if err := q.Push(context.Background(), i); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	q.Close()
	select {
	case <-q.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("writer did not finish")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.written) != sent || r.deadlines != len(r.batches) {
		t.Fatalf("written %d of %d, %d deadlines for %d batches", len(r.written), sent, r.deadlines, len(r.batches))
	}
	for i, v := range r.written {
		if v != i+1 {
			t.Fatalf("out of order at %d: %d", i, v)
		}
	}
}

// TestRoomSignalled: an owner waiting on Room learns when the writer has
// drained the queue, without pushing.
func TestRoomSignalled(t *testing.T) {
	for _, batch := range []bool{false, true} {
		q := New[int](3, time.Second)
		for i := 1; i <= 3; i++ {
			q.Push(context.Background(), i)
		}
		var r recorder
		go q.Run(r.writer(batch))
		for !q.HasRoom(3) {
			select {
			case <-q.Room():
			case <-time.After(10 * time.Second):
				t.Fatalf("batch=%v: no room signal; queue still holds %d", batch, len(q.ch))
			}
		}
		q.Close()
		<-q.Done()
	}
}
