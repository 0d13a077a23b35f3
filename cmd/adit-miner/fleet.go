package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/adit-pool/adit/stratum/client"
)

// maxLatencySamples bounds the latency samples kept (8 bytes each); beyond
// it, percentiles are computed over the first samples only.
const maxLatencySamples = 1 << 21

// recorder collects outcomes from every miner of a process. It is safe for
// concurrent use.
type recorder struct {
	mu        sync.Mutex
	accepted  uint64
	rejected  map[string]uint64 // by code: V1 numeric, SV2 error string
	messages  map[string]string // last message seen per code
	ioErrors  uint64
	latencies []time.Duration
	// byProto splits the outcomes by protocol ("v1", "v2").
	byProto map[string]*protoCounts
	// byWorker counts, per authorized worker name, the submissions sent and
	// the accepted replies received.
	byWorker map[string]*workerCounts

	drops, stale, dials, discs atomic.Uint64
	conns                      atomic.Int64

	maxShares uint64 // 0: unlimited
	limitHit  func()

	// jd counts Job Declaration (nil unless a miner runs in JD mode).
	jd *jdRecorder
}

func newRecorder(maxShares uint64, limitHit func()) *recorder {
	return &recorder{rejected: map[string]uint64{}, messages: map[string]string{}, byWorker: map[string]*workerCounts{},
		byProto: map[string]*protoCounts{}, maxShares: maxShares, limitHit: limitHit}
}

// workerCounts are one worker's submission outcomes.
type workerCounts struct {
	submitted, accepted uint64
}

func (r *recorder) dropped()          { r.drops.Add(1) }
func (r *recorder) staleDropped()     { r.stale.Add(1) }
func (r *recorder) dialFailed()       { r.dials.Add(1) }
func (r *recorder) disconnected()     { r.discs.Add(1) }
func (r *recorder) connected(d int64) { r.conns.Add(d) }

// result records the outcome of one submission by worker and calls
// limitHit once the answered shares reach maxShares. Every submission
// counts as submitted, whatever its outcome (a submission whose reply was
// lost may still have been accepted by the pool).
func (r *recorder) result(worker string, ok bool, rerr *client.RPCError, err error, lat time.Duration) {
	o := outcome{ok: ok, ioError: err != nil, latency: lat}
	if rerr != nil {
		o.code, o.message = strconv.Itoa(rerr.Code), rerr.Message
	}
	r.record("v1", worker, o)
}

// outcome is one submission's result: accepted, rejected with code and
// message, or lost to an I/O error.
type outcome struct {
	ok            bool
	code, message string
	ioError       bool
	latency       time.Duration
}

// record records one submission of protocol proto by worker; see result.
func (r *recorder) record(proto, worker string, o outcome) {
	r.mu.Lock()
	pc := r.byProto[proto]
	if pc == nil {
		pc = &protoCounts{}
		r.byProto[proto] = pc
	}
	wc := r.byWorker[worker]
	if wc == nil {
		wc = &workerCounts{}
		r.byWorker[worker] = wc
	}
	wc.submitted++
	switch {
	case o.ioError:
		r.ioErrors++
		pc.ioErrors++
		r.mu.Unlock()
		return
	case o.ok:
		r.accepted++
		wc.accepted++
		pc.accepted++
	default:
		r.rejected[o.code]++
		r.messages[o.code] = o.message
		pc.rejected++
	}
	if len(r.latencies) < maxLatencySamples {
		r.latencies = append(r.latencies, o.latency)
	}
	if len(pc.latencies) < maxLatencySamples {
		pc.latencies = append(pc.latencies, o.latency)
	}
	answered := r.accepted
	for _, n := range r.rejected {
		answered += n
	}
	r.mu.Unlock()
	if r.maxShares > 0 && answered >= r.maxShares && r.limitHit != nil {
		r.limitHit()
	}
}

