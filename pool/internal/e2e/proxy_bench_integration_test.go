//go:build integration

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/adit-pool/adit/pool/farm"
	"github.com/adit-pool/adit/pool/internal/regtest"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/stratum"
)

// adit-proxy's benchmarks (issue 12, docs/benchmarks.md "adit-proxy"), end
// to end on loopback: the pool's btcd P and the farm's btcd M, peered (M
// relays its blocks to P, as the network would); aditd on P with Job
// Declaration; adit-proxy on M declaring to it; downstream Stratum V1
// miners, an adit-miner fleet (BenchmarkProxyShares) or raw clients written
// here (BenchmarkProxyIdleConnections, BenchmarkProxyNewTip).
//
// Each iteration is one whole measurement whose figures are custom metrics
// (ns/op is meaningless; the setup is not timed): run with -benchtime 1x
// and -count N for ranges, e.g.
//
//	go test -tags integration -run '^$' -bench BenchmarkProxy -benchtime 1x -count 3 -v ./pool/internal/e2e/
//
// Settings from the environment (defaults in brackets):
//
//	ADIT_PROXY_BENCH_MINERS     downstream connections [1000]
//	ADIT_PROXY_BENCH_RATE       shares/s asked of each fleet miner [80]
//	ADIT_PROXY_BENCH_WINDOW     the share measurement window [30s]
//	ADIT_PROXY_BENCH_DOWN_DIFF  the proxy's (fixed) downstream difficulty [1e-9:
//	                            ~4 hashes a share, so the fleet's CPU goes to
//	                            the protocol rather than to hashing]
//	ADIT_PROXY_BENCH_UP_DIFF    the pool's (fixed) difficulty, the upstream
//	                            channel's target [1e-7: 1 share in 100 forwarded]
//	ADIT_PROXY_BENCH_TIPS       new tips per BenchmarkProxyNewTip iteration [20]
//	ADIT_PROXY_BENCH_TIP_EVERY  a block on the farm's node this often during
//	                            BenchmarkProxyShares [10s] (see measureShares)
//	ADIT_PROXY_BENCH_INPROCESS  1: run the farm (pool/farm) inside the test
//	                            binary instead of the adit-proxy process, so
//	                            that -cpuprofile profiles it (BenchmarkProxyShares)
//
// No figure is asserted: a benchmark fails only when the setup does not
// work (a process exits, a miner never gets work).

// proxyBenchSettings are the environment's settings.
type proxyBenchSettings struct {
	miners           int
	rate             float64
	window           time.Duration
	downDiff, upDiff float64
	tips             int
	tipEvery         time.Duration
	inProcess        bool
}

func proxyBenchEnv(tb testing.TB) proxyBenchSettings {
	tb.Helper()
	s := proxyBenchSettings{miners: 1000, rate: 80, window: 30 * time.Second, downDiff: 1e-9, upDiff: 1e-7, tips: 20, tipEvery: 10 * time.Second}
	num := func(key string, v *float64) {
		if e := os.Getenv(key); e != "" {
			f, err := strconv.ParseFloat(e, 64)
			if err != nil || !(f > 0) {
				tb.Fatalf("%s=%q: want a positive number", key, e)
			}
			*v = f
		}
	}
	miners, tips := float64(s.miners), float64(s.tips)
	num("ADIT_PROXY_BENCH_MINERS", &miners)
	num("ADIT_PROXY_BENCH_RATE", &s.rate)
	num("ADIT_PROXY_BENCH_DOWN_DIFF", &s.downDiff)
	num("ADIT_PROXY_BENCH_UP_DIFF", &s.upDiff)
	num("ADIT_PROXY_BENCH_TIPS", &tips)
	s.miners, s.tips = int(miners), int(tips)
	dur := func(key string, v *time.Duration) {
		if e := os.Getenv(key); e != "" {
			d, err := time.ParseDuration(e)
			if err != nil || d <= 0 {
				tb.Fatalf("%s=%q: want a positive duration", key, e)
			}
			*v = d
		}
	}
	dur("ADIT_PROXY_BENCH_WINDOW", &s.window)
	dur("ADIT_PROXY_BENCH_TIP_EVERY", &s.tipEvery)
	s.inProcess = os.Getenv("ADIT_PROXY_BENCH_INPROCESS") == "1"
	return s
}

