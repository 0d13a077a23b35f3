// Package sv2test holds test helpers for scripted SV2 peers: a frame
// connection that reads and writes whole decoded messages and fails the
// test on any error. Tests only.
package sv2test

import (
	"net"
	"testing"

	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/codec"
)

// Peer is the scripted side of a plaintext SV2 frame connection.
type Peer struct {
	T  testing.TB
	FC sv2.FrameConn
}

// Accept takes the next connection on ln as a plaintext frame connection;
// it is closed by t.Cleanup.
func Accept(t testing.TB, ln net.Listener) *Peer {
	t.Helper()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &Peer{T: t, FC: sv2.NewPlainConn(nc, 1<<20)}
}

// Read reads and decodes the next message.
func (p *Peer) Read() codec.Message {
	p.T.Helper()
	h, payload, err := p.FC.ReadFrame()
	if err != nil {
		p.T.Fatal(err)
	}
	m, err := codec.DecodeMessage(h, payload)
	if err != nil {
		p.T.Fatal(err)
	}
	return m
}

// Send encodes and writes m.
func (p *Peer) Send(m codec.Message) {
	p.T.Helper()
	payload, err := codec.Marshal(m)
	if err != nil {
		p.T.Fatal(err)
	}
	if err := p.FC.WriteFrame(codec.HeaderFor(m, len(payload)), payload); err != nil {
		p.T.Fatal(err)
	}
}

// Listen returns a loopback listener closed by t.Cleanup.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
