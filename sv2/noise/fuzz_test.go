package noise

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/adit-pool/adit/sv2/codec"
)

// FuzzResponderAct1 feeds arbitrary Act 1 messages to the responder. Every
// 64-byte string is a valid ElligatorSwift key (BIP324), so exactly those
// complete, always with a 234-byte Act 2 whose e token decodes; anything
// else is an error, never a panic.
func FuzzResponderAct1(f *testing.F) {
	fx := newFixture(f)
	var hs initiatorHandshake
	act1, err := hs.start(detRand(40))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(act1[:])
	f.Add(make([]byte, 64))
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, data []byte) {
		act2, _, err := respond(detRand(41), fx.static, data)
		if len(data) != Act1Size {
			if err == nil {
				t.Fatal("wrong-size act 1 accepted")
			}
			return
		}
		if err != nil || len(act2) != Act2Size {
			t.Fatalf("act 1 of 64 bytes: %v, %d bytes", err, len(act2))
		}
		var e [EllSwiftSize]byte
		copy(e[:], act2)
		if _, err := decodePeerKey(e); err != nil {
			t.Fatalf("responder ephemeral key does not decode: %v", err)
		}
	})
}

// FuzzInitiatorAct2 feeds arbitrary Act 2 messages to an initiator whose
// Act 1 is fixed. The round trip asserted: an Act 2 is accepted only if it
// is byte-for-byte the genuine one (AEAD integrity), and then the decoded
// certificate re-encodes to the bytes the responder sent.
func FuzzInitiatorAct2(f *testing.F) {
	fx := newFixture(f)
	var hs0 initiatorHandshake
	act1, err := hs0.start(detRand(42))
	if err != nil {
		f.Fatal(err)
	}
	genuine, _, err := respond(detRand(43), fx.static, act1[:])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(genuine)
	f.Add(genuine[:233])
	f.Add(make([]byte, Act2Size))
	f.Fuzz(func(t *testing.T, data []byte) {
		var hs initiatorHandshake
		if _, err := hs.start(detRand(42)); err != nil {
			t.Fatal(err)
		}
		res, err := hs.finish(data)
		if err != nil {
			return
		}
		if !bytes.Equal(data, genuine) {
			t.Fatalf("forged act 2 accepted: %x", data)
		}
		want := fx.static.Certificate
		if *res.cert != want || !bytes.Equal(res.cert.AppendTo(nil), want.AppendTo(nil)) {
			t.Fatal("certificate round trip differs")
		}
	})
}

// FuzzCertificate fuzzes the SIGNATURE_NOISE_MESSAGE decoder with a
// decode→encode round trip.
func FuzzCertificate(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.static.Certificate.AppendTo(nil))
	f.Add(make([]byte, 73))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCertificate(data)
		if err != nil {
			return
		}
		if !bytes.Equal(c.AppendTo(nil), data) {
			t.Fatal("certificate round trip differs")
		}
		_ = c.Verify(fx.authority.PublicKey(), fx.static.StaticXOnly(), fx.epoch)
	})
}

// FuzzReadFrame feeds arbitrary bytes after a completed handshake: reading
// must fail cleanly or, for genuine frames, return what was sent.
func FuzzReadFrame(f *testing.F) {
	fx := newFixture(f)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1, 2, 3}, make([]byte, 40))
	f.Fuzz(func(t *testing.T, payload, garbage []byte) {
		if len(payload) > 70000 || len(garbage) > 70000 {
			return
		}
		_, _, ini, resp := runTranscriptT(t, fx)
		// A genuine frame round-trips.
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		cli := newConn(a, ini, 0)
		srv := newConn(b, resp, 0)
		go func() { _ = cli.WriteFrame(codec.Header{MsgType: 0x1c}, payload) }()
		h, got, err := srv.ReadFrame()
		if err != nil || h.MsgType != 0x1c || !bytes.Equal(got, payload) {
			t.Fatalf("genuine frame: %v", err)
		}
		// Garbage never decrypts.
		go func() { _, _ = a.Write(garbage); a.Close() }()
		if _, _, err := srv.ReadFrame(); err == nil {
			t.Fatal("garbage accepted as a frame")
		}
		_, _ = io.Copy(io.Discard, b)
	})
}
