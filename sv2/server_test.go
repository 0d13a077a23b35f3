package sv2_test

import (
	"bytes"
	"context"
	"errors"
	"github.com/adit-pool/adit/stratum/srvconf"
	"math"
	"net"
	"testing"
	"time"

	"crypto/rand"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/keys"
	"github.com/adit-pool/adit/sv2/noise"
)

// halfDiff makes about half of all hashes meet the share target.
var halfDiff = math.Ldexp(1, -31)

func TestSessionStandardAndExtended(t *testing.T) {
	now := time.Now()
	b := newTestBackend(share.NewValidator(share.ValidatorConfig{}), halfDiff)
	b.Publish(sharetest.Job(1, 1, now, sharetest.HardBits, []byte("tx-one"), []byte("tx-two")))
	e := startServer(t, sv2.Config{SuccessBatch: 1}, b)

	c := e.dial(0)
	std, err := c.OpenStandard(context.Background(), "addr1.rig1", 1e6)
	if err != nil {
		t.Fatal(err)
	}
	if std.GroupID == 0 || len(std.ExtranoncePrefix) != 8 {
		t.Fatalf("standard channel %+v: want a group and an 8-byte extranonce", std)
	}
	ext, err := c.OpenExtended(context.Background(), "addr1.rig2", 1e6, 4)
	if err != nil {
		t.Fatal(err)
	}
	if ext.ExtranonceSize != 4 || len(ext.ExtranoncePrefix) != 4 {
		t.Fatalf("extended channel %+v", ext)
	}
	if _, err := c.OpenExtended(context.Background(), "addr1.rig3", 1e6, 5); !isCode(err, sv2.CodeMinExtranonceSizeTooLarge) {
		t.Fatalf("min_extranonce_size 5: %v", err)
	}
	if _, err := c.OpenStandard(context.Background(), "bad.rig", 1e6); !isCode(err, sv2.CodeUnknownUser) {
		t.Fatalf("bad user: %v", err)
	}

	ws := nextWork(t, c, std.ID)
	we := nextWork(t, c, ext.ID)
	job, _ := b.V.Job(1)
	if ws.MerkleRoot != sv2.StandardMerkleRoot(job, std.ExtranoncePrefix) {
		t.Fatal("standard merkle root differs")
	}
	if ws.PrevHash != job.PrevHash || ws.NBits != job.Bits || ws.MinNTime != job.CurTime {
		t.Fatalf("work %+v does not match the job", ws)
	}

	// Standard share, accepted.
	n := mine(&ws, nil, ws.Version, 0, true)
	seq, _ := c.SubmitStandard(&ws, ws.MinNTime, n, ws.Version)
	if r := nextResult(t, c); !r.Acknowledged || r.Sequence != seq || r.Accepted != 1 || r.ChannelID != std.ID {
		t.Fatalf("standard share: %+v", r)
	}
	// The same share again: duplicate.
	c.SubmitStandard(&ws, ws.MinNTime, n, ws.Version)
	wantCode(t, c, sv2.CodeDuplicateShare)
	// A hash above the target.
	c.SubmitStandard(&ws, ws.MinNTime, mine(&ws, nil, ws.Version, 0, false), ws.Version)
	wantCode(t, c, sv2.CodeDifficultyTooLow)
	// A version bit outside the mask.
	c.SubmitStandard(&ws, ws.MinNTime, n, ws.Version|1)
	wantCode(t, c, sv2.CodeInvalidNonRollableVersion)
	// Rolled bits inside the mask: accepted.
	rolled := ws.Version | 0x00400000
	c.SubmitStandard(&ws, ws.MinNTime, mine(&ws, nil, rolled, 0, true), rolled)
	if r := nextResult(t, c); !r.Acknowledged {
		t.Fatalf("rolled version: %+v", r)
	}
	// Unknown channel and job.
	bad := ws
	bad.ChannelID = 999
	c.SubmitStandard(&bad, ws.MinNTime, n, ws.Version)
	wantCode(t, c, sv2.CodeInvalidChannelID)
	bad = ws
	bad.JobID = 77
	c.SubmitStandard(&bad, ws.MinNTime, n, ws.Version)
	wantCode(t, c, sv2.CodeInvalidJobID)

	// Extended share.
	en := []byte{1, 2, 3, 4}
	ne := mine(&we, en, we.Version, 0, true)
	c.SubmitExtended(&we, en, we.MinNTime, ne, we.Version)
	if r := nextResult(t, c); !r.Acknowledged || r.ChannelID != ext.ID {
		t.Fatalf("extended share: %+v", r)
	}
	c.SubmitExtended(&we, en[:3], we.MinNTime, ne, we.Version)
	wantCode(t, c, sv2.CodeBadExtranonceSize)

	// A new chain tip: the group and the extended channel get the job as a
	// future job and SetNewPrevHash; the old job is stale.
	b.Publish(sharetest.Job(2, 2, now, sharetest.HardBits))
	ws2 := nextWork(t, c, std.ID)
	we2 := nextWork(t, c, ext.ID)
	if ws2.JobID != 2 || we2.JobID != 2 || ws2.PrevHash[0] != 2 {
		t.Fatalf("new tip work: %+v %+v", ws2, we2)
	}
	job2, _ := b.V.Job(2)
	if ws2.MerkleRoot != sv2.StandardMerkleRoot(job2, std.ExtranoncePrefix) {
		t.Fatal("group job: merkle root for the standard channel differs")
	}
	c.SubmitStandard(&ws, ws.MinNTime, mine(&ws, nil, ws.Version, 1000, true), ws.Version)
	wantCode(t, c, sv2.CodeStaleShare)
	c.SubmitStandard(&ws2, ws2.MinNTime, mine(&ws2, nil, ws2.Version, 0, true), ws2.Version)
	if r := nextResult(t, c); !r.Acknowledged {
		t.Fatalf("share on the group job: %+v", r)
	}

	recs := b.Records()
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	for _, r := range recs {
		if r.Protocol != share.ProtocolV2 || r.Worker.Address != "addr1" {
			t.Fatalf("record %+v", r)
		}
	}
	if got := e.metric("adit_shares_total", "protocol", "v2", "result", "accepted"); got != 4 {
		t.Fatalf("accepted shares metric %v", got)
	}
	if got := e.metric("adit_sv2_channels", "type", "extended"); got != 1 {
		t.Fatalf("extended channels gauge %v", got)
	}
	if got := e.metric("adit_sv2_handshake_seconds"); got != 1 {
		t.Fatalf("handshake histogram count %v", got)
	}

	// Graceful shutdown sends Reconnect and releases everything.
	e.stop()
	<-c.Done()
	if c.Reconnect() == nil {
		t.Fatal("no Reconnect on shutdown")
	}
	st := b.Stats()
	alloc, rel, subs := st.Allocated, st.Released, st.Subscribers
	if alloc != rel || subs != 0 {
		t.Fatalf("allocated %d released %d subscriptions %d", alloc, rel, subs)
	}
	if got := e.metric("adit_connections", "protocol", "v2"); got != 0 {
		t.Fatalf("connections gauge %v", got)
	}
}

