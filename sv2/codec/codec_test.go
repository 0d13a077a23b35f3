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

func filled(t testing.TB, k Kind, seed uint64) Message {
	t.Helper()
	m, err := New(k)
	if err != nil {
		t.Fatal(err)
	}
	fill(rand.New(rand.NewPCG(seed, uint64(k.Extension)<<8|uint64(k.Type))), reflect.ValueOf(m))
	return m
}

func TestTableMatchesWireReference(t *testing.T) {
	// msg_type → channel bit, per SV2-WIRE.md §3 ("c" marks; the
	// 2026-05 spec change sets it on the SetCustomMiningJob messages too).
	// Extension 0x0001 (Extensions Negotiation): msg_types 0x00-0x02, all
	// without the bit (extensions_sv2 CHANNEL_BIT_*).
	core := func(t MsgType) Kind { return Core(t) }
	neg := func(t MsgType) Kind { return Kind{Extension: 0x0001, Type: t} }
	want := map[Kind]bool{
		core(0x00): false, core(0x01): false, core(0x02): false, core(0x03): true, core(0x04): false,
		core(0x10): false, core(0x11): false, core(0x12): false, core(0x13): false, core(0x14): false,
		core(0x15): true, core(0x16): true, core(0x17): true, core(0x18): true, core(0x19): true, core(0x1a): true,
		core(0x1b): true, core(0x1c): true, core(0x1d): true, core(0x1f): true, core(0x20): true, core(0x21): true,
		core(0x22): true, core(0x23): true, core(0x24): true, core(0x25): false,
		core(0x50): false, core(0x51): false, core(0x55): false, core(0x56): false, core(0x57): false, core(0x58): false, core(0x59): false, core(0x60): false,
		core(0x70): false, core(0x71): false, core(0x72): false, core(0x73): false, core(0x74): false, core(0x75): false, core(0x76): false,
		neg(0x00): false, neg(0x01): false, neg(0x02): false,
	}
	kinds := Kinds()
	if len(kinds) != len(want) {
		t.Fatalf("%d kinds, want %d", len(kinds), len(want))
	}
	for i, k := range kinds {
		if i > 0 && (kinds[i-1].Extension > k.Extension || kinds[i-1].Extension == k.Extension && kinds[i-1].Type >= k.Type) {
			t.Fatalf("Kinds() not ascending at %v", k)
		}
		info, ok := Info(k)
		ch, known := want[k]
		if !ok || !known {
			t.Fatalf("kind %+v: in table %v, in reference %v", k, ok, known)
		}
		if info.ChannelMsg != ch || info.Kind() != k {
			t.Errorf("%s: ChannelMsg = %v, want %v; kind %+v", info.Name, info.ChannelMsg, ch, info.Kind())
		}
		m, err := New(k)
		if err != nil || KindOf(m) != k {
			t.Errorf("New(%+v) = %T, %v", k, m, err)
		}
	}
	unknown := []Kind{core(0x1e), core(0x53), core(0x54), core(0x05), core(0xff),
		neg(0x03), neg(0x10), {Extension: 0x0002, Type: 0x00}, {Extension: 0x7fff, Type: 0x01}}
	for _, k := range unknown {
		if _, ok := Info(k); ok {
			t.Errorf("kind %+v should be unknown", k)
		}
		if _, err := Decode(k, nil); !errors.Is(err, ErrUnknownMessage) {
			t.Errorf("Decode(%+v): err = %v, want ErrUnknownMessage", k, err)
		}
	}
}