// summary is the end-of-run report; its JSON form is printed by -json.
type summary struct {
	Miners          int     `json:"miners"`
	ThreadsPerMiner int     `json:"threads_per_miner"`
	Seconds         float64 `json:"seconds"`
	Hashes          uint64  `json:"hashes"`
	Hashrate        float64 `json:"hashrate_hs"`
	Accepted        uint64  `json:"accepted"`
	// AcceptedByWorker is the accepted replies per worker name (the
	// username each miner authorized as). Workers with none are listed
	// with 0 when they submitted anything.
	AcceptedByWorker map[string]uint64 `json:"accepted_by_worker"`
	// SubmittedByWorker is the submissions sent per worker, whatever their
	// outcome, including those whose reply never came (I/O errors): an
	// upper bound on what the pool can have recorded for the worker.
	SubmittedByWorker map[string]uint64 `json:"submitted_by_worker"`
	Rejected          map[string]uint64 `json:"rejected_by_code"`
	RejectMessages    map[string]string `json:"reject_messages,omitempty"`
	IOErrors          uint64            `json:"submit_io_errors"`
	DroppedQueueFull  uint64            `json:"dropped_queue_full"`
	DroppedStale      uint64            `json:"dropped_stale"`
	DialFailures      uint64            `json:"dial_failures"`
	Disconnects       uint64            `json:"disconnects"`
	SharesPerSecond   float64           `json:"accepted_per_second"`
	LatencyP50Ms      float64           `json:"latency_p50_ms"`
	LatencyP99Ms      float64           `json:"latency_p99_ms"`
	LatencyMaxMs      float64           `json:"latency_max_ms"`
	// ByProtocol splits accepted, rejected and latency by protocol
	// ("v1", "v2"); only protocols with submissions are listed.
	ByProtocol map[string]protoSummary `json:"by_protocol,omitempty"`
	// The JD miner's mode, fallbacks, declared jobs and blocks (JD mode
	// only).
	*jdSummary
}

func (r *recorder) summary(miners, threads int, elapsed time.Duration, hashes uint64) summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := summary{
		Miners: miners, ThreadsPerMiner: threads, Seconds: elapsed.Seconds(), Hashes: hashes,
		Accepted: r.accepted, Rejected: map[string]uint64{}, RejectMessages: map[string]string{},
		IOErrors: r.ioErrors, DroppedQueueFull: r.drops.Load(), DroppedStale: r.stale.Load(),
		DialFailures: r.dials.Load(), Disconnects: r.discs.Load(),
		AcceptedByWorker: make(map[string]uint64, len(r.byWorker)), SubmittedByWorker: make(map[string]uint64, len(r.byWorker)),
	}
	for w, c := range r.byWorker {
		s.AcceptedByWorker[w] = c.accepted
		s.SubmittedByWorker[w] = c.submitted
	}
	for c, n := range r.rejected {
		s.Rejected[c] = n
		s.RejectMessages[c] = r.messages[c]
	}
	if sec := elapsed.Seconds(); sec > 0 {
		s.Hashrate = float64(hashes) / sec
		s.SharesPerSecond = float64(r.accepted) / sec
	}
	s.LatencyP50Ms, s.LatencyP99Ms, s.LatencyMaxMs = percentiles(r.latencies)
	if r.jd != nil {
		s.jdSummary = r.jd.summary()
	}
	if len(r.byProto) > 0 {
		s.ByProtocol = make(map[string]protoSummary, len(r.byProto))
		for p, c := range r.byProto {
			s.ByProtocol[p] = c.summary(elapsed)
		}
	}
	return s
}

// percentiles returns the p50, p99 and maximum of l in milliseconds.
func percentiles(l []time.Duration) (p50, p99, max float64) {
	n := len(l)
	if n == 0 {
		return 0, 0, 0
	}
	l = slices.Clone(l)
	slices.Sort(l)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return ms(l[(n-1)*50/100]), ms(l[(n-1)*99/100]), ms(l[n-1])
}

