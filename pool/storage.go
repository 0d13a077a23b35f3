package pool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/adit-pool/adit/migrations"
	"github.com/adit-pool/adit/payout"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share/pgstore"
	"github.com/adit-pool/adit/share/sharelog"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// storage is the durable side of the pool, each part present only when
// configured: the local share log, its shipper into Postgres, and the payout
// tracker and payer on top of the database.
type storage struct {
	shareLog *sharelog.Log
	db       *pgxpool.Pool
	// api is a small pool of its own for the HTTP API's reads, so a burst
	// of API requests waits for its own connections and never for the
	// shipper's, the tracker's or the payer's.
	api     *pgxpool.Pool
	shipper *pgstore.Shipper
	tracker *payout.Tracker
	payer   *payout.Payer
	ledger  *payout.Ledger
}

// openStorage opens what cfg asks for. With a database configured it must
// be reachable at start (to apply migrations and learn the last shipped
// share id); later outages only delay shipping.
func openStorage(ctx context.Context, cfg *Config, params *chaincfg.Params, nodes []*node.Client,
	log *zap.Logger, reg prometheus.Registerer) (_ *storage, err error) {
	s := &storage{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	var nextID uint64
	if cfg.Database.DSN != "" {
		s.db, err = pgxpool.New(ctx, cfg.Database.DSN)
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		if cfg.Database.Migrate {
			if err := migrations.UpPool(ctx, s.db); err != nil {
				return nil, fmt.Errorf("database migrations: %w", err)
			}
		}
		if s.api, err = openAPIPool(cfg.Database.DSN); err != nil {
			return nil, err
		}
		last, err := pgstore.LastShippedID(ctx, s.db, cfg.Instance)
		if err != nil {
			return nil, fmt.Errorf("database: reading the last shipped share: %w", err)
		}
		nextID = last + 1
	}
	if cfg.ShareLog.Dir != "" {
		s.shareLog, err = sharelog.Open(cfg.ShareLog.Dir, sharelog.Config{
			Instance:      cfg.Instance,
			Fsync:         sharelog.FsyncPolicy(cfg.ShareLog.Fsync),
			FsyncInterval: cfg.ShareLog.FsyncInterval.D(),
			OnDiskFull:    sharelog.DiskFullPolicy(cfg.ShareLog.OnDiskFull),
			NextIDFloor:   nextID,
		}, log.Named("sharelog"), sharelog.NewMetrics(reg))
		if err != nil {
			return nil, fmt.Errorf("share log: %w", err)
		}
	}
	if s.db == nil {
		return s, nil
	}
	s.shipper, err = pgstore.NewShipper(s.db, s.shareLog, cfg.Instance, pgstore.Config{
		Retention: cfg.Database.Retention.D(),
	}, log.Named("shipper"), pgstore.NewMetrics(reg))
	if err != nil {
		return nil, err
	}
	if !cfg.Payout.Enabled {
		return s, nil
	}
	pc := cfg.Payout
	key, err := payout.LoadKey(pc.KeyFile, params)
	if err != nil {
		return nil, err
	}
	if key.Address() != cfg.PayoutAddress {
		return nil, fmt.Errorf("payout.key_file's address %s is not payout_address %s: the pool could not spend its coinbases",
			key.Address(), cfg.PayoutAddress)
	}
	m := payout.NewMetrics(reg)
	chains := make([]payout.Chain, len(nodes))
	for i, n := range nodes {
		chains[i] = n
	}
	s.tracker, err = payout.NewTracker(payout.TrackerConfig{
		PPLNSFactor:    pc.PPLNSFactor,
		FeeBasisPoints: pc.FeeBasisPoints,
		FeeAccount:     pc.FeeAccount,
		Maturity:       pc.Maturity,
		PollInterval:   pc.PollInterval.D(),
		RecoverDepth:   pc.RecoverDepth,
		PoolScript:     key.PkScript(),
	}, s.db, chains, log.Named("tracker"), m)
	if err != nil {
		return nil, err
	}
	s.payer, err = payout.NewPayer(payout.PayerConfig{
		Network:    params,
		Threshold:  pc.ThresholdSats,
		FeeRate:    pc.FeeRate,
		FeePolicy:  payout.FeePolicy(pc.FeePolicy),
		FeeAccount: pc.FeeAccount,
		Interval:   pc.Interval.D(),
	}, s.db, key, nodes[0], nodes[0], log.Named("payer"), m)
	if err != nil {
		return nil, err
	}
	s.ledger = payout.NewLedger(s.api)
	return s, nil
}

// API database limits: at most apiDBConns connections, each statement
// bounded by the server too (the handlers' contexts are the first bound).
const (
	apiDBConns          = 2
	apiStatementTimeout = 5 * time.Second
)

// openAPIPool returns the API's own connection pool (it connects lazily).
func openAPIPool(dsn string) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	pc.MaxConns = apiDBConns
	pc.MinConns = 0
	pc.ConnConfig.RuntimeParams["statement_timeout"] = fmt.Sprint(apiStatementTimeout.Milliseconds())
	pc.ConnConfig.RuntimeParams["application_name"] = "aditd-api"
	p, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("database (api pool): %w", err)
	}
	return p, nil
}

// run starts the background loops in g.
func (s *storage) run(ctx context.Context, g *errgroup.Group) {
	if s.shipper != nil {
		g.Go(func() error { return s.shipper.Run(ctx) })
	}
	if s.tracker != nil {
		g.Go(func() error { return ignoreCanceled(s.tracker.Run(ctx)) })
		g.Go(func() error { return ignoreCanceled(s.payer.Run(ctx)) })
	}
}

// waitShipped waits up to timeout until the shipper has put in Postgres
// every share the log held when it was called, and reports whether it did.
func (s *storage) waitShipped(ctx context.Context, timeout time.Duration) bool {
	if s.shareLog == nil || s.shipper == nil {
		return true
	}
	_, target := s.shareLog.Durable()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, id := s.shipper.Shipped(); id >= target {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// close releases everything; the share log last, after every appender and
// the shipper have stopped.
func (s *storage) close() {
	if s.api != nil {
		s.api.Close()
	}
	if s.db != nil {
		s.db.Close()
	}
	if s.shareLog != nil {
		_ = s.shareLog.Close()
	}
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// trackerBlocks adapts the payout tracker to BlockStore.
type trackerBlocks struct{ t *payout.Tracker }

func (b trackerBlocks) Found(ctx context.Context, fb FoundBlock) error {
	return b.t.Found(ctx, payout.FoundBlock(fb))
}

func (b trackerBlocks) Submitted(ctx context.Context, hash [32]byte, accepted bool, err error) error {
	return b.t.Submitted(ctx, hash, accepted, err)
}

// startupTimeout bounds connecting to the database and migrating at start.
const startupTimeout = 30 * time.Second
