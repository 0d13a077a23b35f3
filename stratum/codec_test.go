package stratum

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/adit-pool/adit/share"
)

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		line, id, method, params string
		err                      error
	}{
		{`{"id":1,"method":"mining.subscribe","params":["cpuminer/2.5"]}`, `1`, MethodSubscribe, `["cpuminer/2.5"]`, nil},
		{` { "params" : [ ] , "method" : "mining.ping" , "id" : "abc" } `, `"abc"`, MethodPing, `[ ]`, nil},
		{`{"id":null,"method":"mining.x\u0041","params":{"a":[1,"]"]}}`, `null`, "mining.xA", `{"a":[1,"]"]}`, nil},
		{`{"id":7}`, `7`, "", ``, nil},
		{`{}`, ``, "", ``, nil},
		{`[1,2]`, ``, "", ``, ErrNotObject},
		{`{"id":1,"method":5}`, ``, "", ``, ErrMethodNotText},
		{`{"id":1,"method":"a"} x`, ``, "", ``, ErrMalformedJSON},
		{`{"id":1,`, ``, "", ``, ErrMalformedJSON},
	} {
		var req Request
		err := ParseRequest([]byte(tc.line), &req)
		if err != tc.err {
			t.Errorf("%s: err %v, want %v", tc.line, err, tc.err)
			continue
		}
		if err == nil && (string(req.ID) != tc.id || req.Method != tc.method || string(req.Params) != tc.params) {
			t.Errorf("%s: got id=%s method=%q params=%s", tc.line, req.ID, req.Method, req.Params)
		}
	}
}

func TestParseRequestNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	line := []byte(`{"id":42,"method":"mining.submit","params":["addr.w","0000002a","00000001","65a1b2c3","deadbeef","00002000"]}`)
	var req Request
	var sub share.Submission
	var buf [32]byte
	allocs := testing.AllocsPerRun(100, func() {
		if err := ParseRequest(line, &req); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseSubmit(req.Params, 4, buf[:], &sub); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("submit parse allocates %v times", allocs)
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"method":"mining.subscribe","params":["cpuminer/2.5"]}`,
		`{"id":"x","method":"mining.submit","params":["a.b","00000001","00000000","5f5e1000","00000000"]}`,
		`{"params":[[["a"]],{"b":"}"}],"method":"mining.configure","id":null}`,
		`{"id":1,"method":"\u006dining.ping"}`,
		`{"id":1,"method":"a","id":2}`,
		`[]`, `{`, `"x"`, `{"id":1,"method":"a"}   `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var req Request
		err := ParseRequest(line, &req)
		var ref map[string]json.RawMessage
		refErr := json.Unmarshal(line, &ref)
		if err != nil {
			if refErr == nil && err != ErrMethodNotText {
				t.Fatalf("ParseRequest rejected %q (%v) but encoding/json accepts it", line, err)
			}
			return
		}
		if refErr != nil {
			t.Fatalf("ParseRequest accepted %q but encoding/json says %v", line, refErr)
		}
		if m, ok := ref["method"]; ok {
			var want string
			if json.Unmarshal(m, &want) == nil && want != req.Method && utf8.ValidString(req.Method) {
				t.Fatalf("method %q, encoding/json %q", req.Method, want)
			}
		}
		for k, got := range map[string][]byte{"id": req.ID, "params": req.Params} {
			want, ok := ref[k]
			if ok != (got != nil) || (ok && !bytes.Equal(want, got)) {
				t.Fatalf("%s: got %q want %q", k, got, want)
			}
		}
	})
}

func FuzzParseSubmit(f *testing.F) {
	f.Add([]byte(`["addr.w","0000002a","00000001","65a1b2c3","deadbeef"]`), 4)
	f.Add([]byte(`["addr.w","2a","0000000100000002","65a1b2c3","deadbeef","1fffe000"]`), 8)
	f.Add([]byte(`["a\"b","0","",  "00000000","00000000",null]`), 0)
	f.Add([]byte(`[1,2,3]`), 4)
	f.Fuzz(func(t *testing.T, params []byte, en2Size int) {
		var sub share.Submission
		var buf [MaxExtranonce2Size]byte
		worker, err := ParseSubmit(params, en2Size, buf[:], &sub)
		if err != nil {
			if _, ok := err.(*SubmitError); !ok {
				t.Fatalf("error %T is not *SubmitError", err)
			}
			return
		}
		if len(sub.Extranonce) != en2Size {
			t.Fatalf("extranonce len %d, want %d", len(sub.Extranonce), en2Size)
		}
		// Round trip through the client encoder.
		line := AppendSubmitRequest(nil, 1, string(worker), &sub)
		var req Request
		if err := ParseRequest(bytes.TrimSuffix(line, []byte("\n")), &req); err != nil {
			t.Fatalf("re-encoded submit does not parse: %v: %s", err, line)
		}
		var sub2 share.Submission
		var buf2 [MaxExtranonce2Size]byte
		worker2, err := ParseSubmit(req.Params, en2Size, buf2[:], &sub2)
		if err != nil {
			t.Fatalf("round trip: %v: %s", err, line)
		}
		if !strings.EqualFold(string(worker2), string(worker)) && string(worker2) != strings.ToValidUTF8(string(worker), "\uFFFD") {
			t.Fatalf("worker %q -> %q", worker, worker2)
		}
		if sub2.JobID != sub.JobID || sub2.NTime != sub.NTime || sub2.Nonce != sub.Nonce ||
			sub2.HasVersion != sub.HasVersion || sub2.VersionBits != sub.VersionBits ||
			!bytes.Equal(sub2.Extranonce, sub.Extranonce) {
			t.Fatalf("round trip mismatch %+v vs %+v", sub, sub2)
		}
	})
}

func TestSubmitErrors(t *testing.T) {
	var sub share.Submission
	var buf [MaxExtranonce2Size]byte
	for params, field := range map[string]string{
		`{}`:                              "params",
		`["a","1","00000000","00000000"]`: "params",
		`[1,"1","00000000","00000000","00000000"]`:               "worker",
		`["a","xyz","00000000","00000000","00000000"]`:           "job_id",
		`["a","1","000000","00000000","00000000"]`:               "extranonce2",
		`["a","1","0000000g","00000000","00000000"]`:             "extranonce2",
		`["a","1","00000000","0000000","00000000"]`:              "ntime",
		`["a","1","00000000","00000000","0000000z"]`:             "nonce",
		`["a","1","00000000","00000000","00000000","123456789"]`: "version_bits",
	} {
		_, err := ParseSubmit([]byte(params), 4, buf[:], &sub)
		se, ok := err.(*SubmitError)
		if !ok || se.Field != field {
			t.Errorf("%s: got %v, want field %s", params, err, field)
		}
	}
}

func TestPrevHashV1(t *testing.T) {
	var h [32]byte
	for i := range h {
		h[i] = byte(i)
	}
	got := PrevHashV1(h)
	want := "03020100070605040b0a09080f0e0d0c13121110171615141b1a19181f1e1d1c"
	if hex.EncodeToString(got[:]) != want {
		t.Fatalf("got %x", got)
	}
	if PrevHashV1(got) != h {
		t.Fatal("not an involution")
	}
}

func TestNotifyRoundTrip(t *testing.T) {
	n := Notify{
		JobID:        0xab,
		Coinb1:       []byte{1, 2, 3},
		Coinb2:       []byte{4, 5},
		MerkleBranch: [][32]byte{{1}, {2, 3}},
		Version:      0x20000000,
		Bits:         0x1d00ffff,
		NTime:        0x65a1b2c3,
		Clean:        true,
	}
	n.PrevHash[0], n.PrevHash[31] = 0xaa, 0xbb
	line := AppendNotify(nil, &n)
	if !bytes.HasSuffix(line, []byte("\n")) {
		t.Fatal("no newline")
	}
	var req Request
	if err := ParseRequest(line[:len(line)-1], &req); err != nil || req.Method != MethodNotify || string(req.ID) != "null" {
		t.Fatalf("%v %+v", err, req)
	}
	var params []any
	if err := json.Unmarshal(req.Params, &params); err != nil {
		t.Fatal(err)
	}
	if params[0] != "000000ab" || params[5] != "20000000" || params[6] != "1d00ffff" || params[7] != "65a1b2c3" || params[8] != true {
		t.Fatalf("params %v", params)
	}
	// prevhash: internal bytes aa..bb, V1 words byte-swapped.
	if ph := params[1].(string); ph[:8] != "000000aa" || ph[56:] != "bb000000" {
		t.Fatalf("prevhash %s", ph)
	}
	got, err := ParseNotify(req.Params)
	if err != nil {
		t.Fatal(err)
	}
	if got.JobID != n.JobID || got.PrevHash != n.PrevHash || !bytes.Equal(got.Coinb1, n.Coinb1) ||
		!bytes.Equal(got.Coinb2, n.Coinb2) || len(got.MerkleBranch) != 2 || got.MerkleBranch[1] != n.MerkleBranch[1] ||
		got.Version != n.Version || got.Bits != n.Bits || got.NTime != n.NTime || got.Clean != n.Clean {
		t.Fatalf("round trip %+v", got)
	}
}

func TestEncoders(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{string(AppendSetDifficulty(nil, 0.0001)), `{"id":null,"method":"mining.set_difficulty","params":[0.0001]}` + "\n"},
		{string(AppendSetDifficulty(nil, 1024)), `{"id":null,"method":"mining.set_difficulty","params":[1024]}` + "\n"},
		{string(AppendSetExtranonce(nil, []byte{0xde, 0xad}, 6)), `{"id":null,"method":"mining.set_extranonce","params":["dead",6]}` + "\n"},
		{string(AppendSetVersionMask(nil, 0x1fffe000)), `{"id":null,"method":"mining.set_version_mask","params":["1fffe000"]}` + "\n"},
		{string(AppendResponse(nil, json.RawMessage(`3`), []byte(`true`), nil)), `{"id":3,"result":true,"error":null}` + "\n"},
		{string(AppendResponse(nil, nil, nil, &Error{Code: 22, Message: "duplicate \"share\""})), `{"id":null,"result":null,"error":[22,"duplicate \"share\"",null]}` + "\n"},
		{FormatJobID(7), "00000007"},
	} {
		if tc.got != tc.want {
			t.Errorf("got  %s\nwant %s", tc.got, tc.want)
		}
	}
	var resp Response
	if err := json.Unmarshal([]byte(`{"id":1,"result":null,"error":[23,"low difficulty share",null]}`), &resp); err != nil ||
		resp.Error == nil || resp.Error.Code != 23 {
		t.Fatalf("%v %+v", err, resp)
	}
	b, err := json.Marshal(Notification{Method: MethodPing})
	if err != nil || string(b) != `{"id":null,"method":"mining.ping","params":[]}` {
		t.Fatalf("%s %v", b, err)
	}
}

func TestRejectError(t *testing.T) {
	want := map[share.RejectReason]int{
		share.RejectJobNotFound: 21, share.RejectStale: 21, share.RejectDuplicate: 22,
		share.RejectLowDifficulty: 23, share.RejectUnauthorized: 24, share.RejectNotSubscribed: 25,
		share.RejectBadNTime: 20, share.RejectBadVersion: 20, share.RejectBadExtranonce: 20, share.RejectInternal: 20,
	}
	for r, code := range want {
		if got, msg := RejectError(r); got != code || msg == "" {
			t.Errorf("%v: %d %q", r, got, msg)
		}
	}
}
