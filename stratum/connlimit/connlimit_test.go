package connlimit

import (
	"net"
	"sync"
	"testing"
)

func tcp(s string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}

func mustAdmit(t *testing.T, l *Limiter, a net.Addr) func() {
	t.Helper()
	rel, reason := l.Admit(a)
	if reason != "" || rel == nil {
		t.Fatalf("Admit(%v) = %v, %q; want admitted", a, rel != nil, reason)
	}
	return rel
}

func mustRefuse(t *testing.T, l *Limiter, a net.Addr, want string) {
	t.Helper()
	rel, reason := l.Admit(a)
	if reason != want || rel != nil {
		t.Fatalf("Admit(%v) = %v, %q; want refused %q", a, rel != nil, reason, want)
	}
}

func TestPerIPLimit(t *testing.T) {
	l := New(10, 2)
	r1 := mustAdmit(t, l, tcp("10.0.0.1:1000"))
	mustAdmit(t, l, tcp("10.0.0.1:1001"))
	mustRefuse(t, l, tcp("10.0.0.1:1002"), MaxPerIP)
	// The IPv4-mapped form is the same IP.
	mustRefuse(t, l, tcp("[::ffff:10.0.0.1]:1003"), MaxPerIP)
	mustAdmit(t, l, tcp("10.0.0.2:1000"))
	r1()
	mustAdmit(t, l, tcp("[::ffff:10.0.0.1]:1004"))
	if got := l.Open(); got != 3 {
		t.Fatalf("Open = %d, want 3", got)
	}
}

func TestTotalLimit(t *testing.T) {
	l := New(2, 5)
	r1 := mustAdmit(t, l, tcp("10.0.0.1:1"))
	mustAdmit(t, l, tcp("10.0.0.2:1"))
	mustRefuse(t, l, tcp("10.0.0.3:1"), MaxConns)
	r1()
	mustAdmit(t, l, tcp("10.0.0.3:1"))
	mustRefuse(t, l, tcp("10.0.0.4:1"), MaxConns)
}

func TestTotalCheckedBeforePerIP(t *testing.T) {
	l := New(1, 1)
	mustAdmit(t, l, tcp("10.0.0.1:1"))
	mustRefuse(t, l, tcp("10.0.0.1:2"), MaxConns)
}

func TestZeroLimitsAdmitNothing(t *testing.T) {
	mustRefuse(t, New(0, 5), tcp("10.0.0.1:1"), MaxConns)
	mustRefuse(t, New(5, 0), tcp("10.0.0.1:1"), MaxPerIP)
}

func TestReleaseIdempotent(t *testing.T) {
	l := New(2, 2)
	r := mustAdmit(t, l, tcp("10.0.0.1:1"))
	mustAdmit(t, l, tcp("10.0.0.1:2"))
	r()
	r()
	r()
	if got := l.Open(); got != 1 {
		t.Fatalf("Open after repeated release = %d, want 1", got)
	}
	mustAdmit(t, l, tcp("10.0.0.1:3"))
	mustRefuse(t, l, tcp("10.0.0.1:4"), MaxConns)
	if n := len(l.perIP); n != 1 {
		t.Fatalf("perIP has %d entries, want 1", n)
	}
}

func TestReleaseForgetsIP(t *testing.T) {
	l := New(5, 5)
	mustAdmit(t, l, tcp("10.0.0.1:1"))()
	if n := len(l.perIP); n != 0 {
		t.Fatalf("perIP has %d entries after release, want 0", n)
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "fake" }
func (a fakeAddr) String() string  { return string(a) }

func TestBadRemote(t *testing.T) {
	l := New(5, 5)
	var nilTCP *net.TCPAddr
	for _, a := range []net.Addr{nil, nilTCP, fakeAddr("pipe"), fakeAddr("10.0.0.1"), &net.UnixAddr{Name: "/tmp/s", Net: "unix"}} {
		mustRefuse(t, l, a, BadRemote)
	}
	if got := l.Open(); got != 0 {
		t.Fatalf("Open = %d, want 0", got)
	}
}

func TestReasons(t *testing.T) {
	got := Reasons()
	want := []string{"max_conns", "max_conns_per_ip", "bad_remote_addr"}
	if len(got) != len(want) {
		t.Fatalf("Reasons = %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Reasons = %q, want %q", got, want)
		}
	}
}

// TestConcurrent admits and releases from many goroutines (run with -race)
// and checks the limits always hold and everything is released at the end.
func TestConcurrent(t *testing.T) {
	const maxConns, maxPerIP, workers, rounds = 20, 3, 32, 200
	l := New(maxConns, maxPerIP)
	ips := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8"}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var held []func()
			for i := range rounds {
				a := tcp(ips[(w+i)%len(ips)] + ":1")
				if rel, reason := l.Admit(a); reason == "" {
					held = append(held, rel)
				} else if reason != MaxConns && reason != MaxPerIP {
					t.Errorf("unexpected reason %q", reason)
					return
				}
				if n := l.Open(); n > maxConns {
					t.Errorf("Open = %d > %d", n, maxConns)
					return
				}
				if len(held) > 1 && i%3 == 0 {
					held[0]()
					held[0]() // idempotent under concurrency too
					held = held[1:]
				}
			}
			for _, rel := range held {
				rel()
			}
		})
	}
	wg.Wait()
	if n := l.Open(); n != 0 {
		t.Fatalf("Open = %d after all released", n)
	}
	if n := len(l.perIP); n != 0 {
		t.Fatalf("perIP has %d entries after all released", n)
	}
}
