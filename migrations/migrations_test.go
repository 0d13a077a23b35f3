package migrations

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/adit-pool/adit/share/pgstore/pgtest"
)

func TestUpIsIdempotentAndSchemaHolds(t *testing.T) {
	srv := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sql.Open("pgx", srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 2 {
		if err := Up(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Provider(db)
	if err != nil {
		t.Fatal(err)
	}
	srcs := p.ListSources()
	v, err := p.GetDBVersion(ctx)
	if err != nil || len(srcs) == 0 || v != srcs[len(srcs)-1].Version {
		t.Fatalf("database at version %d (%v), migrations %v", v, err, srcs)
	}
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mustExec(`SELECT adit_shares_ensure_partitions('2030-01-01', 2)`)
	var parts int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'shares'::regclass`).Scan(&parts); err != nil || parts != 3 {
		t.Fatalf("%d partitions (%v)", parts, err)
	}
	row := `INSERT INTO shares VALUES ('i', 1, '2030-01-02T10:00:00Z', 'a', 'w', 1, 1, 1, 1, 1, 1, false, '\x00', 'r')`
	mustExec(row)
	var declared bool // 00008: a share row without it is not declared
	if err := db.QueryRowContext(ctx, `SELECT declared FROM shares WHERE instance = 'i' AND id = 1`).Scan(&declared); err != nil || declared {
		t.Fatalf("declared %v (%v)", declared, err)
	}
	if _, err := db.ExecContext(ctx, row); err == nil {
		t.Fatal("duplicate (instance, id, time) accepted")
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO shares VALUES ('i', 2, '2031-01-01T00:00:00Z', 'a', 'w', 1, 1, 1, 1, 1, 1, false, '\x00', 'r')`); err == nil {
		t.Fatal("share without a partition accepted")
	}
	block := `INSERT INTO blocks (height, hash, found_at, status, finder_address, finder_worker, instance, share_id)
		VALUES (1, $1, now(), $2, 'a', 'w', 'i', 1)`
	mustExec(block, []byte{1}, "found")
	if _, err := db.ExecContext(ctx, block, []byte{2}, "lost"); err == nil {
		t.Fatal("bad block status accepted")
	}
	if _, err := db.ExecContext(ctx, block, []byte{1}, "found"); err == nil {
		t.Fatal("duplicate block hash accepted")
	}
	var dropped []string
	rows, err := db.QueryContext(ctx, `SELECT adit_shares_drop_partitions('2030-01-03T00:00:00Z')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		dropped = append(dropped, n)
	}
	rows.Close()
	if len(dropped) != 2 || dropped[0] != "shares_p20300101" || dropped[1] != "shares_p20300102" {
		t.Fatalf("dropped %v", dropped)
	}
	// Down and up again work.
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := Up(ctx, db); err != nil {
		t.Fatal(err)
	}
}
