package pool

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

const (
	regtestAddr  = "bcrt1qc0vts3a5e8p9lfepcdf44js99skfy5c79u80et"
	mainnetAddr  = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
	testnetAddr  = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
	regtestAddr2 = "bcrt1qs758ursh4q9z627kt3pp5yysm78ddny6txaqgw"
)

// apiTestPool is a Pool with what the HTTP handlers read and nothing
// running: no database (payouts off), no listeners.
func apiTestPool(t testing.TB) *Pool {
	t.Helper()
	cfg := DefaultConfig()
	cfg.PayoutAddress = regtestAddr
	cfg.Stratum.Listen = "0.0.0.0:3333"
	p := &Pool{cfg: cfg, log: zap.NewNop(), m: newMetrics(prometheus.NewRegistry()), workers: newWorkerBook(), storage: &storage{}}
	p.hub = NewJobHub(p.m.jobBroadcast)
	p.history.Started(time.Now().Add(-2 * time.Hour))
	return p
}

type apiAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a apiAnswer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("body %q: %v", a.body, err)
	}
}

func get(t *testing.T, h http.Handler, target string, hdr ...string) apiAnswer {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return apiAnswer{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func TestParsePage(t *testing.T) {
	for _, c := range []struct {
		query  string
		limit  int
		before string
		err    string
	}{
		{"", defaultPage, "", ""},
		{"limit=1", 1, "", ""},
		{"limit=500&before=42", 500, "42", ""},
		{"limit=501", 0, "", "above the maximum 500"},
		{"limit=100000000000000000000", 0, "", "not a whole number"},
		{"limit=0", 0, "", "below 1"},
		{"limit=-5", 0, "", "below 1"},
		{"limit=ten", 0, "", "not a whole number"},
		{"limit=", 0, "", "not a whole number"},
		{"limit=1&limit=2", 0, "", "more than once"},
		{"before=", 0, "", "before must be given once"},
		{"before=1&before=2", 0, "", "before must be given once"},
	} {
		q, _ := url.ParseQuery(c.query)
		pg, err := parsePage(q, defaultPage)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.query, err, c.err)
			}
			continue
		}
		if err != nil || pg.limit != c.limit || pg.before != c.before {
			t.Errorf("%q: %+v, %v; want limit %d before %q", c.query, pg, err, c.limit, c.before)
		}
	}
}

func TestParseCursors(t *testing.T) {
	for _, s := range []string{"abc", "0", "-1", "1.5", "9223372036854775808", "1e3", " 1"} {
		if _, err := parseID(s); err == nil {
			t.Errorf("parseID(%q) accepted", s)
		}
	}
	if n, err := parseID("77"); err != nil || n != 77 {
		t.Errorf("parseID(77) = %d, %v", n, err)
	}
	for _, s := range []string{"x", "-1", "12:", ":5", "12:0", "12:x", "12:5:6", "1.5"} {
		if _, err := parseBlockCursor(s); err == nil {
			t.Errorf("parseBlockCursor(%q) accepted", s)
		}
	}
	if c, err := parseBlockCursor("120"); err != nil || c.Height != 120 || c.ID != 0 {
		t.Errorf("parseBlockCursor(120) = %+v, %v", c, err)
	}
	if c, err := parseBlockCursor("120:7"); err != nil || c.Height != 120 || c.ID != 7 {
		t.Errorf("parseBlockCursor(120:7) = %+v, %v", c, err)
	}
}