func TestRoundTripEveryMessage(t *testing.T) {
	for _, typ := range Kinds() {
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
				if h.ChannelMsg() != info.ChannelMsg || h.Kind() != typ || int(h.Length) != len(b) {
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
	for _, typ := range Kinds() {
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
		if typ == Core(TypeSubmitSharesExtended) {
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
	if _, err := Decode(Core(TypeNewMiningJob), b); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("option tag 2: %v", err)
	}
	// B0_32 with length 33 and 33 bytes present.
	p := make([]byte, 24, 24+34)
	p = append(p, 33)
	p = append(p, make([]byte, 33)...)
	if _, err := Decode(Core(TypeSubmitSharesExtended), p); !errors.Is(err, ErrTooLong) {
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
	inputs := map[Kind][]byte{
		// template_id, then SEQ0_64K count 65535 with nothing behind it.
		Core(TypeRequestTransactionDataSuccess): {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0xff, 0xff},
		// template_id, excess_data empty, one B0_16M claiming 16 MiB.
		Core(TypeSubmitSolution):             {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
		Core(TypeSetGroupChannel):            {1, 0, 0, 0, 0xff, 0xff, 1, 2},
		Core(TypeProvideMissingTransactions): {1, 0, 0, 0, 0xff, 0xff, 1},
		Core(TypeDeclareMiningJob):           {1, 0, 0, 0, 0},
		// request_id, then SEQ0_64K[U16] counts of 65535 with (almost) nothing behind.
		{Extension: ExtensionNegotiation, Type: TypeRequestExtensions}:      {7, 0, 0xff, 0xff, 1},
		{Extension: ExtensionNegotiation, Type: TypeRequestExtensionsError}: {7, 0, 0, 0, 0xff, 0xff, 1, 2},
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
		// Job Declaration (SV2-JD.md §1.1/§1.2): no channel bit; wtxid_list
		// SEQ0_64K[U256]; transaction_list SEQ0_64K[B0_16M]; PushSolution
		// nonce before ntime. SetCustomMiningJob carries the channel bit.
		{"AllocateMiningJobToken", &AllocateMiningJobToken{UserIdentifier: "u", RequestID: 7},
			"0000 50 060000 01 75 07000000"},
		{"AllocateMiningJobToken.Success", &AllocateMiningJobTokenSuccess{RequestID: 7, MiningJobToken: []byte{0xaa, 0xbb},
			CoinbaseTxOutputs: unhex(t, "01 0000000000000000 01 51")},
			"0000 51 140000 07000000 02 aabb 0b00 01 0000000000000000 01 51"},
		{"DeclareMiningJob", &DeclareMiningJob{RequestID: 1, MiningJobToken: []byte{0xcc}, Version: 0x20000000,
			CoinbaseTxPrefix: []byte{1, 2}, CoinbaseTxSuffix: []byte{3}, WtxidList: []U256{{0: 0x11}}},
			"0000 57 350000 01000000 01 cc 00000020 0200 0102 0100 03 0100 11" + strings.Repeat("00", 31) + " 0000"},
		{"DeclareMiningJob.Success", &DeclareMiningJobSuccess{RequestID: 1, NewMiningJobToken: []byte{0xdd}},
			"0000 58 060000 01000000 01 dd"},
		{"DeclareMiningJob.Error", &DeclareMiningJobError{RequestID: 1, ErrorCode: "invalid-job", ErrorDetails: []byte("x")},
			"0000 59 130000 01000000 0b" + hex.EncodeToString([]byte("invalid-job")) + " 0100 78"},
		{"ProvideMissingTransactions", &ProvideMissingTransactions{RequestID: 1, UnknownTxPositionList: []uint16{0, 2}},
			"0000 55 0a0000 01000000 0200 0000 0200"},
		{"ProvideMissingTransactions.Success", &ProvideMissingTransactionsSuccess{RequestID: 1, TransactionList: [][]byte{{0xee}}},
			"0000 56 0a0000 01000000 0100 010000 ee"},
		{"PushSolution", &PushSolution{Extranonce: []byte{0xaa}, PrevHash: U256{0: 1}, Nonce: 0xdeadbeef, NTime: 0x65000000, NBits: 0x207fffff, Version: 0x20000000},
			"0000 60 320000 01 aa 01" + strings.Repeat("00", 31) + " efbeadde 00000065 ffff7f20 00000020"},
		{"SetCustomMiningJob", &SetCustomMiningJob{ChannelID: 1, RequestID: 2, MiningJobToken: []byte{0xaa}, Version: 0x20000000,
			MinNTime: 5, NBits: 0x207fffff, CoinbaseTxVersion: 2, CoinbasePrefix: []byte{1, 2}, CoinbaseTxInputNSequence: 0xffffffff,
			CoinbaseTxOutputs: []byte{0}},
			"0080 22 490000 01000000 02000000 01 aa 00000020 " + strings.Repeat("00", 32) +
				" 05000000 ffff7f20 02000000 02 0102 ffffffff 0100 00 00000000 00"},
		{"ChannelEndpointChanged", &ChannelEndpointChanged{ChannelID: 5}, "0080 03 040000 05000000"},
		// Extensions Negotiation: extension_type 0x0001, no channel bit.
		{"RequestExtensions", &RequestExtensions{RequestID: 7, RequestedExtensions: []uint16{0x0002, 0x0003}},
			"0100 00 080000 0700 0200 0200 0300"},
		{"RequestExtensions.Success", &RequestExtensionsSuccess{RequestID: 7, SupportedExtensions: []uint16{0x0002}},
			"0100 01 060000 0700 0100 0200"},
		{"RequestExtensions.Error", &RequestExtensionsError{RequestID: 0x0102, UnsupportedExtensions: []uint16{0x0002, 0x0003}, RequiredExtensions: []uint16{0x0005}},
			"0100 02 0c0000 0201 0200 0200 0300 0100 0500"},
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
	// msg_type 0x21 is not a message of extension 0x0001, and extension
	// 0x0002 has no messages of its own: both are unknown.
	for _, ext := range []byte{1, 2} {
		frame[0] = ext
		if _, _, err := DecodeFrame(frame); !errors.Is(err, ErrUnknownMessage) {
			t.Errorf("extension %d: %v", ext, err)
		}
	}
	// msg_type 0x00 is SetupConnection in the core protocols and
	// RequestExtensions in extension 0x0001: the extension decides.
	ext, _ := AppendFrame(nil, &RequestExtensions{RequestID: 1, RequestedExtensions: []uint16{2}})
	if h, m, err := DecodeFrame(ext); err != nil || h.ChannelMsg() || h.Kind() != (Kind{ExtensionNegotiation, TypeRequestExtensions}) || KindOf(m) != h.Kind() {
		t.Errorf("RequestExtensions frame: %+v %T %v", h, m, err)
	}
	ext[0] = 0
	if _, _, err := DecodeFrame(ext); err == nil {
		t.Error("a RequestExtensions payload decoded as SetupConnection")
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
