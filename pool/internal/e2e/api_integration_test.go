//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// The JSON API (docs/api.md) against the real daemon, btcd and Postgres:
// miners on both protocols find blocks, which mature and are paid out, and
// every endpoint's answer is checked against the database and the node.

// apiAnswer is one API response and how long it took.
type apiAnswer struct {
	status  int
	header  http.Header
	body    []byte
	latency time.Duration
}

// apiLatencies collects each endpoint's latencies for the test log.
type apiLatencies map[string][]time.Duration

func (l apiLatencies) String() string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		ds := slices.Clone(l[k])
		slices.Sort(ds)
		fmt.Fprintf(&b, "\n  %-34s n=%-3d median %-9v max %v", k, len(ds), ds[len(ds)/2].Round(10*time.Microsecond), ds[len(ds)-1].Round(10*time.Microsecond))
	}
	return b.String()
}

func apiGet(t *testing.T, lat apiLatencies, d *Daemon, path string, hdr ...string) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+d.HTTPAddr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	a := apiAnswer{status: resp.StatusCode, header: resp.Header, body: body, latency: time.Since(start)}
	if lat != nil {
		key := path
		if i := strings.IndexAny(key, "?"); i >= 0 {
			key = key[:i]
		}
		for _, p := range []string{"/api/v1/miners/", "/api/v1/miner/", "/api/v1/payouts/"} {
			if rest, ok := strings.CutPrefix(key, p); ok {
				_, sub, _ := strings.Cut(rest, "/")
				key = p + "{x}"
				if sub != "" {
					key += "/" + sub
				}
			}
		}
		lat[key] = append(lat[key], a.latency)
	}
	return a
}

// apiOK gets path, wants 200 and decodes the body into v.
func apiOK(t *testing.T, lat apiLatencies, d *Daemon, path string, v any) apiAnswer {
	t.Helper()
	a := apiGet(t, lat, d, path)
	if a.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, a.status, a.body)
	}
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, a.body)
	}
	return a
}

// saveExample writes a response under $ADIT_API_EXAMPLES (when set), for
// docs/api.md.
func saveExample(t *testing.T, name string, a apiAnswer) {
	dir := os.Getenv("ADIT_API_EXAMPLES")
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), a.body, 0o644); err != nil {
		t.Error(err)
	}
}

