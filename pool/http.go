package pool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// The HTTP API (docs/api.md): JSON, GET only, keyset pagination, short
// caching, every bad input a 4xx with a JSON error body, every database
// read bounded by apiTimeout and by the API's own connection pool.

// Pagination and time limits.
const (
	defaultPage = 50
	maxPage     = 500
	// apiTimeout bounds each request's database work.
	apiTimeout = 3 * time.Second
	// maxAddressLen: no Bitcoin address is longer (bech32 is at most 90).
	maxAddressLen = 100
)

func (p *Pool) httpHandler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/v1/pool", p.poolHandler)
	mux.HandleFunc("GET /api/v1/pool/hashrate", p.hashrateHandler)
	mux.HandleFunc("GET /api/v1/blocks", p.blocksHandler)
	mux.HandleFunc("GET /api/v1/payouts", p.payoutsHandler)
	mux.HandleFunc("GET /api/v1/payouts/{txid}", p.payoutHandler)
	mux.HandleFunc("GET /api/v1/miners/{address}", p.minersHandler)
	mux.HandleFunc("GET /api/v1/miners/{address}/ledger", p.minerLedgerHandler)
	mux.HandleFunc("GET /api/v1/miners/{address}/payouts", p.minerPayoutsHandler)
	// The original miner endpoint (balance and the last 100 ledger rows).
	mux.HandleFunc("GET /api/v1/miner/{address}", p.minerHandler)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			apiError(w, http.StatusMethodNotAllowed, "the API is read-only: use GET")
			return
		}
		apiError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path+" (see docs/api.md)")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(dashboardHTML))
	})
	return mux
}

// errorBody is every API error.
type errorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

// apiError answers status with a JSON error; errors are never cached.
func apiError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.WriteHeader(status)
	b, _ := json.Marshal(errorBody{Error: msg, Status: status})
	_, _ = w.Write(append(b, '\n'))
}

// writeAPI answers v as JSON, cacheable for maxAge, with a strong ETag over
// the body (a matching If-None-Match gets 304 Not Modified).
func writeAPI(w http.ResponseWriter, r *http.Request, maxAge time.Duration, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "&" in next links stays readable
	if err := enc.Encode(v); err != nil {
		apiError(w, http.StatusInternalServerError, "encoding the response failed")
		return
	}
	sum := sha256.Sum256(buf.Bytes())
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(maxAge.Seconds())))
	h.Set("ETag", etag)
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(buf.Bytes())
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// page is a request's ?limit= and ?before=.
type page struct {
	limit  int
	before string // "" for the first page
}

// parsePage reads ?limit= (1 to maxPage, default def) and ?before= (left
// to the endpoint to parse). Each may be given once.
func parsePage(q url.Values, def int) (page, error) {
	pg := page{limit: def}
	if vs, ok := q["limit"]; ok {
		if len(vs) != 1 {
			return pg, errors.New("limit given more than once")
		}
		n, err := strconv.Atoi(vs[0])
		switch {
		case err != nil:
			return pg, fmt.Errorf("limit %q is not a whole number", trunc(vs[0]))
		case n < 1:
			return pg, fmt.Errorf("limit %d is below 1", n)
		case n > maxPage:
			return pg, fmt.Errorf("limit %d is above the maximum %d", n, maxPage)
		}
		pg.limit = n
	}
	if vs, ok := q["before"]; ok {
		if len(vs) != 1 || vs[0] == "" {
			return pg, errors.New("before must be given once, with a cursor from a previous page's next")
		}
		pg.before = vs[0]
	}
	return pg, nil
}

// parseID reads a positive id cursor ("" is 0: the first page).
func parseID(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("before %q is not a cursor (a positive id from a previous page's next)", trunc(s))
	}
	return n, nil
}

// nextURL is the link to the page after the one that ended at cursor, or
// nil when the page was not full (there is nothing after it).
func nextURL(r *http.Request, n, limit int, cursor string) *string {
	if n < limit {
		return nil
	}
	// Cursors are digits and colons: nothing to escape.
	s := r.URL.Path + "?limit=" + strconv.Itoa(limit) + "&before=" + cursor
	return &s
}

// trunc shortens user input quoted in an error message.
func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// apiContext bounds a request's database work.
func apiContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), apiTimeout)
}

// dbFailed answers a failed database read: 503, logged.
func (p *Pool) dbFailed(w http.ResponseWriter, what string, err error) {
	p.log.Warn("api database read failed", zap.String("read", what), zap.Error(err))
	msg := "database unavailable"
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "database too slow to answer"
	}
	apiError(w, http.StatusServiceUnavailable, msg+" (reading "+what+"); try again shortly")
}

// noPayouts answers the endpoints that need the payout tables on a pool
// without them.
func noPayouts(w http.ResponseWriter) {
	apiError(w, http.StatusNotFound, "payouts are not enabled on this pool: blocks, balances and payouts are recorded only with [payout] enabled")
}

// validAddress checks a payout address from the URL for this pool's
// network; the error is the client's.
func (p *Pool) validAddress(addr string) error {
	if addr == "" {
		return errors.New("no address given")
	}
	if len(addr) > maxAddressLen {
		return fmt.Errorf("address of %d characters is too long to be a Bitcoin address", len(addr))
	}
	params, err := p.cfg.ChainParams()
	if err != nil {
		return err
	}
	if _, err = DecodeAddress(addr, params); err == nil {
		return nil
	}
	for _, other := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.SigNetParams, &chaincfg.RegressionNetParams} {
		if other.Net == params.Net {
			continue
		}
		if a, oerr := btcutil.DecodeAddress(addr, other); oerr == nil && a.IsForNet(other) {
			return fmt.Errorf("%q is a %s address, not a %s address: this pool mines on %s", addr, other.Name, params.Name, params.Name)
		}
	}
	return err
}

// chainTip is the height of the best block the pool builds on (-1 before
// the first template).
func (p *Pool) chainTip() int64 {
	if j := p.hub.Latest(); j != nil {
		return j.Height - 1
	}
	return -1
}

// finite maps NaN and ±Inf (which JSON cannot carry) to 0.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}
