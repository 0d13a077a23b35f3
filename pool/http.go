package pool

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// poolStatus is the JSON body of /api/v1/pool.
type poolStatus struct {
	Network        string  `json:"network"`
	Height         int64   `json:"height"`
	JobID          uint32  `json:"job_id"`
	TemplateAgeSec float64 `json:"template_age_seconds"`
	Hashrate       float64 `json:"hashrate_hs"`
	SharesWindow   int64   `json:"shares_last_10m"`
	Stratum        string  `json:"stratum"`
	// JobDeclaration is present when the pool runs a JDS.
	JobDeclaration *jdStatus `json:"job_declaration,omitempty"`
}

// jdStatus is who mines their own templates: the JDS endpoint (Noise, the
// SV2 authority key), the hashrate and shares on declared jobs in the last
// ten minutes and the workers that submitted them.
type jdStatus struct {
	Endpoint         string   `json:"endpoint"`
	DeclaredHashrate float64  `json:"declared_hashrate_hs"`
	DeclaredShares   int64    `json:"declared_shares_last_10m"`
	DeclaringWorkers []string `json:"declaring_workers"`
}

func (p *Pool) httpHandler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/v1/pool", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, p.status(time.Now()))
	})
	mux.HandleFunc("GET /api/v1/miner/{address}", p.minerHandler)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(dashboardHTML))
	})
	return mux
}

func (p *Pool) status(now time.Time) poolStatus {
	s := poolStatus{Network: p.cfg.Network, Stratum: p.StratumAddr()}
	if j := p.hub.Latest(); j != nil {
		s.Height, s.JobID = j.Height, j.ID
		s.TemplateAgeSec = now.Sub(j.Created).Seconds()
	}
	s.Hashrate, s.SharesWindow = p.hashrate.Rate(now)
	if p.jd != nil {
		jd := &jdStatus{Endpoint: p.jd.Addr(), DeclaringWorkers: p.declarers.since(now.Add(-10 * time.Minute))}
		jd.DeclaredHashrate, jd.DeclaredShares = p.declaredRate.Rate(now)
		s.JobDeclaration = jd
	}
	return s
}

// minerStatus is the JSON body of /api/v1/miner/{address}.
type minerStatus struct {
	Address      string        `json:"address"`
	BalanceSats  int64         `json:"balance_sats"`
	LedgerRecent []ledgerEntry `json:"ledger_recent"`
}

type ledgerEntry struct {
	Kind      string    `json:"kind"`
	Sats      int64     `json:"sats"`
	BlockHash string    `json:"block_hash,omitempty"`
	PayoutID  *int64    `json:"payout_id,omitempty"`
	Time      time.Time `json:"time"`
}

func (p *Pool) minerHandler(w http.ResponseWriter, r *http.Request) {
	addr := r.PathValue("address")
	params, _ := p.cfg.ChainParams()
	if _, err := DecodeAddress(addr, params); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ledger := p.storage.ledger
	if ledger == nil {
		http.Error(w, "payouts are not enabled on this pool", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	bal, err := ledger.Balance(ctx, addr)
	if err != nil {
		p.log.Warn("miner balance query failed", zap.Error(err))
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	hist, err := ledger.History(ctx, addr, 100)
	if err != nil {
		p.log.Warn("miner history query failed", zap.Error(err))
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	out := minerStatus{Address: addr, BalanceSats: bal, LedgerRecent: make([]ledgerEntry, 0, len(hist))}
	for _, e := range hist {
		le := ledgerEntry{Kind: e.Kind, Sats: e.Sats, PayoutID: e.PayoutID, Time: e.Time}
		if len(e.BlockHash) == 32 {
			le.BlockHash = displayHash([32]byte(e.BlockHash))
		}
		out.LedgerRecent = append(out.LedgerRecent, le)
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// dashboardHTML is a dependency-free page polling the JSON API.
const dashboardHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>Adit pool</title>
<style>body{font:15px system-ui,sans-serif;margin:2em;max-width:44em}td{padding:.2em 1em .2em 0}
h1{font-size:1.4em}code{background:#eee;padding:0 .3em}</style></head>
<body><h1>Adit pool</h1>
<table id="t"><tr><td>loading…</td></tr></table>
<p>Prometheus metrics: <a href="/metrics">/metrics</a> · JSON: <a href="/api/v1/pool">/api/v1/pool</a></p>
<script>
const esc=t=>String(t).replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"})[c]);
const fmt=h=>{const u=["H/s","kH/s","MH/s","GH/s","TH/s","PH/s","EH/s"];let i=0;while(h>=1000&&i<u.length-1){h/=1000;i++}return h.toFixed(2)+" "+u[i]};
async function tick(){try{const s=await (await fetch("/api/v1/pool")).json();
const rows=[["Network",s.network],["Stratum",s.stratum],["Height",s.height],["Job",s.job_id],
["Template age",s.template_age_seconds.toFixed(1)+" s"],["Hashrate (10 min)",fmt(s.hashrate_hs)],["Shares (10 min)",s.shares_last_10m]];
const jd=s.job_declaration;if(jd){rows.push(["Job Declaration",jd.endpoint],["Declared hashrate (10 min)",fmt(jd.declared_hashrate_hs)],
["Miners declaring their own work",jd.declaring_workers.length?jd.declaring_workers.map(esc).join("<br>"):"none"]);}
document.getElementById("t").innerHTML=rows.map(r=>"<tr><td>"+r[0]+"</td><td><code>"+r[1]+"</code></td></tr>").join("");}catch(e){}}
tick();setInterval(tick,2000);
</script></body></html>`