// The JSON shapes the test reads (the contract in docs/api.md).
type (
	apiOnline struct {
		Connections int `json:"connections"`
		Miners      int `json:"miners"`
		Workers     int `json:"workers"`
		Sessions    int `json:"sessions"`
	}
	apiBlock struct {
		ID                int64    `json:"id"`
		Height            int64    `json:"height"`
		Hash              string   `json:"hash"`
		Time              string   `json:"time"`
		Status            string   `json:"status"`
		Confirmations     int64    `json:"confirmations"`
		MaturesIn         *int64   `json:"matures_in_blocks"`
		RewardSats        *int64   `json:"reward_sats"`
		RewardFinal       bool     `json:"reward_final"`
		FinderAddress     string   `json:"finder_address"`
		FinderWorker      string   `json:"finder_worker"`
		NetworkDifficulty *float64 `json:"network_difficulty"`
		Window            *struct {
			Target float64 `json:"target"`
			Weight float64 `json:"weight"`
			Shares int64   `json:"shares"`
		} `json:"pplns_window"`
		CoinbaseTxid *string `json:"coinbase_txid"`
	}
	apiPool struct {
		Network           string    `json:"network"`
		Height            int64     `json:"height"`
		ChainHeight       int64     `json:"chain_height"`
		NetworkDifficulty float64   `json:"network_difficulty"`
		Hashrate          float64   `json:"hashrate_hs"`
		Shares            int64     `json:"shares_last_10m"`
		LastBlock         *apiBlock `json:"last_block"`
		Online            struct {
			V1, V2, Total apiOnline
		} `json:"online"`
		Payout *struct {
			Scheme         string  `json:"scheme"`
			FeeBasisPoints int64   `json:"fee_basis_points"`
			PPLNSFactor    float64 `json:"pplns_factor"`
			ThresholdSats  int64   `json:"threshold_sats"`
			Maturity       int64   `json:"maturity"`
		} `json:"payout"`
		Connect struct {
			StratumV1 string `json:"stratum_v1"`
			StratumV2 *struct {
				URL       string `json:"url"`
				HostPort  string `json:"host_port"`
				Authority string `json:"authority_public_key"`
			} `json:"stratum_v2"`
			JobDeclaration *string `json:"job_declaration"`
		} `json:"connect"`
		Notes []string `json:"notes"`
	}
	apiWorker struct {
		Name      string   `json:"name"`
		State     string   `json:"state"`
		Protocols []string `json:"protocols"`
		Sessions  int      `json:"sessions"`
		Hashrate  float64  `json:"hashrate_hs"`
		Shares    int64    `json:"shares_last_10m"`
		LastShare *string  `json:"last_share"`
	}
	apiLedger struct {
		ID        int64  `json:"id"`
		Kind      string `json:"kind"`
		Sats      int64  `json:"sats"`
		BlockHash string `json:"block_hash"`
		PayoutID  *int64 `json:"payout_id"`
	}
	apiAddressPayout struct {
		PayoutID      int64  `json:"payout_id"`
		Txid          string `json:"txid"`
		Status        string `json:"status"`
		Confirmations int64  `json:"confirmations"`
		AmountSats    int64  `json:"amount_sats"`
		SettledSats   int64  `json:"settled_sats"`
	}
	apiMiner struct {
		Address        string             `json:"address"`
		PayoutsEnabled bool               `json:"payouts_enabled"`
		BalanceSats    *int64             `json:"balance_sats"`
		Hashrate       float64            `json:"hashrate_hs"`
		WorkersOnline  int                `json:"workers_online"`
		Workers        []apiWorker        `json:"workers"`
		Ledger         []apiLedger        `json:"ledger"`
		LedgerNext     *string            `json:"ledger_next"`
		Payouts        []apiAddressPayout `json:"payouts"`
		PayoutsNext    *string            `json:"payouts_next"`
	}
	apiPayout struct {
		ID            int64  `json:"id"`
		Txid          string `json:"txid"`
		Status        string `json:"status"`
		Confirmations int64  `json:"confirmations"`
		PaidSats      int64  `json:"paid_sats"`
		FeeSats       int64  `json:"fee_sats"`
		OutputCount   int    `json:"output_count"`
		Outputs       []struct {
			Address     string `json:"address"`
			Vout        uint32 `json:"vout"`
			AmountSats  int64  `json:"amount_sats"`
			SettledSats int64  `json:"settled_sats"`
		} `json:"outputs"`
		OutputsTruncated bool `json:"outputs_truncated"`
	}
	apiErr struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
)

