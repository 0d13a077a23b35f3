//go:build integration

package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/internal/pgtest"
)

// The storage fault tests run the real aditd with a share log and a real
// Postgres 15, a real btcd, and a fleet of adit-miner processes. Shares are
// assigned a tiny fixed difficulty (about 43 hashes each) so CPU miners make
// thousands per second on a loaded 2-core machine, paced by -share-rate.
const (
	loadDifficulty = 1e-8
	loadUser       = minerAddress1 + ".load"
	acceptedSeries = `adit_shares_total{protocol="v1",result="accepted"}`
	lagSeries      = "adit_sharelog_lag_records"
	shipErrSeries  = "adit_share_ship_errors_total"
	shippedSeries  = "adit_shares_shipped_total"
)

// storageRig is a daemon with a share log shipped to its own Postgres.
type storageRig struct {
	pg     *pgtest.Server
	dsn    string
	logDir string
	d      *Daemon
}

func startStorageRig(t *testing.T) *storageRig {
	t.Helper()
	pg := pgtest.Start(t)
	_, _, rpc := startNode(t)
	r := &storageRig{pg: pg, dsn: pg.DSN(), logDir: t.TempDir()}
	r.d = StartDaemon(t, bins, rpc, ShareLogOptions(poolAddress, r.logDir, r.dsn, loadDifficulty))
	return r
}

// fleet is a running adit-miner -fleet process.
type fleet struct {
	*Process
	miners int
}

// startFleet runs miners miners, each paced to rate shares/s, against addr;
// the process stops by itself after maxShares answered shares or limit.
func startFleet(t *testing.T, addr string, miners int, rate float64, maxShares uint64, limit time.Duration) *fleet {
	t.Helper()
	p := Start(t, "adit-miner-fleet", bins.Miner, nil,
		"-pool", addr, "-user", loadUser, "-fleet", strconv.Itoa(miners), "-threads", "1",
		"-share-rate", strconv.FormatFloat(rate, 'f', -1, 64),
		"-max-shares", strconv.FormatUint(maxShares, 10), "-duration", limit.String(),
		"-reconnect", "200ms", "-timeout", "10s", "-json", "-log-level", "warn")
	return &fleet{Process: p, miners: miners}
}

// stop ends the fleet with SIGINT (submissions in flight get their reply
// first) unless it already stopped, and returns its summary.
func (f *fleet) stop(t *testing.T) FleetSummary {
	t.Helper()
	if err := f.Signal(syscall.SIGINT, 30*time.Second); err != nil {
		t.Fatalf("miner fleet exit: %v", err)
	}
	return f.summary(t)
}

