package pgtest

import (
	"context"
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