// TestAPI: a V1 and a V2 miner find blocks through the daemon; while they
// mine, /api/v1/pool shows them online by protocol with the connection
// details and the last block, and /api/v1/miners shows their workers and
// hashrate; after maturity and a confirmed payout, /api/v1/blocks,
// /api/v1/payouts and /api/v1/miners say what the blocks, payouts and
// ledger tables and the node say, page by page. Bad input is a 4xx JSON
// error, answered at once; with Postgres down the database endpoints
// answer 503 and /api/v1/pool still answers.
func TestAPI(t *testing.T) {
	start := time.Now()
	_, c, rpc := startNode(t)
	env := NewPayoutEnv(t)
	d := StartJDDaemon(t, bins, rpc, env.Options(payoutSettings(10*payoutShareDiff)), "")
	lat := apiLatencies{}
	ctx := context.Background()
	v1, v2 := NewTestAccount("api-v1"), NewTestAccount("api-v2")
	const rate = 4 // shares/s per miner
	pv1 := startMiner(t, d.Daemon, v1, "rig1", rate)
	pv2 := Start(t, "adit-miner v2", bins.Miner, nil, "-sv2", "-pool", d.SV2Addr, "-authority-key", d.Authority,
		"-user", v2.Address+".rig2", "-threads", "1", "-share-rate", fmt.Sprint(rate), "-json")

	// While they mine.
	var st apiPool
	Eventually(t, 90*time.Second, "3 blocks accepted, both miners online on the API", func() bool {
		apiOK(t, lat, d.Daemon, "/api/v1/pool", &st)
		return d.Metric(`adit_blocks_submitted_total{result="accepted"}`) >= 3 &&
			st.Online.V1.Workers == 1 && st.Online.V2.Workers == 1 && st.LastBlock != nil
	})
	// Enough shares for a hashrate estimate within a factor of two.
	Eventually(t, 60*time.Second, "40 shares from each worker", func() bool {
		for _, a := range []TestAccount{v1, v2} {
			var mp apiMiner
			if apiOK(t, lat, d.Daemon, "/api/v1/miners/"+a.Address, &mp); len(mp.Workers) != 1 || mp.Workers[0].Shares < 40 {
				return false
			}
		}
		return true
	})
	a := apiOK(t, lat, d.Daemon, "/api/v1/pool", &st)
	saveExample(t, "pool", a)
	tip, err := c.GetBlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Network != "regtest" || st.ChainHeight < tip-1 || st.ChainHeight > tip || st.Height != st.ChainHeight+1 ||
		st.NetworkDifficulty <= 0 || st.NetworkDifficulty > 1e-9 {
		t.Errorf("chain on /api/v1/pool: %+v (node tip %d)", st, tip)
	}
	if st.Online.V1.Miners != 1 || st.Online.V2.Miners != 1 || st.Online.Total.Miners != 2 || st.Online.Total.Workers != 2 ||
		st.Online.V1.Connections < 1 || st.Online.V2.Connections < 1 {
		t.Errorf("online %+v", st.Online)
	}
	if p := st.Payout; p == nil || p.Scheme != "PPLNS" || p.FeeBasisPoints != feeBP || p.PPLNSFactor != payoutFactor ||
		p.ThresholdSats != 10_000 || p.Maturity != 101 {
		t.Errorf("payout terms %+v", st.Payout)
	}
	if cn := st.Connect; cn.StratumV1 != "stratum+tcp://"+d.StratumAddr || cn.StratumV2 == nil ||
		cn.StratumV2.Authority != d.Authority || cn.StratumV2.HostPort != d.SV2Addr ||
		cn.StratumV2.URL != "stratum2+tcp://"+d.SV2Addr+"/"+d.Authority || cn.JobDeclaration == nil || *cn.JobDeclaration != d.JDAddr {
		t.Errorf("connect %+v (sv2 %+v), want V1 %s, V2 %s key %s, JDS %s", cn, cn.StratumV2, d.StratumAddr, d.SV2Addr, d.Authority, d.JDAddr)
	}
	if lb := st.LastBlock; lb.Height != env.Count(t, `SELECT max(height) FROM blocks`) || len(lb.Hash) != 64 {
		t.Errorf("last block %+v", lb)
	}
	var hr struct {
		Window        string `json:"window"`
		BucketSeconds int    `json:"bucket_seconds"`
		Source        string `json:"source"`
		Points        []struct {
			Hashrate float64 `json:"hashrate_hs"`
			Shares   int64   `json:"shares"`
		} `json:"points"`
	}
	a = apiOK(t, lat, d.Daemon, "/api/v1/pool/hashrate?window=1h", &hr)
	saveExample(t, "hashrate", a)
	if hr.Window != "1h" || hr.BucketSeconds != 60 || hr.Source != "memory" || len(hr.Points) > 2 {
		t.Errorf("hashrate history %+v (the daemon started %v ago)", hr, time.Since(start).Round(time.Second))
	}
	// Each miner's worker, online, with its 10-minute hashrate: about rate
	// shares/s of payoutShareDiff (the miner paces its hashing).
	wantRate := rate * payoutShareDiff * math.Exp2(32)
	for _, m := range []struct {
		acct  TestAccount
		name  string
		proto string
	}{{v1, "rig1", "v1"}, {v2, "rig2", "v2"}} {
		var mp apiMiner
		apiOK(t, lat, d.Daemon, "/api/v1/miners/"+m.acct.Address, &mp)
		if len(mp.Workers) != 1 || mp.WorkersOnline != 1 {
			t.Errorf("%s workers %+v", m.name, mp.Workers)
			continue
		}
		w := mp.Workers[0]
		if w.Name != m.name || w.State != "active" || !slices.Equal(w.Protocols, []string{m.proto}) || w.Shares < 1 || w.LastShare == nil {
			t.Errorf("%s: %+v", m.name, w)
		}
		if w.Hashrate < wantRate/2 || w.Hashrate > wantRate*2 || mp.Hashrate != w.Hashrate {
			t.Errorf("%s: hashrate %.0f H/s (miner total %.0f), the miner hashes at about %.0f", m.name, w.Hashrate, mp.Hashrate, wantRate)
		}
		t.Logf("%s (%s): %d shares, %.0f H/s on the API, %.0f paced", m.name, m.proto, w.Shares, w.Hashrate, wantRate)
	}

	apiOK(t, lat, d.Daemon, "/api/v1/pool", &st)
	if st.Hashrate < wantRate || st.Hashrate > 4*wantRate {
		t.Errorf("pool hashrate %.0f H/s, two miners hash at about %.0f", st.Hashrate, 2*wantRate)
	}

	for _, p := range []*Process{pv1, pv2} {
		if err := p.Signal(syscall.SIGINT, 10*time.Second); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
	}
	Eventually(t, 10*time.Second, "nobody online after the miners stopped", func() bool {
		apiOK(t, lat, d.Daemon, "/api/v1/pool", &st)
		return st.Online.Total == apiOnline{}
	})
	t.Logf("blocks found, miners stopped after %v", time.Since(start).Round(time.Second))

	// Maturity and a confirmed payout.
	waitSnapshots(t, env)
	if _, err := c.Generate(ctx, 101, ""); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 60*time.Second, "every block mature or orphaned", func() bool {
		return env.Count(t, `SELECT count(*) FROM blocks WHERE status NOT IN ('mature', 'orphaned', 'rejected')`) == 0
	})
	Eventually(t, 60*time.Second, "both miners paid", func() bool {
		return ledgerSum(t, env, v1.Address, "") == 0 && ledgerSum(t, env, v2.Address, "") == 0 &&
			env.Count(t, `SELECT count(*) FROM payouts WHERE status = 'pending'`) == 0 &&
			env.Count(t, `SELECT count(*) FROM payouts`) > 0
	})
	if _, err := c.Generate(ctx, 1, ""); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 60*time.Second, "payouts confirmed", func() bool {
		return env.Count(t, `SELECT count(*) FROM payouts WHERE status <> 'confirmed'`) == 0
	})
	tip, _ = c.GetBlockCount(ctx)
	Eventually(t, 10*time.Second, "the pool at the node's tip", func() bool {
		apiOK(t, lat, d.Daemon, "/api/v1/pool", &st)
		return st.ChainHeight == tip
	})

	checkBlocksAPI(t, lat, d.Daemon, env, tip)
	checkPayoutsAPI(t, lat, d.Daemon, env, tip)
	for _, acct := range []TestAccount{v1, v2} {
		checkMinerAPI(t, lat, d.Daemon, env, acct)
	}
	checkBadInputAPI(t, lat, d.Daemon)

	// Caching: a repeated request with the ETag is 304 Not Modified.
	a = apiGet(t, lat, d.Daemon, "/api/v1/blocks?limit=5")
	if cc := a.header.Get("Cache-Control"); cc != "public, max-age=10" || a.header.Get("ETag") == "" {
		t.Errorf("/api/v1/blocks caching headers: %v", a.header)
	}
	if b := apiGet(t, lat, d.Daemon, "/api/v1/blocks?limit=5", "If-None-Match", a.header.Get("ETag")); b.status != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", b.status)
	}

	blocks, shares := env.Count(t, `SELECT count(*) FROM blocks`), env.Count(t, `SELECT count(*) FROM shares`)

	// Postgres down: the database endpoints say so; /api/v1/pool answers.
	env.PG.Stop()
	for _, path := range []string{"/api/v1/blocks", "/api/v1/payouts", "/api/v1/miners/" + v1.Address, "/api/v1/miner/" + v1.Address} {
		a := apiGet(t, lat, d.Daemon, path)
		var e apiErr
		if err := json.Unmarshal(a.body, &e); err != nil || a.status != http.StatusServiceUnavailable || !strings.Contains(e.Error, "database") ||
			a.header.Get("Retry-After") == "" || a.latency > 4*time.Second {
			t.Errorf("%s with Postgres down: %d %s in %v", path, a.status, a.body, a.latency)
		}
	}
	a = apiOK(t, lat, d.Daemon, "/api/v1/pool", &st)
	if st.LastBlock != nil || len(st.Notes) == 0 || a.latency > 2*time.Second {
		t.Errorf("/api/v1/pool with Postgres down: last block %+v, notes %v, in %v", st.LastBlock, st.Notes, a.latency)
	}
	env.PG.Start()
	t.Logf("API latencies (loopback, %d blocks, %d shares):%s", blocks, shares, lat)
	t.Logf("done in %v", time.Since(start).Round(time.Second))
}

