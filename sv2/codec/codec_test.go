package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// fill sets every field of the message pointed to by m to a pseudo-random,
// encodable value drawn from r. Variable-length fields get lengths in [1, n].
func fill(r *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(r, v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			if v.Type().Field(i).Name == "TLVs" {
				f.Set(reflect.ValueOf([]TLV{{ExtensionType: 2, FieldType: 1, Value: []byte("worker.1")}}))
				continue
			}
			fill(r, f)
		}
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(r.Uint64() >> (64 - v.Type().Bits()))
	case reflect.Float32:
		v.SetFloat(float64(r.Float32() * 1e12))
	case reflect.String:
		v.SetString(strings.Repeat("x", 1+r.IntN(20)))
	case reflect.Array:
		for i := range v.Len() {
			fill(r, v.Index(i))
		}
	case reflect.Slice:
		n := 1 + r.IntN(5)
		if v.Type().Elem().Kind() == reflect.Uint8 {
			n = 1 + r.IntN(32) // fits B0_32
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fill(r, s.Index(i))
		}
		v.Set(s)
	}
}

func filled(t testing.TB, typ MsgType, seed uint64) Message {
	t.Helper()
	m, err := New(typ)
	if err != nil {
		t.Fatal(err)
	}
	fill(rand.New(rand.NewPCG(seed, uint64(typ))), reflect.ValueOf(m))
	return m
}

func TestTableMatchesWireReference(t *testing.T) {
	// msg_type → channel bit, as SRI's senders set it (mining_sv2
	// CHANNEL_BIT_* constants, used by parsers_sv2's channel_bit()): the
	// SetCustomMiningJob messages carry channel_id but are sent without
	// the bit.
	want := map[MsgType]bool{
		0x00: false, 0x01: false, 0x02: false, 0x03: true, 0x04: false,
		0x10: false, 0x11: false, 0x12: false, 0x13: false, 0x14: false,
		0x15: true, 0x16: true, 0x17: true, 0x18: true, 0x19: true, 0x1a: true,
		0x1b: true, 0x1c: true, 0x1d: true, 0x1f: true, 0x20: true, 0x21: true,
		0x22: false, 0x23: false, 0x24: false, 0x25: false,
		0x50: false, 0x51: false, 0x55: false, 0x56: false, 0x57: false, 0x58: false, 0x59: false, 0x60: false,
		0x70: false, 0x71: false, 0x72: false, 0x73: false, 0x74: false, 0x75: false, 0x76: false,
	}
	types := Types()
	if len(types) != len(want) {
		t.Fatalf("%d types, want %d", len(types), len(want))
	}
	for i, typ := range types {
		if i > 0 && types[i-1] >= typ {
			t.Fatalf("Types() not ascending at %v", typ)
		}
		info, ok := Info(typ)
		ch, known := want[typ]
		if !ok || !known {
			t.Fatalf("type 0x%02x: in table %v, in reference %v", uint8(typ), ok, known)
		}
		if info.ChannelMsg != ch {
			t.Errorf("%s: ChannelMsg = %v, want %v", info.Name, info.ChannelMsg, ch)
		}
		m, err := New(typ)
		if err != nil || m.MsgType() != typ {
			t.Errorf("New(0x%02x) = %T, %v", uint8(typ), m, err)
		}
	}
	for _, removed := range []MsgType{0x1e, 0x53, 0x54, 0x05, 0xff} {
		if _, ok := Info(removed); ok {
			t.Errorf("type 0x%02x should be unknown", uint8(removed))
		}
		if _, err := Decode(removed, nil); !errors.Is(err, ErrUnknownMessage) {
			t.Errorf("Decode(0x%02x): err = %v, want ErrUnknownMessage", uint8(removed), err)
		}
	}
}

