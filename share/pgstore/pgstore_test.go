package pgstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/adit-pool/adit/migrations"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/pgstore/pgtest"
	"github.com/adit-pool/adit/share/sharelog"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// pgx parks a context watcher on a connection whose query was
		// cancelled until the connection is unwatched; a connection that
		// is closed instead leaves it parked. Not a goroutine of ours.
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgconn/ctxwatch.(*ContextWatcher).Watch.func1"))
}

const instance = "adit-test"

func setup(t testing.TB) (*pgtest.Server, *pgxpool.Pool) {
	t.Helper()
	srv := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := migrations.UpDSN(ctx, srv.DSN()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	cfg, err := pgxpool.ParseConfig(srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return srv, pool
}

func record(i int, now time.Time) share.Record {
	r := share.Record{
		Time:               now,
		Worker:             share.Worker{Address: fmt.Sprintf("bcrt1qaddr%03d", i%13), Name: fmt.Sprintf("rig%d", i%7)},
		Protocol:           share.ProtocolV1,
		JobID:              uint32(i),
		Height:             200,
		AssignedDifficulty: 512,
		ReachedDifficulty:  700,
		NetworkDifficulty:  1e9,
		RemoteAddr:         "127.0.0.1:5555",
	}
	r.Hash[0], r.Hash[1] = byte(i), byte(i>>8)
	return r
}

func openLog(t testing.TB, dir string) *sharelog.Log {
	t.Helper()
	l, err := sharelog.Open(dir, sharelog.Config{Instance: instance, SegmentSize: 256 << 10, MinFreeBytes: -1}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// appendConcurrently appends n records from g goroutines.
func appendConcurrently(t testing.TB, l *sharelog.Log, g, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += g {
				r := record(i, time.Now())
				if err := l.Append(context.Background(), &r); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// waitShipped polls until the shipper has shipped everything durable.
func waitShipped(t testing.TB, l *sharelog.Log, sh *Shipper, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, durable := l.Durable()
		if _, id := sh.Shipped(); id == durable {
			return
		}
		if time.Now().After(deadline) {
			_, id := sh.Shipped()
			t.Fatalf("shipped up to id %d, durable %d after %v", id, durable, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkExactlyOnce asserts Postgres holds ids 1..want for the instance,
// each once.
func checkExactlyOnce(t testing.TB, pool *pgxpool.Pool, want int) {
	t.Helper()
	var n, distinct, lo, hi, lastID int64
	err := pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT id), coalesce(min(id), 0), coalesce(max(id), 0),
		(SELECT last_id FROM sharelog_positions WHERE instance = $1) FROM shares WHERE instance = $1`, instance).
		Scan(&n, &distinct, &lo, &hi, &lastID)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(want) || distinct != n || lo != 1 || hi != int64(want) || lastID != int64(want) {
		t.Fatalf("postgres: %d rows, %d distinct ids in [%d, %d], position last_id %d; want %d rows, ids 1..%d",
			n, distinct, lo, hi, lastID, want, want)
	}
}

func metricValue(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}

// TestShipExactlyOnceAcrossCrashes stops the shipper at random moments
// (mid-COPY, between batches, after a commit) and reopens the log each time;
// Postgres must end up with every record exactly once.
func TestShipExactlyOnceAcrossCrashes(t *testing.T) {
	_, pool := setup(t)
	dir := t.TempDir()
	total := 0
	for round := range 8 {
		l := openLog(t, dir)
		sh, err := NewShipper(pool, l, instance, Config{MaxBatch: 300, FlushInterval: 2 * time.Millisecond}, zaptest.NewLogger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- sh.Run(ctx) }()
		// Stop the shipper at a random moment while records stream in.
		go func() {
			time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
			cancel()
		}()
		n := 2000 + rand.IntN(3000)
		appendConcurrently(t, l, 8, n)
		total += n
		if err := <-done; err != nil {
			t.Fatalf("round %d: run: %v", round, err)
		}
		_, id := sh.Shipped()
		t.Logf("round %d: appended %d (total %d), shipped up to %d when stopped", round, n, total, id)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	l := openLog(t, dir)
	defer l.Close()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	sh, err := NewShipper(pool, l, instance, Config{}, zaptest.NewLogger(t), m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	waitShipped(t, l, sh, 30*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, pool, total)
	var workers int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM workers").Scan(&workers); err != nil || workers != 91 { // (i%13, i%7) pairs
		t.Fatalf("workers %d err %v", workers, err)
	}
	if v := metricValue(t, m.Errors); v != 0 {
		t.Fatalf("errors %v on a clean run", v)
	}
}

// TestShipThroughPostgresOutage keeps appending while Postgres is down for
// 20 s: the lag grows, errors are counted, and after the restart everything
// ships exactly once.
func TestShipThroughPostgresOutage(t *testing.T) {
	srv, pool := setup(t)
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	lm := sharelog.NewMetrics(reg)
	l, err := sharelog.Open(dir, sharelog.Config{Instance: instance, SegmentSize: 256 << 10, MinFreeBytes: -1}, zap.NewNop(), lm)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := NewMetrics(reg)
	sh, err := NewShipper(pool, l, instance, Config{RetryMax: 500 * time.Millisecond}, zaptest.NewLogger(t), m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()

	var appended atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += 4 {
				select {
				case <-stop:
					return
				default:
				}
				r := record(i, time.Now())
				if err := l.Append(context.Background(), &r); err != nil {
					t.Error(err)
					return
				}
				appended.Add(1)
				time.Sleep(time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second)
	srv.Stop()
	stoppedAt := appended.Load()
	time.Sleep(20 * time.Second)
	lag := metricValue(t, lm.Lag)
	errs := metricValue(t, m.Errors)
	if lag < float64(appended.Load()-stoppedAt)/2 || errs == 0 {
		t.Fatalf("during the outage: lag %v (appended %d since stop), errors %v", lag, appended.Load()-stoppedAt, errs)
	}
	t.Logf("outage: %d appended while Postgres was down, lag %v, ship errors %v", appended.Load()-stoppedAt, lag, errs)
	srv.Start()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	waitShipped(t, l, sh, 60*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, pool, int(appended.Load()))
	if v := metricValue(t, lm.Lag); v != 0 {
		t.Fatalf("lag %v after catching up", v)
	}
	if v := metricValue(t, m.Shipped); v != float64(appended.Load()) {
		t.Fatalf("shipped metric %v, appended %d", v, appended.Load())
	}
}

func TestPartitionMaintenance(t *testing.T) {
	_, pool := setup(t)
	ctx := context.Background()
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	count := func() (n int) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'shares'::regclass`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	dir := t.TempDir()
	l := openLog(t, dir)
	defer l.Close()
	sh, err := NewShipper(pool, l, instance, Config{PartitionsAhead: 3, Retention: 10 * 24 * time.Hour, Now: func() time.Time { return now }}, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 4 {
		t.Fatalf("%d partitions, want 4 (today + 3)", n)
	}
	if err := sh.Maintain(ctx); err != nil || count() != 4 {
		t.Fatalf("maintain again: %v, %d partitions", err, count())
	}
	// Shares from an old day get their partition from the shipper.
	old := now.Add(-30 * 24 * time.Hour)
	for i := range 10 {
		r := record(i, old)
		if err := l.Append(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	// Shipped by a shipper that keeps every partition: Run's own
	// maintenance would otherwise race the check below (these shares are
	// past the retention).
	keeper, err := NewShipper(pool, l, instance, Config{PartitionsAhead: 3, Retention: -1, Now: func() time.Time { return now }}, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- keeper.Run(runCtx) }()
	waitShipped(t, l, keeper, 10*time.Second)
	cancel()
	<-done
	var name string
	if err := pool.QueryRow(ctx, `SELECT tableoid::regclass::text FROM shares LIMIT 1`).Scan(&name); err != nil || name != "shares_p20300516" {
		t.Fatalf("share in partition %q (%v)", name, err)
	}
	// Retention drops the old partition (and only it) and its rows.
	if err := sh.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM shares`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d rows left (%v)", rows, err)
	}
	if n := count(); n != 4 {
		t.Fatalf("%d partitions after retention, want 4", n)
	}
	dropped, err := DropPartitions(ctx, pool, now.Add(48*time.Hour))
	if err != nil || len(dropped) != 2 || dropped[0] != "shares_p20300615" {
		t.Fatalf("dropped %v (%v)", dropped, err)
	}
}

func TestLastShippedIDAndLogReplacement(t *testing.T) {
	_, pool := setup(t)
	ctx := context.Background()
	if id, err := LastShippedID(ctx, pool, instance); err != nil || id != 0 {
		t.Fatalf("fresh: %d %v", id, err)
	}
	run := func(l *sharelog.Log) {
		sh, err := NewShipper(pool, l, instance, Config{}, zaptest.NewLogger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		c, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sh.Run(c) }()
		waitShipped(t, l, sh, 10*time.Second)
		cancel()
		<-done
	}
	l := openLog(t, t.TempDir())
	appendConcurrently(t, l, 2, 100)
	run(l)
	l.Close()
	id, err := LastShippedID(ctx, pool, instance)
	if err != nil || id != 100 {
		t.Fatalf("last shipped %d %v", id, err)
	}
	// A new log directory (lost disk): ids continue from the floor and
	// the new log ships from its start.
	l2, err := sharelog.Open(t.TempDir(), sharelog.Config{Instance: instance, NextIDFloor: id + 1, MinFreeBytes: -1}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	appendConcurrently(t, l2, 2, 50)
	run(l2)
	checkExactlyOnce(t, pool, 150)
}

// TestShippedRowsMatchRecords checks every column written by the binary
// COPY encoder against the record, including a batch spanning two days.
func TestShippedRowsMatchRecords(t *testing.T) {
	_, pool := setup(t)
	ctx := context.Background()
	l := openLog(t, t.TempDir())
	defer l.Close()
	base := time.Date(2031, 1, 2, 23, 59, 59, 999_999_000, time.UTC)
	var want []share.Record
	for i := range 6 {
		r := record(i, base.Add(time.Duration(i)*300*time.Microsecond))
		r.Protocol = share.ProtocolV2
		r.Block = i == 3
		r.Declared = i%2 == 1
		r.Height = 1<<40 + int64(i)
		r.JobID = 0xfffffff0 + uint32(i)
		r.AssignedDifficulty = 1e-4 * float64(i+1)
		r.ReachedDifficulty = 123456.789
		r.NetworkDifficulty = 1.2345e14
		r.Worker.Name = "rigé ✓"
		for j := range r.Hash {
			r.Hash[j] = byte(j * (i + 1))
		}
		if err := l.Append(ctx, &r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	sh, err := NewShipper(pool, l, instance, Config{}, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sh.Run(c) }()
	waitShipped(t, l, sh, 10*time.Second)
	cancel()
	<-done
	rows, err := pool.Query(ctx, `SELECT instance, id, time, address, worker, protocol, job_id, height,
		assigned_difficulty, reached_difficulty, network_difficulty, is_block, hash, remote_addr,
		declared, tableoid::regclass::text FROM shares ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var (
			g         share.Record
			id, job   int64
			proto     int16
			hash      []byte
			partition string
		)
		if err := rows.Scan(&g.Instance, &id, &g.Time, &g.Worker.Address, &g.Worker.Name, &proto, &job, &g.Height,
			&g.AssignedDifficulty, &g.ReachedDifficulty, &g.NetworkDifficulty, &g.Block, &hash, &g.RemoteAddr, &g.Declared, &partition); err != nil {
			t.Fatal(err)
		}
		g.ID, g.JobID, g.Protocol = uint64(id), uint32(job), share.Protocol(proto)
		copy(g.Hash[:], hash)
		w := want[i]
		w.Time = w.Time.Truncate(time.Microsecond)
		if !g.Time.Equal(w.Time) {
			t.Errorf("row %d time %v want %v", i, g.Time, w.Time)
		}
		g.Time = w.Time
		if g != w {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, g, w)
		}
		wantPart := "shares_p" + w.Time.Format("20060102")
		if partition != wantPart {
			t.Errorf("row %d in %s, want %s", i, partition, wantPart)
		}
		i++
	}
	if err := rows.Err(); err != nil || i != len(want) {
		t.Fatalf("%d rows (%v)", i, err)
	}
	// The workers table, as the API reads it.
	ws, err := Workers(ctx, pool, want[3].Worker.Address, 10)
	if err != nil || len(ws) != 1 || ws[0].Name != want[3].Worker.Name ||
		!ws[0].LastSeen.Equal(want[3].Time.Truncate(time.Microsecond)) || !ws[0].FirstSeen.Equal(ws[0].LastSeen) {
		t.Fatalf("Workers(%s) = %+v, %v", want[3].Worker.Address, ws, err)
	}
	if ws, err := Workers(ctx, pool, "bcrt1qnobody", 10); err != nil || len(ws) != 0 {
		t.Fatalf("Workers(nobody) = %+v, %v", ws, err)
	}
}
