package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
	"github.com/adit-pool/adit/stratum/client"
	"github.com/adit-pool/adit/stratum/client/clienttest"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/keys"
	"github.com/adit-pool/adit/sv2/noise"
)

// sv2Pool is the real Stratum V2 server (sv2.NewServer, Noise, real
// share.Validator) over an in-memory share.Backend, on a loopback port.
type sv2Pool struct {
	*sharetest.Backend // keeps its difficulty whatever hash rate is declared
	srv                *sv2.Server
	authority          keys.PublicKey
}

func startSV2Pool(t *testing.T, diff float64) *sv2Pool {
	t.Helper()
	p := &sv2Pool{Backend: sharetest.NewBackend(share.NewValidator(share.ValidatorConfig{}), diff)}
	p.FixedDifficulty = true
	p.Publish(clienttest.Job(1, 4+8, true))
	auth, err := keys.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.authority = auth.PublicKey()
	reg := prometheus.NewRegistry()
	shares := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "adit_shares_total", Help: "x"}, []string{"protocol", "result"})
	conns := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "adit_connections", Help: "x"}, []string{"protocol"})
	reg.MustRegister(shares, conns)
	p.srv, err = sv2.NewServer(sv2.Config{Listen: "127.0.0.1:0", SuccessInterval: 50 * time.Millisecond}.WithDefaults(), sv2.Deps{
		Validator: p.V, Backend: p, Keys: &noise.KeyRotator{Authority: auth}, Log: zaptest.NewLogger(t),
		Registerer: reg, Shares: shares.MustCurryWith(prometheus.Labels{"protocol": "v2"}), Connections: conns.WithLabelValues("v2"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sv2 Run: %v", err)
		}
	})
	waitFor(t, func() bool { return p.srv.Addr() != nil })
	return p
}

func (p *sv2Pool) addr() string { return p.srv.Addr().String() }

func v2Fleet(p *sv2Pool, miners, threads int, extended bool) fleetConfig {
	auth := p.authority
	return fleetConfig{Miners: miners, V2Miners: miners,
		V2:   &v2Config{Addr: p.addr(), Authority: &auth, Extended: extended},
		Base: minerConfig{Client: client.Config{Username: "bcrt1qsv2.w", Timeout: 5 * time.Second}, Threads: threads}}
}

// TestSV2MinerFindsShares: the SV2 miner, over Noise with the authority
// verified, finds shares on standard (header-only) and extended channels
// that the real SV2 server and validator accept, follows a new block, and
// its accepted counts equal what the server recorded (with protocol V2).
func TestSV2MinerFindsShares(t *testing.T) {
	for _, tc := range []struct {
		name     string
		extended bool
		threads  int
	}{{"standard", false, 2}, {"extended", true, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			p := startSV2Pool(t, 1e-4)
			cfg := v2Fleet(p, 2, tc.threads, tc.extended)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			done := make(chan summary)
			go func() { done <- runFleet(ctx, cfg, zap.NewNop()) }()
			waitFor(t, func() bool { return len(p.Records()) >= 6 })
			p.Publish(clienttest.Job(2, 4+8, true)) // a new block
			waitFor(t, func() bool {
				n := 0
				for _, r := range p.Records() {
					if r.JobID == 2 {
						n++
					}
				}
				return n >= 6
			})
			cancel()
			s := <-done
			recs := p.Records()
			// Only shares in flight at the block change may be stale: how
			// many depends on the hash rate (tens of shares a second
			// without -race), but a miner that kept mining the old job
			// would have more stale than accepted shares.
			if s.Accepted < 12 || s.Rejected["stale-share"] >= s.Accepted || len(s.Rejected) > 1 || s.IOErrors != 0 {
				t.Fatalf("summary %+v", s)
			}
			if uint64(len(recs)) != s.Accepted || s.ByProtocol["v2"].Accepted != s.Accepted {
				t.Fatalf("server recorded %d, miner counted %d (%+v)", len(recs), s.Accepted, s.ByProtocol)
			}
			perWorker := map[string]uint64{}
			for _, r := range recs {
				if r.Protocol != share.ProtocolV2 {
					t.Fatalf("record protocol %v", r.Protocol)
				}
				perWorker[r.Worker.Address+"."+r.Worker.Name]++
			}
			for w, n := range s.AcceptedByWorker {
				if perWorker[w] != n {
					t.Errorf("worker %s: miner %d, server %d", w, n, perWorker[w])
				}
			}
			if len(perWorker) != 2 {
				t.Errorf("workers %v", perWorker)
			}
		})
	}
}

