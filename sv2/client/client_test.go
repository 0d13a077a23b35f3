package client_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/sv2test"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakePool is a scripted plaintext SV2 server for one connection.
type fakePool struct {
	t  *testing.T
	ln net.Listener
	fc sv2.FrameConn
	*sv2test.Peer
}

func newFakePool(t *testing.T) *fakePool {
	t.Helper()
	return &fakePool{t: t, ln: sv2test.Listen(t)}
}

func (p *fakePool) addr() string { return p.ln.Addr().String() }

// accept takes the connection and answers its SetupConnection.
func (p *fakePool) accept() {
	p.t.Helper()
	p.Peer = sv2test.Accept(p.t, p.ln)
	p.fc = p.FC
	if _, ok := p.read().(*codec.SetupConnection); !ok {
		p.t.Fatal("first message is not SetupConnection")
	}
	p.send(&codec.SetupConnectionSuccess{UsedVersion: 2})
}

func (p *fakePool) read() codec.Message  { p.t.Helper(); return p.Read() }
func (p *fakePool) send(m codec.Message) { p.t.Helper(); p.Send(m) }

func dialFake(t *testing.T, p *fakePool) *client.Client {
	t.Helper()
	return dialFakeFlags(t, p, 0)
}

// dialFakeFlags dials p with SetupConnection flags.
func dialFakeFlags(t *testing.T, p *fakePool, flags uint32) *client.Client {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); p.accept() }()
	c, err := client.Dial(context.Background(), p.addr(), client.Config{Plaintext: true, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	<-done
	t.Cleanup(func() { c.Close() })
	return c
}

func nextWork(t *testing.T, c *client.Client) client.Work {
	t.Helper()
	select {
	case w := <-c.Work():
		return w
	case <-time.After(5 * time.Second):
		t.Fatal("no work")
	}
	return client.Work{}
}

// TestExtendedChannelFollowsItsGroup: the SRI pool (sv2-apps, since
// OpenExtendedMiningChannel.Success carries group_channel_id) sends the
// jobs and prev hashes of extended channels to their group channel only,
// after the channel's own first job. The client must hand them to the
// extended channel as extended work with the channel's extranonce layout.
func TestExtendedChannelFollowsItsGroup(t *testing.T) {
	p := newFakePool(t)
	c := dialFake(t, p)
	const group, chID = 1, 2
	opened := make(chan *client.Channel, 1)
	go func() {
		ch, err := c.OpenExtended(context.Background(), "u", 1e12, 4)
		if err != nil {
			t.Error(err)
		}
		opened <- ch
	}()
	req := p.read().(*codec.OpenExtendedMiningChannel)
	var maxTarget codec.U256
	for i := range maxTarget {
		maxTarget[i] = 0xff
	}
	p.send(&codec.OpenExtendedMiningChannelSuccess{RequestID: req.RequestID, ChannelID: chID, Target: maxTarget,
		ExtranonceSize: 8, ExtranoncePrefix: []byte{0, 0, 0, 1}, GroupChannelID: group})
	if ch := <-opened; ch == nil || ch.GroupID != group {
		t.Fatalf("opened %+v", ch)
	}
	job := func(chanID, jobID uint32, prefix byte) *codec.NewExtendedMiningJob {
		return &codec.NewExtendedMiningJob{ChannelID: chanID, JobID: jobID, Version: 0x20000000, VersionRollingAllowed: true,
			CoinbaseTxPrefix: []byte{prefix}, CoinbaseTxSuffix: []byte{0xee}}
	}
	prev := func(chanID, jobID uint32, b byte) *codec.SetNewPrevHash {
		return &codec.SetNewPrevHash{ChannelID: chanID, JobID: jobID, PrevHash: [32]byte{b}, MinNTime: 100, NBits: 0x207fffff}
	}
	// The channel's own first job, then the group's jobs.
	p.send(job(chID, 1, 0xa1))
	p.send(prev(chID, 1, 1))
	if w := nextWork(t, c); w.ChannelID != chID || w.JobID != 1 {
		t.Fatalf("first work %+v", w)
	}
	p.send(job(group, 2, 0xa2))
	p.send(prev(group, 2, 2))
	w := nextWork(t, c)
	if w.ChannelID != chID || w.JobID != 2 || !w.Extended || w.PrevHash != [32]byte{2} ||
		!bytes.Equal(w.CoinbasePrefix, []byte{0xa2}) || !bytes.Equal(w.ExtranoncePrefix, []byte{0, 0, 0, 1}) || w.ExtranonceSize != 8 {
		t.Fatalf("group work %+v", w)
	}
	// A non-future group job on the same tip is active at once.
	nt := uint32(150)
	j3 := job(group, 3, 0xa3)
	j3.MinNTime = &nt
	p.send(j3)
	if w := nextWork(t, c); w.ChannelID != chID || w.JobID != 3 || w.MinNTime != nt || !w.Extended {
		t.Fatalf("same-tip group work %+v", w)
	}
}

// TestReconnectEndsConnection: a Reconnect from the pool ends the
// connection at once (the pool need not close it) with a *ReconnectError
// naming the new address; an empty host or zero port keeps the current one.
func TestReconnectEndsConnection(t *testing.T) {
	p := newFakePool(t)
	c := dialFake(t, p)
	p.send(&codec.Reconnect{NewHost: "pool2.example", NewPort: 3336})
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after Reconnect")
	}
	var re *client.ReconnectError
	if !errors.As(c.Err(), &re) || re.Host != "pool2.example" || re.Port != 3336 || c.Reconnect() == nil {
		t.Fatalf("Err() = %v", c.Err())
	}
	for _, tc := range []struct {
		host    string
		port    uint16
		current string
		want    string
	}{
		{"pool2.example", 3336, "127.0.0.1:34254", "pool2.example:3336"},
		{"", 0, "127.0.0.1:34254", "127.0.0.1:34254"},
		{"", 3336, "pool.example:34254", "pool.example:3336"},
		{"10.1.2.3", 0, "pool.example:34254", "10.1.2.3:34254"},
		{"::1", 0, "[2001:db8::1]:34254", "[::1]:34254"},
	} {
		got := (&client.ReconnectError{Host: tc.host, Port: tc.port}).Target(tc.current)
		if got != tc.want {
			t.Errorf("Reconnect{%q, %d} from %s: %s, want %s", tc.host, tc.port, tc.current, got, tc.want)
		}
	}
}

