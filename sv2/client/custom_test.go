package client_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/codec"
)

// openExtendedFake opens extended channel chID (extranonce prefix 4 bytes,
// 8 for the miner) on c against p.
func openExtendedFake(t *testing.T, c *client.Client, p *fakePool, chID uint32) {
	t.Helper()
	opened := make(chan error, 1)
	go func() {
		_, err := c.OpenExtended(context.Background(), "u", 1e12, 8)
		opened <- err
	}()
	req := p.read().(*codec.OpenExtendedMiningChannel)
	p.send(&codec.OpenExtendedMiningChannelSuccess{RequestID: req.RequestID, ChannelID: chID, Target: share.MaxTarget.LE(),
		ExtranonceSize: 8, ExtranoncePrefix: []byte{0, 0, 0, 7}})
	if err := <-opened; err != nil {
		t.Fatal(err)
	}
}

func customJob(chID uint32) *codec.SetCustomMiningJob {
	return &codec.SetCustomMiningJob{ChannelID: chID, MiningJobToken: []byte{1, 2}, Version: 0x20000000,
		PrevHash: [32]byte{5}, MinNTime: 1000, NBits: 0x207fffff, CoinbaseTxVersion: 2,
		CoinbasePrefix: []byte{0x02, 0x2c, 0x01, 0x0c}, CoinbaseTxInputNSequence: 0xffffffff,
		CoinbaseTxOutputs: append([]byte{1}, make([]byte, 9)...), MerklePath: []codec.U256{{0xaa}}}
}

// TestSetCustomMiningJob: on a work-selection connection the custom job
// goes out with a fresh request_id on the channel; its Success makes it the
// channel's Work (returned and delivered on Work(), again after SetTarget),
// built from the job's own coinbase fields and the channel's extranonce
// layout; an Error is a *CustomJobError with its code.
func TestSetCustomMiningJob(t *testing.T) {
	p := newFakePool(t)
	c := dialFakeFlags(t, p, sv2.FlagRequiresWorkSelection)
	const chID = 3
	openExtendedFake(t, c, p, chID)

	type answer struct {
		w   *client.Work
		err error
	}
	set := func(m *codec.SetCustomMiningJob) <-chan answer {
		out := make(chan answer, 1)
		go func() {
			w, err := c.SetCustomMiningJob(context.Background(), m)
			out <- answer{w, err}
		}()
		return out
	}
	job := customJob(chID)
	res := set(job)
	got := p.read().(*codec.SetCustomMiningJob)
	if got.ChannelID != chID || got.RequestID == 0 || !bytes.Equal(got.MiningJobToken, job.MiningJobToken) {
		t.Fatalf("sent %+v", got)
	}
	p.send(&codec.SetCustomMiningJobSuccess{ChannelID: chID, RequestID: got.RequestID, JobID: 42})
	a := <-res
	if a.err != nil {
		t.Fatal(a.err)
	}
	w := a.w
	prefix, suffix := client.CustomJobCoinbase(job, 12)
	if !w.Custom || !w.Extended || w.JobID != 42 || w.ChannelID != chID || w.PrevHash != job.PrevHash || w.NBits != job.NBits ||
		w.MinNTime != 1000 || w.Version != job.Version || w.ExtranonceSize != 8 || !bytes.Equal(w.ExtranoncePrefix, []byte{0, 0, 0, 7}) ||
		!bytes.Equal(w.CoinbasePrefix, prefix) || !bytes.Equal(w.CoinbaseSuffix, suffix) || len(w.MerklePath) != 1 {
		t.Fatalf("work %+v", w)
	}
	// The non-witness coinbase: version 2, one input, null outpoint,
	// scriptSig of 4+12 bytes ending with the extranonce, then sequence,
	// outputs, locktime.
	want := []byte{2, 0, 0, 0, 1}
	want = append(want, make([]byte, 32)...)
	want = append(want, 0xff, 0xff, 0xff, 0xff, 16, 0x02, 0x2c, 0x01, 0x0c)
	if !bytes.Equal(prefix, want) || !bytes.Equal(suffix[:4], []byte{0xff, 0xff, 0xff, 0xff}) || len(suffix) != 4+10+4 {
		t.Fatalf("coinbase %x ‖ %x", prefix, suffix)
	}
	if d := nextWork(t, c); d.JobID != 42 || !d.Custom {
		t.Fatalf("delivered %+v", d)
	}
	p.send(&codec.SetTarget{ChannelID: chID, MaximumTarget: share.TargetFromCompact(0x1f00ffff).LE()})
	if d := nextWork(t, c); d.JobID != 42 || !d.Custom || d.Target != share.TargetFromCompact(0x1f00ffff) {
		t.Fatalf("after SetTarget %+v", d)
	}

	res = set(customJob(chID))
	got = p.read().(*codec.SetCustomMiningJob)
	p.send(&codec.SetCustomMiningJobError{ChannelID: chID, RequestID: got.RequestID, ErrorCode: "stale-chain-tip"})
	var ce *client.CustomJobError
	if a := <-res; !errors.As(a.err, &ce) || ce.Code != "stale-chain-tip" || a.w != nil {
		t.Fatalf("error answer = %v, %v", a.w, a.err)
	}
	// Not an extended channel of this connection.
	if _, err := c.SetCustomMiningJob(context.Background(), customJob(99)); err == nil {
		t.Fatal("custom job on an unknown channel was sent")
	}
	// The connection ending fails a pending request.
	res = set(customJob(chID))
	p.read()
	p.fc.Close()
	if a := <-res; a.err == nil {
		t.Fatal("no error after the connection ended")
	}
}

func TestSetCustomMiningJobNeedsWorkSelection(t *testing.T) {
	p := newFakePool(t)
	c := dialFake(t, p)
	openExtendedFake(t, c, p, 1)
	if _, err := c.SetCustomMiningJob(context.Background(), customJob(1)); !errors.Is(err, client.ErrNoWorkSelection) {
		t.Fatalf("err = %v", err)
	}
}
