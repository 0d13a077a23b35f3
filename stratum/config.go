package stratum

import (
	"errors"
	"fmt"
	"time"

	"github.com/adit-pool/adit/stratum/srvconf"
)

// Config configures a Server. Zero fields take the defaults of WithDefaults.
type Config struct {
	// Listen is the TCP address Run listens on (Serve ignores it).
	Listen string
	// MaxLineBytes bounds one JSON line; a longer line drops the connection.
	MaxLineBytes int
	// Limits: connection limits, deadlines and the send queue, as on every
	// Stratum listener. The handshake is mining.subscribe and
	// mining.authorize; some firmware waits before authorizing, hence a
	// longer default than on the V2 ports.
	srvconf.Limits
	// VersionMask is the pool's BIP310 version-rolling mask (0 disables).
	VersionMask uint32
	// StartDifficulty is informational only: the Backend's vardiff owns the
	// starting difficulty.
	StartDifficulty float64
	// Extranonce2Size is the extranonce2 size miners are given (default 8,
	// the most common firmware handles). When a job's extranonce area leaves
	// more room after the allocated prefix, extranonce1 is the prefix
	// padded with zero bytes.
	Extranonce2Size int
}

// defaultLimits are the listener defaults of WithDefaults.
var defaultLimits = srvconf.Limits{
	MaxConns: DefaultMaxConns, MaxConnsPerIP: DefaultMaxConnsPerIP, HandshakeTimeout: DefaultHandshakeTimeout,
	IdleTimeout: DefaultIdleTimeout, WriteTimeout: DefaultWriteTimeout, SendQueue: DefaultSendQueue,
}

// Defaults applied by WithDefaults.
const (
	DefaultListen           = ":3333"
	DefaultMaxLineBytes     = 16 << 10
	DefaultMaxConns         = 100000
	DefaultMaxConnsPerIP    = 10000
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultWriteTimeout     = 10 * time.Second
	DefaultSendQueue        = 64
	DefaultVersionMask      = 0x1fffe000
	DefaultExtranonce2Size  = 8
)

// minLineBytes is the smallest MaxLineBytes that fits real subscribe and
// submit lines.
const minLineBytes = 512

// WithDefaults returns c with every zero field set to its default.
// VersionMask 0 becomes the default mask; there is no way to express "no
// rolling" other than a mask the miner cannot use, which is intended: every
// current ASIC rolls versions.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	c.Limits = c.Limits.WithDefaults(defaultLimits)
	if c.VersionMask == 0 {
		c.VersionMask = DefaultVersionMask
	}
	if c.Extranonce2Size == 0 {
		c.Extranonce2Size = DefaultExtranonce2Size
	}
	return c
}

// Validate reports every invalid field (after defaults are applied).
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("stratum: "+format, args...))
	}
	if c.MaxLineBytes < minLineBytes {
		bad("max_line_bytes %d is below the minimum %d", c.MaxLineBytes, minLineBytes)
	}
	for _, err := range c.Limits.Validate(4, "a reply, set_difficulty and notify can be queued at once") {
		bad("%v", err)
	}
	if c.Extranonce2Size < 2 || c.Extranonce2Size > MaxExtranonce2Size {
		bad("extranonce2_size %d is not in [2, %d]", c.Extranonce2Size, MaxExtranonce2Size)
	}
	if c.StartDifficulty < 0 {
		bad("start_difficulty %g must not be negative", c.StartDifficulty)
	}
	return errors.Join(errs...)
}
