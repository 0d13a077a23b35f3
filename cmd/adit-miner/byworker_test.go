package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/adit-pool/adit/stratum/client"
	"github.com/adit-pool/adit/stratum/client/clienttest"
)

// TestFleetAcceptedByWorker: in fleet mode every miner authorizes as its own
// worker, and the summary's per-worker accepted counts equal what the real
// stratum server recorded for each worker and add up to the total.
func TestFleetAcceptedByWorker(t *testing.T) {
	srv := clienttest.StartServer(t, clienttest.ServerConfig{Difficulty: 1e-6})
	cfg := fleetConfig{Miners: 3, MaxShares: 60, Base: minerConfig{
		Client:    client.Config{Addr: srv.Addr(), Username: "bcrt1qload.w", Timeout: 5 * time.Second},
		Threads:   1,
		ShareRate: 20,
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := runFleet(ctx, cfg, zap.NewNop())
	if ctx.Err() != nil {
		t.Fatalf("timed out: %+v", s)
	}
	if s.IOErrors != 0 || len(s.Rejected) != 0 {
		t.Fatalf("summary %+v", s)
	}
	recorded := map[string]uint64{}
	for _, r := range srv.Records() {
		recorded[r.Worker.Address+"."+r.Worker.Name]++
	}
	var sum uint64
	for w, n := range s.AcceptedByWorker {
		sum += n
		if recorded[w] != n {
			t.Errorf("worker %s: summary says %d accepted, server recorded %d", w, n, recorded[w])
		}
		if s.SubmittedByWorker[w] != n {
			t.Errorf("worker %s: submitted %d, accepted %d, with no rejections or errors", w, s.SubmittedByWorker[w], n)
		}
	}
	if sum != s.Accepted {
		t.Errorf("per-worker accepted add up to %d, total %d", sum, s.Accepted)
	}
	for _, w := range []string{"bcrt1qload.w-0", "bcrt1qload.w-1", "bcrt1qload.w-2"} {
		if _, ok := s.AcceptedByWorker[w]; !ok {
			t.Errorf("no entry for %s in %v", w, s.AcceptedByWorker)
		}
	}
	if len(recorded) != len(s.AcceptedByWorker) {
		t.Errorf("server saw workers %v, summary %v", recorded, s.AcceptedByWorker)
	}
}

// TestRunJSONByWorker: the -json summary carries accepted_by_worker and
// submitted_by_worker keyed by the fleet's worker names.
func TestRunJSONByWorker(t *testing.T) {
	pool := clienttest.NewPool(t, clienttest.Config{Difficulty: 1e-6})
	var stdout, stderr bytes.Buffer
	code := run([]string{"-pool", pool.Addr(), "-user", "bcrt1qtest.cli", "-fleet", "2", "-max-shares", "6",
		"-duration", "30s", "-json", "-log-level", "warn"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	var s struct {
		Accepted  uint64            `json:"accepted"`
		ByWorker  map[string]uint64 `json:"accepted_by_worker"`
		Submitted map[string]uint64 `json:"submitted_by_worker"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("%v in %q", err, stdout.String())
	}
	if s.ByWorker["bcrt1qtest.cli-0"]+s.ByWorker["bcrt1qtest.cli-1"] != s.Accepted || s.Accepted < 6 || len(s.ByWorker) > 2 {
		t.Fatalf("summary %s", stdout.String())
	}
	for w, n := range s.ByWorker {
		if s.Submitted[w] < n {
			t.Fatalf("worker %s: submitted %d < accepted %d", w, s.Submitted[w], n)
		}
	}
}
