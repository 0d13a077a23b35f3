package client

import (
	"context"
	"testing"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum"
	"github.com/adit-pool/adit/stratum/client/clienttest"
)

// TestClientAgainstServer runs the client against the real stratum server
// with a real share.Validator: every handshake quirk, a share accepted, a
// duplicate, bad version bits, a stale job id, an unknown method.
func TestClientAgainstServer(t *testing.T) {
	srv := clienttest.StartServer(t, clienttest.ServerConfig{Difficulty: 1e-4})
	ctx := context.Background()
	c, err := Dial(ctx, Config{
		Addr: srv.Addr(), Username: "bcrt1qserver.w1", Password: "x",
		SuggestDifficulty: 0.0001, VersionRolling: true, RequestMask: 0xffffffff,
		ExtranonceSubscribe: true, MultiVersion: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if m := c.VersionMask(); m != stratum.DefaultVersionMask {
		t.Fatalf("mask %08x", m)
	}
	w := nextWork(t, c)
	if w.JobID != stratum.FormatJobID(1) || w.Difficulty != 1e-4 || w.VersionMask != stratum.DefaultVersionMask {
		t.Fatalf("work %+v", w)
	}
	en2 := make([]byte, w.Extranonce2Size)
	en2[0] = 7
	vbits := uint32(0x0000e000)
	nonce := findShare(t, w, en2, vbits)
	if ok, rerr, err := c.Submit(ctx, "bcrt1qserver.w1", w.JobID, en2, w.NTime, nonce, &vbits); !ok || rerr != nil || err != nil {
		t.Fatalf("submit: %v %v %v", ok, rerr, err)
	}
	if ok, rerr, err := c.Submit(ctx, "bcrt1qserver.w1", w.JobID, en2, w.NTime, nonce, &vbits); ok || err != nil || rerr.Code != stratum.CodeDuplicate {
		t.Fatalf("duplicate: %v %v %v", ok, rerr, err)
	}
	bad := uint32(1)
	if ok, rerr, err := c.Submit(ctx, "bcrt1qserver.w1", w.JobID, en2, w.NTime, nonce, &bad); ok || err != nil || rerr == nil {
		t.Fatalf("bad version bits: %v %v %v", ok, rerr, err)
	}
	if _, rerr, err := c.Call(ctx, "mining.no_such_method"); err != nil || rerr == nil || rerr.Code != stratum.CodeOther {
		t.Fatalf("unknown method: %v %v", rerr, err)
	}
	// A new block makes the old job stale (21).
	srv.Publish(clienttest.Job(2, 12, true))
	w2 := nextWork(t, c)
	if !w2.Clean || w2.JobID != stratum.FormatJobID(2) {
		t.Fatalf("second work %+v", w2)
	}
	// Not a block (a stale block is still judged in full).
	notBlock := nonce + 1
	for network, root := share.TargetFromCompact(0x207fffff), func() [32]byte { r, _ := w.MerkleRoot(nil, en2); return r }(); ; notBlock++ {
		var h share.Header
		w.Header(&h, &root, w.NTime, notBlock, vbits)
		if hash := share.DoubleSHA256(h[:]); !network.Met(&hash) {
			break
		}
	}
	if ok, rerr, err := c.Submit(ctx, "bcrt1qserver.w1", w.JobID, en2, w.NTime, notBlock, &vbits); ok || err != nil || rerr.Code != stratum.CodeJobNotFound {
		t.Fatalf("stale: %v %v %v", ok, rerr, err)
	}
	if n := len(srv.Records()); n != 1 {
		t.Fatalf("%d records", n)
	}
}
