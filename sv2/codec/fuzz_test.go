package codec

import (
	"bytes"
	"testing"
)

// checkReencode asserts the decode→encode round trip: re-encoding a decoded
// payload gives back the input, except that a BOOL byte with value > 1 (which
// decodes by its low bit, like the reference implementation) comes back as
// its low bit; and re-decoding the re-encoding is stable.
func checkReencode(t *testing.T, typ Kind, in []byte, m Message) {
	t.Helper()
	out, err := Marshal(m)
	if err != nil {
		t.Fatalf("%v: decoded message does not encode: %v", typ, err)
	}
	if len(out) != len(in) {
		t.Fatalf("%v: re-encoded length %d, input %d\n in %x\nout %x", typ, len(out), len(in), in, out)
	}
	for i := range in {
		if in[i] != out[i] && !(in[i] > 1 && out[i] == in[i]&1) {
			t.Fatalf("%v: byte %d: input %02x, re-encoded %02x\n in %x\nout %x", typ, i, in[i], out[i], in, out)
		}
	}
	m2, err := Decode(typ, out)
	if err != nil {
		t.Fatalf("%v: re-encoded payload does not decode: %v", typ, err)
	}
	out2, err := Marshal(m2)
	if err != nil || !bytes.Equal(out, out2) {
		t.Fatalf("%v: second round trip differs: %v", typ, err)
	}
}

// kindPrefixLen is the size of the kind selector that starts each
// FuzzDecodeMessage input: extension_type U16 LE ‖ msg_type, as in the
// frame header.
const kindPrefixLen = 3

// withKind returns payload prefixed by k's selector.
func withKind(k Kind, payload []byte) []byte {
	return append([]byte{byte(k.Extension), byte(k.Extension >> 8), byte(k.Type)}, payload...)
}

// FuzzDecodeMessage fuzzes every message decoder: the first three bytes
// select the kind (extension_type U16 LE, msg_type), the rest is the
// payload. Every known kind, the extension messages included, is seeded.
func FuzzDecodeMessage(f *testing.F) {
	for _, typ := range Kinds() {
		for seed := range uint64(3) {
			b, err := Marshal(filled(f, typ, seed))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(withKind(typ, b))
		}
		z, _ := New(typ)
		b, _ := Marshal(z)
		f.Add(withKind(typ, b))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < kindPrefixLen {
			return
		}
		typ := Kind{Extension: uint16(data[0]) | uint16(data[1])<<8, Type: MsgType(data[2])}
		payload := data[kindPrefixLen:]
		m, err := Decode(typ, payload)
		if err != nil {
			if m != nil {
				t.Fatal("message returned with an error")
			}
			return
		}
		checkReencode(t, typ, payload, m)
	})
}

// FuzzHeader fuzzes the frame header decoder.
func FuzzHeader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x00, 0x80, 0x1b, 0x30, 0x00, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHeader(data)
		if err != nil {
			return
		}
		out, err := h.AppendTo(nil)
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("header round trip: %x → %+v → %x (%v)", data, h, out, err)
		}
	})
}

// FuzzDecodeFrame fuzzes whole plaintext frames (header and payload); every
// known kind, the extension messages included, is seeded.
func FuzzDecodeFrame(f *testing.F) {
	for _, typ := range Kinds() {
		b, err := AppendFrame(nil, filled(f, typ, 1))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 0, 0x15, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, m, err := DecodeFrame(data)
		if err != nil {
			return
		}
		if KindOf(m) != h.Kind() {
			t.Fatalf("frame of kind %v decoded as %v", h.Kind(), KindOf(m))
		}
		checkReencode(t, h.Kind(), data[HeaderSize:], m)
		if hb, _ := h.AppendTo(nil); !bytes.Equal(hb, data[:HeaderSize]) {
			t.Fatal("header round trip differs")
		}
	})
}
