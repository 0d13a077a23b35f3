package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
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
// Concurrency contract: Run is called once at a time; Shipped is safe to
// call concurrently with Run. Internally Run runs two goroutines, the ship
// loop and the partition maintenance loop, which share nothing but the
// pool; mu guards only the shipped position snapshot.
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

	// Ship loop state.
	recs    []share.Record
	parts   map[day]bool // partitions known to exist
	workers map[share.Worker]*seen
	copyBuf []byte
	copyRd  bytes.Reader
	copySQL map[day]string // COPY into one day's partition
	copyAll string         // COPY into the partitioned table
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
	for {
		if err := s.collect(ctx, rd); err != nil {
			return progressed, err
		}
		end := rd.Position()
		last := s.recs[len(s.recs)-1].ID
		if err := s.shipBatch(ctx, pos, end, last); err != nil {
			return progressed, err
		}
		progressed = true
		pos, lastID = end, last
		s.markShipped(pos, lastID)
	}
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
// since the first, or ctx ends (error).
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
			return err
		}
		if len(s.recs) == 1 {
			timer = time.NewTimer(s.cfg.FlushInterval)
			deadline = timer.C
		}
	}
	return nil
}

// shipBatch writes s.recs in one transaction and moves the stored position
// from `from` to `to`.
func (s *Shipper) shipBatch(ctx context.Context, from, to sharelog.Position, lastID uint64) error {
	start := time.Now()
	if err := s.ensurePartitions(ctx); err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	s.copyBuf = appendCopyBinary(s.copyBuf[:0], s.recs)
	s.copyRd.Reset(s.copyBuf)
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, &s.copyRd, s.copyTarget())
	if err != nil {
		return fmt.Errorf("pgstore: copy %d shares: %w", len(s.recs), err)
	}
	if n := tag.RowsAffected(); n != int64(len(s.recs)) {
		return fmt.Errorf("%w: %d of %d", ErrShortCopy, n, len(s.recs))
	}
	b := &pgx.Batch{}
	s.queueWorkers(b)
	b.Queue(`UPDATE sharelog_positions SET segment = $2, seg_offset = $3, last_id = $4, updated_at = now()
		WHERE instance = $1 AND log_id = $5 AND segment = $6 AND seg_offset = $7`,
		s.instance, int64(to.Segment), to.Offset, int64(lastID), s.slog.LogID(), int64(from.Segment), from.Offset)
	br := tx.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return fmt.Errorf("pgstore: upsert workers: %w", err)
	}
	tag, err = br.Exec()
	if err != nil {
		br.Close()
		return fmt.Errorf("pgstore: move position: %w", err)
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("pgstore: batch: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("%w: expected %v", ErrPositionMoved, from)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: commit: %w", err)
	}
	s.m.BatchSeconds.Observe(time.Since(start).Seconds())
	s.m.BatchRecords.Observe(float64(len(s.recs)))
	s.m.Shipped.Add(float64(len(s.recs)))
	return nil
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

// queueWorkers queues one upsert of the batch's workers, aggregated to
// first/last seen per (address, worker) and sorted so that concurrent
// shippers lock rows in the same order.
func (s *Shipper) queueWorkers(b *pgx.Batch) {
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
	addrs := make([]string, len(keys))
	names := make([]string, len(keys))
	firsts := make([]time.Time, len(keys))
	lasts := make([]time.Time, len(keys))
	for i, k := range keys {
		w := s.workers[k]
		addrs[i], names[i], firsts[i], lasts[i] = k.Address, k.Name, w.first, w.last
	}
	b.Queue(`INSERT INTO workers (address, worker, first_seen, last_seen)
		SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
		ON CONFLICT (address, worker) DO UPDATE
		SET first_seen = LEAST(workers.first_seen, EXCLUDED.first_seen),
		    last_seen = GREATEST(workers.last_seen, EXCLUDED.last_seen)`,
		addrs, names, firsts, lasts)
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
