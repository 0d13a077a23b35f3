package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ShareLogOptions returns daemon options for a pool with a durable share log
// in logDir shipped to the Postgres at dsn (given in ADIT_DATABASE_DSN, with
// migrations applied at start). Every share is assigned the fixed difficulty
// diff, and on regtest a share must reach 1e6 to be a block candidate, so
// load runs measure the pool and its storage, not btcd.
func ShareLogOptions(payout, logDir, dsn string, diff float64) DaemonOptions {
	return DaemonOptions{
		PayoutAddress: payout,
		Extra: fmt.Sprintf(`[vardiff]
start = %g
min = %g
max = %g

[sharelog]
dir = %q

[database]
migrate = true

[regtest]
block_floor_difficulty = 1000000
`, diff, diff, diff, logDir),
		Env: []string{"ADIT_DATABASE_DSN=" + dsn},
	}
}

// RestartDaemon starts d's binary again with the same arguments (the same
// configuration file, so the same addresses, share log directory and
// database) and environment, once d has exited, and returns once the new
// process serves metrics and stratum.
func RestartDaemon(t testing.TB, d *Daemon) *Daemon {
	t.Helper()
	if !d.Exited() {
		t.Fatalf("RestartDaemon: %s is still running", d.Name)
	}
	nd := &Daemon{StratumAddr: d.StratumAddr, HTTPAddr: d.HTTPAddr}
	// cmd.Env is the environment the first process got; Start prepends
	// os.Environ() again, and later entries win, so the result is the same.
	nd.Process = Start(t, d.Name, d.cmd.Path, d.cmd.Env, d.cmd.Args[1:]...)
	Eventually(t, 60*time.Second, "restarted aditd serves metrics and stratum", func() bool {
		if nd.Exited() {
			t.Fatalf("restarted aditd exited early:\n%s", tail(nd.Output(), 40))
		}
		if _, err := nd.Metrics(); err != nil {
			return false
		}
		c, err := net.DialTimeout("tcp", nd.StratumAddr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return nd
}

// Wait waits up to timeout for the process to exit by itself and reports
// whether it did.
func (p *Process) Wait(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// FleetSummary is the part of adit-miner's -json summary the storage tests
// read.
type FleetSummary struct {
	Accepted          uint64            `json:"accepted"`
	AcceptedByWorker  map[string]uint64 `json:"accepted_by_worker"`
	SubmittedByWorker map[string]uint64 `json:"submitted_by_worker"`
	Rejected          map[string]uint64 `json:"rejected_by_code"`
	RejectMessages    map[string]string `json:"reject_messages"`
	IOErrors          uint64            `json:"submit_io_errors"`
	DroppedQueueFull  uint64            `json:"dropped_queue_full"`
	DroppedStale      uint64            `json:"dropped_stale"`
	DialFailures      uint64            `json:"dial_failures"`
	Disconnects       uint64            `json:"disconnects"`
	Seconds           float64           `json:"seconds"`
	SharesPerSecond   float64           `json:"accepted_per_second"`
	LatencyP50Ms      float64           `json:"latency_p50_ms"`
	LatencyP99Ms      float64           `json:"latency_p99_ms"`
	LatencyMaxMs      float64           `json:"latency_max_ms"`
	// JD mode (-jd) only.
	Mode         string `json:"mode"`
	Fallbacks    uint64 `json:"fallbacks"`
	DeclaredJobs struct {
		Accepted uint64            `json:"accepted"`
		Rejected map[string]uint64 `json:"rejected"`
	} `json:"declared_jobs"`
	BlocksSolo uint64 `json:"blocks_solo"`
	BlocksPool uint64 `json:"blocks_pool"`
}

// ParseFleetSummary finds the indented JSON summary adit-miner -json prints
// last (its top-level braces are the only ones at the start of a line).
func ParseFleetSummary(out string) (FleetSummary, error) {
	var s FleetSummary
	i := strings.LastIndex(out, "\n{")
	switch {
	case i >= 0:
		i++
	case strings.HasPrefix(out, "{"):
		i = 0
	default:
		return s, fmt.Errorf("no JSON summary in miner output:\n%s", tail(out, 20))
	}
	if err := json.NewDecoder(bytes.NewReader([]byte(out[i:]))).Decode(&s); err != nil {
		return s, fmt.Errorf("miner summary: %w", err)
	}
	return s, nil
}

// ShareCounts is what the shares table holds.
type ShareCounts struct {
	Total int64
	// ByWorker is keyed by the stratum username, address.worker.
	ByWorker map[string]uint64
	// DuplicateIDs is how many rows repeat an (instance, id) of another row;
	// DuplicateHashes how many repeat a share hash.
	DuplicateIDs, DuplicateHashes int64
}

// CountShares reads the shares table of the database at dsn.
func CountShares(ctx context.Context, dsn string) (ShareCounts, error) {
	c := ShareCounts{ByWorker: map[string]uint64{}}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return c, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT address || '.' || worker, count(*) FROM shares GROUP BY 1`)
	if err != nil {
		return c, err
	}
	for rows.Next() {
		var (
			w string
			n int64
		)
		if err := rows.Scan(&w, &n); err != nil {
			rows.Close()
			return c, err
		}
		c.ByWorker[w] = uint64(n)
	}
	if err := rows.Err(); err != nil {
		return c, err
	}
	err = conn.QueryRow(ctx, `SELECT count(*),
		count(*) - (SELECT count(*) FROM (SELECT DISTINCT instance, id FROM shares) d),
		count(*) - count(DISTINCT hash)
		FROM shares`).Scan(&c.Total, &c.DuplicateIDs, &c.DuplicateHashes)
	return c, err
}