func TestRoundTripEveryMessage(t *testing.T) {
	for _, typ := range Types() {
		t.Run(typ.String(), func(t *testing.T) {
			for seed := range uint64(20) {
				m := filled(t, typ, seed)
				b, err := Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				got, err := Decode(typ, b)
				if err != nil {
					t.Fatalf("decode: %v\n%x", err, b)
				}
				if !reflect.DeepEqual(got, m) {
					t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
				}
				frame, err := AppendFrame([]byte{0xaa}, m)
				if err != nil {
					t.Fatal(err)
				}
				if frame[0] != 0xaa {
					t.Fatal("AppendFrame clobbered dst")
				}
				h, fm, err := DecodeFrame(frame[1:])
				if err != nil {
					t.Fatal(err)
				}
				info, _ := Info(typ)
				if h.ChannelMsg() != info.ChannelMsg || h.MsgType != typ || int(h.Length) != len(b) {
					t.Fatalf("header %+v", h)
				}
				if !reflect.DeepEqual(fm, m) {
					t.Fatal("frame round trip differs")
				}
			}
			// Zero value round-trips too (empty strings, nil slices, None).
			z, _ := New(typ)
			b, err := Marshal(z)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(typ, b)
			if err != nil || !reflect.DeepEqual(got, z) {
				t.Fatalf("zero value: %v %+v", err, got)
			}
		})
	}
}

func TestTruncatedAndTrailing(t *testing.T) {
	for _, typ := range Types() {
		m := filled(t, typ, 99)
		if se, ok := m.(*SubmitSharesExtended); ok {
			se.TLVs = nil // TLVs are open-ended; truncation at a TLV boundary is valid
		}
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		for n := range len(b) {
			_, err := Decode(typ, b[:n])
			var fe *FieldError
			if !errors.Is(err, ErrShortBuffer) || !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("%v truncated to %d/%d: err = %v, want ErrShortBuffer with field", typ, n, len(b), err)
			}
		}
		_, err = Decode(typ, append(b, 0))
		want := ErrTrailingBytes
		if typ == TypeSubmitSharesExtended {
			want = ErrShortBuffer // a partial TLV
		}
		if !errors.Is(err, want) {
			t.Fatalf("%v with a trailing byte: err = %v, want %v", typ, err, want)
		}
	}
}

func TestEncodeTooLong(t *testing.T) {
	cases := []struct {
		m     Message
		field string
	}{
		{&SubmitSharesExtended{Extranonce: make([]byte, 33)}, "extranonce"},
		{&OpenStandardMiningChannelSuccess{ExtranoncePrefix: make([]byte, 33)}, "extranonce_prefix"},
		{&SetupConnection{Vendor: strings.Repeat("v", 256)}, "vendor"},
		{&DeclareMiningJobSuccess{NewMiningJobToken: make([]byte, 256)}, "new_mining_job_token"},
		{&NewExtendedMiningJob{CoinbaseTxPrefix: make([]byte, 1<<16)}, "coinbase_tx_prefix"},
		{&NewExtendedMiningJob{MerklePath: make([]U256, 256)}, "merkle_path"},
		{&SetGroupChannel{ChannelIDs: make([]uint32, 1<<16)}, "channel_ids"},
		{&SubmitSharesExtended{TLVs: []TLV{{Value: make([]byte, 1<<16)}}}, "tlvs"},
	}
	for _, c := range cases {
		_, err := Marshal(c.m)
		var fe *FieldError
		if !errors.Is(err, ErrTooLong) || !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%T: err = %v, want ErrTooLong on %s", c.m, err, c.field)
		}
	}
	// A payload over 2^24-1 bytes cannot be framed.
	big := &RequestTransactionDataSuccess{TransactionList: [][]byte{make([]byte, MaxB016M), make([]byte, 10)}}
	if _, err := Marshal(big); !errors.Is(err, ErrTooLong) {
		t.Errorf("oversized payload: err = %v", err)
	}
	if _, err := (Header{Length: MaxU24 + 1}).AppendTo(nil); !errors.Is(err, ErrTooLong) {
		t.Errorf("header length: err = %v", err)
	}
}

