package stratum

import (
	"errors"
	"fmt"
	"time"
)

// Config configures a Server. Zero fields take the defaults of WithDefaults.
type Config struct {
	// Listen is the TCP address Run listens on (Serve ignores it).
	Listen string
	// MaxLineBytes bounds one JSON line; a longer line drops the connection.
	MaxLineBytes int
	// MaxConns bounds concurrent connections, MaxConnsPerIP those from one
	// remote IP. Connections over either limit are closed at once.
	MaxConns, MaxConnsPerIP int
	// HandshakeTimeout is how long a connection may take to subscribe and
	// authorize; IdleTimeout the longest silence from a miner (read deadline);
	// WriteTimeout the deadline of each write, and the longest a reply waits
	// for room in the send queue.
	HandshakeTimeout, IdleTimeout, WriteTimeout time.Duration
	// SendQueue is the per-session outgoing message queue. While it is full
	// the session reads no more requests (backpressure); a miner that reads
	// nothing it is sent for WriteTimeout is a slow consumer and is dropped.
	SendQueue int
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
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.SendQueue == 0 {
		c.SendQueue = DefaultSendQueue
	}
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
	if c.MaxConns < 1 {
		bad("max_conns %d must be at least 1", c.MaxConns)
	}
	if c.Extranonce2Size < 2 || c.Extranonce2Size > MaxExtranonce2Size {
		bad("extranonce2_size %d is not in [2, %d]", c.Extranonce2Size, MaxExtranonce2Size)
	}
	if c.MaxConnsPerIP < 1 {
		bad("max_conns_per_ip %d must be at least 1", c.MaxConnsPerIP)
	} else if c.MaxConnsPerIP > c.MaxConns {
		bad("max_conns_per_ip %d exceeds max_conns %d", c.MaxConnsPerIP, c.MaxConns)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"handshake_timeout", c.HandshakeTimeout}, {"idle_timeout", c.IdleTimeout}, {"write_timeout", c.WriteTimeout}} {
		if d.v <= 0 {
			bad("%s %s must be positive", d.name, d.v)
		}
	}
	if c.SendQueue < 4 {
		bad("send_queue %d must be at least 4 (a reply, set_difficulty and notify can be queued at once)", c.SendQueue)
	}
	if c.StartDifficulty < 0 {
		bad("start_difficulty %g must not be negative", c.StartDifficulty)
	}
	return errors.Join(errs...)
}