// proxyWorld is the running stack of a proxy benchmark.
type proxyWorld struct {
	p, m   *regtest.Node
	pc, mc *node.Client
	d      *JDDaemon
	// proc is the adit-proxy process; nil when the farm runs in process
	// (its log in inLog).
	proc  *Process
	inLog *lockedBuffer
	// stratum and http are the proxy's listeners.
	stratum, http string
}

// proxyWorldOptions shape startProxyWorld's stack.
type proxyWorldOptions struct {
	downDiff, upDiff float64
	debug            bool // adit-proxy and aditd log at debug (the tip benchmark's breakdown)
	inProcess        bool
}

// benchBlockFloor keeps every share from being a block, on the pool and
// the proxy alike: the runs measure shares, not btcd's block processing.
const benchBlockFloor = 1e9

// startProxyWorld starts P and M, peers them, aditd with Job Declaration
// on P (its difficulty fixed at o.upDiff) and adit-proxy on M (its miners'
// difficulty fixed at o.downDiff), and returns once the proxy runs jd mode
// with a job.
func startProxyWorld(tb testing.TB, o proxyWorldOptions) *proxyWorld {
	tb.Helper()
	ctx := context.Background()
	w := &proxyWorld{}
	w.p, w.m = regtest.Start(tb, regtest.Options{}), regtest.Start(tb, regtest.Options{})
	w.pc, w.mc = w.p.Client(tb), w.m.Client(tb)
	if err := w.mc.Call(ctx, "addnode", []any{w.p.P2PAddr, "add"}, nil); err != nil {
		tb.Fatalf("addnode: %v", err)
	}
	Eventually(tb, 30*time.Second, "M and P peered", func() bool {
		var peers []json.RawMessage
		return w.pc.Call(ctx, "getpeerinfo", nil, &peers) == nil && len(peers) > 0
	})
	// Off genesis (btcd's templates need a current tip) and relayed to P.
	if _, err := w.mc.Generate(ctx, 1, ""); err != nil {
		tb.Fatal(err)
	}
	Synced(tb, 30*time.Second, w.pc, w.mc)

	level := "info"
	if o.debug {
		level = "debug"
	}
	w.d = StartJDDaemon(tb, bins, NodeRPC{URL: w.p.RPCURL, User: w.p.User, Password: w.p.Password}, DaemonOptions{
		PayoutAddress: poolAddress,
		Extra: fmt.Sprintf("[vardiff]\nstart = %g\nmin = %g\nmax = %g\n\n[regtest]\nblock_floor_difficulty = %g\n\n[log]\nlevel = %q\n",
			o.upDiff, o.upDiff, o.upDiff, benchBlockFloor, level),
	}, "")

	path, stratumAddr, httpAddr := writeProxyConfig(tb, w.d, proxyFile{farm: NodeRPC{URL: w.m.RPCURL, User: w.m.User},
		user: minerAddress1 + ".proxy", diff: o.downDiff, level: level,
		extra: fmt.Sprintf("\n[regtest]\nblock_floor_difficulty = %g\n", benchBlockFloor)})
	w.stratum, w.http = stratumAddr, httpAddr
	if o.inProcess {
		w.runFarm(tb, path, level)
	} else {
		w.proc = Start(tb, "adit-proxy", bins.Proxy, []string{"ADIT_PROXY_NODE_PASSWORD=" + w.m.Password}, "-config", path)
	}
	Eventually(tb, 60*time.Second, "adit-proxy in jd mode with a job", func() bool {
		if w.proc != nil && w.proc.Exited() {
			tb.Fatalf("adit-proxy exited:\n%s", tail(w.proc.Output(), 40))
		}
		m, err := Scrape(w.http)
		return err == nil && m[`adit_proxy_mode{mode="jd"}`] == 1 && m["adit_proxy_jobs_total"] >= 1
	})
	return w
}

// runFarm runs the farm of the configuration at path inside the test
// binary, as adit-proxy would (same registry collectors and /metrics; the
// log, JSON, goes to w.inLog), until the benchmark's cleanup.
func (w *proxyWorld) runFarm(tb testing.TB, path, level string) {
	tb.Helper()
	file, pass, err := farm.LoadConfig(path, func(k string) string {
		if k == "ADIT_PROXY_NODE_PASSWORD" {
			return w.m.Password
		}
		return ""
	})
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := file.Farm(pass)
	if err != nil {
		tb.Fatal(err)
	}
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		tb.Fatal(err)
	}
	w.inLog = &lockedBuffer{}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(w.inLog), lvl))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f, err := farm.New(cfg, log, reg)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", w.http)
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			tb.Errorf("the in-process farm did not stop within 30 s")
		}
		_ = srv.Close()
	})
}

