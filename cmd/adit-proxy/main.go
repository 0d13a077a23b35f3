// Command adit-proxy is a mining farm's proxy: its Stratum V1 miners mine
// the farm's own block templates (from its own node), declared to the
// pool over Stratum V2 Job Declaration and forwarded on one extended
// channel. See pool/farm and deploy/adit-proxy.example.toml.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/adit-pool/adit/pool"
	"github.com/adit-pool/adit/pool/farm"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "adit-proxy:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		configPath = flag.String("config", "", "path to the TOML configuration file")
		logFormat  = flag.String("log-format", "", "console or json (overrides the file)")
		checkOnly  = flag.Bool("check-config", false, "validate the configuration and exit")
	)
	flag.Parse()
	file, pass, err := farm.LoadConfig(*configPath, os.Getenv)
	if err != nil {
		return err
	}
	if *logFormat != "" {
		file.Log.Format = *logFormat
	}
	cfg, err := file.Farm(pass)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if *checkOnly {
		fmt.Println("configuration ok")
		return nil
	}
	log, err := pool.NewLogger(file.Log)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f, err := farm.New(cfg, log, reg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", file.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(f.Status())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(statusHTML))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("adit-proxy serving", zap.String("stratum", cfg.Stratum.Listen), zap.String("http", ln.Addr().String()),
		zap.String("jds", cfg.Upstream.JDS), zap.String("pool", cfg.Upstream.Pool), zap.String("node", cfg.Node.URL))

	err = f.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}

// statusHTML is a dependency-free page polling /api/v1/status.
const statusHTML = `<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>adit-proxy</title>
<style>body{font:15px system-ui,sans-serif;margin:2em;max-width:52em}td,th{padding:.2em 1em .2em 0;text-align:left}
h1{font-size:1.4em}code{background:#eee;padding:0 .3em}</style></head>
<body><h1>adit-proxy</h1>
<table id="s"><tr><td>loading…</td></tr></table>
<h2>Workers</h2><table id="w"></table>
<p>Prometheus metrics: <a href="/metrics">/metrics</a> · JSON: <a href="/api/v1/status">/api/v1/status</a></p>
<script>
const esc=t=>String(t).replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"})[c]);
const fmt=h=>{const u=["H/s","kH/s","MH/s","GH/s","TH/s","PH/s","EH/s"];let i=0;while(h>=1000&&i<u.length-1){h/=1000;i++}return h.toFixed(2)+" "+u[i]};
async function tick(){try{const s=await (await fetch("/api/v1/status")).json();
const rows=[["Mode",s.mode||"none working"],["Modes (preferred first)",s.modes.join(" → ")],["Pool",s.pool],["JDS",s.jds],
["Farm node",s.node],["Stratum",s.stratum],["Height",s.height],["Hashrate (10 min)",fmt(s.hashrate_hs)]];
document.getElementById("s").innerHTML=rows.map(r=>"<tr><td>"+r[0]+"</td><td><code>"+esc(r[1])+"</code></td></tr>").join("");
document.getElementById("w").innerHTML="<tr><th>Worker</th><th>Hashrate</th><th>Shares</th><th>Last share</th></tr>"+
(s.workers||[]).map(w=>"<tr><td>"+esc(w.name)+"</td><td>"+fmt(w.hashrate_hs)+"</td><td>"+w.shares+"</td><td>"+esc(w.last_share)+"</td></tr>").join("");
}catch(e){}}
tick();setInterval(tick,2000);
</script></body></html>`
