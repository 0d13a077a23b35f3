package stratum

import (
	"context"
	"github.com/adit-pool/adit/stratum/srvconf"
	"github.com/adit-pool/adit/stratum/srvmetrics"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
	"github.com/adit-pool/adit/stratum/connlimit"
)

func TestBlockCandidateRecorded(t *testing.T) {
	b := sharetest.NewBackend(share.NewValidator(share.ValidatorConfig{}), 1e9)
	b.Publish(sharetest.Job(1, 1, time.Now(), sharetest.RegtestBits))
	e := startServer(t, Config{}, b)
	m := dial(t, e.addr)
	n := m.handshake("addr.w")
	// Below the share difficulty but a regtest block: never rejected.
	m.wantResult(m.submit("addr.w", m.mine(work{n: n}, share.TargetFromCompact(sharetest.RegtestBits).Difficulty(), true)), "true")
	recs := b.Records()
	if len(recs) != 1 || !recs[0].Block {
		t.Fatalf("records %+v", recs)
	}
}

func TestConnectionLimits(t *testing.T) {
	e, _ := newEnv(t, Config{Limits: srvconf.Limits{MaxConns: 3, MaxConnsPerIP: 2}}, easyDiff)
	a, b := dial(t, e.addr), dial(t, e.addr)
	a.wantResult(a.call(MethodPing), `"pong"`)
	b.wantResult(b.call(MethodPing), `"pong"`)
	c := dial(t, e.addr)
	if got := c.waitClosed(); len(got) != 0 {
		t.Fatalf("refused connection got %v", got)
	}
	if got := e.metric("adit_stratum_refused_connections_total", "reason", connlimit.MaxPerIP); got != 1 {
		t.Fatalf("refused %v", got)
	}
	// Closing one frees a slot.
	a.c.Close()
	sharetest.Eventually(t, "slot freed", func() bool { return e.metric("adit_connections", "protocol", "v1") == 1 })
	d := dial(t, e.addr)
	d.wantResult(d.call(MethodPing), `"pong"`)
}

func TestSlowConsumerDropped(t *testing.T) {
	big := make([]byte, 256<<10)
	b := sharetest.NewBackend(share.NewValidator(share.ValidatorConfig{}), easyDiff)
	b.Publish(sharetest.Job(1, 1, time.Now(), sharetest.HardBits, big))
	// Backpressure stops the server reading these requests, so only the
	// write timeout ends the connection.
	e := startServer(t, Config{Limits: srvconf.Limits{SendQueue: 4, WriteTimeout: 200 * time.Millisecond}}, b)
	m := dial(t, e.addr)
	m.c.(*net.TCPConn).SetReadBuffer(4096)
	m.handshake("addr.w")
	// Ask for ~512 KiB replies without reading any of them.
	for i := 0; i < 200; i++ {
		if _, err := m.c.Write([]byte(`{"id":1,"method":"mining.get_transactions","params":["00000001"]}` + "\n")); err != nil {
			break // already dropped
		}
		if e.metric("adit_stratum_disconnects_total", "reason", srvmetrics.DiscSlowConsumer) == 1 {
			break
		}
	}
	sharetest.Eventually(t, "slow consumer dropped", func() bool {
		return e.metric("adit_stratum_disconnects_total", "reason", srvmetrics.DiscSlowConsumer) == 1
	})
	sharetest.Eventually(t, "extranonce released", func() bool { st := b.Stats(); return st.Allocated == 1 && st.Released == 1 && st.Subscribers == 0 })
}

func TestHandshakeTimeout(t *testing.T) {
	e, _ := newEnv(t, Config{Limits: srvconf.Limits{HandshakeTimeout: 100 * time.Millisecond}}, easyDiff)
	m := dial(t, e.addr)
	m.call(MethodSubscribe) // subscribed but never authorized
	m.waitClosed()
	sharetest.Eventually(t, "handshake timeout counted", func() bool {
		return e.metric("adit_stratum_disconnects_total", "reason", discHandshake) == 1
	})
}