// proxyLog is the proxy's output so far.
func (w *proxyWorld) proxyLog() string {
	if w.proc != nil {
		return w.proc.Output()
	}
	return w.inLog.String()
}

// alive fails the benchmark if the proxy or aditd has exited.
func (w *proxyWorld) alive(tb testing.TB) {
	tb.Helper()
	if w.proc != nil && w.proc.Exited() {
		tb.Fatalf("adit-proxy exited:\n%s", tail(w.proc.Output(), 40))
	}
	if w.d.Exited() {
		tb.Fatalf("aditd exited:\n%s", tail(w.d.Output(), 40))
	}
}

// pid is the process id of a started process.
func (p *Process) pid() int { return p.cmd.Process.Pid }

// procCPU is a process's user + system CPU time so far (from
// /proc/<pid>/stat, clock ticks of 10 ms).
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name "(…)": state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, raw)
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, raw)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, raw)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// vmRSS is a process's VmRSS in bytes (from /proc/<pid>/status).
func vmRSS(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// loadAvg is /proc/loadavg's three averages.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// benchSnapshot is the proxy's and the pool's metrics and CPU at one time.
type benchSnapshot struct {
	at       time.Time
	proxy    map[string]float64
	pool     map[string]float64
	fleetCPU time.Duration
	load     string
}

func (w *proxyWorld) snapshot(tb testing.TB, fleet *Process) benchSnapshot {
	tb.Helper()
	s := benchSnapshot{at: time.Now(), load: loadAvg()}
	var err error
	if s.proxy, err = Scrape(w.http); err != nil {
		tb.Fatalf("proxy metrics: %v", err)
	}
	if s.pool, err = w.d.Metrics(); err != nil {
		tb.Fatalf("aditd metrics: %v", err)
	}
	if fleet != nil {
		if s.fleetCPU, err = procCPU(fleet.pid()); err != nil {
			tb.Fatalf("fleet CPU: %v", err)
		}
	}
	return s
}

// downstreamRejected sums the proxy's downstream shares of every result
// but accepted.
func downstreamRejected(m map[string]float64) float64 {
	var n float64
	for k, v := range m {
		if strings.HasPrefix(k, "adit_proxy_downstream_shares_total{") && k != `adit_proxy_downstream_shares_total{result="accepted"}` {
			n += v
		}
	}
	return n
}

// rejectsByReason is the proxy's downstream shares rejected between m0
// and m1, by result label.
func rejectsByReason(m0, m1 map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m1 {
		if r, ok := strings.CutPrefix(k, "adit_proxy_downstream_shares_total{result=\""); ok && r != `accepted"}` && v > m0[k] {
			out[strings.TrimSuffix(r, `"}`)] = v - m0[k]
		}
	}
	return out
}

// poolV2Results is aditd's Stratum V2 shares between m0 and m1, by result.
func poolV2Results(m0, m1 map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m1 {
		if r, ok := strings.CutPrefix(k, `adit_shares_total{protocol="v2",result="`); ok && v > m0[k] {
			out[strings.TrimSuffix(r, `"}`)] = v - m0[k]
		}
	}
	return out
}

// BenchmarkProxyShares: an adit-miner fleet of ADIT_PROXY_BENCH_MINERS V1
// connections, each paced to ADIT_PROXY_BENCH_RATE shares/s at the proxy's
// fixed difficulty, through adit-proxy to the pool. Over a window after
// every miner has connected: downstream shares accepted (and rejected) per
// second from the proxy's metrics, forwarded and upstream-accepted per
// second, the CPU of the proxy (and of aditd and the fleet, on the same
// cores), and the fleet's own summary for the whole run.
func BenchmarkProxyShares(b *testing.B) {
	s := proxyBenchEnv(b)
	w := startProxyWorld(b, proxyWorldOptions{downDiff: s.downDiff, upDiff: s.upDiff, inProcess: s.inProcess})
	b.ResetTimer()
	for range b.N {
		w.measureShares(b, s)
	}
}

func (w *proxyWorld) measureShares(b *testing.B, s proxyBenchSettings) {
	const warmup = 5 * time.Second
	fleet := Start(b, "adit-miner fleet", bins.Miner, nil, "-pool", w.stratum, "-user", "farm.rig",
		"-fleet", strconv.Itoa(s.miners), "-threads", "1", "-share-rate", strconv.FormatFloat(s.rate, 'g', -1, 64),
		"-duration", (10*time.Minute + s.window).String(), "-json", "-log-level", "warn")
	start := time.Now()
	Eventually(b, 3*time.Minute, fmt.Sprintf("%d downstream connections", s.miners), func() bool {
		w.alive(b)
		if fleet.Exited() {
			b.Fatalf("the fleet exited:\n%s", tail(fleet.Output(), 40))
		}
		return ScrapeOne(w.http, "adit_proxy_downstream_connections") >= float64(s.miners)
	})
	connected := time.Since(start)
	// A new tip every tipEvery: the proxy makes a new job only for a new
	// template, and a job takes at most share.DefaultMaxSharesPerJob
	// shares (its duplicate filter), after which every share on it is
	// stale. btcd with an empty mempool offers no other new template.
	ctx, stop := context.WithCancel(context.Background())
	tipsDone := make(chan int)
	go func() {
		n := 0
		defer func() { tipsDone <- n }()
		t := time.NewTicker(s.tipEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := w.mc.Generate(ctx, 1, ""); err != nil {
				if ctx.Err() == nil {
					b.Errorf("generate during the run: %v", err)
				}
				return
			}
			n++
		}
	}()
	time.Sleep(warmup)
	s0 := w.snapshot(b, fleet)
	time.Sleep(s.window)
	s1 := w.snapshot(b, fleet)
	stop()
	tips := <-tipsDone
	w.alive(b)
	if err := fleet.Signal(syscall.SIGINT, 30*time.Second); err != nil {
		b.Fatalf("fleet: %v", err)
	}
	sum, err := ParseFleetSummary(fleet.Output())
	if err != nil {
		b.Fatal(err)
	}

	dt := s1.at.Sub(s0.at).Seconds()
	rate := func(m0, m1 map[string]float64, k string) float64 { return (m1[k] - m0[k]) / dt }
	acc := rate(s0.proxy, s1.proxy, `adit_proxy_downstream_shares_total{result="accepted"}`)
	rej := (downstreamRejected(s1.proxy) - downstreamRejected(s0.proxy)) / dt
	fwd := rate(s0.proxy, s1.proxy, "adit_proxy_forwarded_shares_total")
	upAcc := rate(s0.proxy, s1.proxy, `adit_proxy_upstream_shares_total{result="accepted"}`)
	upRej := rate(s0.proxy, s1.proxy, `adit_proxy_upstream_shares_total{result="rejected"}`)
	poolAcc := rate(s0.pool, s1.pool, `adit_shares_total{protocol="v2",result="accepted"}`)
	proxyCPU := rate(s0.proxy, s1.proxy, "process_cpu_seconds_total")
	poolCPU := rate(s0.pool, s1.pool, "process_cpu_seconds_total")
	fleetCPU := (s1.fleetCPU - s0.fleetCPU).Seconds() / dt

	b.ReportMetric(acc, "down-accepted/s")
	b.ReportMetric(rej, "down-rejected/s")
	b.ReportMetric(fwd, "forwarded/s")
	b.ReportMetric(upAcc, "up-accepted/s")
	b.ReportMetric(100*proxyCPU, "proxy-cpu-%")
	if acc > 0 {
		b.ReportMetric(1e6*proxyCPU/acc, "proxy-cpu-µs/share")
	}
	b.ReportMetric(sum.SharesPerSecond, "fleet-accepted/s")
	b.ReportMetric(sum.LatencyP99Ms, "fleet-p99-ms")
	b.Logf("proxy bench shares: %d miners × %g/s asked (%g/s), downstream difficulty %g, upstream %g (expected forwarded fraction %.4f); "+
		"all connected after %v, window %.1f s after a %v warm-up; %d new tips on the farm's node during the run (every %v); "+
		"load average %s → %s; in process %v",
		s.miners, s.rate, float64(s.miners)*s.rate, s.downDiff, s.upDiff, s.downDiff/s.upDiff, connected.Round(100*time.Millisecond), dt,
		warmup, tips, s.tipEvery, s0.load, s1.load, s.inProcess)
	b.Logf("rejected downstream over the window, by reason: %v; fleet rejects by code: %v %v", rejectsByReason(s0.proxy, s1.proxy),
		sum.Rejected, sum.RejectMessages)
	b.Logf("the pool's Stratum V2 shares over the window, by result: %v", poolV2Results(s0.pool, s1.pool))
	b.Logf("proxy metrics over the window: downstream accepted %.0f/s, rejected %.1f/s; forwarded %.1f/s (%.4f of accepted); "+
		"upstream accepted %.1f/s, rejected %.1f/s; the pool's v2 accepted %.1f/s; connections %v",
		acc, rej, fwd, fwd/max(acc, 1), upAcc, upRej, poolAcc, s1.proxy["adit_proxy_downstream_connections"])
	b.Logf("CPU over the window (1.0 = one core): proxy %.2f, aditd %.2f, fleet %.2f; proxy RSS %.1f MiB, goroutines %v",
		proxyCPU, poolCPU, fleetCPU, s1.proxy["process_resident_memory_bytes"]/(1<<20), s1.proxy["go_goroutines"])
	b.Logf("fleet summary (whole run, %.1f s): accepted %d (%.0f/s), rejected %v, dropped queue-full %d, dropped stale %d, "+
		"I/O errors %d, disconnects %d, dial failures %d, submit→reply p50 %.1f ms p99 %.1f ms max %.1f ms",
		sum.Seconds, sum.Accepted, sum.SharesPerSecond, sum.Rejected, sum.DroppedQueueFull, sum.DroppedStale,
		sum.IOErrors, sum.Disconnects, sum.DialFailures, sum.LatencyP50Ms, sum.LatencyP99Ms, sum.LatencyMaxMs)
	// The next iteration starts from no connections.
	Eventually(b, time.Minute, "the fleet's connections closed", func() bool {
		return ScrapeOne(w.http, "adit_proxy_downstream_connections") == 0
	})
}

// rawMiners are Stratum V1 clients that subscribe, authorize and read:
// each notes when the first clean mining.notify for each prev hash
// arrived.
type rawMiners struct {
	conns []net.Conn
	wg    sync.WaitGroup
	ready atomic.Int64 // miners that have had a job
	lost  atomic.Int64 // connections that ended early

	mu    sync.Mutex
	clean map[string][]time.Time // V1 prev hash → each miner's arrival time
}

// dialRawMiners connects n raw miners to addr and returns once each has
// had a job; they are closed at cleanup (or by close).
func dialRawMiners(tb testing.TB, addr string, n int) *rawMiners {
	tb.Helper()
	r := &rawMiners{conns: make([]net.Conn, n), clean: map[string][]time.Time{}}
	tb.Cleanup(r.close)
	sem := make(chan struct{}, 64)
	var dials sync.WaitGroup
	var failed atomic.Pointer[error]
	for i := range n {
		sem <- struct{}{}
		dials.Add(1)
		go func() {
			defer func() { <-sem; dials.Done() }()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err == nil {
				_, err = fmt.Fprintf(c, `{"id":1,"method":"mining.subscribe","params":["proxybench/1.0"]}`+"\n"+
					`{"id":2,"method":"mining.authorize","params":["farm.raw%d","x"]}`+"\n", i)
			}
			if err != nil {
				failed.Store(&err)
				if c != nil {
					c.Close()
				}
				return
			}
			r.conns[i] = c
			r.wg.Add(1)
			go r.read(c)
		}()
	}
	dials.Wait()
	if err := failed.Load(); err != nil {
		tb.Fatalf("raw miner: %v", *err)
	}
	Eventually(tb, 2*time.Minute, fmt.Sprintf("%d raw miners with a job", n), func() bool {
		if l := r.lost.Load(); l > 0 {
			tb.Fatalf("%d raw miners lost their connection", l)
		}
		return r.ready.Load() >= int64(n)
	})
	return r
}

// read reads c's lines until it closes, timestamping each on arrival.
func (r *rawMiners) read(c net.Conn) {
	defer r.wg.Done()
	br := bufio.NewReaderSize(c, 64<<10)
	seen := map[string]bool{}
	hadJob := false
	notify := []byte(`"mining.notify"`)
	for {
		line, err := br.ReadBytes('\n')
		at := time.Now()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				r.lost.Add(1)
			}
			return
		}
		if !bytes.Contains(line, notify) {
			continue
		}
		var msg struct {
			Params []json.RawMessage `json:"params"`
		}
		if json.Unmarshal(line, &msg) != nil || len(msg.Params) < 9 {
			continue
		}
		var prev string
		var clean bool
		if json.Unmarshal(msg.Params[1], &prev) != nil || json.Unmarshal(msg.Params[8], &clean) != nil {
			continue
		}
		if !hadJob {
			hadJob = true
			r.ready.Add(1)
		}
		if clean && !seen[prev] {
			seen[prev] = true
			r.mu.Lock()
			r.clean[prev] = append(r.clean[prev], at)
			r.mu.Unlock()
		}
	}
}

