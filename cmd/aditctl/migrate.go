package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/adit-pool/adit/migrations"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

const migrateUsage = `  migrate [-dsn DSN] [up|status]
                               apply the pending schema migrations (up, the default) or list
                               every migration and when it was applied (status)
`

// migrate applies or lists the embedded migrations. Several daemons or
// operators migrating at once are serialised by the migrations package.
func migrate(args []string, out io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dsn := dbFlags(fs)
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long (a migration may rebuild indexes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	action := "up"
	switch fs.NArg() {
	case 0:
	case 1:
		action = fs.Arg(0)
	default:
		return fmt.Errorf("migrate: unexpected arguments %q", fs.Args()[1:])
	}
	if action != "up" && action != "status" {
		return fmt.Errorf("migrate: unknown action %q (want up or status)", action)
	}
	if *dsn == "" {
		*dsn = getenv("ADIT_DATABASE_DSN")
	}
	if *dsn == "" {
		return errors.New("no database: pass -dsn or set ADIT_DATABASE_DSN")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	db, err := sql.Open("pgx", *dsn)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	before, err := migrations.Status(ctx, db)
	if err != nil {
		return err
	}
	if action == "status" {
		return printMigrations(out, before)
	}
	if err := migrations.Up(ctx, db); err != nil {
		return err
	}
	after, err := migrations.Status(ctx, db)
	if err != nil {
		return err
	}
	applied := 0
	for i, a := range after {
		if !a.Pending() && (i >= len(before) || before[i].Pending()) {
			applied++
			if _, err := fmt.Fprintf(out, "applied %s\n", a.Name); err != nil {
				return err
			}
		}
	}
	last := "none"
	if n := len(after); n > 0 {
		last = after[n-1].Name
	}
	_, err = fmt.Fprintf(out, "schema up to date (%d applied now, newest %s)\n", applied, last)
	return err
}

func printMigrations(out io.Writer, ms []migrations.Applied) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tMIGRATION\tAPPLIED")
	for _, m := range ms {
		at := "pending"
		if !m.Pending() {
			at = m.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, m.Name, at)
	}
	return tw.Flush()
}
