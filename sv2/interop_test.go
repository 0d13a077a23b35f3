package sv2_test

import (
	"context"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
	"github.com/adit-pool/adit/sv2"
)

// TestStandardJobsRefuseExtendedChannels: a connection that asked for
// REQUIRES_STANDARD_JOBS gets no extended channel, with the reference
// pool's error code; standard channels still open.
func TestStandardJobsRefuseExtendedChannels(t *testing.T) {
	b := newTestBackend(share.NewValidator(share.ValidatorConfig{}), halfDiff)
	b.Publish(sharetest.Job(1, 1, time.Now(), sharetest.HardBits))
	e := startServer(t, sv2.Config{}, b)
	c := e.dial(sv2.FlagRequiresStandardJobs)
	if _, err := c.OpenExtended(context.Background(), "addr.ext", 1e6, 0); !isCode(err, sv2.CodeExtendedChannelsNotSupportedForStandardJobs) {
		t.Fatalf("extended channel with REQUIRES_STANDARD_JOBS: %v", err)
	}
	if _, err := c.OpenStandard(context.Background(), "addr.std", 1e6); err != nil {
		t.Fatal(err)
	}
}

// TestShareOnWrongChannelKind: as in the reference pool, a
// SubmitSharesStandard names a standard channel and a SubmitSharesExtended
// an extended one; anything else is invalid-channel-id.
func TestShareOnWrongChannelKind(t *testing.T) {
	b := newTestBackend(share.NewValidator(share.ValidatorConfig{}), halfDiff)
	b.Publish(sharetest.Job(1, 1, time.Now(), sharetest.HardBits))
	e := startServer(t, sv2.Config{SuccessBatch: 1}, b)
	c := e.dial(sv2.FlagRequiresStandardJobs)
	std, err := c.OpenStandard(context.Background(), "addr.std", 1e6)
	if err != nil {
		t.Fatal(err)
	}
	ws := nextWork(t, c, std.ID)
	c2 := e.dial(0)
	ext, err := c2.OpenExtended(context.Background(), "addr.ext", 1e6, 0)
	if err != nil {
		t.Fatal(err)
	}
	we := nextWork(t, c2, ext.ID)

	// An extended share naming the standard channel.
	asExt := ws
	asExt.Extended = true
	c.SubmitExtended(&asExt, make([]byte, 8), ws.MinNTime, 0, ws.Version)
	wantCode(t, c, sv2.CodeInvalidChannelID)
	// A standard share naming the extended channel.
	asStd := we
	asStd.Extended = false
	c2.SubmitStandard(&asStd, we.MinNTime, 0, we.Version)
	wantCode(t, c2, sv2.CodeInvalidChannelID)
	// The right kinds are still judged.
	n := mine(&ws, nil, ws.Version, 0, true)
	c.SubmitStandard(&ws, ws.MinNTime, n, ws.Version)
	if r := nextResult(t, c); !r.Acknowledged {
		t.Fatalf("standard share: %+v", r)
	}
}
