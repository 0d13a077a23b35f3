package jd

import (
	"errors"
	"fmt"
	"time"

	"github.com/adit-pool/adit/stratum/srvconf"
)

// Config configures a Server; the pool maps its [jd] TOML section onto it.
// Zero fields take the defaults of WithDefaults.
type Config struct {
	// Listen is the TCP address of the Noise listener (the pool's
	// authority key and the same certificate as the mining port).
	Listen string
	// Limits and HandshakeConcurrency are as on the mining port
	// (sv2.Config). HandshakeTimeout also bounds the time from the Noise
	// handshake to SetupConnection.
	srvconf.Limits
	HandshakeConcurrency int
	// MaxFrameLength bounds an incoming frame. The default fits a
	// ProvideMissingTransactions.Success carrying a whole 4M WU block.
	MaxFrameLength int

	// AllocatedTokenLifetime is how long a token from
	// AllocateMiningJobToken may wait for its DeclareMiningJob (SRI
	// intends 10 min, #335). ActiveTokenLifetime is how long the token of
	// DeclareMiningJob.Success may wait for its SetCustomMiningJob.
	AllocatedTokenLifetime, ActiveTokenLifetime time.Duration
	// MaxTokensPerConn bounds a connection's outstanding allocated tokens;
	// AllocationsPerMinute and DeclarationsPerMinute are its rate limits
	// (token buckets with a burst of the same size). An allocation over a
	// limit ends the connection (the message has no error reply); a
	// declaration over one gets DeclareMiningJob.Error rate-limited.
	MaxTokensPerConn                            int
	AllocationsPerMinute, DeclarationsPerMinute int
	// MaxPendingDeclarations bounds a connection's declarations being
	// checked at once (waiting for transactions or for the node).
	MaxPendingDeclarations int
	// MaxWtxids bounds a declaration's wtxid_list.
	MaxWtxids int
	// MaxProposals bounds the block proposals in flight to the node, over
	// all connections; ProposalTimeout bounds one, the wait for a slot
	// included (then internal-error).
	MaxProposals    int
	ProposalTimeout time.Duration
	// MissingTxsTimeout is how long a declaration waits for its
	// ProvideMissingTransactions.Success (then missing-txs).
	MissingTxsTimeout time.Duration
	// TipWait is how long a declaration on a block the pool's node does
	// not have yet (a coinbase height past the pool's tip) waits for the
	// pool's tip to move before it is refused with stale-chain-tip.
	TipWait time.Duration
	// SolutionJobs is how many of a connection's most recent accepted
	// declarations a PushSolution is tried against, newest first.
	SolutionJobs int
	// SubmitTimeout bounds the submission of a pushed solution.
	SubmitTimeout time.Duration
}

