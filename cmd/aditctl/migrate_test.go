package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/adit-pool/adit/share/pgstore/pgtest"
)

// TestMigrate applies the schema to an empty database through the CLI,
// checks that a second run applies nothing, and that status moves from
// pending to applied for every migration.
func TestMigrate(t *testing.T) {
	srv := pgtest.Start(t)
	env := func(k string) string {
		if k == "ADIT_DATABASE_DSN" {
			return srv.DSN()
		}
		return ""
	}
	runOut := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(args, &out, env); err != nil {
			t.Fatalf("aditctl %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}

	status := runOut("migrate", "status")
	rows := strings.Split(strings.TrimSpace(status), "\n")[1:] // below the header
	if len(rows) < 4 || strings.Count(status, "pending") != len(rows) {
		t.Fatalf("status of an empty database:\n%s", status)
	}
	up := runOut("migrate")
	for _, name := range []string{"00001_shares.sql", "00004_shares_pplns_key.sql"} {
		if !strings.Contains(up, "applied "+name) {
			t.Fatalf("first migrate did not apply %s:\n%s", name, up)
		}
	}
	if strings.Count(up, "applied 0") != len(rows) {
		t.Fatalf("first migrate applied not all %d migrations:\n%s", len(rows), up)
	}
	again := runOut("migrate", "up")
	if strings.Contains(again, "applied 0") || !strings.Contains(again, "(0 applied now") {
		t.Fatalf("second migrate applied something:\n%s", again)
	}
	status = runOut("migrate", "status")
	if strings.Contains(status, "pending") {
		t.Fatalf("pending after migrate:\n%s", status)
	}
	// The tables the daemon needs exist.
	if !strings.Contains(runOut("balances", "-dsn", srv.DSN()), "ADDRESS") {
		t.Fatal("balances on the migrated database printed no header")
	}

	none := func(string) string { return "" }
	for _, args := range [][]string{
		{"migrate"},                                // no DSN
		{"migrate", "-dsn", srv.DSN(), "down"},     // not an action
		{"migrate", "-dsn", srv.DSN(), "up", "up"}, // extra argument
	} {
		if err := run(args, &bytes.Buffer{}, none); err == nil {
			t.Errorf("aditctl %q succeeded", args)
		}
	}
}
