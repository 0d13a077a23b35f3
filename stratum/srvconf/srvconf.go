// Package srvconf holds the settings every Stratum listener shares (the V1
// and V2 mining ports and the Job Declaration port): connection limits, the
// handshake, idle and write deadlines and the send queue, with one way to
// default and validate them. Each server embeds Limits in its Config and
// passes its own defaults, which differ where the protocols do.
package srvconf

import (
	"fmt"
	"time"
)

// Limits are a listener's connection limits and deadlines.
type Limits struct {
	// MaxConns bounds concurrent connections, MaxConnsPerIP those from
	// one remote IP; a connection over either is closed at once.
	MaxConns, MaxConnsPerIP int
	// HandshakeTimeout bounds the time from accept to a usable session
	// (the protocol says what that is); IdleTimeout is the longest silence
	// from the peer (the read deadline); WriteTimeout is the deadline of
	// each write and the longest a reply waits for room in the send queue.
	HandshakeTimeout, IdleTimeout, WriteTimeout time.Duration
	// SendQueue is the per-connection outgoing message queue. While it is
	// full the connection reads nothing more (backpressure); a peer that
	// reads nothing for WriteTimeout is a slow consumer and is dropped.
	SendQueue int
}

// WithDefaults returns l with every zero field taken from d.
func (l Limits) WithDefaults(d Limits) Limits {
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
	def(&l.MaxConns, d.MaxConns)
	def(&l.MaxConnsPerIP, d.MaxConnsPerIP)
	dur(&l.HandshakeTimeout, d.HandshakeTimeout)
	dur(&l.IdleTimeout, d.IdleTimeout)
	dur(&l.WriteTimeout, d.WriteTimeout)
	def(&l.SendQueue, d.SendQueue)
	return l
}

// Validate reports every invalid field, named by its TOML key. minQueue is
// the smallest send queue the protocol works with and why says why (it
// ends the message).
func (l Limits) Validate(minQueue int, why string) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if l.MaxConns < 1 {
		bad("max_conns %d must be at least 1", l.MaxConns)
	}
	if l.MaxConnsPerIP < 1 {
		bad("max_conns_per_ip %d must be at least 1", l.MaxConnsPerIP)
	} else if l.MaxConnsPerIP > l.MaxConns {
		bad("max_conns_per_ip %d exceeds max_conns %d", l.MaxConnsPerIP, l.MaxConns)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"handshake_timeout", l.HandshakeTimeout}, {"idle_timeout", l.IdleTimeout}, {"write_timeout", l.WriteTimeout}} {
		if d.v <= 0 {
			bad("%s %s must be positive", d.name, d.v)
		}
	}
	if l.SendQueue < minQueue {
		bad("send_queue %d must be at least %d (%s)", l.SendQueue, minQueue, why)
	}
	return errs
}
