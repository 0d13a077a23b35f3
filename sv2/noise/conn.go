package noise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/keys"
)

// Transport framing constants.
const (
	// MaxChunkPlaintext is the largest payload chunk sealed at once; with
	// its tag it fills a 65535-byte ciphertext chunk.
	MaxChunkPlaintext = 65535 - TagSize
	// EncryptedHeaderSize is the sealed 6-byte frame header.
	EncryptedHeaderSize = codec.HeaderSize + TagSize
	// DefaultMaxFrameLength bounds msg_length when no limit is configured;
	// mining messages are far smaller. Job Declaration servers that accept
	// large transaction lists should raise it (at most codec.MaxU24).
	DefaultMaxFrameLength = 1 << 20
	// DefaultHandshakeTimeout bounds a whole handshake when none is set.
	DefaultHandshakeTimeout = 10 * time.Second
)

// CiphertextLen returns the number of ciphertext bytes that carry a payload
// of n plaintext bytes: n plus one tag per chunk of up to MaxChunkPlaintext
// bytes, and 0 for an empty payload.
func CiphertextLen(n int) int {
	chunks := (n + MaxChunkPlaintext - 1) / MaxChunkPlaintext
	return n + chunks*TagSize
}

// Initiator is the client side of the handshake (a miner or proxy). The zero
// value is not usable: set Authority, or InsecureSkipVerify for tests.
type Initiator struct {
	// Authority is the pool authority public key the server certificate
	// must be signed by.
	Authority *keys.PublicKey
	// InsecureSkipVerify skips certificate verification (as SRI does when no
	// authority key is configured). Never set it in production.
	InsecureSkipVerify bool
	// Now is the clock for the certificate validity window (nil: time.Now).
	Now func() time.Time
	// Rand supplies the ephemeral key (nil: crypto/rand.Reader).
	Rand io.Reader
	// Timeout bounds the handshake (0: DefaultHandshakeTimeout).
	Timeout time.Duration
	// MaxFrameLength bounds incoming frames (0: DefaultMaxFrameLength).
	MaxFrameLength uint32
}

// Handshake runs the initiator side over nc and returns the encrypted
// connection. The handshake ends at the earlier of Timeout and ctx's
// cancellation; on error the caller still owns nc and should close it.
// Errors are *HandshakeError.
func (in *Initiator) Handshake(ctx context.Context, nc net.Conn) (*Conn, error) {
	fail := func(step string, err error) (*Conn, error) {
		return nil, &HandshakeError{Role: "initiator", Step: step, Err: err}
	}
	if in.Authority == nil && !in.InsecureSkipVerify {
		return fail("configure", fmt.Errorf("%w: no authority key", ErrConfig))
	}
	stop, err := armDeadline(ctx, nc, in.Timeout)
	if err != nil {
		return fail("set deadline", err)
	}
	defer stop()

	var hs initiatorHandshake
	act1, err := hs.start(randReader(in.Rand))
	if err != nil {
		return fail("generate ephemeral key", err)
	}
	if _, err := nc.Write(act1[:]); err != nil {
		return fail("write act 1", ctxErr(ctx, err))
	}
	var act2 [Act2Size]byte
	if _, err := io.ReadFull(nc, act2[:]); err != nil {
		return fail("read act 2", ctxErr(ctx, err))
	}
	res, err := hs.finish(act2[:])
	if err != nil {
		return fail("process act 2", err)
	}
	if !in.InsecureSkipVerify {
		if err := res.cert.Verify(*in.Authority, res.remoteStatic, nowFunc(in.Now)()); err != nil {
			return fail("verify certificate", err)
		}
	}
	if err := stop(); err != nil {
		return fail("clear deadline", err)
	}
	return newConn(nc, res, in.MaxFrameLength), nil
}

// Responder is the server side of the handshake. It is safe for concurrent
// use by many handshakes if Keys and Rand are.
type Responder struct {
	// Keys supplies the certified static key (required).
	Keys KeySource
	// Rand supplies ephemeral keys (nil: crypto/rand.Reader).
	Rand io.Reader
	// Timeout bounds the handshake (0: DefaultHandshakeTimeout).
	Timeout time.Duration
	// MaxFrameLength bounds incoming frames (0: DefaultMaxFrameLength).
	MaxFrameLength uint32
}

