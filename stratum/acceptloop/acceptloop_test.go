package acceptloop

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// fakeListener returns the queued results of Accept in order, then blocks
// until closed.
type fakeListener struct {
	mu      sync.Mutex
	results []error // nil: a connection
	closed  chan struct{}
	once    sync.Once
}

func newFake(results ...error) *fakeListener {
	return &fakeListener{results: results, closed: make(chan struct{})}
}

func (l *fakeListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.results) > 0 {
		r := l.results[0]
		l.results = l.results[1:]
		l.mu.Unlock()
		if r != nil {
			return nil, r
		}
		c, _ := net.Pipe()
		return c, nil
	}
	l.mu.Unlock()
	<-l.closed
	return nil, net.ErrClosed
}

func (l *fakeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

var errTransient = errors.New("too many open files")

func TestTransientErrorsBackOffAndReset(t *testing.T) {
	ln := newFake(errTransient, errTransient, errTransient, nil, errTransient)
	ctx, cancel := context.WithCancel(context.Background())
	var backoffs []time.Duration
	conns := 0
	done := make(chan error, 1)
	var mu sync.Mutex
	go func() {
		done <- Run(ctx, ln, func(err error, b time.Duration) {
			if err != errTransient {
				t.Errorf("onTransient got %v", err)
			}
			mu.Lock()
			backoffs = append(backoffs, b)
			n := len(backoffs)
			mu.Unlock()
			if n == 4 {
				cancel()
			}
		}, func(c net.Conn) {
			c.Close()
			mu.Lock()
			conns++
			mu.Unlock()
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 5 * time.Millisecond}
	if len(backoffs) != len(want) || conns != 1 {
		t.Fatalf("backoffs %v conns %d", backoffs, conns)
	}
	for i := range want {
		if backoffs[i] != want[i] {
			t.Fatalf("backoffs %v, want %v", backoffs, want)
		}
	}
}

func TestCancelClosesListener(t *testing.T) {
	ln := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, ln, nil, func(net.Conn) {}) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	select {
	case <-ln.closed:
	default:
		t.Fatal("listener not closed")
	}
}

func TestClosedListenerIsPermanent(t *testing.T) {
	ln := newFake()
	ln.Close()
	err := Run(context.Background(), ln, func(error, time.Duration) { t.Error("closed listener treated as transient") }, func(net.Conn) {})
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Run = %v, want net.ErrClosed", err)
	}
}

func TestRealListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan net.Conn, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, ln, nil, func(c net.Conn) { got <- c }) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	(<-got).Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}
