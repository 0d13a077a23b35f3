package client

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum"
	"github.com/adit-pool/adit/stratum/client/clienttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func nextWork(t *testing.T, c *Client) *Work {
	t.Helper()
	select {
	case w, ok := <-c.Work():
		if !ok {
			t.Fatalf("work channel closed: %v", c.Err())
		}
		return w
	case <-time.After(5 * time.Second):
		t.Fatal("no work within 5s")
	}
	return nil
}

// findShare hashes w on the test goroutine until a share meets its target.
func findShare(t *testing.T, w *Work, en2 []byte, vbits uint32) (nonce uint32) {
	t.Helper()
	root, _ := w.MerkleRoot(nil, en2)
	var h share.Header
	w.Header(&h, &root, w.NTime, 0, vbits)
	for nonce = 0; nonce < 1<<26; nonce++ {
		w.Header(&h, &root, w.NTime, nonce, vbits)
		hash := share.DoubleSHA256(h[:])
		if w.Target.Met(&hash) {
			return nonce
		}
	}
	t.Fatal("no share in 2^26 nonces")
	return 0
}

func TestClientHandshakeWorkAndSubmit(t *testing.T) {
	pool := clienttest.NewPool(t, clienttest.Config{Difficulty: 1e-4})
	ctx := context.Background()
	c, err := Dial(ctx, Config{
		Addr: pool.Addr(), Username: "bcrt1qtest.w1", Password: "x",
		SuggestDifficulty: 0.0001, VersionRolling: true, RequestMask: 0xffffffff,
		MinimumDifficulty: 0.0001, ExtranonceSubscribe: true, MultiVersion: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := []string{stratum.MethodConfigure, stratum.MethodSubscribe, stratum.MethodSuggestDifficulty,
		stratum.MethodExtranonceSub, stratum.MethodMultiVersion, stratum.MethodAuthorize}
	if got := pool.Methods(); !slices.Equal(got, want) {
		t.Fatalf("handshake %v, want %v", got, want)
	}
	// Bitaxe asks ffffffff; the pool answers pool & requested.
	if m := c.VersionMask(); m != 0x1fffe000 {
		t.Fatalf("mask %08x", m)
	}
	w := nextWork(t, c)
	if w.Difficulty != 1e-4 || w.VersionMask != 0x1fffe000 || w.Extranonce2Size != 8 || len(w.Extranonce1) != 4 || !w.Clean {
		t.Fatalf("work %+v", w)
	}
	en2 := []byte{0, 0, 0, 0, 0, 0, 0, 9}
	vbits := uint32(0x00006000)
	nonce := findShare(t, w, en2, vbits)
	ok, rerr, ioErr := c.Submit(ctx, "bcrt1qtest.w1", w.JobID, en2, w.NTime, nonce, &vbits)
	if !ok || rerr != nil || ioErr != nil {
		t.Fatalf("submit: %v %v %v", ok, rerr, ioErr)
	}
	// The same share again is a duplicate (22).
	ok, rerr, ioErr = c.Submit(ctx, "bcrt1qtest.w1", w.JobID, en2, w.NTime, nonce, &vbits)
	if ok || ioErr != nil || rerr == nil || rerr.Code != stratum.CodeDuplicate {
		t.Fatalf("duplicate: %v %v %v", ok, rerr, ioErr)
	}
	// Version bits outside the mask are rejected (20).
	bad := uint32(0x00000001)
	ok, rerr, _ = c.Submit(ctx, "bcrt1qtest.w1", w.JobID, en2, w.NTime, nonce, &bad)
	if ok || rerr == nil || rerr.Code != stratum.CodeOther {
		t.Fatalf("bad version bits: %v %v", ok, rerr)
	}
	st := c.Stats()
	if st.Submitted != 3 || st.Accepted != 1 || st.Rejected[stratum.CodeDuplicate] != 1 || st.Rejected[stratum.CodeOther] != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Raw calls reach the pool and surface its error reply.
	_, rerr, err = c.Call(ctx, "mining.bogus", 1, "two")
	if err != nil || rerr == nil || rerr.Code != stratum.CodeOther {
		t.Fatalf("unknown method: %v %v", rerr, err)
	}
	// A new clean job replaces the old one.
	pool.Broadcast(clienttest.Job(2, 12, true))
	if w2 := nextWork(t, c); w2.JobID != "00000002" || w2.Seq <= w.Seq {
		t.Fatalf("second work %+v", w2)
	}
	c.Close()
	if _, ok := <-c.Work(); ok {
		t.Fatal("work channel open after Close")
	}
	if _, _, err := c.Call(ctx, stratum.MethodPing); err == nil {
		t.Fatal("call after Close succeeded")
	}
}

// scripted runs a one-connection peer that sends lines and answers requests
// with fn; it returns the address.
func scripted(t *testing.T, fn func(nc net.Conn, lr *stratum.LineReader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		fn(nc, stratum.NewLineReader(nc, 1<<16))
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// TestClientNotificationsOrdering checks that set_difficulty applies to the
// notify after it, that set_extranonce and set_version_mask re-issue work,
// and that a notify right behind the subscribe reply sees extranonce1.
func TestClientNotificationsOrdering(t *testing.T) {
	sn := stratum.NotifyFromJob(clienttest.Job(3, 12, false), false)
	addr := scripted(t, func(nc net.Conn, lr *stratum.LineReader) {
		var req stratum.Request
		for {
			line, err := lr.ReadLine()
			if err != nil {
				return
			}
			if stratum.ParseRequest(line, &req) != nil {
				return
			}
			var out []byte
			switch req.Method {
			case stratum.MethodConfigure:
				out = stratum.AppendResponse(nil, req.ID, []byte(`{"version-rolling":true,"version-rolling.mask":"1fffe000"}`), nil)
			case stratum.MethodSubscribe:
				// Reply and notifications in one write.
				out = stratum.AppendResponse(nil, req.ID, []byte(`[[["mining.notify","x"]],"01020304",4]`), nil)
				out = stratum.AppendSetDifficulty(out, 0.5)
				out = stratum.AppendNotify(out, &sn)
			case stratum.MethodAuthorize:
				out = stratum.AppendResponse(nil, req.ID, []byte(`true`), nil)
				out = stratum.AppendSetDifficulty(out, 2)
				out = append(out, `{"id":9,"method":"client.get_version","params":[]}`+"\n"...)
			case stratum.MethodPing:
				out = stratum.AppendSetExtranonce(nil, []byte{9, 9}, 6)
				out = stratum.AppendSetVersionMask(out, 0x00ffe000)
				out = stratum.AppendResponse(out, req.ID, []byte(`"pong"`), nil)
			default:
				out = stratum.AppendResponse(nil, req.ID, nil, &stratum.Error{Code: 20, Message: "no"})
			}
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
	})
	ctx := context.Background()
	c, err := Dial(ctx, Config{Addr: addr, Username: "u", VersionRolling: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := nextWork(t, c)
	if string(w.Extranonce1) != "\x01\x02\x03\x04" || w.Extranonce2Size != 4 || w.Difficulty != 0.5 || w.VersionMask != 0x1fffe000 || w.Clean {
		t.Fatalf("first work %+v", w)
	}
	if res, rerr, err := c.Call(ctx, stratum.MethodPing); err != nil || rerr != nil || string(res) != `"pong"` {
		t.Fatalf("ping: %s %v %v", res, rerr, err)
	}
	// set_extranonce and set_version_mask each re-issue the job (latest wins).
	w2 := nextWork(t, c)
	if string(w2.Extranonce1) != "\x09\x09" || w2.Extranonce2Size != 6 || w2.VersionMask != 0x00ffe000 ||
		w2.Difficulty != 2 || !w2.Clean || w2.JobID != w.JobID {
		t.Fatalf("re-issued work %+v", w2)
	}
	if c.Difficulty() != 2 {
		t.Fatalf("difficulty %v", c.Difficulty())
	}
}

func TestDialAuthorizeRefused(t *testing.T) {
	addr := scripted(t, func(nc net.Conn, lr *stratum.LineReader) {
		var req stratum.Request
		for {
			line, err := lr.ReadLine()
			if err != nil || stratum.ParseRequest(line, &req) != nil {
				return
			}
			var out []byte
			if req.Method == stratum.MethodSubscribe {
				out = stratum.AppendResponse(nil, req.ID, []byte(`[[],"00",4]`), nil)
			} else {
				out = stratum.AppendResponse(nil, req.ID, nil, &stratum.Error{Code: 24, Message: "unauthorized worker"})
			}
			nc.Write(out)
		}
	})
	_, err := Dial(context.Background(), Config{Addr: addr, Username: "nobody", Timeout: 2 * time.Second})
	if err == nil {
		t.Fatal("Dial succeeded")
	}
	var e *RPCError
	if !errorsAs(err, &e) || e.Code != 24 {
		t.Fatalf("err %v", err)
	}
}

func TestDialTimeout(t *testing.T) {
	addr := scripted(t, func(nc net.Conn, lr *stratum.LineReader) {
		lr.ReadLine()
		time.Sleep(300 * time.Millisecond) // never answers
	})
	start := time.Now()
	_, err := Dial(context.Background(), Config{Addr: addr, Username: "u", Timeout: 100 * time.Millisecond})
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

var _ = json.RawMessage{}

func errorsAs(err error, target **RPCError) bool { return errors.As(err, target) }
