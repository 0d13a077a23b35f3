package client

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum"
	"github.com/adit-pool/adit/stratum/client/clienttest"
)

// notifyParams strips the envelope from a mining.notify line.
func notifyParams(t *testing.T, line []byte) json.RawMessage {
	t.Helper()
	var m struct {
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	return m.Params
}

func TestParseNotifyPrevHashWordSwap(t *testing.T) {
	// Internal order 00 01 02 ... 1f is sent as 03 02 01 00 07 06 05 04 ...
	wire := "03020100070605040b0a09080f0e0d0c13121110171615141b1a19181f1e1d1c"
	params := `["job-7","` + wire + `","0102","0304",["` + strings.Repeat("ab", 32) + `"],"20000000","1d00ffff","5f5e1000",true]`
	n, err := ParseNotify(json.RawMessage(params))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n.PrevHash {
		if n.PrevHash[i] != byte(i) {
			t.Fatalf("prevhash = %x, want 000102...1f", n.PrevHash)
		}
	}
	if n.JobID != "job-7" || n.Version != 0x20000000 || n.Bits != 0x1d00ffff || n.NTime != 0x5f5e1000 || !n.Clean {
		t.Fatalf("fields = %+v", n)
	}
	if hex.EncodeToString(n.Coinb1) != "0102" || hex.EncodeToString(n.Coinb2) != "0304" || len(n.Branch) != 1 || n.Branch[0][0] != 0xab {
		t.Fatalf("coinbase/branch = %+v", n)
	}
}

func TestParseNotifyRejectsMalformed(t *testing.T) {
	good := []string{`"j"`, `"` + strings.Repeat("00", 32) + `"`, `"00"`, `"00"`, `[]`, `"20000000"`, `"1d00ffff"`, `"5f5e1000"`, `false`}
	build := func(i int, v string) json.RawMessage {
		p := append([]string(nil), good...)
		if i >= 0 {
			p[i] = v
		}
		return json.RawMessage("[" + strings.Join(p, ",") + "]")
	}
	if _, err := ParseNotify(build(-1, "")); err != nil {
		t.Fatalf("good params: %v", err)
	}
	cases := []struct {
		i int
		v string
	}{
		{0, `""`}, {0, `7`}, {1, `"00"`}, {1, `"` + strings.Repeat("zz", 32) + `"`}, {2, `"0"`},
		{3, `"xy"`}, {4, `["00"]`}, {4, `"00"`}, {5, `"2000000"`}, {6, `"1d00ffffff"`}, {7, `1`}, {8, `"yes"`},
	}
	for _, c := range cases {
		if _, err := ParseNotify(build(c.i, c.v)); err == nil {
			t.Errorf("param %d = %s: no error", c.i, c.v)
		}
	}
	if _, err := ParseNotify(json.RawMessage(`["j"]`)); err == nil {
		t.Error("short params: no error")
	}
}

// TestNotifyMatchesServerEncoding checks that decoding the server's own
// encoding gives back the job's fields in internal order.
func TestNotifyMatchesServerEncoding(t *testing.T) {
	j := clienttest.Job(0xdeadbeef, 12, true)
	sn := stratum.NotifyFromJob(j, true)
	n, err := ParseNotify(notifyParams(t, stratum.AppendNotify(nil, &sn)))
	if err != nil {
		t.Fatal(err)
	}
	if n.JobID != "deadbeef" || n.PrevHash != j.PrevHash || n.Version != j.Version || n.Bits != j.Bits ||
		n.NTime != j.CurTime || string(n.Coinb1) != string(j.CoinbasePrefix) || string(n.Coinb2) != string(j.CoinbaseSuffix) {
		t.Fatalf("decoded %+v from job %+v", n, j)
	}
	if len(n.Branch) != len(j.MerkleBranch) || n.Branch[1] != j.MerkleBranch[1] {
		t.Fatalf("branch %x, want %x", n.Branch, j.MerkleBranch)
	}
}

// TestWorkHeaderMatchesValidator builds headers with Work and checks them
// against the header share.Session.Validate reconstructs from the same
// submission, with and without rolled version bits.
func TestWorkHeaderMatchesValidator(t *testing.T) {
	j := clienttest.Job(5, 12, true)
	sn := stratum.NotifyFromJob(j, true)
	n, err := ParseNotify(notifyParams(t, stratum.AppendNotify(nil, &sn)))
	if err != nil {
		t.Fatal(err)
	}
	en1 := []byte{0xca, 0xfe, 0xba, 0xbe}
	const mask = 0x1fffe000
	w := &Work{Notify: *n, Extranonce1: en1, Extranonce2Size: 8, VersionMask: mask}

	v := share.NewValidator(share.ValidatorConfig{})
	v.AddJob(j)
	sess := v.NewSession(en1, share.MaxTarget)
	sess.SetVersionMask(mask)
	sess.JobSent(j)

	en2 := []byte{0, 1, 2, 3, 4, 5, 6, 7}
	root, _ := w.MerkleRoot(nil, en2)
	wantRoot := share.MerkleRoot(share.DoubleSHA256(j.Coinbase(append(append([]byte(nil), en1...), en2...))), j.MerkleBranch)
	if root != wantRoot {
		t.Fatalf("merkle root %x, want %x", root, wantRoot)
	}
	for _, vb := range []struct {
		bits uint32
		has  bool
	}{{0, false}, {0x00002000, true}, {0x1fffe000, true}} {
		var h share.Header
		w.Header(&h, &root, j.CurTime+1, 0x12345678, vb.bits)
		sub := share.Submission{JobID: j.ID, Extranonce: en2, NTime: j.CurTime + 1, Nonce: 0x12345678,
			VersionBits: vb.bits, HasVersion: vb.has}
		var res share.Result
		sess.Validate(&sub, &res)
		if !res.Accepted() {
			t.Fatalf("bits %08x: rejected %v", vb.bits, res.Reason)
		}
		if h != res.Header {
			t.Fatalf("bits %08x: header\n%x\nwant\n%x", vb.bits, h, res.Header)
		}
		if got := binary.LittleEndian.Uint32(h[:4]); got != (j.Version&^mask)|vb.bits {
			t.Fatalf("version %08x", got)
		}
	}
}

func TestUint32Hex(t *testing.T) {
	for _, v := range []uint32{0, 1, 0x1fffe000, 0xffffffff} {
		got, err := ParseUint32Hex(Uint32Hex(v))
		if err != nil || got != v {
			t.Fatalf("%08x: %08x %v", v, got, err)
		}
	}
	for _, s := range []string{"", "1234567", "123456789", "1234567g"} {
		if _, err := ParseUint32Hex(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

// FuzzParseNotify fuzzes the miner side's mining.notify decoder: anything is
// an error or a Notify that, encoded again the way a pool sends it, decodes
// to the same Notify.
func FuzzParseNotify(f *testing.F) {
	f.Add([]byte(`["job-7","03020100070605040b0a09080f0e0d0c13121110171615141b1a19181f1e1d1c","0102","0304",["` +
		strings.Repeat("ab", 32) + `"],"20000000","1d00ffff","5f5e1000",true]`))
	f.Add([]byte(`["j","` + strings.Repeat("00", 32) + `","","",[],"20000000","1d00ffff","5f5e1000",false,"extra"]`))
	f.Add([]byte(`["j"]`))
	sn := stratum.NotifyFromJob(clienttest.Job(0xdeadbeef, 12, true), true)
	var m struct {
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(stratum.AppendNotify(nil, &sn), &m); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(m.Params))
	f.Fuzz(func(t *testing.T, params []byte) {
		n, err := ParseNotify(params)
		if err != nil {
			if n != nil {
				t.Fatal("notify returned with an error")
			}
			return
		}
		prev := stratum.PrevHashV1(n.PrevHash)
		branch := make([]string, len(n.Branch))
		for i, b := range n.Branch {
			branch[i] = hex.EncodeToString(b[:])
		}
		again, err := json.Marshal([]any{n.JobID, hex.EncodeToString(prev[:]), hex.EncodeToString(n.Coinb1),
			hex.EncodeToString(n.Coinb2), branch, Uint32Hex(n.Version), Uint32Hex(n.Bits), Uint32Hex(n.NTime), n.Clean})
		if err != nil {
			t.Fatal(err)
		}
		n2, err := ParseNotify(again)
		if err != nil {
			t.Fatalf("re-encoded notify does not parse: %v: %s", err, again)
		}
		if !reflect.DeepEqual(n, n2) {
			t.Fatalf("round trip: %+v → %s → %+v", n, again, n2)
		}
	})
}