func TestInvalidValues(t *testing.T) {
	// OPTION tag 2.
	b := []byte{1, 0, 0, 0, 2, 0, 0, 0, 2}
	if _, err := Decode(TypeNewMiningJob, b); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("option tag 2: %v", err)
	}
	// B0_32 with length 33 and 33 bytes present.
	p := make([]byte, 24, 24+34)
	p = append(p, 33)
	p = append(p, make([]byte, 33)...)
	if _, err := Decode(TypeSubmitSharesExtended, p); !errors.Is(err, ErrTooLong) {
		t.Errorf("B0_32 length 33: %v", err)
	}
	// BOOL reads only the low bit, like the reference implementation.
	var j NewExtendedMiningJob
	jb, _ := Marshal(&j)
	jb[4+4+1+4] = 0x02
	if err := Unmarshal(jb, &j); err != nil || j.VersionRollingAllowed {
		t.Errorf("BOOL 0x02: %v %v", err, j.VersionRollingAllowed)
	}
	jb[4+4+1+4] = 0x03
	if err := Unmarshal(jb, &j); err != nil || !j.VersionRollingAllowed {
		t.Errorf("BOOL 0x03: %v %v", err, j.VersionRollingAllowed)
	}
}

// Lengths and counts are checked against the input before allocating.
func TestNoAllocationFromClaimedLengths(t *testing.T) {
	inputs := map[MsgType][]byte{
		// template_id, then SEQ0_64K count 65535 with nothing behind it.
		TypeRequestTransactionDataSuccess: {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0xff, 0xff},
		// template_id, excess_data empty, one B0_16M claiming 16 MiB.
		TypeSubmitSolution:             {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
		TypeSetGroupChannel:            {1, 0, 0, 0, 0xff, 0xff, 1, 2},
		TypeProvideMissingTransactions: {1, 0, 0, 0, 0xff, 0xff, 1},
		TypeDeclareMiningJob:           {1, 0, 0, 0, 0},
	}
	for typ, b := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 20 {
			if _, err := Decode(typ, b); !errors.Is(err, ErrShortBuffer) {
				t.Fatalf("%v: err = %v", typ, err)
			}
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
			t.Errorf("%v: %d bytes allocated for 20 short inputs", typ, n)
		}
	}
	var d Decoder
	d = *NewDecoder([]byte{0xff, 0xff, 0xff}, "x")
	if d.B016M("f") != nil || !errors.Is(d.Err(), ErrShortBuffer) {
		t.Error("B0_16M over-long length accepted")
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Byte vectors written out by hand from the layouts in SV2-WIRE.md §2–3.
func TestByteVectors(t *testing.T) {
	u32 := func(v uint32) *uint32 { return &v }
	var target U256
	for i := range target {
		target[i] = 0xff
	}
	target[31] = 0x00
	cases := []struct {
		name  string
		m     Message
		frame string
	}{
		{"SetupConnection", &SetupConnection{Protocol: 0, MinVersion: 2, MaxVersion: 2, Flags: 0x04,
			EndpointHost: "pool", EndpointPort: 3336, Vendor: "ad", HardwareVersion: "", Firmware: "f", DeviceID: "d"},
			"0000 00 180000" + "00 0200 0200 04000000 04 706f6f6c 080d 02 6164 00 01 66 01 64"},
		{"SetupConnection.Success", &SetupConnectionSuccess{UsedVersion: 2, Flags: 2},
			"0000 01 060000 0200 02000000"},
		{"SetupConnection.Error", &SetupConnectionError{Flags: 0, ErrorCode: "unsupported-protocol"},
			"0000 02 190000 00000000 14" + hex.EncodeToString([]byte("unsupported-protocol"))},
		{"OpenStandardMiningChannel", &OpenStandardMiningChannel{RequestID: 7, UserIdentity: "u", NominalHashRate: 1.0, MaxTarget: target},
			"0000 10 2a0000 07000000 01 75 0000803f " + strings.Repeat("ff", 31) + "00"},
		{"NewMiningJob future", &NewMiningJob{ChannelID: 1, JobID: 2, MinNTime: nil, Version: 0x20000000, MerkleRoot: U256{31: 0xab}},
			"0080 15 2d0000 01000000 02000000 00 00000020 " + strings.Repeat("00", 31) + "ab"},
		{"NewMiningJob active", &NewMiningJob{ChannelID: 1, JobID: 2, MinNTime: u32(0x66554433), Version: 0x20000000},
			"0080 15 310000 01000000 02000000 01 33445566 00000020 " + strings.Repeat("00", 32)},
		{"SubmitSharesStandard", &SubmitSharesStandard{ChannelID: 1, SequenceNumber: 2, JobID: 3, Nonce: 0xdeadbeef, NTime: 0x65000000, Version: 0x20000000},
			"0080 1a 180000 01000000 02000000 03000000 efbeadde 00000065 00000020"},
		{"SubmitSharesExtended+TLV", &SubmitSharesExtended{ChannelID: 1, SequenceNumber: 2, JobID: 3, Nonce: 4, NTime: 5, Version: 6,
			Extranonce: []byte{0xaa, 0xbb}, TLVs: []TLV{{ExtensionType: 0x0002, FieldType: 0x01, Value: []byte("w")}}},
			"0080 1b 210000 01000000 02000000 03000000 04000000 05000000 06000000 02 aabb 0200 01 0100 77"},
		{"SubmitShares.Success", &SubmitSharesSuccess{ChannelID: 1, LastSequenceNumber: 10, NewSubmitsAcceptedCount: 10, NewSharesSum: 1 << 40},
			"0080 1c 140000 01000000 0a000000 0a000000 0000000000010000"},
		{"SubmitShares.Error", &SubmitSharesError{ChannelID: 1, SequenceNumber: 3, ErrorCode: "stale-share"},
			"0080 1d 140000 01000000 03000000 0b" + hex.EncodeToString([]byte("stale-share"))},
		{"SetGroupChannel", &SetGroupChannel{GroupChannelID: 9, ChannelIDs: []uint32{1, 2}},
			"0000 25 0e0000 09000000 0200 01000000 02000000"},
		{"CoinbaseOutputConstraints", &CoinbaseOutputConstraints{MaxAdditionalSize: 100, MaxAdditionalSigops: 4},
			"0000 70 060000 64000000 0400"},
		{"RequestTransactionData.Success", &RequestTransactionDataSuccess{TemplateID: 1, ExcessData: nil, TransactionList: [][]byte{{0x01, 0x02}}},
			"0000 74 110000 0100000000000000 0000 0100 020000 0102"},
		{"ChannelEndpointChanged", &ChannelEndpointChanged{ChannelID: 5}, "0080 03 040000 05000000"},
	}
	for _, c := range cases {
		want := unhex(t, c.frame)
		got, err := AppendFrame(nil, c.m)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %x\nwant %x", c.name, got, want)
			continue
		}
		_, m, err := DecodeFrame(want)
		if err != nil || !reflect.DeepEqual(m, c.m) {
			t.Errorf("%s: decode: %v %+v", c.name, err, m)
		}
	}
}

func TestHeader(t *testing.T) {
	h, err := ParseHeader([]byte{0x01, 0x80, 0x1b, 0x03, 0x02, 0x01})
	if err != nil {
		t.Fatal(err)
	}
	if !h.ChannelMsg() || h.Extension() != 1 || h.MsgType != 0x1b || h.Length != 0x010203 {
		t.Fatalf("%+v", h)
	}
	if _, err := ParseHeader(make([]byte, 5)); !errors.Is(err, ErrShortBuffer) {
		t.Error(err)
	}
	if _, err := ParseHeader(make([]byte, 7)); !errors.Is(err, ErrTrailingBytes) {
		t.Error(err)
	}
	// Receivers ignore the channel bit: a channel message sent without it still decodes.
	frame, _ := AppendFrame(nil, &SetTarget{ChannelID: 1})
	frame[1] = 0
	if _, m, err := DecodeFrame(frame); err != nil || m.MsgType() != TypeSetTarget {
		t.Errorf("channel bit cleared: %v", err)
	}
	// An extension message is unknown to the core codec.
	frame[0] = 1
	if _, _, err := DecodeFrame(frame); !errors.Is(err, ErrUnknownMessage) {
		t.Errorf("extension 1: %v", err)
	}
	frame[0] = 0
	if _, _, err := DecodeFrame(frame[:len(frame)-1]); !errors.Is(err, ErrShortBuffer) {
		t.Errorf("short frame: %v", err)
	}
	if _, _, err := DecodeFrame(append(frame, 0)); !errors.Is(err, ErrTrailingBytes) {
		t.Errorf("long frame: %v", err)
	}
	if _, err := DecodeMessage(Header{MsgType: TypeSetTarget, Length: 3}, make([]byte, 36)); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("length mismatch: %v", err)
	}
}
