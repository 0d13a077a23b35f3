// Command aditd is the Adit mining pool daemon.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/adit-pool/adit/pool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "aditd:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		configPath   = flag.String("config", "", "path to the TOML configuration file")
		logFormat    = flag.String("log-format", "", "console or json (overrides the file)")
		stratumAddr  = flag.String("stratum-listen", "", "Stratum V1 listen address (overrides the file)")
		httpAddr     = flag.String("http-listen", "", "metrics/API listen address (overrides the file)")
		checkOnly    = flag.Bool("check-config", false, "validate the configuration and exit")
		drainTimeout = flag.Duration("drain-timeout", 10*time.Second, "how long shutdown waits for sessions to drain")
	)
	flag.Parse()

	cfg, err := pool.LoadConfig(*configPath, os.Getenv)
	if err != nil {
		return err
	}
	if *logFormat != "" {
		cfg.Log.Format = *logFormat
	}
	if *stratumAddr != "" {
		cfg.Stratum.Listen = *stratumAddr
	}
	if *httpAddr != "" {
		cfg.HTTP.Listen = *httpAddr
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if *checkOnly {
		fmt.Println("configuration ok")
		return nil
	}
	log, err := pool.NewLogger(cfg.Log)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p, err := pool.New(cfg, pool.Deps{Log: log, Registerer: reg, Gatherer: reg})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		log.Info("shutting down", zap.Duration("drain_timeout", *drainTimeout))
		select {
		case err = <-errc:
		case <-time.After(*drainTimeout):
			err = errors.New("sessions did not drain in time")
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}
