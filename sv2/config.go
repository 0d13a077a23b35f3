package sv2

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/adit-pool/adit/stratum/srvconf"
)

// Config configures a Server. Zero fields take the defaults of WithDefaults.
type Config struct {
	// Listen is the TCP address of the Noise-encrypted listener.
	Listen string
	// PlaintextListen, when set, also serves unencrypted SV2 frames on this
	// address (as SRI's test_only_listen_adress_plain). For tests only; off
	// by default, and never defaulted.
	PlaintextListen string
	// Limits: connection limits (both listeners together), deadlines and
	// the send queue, as on every Stratum listener. HandshakeTimeout bounds,
	// from accept, the Noise handshake and then, separately, the time until
	// SetupConnection and a first open channel. The send queue is longer
	// than on V1: one connection may carry many channels (a proxy), each
	// sent every job.
	srvconf.Limits
	// HandshakeConcurrency bounds the Noise handshakes in progress; a
	// connection waits for a slot within its HandshakeTimeout.
	HandshakeConcurrency int
	// SuccessBatch is how many accepted shares one SubmitShares.Success
	// acknowledges at most; SuccessInterval is the longest an accepted share
	// waits for its acknowledgement. A block is acknowledged at once.
	SuccessBatch    int
	SuccessInterval time.Duration
	// VersionMask is the header version bits miners may roll. The default
	// 0x1fffffe0 (BIP323) includes the older BIP320 0x1fffe000, so miners
	// using either are accepted.
	VersionMask uint32
	// SharesPerMinute converts a channel's nominal_hash_rate into a
	// suggested difficulty for the Backend's vardiff (which clamps it).
	SharesPerMinute float64
	// MaxFrameLength bounds an incoming frame's msg_length; a longer frame
	// drops the connection before its payload is read.
	MaxFrameLength int
}

// defaultLimits are the listener defaults of WithDefaults.
var defaultLimits = srvconf.Limits{
	MaxConns: DefaultMaxConns, MaxConnsPerIP: DefaultMaxConnsPerIP, HandshakeTimeout: DefaultHandshakeTimeout,
	IdleTimeout: DefaultIdleTimeout, WriteTimeout: DefaultWriteTimeout, SendQueue: DefaultSendQueue,
}

// Defaults applied by WithDefaults.
const (
	DefaultListen               = ":34254" // the SRI pool's default port
	DefaultMaxConns             = 100000
	DefaultMaxConnsPerIP        = 10000
	DefaultHandshakeConcurrency = 256
	DefaultHandshakeTimeout     = 10 * time.Second
	DefaultIdleTimeout          = 10 * time.Minute
	DefaultWriteTimeout         = 10 * time.Second
	DefaultSendQueue            = 256
	DefaultSuccessBatch         = 10
	DefaultSuccessInterval      = 2 * time.Second
	DefaultVersionMask          = 0x1fffffe0
	DefaultSharesPerMinute      = 6
	DefaultMaxFrameLength       = 64 << 10
)

// WithDefaults returns c with every zero field (except PlaintextListen) set
// to its default.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	c.Limits = c.Limits.WithDefaults(defaultLimits)
	if c.HandshakeConcurrency == 0 {
		c.HandshakeConcurrency = DefaultHandshakeConcurrency
	}
	if c.SuccessBatch == 0 {
		c.SuccessBatch = DefaultSuccessBatch
	}
	if c.SuccessInterval == 0 {
		c.SuccessInterval = DefaultSuccessInterval
	}
	if c.VersionMask == 0 {
		c.VersionMask = DefaultVersionMask
	}
	if c.SharesPerMinute == 0 {
		c.SharesPerMinute = DefaultSharesPerMinute
	}
	if c.MaxFrameLength == 0 {
		c.MaxFrameLength = DefaultMaxFrameLength
	}
	return c
}

// minFrameLength fits the largest mining message a client sends
// (SetupConnection with five full strings is about 1.3 KiB).
const minFrameLength = 2048

// Validate reports every invalid field (after defaults are applied).
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("sv2: "+format, args...))
	}
	for _, err := range c.Limits.Validate(8, "a channel open queues four messages") {
		bad("%v", err)
	}
	if c.HandshakeConcurrency < 1 {
		bad("handshake_concurrency %d must be at least 1", c.HandshakeConcurrency)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"success_interval", c.SuccessInterval}} {
		if d.v <= 0 {
			bad("%s %s must be positive", d.name, d.v)
		}
	}
	if c.SuccessBatch < 1 {
		bad("success_batch %d must be at least 1", c.SuccessBatch)
	}
	if !(c.SharesPerMinute > 0) {
		bad("shares_per_minute %g must be positive", c.SharesPerMinute)
	}
	if c.MaxFrameLength < minFrameLength || c.MaxFrameLength > 1<<24-1 {
		bad("max_frame_length %d not in [%d, %d]", c.MaxFrameLength, minFrameLength, 1<<24-1)
	}
	if c.PlaintextListen != "" && c.PlaintextListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		bad("plaintext_listen %q must differ from listen", c.PlaintextListen)
	}
	return errors.Join(errs...)
}
