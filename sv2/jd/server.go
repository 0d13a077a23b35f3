package jd

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/adit-pool/adit/stratum/acceptloop"
	"github.com/adit-pool/adit/stratum/connlimit"
	"github.com/adit-pool/adit/sv2/noise"
)

// Deps are the server's collaborators, all injected.
type Deps struct {
	// Node is the pool's node and mempool mirror (required).
	Node Node
	// Keys supplies the certified Noise static key: the pool's, as on the
	// mining port (required).
	Keys noise.KeySource
	// PoolScript is the pool's payout script: AllocateMiningJobToken.Success
	// asks for it (0 sat) and every declaration must pay it all the
	// coinbase value but 0-value outputs (required).
	PoolScript []byte
	// Log defaults to a no-op logger.
	Log *zap.Logger
	// Registerer receives the jd metrics; nil skips registration.
	Registerer prometheus.Registerer
	// Now is the clock of token lifetimes and rate limits (default
	// time.Now); socket deadlines use the real clock.
	Now func() time.Time
	// Rand makes tokens (default crypto/rand.Reader).
	Rand io.Reader
}

// Server is the Job Declaration Server. Its methods are safe for
// concurrent use; Activate may be called from the mining server at any
// time, also before Run or after it returned.
type Server struct {
	cfg     Config
	deps    Deps
	log     *zap.Logger
	m       *metrics
	gate    *noise.Gate
	limits  *connlimit.Limiter
	tokens  *tokenStore
	propSem chan struct{}
	serving atomic.Bool
	nextID  atomic.Uint64
	addr    atomic.Pointer[net.Addr]

	// submits tracks block submissions, which outlive the connection that
	// pushed the solution; Serve waits for them.
	submits sync.WaitGroup
	baseCtx atomic.Pointer[context.Context]
}

// NewServer validates cfg (after WithDefaults) and deps and registers the
// jd metrics on deps.Registerer.
func NewServer(cfg Config, deps Deps) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case deps.Node == nil:
		return nil, errors.New("jd: Deps.Node is required")
	case deps.Keys == nil:
		return nil, errors.New("jd: Deps.Keys is required")
	case len(deps.PoolScript) == 0:
		return nil, errors.New("jd: Deps.PoolScript is required")
	case len(deps.PoolScript) > 10_000:
		return nil, errors.New("jd: Deps.PoolScript is longer than a script may be")
	}
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Rand == nil {
		deps.Rand = rand.Reader
	}
	s := &Server{
		cfg:     cfg,
		deps:    deps,
		log:     deps.Log.Named("jd"),
		gate:    noise.NewGate(cfg.HandshakeConcurrency, noise.Responder{Keys: deps.Keys, MaxFrameLength: uint32(cfg.MaxFrameLength)}),
		limits:  connlimit.New(cfg.MaxConns, cfg.MaxConnsPerIP),
		tokens:  newTokenStore(deps.Now, deps.Rand, cfg.AllocatedTokenLifetime, cfg.ActiveTokenLifetime),
		propSem: make(chan struct{}, cfg.MaxProposals),
	}
	m, err := newMetrics(deps.Registerer, func() float64 { return float64(s.tokens.len()) })
	if err != nil {
		return nil, err
	}
	s.m = m
	return s, nil
}

// Config returns the effective configuration (defaults applied).
func (s *Server) Config() Config { return s.cfg }

// Addr returns the listener's address, or nil before Run has bound it.
func (s *Server) Addr() net.Addr {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return nil
}

// Activate consumes an active token (from DeclareMiningJob.Success) for a
// SetCustomMiningJob on a channel of userIdentity and returns the job it
// declared. The token is single use: any attempt burns it, whatever the
// result. Errors wrap ErrInvalidToken (malformed, unknown, only allocated,
// already used, expired, dropped with its JD connection, or allocated to
// another user_identifier) or ErrNotYetValidated (the declaration is still
// being checked); ErrorCode maps them to SetCustomMiningJob.Error codes.
// Check the job itself with CheckCustomJob.
func (s *Server) Activate(token []byte, userIdentity string) (*Declaration, error) {
	d, err := s.tokens.take(token, userIdentity)
	result := resultAccepted
	if err != nil {
		result = ErrorCode(err)
	}
	s.m.activations.WithLabelValues(result).Inc()
	return d, err
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

// Serve accepts Noise connections on ln until ctx is cancelled, then closes
// it, closes every connection and waits for every goroutine, block
// submissions included (each bounded by SubmitTimeout). It returns nil
// after a cancellation, or the listener's permanent error. A Server serves
// once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !s.serving.CompareAndSwap(false, true) {
		ln.Close()
		return errors.New("jd: server already serving")
	}
	base := context.WithoutCancel(ctx)
	s.baseCtx.Store(&base)
	addr := ln.Addr()
	s.addr.Store(&addr)
	s.log.Info("jd listening", zap.Stringer("addr", addr))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { s.sweep(ctx) })
	err := acceptloop.Run(ctx, ln, func(err error, backoff time.Duration) {
		s.log.Warn("jd accept failed", zap.Error(err), zap.Duration("backoff", backoff))
	}, func(c net.Conn) {
		accepted := time.Now()
		release, ok := s.admit(c)
		if !ok {
			return
		}
		wg.Go(func() {
			defer release()
			nc, err := s.gate.Handshake(ctx, c, accepted.Add(s.cfg.HandshakeTimeout))
			result := noise.Result(ctx, err)
			s.m.handshakes.WithLabelValues(result).Inc()
			if err != nil {
				s.log.Debug("jd handshake failed", zap.String("result", result), zap.Stringer("remote", c.RemoteAddr()), zap.Error(err))
				c.Close()
				return
			}
			newConn(s, nc).run(ctx)
		})
	})
	cancel()
	wg.Wait()
	s.submits.Wait()
	return err
}

// sweep drops expired tokens every few seconds until ctx ends.
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(min(10*time.Second, s.cfg.ActiveTokenLifetime))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.tokens.sweep()
		}
	}
}

// admit applies the connection limits; a refused connection is closed.
func (s *Server) admit(c net.Conn) (release func(), ok bool) {
	rel, reason := s.limits.Admit(c.RemoteAddr())
	if reason != "" {
		s.m.refused.WithLabelValues(reason).Inc()
		c.Close()
		return nil, false
	}
	s.m.connections.Inc()
	return func() {
		rel()
		s.m.connections.Dec()
	}, true
}

// submitBlock submits a solved block on a goroutine of its own, bounded by
// SubmitTimeout and independent of the connection that pushed it.
func (s *Server) submitBlock(block []byte, hash [32]byte, log *zap.Logger) {
	base := context.Background()
	if p := s.baseCtx.Load(); p != nil {
		base = *p
	}
	s.submits.Go(func() {
		ctx, cancel := context.WithTimeout(base, s.cfg.SubmitTimeout)
		defer cancel()
		ok, err := s.deps.Node.SubmitBlock(ctx, block, hash)
		result := solAccepted
		switch {
		case err != nil:
			result = solError
		case !ok:
			result = solRejected
		}
		s.m.solutions.WithLabelValues(result).Inc()
		log.Info("jd pushed solution submitted", zap.String("hash", displayHash(hash)), zap.String("result", result), zap.Error(err))
	})
}

// displayHash is a hash in the reversed (display) byte order.
func displayHash(h [32]byte) string {
	const hexdig = "0123456789abcdef"
	b := make([]byte, 64)
	for i := range 32 {
		v := h[31-i]
		b[2*i], b[2*i+1] = hexdig[v>>4], hexdig[v&15]
	}
	return string(b)
}
