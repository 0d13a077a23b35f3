package noise

import (
	"bytes"
	"errors"
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
// must fail cleanly or, for genuine frames, return what was sent. The
// handshake is run once; every input starts from fresh copies of its cipher
// states (they are values).
func FuzzReadFrame(f *testing.F) {
	fx := newFixture(f)
	_, _, ini, resp := runTranscript(f, fx)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1, 2, 3}, make([]byte, 40))
	f.Fuzz(func(t *testing.T, payload, garbage []byte) {
		if len(payload) > 70000 || len(garbage) > 70000 {
			return
		}
		var wire bytes.Buffer
		cli := newConn(bufConn{w: &wire}, ini, 0)
		if err := cli.WriteFrame(codec.Header{MsgType: 0x1c}, payload); err != nil {
			t.Fatal(err)
		}
		wire.Write(garbage)
		srv := newConn(bufConn{r: &wire}, resp, 0)
		// A genuine frame round-trips.
		h, got, err := srv.ReadFrame()
		if err != nil || h.MsgType != 0x1c || !bytes.Equal(got, payload) {
			t.Fatalf("genuine frame: %v", err)
		}
		// Garbage never decrypts.
		if _, _, err := srv.ReadFrame(); err == nil {
			t.Fatal("garbage accepted as a frame")
		}
	})
}

// FuzzReadSealedFrame is the transport as a hostile peer that completed the
// handshake (any miner can) sees it: the fuzzer picks the plaintext header
// (any extension_type, msg_type and msg_length, which need not match the
// payload), the payload (sealed in chunks of its own length: the fuzzer's
// bytes followed by pad bytes of filler, so that payloads of several chunks
// do not make every input large), where the stream is cut, and the reader's
// frame limit. The reader must return exactly the sealed frame when header
// and payload agree and everything arrived; an empty frame when msg_length
// is 0; an ErrFrameTooLarge for a msg_length over the limit before reading
// on; and an error otherwise.
func FuzzReadSealedFrame(f *testing.F) {
	fx := newFixture(f)
	_, _, ini, resp := runTranscript(f, fx)
	const noCut = uint32(1 << 31)
	f.Add(uint16(0), uint8(0x1c), uint32(3), []byte{1, 2, 3}, uint32(0), noCut, uint32(0))
	f.Add(uint16(0x8000), uint8(0x1b), uint32(0), []byte{}, uint32(0), noCut, uint32(16))
	f.Add(uint16(0), uint8(0x1c), uint32(5), []byte{1, 2, 3}, uint32(0), noCut, uint32(0))
	f.Add(uint16(0), uint8(0x1c), uint32(2), []byte{1, 2, 3}, uint32(0), noCut, uint32(0))
	f.Add(uint16(0), uint8(0x1c), uint32(3), []byte{1, 2, 3}, uint32(0), uint32(30), uint32(0))
	f.Add(uint16(0), uint8(0x1c), uint32(0xffffff), []byte{1}, uint32(0), noCut, uint32(0))
	f.Add(uint16(0), uint8(0x1c), uint32(MaxChunkPlaintext+1), []byte{7}, uint32(MaxChunkPlaintext), noCut, uint32(0))
	// Found by make fuzz-long: one whole chunk read from a payload sealed
	// as a whole chunk and 9 bytes more authenticates (the model was wrong,
	// not the reader).
	f.Add(uint16(0), uint8('z'), uint32(MaxChunkPlaintext), []byte{7}, uint32(MaxChunkPlaintext+8), noCut, uint32(0))
	f.Fuzz(func(t *testing.T, ext uint16, typ uint8, length uint32, data []byte, pad, cut, maxFrame uint32) {
		if len(data) > 4096 {
			return
		}
		body := append(data, bytes.Repeat([]byte{0x5a}, int(pad%(2*MaxChunkPlaintext+2)))...)
		h := codec.Header{ExtensionType: ext, MsgType: codec.MsgType(typ), Length: length & codec.MaxU24}
		var wire bytes.Buffer
		cli := newConn(bufConn{w: &wire}, ini, 0)
		if err := cli.writeFrame(h, body); err != nil {
			t.Fatal(err)
		}
		sent := wire.Len()
		if int64(cut) < int64(sent) {
			wire.Truncate(int(cut))
		}
		srv := newConn(bufConn{r: &wire}, resp, maxFrame)
		gotH, got, err := srv.ReadFrame()

		limit := srv.maxFrame
		complete := min(int64(cut), int64(sent)) >= int64(EncryptedHeaderSize+CiphertextLen(int(h.Length)))
		// Every chunk is sealed on its own, so a msg_length of whole chunks
		// reads, authenticated, the first chunks of a longer payload (the
		// rest is left on the stream and fails as the next frame's header).
		prefix := h.Length%MaxChunkPlaintext == 0 && int(h.Length) <= len(body)
		switch {
		case int64(cut) < EncryptedHeaderSize:
			if err == nil {
				t.Fatal("frame read from a cut header")
			}
		case h.Length > limit:
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("msg_length %d over limit %d: %v", h.Length, limit, err)
			}
		case h.Length == 0:
			if err != nil || gotH != h || len(got) != 0 {
				t.Fatalf("empty frame: %v, header %+v, %d bytes", err, gotH, len(got))
			}
		case (int(h.Length) == len(body) || prefix) && complete:
			if err != nil || gotH != h || !bytes.Equal(got, body[:h.Length]) {
				t.Fatalf("genuine frame of %d bytes (%d sealed): %v", h.Length, len(body), err)
			}
		default:
			if err == nil {
				t.Fatalf("msg_length %d with %d payload bytes sealed, %d of %d sent: accepted", h.Length, len(body), min(int64(cut), int64(sent)), sent)
			}
		}
		// A failed read is sticky.
		if err != nil {
			if _, _, err2 := srv.ReadFrame(); err2 == nil {
				t.Fatal("read after an error succeeded")
			}
		}
	})
}

// bufConn is a net.Conn over a reader or a writer; only Read and Write are
// used by Conn's frame functions.
type bufConn struct {
	net.Conn
	r io.Reader
	w io.Writer
}

func (c bufConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c bufConn) Write(p []byte) (int, error) { return c.w.Write(p) }