// Handshake runs the responder side over nc and returns the encrypted
// connection. The handshake ends at the earlier of Timeout and ctx's
// cancellation; on error the caller still owns nc and should close it.
// Errors are *HandshakeError.
func (r *Responder) Handshake(ctx context.Context, nc net.Conn) (*Conn, error) {
	fail := func(step string, err error) (*Conn, error) {
		return nil, &HandshakeError{Role: "responder", Step: step, Err: err}
	}
	if r.Keys == nil {
		return fail("configure", fmt.Errorf("%w: no static key source", ErrConfig))
	}
	static, err := r.Keys.CertifiedKey()
	if err != nil {
		return fail("static key", err)
	}
	stop, err := armDeadline(ctx, nc, r.Timeout)
	if err != nil {
		return fail("set deadline", err)
	}
	defer stop()

	var act1 [Act1Size]byte
	if _, err := io.ReadFull(nc, act1[:]); err != nil {
		return fail("read act 1", ctxErr(ctx, err))
	}
	act2, res, err := respond(randReader(r.Rand), static, act1[:])
	if err != nil {
		return fail("process act 1", err)
	}
	if _, err := nc.Write(act2); err != nil {
		return fail("write act 2", ctxErr(ctx, err))
	}
	if err := stop(); err != nil {
		return fail("clear deadline", err)
	}
	return newConn(nc, res, r.MaxFrameLength), nil
}

// armDeadline sets nc's deadline to now+timeout and arranges for ctx's
// cancellation to expire it at once. The returned stop function (idempotent)
// detaches from ctx and clears the deadline.
func armDeadline(ctx context.Context, nc net.Conn, timeout time.Duration) (func() error, error) {
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	if err := nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	detach := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			if !detach() && ctx.Err() != nil {
				err = ctx.Err()
				return
			}
			err = nc.SetDeadline(time.Time{})
		})
		return err
	}, nil
}

// ctxErr prefers the context's error when it caused an I/O failure.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// Conn is an established Noise transport carrying whole SV2 frames. One
// goroutine may read while another writes; concurrent reads (or concurrent
// writes) are serialized. After a read error the read side stays failed (the
// stream cannot resynchronize); likewise for writes. Deadlines are those of
// the underlying net.Conn.
type Conn struct {
	nc       net.Conn
	maxFrame uint32
	cert     *Certificate
	h        [32]byte

	rmu     sync.Mutex
	recv    cipherState
	rerr    error
	hdr     [EncryptedHeaderSize]byte
	scratch []byte // one ciphertext chunk, allocated on first use

	wmu  sync.Mutex
	send cipherState
	werr error
	wbuf []byte
}

func newConn(nc net.Conn, res handshakeResult, maxFrame uint32) *Conn {
	if maxFrame == 0 {
		maxFrame = DefaultMaxFrameLength
	}
	maxFrame = min(maxFrame, codec.MaxU24)
	return &Conn{nc: nc, maxFrame: maxFrame, cert: res.cert, h: res.h, send: res.send, recv: res.recv}
}

// Certificate returns the verified server certificate on the initiator
// side, nil on the responder side.
func (c *Conn) Certificate() *Certificate { return c.cert }

// HandshakeHash returns the final handshake hash h (a channel binding).
func (c *Conn) HandshakeHash() [32]byte { return c.h }

// ReadFrame reads, decrypts and returns one frame. The returned payload is
// freshly allocated and owned by the caller. A msg_length above the maximum
// fails with ErrFrameTooLarge before the payload is read or allocated.
func (c *Conn) ReadFrame() (codec.Header, []byte, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rerr != nil {
		return codec.Header{}, nil, c.rerr
	}
	h, payload, err := c.readFrame()
	if err != nil {
		c.rerr = err
		return codec.Header{}, nil, err
	}
	return h, payload, nil
}