func displayHex(raw []byte) string {
	var h chainhash.Hash
	copy(h[:], raw)
	return h.String()
}

// checkBlocksAPI compares /api/v1/blocks, walked one block per page, with
// the blocks table, and the whole list in one page.
func checkBlocksAPI(t *testing.T, lat apiLatencies, d *Daemon, env *PayoutEnv, tip int64) {
	t.Helper()
	rows, err := env.DB.Query(context.Background(), `SELECT id, height, hash, status, coalesce(reward_sats, 0),
		finder_address, finder_worker, coalesce(window_shares, 0) FROM blocks ORDER BY height DESC, id DESC`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id, height          int64
		hash                []byte
		status              string
		reward, shares      int64
		finderAddr, finderW string
	}
	var want []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.height, &r.hash, &r.status, &r.reward, &r.finderAddr, &r.finderW, &r.shares); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var all struct {
		ChainHeight int64      `json:"chain_height"`
		Maturity    int64      `json:"maturity"`
		Blocks      []apiBlock `json:"blocks"`
		Next        *string    `json:"next"`
	}
	a := apiOK(t, lat, d, "/api/v1/blocks?limit=500", &all)
	if all.ChainHeight != tip || all.Maturity != 101 || all.Next != nil || len(all.Blocks) != len(want) {
		t.Fatalf("/api/v1/blocks: chain %d maturity %d next %v, %d blocks; want tip %d, %d blocks",
			all.ChainHeight, all.Maturity, all.Next, len(all.Blocks), tip, len(want))
	}
	for i, b := range all.Blocks {
		w := want[i]
		confs := int64(0)
		if w.status == "mature" {
			confs = tip - w.height + 1
		}
		if b.ID != w.id || b.Height != w.height || b.Hash != displayHex(w.hash) || b.Status != w.status ||
			b.RewardSats == nil || *b.RewardSats != w.reward || b.RewardFinal != (w.status == "mature") ||
			b.FinderAddress != w.finderAddr || b.FinderWorker != w.finderW || b.Confirmations != confs ||
			b.Window == nil || b.Window.Shares != w.shares || b.NetworkDifficulty == nil || (w.status == "mature" && b.CoinbaseTxid == nil) {
			t.Errorf("block %d on the API %+v, in the table %+v (tip %d)", i, b, w, tip)
		}
	}
	// One per page, following next, gives the same list.
	var walked []apiBlock
	path := "/api/v1/blocks?limit=1"
	for path != "" && len(walked) <= len(want) {
		var pg struct {
			Blocks []apiBlock `json:"blocks"`
			Next   *string    `json:"next"`
		}
		apiOK(t, lat, d, path, &pg)
		walked = append(walked, pg.Blocks...)
		path = ""
		if pg.Next != nil {
			path = *pg.Next
		}
	}
	if len(walked) != len(want) {
		t.Fatalf("walking /api/v1/blocks?limit=1 gave %d blocks, want %d", len(walked), len(want))
	}
	for i := range walked {
		if walked[i].Hash != all.Blocks[i].Hash {
			t.Errorf("page %d: %s, the full list has %s", i, walked[i].Hash, all.Blocks[i].Hash)
		}
	}
	saveExample(t, "blocks", apiGet(t, nil, d, "/api/v1/blocks?limit=2"))
	_ = a
}