// TestRequestExtensions: with Config.Extensions, Dial sends
// RequestExtensions (extension 0x0001, no channel bit) right after
// SetupConnection.Success and records the pool's answer; an answer for
// another request_id, or any other message, fails Dial.
func TestRequestExtensions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply func(id uint16) codec.Message
		want  *client.ExtensionsReply
	}{
		{"success", func(id uint16) codec.Message {
			return &codec.RequestExtensionsSuccess{RequestID: id, SupportedExtensions: []uint16{2}}
		}, &client.ExtensionsReply{Accepted: true, Supported: []uint16{2}}},
		{"error", func(id uint16) codec.Message {
			return &codec.RequestExtensionsError{RequestID: id, UnsupportedExtensions: []uint16{3}, RequiredExtensions: []uint16{5}}
		}, &client.ExtensionsReply{Unsupported: []uint16{3}, Required: []uint16{5}}},
		{"other request_id", func(id uint16) codec.Message {
			return &codec.RequestExtensionsError{RequestID: id + 1, UnsupportedExtensions: []uint16{2, 3}}
		}, nil},
		{"not a reply", func(uint16) codec.Message { return &codec.Reconnect{} }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakePool(t)
			done := make(chan struct{})
			go func() {
				defer close(done)
				p.accept()
				h, payload, err := p.fc.ReadFrame()
				if err != nil {
					t.Error(err)
					return
				}
				m, err := codec.DecodeMessage(h, payload)
				req, ok := m.(*codec.RequestExtensions)
				if err != nil || !ok || h.ExtensionType != codec.ExtensionNegotiation || !reflect.DeepEqual(req.RequestedExtensions, []uint16{2, 3}) {
					t.Errorf("got %+v %#v %v, want RequestExtensions [2 3]", h, m, err)
					return
				}
				p.send(tc.reply(req.RequestID))
			}()
			c, err := client.Dial(context.Background(), p.addr(), client.Config{Plaintext: true, Extensions: []uint16{2, 3}, Timeout: 5 * time.Second})
			<-done
			if tc.want == nil {
				if err == nil {
					c.Close()
					t.Fatal("Dial accepted a wrong reply")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.Extensions(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Extensions() = %+v, want %+v", got, tc.want)
			}
		})
	}
	// Without Config.Extensions nothing is requested.
	if c := dialFake(t, newFakePool(t)); c.Extensions() != nil {
		t.Fatalf("Extensions() = %+v without a request", c.Extensions())
	}
}