func (c *Conn) readFrame() (codec.Header, []byte, error) {
	if _, err := io.ReadFull(c.nc, c.hdr[:]); err != nil {
		return codec.Header{}, nil, err
	}
	var plain [codec.HeaderSize]byte
	if _, err := c.recv.decrypt(plain[:0], nil, c.hdr[:]); err != nil {
		return codec.Header{}, nil, fmt.Errorf("frame header: %w", err)
	}
	h, err := codec.ParseHeader(plain[:])
	if err != nil {
		return codec.Header{}, nil, err
	}
	if h.Length > c.maxFrame {
		return h, nil, fmt.Errorf("%w: msg_length %d, max %d", ErrFrameTooLarge, h.Length, c.maxFrame)
	}
	payload := make([]byte, 0, h.Length)
	for remaining := int(h.Length); remaining > 0; {
		n := min(remaining, MaxChunkPlaintext)
		if c.scratch == nil {
			c.scratch = make([]byte, MaxChunkPlaintext+TagSize)
		}
		ct := c.scratch[:n+TagSize]
		if _, err := io.ReadFull(c.nc, ct); err != nil {
			return h, nil, fmt.Errorf("frame payload: %w", unexpectedEOF(err))
		}
		if payload, err = c.recv.decrypt(payload, nil, ct); err != nil {
			return h, nil, fmt.Errorf("frame payload: %w", err)
		}
		remaining -= n
	}
	return h, payload, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// WriteFrame encrypts and writes one frame: h.ExtensionType and h.MsgType
// as given, msg_length = len(payload) (h.Length is ignored). Frames longer
// than codec.MaxU24 fail with codec.ErrTooLong.
func (c *Conn) WriteFrame(h codec.Header, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	if len(payload) > codec.MaxU24 {
		return &codec.FieldError{Message: "header", Field: "msg_length", Err: codec.ErrTooLong, Detail: fmt.Sprintf("%d", len(payload))}
	}
	h.Length = uint32(len(payload))
	if err := c.writeFrame(h, payload); err != nil {
		c.werr = err
		return err
	}
	return nil
}

// WriteMessage encodes m and writes it as one frame, with the channel bit
// set according to the message table.
func (c *Conn) WriteMessage(m codec.Message) error {
	payload, err := codec.Marshal(m)
	if err != nil {
		return err
	}
	return c.WriteFrame(codec.HeaderFor(m, len(payload)), payload)
}

// ReadMessage reads one frame and decodes it. A frame that fails to decode
// is returned as an error with its header; the connection stays usable.
func (c *Conn) ReadMessage() (codec.Header, codec.Message, error) {
	h, payload, err := c.ReadFrame()
	if err != nil {
		return h, nil, err
	}
	m, err := codec.DecodeMessage(h, payload)
	return h, m, err
}

// maxRetainedWriteBuffer caps the write buffer kept between frames.
const maxRetainedWriteBuffer = 64 << 10

func (c *Conn) writeFrame(h codec.Header, payload []byte) error {
	var plain [codec.HeaderSize]byte
	hb, err := h.AppendTo(plain[:0])
	if err != nil {
		return err
	}
	buf := c.wbuf[:0]
	if need := EncryptedHeaderSize + CiphertextLen(len(payload)); cap(buf) < need {
		buf = make([]byte, 0, need)
	}
	if buf, err = c.send.encrypt(buf, nil, hb); err != nil {
		return err
	}
	for off := 0; off < len(payload); off += MaxChunkPlaintext {
		end := min(off+MaxChunkPlaintext, len(payload))
		if buf, err = c.send.encrypt(buf, nil, payload[off:end]); err != nil {
			return err
		}
	}
	if cap(buf) <= maxRetainedWriteBuffer {
		c.wbuf = buf
	} else {
		c.wbuf = nil
	}
	_, err = c.nc.Write(buf)
	return err
}

// Close closes the underlying connection.
func (c *Conn) Close() error { return c.nc.Close() }

// LocalAddr returns the underlying connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the underlying connection's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetDeadline sets the underlying read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// SetReadDeadline sets the underlying read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// SetWriteDeadline sets the underlying write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }
