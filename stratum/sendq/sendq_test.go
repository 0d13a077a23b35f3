package sendq

import (
	"errors"
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
		Timeout: time.Second,
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

func TestPushFullQueue(t *testing.T) {
	q := New[int](2)
	if !q.Push(1) || !q.Push(2) {
		t.Fatal("push into a queue with room failed")
	}
	if q.Push(3) {
		t.Fatal("push into a full queue succeeded")
	}
}

func TestCloseFlushesQueued(t *testing.T) {
	for _, batch := range []bool{false, true} {
		q := New[int](8)
		for i := 1; i <= 5; i++ {
			q.Push(i)
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
		q := New[int](8)
		for i := 1; i <= 4; i++ {
			q.Push(i)
		}
		r := recorder{failAt: 3}
		if err := q.Run(r.writer(batch)); err == nil {
			t.Fatalf("batch=%v: Run returned nil after a write error", batch)
		}
		<-q.Done()
	}
	q := New[int](8)
	q.Push(1)
	r := recorder{flushErr: errors.New("flush failed")}
	if err := q.Run(r.writer(true)); err != r.flushErr {
		t.Fatalf("Run = %v, want the flush error", err)
	}
	<-q.Done()
}

func TestConcurrentWriter(t *testing.T) {
	q := New[int](4)
	var r recorder
	go q.Run(r.writer(true))
	sent := 0
	for i := 1; i <= 1000; i++ {
		for !q.Push(i) {
			time.Sleep(time.Microsecond)
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