// TestAPIBadInput: every malformed request is a 4xx with a JSON error
// naming the problem, answered before any database is looked for.
func TestAPIBadInput(t *testing.T) {
	h := apiTestPool(t).httpHandler(prometheus.NewRegistry())
	long := strings.Repeat("q", 5000)
	for _, c := range []struct {
		target string
		status int
		want   string
	}{
		{"/api/v1/miners/notanaddress", 400, "not a valid address"},
		{"/api/v1/miners/" + mainnetAddr, 400, "not a regtest address"},
		{"/api/v1/miners/" + testnetAddr, 400, "not a regtest address"},
		{"/api/v1/miners/" + long, 400, "too long"},
		{"/api/v1/miners/" + regtestAddr + "?limit=501", 400, "above the maximum 500"},
		{"/api/v1/miners/" + regtestAddr + "?before=5", 400, "/ledger or /api/v1/miners/{address}/payouts"},
		{"/api/v1/miners/" + regtestAddr + "/ledger?before=zz", 400, "not a cursor"},
		{"/api/v1/miners/" + regtestAddr + "/payouts?limit=0", 400, "below 1"},
		{"/api/v1/miners/bc1bad/ledger", 400, "not a valid address"},
		{"/api/v1/miner/notanaddress", 400, "not a valid address"},
		{"/api/v1/miner/" + mainnetAddr, 400, "not a regtest address"},
		{"/api/v1/blocks?limit=1000000", 400, "above the maximum 500"},
		{"/api/v1/blocks?before=junk", 400, "not a block cursor"},
		{"/api/v1/blocks?before=5:0", 400, "not a block cursor"},
		{"/api/v1/payouts?before=-3", 400, "not a cursor"},
		{"/api/v1/payouts?limit=x", 400, "not a whole number"},
		{"/api/v1/payouts/xyz", 400, "not a transaction id"},
		{"/api/v1/payouts/" + strings.Repeat("g", 64), 400, "not a transaction id"},
		{"/api/v1/pool/hashrate?window=7d", 400, "not one of 1h, 6h, 24h"},
		{"/api/v1/pool/hashrate?window=1h&window=24h", 400, "more than once"},
		{"/api/v1/nothing", 404, "no such endpoint"},
		// Valid requests on a pool without payouts.
		{"/api/v1/blocks", 404, "payouts are not enabled"},
		{"/api/v1/payouts", 404, "payouts are not enabled"},
		{"/api/v1/payouts/" + strings.Repeat("ab", 32), 404, "payouts are not enabled"},
		{"/api/v1/miner/" + regtestAddr, 404, "payouts are not enabled"},
		{"/api/v1/miners/" + regtestAddr + "/ledger", 404, "payouts are not enabled"},
		{"/api/v1/miners/" + regtestAddr + "/payouts", 404, "payouts are not enabled"},
	} {
		a := get(t, h, c.target)
		var e errorBody
		a.decode(t, &e)
		if a.status != c.status || e.Status != c.status || !strings.Contains(e.Error, c.want) {
			t.Errorf("%s: %d %q, want %d with %q", trunc(c.target), a.status, e.Error, c.status, c.want)
		}
		if ct := a.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", trunc(c.target), ct)
		}
		if cc := a.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: error cached: Cache-Control %q", trunc(c.target), cc)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/api/v1/pool", strings.NewReader("{}"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/v1/pool: %d", rec.Code)
	}
}

func TestAPIPoolWithoutDatabase(t *testing.T) {
	p := apiTestPool(t)
	now := time.Now()
	p.hub.Publish(sharetest.Job(1, 1, now, 0x207fffff))
	off1 := p.backend0().Online(share.Worker{Address: regtestAddr, Name: "a"}, share.ProtocolV1)
	p.backend0().Online(share.Worker{Address: regtestAddr, Name: "a"}, share.ProtocolV2)
	p.backend0().Online(share.Worker{Address: regtestAddr2, Name: ""}, share.ProtocolV1)
	p.m.connections.WithLabelValues("v1").Set(3)
	h := p.httpHandler(prometheus.NewRegistry())
	a := get(t, h, "/api/v1/pool", "Host", "pool.example.net:8080")
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	var s poolStatus
	a.decode(t, &s)
	if s.Network != "regtest" || s.ChainHeight != s.Height-1 || s.NetworkDifficulty <= 0 {
		t.Errorf("chain: %+v", s)
	}
	want := online{
		V1:    protocolOnline{Connections: 3, onlineCounts: onlineCounts{Miners: 2, Workers: 2, Sessions: 2}},
		V2:    protocolOnline{Connections: 0, onlineCounts: onlineCounts{Miners: 1, Workers: 1, Sessions: 1}},
		Total: protocolOnline{Connections: 3, onlineCounts: onlineCounts{Miners: 2, Workers: 2, Sessions: 3}},
	}
	if s.Online != want {
		t.Errorf("online %+v, want %+v", s.Online, want)
	}
	// Listening on every address: the host the page was asked for.
	if s.Connect.StratumV1 != "stratum+tcp://pool.example.net:3333" || s.Connect.StratumV2 != nil || s.Connect.JobDeclaration != nil {
		t.Errorf("connect %+v", s.Connect)
	}
	if s.Payout != nil || s.LastBlock != nil || len(s.Notes) == 0 {
		t.Errorf("payouts off: payout %+v, last block %+v, notes %v", s.Payout, s.LastBlock, s.Notes)
	}
	if cc := a.header.Get("Cache-Control"); cc != "public, max-age=5" || a.header.Get("ETag") == "" {
		t.Errorf("caching headers %v", a.header)
	}
	off1()
	off1() // idempotent
	p.cfg.HTTP.PublicHost = "stratum.example.org"
	p.workers.countsAt = time.Time{} // past countsTTL
	get(t, h, "/api/v1/pool").decode(t, &s)
	if s.Online.V1.Workers != 1 || s.Online.Total.Workers != 2 || s.Connect.StratumV1 != "stratum+tcp://stratum.example.org:3333" {
		t.Errorf("after one V1 session closed: %+v, %s", s.Online, s.Connect.StratumV1)
	}
}

