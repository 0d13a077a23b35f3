package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/adit-pool/adit/migrations"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/pgstore"
	"github.com/adit-pool/adit/share/pgstore/pgtest"
	"github.com/adit-pool/adit/share/sharelog"
)

const testInstance = "adit-test"

// logConfig makes small segments so a few thousand records span several.
func logConfig() sharelog.Config {
	return sharelog.Config{Instance: testInstance, SegmentSize: 64 << 10, Fsync: sharelog.FsyncNone, MinFreeBytes: -1}
}

// appendRecords appends n records to the log in dir (creating it) and
// closes it again.
func appendRecords(t *testing.T, dir string, n int) {
	t.Helper()
	l, err := sharelog.Open(dir, logConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range n {
		r := share.Record{
			Time:               time.Now(),
			Worker:             share.Worker{Address: fmt.Sprintf("bcrt1qaddr%02d", i%5), Name: fmt.Sprintf("rig%d", i%3)},
			Protocol:           share.ProtocolV1,
			JobID:              uint32(i),
			Height:             300,
			AssignedDifficulty: 64,
			ReachedDifficulty:  100,
			NetworkDifficulty:  1e6,
			RemoteAddr:         "127.0.0.1:4000",
		}
		r.Hash[0], r.Hash[1] = byte(i), byte(i>>8)
		if err := l.Append(context.Background(), &r); err != nil {
			t.Fatal(err)
		}
	}
}

// recordAt is a record's frame position and id.
type recordAt struct {
	pos sharelog.Position
	id  uint64
}

// recordPositions reads the (intact) log in dir and returns where each
// record's frame starts.
func recordPositions(t *testing.T, dir string) []recordAt {
	t.Helper()
	r, err := sharelog.OpenReader(dir, sharelog.Position{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []recordAt
	start := r.Position()
	for {
		var rec share.Record
		ok, err := r.Next(&rec)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		end := r.Position()
		if start.Segment != end.Segment {
			start = sharelog.Position{Segment: end.Segment, Offset: 32} // after the segment header
		}
		out = append(out, recordAt{pos: start, id: rec.ID})
		start = end
	}
}

// damageRecord inverts a byte inside the payload of the record at pos.
func damageRecord(t *testing.T, dir string, pos sharelog.Position) {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("%020d.seg", pos.Segment))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[pos.Offset+30] ^= 0x5a
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// migratedDB starts Postgres with the schema applied.
func migratedDB(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	srv := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := migrations.UpDSN(ctx, srv.DSN()); err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(ctx, srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return srv.DSN(), db
}

// aditctl runs the CLI and returns its output and error.
func aditctl(args ...string) (string, error) {
	var out bytes.Buffer
	err := run(args, &out, func(string) string { return "" })
	return out.String(), err
}

// mustAditctl runs the CLI and fails the test on error.
func mustAditctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := aditctl(args...)
	if err != nil {
		t.Fatalf("aditctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// shippedRows returns the count, distinct ids and id range of the
// instance's shares in Postgres.
func shippedRows(t *testing.T, db *pgxpool.Pool) (n, distinct, lo, hi int64) {
	t.Helper()
	err := db.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT id), coalesce(min(id), 0), coalesce(max(id), 0)
		FROM shares WHERE instance = $1`, testInstance).Scan(&n, &distinct, &lo, &hi)
	if err != nil {
		t.Fatal(err)
	}
	return n, distinct, lo, hi
}

func storedPosition(t *testing.T, db *pgxpool.Pool) sharelog.Position {
	t.Helper()
	var seg, off int64
	if err := db.QueryRow(context.Background(), `SELECT segment, seg_offset FROM sharelog_positions WHERE instance = $1`,
		testInstance).Scan(&seg, &off); err != nil {
		t.Fatal(err)
	}
	return sharelog.Position{Segment: uint64(seg), Offset: off}
}

func TestSharelogInspectClean(t *testing.T) {
	dir := t.TempDir()
	appendRecords(t, dir, 1500)
	out := mustAditctl(t, "sharelog", "inspect", "-dir", dir)
	for _, want := range []string{"SEGMENT  BYTES", "\n1 ", "\n3 ", "end: clean at", `instance "adit-test": 1500 records`} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "shipped") || strings.Contains(out, "DAMAGED") {
		t.Errorf("inspect without a database:\n%s", out)
	}

	dsn, _ := migratedDB(t)
	out = mustAditctl(t, "sharelog", "inspect", "-dir", dir, "-dsn", dsn)
	if !strings.Contains(out, "shipped: nothing (no position stored); 1500 records not yet in Postgres") {
		t.Errorf("inspect with a database, nothing shipped:\n%s", out)
	}
	mustAditctl(t, "sharelog", "ship", "-dir", dir, "-dsn", dsn)
	appendRecords(t, dir, 10)
	out = mustAditctl(t, "sharelog", "inspect", "-dir", dir, "-dsn", dsn)
	if !strings.Contains(out, "last id 1500; 10 records not yet in Postgres") {
		t.Errorf("inspect after shipping 1500 of 1510:\n%s", out)
	}

	if _, err := aditctl("sharelog", "inspect", "-dir", t.TempDir()); err == nil {
		t.Error("inspect of a directory without segments succeeded")
	}
}

func TestSharelogInspectTornTail(t *testing.T) {
	dir := t.TempDir()
	appendRecords(t, dir, 100)
	ps := recordPositions(t, dir)
	path := filepath.Join(dir, fmt.Sprintf("%020d.seg", ps[len(ps)-1].pos.Segment))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{120, 0, 0, 0, 1, 2, 3}); err != nil { // a frame cut short
		t.Fatal(err)
	}
	f.Close()
	out := mustAditctl(t, "sharelog", "inspect", "-dir", dir)
	want := fmt.Sprintf("end: torn tail at %d:%d: 7 bytes", ps[len(ps)-1].pos.Segment, fi.Size())
	if !strings.Contains(out, want) || !strings.Contains(out, "100 records") {
		t.Errorf("inspect output lacks %q:\n%s", want, out)
	}
}

func TestSharelogInspectCorruptMidLog(t *testing.T) {
	dir := t.TempDir()
	appendRecords(t, dir, 1500)
	ps := recordPositions(t, dir)
	bad := ps[100] // in segment 1, which is sealed
	damageRecord(t, dir, bad.pos)
	out, err := aditctl("sharelog", "inspect", "-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "1 damaged record") {
		t.Fatalf("inspect of a damaged log: err %v\n%s", err, out)
	}
	for _, want := range []string{
		fmt.Sprintf("DAMAGED record at %v: crc", bad.pos),
		fmt.Sprintf("intact records resume at %v", ps[101].pos),
		`instance "adit-test": 1499 records`, // it reads on after the damage
		"end: clean at",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
}

func TestSharelogShip(t *testing.T) {
	dir := t.TempDir()
	appendRecords(t, dir, 1500)
	dsn, db := migratedDB(t)
	out := mustAditctl(t, "sharelog", "ship", "-dir", dir, "-dsn", dsn)
	if !strings.Contains(out, `shipped 1500 records of instance "adit-test" (ids 1..1500)`) {
		t.Fatalf("ship output:\n%s", out)
	}
	if n, distinct, lo, hi := shippedRows(t, db); n != 1500 || distinct != 1500 || lo != 1 || hi != 1500 {
		t.Fatalf("postgres holds %d rows, %d distinct ids in [%d, %d]; want ids 1..1500 once each", n, distinct, lo, hi)
	}
	out = mustAditctl(t, "sharelog", "ship", "-dir", dir, "-dsn", dsn)
	if !strings.Contains(out, "nothing to ship") {
		t.Fatalf("second ship output:\n%s", out)
	}
	appendRecords(t, dir, 20)
	out = mustAditctl(t, "sharelog", "ship", "-dir", dir, "-dsn", dsn)
	if !strings.Contains(out, "shipped 20 records") {
		t.Fatalf("ship after 20 more records:\n%s", out)
	}
	if n, distinct, _, hi := shippedRows(t, db); n != 1520 || distinct != 1520 || hi != 1520 {
		t.Fatalf("postgres holds %d rows, %d distinct, max id %d; want 1520", n, distinct, hi)
	}
	if _, err := aditctl("sharelog", "ship", "-dir", dir, "-dsn", dsn, "-instance", "other"); err == nil {
		t.Error("ship as an instance the log is not accepted")
	}
}

func TestSharelogShipRefusedWhileLocked(t *testing.T) {
	dir := t.TempDir()
	appendRecords(t, dir, 50)
	dsn, db := migratedDB(t)
	l, err := sharelog.Open(dir, logConfig(), nil, nil) // the "daemon"
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out, err := aditctl("sharelog", "ship", "-dir", dir, "-dsn", dsn)
	if !errors.Is(err, sharelog.ErrLocked) || !strings.Contains(err.Error(), "stop the daemon") {
		t.Fatalf("ship while the log is open: err %v\n%s", err, out)
	}
	if n, _, _, _ := shippedRows(t, db); n != 0 {
		t.Fatalf("a refused ship stored %d rows", n)
	}
	mustAditctl(t, "sharelog", "inspect", "-dir", dir, "-dsn", dsn) // inspect needs no lock
}

// TestSharelogSkip: a damaged record mid-log stops shipping; skip moves
// the position past it (refusing a wrong position and doing nothing
// without -yes), and a daemon-style Shipper then ships everything after
// it exactly once.
func TestSharelogSkip(t *testing.T) {
	dir := t.TempDir()
	appendRecords(t, dir, 1500)
	ps := recordPositions(t, dir)
	const k = 200
	bad := ps[k]
	damageRecord(t, dir, bad.pos)
	dsn, db := migratedDB(t)

	// ship gets everything before the damage in and reports it.
	out, err := aditctl("sharelog", "ship", "-dir", dir, "-dsn", dsn)
	if err == nil || !strings.Contains(err.Error(), "damaged record at "+bad.pos.String()) || !strings.Contains(out, fmt.Sprintf("shipped %d records", k)) {
		t.Fatalf("ship of a damaged log: err %v\n%s", err, out)
	}
	stuck := storedPosition(t, db)
	if stuck != bad.pos {
		t.Fatalf("stored position %v, want the damaged record's %v", stuck, bad.pos)
	}
	out, _ = aditctl("sharelog", "inspect", "-dir", dir, "-dsn", dsn)
	if hint := fmt.Sprintf("skip -dir %s -at %v -yes", dir, stuck); !strings.Contains(out, hint) {
		t.Errorf("inspect does not suggest %q:\n%s", hint, out)
	}

	// Refused: the stored position is elsewhere; nothing changes.
	other := ps[k-1].pos.String()
	if out, err := aditctl("sharelog", "skip", "-dir", dir, "-dsn", dsn, "-at", other, "-yes"); err == nil ||
		!strings.Contains(err.Error(), "not "+other) {
		t.Fatalf("skip at a position other than the stored one: err %v\n%s", err, out)
	}
	// Without -yes: a dry run.
	out, err = aditctl("sharelog", "skip", "-dir", dir, "-dsn", dsn, "-at", stuck.String())
	if err == nil || !strings.Contains(err.Error(), "dry run") {
		t.Fatalf("skip without -yes: err %v\n%s", err, out)
	}
	if storedPosition(t, db) != stuck {
		t.Fatal("a refused or dry-run skip moved the position")
	}
	lost := fmt.Sprintf("lost: id %d (1 share) between the last good record %d and the next good record %d",
		bad.id, bad.id-1, bad.id+1)
	skipped := fmt.Sprintf("skip: bytes %v to %v (%d bytes)", bad.pos, ps[k+1].pos, ps[k+1].pos.Offset-bad.pos.Offset)
	if !strings.Contains(out, lost) || !strings.Contains(out, skipped) {
		t.Fatalf("dry run output lacks %q or %q:\n%s", lost, skipped, out)
	}

	out = mustAditctl(t, "sharelog", "skip", "-dir", dir, "-dsn", dsn, "-at", stuck.String(), "-yes")
	if !strings.Contains(out, "moved from "+stuck.String()+" to "+ps[k+1].pos.String()) {
		t.Fatalf("skip output:\n%s", out)
	}
	var skips, lastGood, nextGood int64
	if err := db.QueryRow(context.Background(), `SELECT count(*), min(last_good_id), min(next_good_id) FROM sharelog_skips`).
		Scan(&skips, &lastGood, &nextGood); err != nil || skips != 1 || lastGood != int64(bad.id-1) || nextGood != int64(bad.id+1) {
		t.Fatalf("sharelog_skips: %d rows, last good %d, next good %d (%v)", skips, lastGood, nextGood, err)
	}
	if _, err := aditctl("sharelog", "skip", "-dir", dir, "-dsn", dsn, "-at", stuck.String(), "-yes"); err == nil {
		t.Fatal("a second skip from the old position succeeded")
	}

	shipLikeDaemon(t, db, dir)
	n, distinct, lo, hi := shippedRows(t, db)
	if n != 1499 || distinct != 1499 || lo != 1 || hi != 1500 {
		t.Fatalf("postgres holds %d rows, %d distinct ids in [%d, %d]; want 1499: ids 1..1500 but %d", n, distinct, lo, hi, bad.id)
	}
	var lostRows int64
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM shares WHERE id = $1`, int64(bad.id)).Scan(&lostRows); err != nil || lostRows != 0 {
		t.Fatalf("the damaged record's id is in Postgres %d times (%v)", lostRows, err)
	}
	out = mustAditctl(t, "sharelog", "ship", "-dir", dir, "-dsn", dsn)
	if !strings.Contains(out, "nothing to ship") {
		t.Fatalf("ship after the daemon caught up:\n%s", out)
	}
	// The damage is still in the log, but behind the shipped position.
	out = mustAditctl(t, "sharelog", "inspect", "-dir", dir, "-dsn", dsn)
	if !strings.Contains(out, "already skipped") {
		t.Fatalf("inspect after the skip:\n%s", out)
	}
}

// shipLikeDaemon opens the log and runs a Shipper as the daemon does
// (pool/storage.go) until it has shipped the last durable record.
func shipLikeDaemon(t *testing.T, db *pgxpool.Pool, dir string) {
	t.Helper()
	l, err := sharelog.Open(dir, logConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sh, err := pgstore.NewShipper(db, l, testInstance, pgstore.Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	_, durableID := l.Durable()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, id := sh.Shipped(); id == durableID {
			return
		}
		if time.Now().After(deadline) {
			_, id := sh.Shipped()
			t.Fatalf("the shipper reached id %d of %d in a minute", id, durableID)
		}
	}
}
