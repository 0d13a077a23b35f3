package noise

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// Handshake results, as the servers' bounded metric label values (see
// Result).
const (
	ResultOK        = "ok"
	ResultTimeout   = "timeout"
	ResultTruncated = "truncated"
	ResultInvalid   = "invalid"
	ResultShutdown  = "shutdown"
	ResultError     = "error"
)

// Results returns every handshake result, for pre-initialising label sets.
func Results() []string {
	return []string{ResultOK, ResultTimeout, ResultTruncated, ResultInvalid, ResultShutdown, ResultError}
}

// Result classifies a Gate.Handshake error; ctx is the server's (its end
// makes any failure a shutdown).
func Result(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return ResultOK
	case ctx.Err() != nil:
		return ResultShutdown
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return ResultTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ResultTruncated
	case errors.Is(err, ErrInvalidKey), errors.Is(err, ErrDecrypt):
		return ResultInvalid
	}
	return ResultError
}

// Gate runs a listener's responder handshakes, at most a fixed number at
// once, off the accept loop: shared by the mining and Job Declaration
// servers. It is safe for concurrent use.
type Gate struct {
	sem chan struct{}
	r   Responder
}

// NewGate returns a Gate running up to n handshakes at once with r (whose
// Timeout is replaced per handshake by what remains until its deadline).
func NewGate(n int, r Responder) *Gate {
	return &Gate{sem: make(chan struct{}, n), r: r}
}

// Handshake waits for a slot, then runs the responder handshake on c, both
// before deadline (accept time plus the handshake timeout) and ctx's end.
// On error the caller closes c; classify the error with Result.
func (g *Gate) Handshake(ctx context.Context, c net.Conn, deadline time.Time) (*Conn, error) {
	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	select {
	case g.sem <- struct{}{}:
	case <-hctx.Done():
		return nil, hctx.Err()
	}
	defer func() { <-g.sem }()
	r := g.r
	if r.Timeout = time.Until(deadline); r.Timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	return r.Handshake(hctx, c)
}
