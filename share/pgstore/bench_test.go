package pgstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharelog"
)

// BenchmarkIngest measures sustained ingest: b.N shares appended to the
// share log (fsync policy "always", group commit) by 512 concurrent
// appenders while the shipper copies them into Postgres. The clock stops
// when the last share is committed in Postgres. Reported: shares/s end to
// end, and the largest lag seen (records durable but not shipped).
// Run with a fixed count, e.g. -benchtime=2000000x.
func BenchmarkIngest(b *testing.B) {
	srv, pool := setup(b)
	benchDurable(b, pool)
	dir := b.TempDir()
	l, err := sharelog.Open(dir, sharelog.Config{Instance: instance, MinFreeBytes: -1}, zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	sh, err := NewShipper(pool, l, instance, benchConfig(), zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	const appenders = 512
	var next atomic.Int64
	var maxLag atomic.Uint64
	stopLag := make(chan struct{})
	lagDone := make(chan struct{})
	go func() { // sample the lag
		defer close(lagDone)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopLag:
				return
			case <-t.C:
				_, d := l.Durable()
				_, s := sh.Shipped()
				if d > s && d-s > maxLag.Load() {
					maxLag.Store(d - s)
				}
			}
		}
	}()
	b.ResetTimer()
	cpu0 := takeCPU(srv.DataDir())
	start := time.Now()
	var wg sync.WaitGroup
	for w := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := share.Record{
				Worker:             share.Worker{Address: fmt.Sprintf("bc1qbenchaddress%04d", w%200), Name: fmt.Sprintf("rig%d", w)},
				Protocol:           share.ProtocolV1,
				Height:             900_000,
				AssignedDifficulty: 65536,
				ReachedDifficulty:  70000,
				NetworkDifficulty:  1.2e14,
				RemoteAddr:         "10.0.0.1:40000",
			}
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				r.ID, r.Instance = 0, ""
				r.Time = time.Now()
				r.JobID = uint32(i)
				r.Hash[0], r.Hash[1], r.Hash[2] = byte(i), byte(i>>8), byte(i>>16)
				if err := l.Append(ctx, &r); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	appended := time.Since(start)
	for {
		_, d := l.Durable()
		if _, s := sh.Shipped(); s == d {
			break
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	cpu1 := takeCPU(srv.DataDir())
	b.StopTimer()
	close(stopLag)
	<-lagDone
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "shares/s")
	b.ReportMetric(float64(b.N)/appended.Seconds(), "appends/s")
	cpu1.report(b, cpu0)
	b.ReportMetric(float64(maxLag.Load()), "max-lag-records")
	var n int64
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM shares").Scan(&n); err != nil || n != int64(b.N) {
		b.Fatalf("postgres has %d shares, want %d (%v)", n, b.N, err)
	}
}

// BenchmarkShip measures the shipper alone: b.N shares are appended first
// (not timed), then the clock runs while the shipper copies them into
// Postgres. Reported: shares/s shipped.
func BenchmarkShip(b *testing.B) {
	_, pool := setup(b)
	l, err := sharelog.Open(b.TempDir(), sharelog.Config{Instance: instance, Fsync: sharelog.FsyncNone, MinFreeBytes: -1}, zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				r := record(int(i), time.Now())
				r.Worker.Name = fmt.Sprintf("rig%d", w)
				if err := l.Append(context.Background(), &r); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	sh, err := NewShipper(pool, l, instance, Config{}, zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	go func() { done <- sh.Run(ctx) }()
	waitShipped(b, l, sh, 10*time.Minute)
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "shares/s")
}

// cpuSample is CPU time used so far by this process and by the Postgres
// cluster (the postmaster and its live children: the pool's backends,
// walwriter, checkpointer, ...). Comparing CPU per share is steadier than
// shares/s on a machine shared with other work.
type cpuSample struct{ self, pg time.Duration }

func takeCPU(dataDir string) cpuSample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s := cpuSample{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	pidFile, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return s
	}
	pm := strings.SplitN(string(pidFile), "\n", 2)[0]
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		st, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state ppid ... utime(14) stime(15).
		i := strings.LastIndexByte(string(st), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(st[i+1:]))
		if len(f) < 13 {
			continue
		}
		pid := strings.TrimSuffix(strings.TrimPrefix(p, "/proc/"), "/stat")
		if pid != pm && f[1] != pm {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		stt, _ := strconv.ParseInt(f[12], 10, 64)
		s.pg += time.Duration(ut+stt) * 10 * time.Millisecond // USER_HZ = 100
	}
	return s
}

func (s cpuSample) report(b *testing.B, before cpuSample) {
	n := float64(b.N)
	b.ReportMetric(float64((s.self-before.self).Nanoseconds())/1e3/n, "go-cpu-us/share")
	b.ReportMetric(float64((s.pg-before.pg).Nanoseconds())/1e3/n, "pg-cpu-us/share")
}

// benchDurable turns the pgtest cluster's speed-over-durability settings
// back to Postgres' defaults (fsync, synchronous_commit, full_page_writes
// on: what production runs) when ADIT_BENCH_DURABLE=1.
func benchDurable(b *testing.B, pool *pgxpool.Pool) {
	if os.Getenv("ADIT_BENCH_DURABLE") != "1" {
		return
	}
	ctx := context.Background()
	for _, q := range []string{"ALTER SYSTEM SET fsync = on", "ALTER SYSTEM SET synchronous_commit = on",
		"ALTER SYSTEM SET full_page_writes = on", "SELECT pg_reload_conf()"} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	pool.Reset() // new sessions pick up synchronous_commit
	time.Sleep(100 * time.Millisecond)
	var fsync, sc string
	if err := pool.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('synchronous_commit')").Scan(&fsync, &sc); err != nil || fsync != "on" || sc != "on" {
		b.Fatalf("fsync %q synchronous_commit %q (%v)", fsync, sc, err)
	}
}

// benchConfig is the shipper configuration of the benchmarks: the
// defaults, or ADIT_BENCH_INFLIGHT and ADIT_BENCH_BATCH to compare others.
func benchConfig() Config {
	var c Config
	c.InFlight, _ = strconv.Atoi(os.Getenv("ADIT_BENCH_INFLIGHT"))
	c.MaxBatch, _ = strconv.Atoi(os.Getenv("ADIT_BENCH_BATCH"))
	return c
}