// Defaults applied by WithDefaults.
const (
	DefaultListen                 = ":34264" // the SRI JDS's default port
	DefaultMaxConns               = 10000
	DefaultMaxConnsPerIP          = 100
	DefaultHandshakeConcurrency   = 64
	DefaultHandshakeTimeout       = 10 * time.Second
	DefaultIdleTimeout            = 10 * time.Minute
	DefaultWriteTimeout           = 10 * time.Second
	DefaultSendQueue              = 64
	DefaultMaxFrameLength         = 4<<20 + 256<<10
	DefaultAllocatedTokenLifetime = 10 * time.Minute
	// DefaultActiveTokenLifetime is 60 s rather than SRI's 10 s: the JDC
	// sends SetCustomMiningJob on another connection, may hold a
	// declaration for a future template until its SetNewPrevHash, and may
	// be behind a reconnecting proxy; 10 s turns ordinary latency into a
	// fallback to solo mining. A longer window costs nothing: the token is
	// single use, bound to the user identity, and the job is still checked
	// against the current tip.
	DefaultActiveTokenLifetime    = 60 * time.Second
	DefaultMaxTokensPerConn       = 64
	DefaultAllocationsPerMinute   = 60
	DefaultDeclarationsPerMinute  = 60
	DefaultMaxPendingDeclarations = 4
	// DefaultMaxWtxids is MaxBlockWeight / MinTxWeight, as SRI bounds it.
	DefaultMaxWtxids         = MaxBlockWeight / MinTxWeight
	DefaultMaxProposals      = 4
	DefaultProposalTimeout   = 30 * time.Second
	DefaultMissingTxsTimeout = 30 * time.Second
	DefaultTipWait           = 3 * time.Second
	DefaultSolutionJobs      = 8
	DefaultSubmitTimeout     = time.Minute
)

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	c.Limits = c.Limits.WithDefaults(srvconf.Limits{
		MaxConns: DefaultMaxConns, MaxConnsPerIP: DefaultMaxConnsPerIP, HandshakeTimeout: DefaultHandshakeTimeout,
		IdleTimeout: DefaultIdleTimeout, WriteTimeout: DefaultWriteTimeout, SendQueue: DefaultSendQueue,
	})
	def(&c.HandshakeConcurrency, DefaultHandshakeConcurrency)
	def(&c.MaxFrameLength, DefaultMaxFrameLength)
	def(&c.MaxTokensPerConn, DefaultMaxTokensPerConn)
	def(&c.AllocationsPerMinute, DefaultAllocationsPerMinute)
	def(&c.DeclarationsPerMinute, DefaultDeclarationsPerMinute)
	def(&c.MaxPendingDeclarations, DefaultMaxPendingDeclarations)
	def(&c.MaxWtxids, DefaultMaxWtxids)
	def(&c.MaxProposals, DefaultMaxProposals)
	def(&c.SolutionJobs, DefaultSolutionJobs)
	dur(&c.AllocatedTokenLifetime, DefaultAllocatedTokenLifetime)
	dur(&c.ActiveTokenLifetime, DefaultActiveTokenLifetime)
	dur(&c.ProposalTimeout, DefaultProposalTimeout)
	dur(&c.MissingTxsTimeout, DefaultMissingTxsTimeout)
	dur(&c.TipWait, DefaultTipWait)
	dur(&c.SubmitTimeout, DefaultSubmitTimeout)
	return c
}

// Validate reports every invalid field (after defaults are applied).
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("jd: "+format, args...))
	}
	for _, v := range []struct {
		name string
		v    int
	}{{"handshake_concurrency", c.HandshakeConcurrency}, {"max_tokens_per_conn", c.MaxTokensPerConn},
		{"allocations_per_minute", c.AllocationsPerMinute}, {"declarations_per_minute", c.DeclarationsPerMinute},
		{"max_pending_declarations", c.MaxPendingDeclarations}, {"max_proposals", c.MaxProposals},
		{"solution_jobs", c.SolutionJobs}} {
		if v.v < 1 {
			bad("%s %d must be at least 1", v.name, v.v)
		}
	}
	for _, err := range c.Limits.Validate(4, "a reply and a ProvideMissingTransactions can be queued at once") {
		bad("%v", err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"allocated_token_lifetime", c.AllocatedTokenLifetime},
		{"active_token_lifetime", c.ActiveTokenLifetime}, {"proposal_timeout", c.ProposalTimeout},
		{"missing_txs_timeout", c.MissingTxsTimeout}, {"submit_timeout", c.SubmitTimeout},
		{"tip_wait", c.TipWait}} {
		if d.v <= 0 {
			bad("%s %s must be positive", d.name, d.v)
		}
	}
	if c.MaxWtxids < 0 || c.MaxWtxids > 0xffff {
		bad("max_wtxids %d not in [0, 65535]", c.MaxWtxids)
	}
	if c.MaxFrameLength < 64<<10 || c.MaxFrameLength > 1<<24-1 {
		bad("max_frame_length %d not in [%d, %d]", c.MaxFrameLength, 64<<10, 1<<24-1)
	}
	return errors.Join(errs...)
}