// arrivals are the arrival times of the clean job on prev (V1 order, hex).
func (r *rawMiners) arrivals(prev string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.clean[prev])
}

func (r *rawMiners) close() {
	for _, c := range r.conns {
		if c != nil {
			c.Close()
		}
	}
	r.wg.Wait()
}

// BenchmarkProxyIdleConnections: the adit-proxy process's memory (VmRSS,
// and the Go runtime's figures from its /metrics) with no downstream
// connection and with ADIT_PROXY_BENCH_MINERS idle raw miners that have
// subscribed, authorized and had a job; the difference per connection.
func BenchmarkProxyIdleConnections(b *testing.B) {
	s := proxyBenchEnv(b)
	w := startProxyWorld(b, proxyWorldOptions{downDiff: 1e-3, upDiff: s.upDiff})
	b.ResetTimer()
	for range b.N {
		w.measureIdle(b, s.miners)
	}
}

func (w *proxyWorld) measureIdle(b *testing.B, n int) {
	const settle = 3 * time.Second
	type mem struct {
		rss, heap, stack, sys, goroutines float64
	}
	read := func() mem {
		w.alive(b)
		rss, err := vmRSS(w.proc.pid())
		if err != nil {
			b.Fatal(err)
		}
		m, err := Scrape(w.http)
		if err != nil {
			b.Fatal(err)
		}
		return mem{rss: rss, heap: m["go_memstats_heap_inuse_bytes"], stack: m["go_memstats_stack_inuse_bytes"],
			sys: m["go_memstats_sys_bytes"], goroutines: m["go_goroutines"]}
	}
	time.Sleep(settle)
	before := read()
	load0 := loadAvg()
	r := dialRawMiners(b, w.stratum, n)
	time.Sleep(settle)
	held := read()
	conns := ScrapeOne(w.http, "adit_proxy_downstream_connections")
	r.close()
	per := func(f func(mem) float64) float64 { return (f(held) - f(before)) / float64(n) }
	b.ReportMetric(per(func(m mem) float64 { return m.rss })/1024, "rss-KiB/conn")
	b.ReportMetric(per(func(m mem) float64 { return m.heap })/1024, "heap-KiB/conn")
	b.ReportMetric(per(func(m mem) float64 { return m.stack })/1024, "stack-KiB/conn")
	b.ReportMetric(per(func(m mem) float64 { return m.goroutines }), "goroutines/conn")
	mib := func(v float64) float64 { return v / (1 << 20) }
	b.Logf("proxy bench idle: %d raw miners (%v connections on the proxy's metric); load average %s → %s", n, conns, load0, loadAvg())
	b.Logf("VmRSS %.1f → %.1f MiB (%.1f KiB/conn); heap in use %.1f → %.1f MiB; stacks %.1f → %.1f MiB; Go sys %.1f → %.1f MiB; goroutines %v → %v",
		mib(before.rss), mib(held.rss), per(func(m mem) float64 { return m.rss })/1024, mib(before.heap), mib(held.heap),
		mib(before.stack), mib(held.stack), mib(before.sys), mib(held.sys), before.goroutines, held.goroutines)
	Eventually(b, time.Minute, "the raw miners' connections closed", func() bool {
		return ScrapeOne(w.http, "adit_proxy_downstream_connections") == 0
	})
}