// checkPayoutsAPI compares /api/v1/payouts and /api/v1/payouts/{txid} with
// the payouts and payout_outputs tables.
func checkPayoutsAPI(t *testing.T, lat apiLatencies, d *Daemon, env *PayoutEnv, tip int64) {
	t.Helper()
	var pg struct {
		Payouts []apiPayout `json:"payouts"`
		Next    *string     `json:"next"`
	}
	a := apiOK(t, lat, d, "/api/v1/payouts", &pg)
	saveExample(t, "payouts", a)
	if n := env.Count(t, `SELECT count(*) FROM payouts`); int64(len(pg.Payouts)) != n || pg.Next != nil {
		t.Fatalf("/api/v1/payouts: %d payouts (next %v), the table has %d", len(pg.Payouts), pg.Next, n)
	}
	for _, p := range pg.Payouts {
		var (
			txid            []byte
			paid, fee       int64
			status          string
			confirmedHeight int64
		)
		if err := env.DB.QueryRow(context.Background(), `SELECT txid, paid_sats, fee_sats, status, confirmed_height FROM payouts WHERE id = $1`,
			p.ID).Scan(&txid, &paid, &fee, &status, &confirmedHeight); err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, o := range p.Outputs {
			sum += o.AmountSats
			if got := env.Count(t, `SELECT amount_sats FROM payout_outputs WHERE payout_id = $1 AND address = $2 AND vout = $3`,
				p.ID, o.Address, o.Vout); got != o.AmountSats {
				t.Errorf("payout %d output %s: %d on the API, %d in the table", p.ID, o.Address, o.AmountSats, got)
			}
		}
		if p.Txid != displayHex(txid) || p.PaidSats != paid || p.FeeSats != fee || p.Status != status || status != "confirmed" ||
			p.Confirmations != tip-confirmedHeight+1 || sum != paid || p.OutputsTruncated || p.OutputCount != len(p.Outputs) {
			t.Errorf("payout %d on the API %+v; table txid %s paid %d fee %d %s at %d (tip %d)", p.ID, p, displayHex(txid), paid, fee, status, confirmedHeight, tip)
		}
		var one apiPayout
		a := apiOK(t, lat, d, "/api/v1/payouts/"+p.Txid, &one)
		if one.ID != p.ID || len(one.Outputs) != len(p.Outputs) {
			t.Errorf("/api/v1/payouts/%s: %+v", p.Txid, one)
		}
		saveExample(t, "payout", a)
	}
	unknown := strings.Repeat("0", 63) + "1"
	if a := apiGet(t, lat, d, "/api/v1/payouts/"+unknown); a.status != http.StatusNotFound {
		t.Errorf("unknown txid: %d %s", a.status, a.body)
	}
}

