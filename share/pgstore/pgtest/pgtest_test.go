package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	query := func() int {
		conn, err := pgx.Connect(ctx, s.DSN())
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT 41 + 1").Scan(&n); err != nil {
			t.Fatalf("query: %v", err)
		}
		return n
	}
	if n := query(); n != 42 {
		t.Fatalf("got %d", n)
	}
	s.Stop()
	if conn, err := pgx.Connect(ctx, s.DSN()); err == nil {
		conn.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
	s.Start()
	if n := query(); n != 42 {
		t.Fatalf("got %d after restart", n)
	}
}

// TestReapOrphans: a cluster whose owner no longer holds its lock (the
// owning test process died) is stopped and removed by the next Start's
// reaper; one whose owner holds it is left alone.
func TestReapOrphans(t *testing.T) {
	root, err := os.MkdirTemp("", "pgtest-reap-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	if err := os.Chmod(root, 0o755); err != nil { // the postgres user must traverse it
		t.Fatal(err)
	}
	start := func() (*Cluster, *os.File) {
		t.Helper()
		dir, err := os.MkdirTemp(root, dirPattern)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		owner, err := lockOwner(dir)
		if err != nil {
			t.Fatal(err)
		}
		c, err := StartCluster(dir, 0)
		if err != nil {
			owner.Close()
			t.Fatal(err)
		}
		return c, owner
	}
	orphan, gone := start()
	gone.Close() // as if its process had died: the kernel drops the lock
	mine, held := start()
	defer held.Close()
	defer mine.Destroy()

	reapOrphans(root)
	if _, err := os.Stat(orphan.Dir()); !os.IsNotExist(err) {
		orphan.Destroy()
		t.Fatalf("orphan cluster directory still there (%v)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, orphan.DSN()); err == nil {
		conn.Close(ctx)
		t.Fatal("orphan server still answers")
	}
	conn, err := pgx.Connect(ctx, mine.DSN())
	if err != nil {
		t.Fatalf("live owner's cluster was reaped: %v", err)
	}
	conn.Close(ctx)
}
