package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/adit-pool/adit/stratum/client"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command-line flags.
type options struct {
	fleet    fleetConfig
	duration time.Duration
	jsonOut  bool
	logLevel zapcore.Level
	logJSON  bool
}

// parseFlags parses args into options; errors mention the offending flag.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("adit-miner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o          options
		cc         client.Config
		threads    = fs.Int("threads", 0, "hashing threads per miner (default: NumCPU, or 1 per miner in fleet mode)")
		mask       = fs.String("mask", "", "version-rolling mask to request, hex (implies -version-rolling; Bitaxe asks ffffffff)")
		shareRate  = fs.Float64("share-rate", 0, "target shares/s per miner, by pacing the hashing (0: full speed)")
		fleet      = fs.Int("fleet", 1, "number of independent miners (connections) in this process")
		maxShares  = fs.Uint64("max-shares", 0, "stop after this many answered shares across all miners (0: no limit)")
		reconnect  = fs.Duration("reconnect", 2*time.Second, "pause before redialing after a disconnect (0: stop instead); an SV2 pool's Reconnect is followed at once")
		dialConc   = fs.Int("dial-concurrency", 32, "maximum simultaneous handshakes in fleet mode")
		submitters = fs.Int("submitters", 4, "maximum in-flight submissions per miner")
		level      = fs.String("log-level", "info", "log level: debug, info, warn, error")
		logFormat  = fs.String("log-format", "console", "log format: console or json")
		v2         = addV2Flags(fs)
		jd         = addJDFlags(fs)
	)
	fs.StringVar(&cc.Addr, "pool", "127.0.0.1:3333", "pool address host:port")
	fs.StringVar(&cc.Username, "user", "", "username, conventionally address.worker (required)")
	fs.StringVar(&cc.Password, "pass", "x", "password")
	fs.Float64Var(&cc.SuggestDifficulty, "suggest-difficulty", 0, "send mining.suggest_difficulty with this value (fractional allowed; 0: don't)")
	fs.BoolVar(&cc.VersionRolling, "version-rolling", false, "negotiate BIP310 version rolling and roll version bits")
	fs.Float64Var(&cc.MinimumDifficulty, "min-difficulty", 0, "request BIP310 minimum-difficulty with this value (0: don't)")
	fs.BoolVar(&cc.ExtranonceSubscribe, "extranonce-subscribe", false, "send mining.extranonce.subscribe (firmware quirk)")
	fs.BoolVar(&cc.MultiVersion, "multi-version", false, "send mining.multi_version (firmware quirk)")
	fs.DurationVar(&cc.Timeout, "timeout", client.DefaultTimeout, "dial, handshake, write and submit timeout")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: until SIGINT/SIGTERM)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the summary as JSON on stdout")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cc.Username == "" {
		return nil, errors.New("-user is required (address.worker)")
	}
	if *mask != "" {
		m, err := strconv.ParseUint(*mask, 16, 32)
		if err != nil || m == 0 {
			return nil, fmt.Errorf("-mask %q: want non-zero 32-bit hex", *mask)
		}
		cc.RequestMask, cc.VersionRolling = uint32(m), true
	}
	if *fleet < 1 {
		return nil, fmt.Errorf("-fleet %d: want at least 1", *fleet)
	}
	if *threads < 0 || *shareRate < 0 || cc.SuggestDifficulty < 0 || cc.MinimumDifficulty < 0 || o.duration < 0 {
		return nil, errors.New("-threads, -share-rate, -suggest-difficulty, -min-difficulty and -duration must not be negative")
	}
	if *threads == 0 {
		*threads = 1
		if *fleet == 1 {
			*threads = runtime.NumCPU()
		}
	}
	if err := o.logLevel.Set(*level); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	switch *logFormat {
	case "console":
	case "json":
		o.logJSON = true
	default:
		return nil, fmt.Errorf("-log-format %q: want console or json", *logFormat)
	}
	o.fleet = fleetConfig{
		Miners: *fleet, DialConcurrency: *dialConc, MaxShares: *maxShares,
		Base: minerConfig{Client: cc, Threads: *threads, ShareRate: *shareRate, Submitters: *submitters, Reconnect: *reconnect},
	}
	if err := v2.apply(&o.fleet); err != nil {
		return nil, err
	}
	if err := jd.apply(&o.fleet); err != nil {
		return nil, err
	}
	return &o, nil
}

func newLogger(o *options, stderr io.Writer) *zap.Logger {
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if o.logJSON {
		enc = zapcore.NewJSONEncoder(encCfg)
	} else {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(stderr), o.logLevel)).Named("adit-miner")
}

// run is main without the process exit; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "adit-miner:", err)
		return 2
	}
	log := newLogger(o, stderr)
	defer log.Sync()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	b := o.fleet.Base
	log.Info("starting", zap.String("pool", b.Client.Addr), zap.Int("miners", o.fleet.Miners),
		zap.Int("threads_per_miner", b.Threads), zap.Float64("share_rate", b.ShareRate),
		zap.Bool("version_rolling", b.Client.VersionRolling), zap.Int("sv2_miners", o.fleet.V2Miners))
	s := runFleet(ctx, o.fleet, log)
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(s)
	} else {
		s.writeText(stdout)
	}
	// Nothing accepted and the pool unreachable is a failure, unless a JD
	// miner found blocks solo meanwhile.
	if s.Accepted == 0 && s.DialFailures > 0 && (s.jdSummary == nil || s.BlocksSolo+s.BlocksPool == 0) {
		return 1
	}
	return 0
}
