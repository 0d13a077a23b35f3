package noise

import (
	"context"
	"net"
	"testing"
	"time"
)

// BenchmarkNoiseHandshakeServer measures the responder's CPU cost per
// handshake (Act 1 in, Act 2 out, cipher states split) with a reused
// certified static key, as the daemon runs it. Run with -cpu 1 for the
// per-core figure; handshakes/s is reported.
func BenchmarkNoiseHandshakeServer(b *testing.B) {
	f := newFixture(b)
	var hs initiatorHandshake
	act1, err := hs.start(detRand(30))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if _, _, err := respond(nil2rand(), f.static, act1[:]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
}

// BenchmarkNoiseHandshakeServerFreshStatic is the reference
// implementation's policy: a new static key signed for every connection.
func BenchmarkNoiseHandshakeServerFreshStatic(b *testing.B) {
	f := newFixture(b)
	var hs initiatorHandshake
	act1, err := hs.start(detRand(30))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		static, err := NewCertifiedKey(nil2rand(), f.authority, f.epoch, f.epoch.Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := respond(nil2rand(), static, act1[:]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
}

// BenchmarkNoiseHandshakePipe runs both sides over net.Pipe (two
// goroutines), including I/O.
func BenchmarkNoiseHandshakePipe(b *testing.B) {
	f := newFixture(b)
	in := &Initiator{Authority: f.authorityPub(), Now: f.clock(0)}
	r := &Responder{Keys: FixedKey{f.static}}
	for b.Loop() {
		a, c := net.Pipe()
		errc := make(chan error, 1)
		go func() { _, err := r.Handshake(context.Background(), c); errc <- err }()
		if _, err := in.Handshake(context.Background(), a); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		a.Close()
		c.Close()
	}
}

// BenchmarkWriteReadFrame measures a 100-byte frame (a typical share) each
// way through the transport.
func BenchmarkTransportFrame100(b *testing.B) {
	f := newFixture(b)
	_, _, ini, resp := runTranscript(b, f)
	payload := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		ct, _ := ini.send.encrypt(nil, nil, payload[:6])
		ct, _ = ini.send.encrypt(ct, nil, payload)
		if _, err := resp.recv.decrypt(nil, nil, ct[:22]); err != nil {
			b.Fatal(err)
		}
		if _, err := resp.recv.decrypt(nil, nil, ct[22:]); err != nil {
			b.Fatal(err)
		}
	}
}