// checkMinerAPI compares /api/v1/miners/{address} (and its ledger and
// payouts pages, and /api/v1/miner/{address}) with the ledger.
func checkMinerAPI(t *testing.T, lat apiLatencies, d *Daemon, env *PayoutEnv, acct TestAccount) {
	t.Helper()
	var mp apiMiner
	a := apiOK(t, lat, d, "/api/v1/miners/"+acct.Address+"?limit=2", &mp)
	saveExample(t, "miner", a)
	bal := ledgerSum(t, env, acct.Address, "")
	if !mp.PayoutsEnabled || mp.BalanceSats == nil || *mp.BalanceSats != bal || len(mp.Workers) != 1 || mp.Workers[0].State != "offline" {
		t.Errorf("%s: %+v, ledger balance %d", acct.Address, mp, bal)
	}
	// The whole ledger, two rows a page.
	rows := slices.Clone(mp.Ledger)
	for next := mp.LedgerNext; next != nil; {
		var pg struct {
			Ledger []apiLedger `json:"ledger"`
			Next   *string     `json:"next"`
		}
		apiOK(t, lat, d, *next, &pg)
		rows = append(rows, pg.Ledger...)
		next = pg.Next
	}
	var sum, credits, paid int64
	for i, r := range rows {
		sum += r.Sats
		switch r.Kind {
		case "credit":
			credits += r.Sats
			if len(r.BlockHash) != 64 {
				t.Errorf("credit %+v without its block", r)
			}
		case "payout":
			paid -= r.Sats
		}
		if i > 0 && r.ID >= rows[i-1].ID {
			t.Errorf("ledger not newest first: %d after %d", r.ID, rows[i-1].ID)
		}
	}
	if n := env.Count(t, `SELECT count(*) FROM ledger WHERE address = $1`, acct.Address); int64(len(rows)) != n || sum != bal ||
		credits != ledgerSum(t, env, acct.Address, "credit") || credits == 0 {
		t.Errorf("%s: %d ledger rows on the API summing to %d (credits %d), the table has %d summing to %d", acct.Address, len(rows), sum, credits, n, bal)
	}
	// Its payouts: what the ledger settled.
	pays := slices.Clone(mp.Payouts)
	for next := mp.PayoutsNext; next != nil; {
		var pg struct {
			Payouts []apiAddressPayout `json:"payouts"`
			Next    *string            `json:"next"`
		}
		apiOK(t, lat, d, *next, &pg)
		pays = append(pays, pg.Payouts...)
		next = pg.Next
	}
	var settled int64
	for _, p := range pays {
		settled += p.SettledSats
		if p.Status != "confirmed" || p.Confirmations < 1 || p.AmountSats <= 0 || len(p.Txid) != 64 {
			t.Errorf("%s payout %+v", acct.Address, p)
		}
	}
	if len(pays) == 0 || settled != paid {
		t.Errorf("%s: payouts on the API %+v settle %d, the ledger paid %d", acct.Address, pays, settled, paid)
	}
	// The payouts sub-resource, one a page, says the same.
	var walked []apiAddressPayout
	for next := "/api/v1/miners/" + acct.Address + "/payouts?limit=1"; next != "" && len(walked) <= len(pays); {
		var pg struct {
			Address string             `json:"address"`
			Payouts []apiAddressPayout `json:"payouts"`
			Next    *string            `json:"next"`
		}
		apiOK(t, lat, d, next, &pg)
		walked = append(walked, pg.Payouts...)
		next = ""
		if pg.Next != nil {
			next = *pg.Next
		}
	}
	if fmt.Sprint(walked) != fmt.Sprint(pays) {
		t.Errorf("%s payouts one a page %+v, on the miner page %+v", acct.Address, walked, pays)
	}
	// The original endpoint.
	var old struct {
		Address string      `json:"address"`
		Balance int64       `json:"balance_sats"`
		Recent  []apiLedger `json:"ledger_recent"`
	}
	apiOK(t, lat, d, "/api/v1/miner/"+acct.Address, &old)
	if old.Address != acct.Address || old.Balance != bal || len(old.Recent) != len(rows) {
		t.Errorf("/api/v1/miner/%s: %+v", acct.Address, old)
	}
}