// TestMixedFleet: a fleet of V1 and V2 miners reports per-protocol counts.
func TestMixedFleet(t *testing.T) {
	v1 := clienttest.StartServer(t, clienttest.ServerConfig{Difficulty: 1e-5})
	p := startSV2Pool(t, 1e-5)
	var stdout, stderr bytes.Buffer
	code := run([]string{"-pool", v1.Addr(), "-sv2-pool", p.addr(), "-authority-key", p.authority.String(),
		"-user", "bcrt1qmix.w", "-fleet", "4", "-v2-fraction", "0.5", "-channel", "standard", "-share-rate", "10",
		"-max-shares", "40", "-duration", "30s", "-json", "-log-level", "warn"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	var s summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("%v in %q", err, stdout.String())
	}
	v1s, v2s := s.ByProtocol["v1"], s.ByProtocol["v2"]
	if v1s.Accepted == 0 || v2s.Accepted == 0 || v1s.Accepted+v2s.Accepted != s.Accepted || len(s.Rejected) != 0 {
		t.Fatalf("summary %s", stdout.String())
	}
	if uint64(len(p.Records())) != v2s.Accepted || uint64(len(v1.Records())) != v1s.Accepted {
		t.Fatalf("servers recorded v1 %d v2 %d; summary %s", len(v1.Records()), len(p.Records()), stdout.String())
	}
	var text bytes.Buffer
	s.writeText(&text)
	if !strings.Contains(text.String(), "v2: accepted") {
		t.Fatalf("text summary:\n%s", text.String())
	}
}

// TestSV2WrongAuthority: a pool whose certificate another key signed is
// refused; the run fails with dial failures and no shares.
func TestSV2WrongAuthority(t *testing.T) {
	p := startSV2Pool(t, 1e-4)
	other, err := keys.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"-sv2", "-pool", p.addr(), "-authority-key", other.PublicKey().String(), "-user", "bcrt1qx.w",
		"-reconnect", "0", "-duration", "10s", "-json", "-log-level", "error"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "certificate not signed") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	if len(p.Records()) != 0 {
		t.Fatal("shares recorded through a refused pool")
	}
}

func TestSV2Flags(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][]string{
		{"-user", "u", "-sv2", "-pool", "127.0.0.1:1"},                                                    // no authority
		{"-user", "u", "-sv2", "-insecure-skip-verify"},                                                   // no address
		{"-user", "u", "-fleet", "2", "-fleet-v2", "1", "-insecure-skip-verify"},                          // mixed, no -sv2-pool
		{"-user", "u", "-sv2", "-pool", "x:1", "-insecure-skip-verify", "-channel", "group"},              // bad channel
		{"-user", "u", "-protocol", "v3"},                                                                 // bad protocol
		{"-user", "u", "-sv2", "-pool", "x:1", "-authority-key", "nope"},                                  // bad key
		{"-user", "u", "-fleet", "2", "-fleet-v2", "3", "-sv2-pool", "x:1", "-insecure-skip-verify"},      // too many
		{"-user", "u", "-fleet", "2", "-v2-fraction", "1.5", "-sv2-pool", "x:1", "-insecure-skip-verify"}, // bad fraction
	} {
		if _, err := parseFlags(args, &out); err == nil {
			t.Errorf("%q: accepted", args)
		}
	}
	o, err := parseFlags([]string{"-user", "u", "-fleet", "200", "-v2-fraction", "0.5", "-sv2-pool", "x:1", "-insecure-skip-verify"}, &out)
	if err != nil || o.fleet.V2Miners != 100 || !o.fleet.V2.Extended || o.fleet.V2.Addr != "x:1" {
		t.Fatalf("%+v %v", o, err)
	}
}

// redirector is an SV2 pool that answers SetupConnection and the channel
// open, then sends Reconnect to another address and keeps the connection
// open: the miner must leave on the message alone.
type redirector struct {
	ln    net.Listener
	to    string
	conn  chan net.Conn
	rates chan float32 // nominal_hash_rate of each channel opened
}

func startRedirector(t *testing.T, to string) *redirector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	auth, err := keys.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r := &redirector{ln: ln, to: to, conn: make(chan net.Conn, 8), rates: make(chan float32, 8)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		close(r.conn)
		for c := range r.conn {
			c.Close()
		}
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.conn <- c
			wg.Go(func() { r.serve(c, auth) })
		}
	})
	return r
}

func (r *redirector) serve(c net.Conn, auth *keys.SecretKey) {
	nc, err := (&noise.Responder{Keys: &noise.KeyRotator{Authority: auth}, Timeout: 5 * time.Second}).Handshake(context.Background(), c)
	if err != nil {
		return
	}
	host, port, _ := net.SplitHostPort(r.to)
	p, _ := strconv.Atoi(port)
	for {
		_, m, err := nc.ReadMessage()
		if err != nil {
			return
		}
		switch m := m.(type) {
		case *codec.SetupConnection:
			nc.WriteMessage(&codec.SetupConnectionSuccess{UsedVersion: 2})
		case *codec.OpenExtendedMiningChannel:
			select {
			case r.rates <- m.NominalHashRate:
			default:
			}
			nc.WriteMessage(&codec.OpenExtendedMiningChannelSuccess{RequestID: m.RequestID, ChannelID: 1,
				Target: share.MaxTarget.LE(), ExtranonceSize: 8, ExtranoncePrefix: []byte{1, 2, 3, 4}})
			nc.WriteMessage(&codec.Reconnect{NewHost: host, NewPort: uint16(p)})
		}
	}
}

// TestSV2MinerFollowsReconnect: a pool's Reconnect to another host and
// port moves the miner there at once, even with -reconnect 0, and it
// mines on the new pool.
func TestSV2MinerFollowsReconnect(t *testing.T) {
	p := startSV2Pool(t, 1e-4)
	r := startRedirector(t, p.addr())
	cfg := v2Fleet(p, 1, 1, true)
	cfg.V2.Addr, cfg.V2.Authority, cfg.V2.InsecureSkipVerify = r.ln.Addr().String(), nil, true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan summary)
	go func() { done <- runFleet(ctx, cfg, zaptest.NewLogger(t)) }()
	waitFor(t, func() bool { return len(p.Records()) >= 3 })
	cancel()
	if s := <-done; s.Accepted < 3 || s.DialFailures != 0 {
		t.Fatalf("summary %+v", s)
	}
	// Without a suggested difficulty the miner declares its measured
	// hash rate: the SRI pool would answer 0 with the easiest target.
	if rate := <-r.rates; !(rate > 1000) {
		t.Fatalf("nominal_hash_rate %g", rate)
	}
}
