package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharelog"
)

// Errors returned by the Shipper.
var (
	// ErrRunning: Run was called while the shipper is already running.
	ErrRunning = errors.New("pgstore: shipper already running")
	// ErrPositionMoved: the instance's stored position changed under the
	// shipper (another shipper for the same instance?); the batch was
	// rolled back and the shipper reloads the position.
	ErrPositionMoved = errors.New("pgstore: stored share log position moved under the shipper")
	// ErrShortCopy: COPY stored fewer rows than sent.
	ErrShortCopy = errors.New("pgstore: COPY stored fewer rows than sent")
)

// Shipper copies one instance's share log into Postgres.
//
// Exactly once: every batch is one transaction that COPYs the records,
// upserts the workers they name and moves sharelog_positions from the
// position the batch started at to the one it ends at, conditional on the
// stored position still being the start. If anything fails (including an
// unknown COMMIT outcome) the shipper rolls back, waits with backoff,
// reloads the stored position and reads the log again from there.
//
// Pipelining: a session runs one producer, which reads, encodes and
// prepares batch k+1 while batch k is in Postgres, and Config.InFlight
// transactions on as many connections, each COPYing its own batch
// concurrently with the others. Only the COPY overlaps: a transaction
// moves the position and commits after its predecessor has committed (the
// commit phases run strictly in log order). Why that keeps exactly-once
// (see also TestShipPipelineExactlyOnce):
//
//  1. Invariant: the committed shares rows of this log are exactly the
//     log's records before the committed position P (the row of
//     sharelog_positions).
//  2. A transaction for the range [a, b) inserts exactly the records
//     [a, b) and runs UPDATE ... SET position = b WHERE position = a
//     (and log_id is this log's). It commits only if that UPDATE changed
//     one row, else it rolls back.
//  3. Under READ COMMITTED the UPDATE waits for any other writer of the
//     row and then checks WHERE against the newest committed version; from
//     then on the transaction holds the row lock until it ends. So when it
//     commits, P was a and no one else moved it in between: rows [0, a)
//     plus [a, b) with P = b, and the invariant holds. Its rows and the
//     new P become visible in the same commit.
//  4. Positions only grow within a log, so once a range has committed no
//     transaction conditioned on its start can ever match again: a
//     replayed, reordered or concurrent copy of the same range rolls back
//     (ErrPositionMoved) instead of duplicating.
//
// Nothing in 2–4 depends on how many transactions are in flight or in
// which order they commit; the in-order commit is what makes them succeed,
// not what makes them correct. The concurrent COPYs cannot block one
// another (they insert disjoint keys and lock no shared row), and only one
// transaction at a time is past its COPY (upserting workers, moving the
// position), so they cannot deadlock either.
//
// Concurrency contract: Run is called once at a time; Shipped is safe to
// call concurrently with Run. Internally Run runs the ship loop and the
// partition maintenance loop, which share nothing but the pool; a ship
// session runs the producer and InFlight transaction goroutines, which
// hand batches over through channels; mu guards only the shipped position
// snapshot.
type Shipper struct {
	pool     *pgxpool.Pool
	slog     *sharelog.Log
	instance string
	cfg      Config
	log      *zap.Logger
	m        *Metrics

	running chan struct{} // cap 1: a token held while Run runs

	mu        sync.Mutex
	shipped   sharelog.Position
	shippedID uint64

	// Producer state (one goroutine per session).
	recs    []share.Record
	parts   map[day]bool // partitions known to exist
	workers map[share.Worker]*seen
	copySQL map[day]string // COPY into one day's partition
	copyAll string         // COPY into the partitioned table
	free    chan *batch    // InFlight+1 reusable batches
}

// batch is one prepared transaction: the encoded COPY data and the
// aggregated workers of the log range [from, to).
type batch struct {
	from, to sharelog.Position
	lastID   uint64
	n        int
	copyBuf  []byte
	copyRd   bytes.Reader
	target   string        // COPY statement
	conn     *pgxpool.Conn // taken in log order (see session)
	addrs    []string
	names    []string
	firsts   []time.Time
	lasts    []time.Time
	// prev is closed once the previous batch of the session committed
	// (nil: first batch); done is closed once this one has.
	prev, done chan struct{}
}

type seen struct{ first, last time.Time }

