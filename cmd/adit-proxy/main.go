// Command adit-proxy is a mining farm's proxy: its Stratum V1 miners mine
// the farm's own block templates (from its own node), declared to the
// pool over Stratum V2 Job Declaration and forwarded on one extended
// channel. See pool/farm and deploy/adit-proxy.example.toml.
package main

import (
	"context"
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