func (f *fleet) summary(t *testing.T) FleetSummary {
	t.Helper()
	s, err := ParseFleetSummary(f.Output())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lagSampler polls the daemon's metrics in the background and keeps the
// largest shipper lag seen.
type lagSampler struct {
	mu     sync.Mutex
	d      *Daemon
	maxLag float64
	stop   chan struct{}
	done   chan struct{}
}

func sampleLag(d *Daemon) *lagSampler {
	s := &lagSampler{d: d, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			s.mu.Lock()
			d := s.d
			s.mu.Unlock()
			if v := d.Metric(lagSeries); v > 0 {
				s.mu.Lock()
				s.maxLag = max(s.maxLag, v)
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// follow points the sampler at a restarted daemon.
func (s *lagSampler) follow(d *Daemon) { s.mu.Lock(); s.d = d; s.mu.Unlock() }

func (s *lagSampler) finish() float64 {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxLag
}

// waitShipped waits until the shipper has caught up with the log: the lag
// gauge is 0 and something was shipped since the daemon started.
func waitShipped(t *testing.T, d *Daemon, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, "the shipper caught up (lag 0)", func() bool {
		m, err := d.Metrics()
		return err == nil && m[shippedSeries] > 0 && m[lagSeries] == 0
	})
}

func countShares(t *testing.T, dsn string) ShareCounts {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := CountShares(ctx, dsn)
	if err != nil {
		t.Fatalf("counting shares in Postgres: %v", err)
	}
	return c
}

// checkNoDuplicates fails the test if any share is in Postgres twice.
func checkNoDuplicates(t *testing.T, c ShareCounts) {
	t.Helper()
	if c.DuplicateIDs != 0 || c.DuplicateHashes != 0 {
		t.Errorf("Postgres holds %d rows repeating an (instance, id) and %d repeating a hash (of %d)",
			c.DuplicateIDs, c.DuplicateHashes, c.Total)
	}
}

// checkExact: Postgres holds, per worker, exactly the shares whose
// acceptance the miners saw, and nothing for anyone else.
func checkExact(t *testing.T, c ShareCounts, s FleetSummary, miners int) {
	t.Helper()
	checkNoDuplicates(t, c)
	if len(s.AcceptedByWorker) != miners {
		t.Errorf("%d workers in the miner summary, want %d", len(s.AcceptedByWorker), miners)
	}
	var sum uint64
	for w, n := range s.AcceptedByWorker {
		sum += n
		if c.ByWorker[w] != n {
			t.Errorf("worker %s: %d shares in Postgres, %d accepted replies", w, c.ByWorker[w], n)
		}
	}
	for w, n := range c.ByWorker {
		if _, ok := s.AcceptedByWorker[w]; !ok {
			t.Errorf("worker %s: %d shares in Postgres, none accepted", w, n)
		}
	}
	if sum != s.Accepted || uint64(c.Total) != s.Accepted {
		t.Errorf("accepted %d (per-worker sum %d), %d shares in Postgres", s.Accepted, sum, c.Total)
	}
}

func logFigures(t *testing.T, what string, s FleetSummary, maxLag float64, drain time.Duration) {
	t.Helper()
	t.Logf("%s: accepted %d in %.1fs = %.0f shares/s, rejected %v, I/O errors %d, disconnects %d, "+
		"submit latency p50 %.3f ms p99 %.3f ms max %.3f ms, shipper lag max %.0f records, drain after stop %v",
		what, s.Accepted, s.Seconds, s.SharesPerSecond, s.Rejected, s.IOErrors, s.Disconnects,
		s.LatencyP50Ms, s.LatencyP99Ms, s.LatencyMaxMs, maxLag, drain.Round(time.Millisecond))
}

// TestShareLogSteadyState: a fleet submits at least 100,000 shares; once
// the shipper has caught up, Postgres holds exactly the accepted shares,
// per worker, none twice.
func TestShareLogSteadyState(t *testing.T) {
	r := startStorageRig(t)
	const miners, rate, want = 50, 100.0, 100_000
	lag := sampleLag(r.d)
	// -max-shares counts answered shares: a few more than wanted so
	// rejections (none expected) cannot leave us short.
	f := startFleet(t, r.d.StratumAddr, miners, rate, want+1000, 150*time.Second)
	if !f.Wait(160 * time.Second) {
		t.Fatalf("fleet did not finish within 160s; daemon accepted %v", r.d.Metric(acceptedSeries))
	}
	s := f.summary(t)
	stopped := time.Now()
	waitShipped(t, r.d, 60*time.Second)
	drain := time.Since(stopped)
	maxLag := lag.finish()
	logFigures(t, "steady state", s, maxLag, drain)
	if s.Accepted < want {
		t.Fatalf("only %d shares accepted, want >= %d: %+v", s.Accepted, want, s)
	}
	if len(s.Rejected) != 0 || s.IOErrors != 0 || s.Disconnects != 0 {
		t.Errorf("steady state disturbed: rejected %v (%v), I/O errors %d, disconnects %d",
			s.Rejected, s.RejectMessages, s.IOErrors, s.Disconnects)
	}
	if got := r.d.Metric(acceptedSeries); uint64(got) != s.Accepted {
		t.Errorf("daemon counted %v accepted shares, miners saw %d", got, s.Accepted)
	}
	checkExact(t, countShares(t, r.dsn), s, miners)
}

// TestShareLogPostgresOutage: Postgres is stopped for 20 seconds in the
// middle of the run. The daemon keeps accepting (the log grows, shipping
// fails and is counted), and once Postgres is back everything ships:
// exactly the accepted shares per worker, none twice.
func TestShareLogPostgresOutage(t *testing.T) {
	r := startStorageRig(t)
	const miners, rate = 50, 40.0
	lag := sampleLag(r.d)
	f := startFleet(t, r.d.StratumAddr, miners, rate, 0, 150*time.Second)
	Eventually(t, 60*time.Second, "10,000 shares accepted and shipped before the outage", func() bool {
		return r.d.Metric(shippedSeries) >= 10_000
	})
	before := r.d.Metric(acceptedSeries)
	errsBefore := r.d.Metric(shipErrSeries)
	r.pg.Stop()
	outage := time.Now()
	t.Logf("Postgres stopped at %v accepted shares", before)
	// Watch the daemon for the 20 s outage: acceptance must keep rising
	// every few seconds, and failed ship attempts must be counted.
	last, lastRise := before, time.Now()
	var errsDuring float64
	for time.Since(outage) < 20*time.Second {
		if f.Exited() {
			t.Fatalf("fleet exited during the outage:\n%s", tail(f.Output(), 20))
		}
		m, err := r.d.Metrics()
		if err != nil {
			t.Fatalf("daemon metrics during the outage: %v", err)
		}
		if a := m[acceptedSeries]; a > last {
			last, lastRise = a, time.Now()
		}
		if time.Since(lastRise) > 5*time.Second {
			t.Fatalf("no share accepted for 5s during the Postgres outage (accepted %v)", last)
		}
		errsDuring = m[shipErrSeries]
		time.Sleep(250 * time.Millisecond)
	}
	lagAtEnd := r.d.Metric(lagSeries)
	r.pg.Start()
	t.Logf("Postgres restarted after %v: accepted %v → %v during the outage, ship errors %v → %v, lag %v",
		time.Since(outage).Round(time.Millisecond), before, last, errsBefore, errsDuring, lagAtEnd)
	if last-before < 10*miners {
		t.Errorf("only %v shares accepted during the 20s outage", last-before)
	}
	if errsDuring <= errsBefore {
		t.Errorf("adit_share_ship_errors_total did not rise during the outage (%v → %v)", errsBefore, errsDuring)
	}
	if lagAtEnd <= 0 {
		t.Errorf("shipper lag %v at the end of the outage, want > 0", lagAtEnd)
	}
	// Keep mining until the backlog has shipped once with miners still
	// running, plus a few more seconds of fresh shares.
	afterRestart, restarted := r.d.Metric(acceptedSeries), time.Now()
	Eventually(t, 90*time.Second, "the backlog shipped", func() bool {
		return r.d.Metric(shippedSeries) >= last
	})
	t.Logf("the outage's backlog (%v shares) shipped %v after Postgres restarted", last, time.Since(restarted).Round(time.Millisecond))
	Eventually(t, 90*time.Second, "5,000 more shares accepted after the restart", func() bool {
		return r.d.Metric(acceptedSeries) >= afterRestart+5000
	})
	s := f.stop(t)
	stopped := time.Now()
	waitShipped(t, r.d, 60*time.Second)
	drain := time.Since(stopped)
	logFigures(t, "postgres outage", s, lag.finish(), drain)
	if len(s.Rejected) != 0 || s.IOErrors != 0 || s.Disconnects != 0 {
		t.Errorf("miners disturbed by the database outage: rejected %v (%v), I/O errors %d, disconnects %d",
			s.Rejected, s.RejectMessages, s.IOErrors, s.Disconnects)
	}
	checkExact(t, countShares(t, r.dsn), s, miners)
}

// TestShareLogDaemonKill: aditd is killed with SIGKILL in the middle of the
// run and restarted with the same configuration and share log directory;
// the miners reconnect. Every share whose acceptance a miner saw is in
// Postgres exactly once.
//
// Postgres may also hold shares the miners never saw accepted: a share
// appended to the log (so durable) whose "accepted" reply was still in the
// daemon's socket buffer, or on the wire, when the process died. The miner
// counts such a submission as an I/O error. So per worker:
//
//	accepted replies seen ≤ rows in Postgres ≤ submissions sent,
//
// and in total the rows beyond the accepted replies are at most the
// submissions that ended in an I/O error. Duplicates are never allowed.
func TestShareLogDaemonKill(t *testing.T) {
	r := startStorageRig(t)
	const miners, rate = 50, 40.0
	lag := sampleLag(r.d)
	f := startFleet(t, r.d.StratumAddr, miners, rate, 0, 150*time.Second)
	Eventually(t, 60*time.Second, "10,000 shares accepted before the kill", func() bool {
		return r.d.Metric(acceptedSeries) >= 10_000
	})
	// Paced miners find shares in bursts (one per 1024-hash batch); kill
	// while one is being accepted, so that submissions are in flight.
	before := r.d.Metric(acceptedSeries)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if a := r.d.Metric(acceptedSeries); a != before {
			before = a
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.d.Kill() // SIGKILL
	killed := time.Now()
	d2 := RestartDaemon(t, r.d)
	lag.follow(d2)
	t.Logf("aditd SIGKILLed at %v accepted shares, serving again after %v", before, time.Since(killed).Round(time.Millisecond))
	Eventually(t, 60*time.Second, "every miner reconnected and 10,000 shares accepted after the restart", func() bool {
		m, err := d2.Metrics()
		return err == nil && m[acceptedSeries] >= 10_000 && m[`adit_connections{protocol="v1"}`] >= miners
	})
	s := f.stop(t)
	stopped := time.Now()
	waitShipped(t, d2, 60*time.Second)
	drain := time.Since(stopped)
	logFigures(t, "daemon SIGKILL", s, lag.finish(), drain)
	if s.Disconnects < miners {
		t.Errorf("%d disconnects, want every one of the %d miners to have seen the kill", s.Disconnects, miners)
	}
	c := countShares(t, r.dsn)
	checkNoDuplicates(t, c)
	if len(s.AcceptedByWorker) != miners {
		t.Errorf("%d workers in the miner summary, want %d", len(s.AcceptedByWorker), miners)
	}
	var extra uint64
	for w, n := range s.AcceptedByWorker {
		got, sent := c.ByWorker[w], s.SubmittedByWorker[w]
		if got < n {
			t.Errorf("worker %s: LOST SHARES: %d in Postgres, %d accepted replies", w, got, n)
		}
		if got > sent {
			t.Errorf("worker %s: %d shares in Postgres, only %d submitted", w, got, sent)
		}
		if got > n {
			extra += got - n
		}
	}
	for w, n := range c.ByWorker {
		if _, ok := s.AcceptedByWorker[w]; !ok {
			t.Errorf("worker %s: %d shares in Postgres, never submitted", w, n)
		}
	}
	if extra > s.IOErrors {
		t.Errorf("%d shares in Postgres beyond the accepted replies, but only %d submissions lost their reply", extra, s.IOErrors)
	}
	t.Logf("Postgres holds %d shares: %d accepted replies, %d accepted without the miner seeing it (%d replies lost in the kill)",
		c.Total, s.Accepted, extra, s.IOErrors)
}

// TestShareIngestLoad is the end-to-end ingest measurement recorded in
// docs/benchmarks.md: a fleet → aditd → share log → Postgres. It runs only
// when ADIT_E2E_INGEST is set to "miners,rate,seconds" (for example
// "100,100,30"), since it loads the machine for that long.
func TestShareIngestLoad(t *testing.T) {
	spec := os.Getenv("ADIT_E2E_INGEST")
	if spec == "" {
		t.Skip("set ADIT_E2E_INGEST=miners,rate,seconds to run the ingest load test")
	}
	var (
		miners, secs int
		rate         float64
	)
	if _, err := fmt.Sscanf(strings.ReplaceAll(spec, ",", " "), "%d %g %d", &miners, &rate, &secs); err != nil {
		t.Fatalf("ADIT_E2E_INGEST=%q: %v", spec, err)
	}
	r := startStorageRig(t)
	lag := sampleLag(r.d)
	f := startFleet(t, r.d.StratumAddr, miners, rate, 0, time.Duration(secs)*time.Second)
	if !f.Wait(time.Duration(secs)*time.Second + 60*time.Second) {
		t.Fatal("fleet did not stop")
	}
	s := f.summary(t)
	stopped := time.Now()
	waitShipped(t, r.d, 120*time.Second)
	drain := time.Since(stopped)
	logFigures(t, fmt.Sprintf("ingest %d miners × %g/s for %ds", miners, rate, secs), s, lag.finish(), drain)
	m, _ := r.d.Metrics()
	t.Logf("daemon: shipped %v, ship errors %v, fsync count %v sum %.3fs, ship batches %v sum %.3fs",
		m[shippedSeries], m[shipErrSeries], m["adit_sharelog_fsync_seconds_count"], m["adit_sharelog_fsync_seconds_sum"],
		m["adit_share_ship_batch_seconds_count"], m["adit_share_ship_batch_seconds_sum"])
	checkExact(t, countShares(t, r.dsn), s, miners)
}
