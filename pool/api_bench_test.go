package pool

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/adit-pool/adit/payout"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkAPIEndpoints times each database endpoint's handler (the
// queries and the JSON, without TCP) against the database at
// ADIT_API_BENCH_DSN, filled as docs/benchmarks.md describes, for the
// regtest address ADIT_API_BENCH_ADDRESS; it skips without them.
func BenchmarkAPIEndpoints(b *testing.B) {
	dsn, addr := os.Getenv("ADIT_API_BENCH_DSN"), os.Getenv("ADIT_API_BENCH_ADDRESS")
	if dsn == "" || addr == "" {
		b.Skip("ADIT_API_BENCH_DSN and ADIT_API_BENCH_ADDRESS not set")
	}
	api, err := openAPIPool(dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer api.Close()
	if err := api.Ping(context.Background()); err != nil {
		b.Fatal(err)
	}
	p := apiTestPool(b)
	p.cfg.Payout.Enabled = true
	p.storage = &storage{api: api, ledger: payout.NewLedger(api)}
	h := p.httpHandler(prometheus.NewRegistry())
	for _, path := range []string{
		"/api/v1/pool",
		"/api/v1/blocks",
		"/api/v1/blocks?limit=500&before=5000",
		"/api/v1/payouts",
		"/api/v1/payouts?limit=500",
		"/api/v1/miners/" + addr,
		"/api/v1/miners/" + addr + "/ledger?limit=500&before=1000000",
		"/api/v1/miners/" + addr + "/payouts?limit=50&before=200",
		"/api/v1/miner/" + addr,
	} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.Bytes())
				}
			}
		})
	}
}