// NewShipper returns a shipper for instance's log l into pool. log and m
// may be nil.
func NewShipper(pool *pgxpool.Pool, l *sharelog.Log, instance string, cfg Config, log *zap.Logger, m *Metrics) (*Shipper, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if pool == nil || l == nil {
		return nil, errors.New("pgstore: NewShipper needs a pool and a log")
	}
	if instance == "" {
		return nil, errors.New("pgstore: NewShipper needs an instance name")
	}
	if instance != l.Instance() {
		return nil, fmt.Errorf("pgstore: shipper instance %q, log instance %q", instance, l.Instance())
	}
	if log == nil {
		log = zap.NewNop()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	free := make(chan *batch, cfg.InFlight+1)
	for range cfg.InFlight + 1 {
		free <- &batch{}
	}
	return &Shipper{
		pool:     pool,
		slog:     l,
		instance: instance,
		cfg:      cfg,
		log:      log.Named("shipper").With(zap.String("instance", instance)),
		m:        m,
		running:  make(chan struct{}, 1),
		recs:     make([]share.Record, 0, cfg.MaxBatch),
		parts:    make(map[day]bool),
		workers:  make(map[share.Worker]*seen),
		copySQL:  make(map[day]string),
		copyAll:  copySQL("shares"),
		free:     free,
	}, nil
}

// Shipped returns the position and last id known to be in Postgres.
func (s *Shipper) Shipped() (sharelog.Position, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shipped, s.shippedID
}

// Run ships until ctx is cancelled, then returns nil once its goroutines
// have stopped. Errors talking to Postgres never end Run: they are logged,
// counted (adit_share_ship_errors_total) and retried with backoff, while
// the log keeps growing. A batch in flight when ctx ends is rolled back and
// shipped by the next Run.
func (s *Shipper) Run(ctx context.Context) error {
	select {
	case s.running <- struct{}{}:
	default:
		return ErrRunning
	}
	defer func() { <-s.running }()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { s.shipLoop(ctx); return nil })
	g.Go(func() error { s.maintainLoop(ctx); return nil })
	return g.Wait()
}