// writeText prints s for people.
func (s *summary) writeText(w io.Writer) {
	fmt.Fprintf(w, "miners %d × %d threads, %.1fs, %.3f MH/s\n", s.Miners, s.ThreadsPerMiner, s.Seconds, s.Hashrate/1e6)
	fmt.Fprintf(w, "accepted %d (%.2f shares/s)\n", s.Accepted, s.SharesPerSecond)
	codes := make([]string, 0, len(s.Rejected))
	for c := range s.Rejected {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "rejected %s: %d (%s)\n", c, s.Rejected[c], s.RejectMessages[c])
	}
	var extra []string
	for _, kv := range []struct {
		k string
		v uint64
	}{{"submit I/O errors", s.IOErrors}, {"dropped (queue full)", s.DroppedQueueFull}, {"dropped (stale)", s.DroppedStale},
		{"dial failures", s.DialFailures}, {"disconnects", s.Disconnects}} {
		if kv.v > 0 {
			extra = append(extra, fmt.Sprintf("%s %d", kv.k, kv.v))
		}
	}
	if len(extra) > 0 {
		fmt.Fprintln(w, strings.Join(extra, ", "))
	}
	if j := s.jdSummary; j != nil {
		fmt.Fprintf(w, "job declaration: mode %s, fallbacks %d, declared jobs accepted %d, rejected %v, blocks solo %d, pool %d\n",
			j.Mode, j.Fallbacks, j.DeclaredJobs.Accepted, j.DeclaredJobs.Rejected, j.BlocksSolo, j.BlocksPool)
	}
	fmt.Fprintf(w, "submit→reply latency p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", s.LatencyP50Ms, s.LatencyP99Ms, s.LatencyMaxMs)
	s.writeProtocols(w)
}

// fleetConfig configures runFleet.
type fleetConfig struct {
	// Miners is the number of independent miners (connections).
	Miners int
	// Base is each miner's configuration; usernames get a per-miner suffix
	// when Miners > 1.
	Base minerConfig
	// DialConcurrency bounds simultaneous handshakes.
	DialConcurrency int
	// MaxShares stops the run after this many answered shares (0: no limit).
	MaxShares uint64
	// V2Miners of the Miners speak Stratum V2 with V2 (miners
	// Miners-V2Miners … Miners-1); the others Stratum V1.
	V2Miners int
	V2       *v2Config
	// JD makes the (single) miner a Job Declarator Client.
	JD *jdConfig
}

// fleetUsername gives miner i of a fleet its own worker name:
// address.worker → address.worker-i, address → address.i.
func fleetUsername(user string, i int) string {
	if strings.Contains(user, ".") {
		return user + "-" + strconv.Itoa(i)
	}
	return user + "." + strconv.Itoa(i)
}

// runFleet runs the miners until ctx ends or MaxShares is reached and
// returns the summary. Every goroutine has returned when it returns.
func runFleet(ctx context.Context, cfg fleetConfig, log *zap.Logger) summary {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rec := newRecorder(cfg.MaxShares, cancel)
	if cfg.JD != nil {
		rec.jd = &jdRecorder{}
	}
	if cfg.DialConcurrency < 1 {
		cfg.DialConcurrency = 32
	}
	sem := make(chan struct{}, cfg.DialConcurrency)
	if cfg.V2Miners > 0 && cfg.V2.NominalHashRate == 0 && cfg.Base.Client.SuggestDifficulty == 0 {
		v2 := *cfg.V2
		v2.NominalHashRate = float32(measureHashrate(hashrateProbe) * float64(max(cfg.Base.Threads, 1)))
		cfg.V2 = &v2
	}
	miners := make([]*miner, cfg.Miners)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range miners {
		mc := cfg.Base
		mc.DialSem = sem
		if i >= cfg.Miners-cfg.V2Miners {
			mc.V2, mc.JD = cfg.V2, cfg.JD
		}
		if cfg.Miners > 1 {
			mc.Client.Username = fleetUsername(mc.Client.Username, i)
			mc.Log = log.With(zap.Int("miner", i))
		} else {
			mc.Log = log
		}
		miners[i] = newMiner(mc, rec)
		wg.Add(1)
		go func(m *miner) {
			defer wg.Done()
			if err := m.run(ctx); err != nil {
				m.cfg.Log.Error("miner stopped", zap.Error(err))
			}
		}(miners[i])
	}
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	var lastHashes uint64
	last := start
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
loop:
	for {
		select {
		case <-done:
			break loop
		case now := <-progress.C:
			var h uint64
			for _, m := range miners {
				h += m.hashes.Load()
			}
			rec.mu.Lock()
			acc := rec.accepted
			rec.mu.Unlock()
			log.Info("progress", zap.Int64("connected", rec.conns.Load()), zap.Uint64("accepted", acc),
				zap.Float64("mhs", float64(h-lastHashes)/now.Sub(last).Seconds()/1e6))
			lastHashes, last = h, now
		}
	}
	elapsed := time.Since(start)
	var hashes uint64
	for _, m := range miners {
		hashes += m.hashes.Load()
	}
	return rec.summary(cfg.Miners, cfg.Base.Threads, elapsed, hashes)
}