// backend0 is a backend over the pool's in-memory statistics only.
func (p *Pool) backend0() *backend {
	if p.backend == nil {
		p.backend = &backend{hashrate: &p.hashrate, history: &p.history, workers: p.workers, declaredRate: &p.declaredRate, declarers: &p.declarers}
	}
	return p.backend
}

func TestAPIHashrateAndETag(t *testing.T) {
	p := apiTestPool(t)
	now := time.Now()
	for i := range 120 {
		p.history.Add(now.Add(-time.Duration(i)*30*time.Second), 1)
	}
	h := p.httpHandler(prometheus.NewRegistry())
	a := get(t, h, "/api/v1/pool/hashrate?window=1h")
	var hh hashrateHistory
	a.decode(t, &hh)
	if a.status != 200 || hh.Window != "1h" || hh.BucketSeconds != 60 || len(hh.Points) != 60 || hh.Source != "memory" {
		t.Fatalf("1h: %d %+v", a.status, hh)
	}
	// Two difficulty-1 shares a minute: 2 × 2^32 / 60 H/s in each full minute.
	if pt := hh.Points[len(hh.Points)-1]; pt.Shares != 2 || pt.Hashrate != 2*4294967296/60.0 {
		t.Errorf("last point %+v", pt)
	}
	get(t, h, "/api/v1/pool/hashrate").decode(t, &hh)
	if hh.Window != "24h" || hh.BucketSeconds != 600 || len(hh.Points) < 11 || len(hh.Points) > 12 {
		t.Errorf("24h since 2 h ago: %d points", len(hh.Points))
	}
	etag := a.header.Get("ETag")
	b := get(t, h, "/api/v1/pool/hashrate?window=1h", "If-None-Match", etag)
	if b.status != http.StatusNotModified || len(b.body) != 0 {
		// A minute boundary between the two requests changes the body.
		if b.header.Get("ETag") == etag {
			t.Errorf("If-None-Match %s: %d", etag, b.status)
		}
	}
}

func TestAPIMinerWithoutDatabase(t *testing.T) {
	p := apiTestPool(t)
	now := time.Now()
	b := p.backend0()
	w := share.Worker{Address: regtestAddr, Name: "rig1"}
	b.Online(w, share.ProtocolV1)
	b.Online(share.Worker{Address: regtestAddr, Name: "idle"}, share.ProtocolV2)
	for i := range 30 {
		p.workers.share(w, now.Add(-time.Duration(i)*10*time.Second), 2)
	}
	off := b.Online(share.Worker{Address: regtestAddr, Name: "gone"}, share.ProtocolV1)
	p.workers.share(share.Worker{Address: regtestAddr, Name: "gone"}, now, 1)
	off()
	h := p.httpHandler(prometheus.NewRegistry())
	a := get(t, h, "/api/v1/miners/"+regtestAddr)
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	var m minerPage
	a.decode(t, &m)
	if m.PayoutsEnabled || m.BalanceSats != nil || m.WorkersOnline != 2 || len(m.Workers) != 3 {
		t.Fatalf("miner %+v", m)
	}
	states := map[string]string{}
	for _, wk := range m.Workers {
		states[wk.Name] = wk.State
	}
	if states["rig1"] != "active" || states["idle"] != "idle" || states["gone"] != "offline" {
		t.Errorf("states %v", states)
	}
	if r := m.Workers[2]; r.Name != "rig1" || r.Shares != 30 || r.Hashrate <= 0 || r.LastShare == nil || r.Protocols[0] != "v1" {
		t.Errorf("rig1 %+v", r)
	}
	if m.Hashrate != m.Workers[0].Hashrate+m.Workers[1].Hashrate+m.Workers[2].Hashrate {
		t.Errorf("miner hashrate %v is not the workers' sum", m.Hashrate)
	}
}

