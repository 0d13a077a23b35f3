package sv2

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
	"github.com/adit-pool/adit/sv2/noise"
)

// Deps are the server's collaborators, all injected.
type Deps struct {
	// Validator judges shares; Backend is the pool; Keys supplies the
	// certified Noise static key (noise.KeyRotator in production). All three
	// are required (Keys may be nil only when Config.Listen is "-", i.e. the
	// server serves plaintext only, in tests).
	Validator *share.Validator
	Backend   share.Backend
	Keys      noise.KeySource
	// Log defaults to a no-op logger.
	Log *zap.Logger
	// Registerer receives the sv2 metrics; nil skips registration.
	Registerer prometheus.Registerer
	// Shares is adit_shares_total with protocol="v2" curried: its only label
	// is "result" (share.RejectReason.String()). Optional.
	Shares *prometheus.CounterVec
	// Connections is adit_connections{protocol="v2"}. Optional.
	Connections prometheus.Gauge
	// CustomJobs turns SetCustomMiningJob into private jobs (Job
	// Declaration); nil refuses work selection.
	CustomJobs CustomJobs
	// Now is the clock for share records and vardiff; defaults to time.Now.
	// Socket deadlines always use the real clock.
	Now func() time.Time
}

// Server accepts Stratum V2 mining-protocol connections: a Noise NX
// handshake (off the accept loop, under a concurrency limit and a deadline),
// then one session per connection with standard, extended and group
// channels, shares judged by the shared share.Validator.
type Server struct {
	cfg     Config
	deps    Deps
	log     *zap.Logger
	m       *metrics
	gate    *noise.Gate
	serving atomic.Bool
	nextID  atomic.Uint64

	addr, plainAddr atomic.Pointer[net.Addr]
	limits          *connlimit.Limiter
}

// NewServer validates cfg (after WithDefaults) and deps and registers the
// sv2 metrics on deps.Registerer.
func NewServer(cfg Config, deps Deps) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case deps.Validator == nil:
		return nil, errors.New("sv2: Deps.Validator is required")
	case deps.Backend == nil:
		return nil, errors.New("sv2: Deps.Backend is required")
	case deps.Keys == nil && cfg.Listen != "-":
		return nil, errors.New("sv2: Deps.Keys is required")
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
		cfg:  cfg,
		deps: deps,
		log:  deps.Log.Named("sv2"),
		m:    m,
		gate: noise.NewGate(cfg.HandshakeConcurrency, noise.Responder{
			Keys: deps.Keys, MaxFrameLength: uint32(cfg.MaxFrameLength)}),
		limits: connlimit.New(cfg.MaxConns, cfg.MaxConnsPerIP),
	}, nil
}

// Config returns the effective configuration (defaults applied).
func (s *Server) Config() Config { return s.cfg }

// Addr returns the Noise listener's address, or nil before Run has bound it.
func (s *Server) Addr() net.Addr {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return nil
}

// PlaintextAddr returns the plaintext listener's address, or nil when it is
// off or not yet bound.
func (s *Server) PlaintextAddr() net.Addr {
	if a := s.plainAddr.Load(); a != nil {
		return *a
	}
	return nil
}

// Run listens on cfg.Listen (and cfg.PlaintextListen when set; Listen "-"
// disables the Noise listener) and serves until ctx is cancelled; see Serve.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	var ln, plain net.Listener
	var err error
	if s.cfg.Listen != "-" {
		if ln, err = lc.Listen(ctx, "tcp", s.cfg.Listen); err != nil {
			return err
		}
	}
	if s.cfg.PlaintextListen != "" {
		if plain, err = lc.Listen(ctx, "tcp", s.cfg.PlaintextListen); err != nil {
			if ln != nil {
				ln.Close()
			}
			return err
		}
	}
	return s.Serve(ctx, ln, plain)
}

// Serve accepts Noise connections on ln and plaintext ones on plain (either
// may be nil, not both) until ctx is cancelled. Then it closes the
// listeners, sends every session a Reconnect, closes them and waits for all
// goroutines. It returns nil after a cancellation, or the first listener's
// permanent error. A Server serves once.
func (s *Server) Serve(ctx context.Context, ln, plain net.Listener) error {
	if !s.serving.CompareAndSwap(false, true) {
		for _, l := range []net.Listener{ln, plain} {
			if l != nil {
				l.Close()
			}
		}
		return errors.New("sv2: server already serving")
	}
	if ln == nil && plain == nil {
		return errors.New("sv2: no listener")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	serve := func(l net.Listener, encrypted bool) {
		addr := l.Addr()
		if encrypted {
			s.addr.Store(&addr)
		} else {
			s.plainAddr.Store(&addr)
		}
		s.log.Info("sv2 listening", zap.Stringer("addr", addr), zap.Bool("noise", encrypted))
		wg.Go(func() {
			if err := s.acceptLoop(ctx, l, encrypted, &wg); err != nil {
				once.Do(func() { first = err })
				cancel()
			}
		})
	}
	if ln != nil {
		serve(ln, true)
	}
	if plain != nil {
		serve(plain, false)
	}
	<-ctx.Done()
	wg.Wait()
	return first
}

func (s *Server) acceptLoop(ctx context.Context, ln net.Listener, encrypted bool, wg *sync.WaitGroup) error {
	return acceptloop.Run(ctx, ln, func(err error, backoff time.Duration) {
		s.log.Warn("sv2 accept failed", zap.Error(err), zap.Duration("backoff", backoff))
	}, func(c net.Conn) {
		accepted := time.Now()
		release, ok := s.admit(c)
		if !ok {
			return
		}
		wg.Go(func() {
			defer release()
			var fc FrameConn
			if encrypted {
				nc, ok := s.handshake(ctx, c, accepted)
				if !ok {
					c.Close()
					return
				}
				fc = nc
			} else {
				fc = NewPlainConn(c, s.cfg.MaxFrameLength)
			}
			newSession(s, fc).run(ctx)
		})
	})
}

// handshake runs the Noise responder under the concurrency limit, within
// HandshakeTimeout of accept, and counts the outcome.
func (s *Server) handshake(ctx context.Context, c net.Conn, accepted time.Time) (*noise.Conn, bool) {
	nc, err := s.gate.Handshake(ctx, c, accepted.Add(s.cfg.HandshakeTimeout))
	result := noise.Result(ctx, err)
	s.m.handshakes.WithLabelValues(result).Inc()
	if err != nil {
		s.log.Debug("sv2 handshake failed", zap.String("result", result), zap.Stringer("remote", c.RemoteAddr()), zap.Error(err))
		return nil, false
	}
	s.m.handshakeSecs.Observe(time.Since(accepted).Seconds())
	return nc, true
}

// admit applies the connection limits; a refused connection is closed. An
// admitted one is counted in the connections gauge until release is called.
func (s *Server) admit(c net.Conn) (release func(), ok bool) {
	rel, reason := s.limits.Admit(c.RemoteAddr())
	if reason != "" {
		s.m.refused.WithLabelValues(reason).Inc()
		if reason != connlimit.BadRemote {
			s.log.Debug("sv2 connection refused", zap.String("reason", reason), zap.Stringer("remote", c.RemoteAddr()))
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