func (s *Shipper) shipLoop(ctx context.Context) {
	backoff := s.cfg.RetryMin
	for {
		progressed, err := s.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if progressed {
			backoff = s.cfg.RetryMin
		}
		s.m.Errors.Inc()
		s.log.Warn("share shipping failed, retrying", zap.Error(err), zap.Duration("backoff", backoff))
		clear(s.parts) // a partition may have been dropped under us
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, s.cfg.RetryMax)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// session loads the stored position and ships from there until an error.
// It returns only once its goroutines have stopped (every transaction it
// began has committed or rolled back).
func (s *Shipper) session(ctx context.Context) (progressed bool, err error) {
	pos, lastID, err := s.loadPosition(ctx)
	if err != nil {
		return false, err
	}
	s.markShipped(pos, lastID)
	rd, err := s.slog.NewReader(pos)
	if err != nil {
		return false, err
	}
	defer rd.Close()
	var committed atomic.Bool
	g, ctx := errgroup.WithContext(ctx)
	work := make(chan *batch, s.cfg.InFlight)
	g.Go(func() error {
		defer close(work)
		var prev chan struct{}
		for {
			b, err := s.prepare(ctx, rd, pos)
			if err != nil {
				// At a damaged record, let the batches before it commit
				// before the session ends (and cancels them): the stored
				// position then reaches the damage.
				var ce *sharelog.CorruptError
				if prev != nil && errors.As(err, &ce) {
					select {
					case <-prev:
					case <-ctx.Done():
					}
				}
				return err
			}
			// Connections are taken here, in log order, so a batch
			// never holds one while an earlier batch (which it will wait
			// for) is still waiting for one: no deadlock, whatever the
			// pool's size. prepare holds none (its partition creation
			// uses the pool).
			b.conn, err = s.pool.Acquire(ctx)
			if err != nil {
				s.free <- b
				return fmt.Errorf("pgstore: acquire: %w", err)
			}
			b.prev, b.done = prev, make(chan struct{})
			prev, pos = b.done, b.to
			select {
			case work <- b:
			case <-ctx.Done():
				b.conn.Release()
				b.conn = nil
				s.free <- b
				return ctx.Err()
			}
		}
	})
	for range s.cfg.InFlight {
		g.Go(func() error {
			for b := range work {
				err := s.ship(ctx, b.conn, b)
				b.conn.Release()
				b.conn = nil
				if err != nil {
					// After a failed COPY, pgx's sending goroutine may
					// still be reading the batch's buffer (the race
					// detector caught it): never hand it out again.
					b = &batch{}
				}
				s.free <- b // its transaction has ended either way
				if err != nil {
					return err
				}
				committed.Store(true)
			}
			return ctx.Err()
		})
	}
	err = g.Wait()
	// Hand back the batches no transaction took (work is closed by now).
	for b := range work {
		b.conn.Release()
		b.conn = nil
		s.free <- b
	}
	return committed.Load(), err
}

// prepare takes a free batch and fills it with the next records after pos:
// it reads them (collect), creates the partitions they need, encodes the
// COPY data and aggregates the workers.
func (s *Shipper) prepare(ctx context.Context, rd *sharelog.Reader, pos sharelog.Position) (*batch, error) {
	var b *batch
	select {
	case b = <-s.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := s.collect(ctx, rd); err != nil {
		s.free <- b
		return nil, err
	}
	if err := s.ensurePartitions(ctx); err != nil {
		s.free <- b
		return nil, err
	}
	b.from, b.to = pos, rd.Position()
	b.lastID = s.recs[len(s.recs)-1].ID
	b.n = len(s.recs)
	b.copyBuf = appendCopyBinary(b.copyBuf[:0], s.recs)
	b.target = s.copyTarget()
	s.aggregateWorkers(b)
	return b, nil
}

func (s *Shipper) markShipped(pos sharelog.Position, id uint64) {
	s.mu.Lock()
	s.shipped, s.shippedID = pos, id
	s.mu.Unlock()
	s.slog.MarkShipped(pos, id)
}

// loadPosition reads (creating if missing) the instance's stored position.
// A position recorded for another log directory (log_id) is reset to the
// start of this log, with a warning: the old directory is gone.
func (s *Shipper) loadPosition(ctx context.Context) (sharelog.Position, uint64, error) {
	logID := s.slog.LogID()
	if _, err := s.pool.Exec(ctx, `INSERT INTO sharelog_positions (instance, log_id, segment, seg_offset, last_id)
		VALUES ($1, $2, 0, 0, 0) ON CONFLICT (instance) DO NOTHING`, s.instance, logID); err != nil {
		return sharelog.Position{}, 0, fmt.Errorf("pgstore: load position: %w", err)
	}
	var (
		storedLog   string
		seg, off    int64
		lastShipped int64
	)
	if err := s.pool.QueryRow(ctx, `SELECT log_id, segment, seg_offset, last_id FROM sharelog_positions WHERE instance = $1`,
		s.instance).Scan(&storedLog, &seg, &off, &lastShipped); err != nil {
		return sharelog.Position{}, 0, fmt.Errorf("pgstore: load position: %w", err)
	}
	if storedLog != logID {
		s.log.Warn("share log directory changed, shipping the new log from its start",
			zap.String("stored_log_id", storedLog), zap.String("log_id", logID),
			zap.Int64("stored_segment", seg), zap.Int64("stored_offset", off))
		tag, err := s.pool.Exec(ctx, `UPDATE sharelog_positions SET log_id = $2, segment = 0, seg_offset = 0, updated_at = now()
			WHERE instance = $1 AND log_id = $3`, s.instance, logID, storedLog)
		if err != nil {
			return sharelog.Position{}, 0, fmt.Errorf("pgstore: reset position: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return sharelog.Position{}, 0, ErrPositionMoved
		}
		seg, off = 0, 0
	}
	return sharelog.Position{Segment: uint64(seg), Offset: off}, uint64(lastShipped), nil
}

// collect fills s.recs with the next batch: it returns once it has
// MaxBatch records, or at least one record and FlushInterval has passed
// since the first, or it has at least one record and the next is damaged
// (*sharelog.CorruptError), or ctx ends or the reader fails (error).
func (s *Shipper) collect(ctx context.Context, rd *sharelog.Reader) error {
	s.recs = s.recs[:0]
	var (
		timer    *time.Timer
		deadline <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for len(s.recs) < s.cfg.MaxBatch {
		s.recs = s.recs[:len(s.recs)+1]
		ok, err := rd.Next(&s.recs[len(s.recs)-1])
		if !ok && err == nil {
			// Caught up: take the notify channel, then look once more so a
			// record made durable in between is not missed.
			notify := s.slog.Notify()
			ok, err = rd.Next(&s.recs[len(s.recs)-1])
			if !ok && err == nil {
				s.recs = s.recs[:len(s.recs)-1]
				select {
				case <-notify:
					continue
				case <-deadline:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		if err != nil {
			s.recs = s.recs[:len(s.recs)-1]
			var ce *sharelog.CorruptError
			if errors.As(err, &ce) && len(s.recs) > 0 {
				// Ship the intact records before a damaged one: the
				// stored position then stops exactly at the damage
				// (where aditctl sharelog skip picks it up), and the
				// next collect meets the damage with nothing to ship.
				return nil
			}
			return err
		}
		if len(s.recs) == 1 {
			timer = time.NewTimer(s.cfg.FlushInterval)
			deadline = timer.C
		}
	}
	return nil
}

// ship writes b in one transaction: COPY (concurrently with other
// batches), then, once the previous batch has committed, the workers
// upsert, the conditional position move from b.from to b.to and COMMIT in
// one round trip.
func (s *Shipper) ship(ctx context.Context, conn *pgxpool.Conn, b *batch) error {
	start := time.Now()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	b.copyRd.Reset(b.copyBuf)
	tag, err := copyFrom(ctx, tx.Conn().PgConn(), &b.copyRd, b.target)
	if err != nil {
		return fmt.Errorf("pgstore: copy %d shares: %w", b.n, err)
	}
	if n := tag.RowsAffected(); n != int64(b.n) {
		return fmt.Errorf("%w: %d of %d", ErrShortCopy, n, b.n)
	}
	if b.prev != nil {
		select {
		case <-b.prev:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// The position first: should it not match, nothing else runs.
	pb := &pgx.Batch{}
	pb.Queue(`UPDATE sharelog_positions SET segment = $2, seg_offset = $3, last_id = $4, updated_at = now()
		WHERE instance = $1 AND log_id = $5 AND segment = $6 AND seg_offset = $7`,
		s.instance, int64(b.to.Segment), b.to.Offset, int64(b.lastID), s.slog.LogID(), int64(b.from.Segment), b.from.Offset)
	pb.Queue(`INSERT INTO workers (address, worker, first_seen, last_seen)
		SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
		ON CONFLICT (address, worker) DO UPDATE
		SET first_seen = LEAST(workers.first_seen, EXCLUDED.first_seen),
		    last_seen = GREATEST(workers.last_seen, EXCLUDED.last_seen)`,
		b.addrs, b.names, b.firsts, b.lasts)
	br := tx.SendBatch(ctx, pb)
	tag, err = br.Exec()
	if err != nil {
		br.Close()
		return fmt.Errorf("pgstore: move position: %w", err)
	}
	if tag.RowsAffected() != 1 {
		br.Close()
		return fmt.Errorf("%w: expected %v", ErrPositionMoved, b.from)
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return fmt.Errorf("pgstore: upsert workers: %w", err)
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("pgstore: batch: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: commit: %w", err)
	}
	s.markShipped(b.to, b.lastID) // before the successor can commit
	close(b.done)
	s.m.BatchSeconds.Observe(time.Since(start).Seconds())
	s.m.BatchRecords.Observe(float64(b.n))
	s.m.Shipped.Add(float64(b.n))
	return nil
}

// errCopyAbandoned: pgx panicked out of a COPY (see copyFrom); its sending
// goroutine may still be reading the batch, so the batch is not reused.
var errCopyAbandoned = errors.New("pgstore: connection lost during COPY")

// copyFrom is conn.CopyFrom, except that the "close of closed channel"
// panic pgx can raise when a connection is torn down during a COPY is
// returned as an error. jackc/pgx#2364 (the server ends the connection)
// was fixed in v5.7.6, but the same family stays open upstream as
// jackc/pgx#2622 (a COPY whose context is cancelled while the connection
// closes, as happens here at shutdown and on a lost connection). By then pgx has marked the connection closed, so the pool
// discards it and the shipper retries as after any lost connection. Any
// other panic is re-raised.
func copyFrom(ctx context.Context, conn *pgconn.PgConn, r io.Reader, sql string) (tag pgconn.CommandTag, err error) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if re, ok := p.(runtime.Error); ok && strings.Contains(re.Error(), "close of closed channel") && conn.IsClosed() {
			err = fmt.Errorf("%w (pgx: %v)", errCopyAbandoned, re)
			return
		}
		panic(p)
	}()
	return conn.CopyFrom(ctx, r, sql)
}

// copyTarget returns the COPY statement for the batch: straight into the
// day's partition when the whole batch falls on one day (the common case,
// which spares Postgres the per-row partition routing), else into shares.
func (s *Shipper) copyTarget() string {
	d := dayOf(s.recs[0].Time)
	if dayOf(s.recs[len(s.recs)-1].Time) != d {
		return s.copyAll
	}
	for i := range s.recs {
		if dayOf(s.recs[i].Time) != d {
			return s.copyAll
		}
	}
	q, ok := s.copySQL[d]
	if !ok {
		q = copySQL(pgx.Identifier{partitionName(d)}.Sanitize())
		s.copySQL[d] = q
	}
	return q
}

// ensurePartitions creates the partitions the batch's days need (usually
// none: known days are remembered until the next error).
func (s *Shipper) ensurePartitions(ctx context.Context) error {
	last := day(-1 << 62)
	for i := range s.recs {
		d := dayOf(s.recs[i].Time)
		if d == last || s.parts[d] {
			last = d
			continue
		}
		if err := ensurePartition(ctx, s.pool, d); err != nil {
			return err
		}
		s.parts[d] = true
		last = d
	}
	return nil
}

// aggregateWorkers fills b's worker arrays from s.recs: first/last seen
// per (address, worker), sorted so that concurrent shippers (of other
// instances) lock workers rows in the same order.
func (s *Shipper) aggregateWorkers(b *batch) {
	clear(s.workers)
	for i := range s.recs {
		r := &s.recs[i]
		if w, ok := s.workers[r.Worker]; ok {
			if r.Time.Before(w.first) {
				w.first = r.Time
			}
			if r.Time.After(w.last) {
				w.last = r.Time
			}
			continue
		}
		s.workers[r.Worker] = &seen{first: r.Time, last: r.Time}
	}
	keys := make([]share.Worker, 0, len(s.workers))
	for k := range s.workers {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Address != keys[j].Address {
			return keys[i].Address < keys[j].Address
		}
		return keys[i].Name < keys[j].Name
	})
	b.addrs, b.names, b.firsts, b.lasts = b.addrs[:0], b.names[:0], b.firsts[:0], b.lasts[:0]
	for _, k := range keys {
		w := s.workers[k]
		b.addrs = append(b.addrs, k.Address)
		b.names = append(b.names, k.Name)
		b.firsts = append(b.firsts, w.first)
		b.lasts = append(b.lasts, w.last)
	}
}

// maintainLoop creates partitions ahead and drops them by retention, now
// and every MaintenanceInterval (sooner after a failure).
func (s *Shipper) maintainLoop(ctx context.Context) {
	for {
		wait := s.cfg.MaintenanceInterval
		if err := s.Maintain(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.m.Errors.Inc()
			s.log.Warn("share partition maintenance failed", zap.Error(err))
			wait = min(wait, s.cfg.RetryMax)
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// Maintain creates today's and the next PartitionsAhead days' partitions
// and drops those past the retention.
func (s *Shipper) Maintain(ctx context.Context) error {
	now := s.cfg.Now()
	if err := EnsurePartitions(ctx, s.pool, now, s.cfg.PartitionsAhead); err != nil {
		return err
	}
	if s.cfg.Retention < 0 {
		return nil
	}
	dropped, err := DropPartitions(ctx, s.pool, now.Add(-s.cfg.Retention))
	if err != nil {
		return err
	}
	if len(dropped) > 0 {
		s.log.Info("share partitions dropped by retention", zap.Strings("partitions", dropped), zap.Duration("retention", s.cfg.Retention))
	}
	return nil
}

// LastShippedID returns the highest share id shipped for instance (0 if
// none): pass it plus one as sharelog.Config.NextIDFloor so ids never
// repeat even if the log directory is lost.
func LastShippedID(ctx context.Context, pool *pgxpool.Pool, instance string) (uint64, error) {
	var id int64
	err := pool.QueryRow(ctx, `SELECT last_id FROM sharelog_positions WHERE instance = $1`, instance).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pgstore: last shipped id: %w", err)
	}
	return uint64(id), nil
}
