package main

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/adit-pool/adit/stratum/client"
	"github.com/adit-pool/adit/stratum/client/clienttest"
)

// TestMinerAgainstServer runs a small fleet against the real stratum server
// (real share.Validator) whose vardiff raises and then lowers the difficulty
// in the middle of a job, with new blocks published meanwhile: no share is
// rejected except, at most, a few in flight at a block change (stale).
func TestMinerAgainstServer(t *testing.T) {
	srv := clienttest.StartServer(t, clienttest.ServerConfig{
		Difficulty: 1e-4,
		Retarget: func(n int) (float64, bool) {
			switch n {
			case 3:
				return 2e-4, true
			case 6:
				return 1e-4, true
			}
			return 0, false
		},
	})
	cfg := fleetConfig{Miners: 2, MaxShares: 30, Base: minerConfig{
		Client:  client.Config{Addr: srv.Addr(), Username: "bcrt1qload.w", VersionRolling: true, SuggestDifficulty: 0.0001, Timeout: 5 * time.Second},
		Threads: 1,
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan summary)
	go func() { done <- runFleet(ctx, cfg, zap.NewNop()) }()
	for id := uint32(2); id <= 3; id++ {
		waitFor(t, func() bool { return len(srv.Records()) >= int(id-1)*8 })
		srv.Publish(clienttest.Job(id, 12, true))
	}
	s := <-done
	if ctx.Err() != nil {
		t.Fatalf("timed out: %+v", s)
	}
	// Only shares in flight when a block arrives may be rejected (stale, 21;
	// how many depends on the hash rate, but fewer than were accepted); the
	// difficulty changes must not cost a single share.
	stale := s.Rejected["21"]
	if s.Accepted+stale < 30 || stale >= s.Accepted || len(s.Rejected) > 1 || (len(s.Rejected) == 1 && stale == 0) || s.IOErrors != 0 {
		t.Fatalf("summary %+v", s)
	}
	workers := map[string]bool{}
	for _, r := range srv.Records() {
		workers[r.Worker.Name] = true
	}
	if !workers["w-0"] || !workers["w-1"] {
		t.Fatalf("workers %v", workers)
	}
}