func TestIdleTimeout(t *testing.T) {
	e, _ := newEnv(t, Config{Limits: srvconf.Limits{IdleTimeout: 100 * time.Millisecond}}, easyDiff)
	m := dial(t, e.addr)
	m.handshake("addr.w")
	m.waitClosed()
	sharetest.Eventually(t, "idle timeout counted", func() bool {
		return e.metric("adit_stratum_disconnects_total", "reason", srvmetrics.DiscIdleTimeout) == 1
	})
}

func TestLineTooLongDisconnects(t *testing.T) {
	e, _ := newEnv(t, Config{MaxLineBytes: 512}, easyDiff)
	m := dial(t, e.addr)
	m.wantResult(m.call(MethodPing), `"pong"`)
	m.c.Write([]byte(`{"id":1,"method":"` + strings.Repeat("x", 2000)))
	got := m.waitClosed()
	if len(got) != 1 || got[0].Error == nil || got[0].Error.Message != "line too long" {
		t.Fatalf("got %+v", got)
	}
	sharetest.Eventually(t, "line too long counted", func() bool {
		return e.metric("adit_stratum_disconnects_total", "reason", discLineTooLong) == 1
	})
}

func TestPanicDropsOnlyThatSession(t *testing.T) {
	e, _ := newEnv(t, Config{}, easyDiff)
	good, bad := dial(t, e.addr), dial(t, e.addr)
	good.handshake("addr.w")
	bad.request(MethodAuthorize, "panic", "")
	bad.waitClosed()
	good.wantResult(good.call(MethodPing), `"pong"`)
	if got := e.metric("adit_stratum_session_panics_total"); got != 1 {
		t.Fatalf("panics %v", got)
	}
}

func TestGracefulShutdown(t *testing.T) {
	e, _ := newEnv(t, Config{}, easyDiff)
	var miners []*testMiner
	for i := 0; i < 20; i++ {
		m := dial(t, e.addr)
		m.handshake("addr.w")
		miners = append(miners, m)
	}
	e.stop()
	for _, m := range miners {
		m.waitClosed()
	}
	st := e.backend.Stats()
	allocated, released, subs := st.Allocated, st.Released, st.Subscribers
	if allocated != 20 || released != 20 || subs != 0 {
		t.Fatalf("allocated %d released %d subscriptions %d", allocated, released, subs)
	}
	if got := e.metric("adit_stratum_disconnects_total", "reason", srvmetrics.DiscShutdown); got != 20 {
		t.Fatalf("shutdown disconnects %v", got)
	}
	if got := e.metric("adit_connections", "protocol", "v1"); got != 0 {
		t.Fatalf("connections gauge %v", got)
	}
	// goleak in TestMain checks that no goroutine survived.
}

func TestRunAddr(t *testing.T) {
	b := sharetest.NewBackend(share.NewValidator(share.ValidatorConfig{}), easyDiff)
	srv, err := NewServer(Config{Listen: "127.0.0.1:0"}, Deps{Validator: b.V, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	sharetest.Eventually(t, "listening", func() bool { return srv.Addr() != nil })
	m := dial(t, srv.Addr().String())
	m.wantResult(m.call(MethodPing), `"pong"`)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(context.Background(), nil); err == nil {
		t.Fatal("second Serve succeeded")
	}
}

func TestConfig(t *testing.T) {
	d := Config{}.WithDefaults()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.MaxLineBytes != 16<<10 || d.MaxConns != 100000 || d.MaxConnsPerIP != 10000 || d.HandshakeTimeout != 30*time.Second ||
		d.IdleTimeout != 10*time.Minute || d.WriteTimeout != 10*time.Second || d.SendQueue != 64 || d.VersionMask != 0x1fffe000 {
		t.Fatalf("defaults %+v", d)
	}
	bad := d
	bad.MaxLineBytes, bad.MaxConnsPerIP, bad.WriteTimeout, bad.SendQueue = 10, d.MaxConns+1, -1, 1
	err := bad.Validate()
	for _, want := range []string{"max_line_bytes", "max_conns_per_ip", "write_timeout", "send_queue"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
	if _, err := NewServer(Config{}, Deps{}); err == nil {
		t.Fatal("NewServer without deps succeeded")
	}
}
