package pgstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap/zaptest"
)

// TestShipOutOfOrderCommitRollsBack checks the guard the pipelined
// shipper's exactly-once rests on (see Shipper): a batch whose start is not
// the stored position never commits, whatever order batches are tried in,
// and a batch that has committed can never commit again.
func TestShipOutOfOrderCommitRollsBack(t *testing.T) {
	_, pool := setup(t)
	ctx := context.Background()
	l := openLog(t, t.TempDir())
	defer l.Close()
	appendConcurrently(t, l, 1, 30)
	sh, err := NewShipper(pool, l, instance, Config{MaxBatch: 10, FlushInterval: time.Millisecond, InFlight: 2}, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	pos, _, err := sh.loadPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := l.NewReader(pos)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var bs []*batch
	for range 3 { // InFlight+1 batches: all the shipper has
		b, err := sh.prepare(ctx, rd, pos)
		if err != nil {
			t.Fatal(err)
		}
		b.done = make(chan struct{})
		pos = b.to
		bs = append(bs, b)
	}
	count := func() (n int) {
		t.Helper()
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM shares").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	mustMoved := func(b *batch, what string, dupOK bool) {
		t.Helper()
		b.prev, b.done = nil, make(chan struct{})
		err := sh.ship(ctx, conn, b)
		var pgErr *pgconn.PgError
		if errors.Is(err, ErrPositionMoved) || dupOK && errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return
		}
		t.Fatalf("%s: %v, want ErrPositionMoved", what, err)
	}
	// The second and third batch before the first: rolled back.
	mustMoved(bs[1], "batch 2 before batch 1", false)
	mustMoved(bs[2], "batch 3 before batch 1", false)
	if n := count(); n != 0 {
		t.Fatalf("%d rows after out-of-order attempts", n)
	}
	for i, b := range bs[:2] {
		b.prev, b.done = nil, make(chan struct{})
		if err := sh.ship(ctx, conn, b); err != nil {
			t.Fatalf("batch %d in order: %v", i+1, err)
		}
	}
	// Replays of committed batches: rolled back, nothing duplicated (the
	// primary key may refuse the COPY before the position check does).
	mustMoved(bs[0], "replay of batch 1", true)
	mustMoved(bs[1], "replay of batch 2", true)
	b := bs[2]
	b.prev, b.done = nil, make(chan struct{})
	if err := sh.ship(ctx, conn, b); err != nil {
		t.Fatalf("batch 3: %v", err)
	}
	checkExactlyOnce(t, pool, 30)
}

// TestShipPipelineExactlyOnce runs the pipelined shipper (several COPY
// transactions in flight, small batches) while its Postgres connections are
// killed at random moments (mid-COPY, waiting for the predecessor's commit,
// at COMMIT) and the shipper itself is stopped and restarted: Postgres must
// end up with every record exactly once.
func TestShipPipelineExactlyOnce(t *testing.T) {
	_, pool := setup(t)
	dir := t.TempDir()
	total := 0
	for round := range 6 {
		l := openLog(t, dir)
		sh, err := NewShipper(pool, l, instance, Config{MaxBatch: 97, InFlight: 3, FlushInterval: time.Millisecond,
			RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond}, zaptest.NewLogger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- sh.Run(ctx) }()
		killed := make(chan int)
		go func() { // kill the shipper's backends now and then
			n := 0
			defer func() { killed <- n }()
			for ctx.Err() == nil {
				time.Sleep(time.Duration(1+rand.IntN(15)) * time.Millisecond)
				var k int
				_ = pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
					WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
					AND random() < 0.5`).Scan(&k)
				n += k
			}
		}()
		go func() {
			time.Sleep(time.Duration(200+rand.IntN(400)) * time.Millisecond)
			cancel()
		}()
		n := 3000 + rand.IntN(3000)
		appendConcurrently(t, l, 8, n)
		total += n
		if err := <-done; err != nil {
			t.Fatalf("round %d: run: %v", round, err)
		}
		_, id := sh.Shipped()
		t.Logf("round %d: appended %d (total %d), shipped up to %d when stopped, %d backends killed", round, n, total, id, <-killed)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	l := openLog(t, dir)
	defer l.Close()
	sh, err := NewShipper(pool, l, instance, Config{InFlight: 3}, zaptest.NewLogger(t), nil)
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
}

// TestShipPipelineOneConnection: more transactions in flight than the pool
// has connections (one) still ships everything: connections are taken in
// log order, so a batch never holds the only one while waiting for an
// earlier batch.
func TestShipPipelineOneConnection(t *testing.T) {
	srv, _ := setup(t)
	cfg, err := pgxpool.ParseConfig(srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l := openLog(t, t.TempDir())
	defer l.Close()
	sh, err := NewShipper(pool, l, instance, Config{MaxBatch: 50, InFlight: 3, FlushInterval: time.Millisecond}, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	appendConcurrently(t, l, 4, 3000)
	waitShipped(t, l, sh, 30*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, pool, 3000)
}
