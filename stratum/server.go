package stratum

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum/acceptloop"
	"github.com/adit-pool/adit/stratum/connlimit"
)

// Deps are the server's collaborators, all injected.
type Deps struct {
	// Validator judges shares; Backend is the pool. Both are required.
	Validator *share.Validator
	Backend   share.Backend
	// Log defaults to a no-op logger.
	Log *zap.Logger
	// Registerer receives the stratum-specific metrics; nil skips registration.
	Registerer prometheus.Registerer
	// Shares is adit_shares_total with protocol="v1" curried: its only label
	// is "result" (share.RejectReason.String()). Optional.
	Shares *prometheus.CounterVec
	// Connections is adit_connections{protocol="v1"}. Optional.
	Connections prometheus.Gauge
	// Now is the clock for share records and vardiff; defaults to time.Now.
	// Socket deadlines always use the real clock.
	Now func() time.Time
}

// Server accepts Stratum V1 connections and runs one session per connection.
type Server struct {
	cfg     Config
	deps    Deps
	log     *zap.Logger
	m       *metrics
	notify  notifyCache
	serving atomic.Bool
	nextID  atomic.Uint64

	addr   atomic.Pointer[net.Addr]
	limits *connlimit.Limiter
}

// NewServer validates cfg (after WithDefaults) and deps and registers the
// stratum metrics on deps.Registerer.
func NewServer(cfg Config, deps Deps) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Validator == nil {
		return nil, errors.New("stratum: Deps.Validator is required")
	}
	if deps.Backend == nil {
		return nil, errors.New("stratum: Deps.Backend is required")
	}
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	m, err := newMetrics(deps.Registerer, deps.Shares, deps.Connections)
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg:    cfg,
		deps:   deps,
		log:    deps.Log.Named("stratum"),
		m:      m,
		limits: connlimit.New(cfg.MaxConns, cfg.MaxConnsPerIP),
	}, nil
}

// Config returns the effective configuration (defaults applied).
func (s *Server) Config() Config { return s.cfg }

// Addr returns the listening address, or nil before Run/Serve has started.
func (s *Server) Addr() net.Addr {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return nil
}

// Run listens on cfg.Listen and serves until ctx is cancelled; see Serve.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx is cancelled, then closes ln,
// ends every session (flushing queued replies within the write timeout) and
// waits for all of their goroutines. It returns nil after a cancellation and
// the listener's error if accepting fails for good. A Server serves once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !s.serving.CompareAndSwap(false, true) {
		if ln != nil {
			ln.Close()
		}
		return errors.New("stratum: server already serving")
	}
	addr := ln.Addr()
	s.addr.Store(&addr)
	s.log.Info("stratum listening", zap.Stringer("addr", addr))
	var wg sync.WaitGroup
	defer wg.Wait()
	return acceptloop.Run(ctx, ln, func(err error, backoff time.Duration) {
		s.log.Warn("stratum accept failed", zap.Error(err), zap.Duration("backoff", backoff))
	}, func(c net.Conn) {
		release, ok := s.admit(c)
		if !ok {
			return
		}
		wg.Go(func() {
			defer release()
			newSession(s, c).run(ctx)
		})
	})
}

// admit applies the connection limits; a refused connection is closed. An
// admitted one is counted in the connections gauge until release is called.
func (s *Server) admit(c net.Conn) (release func(), ok bool) {
	rel, reason := s.limits.Admit(c.RemoteAddr())
	if reason != "" {
		s.m.refused.WithLabelValues(reason).Inc()
		if reason != connlimit.BadRemote {
			s.log.Debug("stratum connection refused", zap.String("reason", reason), zap.Stringer("remote", c.RemoteAddr()))
		}
		c.Close()
		return nil, false
	}
	s.m.connections.Inc()
	return func() {
		rel()
		s.m.connections.Dec()
	}, true
}