// logEvent is the first line of a JSON log (zap's production encoder: ts
// in Unix seconds) with message msg and field height, at or after since.
func logEvent(out, msg string, height int64, since time.Time) (time.Time, bool) {
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, msg) {
			continue
		}
		var e struct {
			TS     float64 `json:"ts"`
			Msg    string  `json:"msg"`
			Height int64   `json:"height"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Msg != msg || e.Height != height {
			continue
		}
		sec, frac := math.Modf(e.TS)
		at := time.Unix(int64(sec), int64(frac*1e9))
		if !at.Before(since.Add(-time.Second)) {
			return at, true
		}
	}
	return time.Time{}, false
}

// tipTiming is one new tip's timeline, each from the generate call.
type tipTiming struct {
	height                          int64
	generated, template, poolTip    time.Duration
	declared, jobSet                time.Duration
	first, p50, last                time.Duration
	broadcast, proposal             time.Duration // the metrics' sums over this tip
	tipWaits, declarations, notifys float64
}

// BenchmarkProxyNewTip: ADIT_PROXY_BENCH_MINERS raw miners behind the
// proxy; ADIT_PROXY_BENCH_TIPS times, a block is mined on the farm's node
// (generate 1) and the time until each miner has the clean job on it is
// measured, with the steps between from the proxy's and aditd's debug logs:
// the farm node's template (longpoll answered), the pool's new tip (P has
// the block from M, aditd has its template), the JDS's acceptance of the
// declaration, the custom job set on the channel (and published to the
// sessions), then the notifies as the miners read them.
func BenchmarkProxyNewTip(b *testing.B) {
	s := proxyBenchEnv(b)
	w := startProxyWorld(b, proxyWorldOptions{downDiff: 1e-3, upDiff: s.upDiff, debug: true})
	r := dialRawMiners(b, w.stratum, s.miners)
	b.ResetTimer()
	for range b.N {
		w.measureTips(b, r, s)
	}
}

func (w *proxyWorld) measureTips(b *testing.B, r *rawMiners, s proxyBenchSettings) {
	ctx := context.Background()
	const gap = 2 * time.Second // between tips: longpolls re-armed, the previous fan-out long done
	var tips []tipTiming
	var all []time.Duration // every miner's delay, all tips
	load0 := loadAvg()
	for range s.tips {
		time.Sleep(gap)
		w.alive(b)
		m0 := w.snapshot(b, nil)
		h0, err := w.mc.GetBlockCount(ctx)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		hs, err := w.mc.Generate(ctx, 1, "")
		if err != nil || len(hs) != 1 {
			b.Fatalf("generate: %v %v", hs, err)
		}
		tt := tipTiming{height: h0 + 1, generated: time.Since(t0)}
		pv := stratum.PrevHashV1(hs[0])
		prev := hex.EncodeToString(pv[:])
		Eventually(b, time.Minute, fmt.Sprintf("every raw miner with the job on block %d", h0+1), func() bool {
			w.alive(b)
			if l := r.lost.Load(); l > 0 {
				b.Fatalf("%d raw miners lost their connection", l)
			}
			return len(r.arrivals(prev)) >= s.miners
		})
		Synced(b, 30*time.Second, w.pc, w.mc)
		arr := r.arrivals(prev)
		ds := make([]time.Duration, len(arr))
		for i, a := range arr {
			ds[i] = a.Sub(t0)
		}
		slices.Sort(ds)
		all = append(all, ds...)
		tt.first, tt.p50, tt.last = ds[0], ds[(len(ds)-1)/2], ds[len(ds)-1]
		// Template heights: the block after the new tip.
		since := func(out, msg string) time.Duration {
			at, ok := logEvent(out, msg, h0+2, t0)
			if !ok {
				return -1
			}
			return at.Sub(t0)
		}
		proxyLog, poolLog := w.proxyLog(), w.d.Output()
		tt.template = since(proxyLog, "own node template")
		tt.jobSet = since(proxyLog, "custom job set")
		tt.poolTip = since(poolLog, "new tip")
		tt.declared = since(poolLog, "jd declaration accepted")
		// Metrics settle after the custom job: scrape once more.
		time.Sleep(200 * time.Millisecond)
		m1 := w.snapshot(b, nil)
		secs := func(m0, m1 map[string]float64, k string) time.Duration {
			return time.Duration((m1[k] - m0[k]) * float64(time.Second))
		}
		tt.broadcast = secs(m0.proxy, m1.proxy, "adit_proxy_job_broadcast_seconds_sum")
		tt.notifys = m1.proxy["adit_proxy_job_broadcast_seconds_count"] - m0.proxy["adit_proxy_job_broadcast_seconds_count"]
		tt.proposal = secs(m0.pool, m1.pool, "adit_jd_proposal_seconds_sum")
		tt.tipWaits = m1.pool["adit_jd_tip_waits_total"] - m0.pool["adit_jd_tip_waits_total"]
		tt.declarations = m1.pool[`adit_jd_declarations_total{result="accepted"}`] - m0.pool[`adit_jd_declarations_total{result="accepted"}`]
		tips = append(tips, tt)
	}
	ms := func(d time.Duration) string {
		if d < 0 {
			return "?"
		}
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
	}
	b.Logf("proxy bench new tip: %d raw miners, %d tips %v apart; load average %s → %s", s.miners, len(tips), gap, load0, loadAvg())
	b.Logf("ms from the generate call: height | generate returned | proxy: farm node template | pool: new tip | JDS: declaration accepted | " +
		"proxy: custom job set (published) | first notify | p50 notify | last notify | hub broadcast µs (jobs) | JDS proposal ms | tip waits | declarations")
	for _, t := range tips {
		b.Logf("%d | %s | %s | %s | %s | %s | %s | %s | %s | %.0f (%v) | %s | %v | %v", t.height, ms(t.generated), ms(t.template), ms(t.poolTip),
			ms(t.declared), ms(t.jobSet), ms(t.first), ms(t.p50), ms(t.last), float64(t.broadcast)/float64(time.Microsecond), t.notifys,
			ms(t.proposal), t.tipWaits, t.declarations)
	}
	pct := func(ds []time.Duration, p int) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[(len(ds)-1)*p/100]
	}
	col := func(f func(tipTiming) time.Duration) []time.Duration {
		var ds []time.Duration
		for _, t := range tips {
			if d := f(t); d >= 0 {
				ds = append(ds, d)
			}
		}
		return ds
	}
	last := col(func(t tipTiming) time.Duration { return t.last })
	msf := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(msf(pct(last, 50)), "last-notify-p50-ms")
	b.ReportMetric(msf(pct(last, 99)), "last-notify-p99-ms")
	b.ReportMetric(msf(slices.Max(last)), "last-notify-max-ms")
	b.ReportMetric(msf(pct(all, 99)), "every-notify-p99-ms")
	steps := []struct {
		name string
		f    func(tipTiming) time.Duration
	}{
		{"generate returned", func(t tipTiming) time.Duration { return t.generated }},
		{"proxy: farm node template", func(t tipTiming) time.Duration { return t.template }},
		{"pool: new tip", func(t tipTiming) time.Duration { return t.poolTip }},
		{"JDS: declaration accepted", func(t tipTiming) time.Duration { return t.declared }},
		{"proxy: custom job set", func(t tipTiming) time.Duration { return t.jobSet }},
		{"first notify", func(t tipTiming) time.Duration { return t.first }},
		{"p50 notify", func(t tipTiming) time.Duration { return t.p50 }},
		{"last notify", func(t tipTiming) time.Duration { return t.last }},
		{"custom job set → last notify", func(t tipTiming) time.Duration {
			if t.jobSet < 0 {
				return -1
			}
			return t.last - t.jobSet
		}},
		{"farm node template → custom job set", func(t tipTiming) time.Duration {
			if t.jobSet < 0 || t.template < 0 {
				return -1
			}
			return t.jobSet - t.template
		}},
	}
	for _, st := range steps {
		ds := col(st.f)
		if len(ds) == 0 {
			b.Logf("%s: not seen", st.name)
			continue
		}
		b.Logf("%-36s p50 %7s  p99 %7s  max %7s ms (%d tips)", st.name, ms(pct(ds, 50)), ms(pct(ds, 99)), ms(slices.Max(ds)), len(ds))
	}
	b.Logf("every miner, every tip (%d): p50 %s p99 %s max %s ms", len(all), ms(pct(all, 50)), ms(pct(all, 99)), ms(slices.Max(all)))
}
