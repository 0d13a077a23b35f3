package stratum

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/adit-pool/adit/share"
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

	addr atomic.Pointer[net.Addr]

	mu    sync.Mutex // guards conns and perIP
	conns int
	perIP map[netip.Addr]int
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
		cfg:   cfg,
		deps:  deps,
		log:   deps.Log.Named("stratum"),
		m:     m,
		perIP: make(map[netip.Addr]int),
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
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var wg sync.WaitGroup
	defer wg.Wait()
	backoff := time.Duration(0)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Transient (EMFILE, ECONNABORTED, ...): back off, keep serving.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("stratum accept failed", zap.Error(err), zap.Duration("backoff", backoff))
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		backoff = 0
		ip, ok := s.admit(c)
		if !ok {
			continue
		}
		wg.Go(func() {
			defer s.release(ip)
			newSession(s, c).run(ctx)
		})
	}
}

// admit applies the connection limits; a refused connection is closed.
func (s *Server) admit(c net.Conn) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		s.m.refused.WithLabelValues(refusedBadRemote).Inc()
		c.Close()
		return netip.Addr{}, false
	}
	ip := ap.Addr().Unmap()
	reason := ""
	s.mu.Lock()
	switch {
	case s.conns >= s.cfg.MaxConns:
		reason = refusedMaxConns
	case s.perIP[ip] >= s.cfg.MaxConnsPerIP:
		reason = refusedMaxPerIP
	default:
		s.conns++
		s.perIP[ip]++
	}
	s.mu.Unlock()
	if reason != "" {
		s.m.refused.WithLabelValues(reason).Inc()
		s.log.Debug("stratum connection refused", zap.String("reason", reason), zap.Stringer("remote", ap))
		c.Close()
		return ip, false
	}
	s.m.connections.Inc()
	return ip, true
}

func (s *Server) release(ip netip.Addr) {
	s.mu.Lock()
	s.conns--
	if n := s.perIP[ip] - 1; n > 0 {
		s.perIP[ip] = n
	} else {
		delete(s.perIP, ip)
	}
	s.mu.Unlock()
	s.m.connections.Dec()
}
