package sv2_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/noise"
)

// TestRequestExtensionsRefused: a client that asks for extensions right
// after SetupConnection.Success, as SRI's translator does, gets
// RequestExtensions.Error listing them all as unsupported (Adit supports
// and requires none), and the connection goes on to mine.
func TestRequestExtensionsRefused(t *testing.T) {
	b := newTestBackend(share.NewValidator(share.ValidatorConfig{}), 1)
	b.Publish(sharetest.Job(1, 1, time.Now(), sharetest.HardBits))
	e := startServer(t, sv2.Config{}, b)
	auth := e.authority
	c, err := client.Dial(context.Background(), e.addr(), client.Config{Authority: &auth,
		Extensions: []uint16{0x0002, 0x0003}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	want := &client.ExtensionsReply{Unsupported: []uint16{0x0002, 0x0003}}
	if got := c.Extensions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Extensions() = %+v, want %+v", got, want)
	}
	ch, err := c.OpenStandard(context.Background(), "addr.w", 0)
	if err != nil {
		t.Fatal(err)
	}
	nextWork(t, c, ch.ID)
}

// TestExtensionFramesAfterSetup: after SetupConnection, extension frames
// are handled as the SRI pool handles them: RequestExtensions is answered
// (an empty request too, with an empty Error), while frames of an unknown
// extension, RequestExtensions replies sent by a client and undecodable
// Extensions Negotiation payloads are counted and ignored without closing
// the connection.
func TestExtensionFramesAfterSetup(t *testing.T) {
	b := newTestBackend(share.NewValidator(share.ValidatorConfig{}), 1)
	b.Publish(sharetest.Job(1, 1, time.Now(), sharetest.HardBits))
	e := startServer(t, sv2.Config{}, b)
	nc := rawNoise(t, e)
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	write := func(h codec.Header, payload []byte) {
		t.Helper()
		if err := nc.WriteFrame(h, payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.WriteMessage(&codec.SetupConnection{MinVersion: 2, MaxVersion: 2}); err != nil {
		t.Fatal(err)
	}
	if _, m, err := nc.ReadMessage(); err != nil {
		t.Fatal(err)
	} else if _, ok := m.(*codec.SetupConnectionSuccess); !ok {
		t.Fatalf("setup: %T", m)
	}

	// RequestExtensions, written out by hand: extension_type 0x0001, no
	// channel bit, msg_type 0x00, request_id 0x0201, no extensions.
	write(codec.Header{ExtensionType: 0x0001, MsgType: 0x00, Length: 4}, []byte{0x01, 0x02, 0, 0})
	expectReply(t, nc, &codec.RequestExtensionsError{RequestID: 0x0201})

	write(codec.Header{ExtensionType: 0x0002, MsgType: 0x00, Length: 2}, []byte{1, 2})             // unknown extension
	write(codec.Header{ExtensionType: 0x8002, MsgType: 0x01, Length: 0}, nil)                      // unknown extension, channel bit
	write(codec.Header{ExtensionType: 0x0001, MsgType: 0x03, Length: 0}, nil)                      // unknown message of 0x0001
	write(codec.Header{ExtensionType: 0x0001, MsgType: 0x01, Length: 6}, []byte{1, 0, 1, 0, 2, 0}) // Success from a client
	write(codec.Header{ExtensionType: 0x0001, MsgType: 0x00, Length: 3}, []byte{1, 0, 1})          // truncated RequestExtensions
	if err := nc.WriteMessage(&codec.RequestExtensions{RequestID: 9, RequestedExtensions: []uint16{0x0001, 0x0002}}); err != nil {
		t.Fatal(err)
	}
	// The next frame answers the last request: nothing else was answered.
	expectReply(t, nc, &codec.RequestExtensionsError{RequestID: 9, UnsupportedExtensions: []uint16{0x0001, 0x0002}})
	if got := e.metric("adit_sv2_protocol_errors_total", "reason", "unknown_extension"); got != 3 {
		t.Errorf("unknown_extension = %v, want 3", got)
	}
	if got := e.metric("adit_sv2_protocol_errors_total", "reason", "ignored_extension_message"); got != 2 {
		t.Errorf("ignored_extension_message = %v, want 2", got)
	}
	if got := e.metric("adit_sv2_disconnects_total", "reason", "protocol_error"); got != 0 {
		t.Errorf("protocol_error disconnects = %v, want 0", got)
	}
}

// expectReply reads one message and checks it is want, sent as the SRI pool
// sends it (extension_type 0x0001 without the channel bit).
func expectReply(t *testing.T, nc *noise.Conn, want codec.Message) {
	t.Helper()
	h, m, err := nc.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if h.ExtensionType != codec.ExtensionNegotiation || !reflect.DeepEqual(m, want) {
		t.Fatalf("got %+v %#v, want %#v", h, m, want)
	}
}

// TestRequestExtensionsBeforeSetup: like any frame other than
// SetupConnection, RequestExtensions before SetupConnection ends the
// connection, as in the SRI pool.
func TestRequestExtensionsBeforeSetup(t *testing.T) {
	b := newTestBackend(share.NewValidator(share.ValidatorConfig{}), 1)
	e := startServer(t, sv2.Config{}, b)
	nc := rawNoise(t, e)
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := nc.WriteMessage(&codec.RequestExtensions{RequestID: 1, RequestedExtensions: []uint16{2}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := nc.ReadFrame(); err == nil {
		t.Fatal("connection not closed")
	}
	if got := e.metric("adit_sv2_protocol_errors_total", "reason", "no_setup_connection"); got != 1 {
		t.Errorf("no_setup_connection = %v, want 1", got)
	}
}