// checkBadInputAPI: bad requests are 4xx JSON errors, answered at once.
func checkBadInputAPI(t *testing.T, lat apiLatencies, d *Daemon) {
	t.Helper()
	for _, c := range []struct {
		path   string
		status int
		want   string
	}{
		{"/api/v1/miners/1BoatSLRHtKNngkdXEeobR76b53LETtpyT", 400, "not a regtest address"},
		{"/api/v1/miners/not-an-address", 400, "not a valid address"},
		{"/api/v1/miners/" + strings.Repeat("x", 4000), 400, "too long"},
		{"/api/v1/miner/bcrt1qqqqq", 400, "not a valid address"},
		{"/api/v1/blocks?limit=100000", 400, "above the maximum 500"},
		{"/api/v1/blocks?before=%27%3B%20DROP%20TABLE%20blocks", 400, "not a block cursor"},
		{"/api/v1/payouts?limit=-1", 400, "below 1"},
		{"/api/v1/payouts/1234", 400, "not a transaction id"},
		{"/api/v1/pool/hashrate?window=1y", 400, "not one of"},
		{"/api/v1/blocks/7", 404, "no such endpoint"},
	} {
		a := apiGet(t, lat, d, c.path)
		var e apiErr
		if err := json.Unmarshal(a.body, &e); err != nil || a.status != c.status || e.Status != c.status ||
			!strings.Contains(e.Error, c.want) || a.latency > 500*time.Millisecond {
			t.Errorf("%.60s: %d %s in %v; want %d with %q", c.path, a.status, a.body, a.latency, c.status, c.want)
		}
	}
	saveExample(t, "error", apiGet(t, nil, d, "/api/v1/blocks?limit=100000"))
}
