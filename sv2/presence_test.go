package sv2_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
	"github.com/adit-pool/adit/sv2"
)

// TestPresence: every open channel is one share.Presence Online for its
// worker, undone when the channel closes (CloseChannel) or the connection
// ends; refused channels are never online.
func TestPresence(t *testing.T) {
	b := newTestBackend(share.NewValidator(share.ValidatorConfig{}), halfDiff)
	b.Publish(sharetest.Job(1, 1, time.Now(), sharetest.HardBits))
	e := startServer(t, sv2.Config{}, b)
	c := e.dial(0)
	ctx := context.Background()
	a, err := c.OpenStandard(ctx, "addr1.rig1", 1e6)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenExtended(ctx, "addr1.rig1", 1e6, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenExtended(ctx, "addr2", 1e6, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenStandard(ctx, "bad.rig", 1e6); err == nil {
		t.Fatal("bad user accepted")
	}
	want := func(what string, w map[string]int) {
		t.Helper()
		sharetest.Eventually(t, what, func() bool { return fmt.Sprint(b.OnlineWorkers()) == fmt.Sprint(w) })
	}
	want("three channels online", map[string]int{"v2 addr1.rig1": 2, "v2 addr2.": 1})
	if err := c.CloseChannel(a.ID); err != nil {
		t.Fatal(err)
	}
	want("one channel closed", map[string]int{"v2 addr1.rig1": 1, "v2 addr2.": 1})
	c.Close()
	want("connection closed", map[string]int{})
}
