package acceptloop

import (
	"context"
	"errors"
	"net"
	"time"
)

// Backoff bounds: after a transient accept error Run waits twice as long as
// after the previous one, from MinBackoff up to MaxBackoff; a successful
// accept resets it.
const (
	MinBackoff = 5 * time.Millisecond
	MaxBackoff = time.Second
)

// Run accepts connections on ln and passes each to handle, which runs on
// the accept goroutine and so must not block (it starts the connection's own
// goroutines). When ctx ends Run closes ln and returns nil. If ln is closed
// otherwise, Run returns net.ErrClosed (wrapped as Accept returned it). Other
// accept errors (EMFILE, ECONNABORTED, ...) are transient: Run calls
// onTransient (if not nil) with the error and the backoff, waits and goes on.
func Run(ctx context.Context, ln net.Listener, onTransient func(err error, backoff time.Duration), handle func(net.Conn)) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
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
			backoff = min(max(2*backoff, MinBackoff), MaxBackoff)
			if onTransient != nil {
				onTransient(err, backoff)
			}
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
		handle(c)
	}
}