func isCode(err error, code string) bool {
	var se *client.SetupError
	return errors.As(err, &se) && se.Code == code
}

func wantCode(t *testing.T, c *client.Client, code string) {
	t.Helper()
	if r := nextResult(t, c); r.Code != code {
		t.Fatalf("result %+v, want error %q", r, code)
	}
}

func TestSuccessBatching(t *testing.T) {
	now := time.Now()
	b := newTestBackend(share.NewValidator(share.ValidatorConfig{}), halfDiff)
	b.Publish(sharetest.Job(1, 1, now, sharetest.HardBits))
	e := startServer(t, sv2.Config{SuccessBatch: 3, SuccessInterval: 200 * time.Millisecond}, b)
	c := e.dial(sv2.FlagRequiresStandardJobs)
	std, err := c.OpenStandard(context.Background(), "addr.w", 0)
	if err != nil {
		t.Fatal(err)
	}
	if std.GroupID != 0 {
		t.Fatal("REQUIRES_STANDARD_JOBS: no group expected")
	}
	w := nextWork(t, c, std.ID)
	n := uint32(0)
	var last uint32
	for i := 0; i < 4; i++ {
		n = mine(&w, nil, w.Version, n, true)
		last, _ = c.SubmitStandard(&w, w.MinNTime, n, w.Version)
		n++
	}
	if r := nextResult(t, c); r.Accepted != 3 || r.Sequence != last-1 {
		t.Fatalf("batch: %+v", r)
	}
	start := time.Now()
	if r := nextResult(t, c); r.Accepted != 1 || r.Sequence != last {
		t.Fatalf("interval flush: %+v", r)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("interval flush too late")
	}
}

func TestSetupConnectionErrors(t *testing.T) {
	b := newTestBackend(share.NewValidator(share.ValidatorConfig{}), 1)
	b.Publish(sharetest.Job(1, 1, time.Now(), sharetest.HardBits))
	e := startServer(t, sv2.Config{}, b)
	for _, tc := range []struct {
		setup codec.SetupConnection
		code  string
	}{
		{codec.SetupConnection{Protocol: 1, MinVersion: 2, MaxVersion: 2}, sv2.CodeUnsupportedProtocol},
		{codec.SetupConnection{Protocol: 0, MinVersion: 3, MaxVersion: 4}, sv2.CodeProtocolVersionMismatch},
		{codec.SetupConnection{Protocol: 0, MinVersion: 2, MaxVersion: 2, Flags: sv2.FlagRequiresWorkSelection}, sv2.CodeUnsupportedFeatureFlags},
	} {
		nc := rawNoise(t, e)
		if err := nc.WriteMessage(&tc.setup); err != nil {
			t.Fatal(err)
		}
		_, m, err := nc.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if se, ok := m.(*codec.SetupConnectionError); !ok || se.ErrorCode != tc.code {
			t.Fatalf("got %#v, want %q", m, tc.code)
		}
		if _, _, err := nc.ReadFrame(); err == nil {
			t.Fatal("connection not closed after SetupConnection.Error")
		}
	}
}