func TestWorkerBookSweepAndCap(t *testing.T) {
	b := newWorkerBook()
	now := time.Unix(1_800_000_000, 0)
	w := share.Worker{Address: regtestAddr, Name: "x"}
	off := b.online(w, share.ProtocolV2, now)
	b.share(w, now, 1)
	b.sweep(now.Add(time.Hour))
	if len(b.workers(regtestAddr, now)) != 1 {
		t.Fatal("a connected worker was swept")
	}
	off()
	b.sweep(now.Add(workerForget - time.Second))
	if len(b.workers(regtestAddr, now)) != 1 {
		t.Fatal("swept before workerForget")
	}
	b.sweep(now.Add(workerForget + time.Second))
	if got := b.workers(regtestAddr, now); len(got) != 0 {
		t.Fatalf("not swept: %+v", got)
	}
	if v1, v2, all := b.counts(); v1 != (onlineCounts{}) || v2 != (onlineCounts{}) || all != (onlineCounts{}) {
		t.Fatalf("counts after sweep %v %v %v", v1, v2, all)
	}
	// A full shard still counts connected workers, but not share-only ones.
	s := b.shard(regtestAddr)
	s.n = maxWorkersTracked / workerShards
	b.share(share.Worker{Address: regtestAddr, Name: "shares-only"}, now, 1)
	b.online(share.Worker{Address: regtestAddr, Name: "connected"}, share.ProtocolV1, now)
	if got := b.workers(regtestAddr, now); len(got) != 1 || got[0].Name != "connected" {
		t.Fatalf("full shard: %+v", got)
	}
}

func TestHashrateHistorySeries(t *testing.T) {
	var h HashrateHistory
	t0 := time.Unix(1_800_000_000-1_800_000_000%600, 0) // a 10-minute boundary
	h.Started(t0)
	for m := range 30 {
		h.Add(t0.Add(time.Duration(m)*time.Minute+time.Second), float64(m))
	}
	now := t0.Add(30*time.Minute + 5*time.Second)
	s := h.Series(now, 10, 144)
	if len(s) != 3 {
		t.Fatalf("%d points, want 3 (history starts 30 min ago)", len(s))
	}
	for i, pt := range s {
		var work float64
		for m := i * 10; m < i*10+10; m++ {
			work += float64(m)
		}
		if !pt.Start.Equal(t0.Add(time.Duration(i)*10*time.Minute)) || pt.Shares != 10 || pt.Hashrate != work*4294967296/600 {
			t.Errorf("point %d: %+v", i, pt)
		}
	}
	if got := h.Series(now, 1, 60); len(got) != 30 || got[29].Shares != 1 {
		t.Errorf("1-minute series: %d points", len(got))
	}
	// A day later the ring has wrapped: old minutes do not leak in.
	if got := h.Series(now.Add(24*time.Hour), 10, 144); len(got) != 144 || got[0].Shares != 0 {
		t.Errorf("after 24 h: %d points, first %+v", len(got), got[0])
	}
	if h.Series(now, 7, 1000) != nil || h.Series(now, 0, 1) != nil {
		t.Error("a series longer than the ring or of width 0 was served")
	}
}

// BenchmarkWorkerBookShare is the per-share cost the worker book adds to
// Accept (a map lookup under a shard lock; no allocation for a known
// worker).
func BenchmarkWorkerBookShare(b *testing.B) {
	wb := newWorkerBook()
	now := time.Now()
	ws := make([]share.Worker, 1000)
	for i := range ws {
		ws[i] = share.Worker{Address: regtestAddr + string(rune('a'+i%26)), Name: "rig" + string(rune('a'+i/26))}
		wb.online(ws[i], share.ProtocolV1, now)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		wb.share(ws[i%len(ws)], now, 1)
		i++
	}
}

// BenchmarkWorkerBookCounts is /api/v1/pool's walk over 100,000 connected
// workers of 10,000 addresses.
func BenchmarkWorkerBookCounts(b *testing.B) {
	wb := newWorkerBook()
	now := time.Now()
	for i := range 100_000 {
		wb.online(share.Worker{Address: "addr" + strconv.Itoa(i%10_000), Name: strconv.Itoa(i)}, share.Protocol(1+i%2), now)
	}
	for b.Loop() {
		wb.counts()
	}
}

func TestConfigPublicHost(t *testing.T) {
	path := t.TempDir() + "/c.toml"
	if err := os.WriteFile(path, []byte(`payout_address = "`+regtestAddr+`"
[[node]]
url = "http://127.0.0.1:18443"
[http]
listen = "0.0.0.0:8080"
public_host = "pool.example.com"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path, func(string) string { return "" })
	if err != nil || cfg.HTTP.Listen != "0.0.0.0:8080" || cfg.HTTP.PublicHost != "pool.example.com" || cfg.Validate() != nil {
		t.Fatalf("%+v, %v, %v", cfg.HTTP, err, cfg.Validate())
	}
	for _, h := range []string{"pool.example.com:3333", "stratum+tcp://pool.example.com", "a b", "x/y"} {
		cfg.HTTP.PublicHost = h
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "http.public_host") {
			t.Errorf("public_host %q: %v", h, err)
		}
	}
	for _, h := range []string{"10.0.0.1", "2001:db8::1", "pool-1.example.com"} {
		cfg.HTTP.PublicHost = h
		if err := cfg.Validate(); err != nil {
			t.Errorf("public_host %q: %v", h, err)
		}
	}
}
