package sv2

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/noise"
)

// FrameConn carries whole SV2 frames: *noise.Conn, or PlainConn on the
// test-only plaintext listener. One goroutine may read while another writes.
type FrameConn interface {
	ReadFrame() (codec.Header, []byte, error)
	WriteFrame(h codec.Header, payload []byte) error
	Close() error
	RemoteAddr() net.Addr
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

var _ FrameConn = (*noise.Conn)(nil)

// PlainConn is an unencrypted SV2 frame connection (6-byte header, then the
// payload), as SRI's test-only plaintext port speaks it.
type PlainConn struct {
	nc       net.Conn
	maxFrame uint32

	rmu sync.Mutex
	hdr [codec.HeaderSize]byte

	wmu  sync.Mutex
	wbuf []byte
}

// NewPlainConn wraps nc; frames longer than maxFrame fail ReadFrame with
// noise.ErrFrameTooLarge before the payload is read.
func NewPlainConn(nc net.Conn, maxFrame int) *PlainConn {
	return &PlainConn{nc: nc, maxFrame: uint32(maxFrame)}
}

// ReadFrame reads one frame; the payload is freshly allocated.
func (c *PlainConn) ReadFrame() (codec.Header, []byte, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if _, err := io.ReadFull(c.nc, c.hdr[:]); err != nil {
		return codec.Header{}, nil, err
	}
	h, err := codec.ParseHeader(c.hdr[:])
	if err != nil {
		return codec.Header{}, nil, err
	}
	if h.Length > c.maxFrame {
		return h, nil, fmt.Errorf("%w: msg_length %d, max %d", noise.ErrFrameTooLarge, h.Length, c.maxFrame)
	}
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(c.nc, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, err
	}
	return h, payload, nil
}

// WriteFrame writes one frame with msg_length = len(payload).
func (c *PlainConn) WriteFrame(h codec.Header, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	h.Length = uint32(len(payload))
	buf, err := h.AppendTo(c.wbuf[:0])
	if err != nil {
		return err
	}
	buf = append(buf, payload...)
	if cap(buf) <= 64<<10 {
		c.wbuf = buf
	}
	_, err = c.nc.Write(buf)
	return err
}

// Close closes the connection.
func (c *PlainConn) Close() error { return c.nc.Close() }

// RemoteAddr returns the peer address.
func (c *PlainConn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetReadDeadline sets the read deadline.
func (c *PlainConn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (c *PlainConn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// writeMessage encodes m and writes it as one frame.
func writeMessage(c FrameConn, m codec.Message) error {
	payload, err := codec.Marshal(m)
	if err != nil {
		return err
	}
	return c.WriteFrame(codec.HeaderFor(m, len(payload)), payload)
}
