package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

// ErrNilDB is returned when Up is given no database.
var ErrNilDB = errors.New("migrations: nil database")

// Provider returns a goose provider over the embedded migrations for db
// (opened with the pgx stdlib driver, "pgx"). Concurrent migrators (several
// daemons starting at once) are serialised by a Postgres advisory lock.
func Provider(db *sql.DB) (*goose.Provider, error) {
	if db == nil {
		return nil, ErrNilDB
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migrations: session locker: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrations: provider: %w", err)
	}
	return p, nil
}

// Up applies every pending migration to db (idempotent: an up-to-date
// database is left alone).
func Up(ctx context.Context, db *sql.DB) error {
	p, err := Provider(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: up: %w", err)
	}
	return nil
}

// UpPool applies every pending migration through a pgx pool (it opens a
// database/sql handle over the pool via the pgx stdlib driver and closes it
// again).
func UpPool(ctx context.Context, pool *pgxpool.Pool) error {
	if pool == nil {
		return ErrNilDB
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	return Up(ctx, db)
}

// UpDSN connects to dsn with the pgx stdlib driver, applies every pending
// migration and disconnects.
func UpDSN(ctx context.Context, dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return fmt.Errorf("migrations: open: %w", err)
	}
	defer db.Close()
	return Up(ctx, db)
}

// Applied is one embedded migration and whether the database has it.
type Applied struct {
	Version   int64
	Name      string    // the file name, e.g. "00001_initial.sql"
	AppliedAt time.Time // zero when pending
}

// Pending reports whether the migration is not yet applied.
func (a Applied) Pending() bool { return a.AppliedAt.IsZero() }

// Status lists every embedded migration in version order with the time it
// was applied to db (zero: pending). It changes nothing.
func Status(ctx context.Context, db *sql.DB) ([]Applied, error) {
	p, err := Provider(db)
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: status: %w", err)
	}
	out := make([]Applied, 0, len(st))
	for _, s := range st {
		a := Applied{Version: s.Source.Version, Name: path.Base(s.Source.Path)}
		if s.State == goose.StateApplied {
			a.AppliedAt = s.AppliedAt
		}
		out = append(out, a)
	}
	return out, nil
}