// rawNoise completes a handshake and returns the encrypted connection.
func rawNoise(t *testing.T, e *testEnv) *noise.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", e.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	auth := e.authority
	c, err := (&noise.Initiator{Authority: &auth}).Handshake(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWrongAuthorityRefused(t *testing.T) {
	b := newTestBackend(share.NewValidator(share.ValidatorConfig{}), 1)
	b.Publish(sharetest.Job(1, 1, time.Now(), sharetest.HardBits))
	e := startServer(t, sv2.Config{}, b)
	other, err := keys.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk := other.PublicKey()
	_, err = client.Dial(context.Background(), e.addr(), client.Config{Authority: &pk})
	if !errors.Is(err, noise.ErrCertificateSignature) {
		t.Fatalf("dial with the wrong authority: %v", err)
	}
}

// TestBadInputDropped: garbage, a truncated handshake, an oversized frame, a
// message before SetupConnection and an undecodable frame are each counted
// and dropped while an honest miner keeps mining.
func TestBadInputDropped(t *testing.T) {
	now := time.Now()
	b := newTestBackend(share.NewValidator(share.ValidatorConfig{}), halfDiff)
	b.Publish(sharetest.Job(1, 1, now, sharetest.HardBits))
	e := startServer(t, sv2.Config{SuccessBatch: 1, Limits: srvconf.Limits{HandshakeTimeout: 2 * time.Second}}, b)
	honest := e.dial(0)
	ch, err := honest.OpenExtended(context.Background(), "addr.honest", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := nextWork(t, honest, ch.ID)

	raw := func() net.Conn {
		c, err := net.Dial("tcp", e.addr())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Truncated handshake: 10 bytes of Act 1, then close.
	c := raw()
	c.Write(make([]byte, 10))
	c.Close()
	sharetest.Eventually(t, "truncated handshake counted", func() bool {
		return e.metric("adit_sv2_handshakes_total", "result", "truncated") == 1
	})
	// Garbage: 64 bytes pass as an ElligatorSwift key, the rest fails to
	// decrypt as a frame.
	c = raw()
	garbage := make([]byte, 64+200)
	rand.Read(garbage)
	c.Write(garbage)
	sharetest.Eventually(t, "garbage counted", func() bool {
		return e.metric("adit_sv2_protocol_errors_total", "reason", "decrypt") == 1
	})
	c.Close()
	// Silence: the handshake times out.
	c = raw()
	sharetest.Eventually(t, "handshake timeout counted", func() bool {
		return e.metric("adit_sv2_handshakes_total", "result", "timeout") == 1
	})
	c.Close()
	// Oversized frame.
	nc := rawNoise(t, e)
	nc.WriteFrame(codec.Header{MsgType: codec.TypeSetupConnection}, make([]byte, sv2.DefaultMaxFrameLength+1))
	sharetest.Eventually(t, "oversized frame counted", func() bool {
		return e.metric("adit_sv2_protocol_errors_total", "reason", "frame_too_large") == 1
	})
	// A channel message before SetupConnection.
	nc = rawNoise(t, e)
	nc.WriteMessage(&codec.OpenStandardMiningChannel{UserIdentity: "x"})
	sharetest.Eventually(t, "no setup counted", func() bool {
		return e.metric("adit_sv2_protocol_errors_total", "reason", "no_setup_connection") == 1
	})
	// A frame that does not decode.
	nc = rawNoise(t, e)
	nc.WriteFrame(codec.Header{MsgType: codec.TypeSetupConnection}, []byte{0, 2})
	sharetest.Eventually(t, "decode error counted", func() bool {
		return e.metric("adit_sv2_protocol_errors_total", "reason", "decode") == 1
	})
	// A panic in the Backend drops only that miner.
	p := e.dial(0)
	p.OpenStandard(context.Background(), "panic", 0)
	sharetest.Eventually(t, "panic counted", func() bool { return e.metric("adit_sv2_session_panics_total") == 1 })

	// The honest miner is undisturbed.
	en := []byte{9, 9, 9, 9}
	honest.SubmitExtended(&w, en, w.MinNTime, mine(&w, en, w.Version, 0, true), w.Version)
	if r := nextResult(t, honest); !r.Acknowledged {
		t.Fatalf("honest share: %+v", r)
	}
	if got := e.metric("adit_sv2_handshakes_total", "result", "ok"); got < 5 {
		t.Fatalf("ok handshakes %v", got)
	}
	_ = bytes.Equal
}
